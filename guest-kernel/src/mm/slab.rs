//! kmalloc: the kernel heap behind Rust's global allocator.
//!
//! Small objects come from power-of-two size classes (`kmalloc-16` … `kmalloc-2048`), each a
//! free list of equal objects carved from whole pages; freed objects go back on their class's
//! list for reuse. Anything larger is a block straight from the buddy allocator. (The full
//! SLUB design, with per-CPU freelists and slab reclaim, belongs to the memory-management work.)
//! Every page held, carved or large, is counted in `Slab`/`SUnreclaim` of /proc/meminfo.
//!
//! The heap cannot tell where it is called from (interrupts, spinlocks held), so its pages
//! are `GFP_ATOMIC`: never reclaim, but may use part of the reserve below the min watermark,
//! which is what keeps the kernel running while user memory is exhausted.

use core::alloc::Layout;

use super::buddy::PAGE_SIZE;

const MIN_SHIFT: usize = 4;
const MAX_SHIFT: usize = 11;
const CLASSES: usize = MAX_SHIFT - MIN_SHIFT + 1;

/// The size class index for a layout, or None if it goes straight to the page allocator.
pub fn size_class(layout: Layout) -> Option<usize> {
    let size = layout.size().max(layout.align()).max(1 << MIN_SHIFT);
    let shift = size.next_power_of_two().trailing_zeros() as usize;
    (shift <= MAX_SHIFT).then_some(shift - MIN_SHIFT)
}

/// Buddy order for a large allocation.
pub fn page_order(size: usize) -> usize {
    let pages = size.div_ceil(PAGE_SIZE as usize).max(1);
    pages.next_power_of_two().trailing_zeros() as usize
}

#[cfg(not(test))]
pub use heap::KernelHeap;

#[cfg(not(test))]
mod heap {
    use core::alloc::{GlobalAlloc, Layout};
    use core::ptr::null_mut;

    use spin::Mutex;

    use super::*;
    use crate::arch::{cpu, phys_to_virt, virt_to_phys};
    use crate::mm::gfp::GFP_ATOMIC;
    use crate::mm::page_alloc::{alloc_pages, free_pages};
    use crate::mm::vmstat::{mod_node_page_state, NodeStat};

    struct Caches {
        /// Head of each class's free list (a pointer stored in each free object).
        free: [usize; CLASSES],
        /// Objects in use per class, for /proc/slabinfo.
        active: [usize; CLASSES],
    }

    static CACHES: Mutex<Caches> = Mutex::new(Caches {
        free: [0; CLASSES],
        active: [0; CLASSES],
    });

    pub struct KernelHeap;

    /// Straight from the buddy allocator, for sizes above the largest class.
    fn alloc_large(layout: Layout) -> *mut u8 {
        let order = page_order(layout.size());
        match alloc_pages(GFP_ATOMIC, order) {
            Some(phys) => {
                mod_node_page_state(NodeStat::SlabUnreclaimable, 1 << order);
                phys_to_virt(phys) as *mut u8
            }
            None => null_mut(),
        }
    }

    /// An object of size class `class` from its free list.
    fn alloc_object(class: usize) -> *mut u8 {
        cpu::without_interrupts(|| {
            let mut caches = CACHES.lock();
            if caches.free[class] == 0 && !refill(&mut caches, class) {
                return null_mut();
            }
            let obj = caches.free[class];
            // SAFETY: `obj` is a free object of this class; its first word is the next link.
            caches.free[class] = unsafe { *(obj as *const usize) };
            caches.active[class] += 1;
            obj as *mut u8
        })
    }

    // SAFETY: every object handed out is exclusively owned until `dealloc`; the lists are guarded
    // by the mutex with interrupts off, so interrupt handlers may allocate too.
    unsafe impl GlobalAlloc for KernelHeap {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let (ptr, bytes_alloc) = match size_class(layout) {
                None => (alloc_large(layout), PAGE_SIZE << page_order(layout.size())),
                Some(class) => (alloc_object(class), 1 << (class + MIN_SHIFT)),
            };
            if !ptr.is_null() {
                crate::trace::trace_kmalloc(ptr as u64, layout.size(), bytes_alloc as usize);
            }
            ptr
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            crate::trace::trace_kfree(ptr as u64);
            let Some(class) = size_class(layout) else {
                let order = page_order(layout.size());
                mod_node_page_state(NodeStat::SlabUnreclaimable, -(1 << order));
                free_pages(virt_to_phys(ptr as u64), order);
                return;
            };
            cpu::without_interrupts(|| {
                let mut caches = CACHES.lock();
                // SAFETY: the caller gives back an object of this class; we reuse its first word.
                unsafe { *(ptr as *mut usize) = caches.free[class] };
                caches.free[class] = ptr as usize;
                caches.active[class] -= 1;
            })
        }
    }

    /// Carve a fresh page into objects of `class`.
    fn refill(caches: &mut Caches, class: usize) -> bool {
        let Some(phys) = alloc_pages(GFP_ATOMIC, 0) else {
            return false;
        };
        mod_node_page_state(NodeStat::SlabUnreclaimable, 1);
        let size = 1usize << (class + MIN_SHIFT);
        let base = phys_to_virt(phys) as usize;
        let count = PAGE_SIZE as usize / size;
        for i in (0..count).rev() {
            let obj = base + i * size;
            // SAFETY: the page is ours; each object's first word becomes its free-list link.
            unsafe { *(obj as *mut usize) = caches.free[class] };
            caches.free[class] = obj;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes() {
        assert_eq!(size_class(Layout::from_size_align(1, 1).unwrap()), Some(0));
        assert_eq!(size_class(Layout::from_size_align(16, 8).unwrap()), Some(0));
        assert_eq!(size_class(Layout::from_size_align(17, 8).unwrap()), Some(1));
        assert_eq!(size_class(Layout::from_size_align(8, 64).unwrap()), Some(2));
        assert_eq!(
            size_class(Layout::from_size_align(2048, 8).unwrap()),
            Some(7)
        );
        assert_eq!(size_class(Layout::from_size_align(2049, 8).unwrap()), None);
    }

    #[test]
    fn page_orders() {
        assert_eq!(page_order(1), 0);
        assert_eq!(page_order(4096), 0);
        assert_eq!(page_order(4097), 1);
        assert_eq!(page_order(5 * 4096), 3);
    }
}
