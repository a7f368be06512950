//! The kernel's page-frame allocator: the buddy allocator over the direct map, the `mem_map`
//! of per-frame [`Page`]s with their reference counts, and the shared zero page.
//!
//! `alloc_pages(order)` / `free_pages(phys, order)` are Linux's names; callers that need zeroed
//! memory ask for it (`alloc_zeroed_page`) so that the common path doesn't pay for zeroing.
//! Every allocation starts with one reference on its first frame. Frames mapped into user
//! address spaces are shared by reference (`get_page`) and released with `put_page`, which
//! frees on the last reference; kernel-internal allocations simply call `free_pages`.
//!
//! Single pages, by far the most common request (page faults, page tables, slab), come from
//! a small per-CPU stack of free pages (Linux's `per_cpu_pages`) that is refilled from and
//! drained to the buddy allocator in batches: a push or pop with interrupts off instead of
//! the buddy lock and a split or merge through every order each time.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use spin::{Mutex, Once};

use super::arch::percpu::{cpu_id, MAX_CPUS};
use super::arch::{cpu, phys_to_virt};
use super::buddy::{bitmap_bits, Buddy, FrameMemory, PAGE_SIZE};
use super::mem_map::{MemMap, Page, Put, PG_ANON, PG_RESERVED, PG_SHMEM};
use super::memblock::RegionSet;
use super::vmstat::{count_vm_events, mod_node_page_state, NodeStat, VmEvent};

/// Physical memory the allocator can manage (free bitmaps are static, in `.bss`).
pub const MAX_PHYS: u64 = 16 << 30;
const MAX_FRAMES: usize = (MAX_PHYS / PAGE_SIZE) as usize;
const BITMAP_WORDS: usize = bitmap_bits(MAX_FRAMES).div_ceil(64);

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

static BUDDY: Mutex<Buddy<DirectMap, [u64; BITMAP_WORDS]>> =
    Mutex::new(Buddy::new(DirectMap, [0; BITMAP_WORDS], MAX_FRAMES as u64));

/// Free pages a CPU keeps at most, and moves to or from the buddy allocator at once.
const PCP_HIGH: usize = 64;
const PCP_BATCH: usize = 16;

/// Each CPU's stack of free pages (frame numbers); the first `PCP_COUNT[cpu]` are valid.
struct PcpLists([UnsafeCell<[u64; PCP_HIGH]>; MAX_CPUS]);

// SAFETY: each CPU touches only its own list, and only with interrupts disabled, so accesses
// to a list never overlap.
unsafe impl Sync for PcpLists {}

static PCP: PcpLists = PcpLists([const { UnsafeCell::new([0; PCP_HIGH]) }; MAX_CPUS]);
/// Pages on each CPU's list; atomic so that other CPUs may read them for MemFree.
static PCP_COUNT: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];

/// Run `f` on this CPU's page list and its count.
fn with_pcp<R>(f: impl FnOnce(&mut [u64; PCP_HIGH], &AtomicUsize) -> R) -> R {
    cpu::without_interrupts(|| {
        let cpu = cpu_id();
        // SAFETY: interrupts are off, so nothing else on this CPU runs until we return, and
        // no other CPU touches this CPU's list (see `PcpLists`).
        f(unsafe { &mut *PCP.0[cpu].get() }, &PCP_COUNT[cpu])
    })
}

fn pcp_alloc() -> Option<u64> {
    with_pcp(|pfns, count| {
        let mut n = count.load(Relaxed);
        if n == 0 {
            let mut buddy = BUDDY.lock();
            while n < PCP_BATCH {
                let Some(pfn) = buddy.alloc(0) else { break };
                pfns[n] = pfn;
                n += 1;
            }
        }
        let n = n.checked_sub(1)?;
        count.store(n, Relaxed);
        Some(pfns[n])
    })
}

