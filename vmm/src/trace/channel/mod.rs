//! The host end of the trace channel (layout in `abi::trace`): find the guest's trace area,
//! write its control page, and drain its per-CPU rings through `vm-memory`, with no VM exit.
//!
//! The trace device (`devices::virtio::trace`) hands over the area's address when the guest
//! driver sets DRIVER_OK; [`Area::parse`] checks everything in it against guest memory before
//! anyone uses it. After that the guest may still scribble over its rings: [`TraceChannel::drain`]
//! checks head and tail, and [`decode`] checks every record.

pub mod catalog;
pub mod decode;
pub mod dwarf;
pub mod fetch;
pub mod fields;
pub mod ftrace;
pub mod tasks;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use abi::trace::{control, ring, AreaHeader, AREA_MAGIC, MAX_CPUS, MAX_EVENTS, TRACE_ABI_VERSION};
use vm_memory::{Address, Bytes, GuestAddress};

use crate::memory::GuestMemory;
use crate::stop_machine::StopMachine;

/// Reads guest kernel memory through the kernel's two linear mappings (`abi::trace`'s direct
/// map and image); any other address, or one outside guest RAM, reads as nothing.
pub struct KernelMemoryReader<'a>(&'a GuestMemory);

impl KernelMemoryReader<'_> {
    /// The guest physical address of a kernel virtual one, if it is in a linear mapping.
    pub fn translate(addr: u64) -> Option<u64> {
        use abi::trace::{DIRECT_MAP_BASE, DIRECT_MAP_SIZE, KERNEL_IMAGE_BASE};
        if addr >= KERNEL_IMAGE_BASE {
            Some(addr - KERNEL_IMAGE_BASE)
        } else {
            addr.checked_sub(DIRECT_MAP_BASE)
                .filter(|&pa| pa < DIRECT_MAP_SIZE)
        }
    }
}

impl dwarf::KernelMemory for KernelMemoryReader<'_> {
    fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
        let Some(gpa) = Self::translate(addr) else {
            return false;
        };
        in_memory(self.0, gpa, buf.len() as u64)
            && self.0.read_slice(buf, GuestAddress(gpa)).is_ok()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AreaError {
    #[error("trace area at {0:#x} is outside guest memory")]
    Unreadable(u64),
    #[error("trace area has a bad magic number")]
    BadMagic,
    #[error("trace area has ABI version {0}, the host speaks {TRACE_ABI_VERSION}")]
    Version(u32),
    #[error("trace area describes {0} CPUs (1 to {MAX_CPUS})")]
    Cpus(u32),
    #[error("trace ring size {0} is not a power of two between 4 KiB and 64 MiB")]
    RingSize(u32),
    #[error("trace {0} at {1:#x} is outside guest memory")]
    Range(&'static str, u64),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DrainError {
    #[error("CPU {cpu}: ring head {head} and tail {tail} are inconsistent; skipped to the head")]
    Inconsistent { cpu: usize, head: u64, tail: u64 },
    #[error("CPU {0}: ring memory unreadable")]
    Unreadable(usize),
}

/// One CPU's ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingAddr {
    pub header: u64,
    pub data: u64,
}

/// A checked trace area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Area {
    pub ring_size: u64,
    pub tsc_khz: u64,
    pub boot_tsc: u64,
    pub control: u64,
    pub rings: Vec<RingAddr>,
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[i..i + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().unwrap())
}

/// The [`AreaHeader`] in its little-endian bytes.
fn parse_header(b: &[u8; std::mem::size_of::<AreaHeader>()]) -> AreaHeader {
    let mut h = AreaHeader {
        magic: u64_at(b, 0),
        version: u32_at(b, 8),
        nr_cpus: u32_at(b, 12),
        ring_size: u32_at(b, 16),
        nr_events: u32_at(b, 20),
        tsc_khz: u64_at(b, 24),
        boot_tsc: u64_at(b, 32),
        control_gpa: u64_at(b, 40),
        ..AreaHeader::default()
    };
    for cpu in 0..MAX_CPUS {
        h.ring_gpa[cpu] = u64_at(b, 48 + 8 * cpu);
        h.data_gpa[cpu] = u64_at(b, 48 + 8 * MAX_CPUS + 8 * cpu);
    }
    h
}

