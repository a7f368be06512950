//! Zones and their watermarks: the arithmetic of Linux's mm/page_alloc.c, kept pure so the
//! host tests run it.
//!
//! - `min_free_kbytes` = sqrt(16 × lowmem kB), clamped to 128 kB .. 256 MiB
//!   (`calculate_min_free_kbytes`), shared out to the zones by their size.
//! - Each zone's min is its share; low and high lie a step above it, the step being a quarter
//!   of min or `watermark_scale_factor` (10 = 0.1%) of the zone, whichever is more
//!   (`__setup_per_zone_wmarks`).
//! - A lower zone keeps `lowmem_reserve` pages back from allocations that could have used a
//!   higher one (`setup_per_zone_lowmem_reserve`, ratio 256).
//! - An allocation may take a page from a zone while what stays free is above the watermark
//!   its flags name, lowered for __GFP_HIGH and __GFP_ATOMIC (`__zone_watermark_ok`).
//!
//! Below low, `kswapd0` is woken; below min, allocations that may sleep reclaim themselves.

#![deny(unsafe_code)]

use alloc::string::String;
use core::fmt::Write;

use super::gfp::{ZoneType, ALLOC_HARDER, ALLOC_HIGH, ALLOC_OOM, MAX_NR_ZONES};

pub const WMARK_MIN: usize = 0;
pub const WMARK_LOW: usize = 1;
pub const WMARK_HIGH: usize = 2;

/// `/proc/sys/vm/watermark_scale_factor`'s default, in 1/10000 of a zone.
pub const WATERMARK_SCALE_FACTOR: u64 = 10;
/// `sysctl_lowmem_reserve_ratio` of DMA32 (and of Normal, which nothing is above).
const LOWMEM_RESERVE_RATIO: u64 = 256;

pub fn zone_name(z: ZoneType) -> &'static str {
    match z {
        ZoneType::Dma32 => "DMA32",
        ZoneType::Normal => "Normal",
    }
}

/// Linux's `calculate_min_free_kbytes` for `lowmem_kbytes` of memory in the zones.
pub fn calculate_min_free_kbytes(lowmem_kbytes: u64) -> u64 {
    (lowmem_kbytes * 16).isqrt().clamp(128, 262_144)
}

/// Watermarks `[min, low, high]` of each zone from its managed pages (`__setup_per_zone_wmarks`).
pub fn setup_per_zone_wmarks(
    managed: &[u64; MAX_NR_ZONES],
    min_free_kbytes: u64,
) -> [[u64; 3]; MAX_NR_ZONES] {
    let pages_min = min_free_kbytes >> 2;
    let lowmem_pages: u64 = managed.iter().sum();
    let mut marks = [[0; 3]; MAX_NR_ZONES];
    for (m, &zone) in marks.iter_mut().zip(managed) {
        if lowmem_pages == 0 {
            break;
        }
        let min = pages_min * zone / lowmem_pages;
        let step = (min >> 2).max(zone * WATERMARK_SCALE_FACTOR / 10_000);
        *m = [min, min + step, min + 2 * step];
    }
    marks
}

/// Each zone's reserve against allocations whose highest allowed zone is the index
/// (`setup_per_zone_lowmem_reserve`): the pages of the zones above it, over the ratio.
pub fn setup_per_zone_lowmem_reserve(
    managed: &[u64; MAX_NR_ZONES],
) -> [[u64; MAX_NR_ZONES]; MAX_NR_ZONES] {
    let mut reserve = [[0; MAX_NR_ZONES]; MAX_NR_ZONES];
    for (i, r) in reserve.iter_mut().enumerate() {
        let mut above = 0;
        for j in i + 1..MAX_NR_ZONES {
            above += managed[j];
            r[j] = above / LOWMEM_RESERVE_RATIO;
        }
    }
    reserve
}