fn pcp_free(pfn: u64) {
    with_pcp(|pfns, count| {
        let mut n = count.load(Relaxed);
        if n == PCP_HIGH {
            let mut buddy = BUDDY.lock();
            for &p in &pfns[n - PCP_BATCH..n] {
                buddy.free(p, 0);
            }
            n -= PCP_BATCH;
        }
        pfns[n] = pfn;
        count.store(n + 1, Relaxed);
    })
}

/// Total pages handed to the allocator at boot (MemTotal).
static TOTAL_PAGES: AtomicU64 = AtomicU64::new(0);

/// One `Page` per frame up to the highest usable one; set once at boot.
static MEM_MAP: Once<MemMap<'static>> = Once::new();

/// The shared zero page: mapped read-only wherever private memory is read before written.
static ZERO_PAGE: AtomicU64 = AtomicU64::new(u64::MAX);

/// Set up `mem_map` and give the rest of usable RAM to the buddy allocator; allocate the zero
/// page.
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
    let mut buddy = BUDDY.lock();
    for r in ram.as_slice() {
        if r.start >= MAX_PHYS {
            crate::pr_warn!(
                "mm: ignoring RAM above {} GiB at {:#x}",
                MAX_PHYS >> 30,
                r.start
            );
            continue;
        }
        buddy.add_range(r.start / PAGE_SIZE, r.end.min(MAX_PHYS) / PAGE_SIZE);
    }
    TOTAL_PAGES.store(buddy.free_pages(), Relaxed);
    drop(buddy);
    let zero = alloc_zeroed_page().expect("mm: no memory for the zero page");
    if let Some(p) = pfn_to_page(zero / PAGE_SIZE) {
        p.set_flags(PG_RESERVED);
    }
    ZERO_PAGE.store(zero, Relaxed);
}

pub fn pfn_to_page(pfn: u64) -> Option<&'static Page> {
    MEM_MAP.get()?.page(pfn)
}

/// Allocate 2^order contiguous pages; returns their physical address.
pub fn alloc_pages(order: usize) -> Option<u64> {
    let pfn = if order == 0 {
        pcp_alloc()?
    } else {
        cpu::without_interrupts(|| BUDDY.lock().alloc(order))?
    };
    if let Some(p) = pfn_to_page(pfn) {
        p.prep_new();
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
        cpu::without_interrupts(|| BUDDY.lock().free(pfn, order))
    }
}

pub fn alloc_page() -> Option<u64> {
    alloc_pages(0)
}

pub fn free_page(phys: u64) {
    free_pages(phys, 0)
}

/// One zero-filled page.
pub fn alloc_zeroed_page() -> Option<u64> {
    let phys = alloc_page()?;
    // SAFETY: the page was just allocated and is mapped by the direct map.
    unsafe { core::ptr::write_bytes(phys_to_virt(phys) as *mut u8, 0, PAGE_SIZE as usize) };
    Some(phys)
}

/// A page of user memory, accounted as `kind` ([`PG_ANON`] or [`PG_SHMEM`]); zero-filled if
/// `zero` (otherwise the caller fills all of it).
pub fn alloc_user_page(kind: u32, zero: bool) -> Option<u64> {
    let phys = if zero {
        alloc_zeroed_page()?
    } else {
        alloc_page()?
    };
    if let Some(p) = pfn_to_page(phys / PAGE_SIZE) {
        p.set_flags(kind);
    }
    account(kind, 1);
    Some(phys)
}

fn account(flags: u32, delta: i64) {
    if flags & PG_ANON != 0 {
        mod_node_page_state(NodeStat::AnonPages, delta);
    }
    if flags & PG_SHMEM != 0 {
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
            account(flags, -1);
            free_page(phys);
        }
        Put::Underflow => {
            crate::pr_err!("BUG: mm: put_page on free page {:#x}", phys);
        }
    }
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

/// Free pages: in the buddy allocator and on the per-CPU lists.
pub fn free_page_count() -> u64 {
    let cached: usize = PCP_COUNT.iter().map(|c| c.load(Relaxed)).sum();
    cpu::without_interrupts(|| BUDDY.lock().free_pages()) + cached as u64
}