/// The bytes the guest writes for `h` (the inverse of `parse_header`), for tests and the
/// drain benchmark, which play the guest.
pub fn encode_header(h: &AreaHeader) -> Vec<u8> {
    let mut b = Vec::with_capacity(std::mem::size_of::<AreaHeader>());
    b.extend_from_slice(&h.magic.to_le_bytes());
    b.extend_from_slice(&h.version.to_le_bytes());
    b.extend_from_slice(&h.nr_cpus.to_le_bytes());
    b.extend_from_slice(&h.ring_size.to_le_bytes());
    b.extend_from_slice(&h.nr_events.to_le_bytes());
    for v in [h.tsc_khz, h.boot_tsc, h.control_gpa] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    for v in h.ring_gpa.iter().chain(&h.data_gpa) {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b
}

fn in_memory(mem: &GuestMemory, gpa: u64, len: u64) -> bool {
    use vm_memory::GuestMemoryBackend;
    len > 0 && gpa.checked_add(len).is_some() && mem.check_range(GuestAddress(gpa), len as usize)
}

impl Area {
    /// Reads and checks the area the guest published at `gpa`.
    pub fn parse(mem: &GuestMemory, gpa: u64) -> Result<Area, AreaError> {
        let mut raw = [0u8; std::mem::size_of::<AreaHeader>()];
        mem.read_slice(&mut raw, GuestAddress(gpa))
            .map_err(|_| AreaError::Unreadable(gpa))?;
        let h = parse_header(&raw);
        if h.magic != AREA_MAGIC {
            return Err(AreaError::BadMagic);
        }
        if h.version != TRACE_ABI_VERSION {
            return Err(AreaError::Version(h.version));
        }
        if h.nr_cpus == 0 || h.nr_cpus as usize > MAX_CPUS {
            return Err(AreaError::Cpus(h.nr_cpus));
        }
        if !h.ring_size.is_power_of_two() || !(4096..=64 << 20).contains(&h.ring_size) {
            return Err(AreaError::RingSize(h.ring_size));
        }
        if !in_memory(
            mem,
            h.control_gpa,
            std::mem::size_of::<abi::trace::Control>() as u64,
        ) || !h.control_gpa.is_multiple_of(8)
        {
            return Err(AreaError::Range("control page", h.control_gpa));
        }
        let mut rings = Vec::new();
        for cpu in 0..h.nr_cpus as usize {
            let (header, data) = (h.ring_gpa[cpu], h.data_gpa[cpu]);
            if !header.is_multiple_of(8) || !in_memory(mem, header, ring::LOST + 8) {
                return Err(AreaError::Range("ring header", header));
            }
            if !in_memory(mem, data, h.ring_size as u64) {
                return Err(AreaError::Range("ring data", data));
            }
            rings.push(RingAddr { header, data });
        }
        Ok(Area {
            ring_size: h.ring_size as u64,
            tsc_khz: h.tsc_khz.max(1),
            boot_tsc: h.boot_tsc,
            control: h.control_gpa,
            rings,
        })
    }

    /// Guest nanoseconds since boot (its CLOCK_MONOTONIC) of a TSC value.
    pub fn tsc_to_ns(&self, tsc: u64) -> u64 {
        // floor(ticks * 10^6 / khz) in two 64-bit divisions (no 128-bit one per record): the
        // remainder's part is below 10^6 * khz, which fits.
        let ticks = tsc.saturating_sub(self.boot_tsc);
        let (whole, rest) = (ticks / self.tsc_khz, ticks % self.tsc_khz);
        whole
            .saturating_mul(1_000_000)
            .saturating_add(rest.saturating_mul(1_000_000) / self.tsc_khz)
    }

    pub fn nr_cpus(&self) -> usize {
        self.rings.len()
    }
}

/// What the host asks the guest to record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ControlState {
    /// Event ids to record.
    pub events: Vec<u16>,
    /// Record only this process (thread-group id).
    pub pid: Option<u32>,
    /// Record only on this CPU.
    pub cpu: Option<u32>,
    /// Records carry the kernel stack (`kstack`).
    pub stacks: bool,
    /// Pointer paths the guest reads at their sites' events (`fetch`), at most
    /// `abi::trace::fetch::MAX_FETCHES`.
    pub fetches: Vec<abi::trace::fetch::Fetch>,
}

