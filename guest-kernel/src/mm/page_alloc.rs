//! The kernel's page-frame allocator: zones, each a buddy allocator over the direct map with
//! per-CPU lists of single pages and min/low/high watermarks, the `mem_map` of per-frame
//! [`Page`]s with their reference counts, and the shared zero page.
//!
//! `alloc_pages(gfp, order)` / `free_pages(phys, order)` are Linux's names and take Linux's
//! GFP flags (`gfp.rs`). The zones are DMA32 (below 4 GiB) and Normal (above); an allocation
//! tries the highest zone its flags allow first and falls back downwards, leaving each lower
//! zone its `lowmem_reserve` (`mmzone.rs` has the arithmetic). The fast path takes a page
//! while the zone stays above its low watermark; the slow path (`__alloc_pages_slowpath`)
//! wakes `kswapd0`, allows the min watermark (less for __GFP_HIGH and __GFP_ATOMIC), then, if
//! the flags allow blocking, reclaims directly and finally calls the OOM killer.
//!
//! Every allocation starts with one reference on its first frame. Frames mapped into user
//! address spaces are shared by reference (`get_page`) and released with `put_page`, which
//! frees on the last reference; kernel-internal allocations simply call `free_pages`.
//!
//! Single pages come from per-CPU lists in front of the buddy allocators (`pcp.rs`).

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use spin::{Mutex, Once};

use super::arch::{cpu, phys_to_virt};
use super::buddy::{bitmap_bits, Buddy, FrameMemory, MAX_ORDER, PAGE_SIZE};
use super::gfp::*;
use super::mem_map::{
    MemMap, Page, Put, PG_ANON, PG_FILE, PG_LRU, PG_RESERVED, PG_SHMEM, PG_SWAPBACKED,
};
use super::memblock::RegionSet;
use super::mmzone::*;
use super::vmstat::{count_vm_events, mod_node_page_state, NodeStat, VmEvent};

mod pcp;
pub use isolate::*;
pub use pcp::drain_local_pages;

mod isolate;
use pcp::{pcp_alloc, pcp_free, pcp_pages, PCP_BATCH, PCP_COUNT, PCP_HIGH};

/// Physical memory the allocator can manage (free bitmaps are static, in `.bss`).
pub const MAX_PHYS: u64 = 16 << 30;
const MAX_FRAMES: usize = (MAX_PHYS / PAGE_SIZE) as usize;
/// ZONE_DMA32 ends at 4 GiB.
const DMA32_FRAMES: usize = ((4u64 << 30) / PAGE_SIZE) as usize;
const NORMAL_FRAMES: usize = MAX_FRAMES - DMA32_FRAMES;

/// Free-list links live in the free frames, reached through the direct map.
pub struct DirectMap;

impl FrameMemory for DirectMap {
    fn read_link(&self, pfn: u64, slot: usize) -> u64 {
        let ptr = phys_to_virt(pfn * PAGE_SIZE) as *const u64;
        // SAFETY: the frame is free and owned by the allocator, mapped by the direct map.
        unsafe { ptr.add(slot).read() }
    }
    fn write_link(&mut self, pfn: u64, slot: usize, value: u64) {
        let ptr = phys_to_virt(pfn * PAGE_SIZE) as *mut u64;
        // SAFETY: as above.
        unsafe { ptr.add(slot).write(value) }
    }
}

/// A zone's free area, whatever the size of its bitmap.
trait FreeArea {
    fn alloc(&mut self, order: usize) -> Option<u64>;
    fn free(&mut self, pfn: u64, order: usize);
    fn add_range(&mut self, start: u64, end: u64);
    fn free_blocks_per_order(&self) -> [u64; MAX_ORDER + 1];
    fn has_free_block(&self, order: usize) -> bool;
    fn free_block_containing(&self, pfn: u64) -> Option<(u64, usize)>;
    fn isolate_block_containing(
        &mut self,
        pfn: u64,
        max_order: usize,
    ) -> Result<(u64, usize), Option<(u64, usize)>>;
}