/// May an allocation of 2^order pages leave a zone with `free` free pages? (Linux's
/// `__zone_watermark_ok`; whether a free block of that order exists is the buddy's to say.)
pub fn zone_watermark_ok(
    free: u64,
    order: usize,
    mark: u64,
    reserve: u64,
    alloc_flags: u32,
) -> bool {
    let free = free as i64 - ((1i64 << order) - 1);
    let mut min = mark as i64;
    if alloc_flags & ALLOC_HIGH != 0 {
        min -= min / 2;
    }
    if alloc_flags & ALLOC_OOM != 0 {
        min -= min / 2;
    } else if alloc_flags & ALLOC_HARDER != 0 {
        min -= min / 4;
    }
    free > min + reserve as i64
}

/// One zone as `/proc/zoneinfo` shows it.
pub struct ZoneInfo {
    pub zone: ZoneType,
    pub free: u64,
    pub marks: [u64; 3],
    pub spanned: u64,
    pub present: u64,
    pub managed: u64,
    pub protection: [u64; MAX_NR_ZONES],
    pub start_pfn: u64,
    /// Each CPU's per-CPU list: (count, high, batch).
    pub pagesets: alloc::vec::Vec<(u64, u64, u64)>,
    pub stat_threshold: i64,
}

/// `/proc/zoneinfo` (mm/vmstat.c `zoneinfo_show_print`), the per-zone part; empty zones
/// stop after their protection line, as in Linux.
pub fn render_zoneinfo(zones: &[ZoneInfo], out: &mut String) {
    for z in zones {
        let _ = writeln!(out, "Node 0, zone {:>8}", zone_name(z.zone));
        let _ = write!(
            out,
            "  pages free     {}\n        boost    0\n        min      {}\n        low      {}\n        high     {}\n        spanned  {}\n        present  {}\n        managed  {}\n        cma      0",
            z.free, z.marks[0], z.marks[1], z.marks[2], z.spanned, z.present, z.managed
        );
        let _ = write!(out, "\n        protection: (");
        for (i, p) in z
            .protection
            .iter()
            .chain(&[p_last(&z.protection)])
            .enumerate()
        {
            let _ = write!(out, "{}{p}", if i > 0 { ", " } else { "" });
        }
        let _ = writeln!(out, ")");
        if z.managed == 0 {
            continue;
        }
        let _ = writeln!(out, "      nr_free_pages {}", z.free);
        let _ = writeln!(out, "  pagesets");
        for (cpu, (count, high, batch)) in z.pagesets.iter().enumerate() {
            let _ = writeln!(
                out,
                "    cpu: {cpu}\n              count: {count}\n              high:  {high}\n              batch: {batch}\n  vm stats threshold: {}",
                z.stat_threshold
            );
        }
        let _ = writeln!(
            out,
            "  node_unreclaimable:  0\n  start_pfn:           {}",
            z.start_pfn
        );
    }
}

/// Linux prints ZONE_MOVABLE's column too; it has the highest zone's reserve.
fn p_last(p: &[u64; MAX_NR_ZONES]) -> u64 {
    p[MAX_NR_ZONES - 1]
}

