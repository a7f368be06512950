//! Memory management: the boot memory map, the buddy page allocator, the kernel heap, user
//! address spaces, page faults and user copies.

pub mod buddy;
#[cfg(not(test))]
pub mod fault;
pub mod memblock;
#[cfg(not(test))]
pub mod mmap;
#[cfg(not(test))]
pub mod mmap_syscalls;
#[cfg(not(test))]
pub mod page_alloc;
pub mod slab;
#[cfg(not(test))]
pub mod usercopy;

#[cfg(not(test))]
#[global_allocator]
static HEAP: slab::KernelHeap = slab::KernelHeap;

/// An address space as tasks hold it: shared by the threads of a process (CLONE_VM); the lock
/// plays the part of Linux's `mmap_lock`. Never hold it across a user copy.
#[cfg(not(test))]
pub type MmRef = alloc::sync::Arc<spin::Mutex<mmap::MmStruct>>;
