//! watchvm guest kernel: boots through PVH, runs Linux x86_64 static binaries.
//!
//! Each subsystem lives in the folder Linux keeps it in (arch/, mm/, kernel/, fs/, drivers/);
//! `init::start_kernel` reads like a table of contents of the boot.
#![cfg_attr(not(test), no_std)]
#![cfg_attr(not(test), no_main)]
// The host test build compiles only the pure modules, so much of the kernel looks unused.
#![cfg_attr(test, allow(dead_code, unused_imports))]
// The function tracer's handlers must have no entry NOP of their own (trace/ftrace.rs).
#![cfg_attr(not(test), feature(patchable_function_entry))]
// Dedicated slab caches allocate `Arc`s of the kernel's hot objects (`mm/slub_alloc.rs`).
#![feature(allocator_api)]
// ...and methods of such objects take `self: &Arc<Self, Cache>` (`fs/dcache.rs`).
#![feature(arbitrary_self_types)]
// The VMA tree finds a VMA in one descent (`mm/vma.rs`).
#![feature(btree_cursors)]

extern crate alloc;

mod arch;
#[cfg(not(test))]
mod block;
#[cfg(not(test))]
mod drivers;
mod fs;
#[cfg(not(test))]
mod init;
mod ipc;
mod kernel;
mod mm;
mod net;
mod sched;
#[cfg(not(test))]
mod trace;
// The pure parts of drivers/, host-tested on their own: the ACPI table parsers, the RTC's
// time decoding, the virtio ring bookkeeping and the line discipline.
#[cfg(test)]
#[path = "drivers/acpi/mod.rs"]
mod acpi;
#[cfg(test)]
#[path = "drivers/rtc.rs"]
mod rtc;
#[cfg(test)]
#[path = "drivers/virtio/ring.rs"]
mod virtio_ring;
// The line discipline's editing logic.
#[cfg(test)]
#[path = "drivers/tty"]
mod tty {
    pub mod n_tty;
    mod n_tty_tests;
}