/// `/proc/buddyinfo`: free blocks of each order per zone.
pub fn render_buddyinfo(zones: &[(ZoneType, [u64; 11])], out: &mut String) {
    for (zone, counts) in zones {
        let _ = write!(out, "Node 0, zone {:>8} ", zone_name(*zone));
        for c in counts {
            let _ = write!(out, "{c:>6} ");
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_free_kbytes_follows_linux() {
        // 256 MiB of lowmem: sqrt(262144 * 16) = 2048 kB.
        assert_eq!(calculate_min_free_kbytes(262_144), 2048);
        assert_eq!(calculate_min_free_kbytes(1024), 128);
        assert_eq!(calculate_min_free_kbytes(1 << 40), 262_144);
        // 16 GiB: sqrt(16 Mi kB * 16) = 16384 kB.
        assert_eq!(calculate_min_free_kbytes(16 << 20), 16_384);
    }

    #[test]
    fn watermarks_are_shared_by_size_with_a_quarter_min_step() {
        // A 256 MiB guest: everything in DMA32.
        let managed = [64_000, 0];
        let m = setup_per_zone_wmarks(&managed, calculate_min_free_kbytes(256_000));
        let min = 2023 / 4;
        assert_eq!(m[0], [min, min + min / 4, min + 2 * (min / 4)]);
        assert_eq!(m[1], [0, 0, 0]);
        // 8 GiB split 3.5 : 4.5: the scale factor step (0.1%) beats min/4 in the big zone.
        let managed = [917_504, 1_179_648];
        let m = setup_per_zone_wmarks(&managed, 11_585);
        let pages_min = 11_585 / 4;
        let total = 917_504 + 1_179_648;
        assert_eq!(m[0][WMARK_MIN], pages_min * 917_504 / total);
        assert_eq!(m[1][WMARK_MIN], pages_min * 1_179_648 / total);
        assert_eq!(m[1][WMARK_LOW] - m[1][WMARK_MIN], 1179);
        assert_eq!(m[1][WMARK_HIGH] - m[1][WMARK_LOW], 1179);
    }

    #[test]
    fn lower_zones_hold_back_from_higher_allocations() {
        let r = setup_per_zone_lowmem_reserve(&[917_504, 1_179_648]);
        assert_eq!(r[0], [0, 1_179_648 / 256]);
        assert_eq!(r[1], [0, 0]);
    }

    #[test]
    fn watermark_check_lowers_min_for_high_and_atomic() {
        let min = 400;
        assert!(zone_watermark_ok(401, 0, min, 0, 0));
        assert!(!zone_watermark_ok(400, 0, min, 0, 0));
        // An order-2 block counts three pages against the zone first.
        assert!(!zone_watermark_ok(403, 2, min, 0, 0));
        assert!(zone_watermark_ok(404, 2, min, 0, 0));
        // __GFP_HIGH: half the reserve; plus __GFP_ATOMIC: a quarter of the rest.
        assert!(zone_watermark_ok(201, 0, min, 0, ALLOC_HIGH));
        assert!(!zone_watermark_ok(200, 0, min, 0, ALLOC_HIGH));
        assert!(zone_watermark_ok(151, 0, min, 0, ALLOC_HIGH | ALLOC_HARDER));
        assert!(!zone_watermark_ok(
            150,
            0,
            min,
            0,
            ALLOC_HIGH | ALLOC_HARDER
        ));
        // The lowmem reserve adds to whatever mark is asked for.
        assert!(!zone_watermark_ok(450, 0, min, 100, 0));
    }

    #[test]
    fn zoneinfo_has_linux_lines() {
        let z = ZoneInfo {
            zone: ZoneType::Dma32,
            free: 1000,
            marks: [505, 631, 757],
            spanned: 65_280,
            present: 65_280,
            managed: 63_000,
            protection: [0, 0],
            start_pfn: 256,
            pagesets: alloc::vec![(5, 64, 16)],
            stat_threshold: 12,
        };
        let mut s = String::new();
        render_zoneinfo(&[z], &mut s);
        assert!(s.starts_with("Node 0, zone    DMA32\n  pages free     1000\n"));
        assert!(s.contains("\n        min      505\n        low      631\n        high     757\n"));
        assert!(s.contains("\n        protection: (0, 0, 0)\n"));
        assert!(s.contains("\n    cpu: 0\n              count: 5\n"));
        assert!(s.ends_with("  start_pfn:           256\n"));
        let mut b = String::new();
        render_buddyinfo(
            &[(ZoneType::Dma32, [1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 30])],
            &mut b,
        );
        assert_eq!(
            b,
            "Node 0, zone    DMA32      1      0      2      0      0      0      0      0      0      0     30 \n"
        );
    }
}
