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

crate::kmem_cache_allocator!(
    /// The `vm_area_struct` cache (Linux's `vm_area_cachep`): every VMA of every address
    /// space is one object in it.
    VmAreaCachep,
    VM_AREA_CACHEP,
    "vm_area_struct",
    0
);

/// An address space as tasks hold it: shared by the threads of a process (CLONE_VM); in the
/// `mm_struct` slab cache.
pub type MmRef = alloc::sync::Arc<Mm, MmCachep>;
pub type MmWeak = alloc::sync::Weak<Mm, MmCachep>;

/// The lock plays the part of Linux's `mmap_lock`: never hold it across a user copy. The TLB
/// bookkeeping sits beside it, for the scheduler and for remote flushes, which take no lock.
///
/// Two counts, as Linux keeps them: `users` (`mm_users`) counts the tasks using the address
/// space (each task's `mm` holds one, taken by [`mmget`], given back by [`mmput`]); the last
/// user's `mmput` tears the mappings down. The `Arc`'s own count is `mm_count`: it keeps the
/// structure alive for whoever merely looks at it or has it loaded (the run queues' lazy
/// TLB, /proc readers, reclaim, the OOM reaper); cloning an [`MmRef`] is `mmgrab`, dropping
/// it `mmdrop`.
pub struct Mm {
    users: core::sync::atomic::AtomicUsize,
    tlb: alloc::sync::Arc<arch::tlb::TlbState>,
    counters: alloc::sync::Arc<mmap::MmCounters>,
    inner: spin::Mutex<mmap::MmStruct>,
}

impl Mm {
    /// A shared address space with one user (its task), known to the reverse map.
    pub fn new(mm: mmap::MmStruct) -> MmRef {
        let mm = alloc::sync::Arc::new_in(
            Mm {
                users: core::sync::atomic::AtomicUsize::new(1),
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

/// One more user of an address space someone already uses (`mmget`): a CLONE_VM child, or
/// a reader of another task's memory (`get_task_mm`).
pub fn mmget(mm: &Mm) {
    let old = mm.users.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    debug_assert!(old > 0, "mmget on an address space that was torn down");
}

/// A user lets go of its address space (`mmput`): the last one tears its mappings down at
/// once (`exit_mmap`), so that shared memory is detached and pages freed when a process
/// exits or execs, not when the CPUs that still have the structure loaded lazily switch to
/// another one. The reference itself is dropped (`mmdrop`).
pub fn mmput(mm: MmRef) {
    put_user(&mm);
}

fn put_user(mm: &Mm) {
    if mm.users.fetch_sub(1, core::sync::atomic::Ordering::AcqRel) == 1 {
        mm.lock().exit_mmap();
    }
}

/// A user reference held for a while by someone other than the tasks of the address space
/// (what `get_task_mm` returns): the mappings stay while it is held, and dropping it is the
/// `mmput`, so that no path can forget it.
pub struct MmUser(MmRef);

impl MmUser {
    /// Become a user of `mm`, which has users (the caller holds the lock of a task's `mm`).
    pub fn get(mm: MmRef) -> MmUser {
        mmget(&mm);
        MmUser(mm)
    }
}

impl core::ops::Deref for MmUser {
    type Target = Mm;

    fn deref(&self) -> &Mm {
        &self.0
    }
}

impl Drop for MmUser {
    fn drop(&mut self) {
        put_user(&self.0);
    }
}
