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