impl<B: super::buddy::Bitmap> FreeArea for Buddy<DirectMap, B> {
    fn alloc(&mut self, order: usize) -> Option<u64> {
        Buddy::alloc(self, order)
    }
    fn free(&mut self, pfn: u64, order: usize) {
        Buddy::free(self, pfn, order)
    }
    fn add_range(&mut self, start: u64, end: u64) {
        Buddy::add_range(self, start, end)
    }
    fn free_blocks_per_order(&self) -> [u64; MAX_ORDER + 1] {
        Buddy::free_blocks_per_order(self)
    }
    fn has_free_block(&self, order: usize) -> bool {
        Buddy::has_free_block(self, order)
    }
    fn free_block_containing(&self, pfn: u64) -> Option<(u64, usize)> {
        Buddy::free_block_containing(self, pfn)
    }
    fn isolate_block_containing(
        &mut self,
        pfn: u64,
        max_order: usize,
    ) -> Result<(u64, usize), Option<(u64, usize)>> {
        Buddy::isolate_block_containing(self, pfn, max_order)
    }
}

type Area<const W: usize> = Mutex<Buddy<DirectMap, [u64; W]>>;
static DMA32_AREA: Area<{ bitmap_bits(DMA32_FRAMES).div_ceil(64) }> = Mutex::new(Buddy::new(
    DirectMap,
    [0; bitmap_bits(DMA32_FRAMES).div_ceil(64)],
    0,
    DMA32_FRAMES as u64,
));
static NORMAL_AREA: Area<{ bitmap_bits(NORMAL_FRAMES).div_ceil(64) }> = Mutex::new(Buddy::new(
    DirectMap,
    [0; bitmap_bits(NORMAL_FRAMES).div_ceil(64)],
    DMA32_FRAMES as u64,
    NORMAL_FRAMES as u64,
));

/// A zone's bookkeeping beside its free area (Linux's `struct zone`); set at boot, except
/// `free`, which mirrors the free area's count (NR_FREE_PAGES: not the per-CPU lists) for
/// lock-free watermark checks.
struct Zone {
    start_pfn: AtomicU64,
    spanned: AtomicU64,
    managed: AtomicU64,
    watermark: [AtomicU64; 3],
    lowmem_reserve: [AtomicU64; MAX_NR_ZONES],
    free: AtomicU64,
}

static ZONES: [Zone; MAX_NR_ZONES] = [const {
    Zone {
        start_pfn: AtomicU64::new(0),
        spanned: AtomicU64::new(0),
        managed: AtomicU64::new(0),
        watermark: [const { AtomicU64::new(0) }; 3],
        lowmem_reserve: [const { AtomicU64::new(0) }; MAX_NR_ZONES],
        free: AtomicU64::new(0),
    }
}; MAX_NR_ZONES];
const ZONE_TYPES: [ZoneType; MAX_NR_ZONES] = [ZoneType::Dma32, ZoneType::Normal];

fn zone_of(pfn: u64) -> ZoneType {
    if pfn < DMA32_FRAMES as u64 {
        ZoneType::Dma32
    } else {
        ZoneType::Normal
    }
}

/// Run `f` on a zone's free area, with interrupts off and its lock held; the zone's free
/// count follows.
fn with_free_area<R>(z: ZoneType, f: impl FnOnce(&mut dyn FreeArea) -> R) -> R {
    cpu::without_interrupts(|| {
        let (r, free) = match z {
            ZoneType::Dma32 => {
                let mut a = DMA32_AREA.lock();
                (f(&mut *a), a.free_pages())
            }
            ZoneType::Normal => {
                let mut a = NORMAL_AREA.lock();
                (f(&mut *a), a.free_pages())
            }
        };
        ZONES[z as usize].free.store(free, Relaxed);
        r
    })
}

/// Total pages handed to the allocator at boot (MemTotal).
static TOTAL_PAGES: AtomicU64 = AtomicU64::new(0);
/// `/proc/sys/vm/min_free_kbytes`, computed at boot.
static MIN_FREE_KBYTES: AtomicU64 = AtomicU64::new(0);

/// One `Page` per frame up to the highest usable one; set once at boot.
static MEM_MAP: Once<MemMap<'static>> = Once::new();

/// The shared zero page: mapped read-only wherever private memory is read before written.
static ZERO_PAGE: AtomicU64 = AtomicU64::new(u64::MAX);

