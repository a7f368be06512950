//! Tracing, guest side (Linux's kernel/trace): static tracepoints that write records into per-CPU
//! rings the host reads directly, with no VM exit per event.
//!
//! - The **control page** ([`Control`]) is a kernel static whose physical address the host
//!   learns from the trace device; the host writes which events are on. A tracepoint site is
//!   `trace_sched_switch(..)`, an inline test of one byte of that page (`cmpb $0, CONTROL+id;
//!   jne`) around an out-of-line call that builds the record. A byte of exactly
//!   `CONTROL_ON` takes the record's fast path; the host sets other bits for stacks and
//!   filters.
//! - The **rings** ([`ring`]) are allocated when the trace device is found
//!   (`drivers/virtio/trace.rs`); until then every tracepoint is off, because only the host
//!   turns them on and it can't before it knows where the page is.
//! - The **tracepoints** ([`events`]) are named and shaped like Linux's; their payloads and
//!   field tables live in `abi::trace`, shared with the host.

mod described;
pub mod events;
mod fetch;
pub mod ftrace;
pub mod ring;

use core::cell::UnsafeCell;
use core::sync::atomic::Ordering;

use abi::trace::{AreaHeader, Control};

pub use described::DescribedIn;
pub use events::*;
pub use ring::forget_task;

/// A page the host writes while we run, or reads while we write it: accessed through raw
/// pointers only, volatile where it matters.
#[repr(transparent)]
pub struct SharedWithHost<T>(UnsafeCell<T>);

// SAFETY: every access goes through raw pointers with volatile or atomic operations, and the
// writers (the host for the control page, the owning CPU for a ring) are single.
unsafe impl<T> Sync for SharedWithHost<T> {}

impl<T> SharedWithHost<T> {
    pub const fn new(value: T) -> Self {
        SharedWithHost(UnsafeCell::new(value))
    }

    pub fn get(&self) -> *mut T {
        self.0.get()
    }
}

/// Which events are on, and the host's filters.
static CONTROL: SharedWithHost<Control> = SharedWithHost::new(Control::new());

/// What the host reads to find the rings (written once by [`ring::init`]).
static AREA: SharedWithHost<AreaHeader> = SharedWithHost::new(AreaHeader {
    magic: 0,
    version: 0,
    nr_cpus: 0,
    ring_size: 0,
    nr_events: 0,
    tsc_khz: 0,
    boot_tsc: 0,
    control_gpa: 0,
    ring_gpa: [0; abi::trace::MAX_CPUS],
    data_gpa: [0; abi::trace::MAX_CPUS],
});

/// Whether the host enabled event `id`: the only cost of a disabled tracepoint.
#[inline(always)]
pub fn enabled(id: u16) -> bool {
    let byte = CONTROL.get() as *const u8;
    // SAFETY: `id` is a compile-time event id below MAX_EVENTS (checked by the abi tests), so
    // the byte lies inside the static control page; the host may write it at any time, hence
    // the volatile read.
    unsafe { core::ptr::read_volatile(byte.add(id as usize)) != 0 }
}

/// Event `id`'s control byte (`abi::trace::CONTROL_*`), read again by the record path.
#[inline(always)]
fn control_byte(id: u16) -> u8 {
    let byte = CONTROL.get() as *mut u8;
    // SAFETY: as in `enabled`; an atomic (relaxed) load, which the compiler may fold into a
    // compare where a volatile one it may not.
    unsafe { core::sync::atomic::AtomicU8::from_ptr(byte.add(id as usize)).load(Ordering::Relaxed) }
}

/// Whether the host asks for more than plain records ([`Control::slow`]).
fn slow() -> bool {
    let c = CONTROL.get();
    // SAFETY: a field of the static control page, written by the host at any time.
    unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*c).slow)) != 0 }
}

/// The host's tracing session ([`Control::session`]).
fn session() -> u32 {
    let c = CONTROL.get();
    // SAFETY: a field of the static control page, written by the host at any time.
    unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*c).session)) }
}

/// Slot `i` (below `MAX_FETCHES`) of the host's fetch table.
fn fetch_slot(i: usize) -> abi::trace::fetch::Fetch {
    let c = CONTROL.get();
    // SAFETY: a slot of the static control page's table (the caller's `i` is in range; the
    // index panics otherwise), written by the host at any time: a torn slot is checked by
    // `Fetch::is_valid` and every read it makes is bounds-checked.
    unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*c).fetches[i])) }
}

/// Whether the current task and CPU pass the host's filters: thread-group id (0 = any) and
/// CPU plus one (0 = any).
fn filters_pass() -> bool {
    let c = CONTROL.get();
    // SAFETY: fields of the static control page, written by the host at any time.
    let (pid, cpu) = unsafe {
        (
            core::ptr::read_volatile(core::ptr::addr_of!((*c).filter_pid)),
            core::ptr::read_volatile(core::ptr::addr_of!((*c).filter_cpu)),
        )
    };
    let tgid = crate::kernel::task::try_current().map_or(0, |t| t.tgid as u32);
    (pid == 0 || pid == tgid) && (cpu == 0 || cpu as usize == crate::arch::percpu::cpu_id() + 1)
}

/// `trace_event=LIST` at boot: switch on each `system:event` (or every event of `system`) in
/// the comma-separated list, as Linux's parameter does, and make sure the rings exist (the
/// trace device may be absent, as under QEMU). Returns how many events were switched on.
pub fn enable_boot_events(list: &str) -> usize {
    if ring::init() == 0 {
        crate::pr_warn!("trace_event: no memory for the trace rings");
        return 0;
    }
    let mut on = 0;
    for name in list.split(',').filter(|n| !n.is_empty()) {
        let (system, event) = name.split_once(':').unwrap_or((name, "*"));
        let mut found = false;
        // The function tracer's events (`ftrace`) only record at sites someone patched: the
        // host, or `cargo xtask bench` in a copy of the kernel.
        for e in abi::trace::EVENTS.iter() {
            if e.system == system && (event == "*" || e.name == event) {
                let byte = CONTROL.get() as *mut u8;
                // SAFETY: event ids are below MAX_EVENTS (the abi tests check it), so the byte
                // is inside the static control page; volatile as the host may write it too.
                unsafe { core::ptr::write_volatile(byte.add(e.id as usize), 1) };
                found = true;
                on += 1;
            }
        }
        if !found {
            crate::pr_warn!("Failed to enable trace event: {name}");
        }
    }
    on
}

/// Guest-physical address of the area header, for the trace device.
pub fn area_phys() -> u64 {
    crate::arch::virt_to_phys(AREA.get() as u64)
}

fn control_phys() -> u64 {
    crate::arch::virt_to_phys(CONTROL.get() as u64)
}
