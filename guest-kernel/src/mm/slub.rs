//! SLUB: caches of equal objects carved from buddy pages (Linux's mm/slub.c).
//!
//! A cache (`KmemCache`) hands out objects of one size. Its memory is *slabs*: blocks of
//! 2^order pages from the page allocator, the order chosen as Linux's `calculate_order` does
//! (few objects wasted, at least a dozen objects per slab where order 3 allows). A slab's
//! metadata lives in the `Page` of its first frame, as Linux's `struct slab` overlays
//! `struct page`: `index` is the slab freelist's first free object (an offset), `mapcount`
//! the objects in use plus the *frozen* bit, `lru_next`/`lru_prev` link the partial list.
//! Free objects form a chain through their first word.
//!
//! Each CPU owns one slab of each cache (the *CPU slab*, frozen) and takes that slab's whole
//! freelist for itself: allocation pops from it and a free of an object of that slab pushes
//! onto it, with interrupts off and no lock (the fast paths; LIFO, so the object just freed
//! is the next handed out, still in the cache). Everything else goes through the cache's
//! node lock (`kmem_cache_node`): frees to other slabs (onto the slab's own freelist; a slab
//! that was full becomes partial), refilling the CPU slab from remote frees, from the partial
//! list or from a new slab, and returning empty slabs to the page allocator once the cache
//! keeps `min_partial` partial slabs. `kmem_cache_shrink` (also run by reclaim) frees every
//! empty slab.

use core::cell::UnsafeCell;
use core::fmt::Write;
use core::sync::atomic::{AtomicI64, AtomicU32, AtomicUsize, Ordering::Relaxed};

use spin::{Mutex, Once};

use super::arch::percpu::{cpu_id, nr_cpu_ids, MAX_CPUS};
use super::arch::{cpu, phys_to_virt, virt_to_phys};
use super::buddy::PAGE_SIZE;
use super::gfp::GFP_ATOMIC;
use super::mem_map::{Page, NO_PFN, PG_SLAB};
use super::page_alloc::{alloc_pages, free_pages, pfn_to_page};
use super::vmstat::{mod_node_page_state, NodeStat};

/// Align objects to cache lines (unless they are much smaller).
pub const SLAB_HWCACHE_ALIGN: u32 = 0x0000_2000;
/// Objects reclaim can free (dentries, inodes): counted in SReclaimable.
pub const SLAB_RECLAIM_ACCOUNT: u32 = 0x0002_0000;

/// Linux's `slub_max_order` (PAGE_ALLOC_COSTLY_ORDER).
const SLUB_MAX_ORDER: usize = 3;
const MIN_PARTIAL: usize = 5;
const MAX_PARTIAL: usize = 10;
const CACHE_LINE_SIZE: usize = 64;
/// `ARCH_SLAB_MINALIGN`: room for the free pointer, aligned.
const MIN_ALIGN: usize = 8;
/// The end of a slab freelist (its `index`).
const NO_FREE: u32 = u32::MAX;
const FROZEN: u32 = 1 << 31;
const NO_SLAB: u64 = u64::MAX;

/// Objects of `size` bytes in a slab of `order` (`order_objects`).
const fn order_objects(order: usize, size: usize) -> usize {
    ((PAGE_SIZE as usize) << order) / size
}

/// The smallest order whose block holds `bytes` (`get_order`).
const fn get_order(bytes: usize) -> usize {
    let pages = bytes.div_ceil(PAGE_SIZE as usize);
    if pages <= 1 {
        0
    } else {
        (usize::BITS - (pages - 1).leading_zeros()) as usize
    }
}

/// The lowest order up to `max_order` holding `min_objects` that wastes at most
/// 1/`fract_leftover` of the slab (`calc_slab_order`); `max_order + 1` if none does.
fn calc_slab_order(size: usize, min_objects: usize, max_order: usize, fract: usize) -> usize {
    let mut order = get_order(min_objects * size);
    while order <= max_order {
        let slab_size = (PAGE_SIZE as usize) << order;
        if slab_size % size <= slab_size / fract {
            break;
        }
        order += 1;
    }
    order
}

