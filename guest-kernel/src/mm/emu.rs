//! An emulated machine for host unit tests of the memory manager (the way Redox's `rmm` tests
//! page tables): "physical memory" is one host allocation, the direct map is an offset into
//! it, and the kernel's real x86_64 page-table code (`arch/x86_64/paging.rs`, included as is)
//! runs on it. CR3 and TLB operations do nothing: no address space is ever loaded.
//!
//! Tests call [`machine`] first: it boots the emulated RAM into the page allocator once and
//! returns a guard that serializes the tests that count pages globally.

use std::sync::{Mutex, MutexGuard, Once};

use super::memblock::RegionSet;

/// Emulated RAM. Page 0 stays unused (no frame is at physical 0) and page 1 is the kernel's
/// master PML4, whose kernel half every new address space copies (all empty here).
pub const RAM_SIZE: u64 = 64 << 20;
const KERNEL_PML4: u64 = 0x1000;

static BASE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub fn phys_to_virt(phys: u64) -> u64 {
    BASE.load(std::sync::atomic::Ordering::Relaxed) + phys
}

pub fn virt_to_phys(virt: u64) -> u64 {
    virt - BASE.load(std::sync::atomic::Ordering::Relaxed)
}

pub mod cpu {
    pub fn without_interrupts<R>(f: impl FnOnce() -> R) -> R {
        f()
    }

    pub fn invlpg(_addr: u64) {}

    /// Nothing is loaded: no address space is ever the current one.
    pub fn read_cr3() -> u64 {
        0
    }

    /// # Safety
    /// Nothing to uphold: the emulated machine has no MMU.
    pub unsafe fn write_cr3(_pml4: u64) {}
}

pub mod percpu {
    pub const MAX_CPUS: usize = 1;

    pub fn cpu_id() -> usize {
        0
    }

    pub fn nr_cpu_ids() -> usize {
        1
    }
}

pub mod boot {
    pub fn init_pml4_phys() -> u64 {
        super::KERNEL_PML4
    }
}

#[path = "../arch/x86_64/paging.rs"]
pub mod paging;

#[path = "../arch/x86_64/tlb.rs"]
mod tlb_state;

/// The TLB bookkeeping as it is; shootdowns never happen, as there is one CPU.
pub mod tlb {
    pub use super::tlb_state::*;

    pub fn native_flush_tlb_multi(_: u64, _: &TlbState, _: u64, _: Option<(u64, u64)>) {
        unreachable!("the emulated machine has one CPU");
    }
}

/// Boot the emulated machine (once) and hold the test lock.
pub fn machine() -> MutexGuard<'static, ()> {
    static BOOT: Once = Once::new();
    static LOCK: Mutex<()> = Mutex::new(());
    BOOT.call_once(|| {
        let layout = std::alloc::Layout::from_size_align(RAM_SIZE as usize, 4096).unwrap();
        // SAFETY: a non-zero-sized layout; the memory is leaked on purpose (it is the RAM).
        let ram = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!ram.is_null());
        BASE.store(ram as u64, std::sync::atomic::Ordering::Relaxed);
        let mut usable = RegionSet::new();
        usable.add(KERNEL_PML4 + 0x1000, RAM_SIZE);
        super::page_alloc::init(&usable);
    });
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
