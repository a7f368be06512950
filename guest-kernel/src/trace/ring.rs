//! The per-CPU trace rings: one producer each (its CPU, with interrupts off while it writes a
//! record, so an interrupt's tracepoint can't interleave), one consumer (the host, which only
//! moves `tail`). A full ring drops the record and counts it in `lost`; the guest never waits.
//!
//! The layout and the reservation rule (`abi::trace::reserve`) are shared with the host.

use core::sync::atomic::{AtomicU64, Ordering};

use abi::trace::{
    record_size, reserve, AreaHeader, Event, RecordHeader, RingHeader, AREA_MAGIC, EVENTS,
    EVENT_HAS_STACK, EVENT_PAD, MAX_CPUS, MAX_STACK_FRAMES, RECORD_HEADER_SIZE, TRACE_ABI_VERSION,
};

use super::{SharedWithHost, AREA};
use crate::arch::{cpu, percpu, tsc};

/// Record data per CPU: 256 KiB (order 6), enough for a few thousand events between two host
/// drains.
pub const RING_ORDER: usize = 6;
const RING_SIZE: u64 = 4096 << RING_ORDER;
/// Longest variable-length string a record carries (longer ones are cut).
pub const MAX_STRING: usize = 256;

static HEADERS: [SharedWithHost<RingHeader>; MAX_CPUS] =
    [const { SharedWithHost::new(RingHeader::new()) }; MAX_CPUS];
