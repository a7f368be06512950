//! The kernel's page-frame allocator: the buddy allocator over the direct map.
//!
//! `alloc_pages(order)` / `free_pages(phys, order)` are Linux's names; callers that need zeroed
//! memory ask for it (`alloc_zeroed_page`) so that the common path doesn't pay for zeroing.

use spin::Mutex;

use super::buddy::{bitmap_bits, Buddy, FrameMemory, PAGE_SIZE};
use super::memblock::RegionSet;
use crate::arch::{cpu, phys_to_virt};

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

/// Total pages handed to the allocator at boot (MemTotal).
static TOTAL_PAGES: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Give the usable RAM to the buddy allocator.
pub fn init(ram: &RegionSet) {
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
    TOTAL_PAGES.store(buddy.free_pages(), core::sync::atomic::Ordering::Relaxed);
}

/// Allocate 2^order contiguous pages; returns their physical address.
pub fn alloc_pages(order: usize) -> Option<u64> {
    cpu::without_interrupts(|| BUDDY.lock().alloc(order)).map(|pfn| pfn * PAGE_SIZE)
}

/// Free pages from [`alloc_pages`] with the same order.
pub fn free_pages(phys: u64, order: usize) {
    cpu::without_interrupts(|| BUDDY.lock().free(phys / PAGE_SIZE, order))
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

pub fn total_pages() -> u64 {
    TOTAL_PAGES.load(core::sync::atomic::Ordering::Relaxed)
}

pub fn free_page_count() -> u64 {
    cpu::without_interrupts(|| BUDDY.lock().free_pages())
}
