//! Memory management: the boot memory map, the buddy page allocator and `mem_map`, the kernel
//! heap, user address spaces (VMAs, page faults, copy-on-write, fork's copy), their system
//! calls and statistics, and user copies.
//!
//! Host unit tests run the address-space code for real on an emulated machine (`emu`): the
//! modules below reach the architecture through `mm::arch`, which is the kernel's `arch` layer
//! in the kernel and the emulation in tests.

pub mod buddy;
pub mod compaction;
#[cfg(test)]
pub(crate) mod emu;
pub mod fault;
pub mod filemap;
pub mod gfp;
pub mod madvise;
pub mod mem_map;
pub mod memblock;
pub mod memory;
pub mod migrate;
pub mod mmap;
#[cfg(not(test))]
pub mod mmap_syscalls;
pub mod mmzone;
pub mod mremap;
pub mod oom_kill;
pub mod page_alloc;
pub mod rmap;
pub mod shmem;
pub mod slab;
pub mod slub;
pub mod slub_alloc;
pub mod swap;
pub mod task_mmu;
#[cfg(test)]
mod tests;
pub mod tlb;
#[cfg(not(test))]
pub mod usercopy;
pub mod vma;
pub mod vmscan;
pub mod vmstat;

#[cfg(not(test))]
use crate::arch;
#[cfg(test)]
use emu as arch;

#[cfg(not(test))]
#[global_allocator]
static HEAP: slab::KernelHeap = slab::KernelHeap;

crate::kmem_cache_allocator!(
    /// The `mm_struct` cache.
    MmCachep,
    MM_CACHEP,
    "mm_struct",
    slub::SLAB_HWCACHE_ALIGN
);

/// An address space as tasks hold it: shared by the threads of a process (CLONE_VM); in the
/// `mm_struct` slab cache.
pub type MmRef = alloc::sync::Arc<Mm, MmCachep>;
pub type MmWeak = alloc::sync::Weak<Mm, MmCachep>;

/// The lock plays the part of Linux's `mmap_lock`: never hold it across a user copy. The TLB
/// bookkeeping sits beside it, for the scheduler and for remote flushes, which take no lock.
pub struct Mm {
    tlb: alloc::sync::Arc<arch::tlb::TlbState>,
    counters: alloc::sync::Arc<mmap::MmCounters>,
    inner: spin::Mutex<mmap::MmStruct>,
}

impl Mm {
    /// A shared address space, known to the reverse map.
    pub fn new(mm: mmap::MmStruct) -> MmRef {
        let mm = alloc::sync::Arc::new_in(
            Mm {
                tlb: mm.pgd.tlb().clone(),
                counters: mm.counters.clone(),
                inner: spin::Mutex::new(mm),
            },
            MmCachep,
        );
        rmap::mmlist_add(&mm);
        mm
    }

    pub fn lock(&self) -> spin::MutexGuard<'_, mmap::MmStruct> {
        self.inner.lock()
    }

    pub fn tlb(&self) -> &arch::tlb::TlbState {
        &self.tlb
    }

    /// RSS and size, without the lock.
    pub fn counters(&self) -> &mmap::MmCounters {
        &self.counters
    }

    /// The lock if it is free now (the OOM reaper and reclaim never wait for it).
    pub fn try_lock(&self) -> Option<spin::MutexGuard<'_, mmap::MmStruct>> {
        self.inner.try_lock()
    }
}

impl Drop for Mm {
    fn drop(&mut self) {
        rmap::mmlist_prune();
    }
}

/// A task lets go of its address space (`mmput`): the last user tears its mappings down at
/// once (`exit_mmap`), so that shared memory is detached and pages freed when a process
/// exits, not when the CPUs that still hold the structure lazily switch to another one.
#[cfg(not(test))]
pub fn mmput(mm: MmRef) {
    let users = alloc::sync::Arc::strong_count(&mm) - crate::sched::mm_lazy_refs(&mm);
    if users <= 1 {
        mm.lock().exit_mmap();
    }
}