/// Kernel virtual address of each CPU's data (0: no ring).
static DATA: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Allocate a ring per online CPU and publish the area, once (the trace device and the
/// `trace_event=` parameter both ask). Returns how many rings exist.
pub fn init() -> usize {
    static ONCE: spin::Once<usize> = spin::Once::new();
    *ONCE.call_once(allocate)
}

fn allocate() -> usize {
    let cpus = percpu::nr_cpu_ids().min(MAX_CPUS);
    let mut area = AreaHeader {
        magic: AREA_MAGIC,
        version: TRACE_ABI_VERSION,
        nr_cpus: 0,
        ring_size: RING_SIZE as u32,
        nr_events: EVENTS.len() as u32,
        tsc_khz: tsc::khz(),
        boot_tsc: tsc::boot_tsc(),
        control_gpa: super::control_phys(),
        ..AreaHeader::default()
    };
    for cpu in 0..cpus {
        let Some(phys) = crate::mm::page_alloc::alloc_pages(crate::mm::gfp::GFP_KERNEL, RING_ORDER)
        else {
            break;
        };
        area.ring_gpa[cpu] = crate::arch::virt_to_phys(HEADERS[cpu].get() as u64);
        area.data_gpa[cpu] = phys;
        DATA[cpu].store(crate::arch::phys_to_virt(phys), Ordering::Release);
        area.nr_cpus += 1;
    }
    // SAFETY: written once, before the device is told where it is; nothing else writes it.
    unsafe { core::ptr::write_volatile(AREA.get(), area) };
    area.nr_cpus as usize
}

fn head_tail_lost(cpu: usize) -> (&'static AtomicU64, &'static AtomicU64, &'static AtomicU64) {
    let h = HEADERS[cpu].get();
    // SAFETY: the fields are 8-byte aligned u64s of a static that lives forever; treating them
    // as atomics is how both sides access them (the host with vm-memory's atomic loads/stores).
    unsafe {
        (
            AtomicU64::from_ptr(core::ptr::addr_of_mut!((*h).head)),
            AtomicU64::from_ptr(core::ptr::addr_of_mut!((*h).tail)),
            AtomicU64::from_ptr(core::ptr::addr_of_mut!((*h).lost)),
        )
    }
}

/// Count one record this CPU could not write (the host reports it as lost).
pub fn count_lost() {
    let cpu = percpu::cpu_id();
    if DATA[cpu].load(Ordering::Acquire) != 0 {
        head_tail_lost(cpu).2.fetch_add(1, Ordering::Relaxed);
    }
}

/// Where an event's kernel stack starts: addresses known up front, then a frame chain.
pub struct StackStart {
    /// A function the tracer entered or left and where it was called from, when the chain
    /// does not show them (the function has no frame yet, or no longer).
    pub leading: Option<[u64; 2]>,
    /// A frame pointer: `[frame + 8]` is the next return address.
    pub frame: u64,
    /// Return addresses of the chain to leave out (the tracer's own).
    pub skip: usize,
}

impl StackStart {
    pub fn frame(frame: u64) -> StackStart {
        StackStart {
            leading: None,
            frame,
            skip: 0,
        }
    }

    /// The return addresses, innermost first, into `out`; how many.
    fn collect(&self, out: &mut [u64; MAX_STACK_FRAMES]) -> usize {
        let n = match self.leading {
            Some(leading) => {
                out[..2].copy_from_slice(&leading);
                2
            }
            None => 0,
        };
        n + walk_current(self.frame, self.skip, &mut out[n..])
    }
}

/// The return addresses of the frames from `frame` outwards on the current task's kernel
/// stack (interrupts run on it too), past the first `skip`; how many. None outside a task.
pub fn walk_current(frame: u64, skip: usize, out: &mut [u64]) -> usize {
    match crate::kernel::task::try_current() {
        Some(t) => crate::arch::stacktrace::walk(frame, t.stack_base, t.stack_top(), skip, out),
        None => 0,
    }
}

/// Write one record of event `E` with `payload` and the variable-length bytes `extra` (a
/// `__data_loc` string) into this CPU's ring, if the host's filters let it through; with the
/// kernel stack from `stack` at its end when the host asked for it.
#[inline(always)]
pub fn emit<E: Event>(payload: &E, extra: &[u8], stack: StackStart) {
    if super::stack_wanted(E::ID) {
        emit_with_stack(payload, extra, stack);
    } else {
        write(payload, extra, &[]);
    }
}

/// `emit` with the stack: kept out of line so the usual record has no frame array to fill.
#[cold]
#[inline(never)]
fn emit_with_stack<E: Event>(payload: &E, extra: &[u8], stack: StackStart) {
    let mut frames = [0u64; MAX_STACK_FRAMES];
    let n = stack.collect(&mut frames);
    write(payload, extra, &frames[..n]);
}

/// The record itself: header, payload, `extra`, and a stack trailer when `frames` has any.
#[inline(always)]
fn write<E: Event>(payload: &E, extra: &[u8], frames: &[u64]) {
    let extra = &extra[..extra.len().min(MAX_STRING)];
    cpu::without_interrupts(|| {
        let cpu = percpu::cpu_id();
        let data = DATA[cpu].load(Ordering::Acquire);
        if data == 0 {
            return;
        }
        let task = crate::kernel::task::try_current();
        let (tid, pid) = task.map_or((0, 0), |t| (t.pid as u32, t.tgid as u32));
        let (filter_pid, filter_cpu) = super::filters();
        if (filter_pid != 0 && filter_pid != pid)
            || (filter_cpu != 0 && filter_cpu as usize != cpu + 1)
        {
            return;
        }
        let payload_size = core::mem::size_of::<E>();
        let nr_frames = frames.len();
        // The stack trailer: the frames, then their count (the record's last u64).
        let trailer = if nr_frames > 0 {
            8 * (nr_frames + 1)
        } else {
            0
        };
        let size = record_size(payload_size + extra.len() + trailer) as u64;
        let (head, tail, lost) = head_tail_lost(cpu);
        let h = head.load(Ordering::Relaxed);
        let Some((pad, pos)) = reserve(h, tail.load(Ordering::Acquire), size, RING_SIZE) else {
            lost.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let header = RecordHeader {
            size: size as u16,
            event: if trailer > 0 {
                E::ID | EVENT_HAS_STACK
            } else {
                E::ID
            },
            uid: task.map_or(0, |t| t.uid.load(Ordering::Relaxed)),
            tid,
            pid,
            tsc: cpu::rdtsc(),
            comm: task.map_or([0; 16], |t| t.comm.get()),
            task: task.map_or(0, |t| t as *const _ as u64),
        };
        // SAFETY: `reserve` keeps [pos, pos + size) and a pad at the old head inside this CPU's
        // RING_SIZE bytes of data, which only this CPU writes (interrupts are off) and the host
        // reads only below `head`, which moves after the writes.
        unsafe {
            if pad != 0 {
                // Only size and id: a pad may be shorter than a record header.
                let at = (data + (h & (RING_SIZE - 1))) as *mut u16;
                at.write(pad as u16);
                at.add(1).write(EVENT_PAD);
            }
            let at = (data + pos) as *mut u8;
            (at as *mut RecordHeader).write(header);
            (at.add(RECORD_HEADER_SIZE) as *mut E).write_unaligned(*payload);
            if !extra.is_empty() {
                core::ptr::copy_nonoverlapping(
                    extra.as_ptr(),
                    at.add(RECORD_HEADER_SIZE + payload_size),
                    extra.len(),
                );
            }
            if trailer > 0 {
                let end = at.add(size as usize) as *mut u64;
                end.sub(1).write_unaligned(nr_frames as u64);
                let first = end.sub(1 + nr_frames);
                for (i, &f) in frames.iter().enumerate() {
                    first.add(i).write_unaligned(f);
                }
            }
        }
        head.store(h + pad + size, Ordering::Release);
    })
}
