//! The per-CPU trace rings: one producer each (its CPU), one consumer (the host, which only
//! moves `tail`). A full ring drops the record and counts it in `lost`; the guest never waits.
//!
//! The layout and the reservation rule (`abi::trace::reserve`, `limit`) are shared with the host.
//!
//! The fast path is what an enabled tracepoint costs, so it is kept to a few dozen
//! instructions:
//! - No interrupt flag games: this kernel runs with interrupts off whenever it is in kernel
//!   mode (they are on only in user mode and inside `sti; hlt`), so nothing can interleave with
//!   a record on its CPU. The one thing that can, an NMI, runs nothing the tracer records (its
//!   handlers have no tracepoints and no patchable entries, `smp_call_function_many`).
//! - The CPU's ring is one `%gs`-relative load away, and always points at a [`CpuRing`] once
//!   any event is on (CPUs without ring memory get one whose `limit` is 0).
//! - One compare reserves: `head + size <= limit`, where `limit` caches how far the head may go
//!   before the ring is full or wraps. Only when it fails does [`refill`] read the host's
//!   `tail`, write a pad record at the wrap and compute the next limit.
//! - The header is size, id and TSC; who the record belongs to goes into a [`TaskInfo`] record
//!   only when the CPU's task differs from the last one described ([`describe_task`]). The
//!   fast path does not compare tasks: a context switch to a task the ring has not described
//!   ([`switch_task`]), [`forget_task`] and the host zero `limit` instead, so the next record
//!   takes the slow path, which writes the `TaskInfo`. A switch recorded by `sched_switch` to
//!   a task the ring described before (`super::DescribedIn`) needs none: the host takes the
//!   next task from the record (see `abi::trace`'s module comment).
//! - The payload is written straight into the ring slot.

use core::sync::atomic::{AtomicU64, Ordering};

use abi::trace::{
    limit, record_size, reserve, AreaHeader, Event, Ptr, RingHeader, TaskInfo, AREA_MAGIC, EVENTS,
    EVENT_HAS_FETCH, EVENT_HAS_STACK, EVENT_PAD, MAX_CPUS, MAX_STACK_FRAMES, RECORD_HEADER_SIZE,
    TASK_UNKNOWN, TRACE_ABI_VERSION,
};

use super::{SharedWithHost, AREA};
use crate::arch::{cpu, percpu, tsc};
use crate::kernel::task::Task;

/// Record data per CPU: 256 KiB (order 6), enough for a few thousand events between two host
/// drains.
pub const RING_ORDER: usize = 6;
const RING_SIZE: u64 = 4096 << RING_ORDER;
/// Longest variable-length string a record carries (longer ones are cut).
pub const MAX_STRING: usize = 256;

/// One CPU's ring: the header the host reads (its address is the ring's GPA), then the
/// producer's own state.
#[repr(C, align(64))]
pub struct CpuRing {
    /// With `limit`: how far `head` may move before [`refill`] must look again
    /// (`abi::trace::limit`); 0 for a CPU without ring memory, so that every record goes to
    /// `refill`, which drops it, and whenever `task` is stale.
    header: RingHeader,
    /// Kernel virtual address of the record data (0: none).
    data: u64,
    /// The limit [`refill`] last computed (`header.limit` is this or 0): what the slow path
    /// puts back when only the task or the host's `slow` made the fast path stop.
    room: u64,
    /// `data` minus the ring position of the current lap: a head below `limit` is written at
    /// `head + bias` (set by [`refill`], which the fast path never passes a lap boundary
    /// without).
    bias: u64,
    /// This ring's bit in [`super::DescribedIn`] (1 << its CPU).
    cpu_bit: u64,
}

static RINGS: [SharedWithHost<CpuRing>; MAX_CPUS] = [const {
    SharedWithHost::new(CpuRing {
        header: RingHeader::new(),
        data: 0,
        room: 0,
        bias: 0,
        cpu_bit: 0,
    })
}; MAX_CPUS];