/// The slab order for objects of `size` on `nr_cpus` CPUs (Linux's `calculate_order`): aim
/// for 4 * (fls(cpus) + 1) objects per slab with at most 1/16 waste, relaxing the waste to
/// 1/4 and then the object count until an order up to `slub_max_order` fits.
pub fn calculate_order(size: usize, nr_cpus: usize) -> usize {
    let fls = (usize::BITS - nr_cpus.max(1).leading_zeros()) as usize;
    let mut min_objects = (4 * (fls + 1)).min(order_objects(SLUB_MAX_ORDER, size));
    while min_objects > 1 {
        let mut fraction = 16;
        while fraction >= 4 {
            let order = calc_slab_order(size, min_objects, SLUB_MAX_ORDER, fraction);
            if order <= SLUB_MAX_ORDER {
                return order;
            }
            fraction /= 2;
        }
        min_objects -= 1;
    }
    calc_slab_order(size, 1, super::buddy::MAX_ORDER, 1).min(super::buddy::MAX_ORDER)
}

/// Object stride and alignment for a cache (`calculate_alignment`, `calculate_sizes`).
pub const fn object_stride(size: usize, align: usize, flags: u32) -> usize {
    let mut align = if align > MIN_ALIGN { align } else { MIN_ALIGN };
    if flags & SLAB_HWCACHE_ALIGN != 0 {
        let mut ralign = CACHE_LINE_SIZE;
        while size <= ralign / 2 {
            ralign /= 2;
        }
        if ralign > align {
            align = ralign;
        }
    }
    let size = if size > MIN_ALIGN { size } else { MIN_ALIGN };
    size.next_multiple_of(align)
}

/// Fixed once the cache makes its first slab (the CPU count is known by then).
struct Geometry {
    order: usize,
    objects: usize,
    min_partial: usize,
}

/// Linux's `kmem_cache_cpu`: this CPU's slab and the free objects it took from it.
struct CpuSlab {
    /// First free object (its address), 0 when empty.
    freelist: usize,
    /// Frame number of the CPU slab's first page, NO_SLAB for none.
    slab: u64,
}

struct CpuSlabs([UnsafeCell<CpuSlab>; MAX_CPUS]);

// SAFETY: each CPU uses only its own slot, and only with interrupts off, so accesses to a
// slot never overlap.
unsafe impl Sync for CpuSlabs {}

/// Linux's `kmem_cache_node`: the partial slabs (doubly linked through their first pages).
struct Node {
    partial: u32,
    nr_partial: usize,
}

pub struct KmemCache {
    pub name: &'static str,
    /// The stride of objects in a slab: the size asked for, rounded up to the alignment.
    pub size: usize,
    pub flags: u32,
    geometry: Once<Geometry>,
    cpu_slab: CpuSlabs,
    node: Mutex<Node>,
    nr_slabs: AtomicUsize,
    /// Objects allocated minus freed, per CPU: only that CPU writes its slot.
    active: [AtomicI64; MAX_CPUS],
    /// The next cache made by `kmem_cache_create` (the `slab_caches` list).
    next: Once<&'static KmemCache>,
}

/// The first page of slab `pfn`.
fn slab_page(pfn: u64) -> &'static Page {
    pfn_to_page(pfn).expect("slab frame outside mem_map")
}

impl KmemCache {
    /// A cache of objects of `size` bytes aligned to `align` (a power of two); its slabs
    /// are sized on first use.
    pub const fn new(name: &'static str, size: usize, align: usize, flags: u32) -> Self {
        KmemCache {
            name,
            size: object_stride(size, align, flags),
            flags,
            geometry: Once::new(),
            cpu_slab: CpuSlabs(
                [const {
                    UnsafeCell::new(CpuSlab {
                        freelist: 0,
                        slab: NO_SLAB,
                    })
                }; MAX_CPUS],
            ),
            node: Mutex::new(Node {
                partial: NO_PFN,
                nr_partial: 0,
            }),
            nr_slabs: AtomicUsize::new(0),
            active: [const { AtomicI64::new(0) }; MAX_CPUS],
            next: Once::new(),
        }
    }

    fn geometry(&self) -> &Geometry {
        self.geometry.call_once(|| {
            let order = calculate_order(self.size, nr_cpu_ids());
            let ilog2 = (usize::BITS - 1 - self.size.leading_zeros()) as usize;
            Geometry {
                order,
                objects: order_objects(order, self.size),
                min_partial: (ilog2 / 2).clamp(MIN_PARTIAL, MAX_PARTIAL),
            }
        })
    }