/// Set up `mem_map`, give the rest of usable RAM to the zones' buddy allocators and set their
/// watermarks; allocate the zero page.
pub fn init(ram: &RegionSet) {
    let mut ram = *ram;
    let max_pfn = ram
        .as_slice()
        .iter()
        .map(|r| r.end.min(MAX_PHYS))
        .max()
        .unwrap_or(0)
        / PAGE_SIZE;
    // The array comes out of boot memory (it can be larger than the buddy's biggest block)
    // and must sit in the direct map.
    let bytes = (max_pfn * core::mem::size_of::<Page>() as u64).next_multiple_of(PAGE_SIZE);
    match ram.take(bytes, PAGE_SIZE) {
        Some(phys) if phys + bytes <= super::arch::paging::DIRECT_MAP_BYTES => {
            // SAFETY: the range was just removed from usable RAM, so nothing else will ever
            // use it; the direct map covers it; any bit pattern is a valid `Page` (atomics).
            let pages = unsafe {
                core::slice::from_raw_parts(phys_to_virt(phys) as *const Page, max_pfn as usize)
            };
            MEM_MAP.call_once(|| MemMap::new(pages));
        }
        _ => panic!("mm: no memory for mem_map ({} KiB)", bytes >> 10),
    }
    for r in ram.as_slice() {
        if r.start >= MAX_PHYS {
            crate::pr_warn!(
                "mm: ignoring RAM above {} GiB at {:#x}",
                MAX_PHYS >> 30,
                r.start
            );
            continue;
        }
        let (start, end) = (r.start / PAGE_SIZE, r.end.min(MAX_PHYS) / PAGE_SIZE);
        for z in ZONE_TYPES {
            with_free_area(z, |area| area.add_range(start, end));
            let zone = &ZONES[z as usize];
            let (lo, hi) = match z {
                ZoneType::Dma32 => (start, end.min(DMA32_FRAMES as u64)),
                ZoneType::Normal => (start.max(DMA32_FRAMES as u64), end),
            };
            if lo < hi {
                if zone.managed.load(Relaxed) == 0 {
                    zone.start_pfn.store(lo, Relaxed);
                }
                zone.spanned
                    .store(hi - zone.start_pfn.load(Relaxed), Relaxed);
                zone.managed.fetch_add(hi - lo, Relaxed);
            }
        }
    }
    let managed = ZONES.each_ref().map(|z| z.managed.load(Relaxed));
    TOTAL_PAGES.store(managed.iter().sum(), Relaxed);
    setup_watermarks(&managed);
    let zero = alloc_pages(GFP_KERNEL | __GFP_ZERO, 0).expect("mm: no memory for the zero page");
    if let Some(p) = pfn_to_page(zero / PAGE_SIZE) {
        p.set_flags(PG_RESERVED);
    }
    ZERO_PAGE.store(zero, Relaxed);
}

/// `init_per_zone_wmark_min`: min_free_kbytes from lowmem, then each zone's watermarks and
/// reserves.
fn setup_watermarks(managed: &[u64; MAX_NR_ZONES]) {
    let min_free_kbytes = calculate_min_free_kbytes(managed.iter().sum::<u64>() * 4);
    setup_per_zone_wmarks_from(managed, min_free_kbytes);
}

/// A write to `/proc/sys/vm/min_free_kbytes`.
pub fn set_min_free_kbytes(kbytes: u64) {
    let managed = ZONES.each_ref().map(|z| z.managed.load(Relaxed));
    setup_per_zone_wmarks_from(&managed, kbytes);
}

fn setup_per_zone_wmarks_from(managed: &[u64; MAX_NR_ZONES], min_free_kbytes: u64) {
    MIN_FREE_KBYTES.store(min_free_kbytes, Relaxed);
    let marks = setup_per_zone_wmarks(managed, min_free_kbytes);
    let reserves = setup_per_zone_lowmem_reserve(managed);
    for (i, zone) in ZONES.iter().enumerate() {
        for (w, &m) in zone.watermark.iter().zip(&marks[i]) {
            w.store(m, Relaxed);
        }
        for (r, &v) in zone.lowmem_reserve.iter().zip(&reserves[i]) {
            r.store(v, Relaxed);
        }
    }
}