/// Allocate a ring per CPU and publish the area, once (the trace device and the
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
    // Rings for CPUs 0, 1, ... until memory runs out (the host numbers rings by CPU).
    let mut out_of_memory = false;
    for (cpu, ring) in RINGS.iter().enumerate() {
        // Every CPU points at its ring, memory or not (`limit` 0 drops its records).
        // SAFETY: no event is on yet, so nothing else touches the ring.
        unsafe { (*ring.get()).cpu_bit = 1 << cpu };
        percpu::set_trace_ring(cpu, ring.get() as u64);
        if cpu >= cpus || out_of_memory {
            continue;
        }
        let Some(phys) = crate::mm::page_alloc::alloc_pages(crate::mm::gfp::GFP_KERNEL, RING_ORDER)
        else {
            out_of_memory = true;
            continue;
        };
        let r = ring.get();
        // SAFETY: no event is on yet, so nothing else touches the ring; the fields are plain
        // u64s of a static.
        unsafe {
            (*r).data = crate::arch::phys_to_virt(phys);
            (*r).bias = (*r).data;
            (*r).room = limit(0, 0, RING_SIZE);
            (*r).header.limit = (*r).room;
        }
        area.ring_gpa[cpu] = crate::arch::virt_to_phys(r as u64);
        area.data_gpa[cpu] = phys;
        area.nr_cpus += 1;
    }
    // SAFETY: written once, before the device is told where it is; nothing else writes it.
    unsafe { core::ptr::write_volatile(AREA.get(), area) };
    area.nr_cpus as usize
}

/// This CPU's ring (valid once `init` ran, which is before any event can be on).
#[inline(always)]
fn this_ring() -> *mut CpuRing {
    percpu::trace_ring() as *mut CpuRing
}

/// The ring header's shared counters as atomics.
#[inline(always)]
fn counter(field: *mut u64) -> &'static AtomicU64 {
    // SAFETY: `field` is an 8-byte aligned u64 of a static ring header; both sides access it
    // atomically (the host with vm-memory's atomic loads and stores).
    unsafe { AtomicU64::from_ptr(field) }
}

#[inline(always)]
fn head(r: *mut CpuRing) -> &'static AtomicU64 {
    // SAFETY: `r` is one of RINGS; only the field's address is taken.
    counter(unsafe { core::ptr::addr_of_mut!((*r).header.head) })
}

#[inline(always)]
fn ring_task(r: *mut CpuRing) -> &'static AtomicU64 {
    // SAFETY: as in `head`.
    counter(unsafe { core::ptr::addr_of_mut!((*r).header.task) })
}

/// The producer's limit: written by this CPU, zeroed by others and the host (see
/// `abi::trace`'s module comment).
#[inline(always)]
fn ring_limit(r: *mut CpuRing) -> &'static AtomicU64 {
    // SAFETY: as in `head`.
    counter(unsafe { core::ptr::addr_of_mut!((*r).header.limit) })
}

fn tail(r: *mut CpuRing) -> &'static AtomicU64 {
    // SAFETY: as in `head`.
    counter(unsafe { core::ptr::addr_of_mut!((*r).header.tail) })
}

fn lost(r: *mut CpuRing) -> &'static AtomicU64 {
    // SAFETY: as in `head`.
    counter(unsafe { core::ptr::addr_of_mut!((*r).header.lost) })
}

/// Room for a record of `size` bytes: where it goes, or None (counted as lost). The slow
/// half is [`refill`].
#[inline(always)]
fn reserve_fast(r: *mut CpuRing, size: u64) -> Option<(*mut u8, u64)> {
    let h = head(r).load(Ordering::Relaxed);
    // SAFETY: `room` and `bias` are this CPU's own fields, and this CPU's records never
    // interleave (see the module comment).
    let room = unsafe { (*r).room };
    let h = if h + size <= room {
        h
    } else {
        refill(r, size)?
    };
    // SAFETY: as above.
    Some((h.wrapping_add(unsafe { (*r).bias }) as *mut u8, h + size))
}