    /// Slab order and objects per slab.
    #[cfg_attr(not(test), allow(dead_code))] // the tests' view
    pub fn order_objects(&self) -> (usize, usize) {
        let g = self.geometry();
        (g.order, g.objects)
    }

    /// Run `f` on this CPU's slot with interrupts off.
    #[inline(always)]
    fn with_cpu_slab<R>(&self, f: impl FnOnce(&mut CpuSlab, usize) -> R) -> R {
        cpu::without_interrupts(|| {
            let cpu = cpu_id();
            // SAFETY: interrupts are off, so nothing else on this CPU runs until we return,
            // and no other CPU touches this slot (see `CpuSlabs`).
            f(unsafe { &mut *self.cpu_slab.0[cpu].get() }, cpu)
        })
    }

    fn count_active(&self, cpu: usize, delta: i64) {
        let a = &self.active[cpu];
        a.store(a.load(Relaxed) + delta, Relaxed);
    }

    /// One object (`kmem_cache_alloc`), or null when no page is left for a new slab.
    pub fn alloc(&self) -> *mut u8 {
        self.with_cpu_slab(|c, cpu| {
            if c.freelist == 0 && !self.refill(c) {
                return core::ptr::null_mut();
            }
            let obj = c.freelist;
            // SAFETY: `obj` is a free object of this CPU's slab; its first word links the next.
            c.freelist = unsafe { *(obj as *const usize) };
            self.count_active(cpu, 1);
            obj as *mut u8
        })
    }

    /// Give back an object from [`Self::alloc`] (`kmem_cache_free`).
    ///
    /// # Safety
    /// `obj` came from this cache and is not used after this.
    pub unsafe fn free(&self, obj: *mut u8) {
        let order = self.geometry().order;
        let pfn = (virt_to_phys(obj as u64) / PAGE_SIZE) & !((1u64 << order) - 1);
        self.with_cpu_slab(|c, cpu| {
            self.count_active(cpu, -1);
            if pfn == c.slab {
                // SAFETY: the object is ours again; its first word becomes the link.
                unsafe { *(obj as *mut usize) = c.freelist };
                c.freelist = obj as usize;
            } else {
                self.free_to_slab(pfn, obj as usize);
            }
        })
    }

    /// Refill the empty CPU freelist (`___slab_alloc`): remote frees to the CPU slab, else a
    /// partial slab, else a new one. False if no page was to be had.
    fn refill(&self, c: &mut CpuSlab) -> bool {
        let mut node = self.node.lock();
        if c.slab != NO_SLAB {
            let page = slab_page(c.slab);
            if page.index.load(Relaxed) != NO_FREE {
                c.freelist = self.take_freelist(c.slab, page);
                return true;
            }
            // Full: it leaves the CPU and lives on no list until an object comes back.
            page.mapcount.fetch_and(!FROZEN, Relaxed);
            c.slab = NO_SLAB;
        }
        if node.partial != NO_PFN {
            let pfn = node.partial as u64;
            node.remove_partial(pfn);
            c.freelist = self.take_freelist(pfn, slab_page(pfn));
            c.slab = pfn;
            return true;
        }
        drop(node);
        let Some((pfn, first)) = self.new_slab() else {
            return false;
        };
        c.slab = pfn;
        c.freelist = first;
        true
    }

    /// Freeze slab `pfn` for this CPU: all its free objects become the CPU's.
    fn take_freelist(&self, pfn: u64, page: &Page) -> usize {
        let off = page.index.swap(NO_FREE, Relaxed);
        page.mapcount
            .store(self.geometry().objects as u32 | FROZEN, Relaxed);
        slab_base(pfn) + off as usize
    }

    /// A fresh slab, frozen for this CPU (`allocate_slab`): its frame number and first object.
    fn new_slab(&self) -> Option<(u64, usize)> {
        let g = self.geometry();
        let phys = alloc_pages(GFP_ATOMIC, g.order)?;
        let pfn = phys / PAGE_SIZE;
        let page = slab_page(pfn);
        page.set_flags(PG_SLAB);
        page.index.store(NO_FREE, Relaxed);
        page.mapcount.store(g.objects as u32 | FROZEN, Relaxed);
        let base = phys_to_virt(phys) as usize;
        for i in 0..g.objects {
            let next = if i + 1 < g.objects {
                base + (i + 1) * self.size
            } else {
                0
            };
            // SAFETY: the slab is ours alone; each object's first word links the next.
            unsafe { *((base + i * self.size) as *mut usize) = next };
        }
        self.nr_slabs.fetch_add(1, Relaxed);
        mod_node_page_state(self.slab_stat(), 1 << g.order);
        Some((pfn, base))
    }