/// Pages kept back from user allocations (Linux's `totalreserve_pages`: each zone's high
/// watermark and largest reserve) and the zones' low watermarks together.
pub fn reserve_pages() -> (u64, u64) {
    ZONES.iter().fold((0, 0), |(reserve, low), z| {
        let max_reserve = z.lowmem_reserve.iter().map(|r| r.load(Relaxed)).max();
        (
            reserve + z.watermark[WMARK_HIGH].load(Relaxed) + max_reserve.unwrap_or(0),
            low + z.watermark[WMARK_LOW].load(Relaxed),
        )
    })
}

pub fn min_free_kbytes() -> u64 {
    MIN_FREE_KBYTES.load(Relaxed)
}

/// The zones an allocation may use, highest first (the node's zonelist from `highest`).
fn zonelist(highest: ZoneType) -> impl Iterator<Item = ZoneType> {
    ZONE_TYPES[..=highest as usize]
        .iter()
        .rev()
        .copied()
        .filter(|&z| ZONES[z as usize].managed.load(Relaxed) != 0)
}

/// A zone's watermark `which` (WMARK_MIN/LOW/HIGH), in pages.
pub fn wmark_pages(z: ZoneType, which: usize) -> u64 {
    ZONES[z as usize].watermark[which].load(Relaxed)
}

/// Free pages of zone `z` (its free area, as NR_FREE_PAGES counts them).
pub fn zone_free_pages(z: ZoneType) -> u64 {
    ZONES[z as usize].free.load(Relaxed)
}

/// Populated zones.
pub fn populated_zones() -> impl Iterator<Item = ZoneType> {
    zonelist(ZoneType::Normal)
}

/// Is zone `z` above watermark `which` for an order-`order` allocation that may use zones
/// up to `highest` (Linux's `zone_watermark_ok_safe` with `alloc_flags`)?
pub fn zone_watermark_ok_flags(
    z: ZoneType,
    order: usize,
    which: usize,
    highest: ZoneType,
    alloc_flags: u32,
) -> bool {
    let zone = &ZONES[z as usize];
    zone_watermark_ok(
        zone.free.load(Relaxed),
        order,
        zone.watermark[which].load(Relaxed),
        zone.lowmem_reserve[highest as usize].load(Relaxed),
        alloc_flags,
    )
}

/// Take 2^order pages from zone `z` (Linux's `rmqueue`).
fn rmqueue(z: ZoneType, order: usize) -> Option<u64> {
    if order == 0 {
        pcp_alloc(z)
    } else {
        with_free_area(z, |area| area.alloc(order))
    }
}

/// Walk the zonelist for a zone above the watermark in `alloc_flags` and take the pages
/// there (Linux's `get_page_from_freelist`).
fn get_page_from_freelist(gfp: Gfp, order: usize, alloc_flags: u32) -> Option<u64> {
    let highest = gfp_zone(gfp);
    for z in zonelist(highest) {
        if alloc_flags & ALLOC_NO_WATERMARKS == 0
            && !zone_watermark_ok_flags(
                z,
                order,
                (alloc_flags & ALLOC_WMARK_MASK) as usize,
                highest,
                alloc_flags,
            )
        {
            continue;
        }
        if let Some(pfn) = rmqueue(z, order) {
            return Some(pfn);
        }
    }
    None
}

/// The slow path (Linux's `__alloc_pages_slowpath`): wake kswapd and try down to the min
/// watermark, lowered as the flags allow; then, if the flags allow blocking, reclaim and
/// retry while reclaim makes progress.
fn __alloc_pages_slowpath(gfp: Gfp, order: usize) -> Option<u64> {
    let alloc_flags = gfp_to_alloc_flags(gfp);
    if gfp.has(__GFP_KSWAPD_RECLAIM) {
        super::vmscan::wakeup_kswapd(order, gfp_zone(gfp));
        super::compaction::wakeup_kcompactd(order, gfp_zone(gfp));
    }
    if let Some(pfn) = get_page_from_freelist(gfp, order, alloc_flags) {
        return Some(pfn);
    }
    if !gfp.allow_blocking() {
        return None;
    }
    if order > 0 {
        if let Some(pfn) = __alloc_pages_direct_compact(gfp, order, alloc_flags) {
            return Some(pfn);
        }
    }
    // Blocking is allowed here, so waking a task is too.
    #[cfg(not(test))]
    super::vmscan::kswapd_wake_pending();
    for _ in 0..super::vmscan::MAX_RECLAIM_RETRIES {
        let progress = super::vmscan::try_to_free_pages(gfp, order);
        if let Some(pfn) = get_page_from_freelist(gfp, order, alloc_flags) {
            return Some(pfn);
        }
        if progress == 0 {
            break;
        }
    }
    // Reclaim is out of ideas: kill something (`__alloc_pages_may_oom`), unless the caller
    // would rather fail. The victim's memory comes back when it dies or is reaped, so this
    // allocation still fails; the page-fault path retries.
    #[cfg(not(test))]
    if !gfp.has(__GFP_NORETRY) && order <= PAGE_ALLOC_COSTLY_ORDER {
        super::oom_kill::out_of_memory(gfp, order);
        return get_page_from_freelist(gfp, order, alloc_flags);
    }
    None
}