/// Put the fast path's limit back (`room`), unless the ring's task is not the current one or
/// the host wants the slow path.
fn reopen(r: *mut CpuRing) {
    // SAFETY: as in `reserve_fast`.
    let room = unsafe { (*r).room };
    // A swap, a full fence, before looking at `task` and `slow`: whoever made them stale
    // zeroed the limit after, so either this sees what they wrote or they zero this limit.
    ring_limit(r).swap(room, Ordering::SeqCst);
    if ring_task(r).load(Ordering::Relaxed) != percpu::current_task_raw() || super::slow() {
        ring_limit(r).store(0, Ordering::Relaxed);
    }
}

/// The ring is full or about to wrap (or this CPU has no ring): look at the host's tail, pad
/// to the wrap if needed, and cache the next limit. The head the record goes at, or None.
#[cold]
#[inline(never)]
fn refill(r: *mut CpuRing, size: u64) -> Option<u64> {
    // SAFETY: as in `reserve_fast`.
    let data = unsafe { (*r).data };
    if data == 0 {
        return None;
    }
    let mut h = head(r).load(Ordering::Relaxed);
    let t = tail(r).load(Ordering::Acquire);
    let Some((pad, _)) = reserve(h, t, size, RING_SIZE) else {
        lost(r).fetch_add(1, Ordering::Relaxed);
        return None;
    };
    if pad != 0 {
        // Only size and id: a pad may be shorter than a record header.
        let at = (data + (h & (RING_SIZE - 1))) as *mut u16;
        // SAFETY: `reserve` keeps the pad at the old head inside this CPU's RING_SIZE bytes of
        // data, free space the host does not read until `head` moves past it.
        unsafe {
            at.write(pad as u16);
            at.add(1).write(EVENT_PAD);
        }
        h += pad;
        head(r).store(h, Ordering::Release);
    }
    // SAFETY: as in `reserve_fast`.
    unsafe {
        (*r).bias = data.wrapping_sub(h & !(RING_SIZE - 1));
        (*r).room = limit(h, t, RING_SIZE);
    }
    reopen(r);
    Some(h)
}

/// Count one record this CPU could not write (the host reports it as lost).
pub fn count_lost() {
    let r = this_ring();
    // SAFETY: as in `reserve_fast`.
    if !r.is_null() && unsafe { (*r).data } != 0 {
        lost(r).fetch_add(1, Ordering::Relaxed);
    }
}

