//! Fields behind pointers read at the event (`abi::trace::fetch`): the slow path runs the
//! fetches the host compiled for the event's site and appends their values to the record.
//!
//! A fetch reads only kernel memory that is mapped for sure, so it can never fault, however
//! stale or wrong the pointers it follows: RAM through the direct map (frames the page
//! allocator knows) and the kernel image. Anything else fails the fetch, which the host reads
//! as 0 or an empty string, as bpftrace reads a bad pointer.

use abi::trace::fetch::{self, Trailer, MAX_FETCHES, MAX_SITE_FETCHES, MAX_TRAILER, TRAILER_SIZE};
use abi::trace::{DIRECT_MAP_BASE, DIRECT_MAP_SIZE};

use crate::arch::percpu;

extern "C" {
    static __text_start: u8;
    static __kernel_end: u8;
}

const PAGE_SHIFT: u32 = 12;

/// Whether `[addr, addr + len)` is kernel memory that is always mapped.
fn readable(addr: u64, len: usize) -> bool {
    let Some(last) = addr.checked_add(len as u64).and_then(|e| e.checked_sub(1)) else {
        return false;
    };
    // Linker symbols: only their addresses are taken.
    let (text, end) = (
        core::ptr::addr_of!(__text_start) as u64,
        core::ptr::addr_of!(__kernel_end) as u64,
    );
    if addr >= text && last < end {
        return true;
    }
    let direct = DIRECT_MAP_BASE..DIRECT_MAP_BASE + DIRECT_MAP_SIZE;
    if !direct.contains(&addr) || !direct.contains(&last) {
        return false;
    }
    // Every page the read touches is a frame of RAM (at most two: a read is at most a line).
    let pfn = |a: u64| (a - DIRECT_MAP_BASE) >> PAGE_SHIFT;
    (pfn(addr)..=pfn(last)).all(|p| crate::mm::page_alloc::pfn_to_page(p).is_some())
}

/// Copies kernel memory at `addr` into `buf` if [`readable`].
fn read_kernel(addr: u64, buf: &mut [u8]) -> bool {
    if !readable(addr, buf.len()) {
        return false;
    }
    for (i, b) in buf.iter_mut().enumerate() {
        // SAFETY: `readable` checked that the whole source is mapped kernel memory (the image
        // or RAM in the direct map); it may be changing under us, hence the volatile byte
        // reads, and whatever it holds is only copied.
        *b = unsafe { core::ptr::read_volatile((addr as *const u8).add(i)) };
    }
    true
}

/// Runs the fetches of `site` from the argument registers `regs` and the current task into
/// `out`, followed by their [`Trailer`]; the trailer's length (0 when the site has none).
pub fn collect(site: u64, regs: &[u64; 6], out: &mut [u8; MAX_TRAILER]) -> usize {
    let task = percpu::current_task_raw();
    let (mut used, mut ok, mut count) = (0, 0u64, 0);
    for i in 0..MAX_FETCHES {
        let f = super::fetch_slot(i);
        if f.site == 0 || count == MAX_SITE_FETCHES {
            break;
        }
        if f.site != site || !f.is_valid() {
            continue;
        }
        let slot = fetch::slot_size(&f);
        let dst = &mut out[used..used + slot];
        dst.fill(0);
        if fetch::run(&f, regs, task, &mut read_kernel, dst) {
            ok |= 1 << count;
        }
        used += slot;
        count += 1;
    }
    if count == 0 {
        return 0;
    }
    let trailer = Trailer {
        ok,
        count: count as u32,
        bytes: used as u32,
    };
    out[used..used + TRAILER_SIZE].copy_from_slice(&trailer.to_bytes());
    used + TRAILER_SIZE
}