/// Compact, then try again (`__alloc_pages_direct_compact`): a stall, which succeeded if
/// the allocation did.
fn __alloc_pages_direct_compact(gfp: Gfp, order: usize, alloc_flags: u32) -> Option<u64> {
    if !super::compaction::try_to_compact_pages(gfp_zone(gfp), order) {
        return None;
    }
    count_vm_events(VmEvent::CompactStall, 1);
    let page = get_page_from_freelist(gfp, order, alloc_flags);
    let outcome = if page.is_some() {
        VmEvent::CompactSuccess
    } else {
        VmEvent::CompactFail
    };
    count_vm_events(outcome, 1);
    page
}

/// Orders above this are not worth killing a process for (Linux's value).
#[cfg(not(test))]
const PAGE_ALLOC_COSTLY_ORDER: usize = 3;

pub fn pfn_to_page(pfn: u64) -> Option<&'static Page> {
    MEM_MAP.get()?.page(pfn)
}

/// Allocate 2^order contiguous pages as `gfp` allows (Linux's `alloc_pages`); returns their
/// physical address. The fast path wants the zone above its low watermark.
pub fn alloc_pages(gfp: Gfp, order: usize) -> Option<u64> {
    if order > MAX_ORDER {
        return None;
    }
    let pfn = match get_page_from_freelist(gfp, order, ALLOC_WMARK_LOW) {
        Some(pfn) => pfn,
        None => __alloc_pages_slowpath(gfp, order)?,
    };
    if let Some(p) = pfn_to_page(pfn) {
        p.prep_new();
    }
    if gfp.has(__GFP_ZERO) {
        // SAFETY: the pages were just allocated, are ours alone, and the direct map covers
        // them.
        unsafe {
            core::ptr::write_bytes(
                phys_to_virt(pfn * PAGE_SIZE) as *mut u8,
                0,
                (PAGE_SIZE as usize) << order,
            )
        };
    }
    count_vm_events(VmEvent::PgAlloc, 1 << order);
    #[cfg(not(test))]
    crate::trace::trace_mm_page_alloc(pfn * PAGE_SIZE, order);
    Some(pfn * PAGE_SIZE)
}

/// Free pages from [`alloc_pages`] with the same order.
pub fn free_pages(phys: u64, order: usize) {
    let pfn = phys / PAGE_SIZE;
    #[cfg(not(test))]
    crate::trace::trace_mm_page_free(phys, order);
    if let Some(p) = pfn_to_page(pfn) {
        p.clear();
    }
    count_vm_events(VmEvent::PgFree, 1 << order);
    if order == 0 {
        pcp_free(pfn);
    } else {
        with_free_area(zone_of(pfn), |area| area.free(pfn, order))
    }
}

/// One page of kernel memory (`GFP_KERNEL`).
pub fn alloc_page() -> Option<u64> {
    alloc_pages(GFP_KERNEL, 0)
}

pub fn free_page(phys: u64) {
    free_pages(phys, 0)
}

/// One zero-filled page of kernel memory (page tables).
pub fn alloc_zeroed_page() -> Option<u64> {
    alloc_pages(GFP_KERNEL | __GFP_ZERO, 0)
}