impl ControlState {
    /// The control byte `on` for event `id`, with [`abi::trace::CONTROL_FETCH`] when a fetch
    /// runs at its records: a tracepoint's fetches have its id as their site, the function
    /// tracer's a function's address.
    fn control_byte(&self, id: u16, on: u8) -> u8 {
        use abi::trace::{Event as _, FtraceFuncgraphExit, FtraceFunction, CONTROL_FETCH};
        let function = id == FtraceFunction::ID || id == FtraceFuncgraphExit::ID;
        let fetches = self.fetches.iter().any(|f| {
            f.site == u64::from(id) || function && f.site >= abi::trace::MAX_EVENTS as u64
        });
        if fetches {
            on | CONTROL_FETCH
        } else {
            on
        }
    }
}

/// The channel of one VM, shared by the trace device (which publishes the area) and tracers.
pub struct TraceChannel {
    mem: GuestMemory,
    area: Mutex<Option<Arc<Area>>>,
    /// A session is attached (one at a time: it owns the control page and the ring tails).
    claimed: AtomicBool,
    /// Stops the vCPUs while kernel text is patched.
    stop_machine: Arc<StopMachine>,
    /// The function entries patched now, and how (`ftrace.rs`).
    patched: Mutex<BTreeMap<u64, ftrace::Hook>>,
    /// The kernel's patchable functions (None: the kernel has none, no function probes).
    kernel_text: Option<Arc<ftrace::KernelText>>,
}

/// The right to drive the channel, released on drop.
pub struct Claim<'a>(&'a TraceChannel);

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.0.claimed.store(false, Ordering::Release);
    }
}

impl TraceChannel {
    pub fn new(
        mem: GuestMemory,
        stop_machine: Arc<StopMachine>,
        kernel_text: Option<Arc<ftrace::KernelText>>,
    ) -> Arc<TraceChannel> {
        Arc::new(TraceChannel {
            mem,
            area: Mutex::new(None),
            claimed: AtomicBool::new(false),
            stop_machine,
            patched: Mutex::new(BTreeMap::new()),
            kernel_text,
        })
    }

