//! Dedicated caches as allocators: `Arc::new_in(mm, MmCachep)` puts an object in its own
//! slab cache (`mm_struct` in /proc/slabinfo), as Linux allocates its hot objects with
//! `kmem_cache_alloc`, without changing who owns it or how it is shared.
//!
//! [`kmem_cache_allocator!`] declares a zero-sized allocator type per cache. The cache is
//! created from the first layout it sees (that of the `Arc`'s inner block); a request that
//! does not fit it goes to kmalloc instead, decided by the layout alone, so that the free
//! goes the same way.

use core::alloc::{AllocError, Layout};
use core::ptr::NonNull;

use spin::Once;

use super::slub::{kmem_cache_create, KmemCache};

pub struct TypedCache {
    name: &'static str,
    flags: u32,
    cache: Once<&'static KmemCache>,
}

impl TypedCache {
    pub const fn new(name: &'static str, flags: u32) -> Self {
        TypedCache {
            name,
            flags,
            cache: Once::new(),
        }
    }

    /// The cache for `layout`, or None if it belongs to kmalloc.
    fn cache_for(&self, layout: Layout) -> Option<&'static KmemCache> {
        let cache = *self
            .cache
            .call_once(|| kmem_cache_create(self.name, layout.size(), layout.align(), self.flags));
        let fits = layout.size() <= cache.size && cache.size.is_multiple_of(layout.align());
        fits.then_some(cache)
    }

    pub fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let ptr = match self.cache_for(layout) {
            Some(cache) => cache.alloc(),
            // SAFETY: the layout is non-zero-sized (an `Arc`'s block has its counts).
            None => unsafe { alloc::alloc::alloc(layout) },
        };
        NonNull::new(ptr)
            .map(|p| NonNull::slice_from_raw_parts(p, layout.size()))
            .ok_or(AllocError)
    }

    /// # Safety
    /// `ptr` came from [`Self::allocate`] with this `layout`.
    pub unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        match self.cache_for(layout) {
            // SAFETY: allocated from this cache, as the same layout decided.
            Some(cache) => unsafe { cache.free(ptr.as_ptr()) },
            // SAFETY: allocated by kmalloc with this layout.
            None => unsafe { alloc::alloc::dealloc(ptr.as_ptr(), layout) },
        }
    }
}

/// `kmem_cache_allocator!(MmCachep, MM_CACHEP, "mm_struct", flags)`: a zero-sized allocator
/// type `MmCachep` over the dedicated cache `mm_struct`, kept in the static `MM_CACHEP`.
#[macro_export]
macro_rules! kmem_cache_allocator {
    ($(#[$m:meta])* $ty:ident, $cache:ident, $name:literal, $flags:expr) => {
        static $cache: $crate::mm::slub_alloc::TypedCache =
            $crate::mm::slub_alloc::TypedCache::new($name, $flags);

        $(#[$m])*
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $ty;

        // SAFETY: the cache hands out each block once, sized and aligned for the layout (or
        // kmalloc does), until the matching `deallocate`.
        unsafe impl core::alloc::Allocator for $ty {
            fn allocate(
                &self,
                layout: core::alloc::Layout,
            ) -> Result<core::ptr::NonNull<[u8]>, core::alloc::AllocError> {
                $cache.allocate(layout)
            }

            unsafe fn deallocate(&self, ptr: core::ptr::NonNull<u8>, layout: core::alloc::Layout) {
                // SAFETY: the caller passes a block from `allocate` with its layout.
                unsafe { $cache.deallocate(ptr, layout) }
            }
        }
    };
}