    fn slab_stat(&self) -> NodeStat {
        if self.flags & SLAB_RECLAIM_ACCOUNT != 0 {
            NodeStat::SlabReclaimable
        } else {
            NodeStat::SlabUnreclaimable
        }
    }

    /// Back to the page allocator (`discard_slab`).
    fn discard_slab(&self, pfn: u64) {
        let order = self.geometry().order;
        slab_page(pfn).clear_flags(PG_SLAB);
        self.nr_slabs.fetch_sub(1, Relaxed);
        mod_node_page_state(self.slab_stat(), -(1 << order));
        free_pages(pfn * PAGE_SIZE, order);
    }

    /// A free to a slab that is not this CPU's (`__slab_free`).
    fn free_to_slab(&self, pfn: u64, obj: usize) {
        let page = slab_page(pfn);
        let mut node = self.node.lock();
        let head = page.index.load(Relaxed);
        let was_full = head == NO_FREE;
        let next = if was_full {
            0
        } else {
            slab_base(pfn) + head as usize
        };
        // SAFETY: the caller gives the object back; its first word becomes the link.
        unsafe { *(obj as *mut usize) = next };
        page.index.store((obj - slab_base(pfn)) as u32, Relaxed);
        let state = page.mapcount.load(Relaxed) - 1;
        page.mapcount.store(state, Relaxed);
        if state & FROZEN != 0 {
            return; // another CPU's slab: it finds the object when its own list runs dry
        }
        if state == 0 && node.nr_partial >= self.geometry().min_partial {
            if !was_full {
                node.remove_partial(pfn);
            }
            drop(node);
            self.discard_slab(pfn);
        } else if was_full {
            node.add_partial(pfn);
        }
    }

    /// Give this CPU's slab back to the node (`deactivate_slab` via `flush_slab`): its
    /// unused objects return to the slab's freelist.
    pub fn flush_cpu_slab(&self) {
        let discard = self.with_cpu_slab(|c, _| {
            if c.slab == NO_SLAB {
                return None;
            }
            let pfn = core::mem::replace(&mut c.slab, NO_SLAB);
            let mut chain = core::mem::replace(&mut c.freelist, 0);
            let page = slab_page(pfn);
            let mut node = self.node.lock();
            let mut state = page.mapcount.load(Relaxed) & !FROZEN;
            while chain != 0 {
                // SAFETY: a free object of this slab: its first word is the link.
                let next = unsafe { *(chain as *const usize) };
                let head = page.index.load(Relaxed);
                let link = if head == NO_FREE {
                    0
                } else {
                    slab_base(pfn) + head as usize
                };
                // SAFETY: as above; relinked onto the slab's own freelist.
                unsafe { *(chain as *mut usize) = link };
                page.index.store((chain - slab_base(pfn)) as u32, Relaxed);
                state -= 1;
                chain = next;
            }
            page.mapcount.store(state, Relaxed);
            if state == 0 && node.nr_partial >= self.geometry().min_partial {
                Some(pfn)
            } else {
                if page.index.load(Relaxed) != NO_FREE {
                    node.add_partial(pfn);
                }
                None
            }
        });
        if let Some(pfn) = discard {
            self.discard_slab(pfn);
        }
    }

    /// Free every empty slab on the partial list (`kmem_cache_shrink`, after flushing this
    /// CPU's slab); returns the pages freed.
    pub fn shrink(&self) -> u64 {
        self.flush_cpu_slab();
        let mut empty = [0u64; 16];
        let mut freed = 0;
        loop {
            let mut n = 0;
            cpu::without_interrupts(|| {
                let mut node = self.node.lock();
                let mut pfn = node.partial;
                while pfn != NO_PFN && n < empty.len() {
                    let page = slab_page(pfn as u64);
                    let next = page.lru_next.load(Relaxed);
                    if page.mapcount.load(Relaxed) == 0 {
                        node.remove_partial(pfn as u64);
                        empty[n] = pfn as u64;
                        n += 1;
                    }
                    pfn = next;
                }
            });
            for &pfn in &empty[..n] {
                self.discard_slab(pfn);
                freed += 1 << self.geometry().order;
            }
            if n < empty.len() {
                return freed;
            }
        }
    }