    /// Attach a session; `None` if one already is.
    pub fn claim(&self) -> Option<Claim<'_>> {
        (!self.claimed.swap(true, Ordering::AcqRel)).then_some(Claim(self))
    }

    /// The device found a good area (or lost it on reset: `None`).
    pub fn publish(&self, area: Option<Area>) {
        *crate::devices::lock(&self.area) = area.map(Arc::new);
    }

    pub fn area(&self) -> Option<Arc<Area>> {
        crate::devices::lock(&self.area).clone()
    }

    pub fn kernel_text(&self) -> Option<&Arc<ftrace::KernelText>> {
        self.kernel_text.as_ref()
    }

    pub fn mem(&self) -> &GuestMemory {
        &self.mem
    }

    /// The guest kernel's memory by virtual address, for `args->p->field` and `str()`.
    pub fn kernel_memory(&self) -> KernelMemoryReader<'_> {
        KernelMemoryReader(&self.mem)
    }

    /// Writes the control page: which events are on and the filters.
    pub fn set_control(&self, area: &Area, state: &ControlState) {
        use abi::trace::fetch::Fetch;
        use abi::trace::{CONTROL_FILTER, CONTROL_ON, CONTROL_STACK};
        use std::mem::size_of;
        let mut enabled = [0u8; MAX_EVENTS];
        let mut on = CONTROL_ON;
        if state.stacks {
            on |= CONTROL_STACK;
        }
        // Anything but CONTROL_ON alone takes the guest's slow path, which applies filters.
        if state.pid.is_some() || state.cpu.is_some() {
            on |= CONTROL_FILTER;
        }
        for &id in &state.events {
            if let Some(b) = enabled.get_mut(id as usize) {
                *b = state.control_byte(id, on);
            }
        }
        let slow = enabled.iter().any(|&b| b != 0 && b != CONTROL_ON);
        // The fetch table packed from its first slot; zeros end it.
        let mut table = vec![0u8; abi::trace::fetch::MAX_FETCHES * size_of::<Fetch>()];
        for (f, slot) in state
            .fetches
            .iter()
            .zip(table.chunks_exact_mut(size_of::<Fetch>()))
        {
            slot.copy_from_slice(&fetch::encode(f));
        }
        let base = GuestAddress(area.control);
        // Filters first, so that events switched on never see stale ones.
        let pid = state.pid.unwrap_or(0);
        let cpu = state.cpu.map_or(0, |c| c + 1);
        let ok = self
            .mem
            .store(
                pid,
                base.unchecked_add(control::FILTER_PID),
                Ordering::SeqCst,
            )
            .and_then(|_| {
                self.mem.store(
                    cpu,
                    base.unchecked_add(control::FILTER_CPU),
                    Ordering::SeqCst,
                )
            })
            .and_then(|_| {
                self.mem
                    .write_slice(&table, base.unchecked_add(control::FETCHES))
            })
            .and_then(|_| {
                self.mem.store(
                    u32::from(slow),
                    base.unchecked_add(control::SLOW),
                    Ordering::SeqCst,
                )
            })
            .and_then(|_| {
                self.mem
                    .write_slice(&enabled, base.unchecked_add(control::ENABLED))
            });
        if let Err(e) = ok {
            crate::warn!("cannot write the trace control page: {e}");
        }
        // The producers' fast paths read no control byte: send them down their slow paths,
        // which do (a limit refilled there stays 0 while `slow` is set).
        self.zero_limits(area);
    }

    /// Zeroes every ring's producer limit after a full fence (the abi's module comment).
    fn zero_limits(&self, area: &Area) {
        std::sync::atomic::fence(Ordering::SeqCst);
        for r in &area.rings {
            let _ = self
                .mem
                .store(0u64, GuestAddress(r.header + ring::LIMIT), Ordering::SeqCst);
        }
    }

    /// Moves every record of CPU `cpu`'s ring into `out` (appended) and frees the space.
    pub fn drain(&self, area: &Area, cpu: usize, out: &mut Vec<u8>) -> Result<(), DrainError> {
        let r = area.rings[cpu];
        let head_at = GuestAddress(r.header + ring::HEAD);
        let tail_at = GuestAddress(r.header + ring::TAIL);
        let head: u64 = self
            .mem
            .load(head_at, Ordering::Acquire)
            .map_err(|_| DrainError::Unreadable(cpu))?;
        let tail: u64 = self
            .mem
            .load(tail_at, Ordering::Acquire)
            .map_err(|_| DrainError::Unreadable(cpu))?;
        let avail = head.wrapping_sub(tail);
        if avail > area.ring_size || !avail.is_multiple_of(abi::trace::RECORD_ALIGN as u64) {
            let _ = self.mem.store(head, tail_at, Ordering::Release);
            return Err(DrainError::Inconsistent { cpu, head, tail });
        }
        let start = tail & (area.ring_size - 1);
        let first = avail.min(area.ring_size - start);
        let old_len = out.len();
        out.resize(old_len + avail as usize, 0);
        let read = self
            .mem
            .read_slice(
                &mut out[old_len..old_len + first as usize],
                GuestAddress(r.data + start),
            )
            .and_then(|_| {
                self.mem
                    .read_slice(&mut out[old_len + first as usize..], GuestAddress(r.data))
            });
        if read.is_err() {
            out.truncate(old_len);
            return Err(DrainError::Unreadable(cpu));
        }
        self.mem
            .store(head, tail_at, Ordering::Release)
            .map_err(|_| DrainError::Unreadable(cpu))
    }

    /// Starts a new session: asks every CPU's producer to say again whose its records are (a
    /// `TaskInfo` before its next record), and to take no task as described until it has
    /// described it again (`Control::session`): a new session has not seen the rings' earlier
    /// records.
    pub fn request_task_info(&self, area: &Area) {
        let session_at = GuestAddress(area.control + control::SESSION);
        let session: u32 = self.mem.load(session_at, Ordering::SeqCst).unwrap_or(0);
        let _ = self
            .mem
            .store(session.wrapping_add(1), session_at, Ordering::SeqCst);
        for r in &area.rings {
            let at = GuestAddress(r.header + ring::TASK);
            let _ = self
                .mem
                .store(abi::trace::TASK_UNKNOWN, at, Ordering::SeqCst);
        }
        // Then the producers' limits: their fast paths check only the limit.
        self.zero_limits(area);
    }

    /// Records CPU `cpu` dropped because its ring was full, since boot.
    pub fn lost(&self, area: &Area, cpu: usize) -> u64 {
        let at = GuestAddress(area.rings[cpu].header + ring::LOST);
        self.mem.load(at, Ordering::Acquire).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AREA_GPA: u64 = 0x10000;
    const CONTROL_GPA: u64 = 0x11000;
    const RING_GPA: u64 = 0x12000;
    const DATA_GPA: u64 = 0x20000;

    fn guest() -> GuestMemory {
        crate::memory::create(1 << 20).unwrap()
    }

    fn write_area(mem: &GuestMemory, edit: impl FnOnce(&mut Vec<u8>)) {
        let mut h = AreaHeader {
            magic: AREA_MAGIC,
            version: TRACE_ABI_VERSION,
            nr_cpus: 1,
            ring_size: 4096,
            tsc_khz: 1_000_000, // 1 GHz
            boot_tsc: 500,
            control_gpa: CONTROL_GPA,
            ..AreaHeader::default()
        };
        h.ring_gpa[0] = RING_GPA;
        h.data_gpa[0] = DATA_GPA;
        let mut b = encode_header(&h);
        assert_eq!(parse_header(b.as_slice().try_into().unwrap()), h);
        edit(&mut b);
        mem.write_slice(&b, GuestAddress(AREA_GPA)).unwrap();
    }

    #[test]
    fn area_is_checked() {
        let mem = guest();
        write_area(&mem, |_| {});
        let area = Area::parse(&mem, AREA_GPA).unwrap();
        assert_eq!(
            area.rings,
            vec![RingAddr {
                header: RING_GPA,
                data: DATA_GPA
            }]
        );
        assert_eq!(area.tsc_to_ns(1500), 1000);
        assert_eq!(area.tsc_to_ns(10), 0);
        assert_eq!(
            Area::parse(&mem, 1 << 40),
            Err(AreaError::Unreadable(1 << 40))
        );
        let bad = |edit: fn(&mut Vec<u8>)| {
            let mem = guest();
            write_area(&mem, edit);
            Area::parse(&mem, AREA_GPA).unwrap_err()
        };
        assert_eq!(bad(|b| b[0] ^= 1), AreaError::BadMagic);
        assert_eq!(bad(|b| b[8] = 9), AreaError::Version(9));
        assert_eq!(bad(|b| b[12] = 0), AreaError::Cpus(0));
        assert_eq!(bad(|b| b[12] = 33), AreaError::Cpus(33));
        assert_eq!(bad(|b| b[16] = 1), AreaError::RingSize(4097));
        assert!(matches!(
            bad(|b| b[47] = 0x10),
            AreaError::Range("control page", _)
        ));
        // Ring data running off the end of guest memory.
        assert!(matches!(
            bad(|b| b[48 + 8 * MAX_CPUS + 3] = 0x0f),
            AreaError::Range("ring data", _)
        ));
    }

    #[test]
    fn drain_copies_and_frees() {
        let mem = guest();
        write_area(&mem, |_| {});
        let ch = TraceChannel::new(mem.clone(), Default::default(), None);
        let area = Area::parse(&mem, AREA_GPA).unwrap();
        // 24 bytes written across the wrap: tail at 4088, head at 4112.
        mem.write_slice(&[1u8; 8], GuestAddress(DATA_GPA + 4088))
            .unwrap();
        mem.write_slice(&[2u8; 16], GuestAddress(DATA_GPA)).unwrap();
        mem.store(
            4112u64,
            GuestAddress(RING_GPA + ring::HEAD),
            Ordering::SeqCst,
        )
        .unwrap();
        mem.store(
            4088u64,
            GuestAddress(RING_GPA + ring::TAIL),
            Ordering::SeqCst,
        )
        .unwrap();
        let mut out = Vec::new();
        ch.drain(&area, 0, &mut out).unwrap();
        assert_eq!(out, [[1u8; 8].as_slice(), &[2u8; 16]].concat());
        let tail: u64 = mem
            .load(GuestAddress(RING_GPA + ring::TAIL), Ordering::SeqCst)
            .unwrap();
        assert_eq!(tail, 4112);
        // Nothing new: nothing drained.
        ch.drain(&area, 0, &mut out).unwrap();
        assert_eq!(out.len(), 24);
        // A head more than a ring ahead is garbage: skipped, reported.
        mem.store(
            4112u64 + 8192,
            GuestAddress(RING_GPA + ring::HEAD),
            Ordering::SeqCst,
        )
        .unwrap();
        assert!(matches!(
            ch.drain(&area, 0, &mut out),
            Err(DrainError::Inconsistent { cpu: 0, .. })
        ));
        assert_eq!(out.len(), 24);
        let tail: u64 = mem
            .load(GuestAddress(RING_GPA + ring::TAIL), Ordering::SeqCst)
            .unwrap();
        assert_eq!(tail, 4112 + 8192);
    }

    #[test]
    fn control_page() {
        let mem = guest();
        write_area(&mem, |_| {});
        let ch = TraceChannel::new(mem.clone(), Default::default(), None);
        let area = Area::parse(&mem, AREA_GPA).unwrap();
        ch.set_control(
            &area,
            &ControlState {
                events: vec![1, 7, 999],
                pid: Some(42),
                cpu: Some(0),
                stacks: false,
                fetches: Vec::new(),
            },
        );
        let mut page = [0u8; MAX_EVENTS + 8];
        mem.read_slice(&mut page, GuestAddress(CONTROL_GPA))
            .unwrap();
        let filtered = abi::trace::CONTROL_ON | abi::trace::CONTROL_FILTER;
        assert_eq!(
            (page[0], page[1], page[7], page[8]),
            (0, filtered, filtered, 0)
        );
        assert_eq!(u32_at(&page, MAX_EVENTS), 42);
        assert_eq!(u32_at(&page, MAX_EVENTS + 4), 1);
        // kstack: the events' bytes also ask for stacks.
        let state = ControlState {
            events: vec![7],
            stacks: true,
            ..ControlState::default()
        };
        ch.set_control(&area, &state);
        mem.read_slice(&mut page, GuestAddress(CONTROL_GPA))
            .unwrap();
        assert_eq!((page[1], page[7]), (0, 1 | abi::trace::CONTROL_STACK));
        // Fetches: the table, and the events whose records run them ask for them.
        let fetch = |site| abi::trace::fetch::Fetch {
            site,
            base: abi::trace::fetch::BASE_TASK,
            derefs: 1,
            len: 16,
            offsets: [24, 8, 0, 0],
            ..Default::default()
        };
        let state = ControlState {
            events: vec![1, 7, 200],
            fetches: vec![fetch(7), fetch(0xffff_ffff_8000_1000)],
            ..ControlState::default()
        };
        ch.set_control(&area, &state);
        let mut page = [0u8; 4096];
        mem.read_slice(&mut page, GuestAddress(CONTROL_GPA))
            .unwrap();
        let with_fetch = abi::trace::CONTROL_ON | abi::trace::CONTROL_FETCH;
        assert_eq!((page[1], page[7], page[200]), (1, with_fetch, with_fetch));
        assert_eq!(u32_at(&page, control::SLOW as usize), 1);
        let table = control::FETCHES as usize;
        assert_eq!(page[table..table + 32], fetch::encode(&state.fetches[0]));
        assert_eq!(
            page[table + 32..table + 64],
            fetch::encode(&state.fetches[1])
        );
        assert_eq!(page[table + 64..table + 96], [0; 32]);
    }
}