/// `task`'s identity changed (rename, exec, setuid, new parent): every CPU whose ring last
/// described it writes a new [`TaskInfo`] before its next record, and no ring derives it from
/// a `sched_switch` until it did.
pub fn forget_task(task: &Task) {
    task.described_in.clear();
    let addr = task as *const Task as u64;
    for ring in &RINGS {
        let r = ring.get();
        // A compare-exchange (a full fence): another task's description stays. Then the
        // limit, so that the ring's producer takes its slow path (see `refill`).
        if ring_task(r)
            .compare_exchange(addr, TASK_UNKNOWN, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
        {
            ring_limit(r).store(0, Ordering::SeqCst);
        }
    }
}

/// This CPU is about to switch from `prev` to `next` (from `schedule`, right after
/// `sched_switch`, which `recorded` says whether it wrote): unless the ring already describes
/// `next`, or the host derives it from that record, the next record takes the slow path, which
/// describes it.
#[inline(always)]
pub fn switch_task(prev: &Task, next: &Task, recorded: bool) {
    let r = percpu::trace_ring() as *mut CpuRing;
    let next_addr = next as *const Task as u64;
    if r.is_null() || ring_task(r).load(Ordering::Relaxed) == next_addr {
        return;
    }
    // The host knows `next` from this ring and reads the switch: the ring's task becomes
    // `next` with no record. A compare-exchange: if the host asked for a `TaskInfo` since
    // `sched_switch` described `prev` (its `TASK_UNKNOWN`), that stays.
    // SAFETY: `cpu_bit` is set before any event is on and never changes.
    let cpu_bit = unsafe { (*r).cpu_bit };
    if recorded
        && next.described_in.has(cpu_bit)
        && ring_task(r)
            .compare_exchange(
                prev as *const Task as u64,
                next_addr,
                Ordering::SeqCst,
                Ordering::Relaxed,
            )
            .is_ok()
    {
        return;
    }
    ring_limit(r).store(0, Ordering::Relaxed);
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

/// The fast path, all inline: write the record of event `E` (the payload `make` builds, then
/// `extra`, a `__data_loc` string) when the record fits below the ring's `limit`, which is 0
/// unless the ring last described the current task and the host asks for nothing but plain
/// records ([`abi::trace::Control::slow`]). The caller tested the event's control byte for
/// zero. False, with nothing written, otherwise: then the caller goes to [`emit`], out of
/// line. The payload is built only once its place is known, so it goes straight into the ring.
#[inline(always)]
pub fn try_emit<E: Event>(extra: &[u8], make: impl FnOnce() -> E) -> bool {
    // SAFETY: `at` is the payload's place (`try_write`).
    try_write::<E>(extra, |at| unsafe {
        (at as *mut E).write_unaligned(make())
    })
}

/// [`try_emit`] for a payload written a field at a time by `fill`, each value read and stored
/// in turn (gathered first, as `make`'s struct is, they would not fit in the registers that
/// need no saving).
#[inline(always)]
pub fn try_fill<E: Event>(fill: impl FnOnce(&mut Payload<E>)) -> bool {
    try_write::<E>(&[], |at| {
        fill(&mut Payload {
            at,
            _event: core::marker::PhantomData,
        })
    })
}

/// A payload of event `E` being written in place (see [`try_fill`]).
pub struct Payload<E> {
    at: *mut u8,
    _event: core::marker::PhantomData<E>,
}

impl<E: Event + Default> Payload<E> {
    /// The payload `fill` writes, as a value (for the slow path).
    #[inline(always)]
    pub fn build(fill: impl FnOnce(&mut Payload<E>)) -> E {
        let mut e = E::default();
        fill(&mut Payload {
            at: &mut e as *mut E as *mut u8,
            _event: core::marker::PhantomData,
        });
        e
    }
}

impl<E> Payload<E> {
    /// Stores `value` into the field at `offset`, which `field` names (so that its type is
    /// the value's: `offset` and `field` come from one name in `events.rs`'s `fill!`).
    #[inline(always)]
    pub fn put<T: Copy>(&mut self, offset: usize, value: T, field: fn(&E) -> &T) {
        let _ = field;
        assert!(offset + core::mem::size_of::<T>() <= core::mem::size_of::<E>());
        // SAFETY: `at` starts `size_of::<E>()` writable bytes (a ring slot from `try_write`,
        // or a value in `build`), and the assert keeps the store inside them.
        unsafe { (self.at.add(offset) as *mut T).write_unaligned(value) };
    }

    /// Stores `pair` into two adjacent i32 fields (`first` at `offset`, `second` right
    /// after), as one u64.
    #[inline(always)]
    pub fn put_pair(
        &mut self,
        offset: usize,
        second_offset: usize,
        pair: u64,
        first: fn(&E) -> &i32,
        second: fn(&E) -> &i32,
    ) {
        let _ = (first, second);
        assert!(second_offset == offset + 4);
        self.put(offset, pair, |_| &0);
    }
}

/// The fast path's common part: `payload` writes the payload at the pointer it is given.
#[inline(always)]
fn try_write<E: Event>(extra: &[u8], payload: impl FnOnce(*mut u8)) -> bool {
    let r = this_ring();
    let extra = &extra[..extra.len().min(MAX_STRING)];
    let size = record_size(core::mem::size_of::<E>() + extra.len()) as u64;
    let h = head(r).load(Ordering::Relaxed);
    if h + size > ring_limit(r).load(Ordering::Relaxed) {
        return false;
    }
    // SAFETY: as in `reserve_fast` (`bias` too is this CPU's own).
    let at = h.wrapping_add(unsafe { (*r).bias }) as *mut u8;
    // SAFETY: `h + size <= limit` puts [at, at + size) inside this CPU's data, free (see
    // `abi::trace::limit`), in the lap `refill` computed `bias` for; only this CPU writes it
    // and the host reads only below `head`.
    unsafe { write_with::<E>(at, E::ID, size, payload, extra, &[]) };
    head(r).store(h + size, Ordering::Release);
    true
}

/// The slow path, from a tracepoint's out-of-line `record_slow`: the host's filters, the kernel
/// stack and the values of the event's fetches when asked for, a [`TaskInfo`] record when the
/// task changed, a refill of the limit. True if the record was written.
#[inline(always)]
pub fn emit<E: Event>(payload: &E, extra: &[u8], stack: StackStart) -> bool {
    emit_at(payload, extra, stack, u64::from(E::ID), &[0; 6])
}

/// [`emit`] for a record whose fetches run at `site` (a function's address; a tracepoint's
/// is its id) from the argument registers `regs`.
#[inline(always)]
pub fn emit_at<E: Event>(
    payload: &E,
    extra: &[u8],
    stack: StackStart,
    site: u64,
    regs: &[u64; 6],
) -> bool {
    let control = super::control_byte(E::ID);
    if control == 0 || control & abi::trace::CONTROL_FILTER != 0 && !super::filters_pass() {
        return false;
    }
    let mut frames = [0u64; MAX_STACK_FRAMES];
    let frames: &[u64] = if control & abi::trace::CONTROL_STACK != 0 {
        let n = stack.collect(&mut frames);
        &frames[..n]
    } else {
        &[]
    };
    if control & abi::trace::CONTROL_FETCH != 0 {
        write_fetched(payload, extra, site, regs, frames)
    } else {
        write(payload, extra, &[], frames)
    }
}

/// [`write`] with the values of the fetches of `site` (out of line: the trailer's buffer is
/// big, and only records that asked for it pay for it).
#[inline(never)]
fn write_fetched<E: Event>(
    payload: &E,
    extra: &[u8],
    site: u64,
    regs: &[u64; 6],
    frames: &[u64],
) -> bool {
    let mut fetched = [0u8; abi::trace::fetch::MAX_TRAILER];
    let n = super::fetch::collect(site, regs, &mut fetched);
    write(payload, extra, &fetched[..n], frames)
}

/// Before the fast path's second try: when event `E` is plainly on (no filter, no stack) and
/// this CPU's ring last described another task, write the current task's [`TaskInfo`]. True
/// if it did.
#[inline(always)]
pub fn describe_current<E: Event>() -> bool {
    super::control_byte(E::ID) == abi::trace::CONTROL_ON && make_room()
}

/// Out of line, shared by every event: describe the current task if the ring last described
/// another, and put the fast path's limit back. False if the fast path is still closed.
#[inline(never)]
fn make_room() -> bool {
    let r = this_ring();
    let task = percpu::current_task_raw();
    if task != ring_task(r).load(Ordering::Relaxed) {
        if !describe_task(r, task) {
            return false;
        }
    } else {
        reopen(r);
    }
    ring_limit(r).load(Ordering::Relaxed) != 0
}

/// Write the [`TaskInfo`] record that says the following records are `task`'s (0: no task
/// yet). False if it did not fit: then neither may the record it precedes.
fn describe_task(r: *mut CpuRing, task: u64) -> bool {
    let size = record_size(core::mem::size_of::<TaskInfo>()) as u64;
    // The task first: `refill` and `reopen` look at it.
    ring_task(r).store(task, Ordering::Relaxed);
    let Some((at, end)) = reserve_fast(r, size) else {
        ring_task(r).store(TASK_UNKNOWN, Ordering::Relaxed);
        return false;
    };
    // SAFETY: a non-zero `current` is a task kept alive while it runs on this CPU (see
    // `kernel::task::try_current`).
    let current = unsafe { (task as *const Task).as_ref() };
    let before = current.map(|t| t.described_in.before_describing());
    let info = || match current {
        Some(t) => TaskInfo {
            task: Ptr(task),
            tid: t.pid,
            pid: t.tgid,
            uid: t.uid.load(Ordering::Relaxed),
            ppid: t.ppid.load(Ordering::Relaxed),
            comm: t.comm.get(),
        },
        None => TaskInfo::default(),
    };
    // SAFETY: `reserve_fast` gave `size` bytes of this CPU's data, unread by the host until
    // the head moves past them.
    unsafe { write_at(at, TaskInfo::ID, size, info, &[], &[]) };
    head(r).store(end, Ordering::Release);
    if let (Some(t), Some(before)) = (current, before) {
        // SAFETY: as in `switch_task`.
        t.described_in.add(before, unsafe { (*r).cpu_bit });
    }
    reopen(r);
    true
}

/// The record with the fetch trailer `fetched` and the stack trailer `frames` (when any),
/// whoever's task and wherever the ring stands. True if it was written.
fn write<E: Event>(payload: &E, extra: &[u8], fetched: &[u8], frames: &[u64]) -> bool {
    let r = this_ring();
    let task = percpu::current_task_raw();
    if task != ring_task(r).load(Ordering::Relaxed) && !describe_task(r, task) {
        return false;
    }
    let extra = &extra[..extra.len().min(MAX_STRING)];
    // The stack trailer: the frames, then their count (the record's last u64).
    let trailer = if frames.is_empty() {
        0
    } else {
        8 * (frames.len() + 1)
    };
    let size =
        record_size(core::mem::size_of::<E>() + extra.len() + fetched.len() + trailer) as u64;
    let Some((at, end)) = reserve_fast(r, size) else {
        return false;
    };
    let mut id = E::ID;
    if !frames.is_empty() {
        id |= EVENT_HAS_STACK;
    }
    if !fetched.is_empty() {
        id |= EVENT_HAS_FETCH;
    }
    // SAFETY: `reserve_fast` gave [at, at + size) inside this CPU's data, which only this CPU
    // writes and the host reads only below `head`, which moves after the writes; the fetch
    // trailer ends where the stack trailer starts, after the payload and `extra` (`size`
    // counts them all).
    unsafe {
        let fetch_at = at.add(size as usize - trailer - fetched.len());
        core::ptr::copy_nonoverlapping(fetched.as_ptr(), fetch_at, fetched.len());
        write_at(at, id, size, || *payload, extra, frames)
    };
    head(r).store(end, Ordering::Release);
    true
}

/// Payload (built by `make` right into place), `extra`, the stack trailer and the header at
/// `at`.
///
/// # Safety
/// `[at, at + size)` must be free ring space of this CPU, with `size` the record size of the
/// payload, `extra` and the trailer.
#[inline(always)]
unsafe fn write_at<E: Copy>(
    at: *mut u8,
    id: u16,
    size: u64,
    make: impl FnOnce() -> E,
    extra: &[u8],
    frames: &[u64],
) {
    // SAFETY: delegated to the caller.
    unsafe {
        write_with::<E>(
            at,
            id,
            size,
            |p| (p as *mut E).write_unaligned(make()),
            extra,
            frames,
        )
    }
}

/// [`write_at`] with the payload written by `payload`, given its place (`size_of::<E>()`
/// bytes).
///
/// # Safety
/// As for [`write_at`].
#[inline(always)]
unsafe fn write_with<E>(
    at: *mut u8,
    id: u16,
    size: u64,
    payload: impl FnOnce(*mut u8),
    extra: &[u8],
    frames: &[u64],
) {
    // SAFETY: delegated to the caller; the record starts 8-byte aligned (RECORD_ALIGN).
    unsafe {
        payload(at.add(RECORD_HEADER_SIZE));
        let payload_size = core::mem::size_of::<E>();
        if !extra.is_empty() {
            core::ptr::copy_nonoverlapping(
                extra.as_ptr(),
                at.add(RECORD_HEADER_SIZE + payload_size),
                extra.len(),
            );
        }
        if !frames.is_empty() {
            let end = at.add(size as usize) as *mut u64;
            end.sub(1).write_unaligned(frames.len() as u64);
            let first = end.sub(1 + frames.len());
            for (i, &f) in frames.iter().enumerate() {
                first.add(i).write_unaligned(f);
            }
        }
        // Size, id and the reserved zero in one store; the TSC last (its `rdtsc` takes two
        // registers the payload's values no longer need), as it leaves it.
        (at as *mut u64).write(size | (u64::from(id) << 16));
        let (tsc_lo, tsc_hi) = cpu::rdtsc_halves();
        (at.add(8) as *mut u32).write(tsc_lo);
        (at.add(12) as *mut u32).write(tsc_hi);
    }
}