/// A page of user memory (`GFP_HIGHUSER_MOVABLE`), accounted as `kind` ([`PG_ANON`],
/// [`PG_SHMEM`], or PG_FILE for the page cache) and put on its LRU list; zero-filled if
/// `zero` (otherwise the caller fills all of it).
pub fn alloc_user_page(kind: u32, zero: bool) -> Option<u64> {
    let gfp = if zero {
        GFP_HIGHUSER_MOVABLE | __GFP_ZERO
    } else {
        GFP_HIGHUSER_MOVABLE
    };
    let phys = alloc_pages(gfp, 0)?;
    if let Some(p) = pfn_to_page(phys / PAGE_SIZE) {
        p.set_flags(kind);
    }
    account(kind, 1);
    super::swap::lru_cache_add(phys);
    Some(phys)
}

/// Count a page with `flags` in the node's counters (`delta` pages).
pub(super) fn account(flags: u32, delta: i64) {
    if flags & PG_ANON != 0 {
        mod_node_page_state(NodeStat::AnonPages, delta);
    }
    if flags & (PG_SHMEM | PG_SWAPBACKED) != 0 {
        mod_node_page_state(NodeStat::Shmem, delta);
    }
}

/// Take a reference on the page at `phys` (the caller holds one already, or a mapping of it).
pub fn get_page(phys: u64) {
    if let Some(p) = pfn_to_page(phys / PAGE_SIZE) {
        p.get();
    }
}

/// Drop a reference on the page at `phys`; frees it with the last one.
pub fn put_page(phys: u64) {
    let Some(p) = pfn_to_page(phys / PAGE_SIZE) else {
        return;
    };
    match p.put() {
        Put::Held => {}
        Put::Last(flags) if flags & PG_RESERVED != 0 => {
            p.get();
            crate::pr_err!(
                "BUG: mm: last reference dropped on reserved page {:#x}",
                phys
            );
        }
        Put::Last(flags) => {
            if flags & PG_LRU != 0 {
                super::swap::lru_del_freed(p);
            }
            account(flags, -1);
            free_page(phys);
        }
        Put::Underflow => {
            crate::pr_err!("BUG: mm: put_page on free page {:#x}", phys);
        }
    }
}

/// Whether the page at `phys` is (or was, while mappings still hold it) a page-cache page.
pub fn is_file_page(phys: u64) -> bool {
    pfn_to_page(phys / PAGE_SIZE).is_some_and(|p| p.has(PG_FILE))
}

/// Whether the page at `phys` was written since it was read in (PG_DIRTY).
pub fn is_dirty_page(phys: u64) -> bool {
    pfn_to_page(phys / PAGE_SIZE).is_some_and(|p| p.has(super::mem_map::PG_DIRTY))
}

/// References held on the page at `phys` (Linux's `page_count`).
pub fn page_count(phys: u64) -> u32 {
    pfn_to_page(phys / PAGE_SIZE).map_or(0, |p| p.count())
}

/// The shared zero page (Linux's `ZERO_PAGE(0)`), allocated at boot and never freed.
pub fn zero_page() -> u64 {
    ZERO_PAGE.load(Relaxed)
}

pub fn is_zero_page(phys: u64) -> bool {
    phys == ZERO_PAGE.load(Relaxed)
}

/// Copy one page to another through the direct map (Linux's `copy_highpage`).
pub fn copy_page(dst: u64, src: u64) {
    // SAFETY: both are whole pages in the direct map; `dst` was just allocated by the caller,
    // so it is distinct from `src` and nobody else uses it yet.
    unsafe {
        core::ptr::copy_nonoverlapping(
            phys_to_virt(src) as *const u8,
            phys_to_virt(dst) as *mut u8,
            PAGE_SIZE as usize,
        )
    };
}

/// Copy bytes out of the page at `phys`, from `offset` on, through the direct map (Linux's
/// `memcpy_from_page`): how the kernel reads another address space's memory.
pub fn memcpy_from_page(dst: &mut [u8], phys: u64, offset: usize) {
    assert!(offset + dst.len() <= PAGE_SIZE as usize);
    // SAFETY: the range lies inside one page of the direct map (checked above), and the caller
    // holds a reference to the page (it is mapped in an address space whose lock it holds), so
    // the frame is not freed or reused while we read it. User threads may write it meanwhile,
    // as in Linux: the bytes read are then some mix, never memory outside the page.
    unsafe {
        core::ptr::copy_nonoverlapping(
            (phys_to_virt(phys) as *const u8).add(offset),
            dst.as_mut_ptr(),
            dst.len(),
        )
    };
}