    /// Objects in use, slabs, and partial slabs now.
    pub fn counts(&self) -> (usize, usize, usize) {
        let active: i64 = self.active.iter().map(|a| a.load(Relaxed)).sum();
        let partial = cpu::without_interrupts(|| self.node.lock().nr_partial);
        (active.max(0) as usize, self.nr_slabs.load(Relaxed), partial)
    }

    /// This cache's `/proc/slabinfo` line (SLUB has no tunables; every slab is active).
    pub fn slabinfo_line(&self, out: &mut alloc::string::String) {
        let (active, slabs, _) = self.counts();
        let (order, objects) = match self.geometry.get() {
            Some(g) => (g.order, g.objects),
            None => (
                calculate_order(self.size, nr_cpu_ids()),
                order_objects(calculate_order(self.size, nr_cpu_ids()), self.size),
            ),
        };
        let _ = writeln!(
            out,
            "{:<17} {:>6} {:>6} {:>6} {:>4} {:>4} : tunables {:>4} {:>4} {:>4} : slabdata {:>6} {:>6} {:>6}",
            self.name,
            active,
            slabs * objects,
            self.size,
            objects,
            1 << order,
            0,
            0,
            0,
            slabs,
            slabs,
            0
        );
    }
}

/// The address of slab `pfn`'s first object.
fn slab_base(pfn: u64) -> usize {
    phys_to_virt(pfn * PAGE_SIZE) as usize
}

impl Node {
    fn add_partial(&mut self, pfn: u64) {
        let page = slab_page(pfn);
        page.lru_prev.store(NO_PFN, Relaxed);
        page.lru_next.store(self.partial, Relaxed);
        if self.partial != NO_PFN {
            slab_page(self.partial as u64)
                .lru_prev
                .store(pfn as u32, Relaxed);
        }
        self.partial = pfn as u32;
        self.nr_partial += 1;
    }

    fn remove_partial(&mut self, pfn: u64) {
        let page = slab_page(pfn);
        let (prev, next) = (page.lru_prev.load(Relaxed), page.lru_next.load(Relaxed));
        let link = |pfn: u32| -> Option<&'static AtomicU32> {
            (pfn != NO_PFN).then(|| &slab_page(pfn as u64).lru_next)
        };
        match link(prev) {
            Some(prev_next) => prev_next.store(next, Relaxed),
            None => self.partial = next,
        }
        if next != NO_PFN {
            slab_page(next as u64).lru_prev.store(prev, Relaxed);
        }
        self.nr_partial -= 1;
    }
}

/// Caches made by `kmem_cache_create`, newest first (the kmalloc caches are in `slab.rs`).
static SLAB_CACHES: Mutex<Option<&'static KmemCache>> = Mutex::new(None);

/// A new cache, registered for /proc/slabinfo and reclaim (`kmem_cache_create`); caches live
/// as long as the kernel.
pub fn kmem_cache_create(
    name: &'static str,
    size: usize,
    align: usize,
    flags: u32,
) -> &'static KmemCache {
    let cache: &'static KmemCache = alloc::boxed::Box::leak(alloc::boxed::Box::new(
        KmemCache::new(name, size, align, flags),
    ));
    cpu::without_interrupts(|| {
        let mut head = SLAB_CACHES.lock();
        if let Some(old) = head.take() {
            cache.next.call_once(|| old);
        }
        *head = Some(cache);
    });
    cache
}

/// Every cache from `kmem_cache_create`, newest first.
pub fn for_each_cache(mut f: impl FnMut(&'static KmemCache)) {
    let mut cur = cpu::without_interrupts(|| *SLAB_CACHES.lock());
    while let Some(c) = cur {
        f(c);
        cur = c.next.get().copied();
    }
}

/// Freed slab pages count as reclaimed (`shrink_slab`, here every empty slab at once).
pub fn shrink_slab() -> u64 {
    let mut freed = 0;
    for_each_cache(|c| freed += c.shrink());
    freed + super::slab::kmalloc_shrink()
}