/// Copy `data` into the page at `phys` at `offset` (Linux's `memcpy_to_page`): a write to a
/// page-cache page from a kernel buffer. The caller holds a reference to the page.
pub fn memcpy_to_page(phys: u64, offset: usize, data: &[u8]) {
    assert!(offset + data.len() <= PAGE_SIZE as usize);
    // SAFETY: the range lies inside one page of the direct map (checked above) that the caller
    // holds a reference to. Mappings of the page may access it meanwhile, as in Linux.
    unsafe {
        core::ptr::copy_nonoverlapping(
            data.as_ptr(),
            (phys_to_virt(phys) as *mut u8).add(offset),
            data.len(),
        )
    };
}

/// Zero `len` bytes of the page at `phys` from `offset` (Linux's `zero_user_segment`): the
/// tail of a file's last page when the file shrinks.
pub fn zero_page_range(phys: u64, offset: usize, len: usize) {
    assert!(offset + len <= PAGE_SIZE as usize);
    // SAFETY: as for `memcpy_to_page`.
    unsafe { core::ptr::write_bytes((phys_to_virt(phys) as *mut u8).add(offset), 0, len) };
}

/// Fill the page at `phys` with `data` at `offset` and zeros around it (a private file page
/// read in at fault time: its bytes from the file, the rest of the page zero).
pub fn fill_page(phys: u64, offset: usize, data: &[u8]) {
    let page = PAGE_SIZE as usize;
    assert!(offset + data.len() <= page);
    let at = phys_to_virt(phys) as *mut u8;
    // SAFETY: the writes stay inside one page of the direct map (checked above), which the
    // caller just allocated and has not mapped anywhere yet.
    unsafe {
        core::ptr::write_bytes(at, 0, offset);
        core::ptr::copy_nonoverlapping(data.as_ptr(), at.add(offset), data.len());
        core::ptr::write_bytes(at.add(offset + data.len()), 0, page - offset - data.len());
    }
}

pub fn total_pages() -> u64 {
    TOTAL_PAGES.load(Relaxed)
}

/// Free pages: in the zones' buddy allocators and on the per-CPU lists.
pub fn free_page_count() -> u64 {
    ZONE_TYPES
        .iter()
        .map(|&z| zone_free_pages(z) + pcp_pages(z))
        .sum()
}

/// `/proc/zoneinfo`.
pub fn zoneinfo_show(out: &mut alloc::string::String) {
    let cpus = super::arch::percpu::nr_cpu_ids();
    let zones: alloc::vec::Vec<ZoneInfo> = ZONE_TYPES
        .iter()
        .map(|&z| {
            let zone = &ZONES[z as usize];
            let managed = zone.managed.load(Relaxed);
            ZoneInfo {
                zone: z,
                free: zone_free_pages(z),
                marks: [WMARK_MIN, WMARK_LOW, WMARK_HIGH].map(|w| zone.watermark[w].load(Relaxed)),
                spanned: zone.spanned.load(Relaxed),
                present: managed,
                managed,
                protection: zone.lowmem_reserve.each_ref().map(|r| r.load(Relaxed)),
                start_pfn: zone.start_pfn.load(Relaxed),
                pagesets: (0..cpus)
                    .map(|c| {
                        let n = PCP_COUNT[z as usize][c].load(Relaxed) as u64;
                        (n, PCP_HIGH as u64, PCP_BATCH as u64)
                    })
                    .collect(),
                stat_threshold: super::vmstat::stat_threshold(),
            }
        })
        .collect();
    render_zoneinfo(&zones, out);
}

/// `/proc/buddyinfo`: the populated zones' free blocks per order.
pub fn buddyinfo_show(out: &mut alloc::string::String) {
    let zones: alloc::vec::Vec<_> = populated_zones()
        .collect::<alloc::vec::Vec<_>>()
        .into_iter()
        .rev()
        .map(|z| (z, with_free_area(z, |a| a.free_blocks_per_order())))
        .collect();
    render_buddyinfo(&zones, out);
}
