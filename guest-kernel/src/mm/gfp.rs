//! Allocation flags (Linux's include/linux/gfp_types.h, same bit values): what an allocation
//! may do to get its memory — sleep and reclaim, wake `kswapd0`, dip into the reserves below
//! the min watermark — which zones it may come from, and whether it must be zeroed.
//!
//! Call sites name the Linux combination that says what they are: `GFP_KERNEL` for kernel
//! memory in process context (may reclaim, and if that fails, kill), `GFP_ATOMIC` where
//! nothing may sleep (interrupts, under spinlocks: the kernel heap), `GFP_HIGHUSER_MOVABLE`
//! for user pages, `| __GFP_ZERO` for zeroed memory.

#![deny(unsafe_code)]

use core::ops::{BitAnd, BitOr};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Gfp(pub u32);

pub const __GFP_DMA: Gfp = Gfp(0x01);
pub const __GFP_HIGHMEM: Gfp = Gfp(0x02);
pub const __GFP_DMA32: Gfp = Gfp(0x04);
pub const __GFP_MOVABLE: Gfp = Gfp(0x08);
/// May use part of the reserve below the min watermark (ALLOC_HIGH: half of it).
pub const __GFP_HIGH: Gfp = Gfp(0x20);
pub const __GFP_IO: Gfp = Gfp(0x40);
pub const __GFP_FS: Gfp = Gfp(0x80);
pub const __GFP_ZERO: Gfp = Gfp(0x100);
/// Cannot sleep or reclaim: may use a further quarter of the reserve (ALLOC_HARDER).
pub const __GFP_ATOMIC: Gfp = Gfp(0x200);
/// May reclaim itself (`try_to_free_pages`) and, failing that, call the OOM killer.
pub const __GFP_DIRECT_RECLAIM: Gfp = Gfp(0x400);
/// Wakes `kswapd0` when a zone falls below its low watermark.
pub const __GFP_KSWAPD_RECLAIM: Gfp = Gfp(0x800);
pub const __GFP_NOWARN: Gfp = Gfp(0x2000);
/// Reclaim, but fail rather than call the OOM killer.
pub const __GFP_NORETRY: Gfp = Gfp(0x10000);
pub const __GFP_NOMEMALLOC: Gfp = Gfp(0x80000);
pub const __GFP_HARDWALL: Gfp = Gfp(0x100000);

pub const __GFP_RECLAIM: Gfp = Gfp(__GFP_DIRECT_RECLAIM.0 | __GFP_KSWAPD_RECLAIM.0);
pub const GFP_ATOMIC: Gfp = Gfp(__GFP_HIGH.0 | __GFP_ATOMIC.0 | __GFP_KSWAPD_RECLAIM.0);
pub const GFP_KERNEL: Gfp = Gfp(__GFP_RECLAIM.0 | __GFP_IO.0 | __GFP_FS.0);
pub const GFP_USER: Gfp = Gfp(GFP_KERNEL.0 | __GFP_HARDWALL.0);
pub const GFP_HIGHUSER_MOVABLE: Gfp = Gfp(GFP_USER.0 | __GFP_HIGHMEM.0 | __GFP_MOVABLE.0);

impl BitOr for Gfp {
    type Output = Gfp;
    fn bitor(self, o: Gfp) -> Gfp {
        Gfp(self.0 | o.0)
    }
}

impl BitAnd for Gfp {
    type Output = Gfp;
    fn bitand(self, o: Gfp) -> Gfp {
        Gfp(self.0 & o.0)
    }
}

impl Gfp {
    pub const fn has(self, f: Gfp) -> bool {
        self.0 & f.0 != 0
    }

    /// Linux's `gfpflags_allow_blocking`.
    pub const fn allow_blocking(self) -> bool {
        self.has(__GFP_DIRECT_RECLAIM)
    }
}

/// Zones, lowest first (Linux's `zone_type` on x86_64 without ZONE_DMA: no ISA devices here;
/// no ZONE_MOVABLE: movablecore= is not supported).
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
#[repr(usize)]
pub enum ZoneType {
    /// Below 4 GiB: all of a small guest's memory, and what 32-bit DMA can reach.
    Dma32,
    /// 4 GiB and up.
    Normal,
}
pub const MAX_NR_ZONES: usize = 2;

/// The highest zone an allocation may use (Linux's `gfp_zone`): DMA-capable requests stay
/// below 4 GiB; everything else, user pages included (no highmem on 64-bit), may use Normal.
pub fn gfp_zone(gfp: Gfp) -> ZoneType {
    if gfp.has(__GFP_DMA | __GFP_DMA32) {
        ZoneType::Dma32
    } else {
        ZoneType::Normal
    }
}

// Allocator-internal flags (mm/internal.h).
pub const ALLOC_WMARK_MIN: u32 = 0;
pub const ALLOC_WMARK_LOW: u32 = 1;
pub const ALLOC_NO_WATERMARKS: u32 = 0x04;
pub const ALLOC_WMARK_MASK: u32 = ALLOC_NO_WATERMARKS - 1;
/// An OOM victim on its way out: may use more of the reserve.
pub const ALLOC_OOM: u32 = 0x08;
pub const ALLOC_HARDER: u32 = 0x10;
/// Same value as __GFP_HIGH, as in Linux, so the flag carries straight over.
pub const ALLOC_HIGH: u32 = 0x20;

/// The slow path's flags for `gfp` (Linux's `gfp_to_alloc_flags`): the min watermark,
/// lowered for __GFP_HIGH and __GFP_ATOMIC.
pub fn gfp_to_alloc_flags(gfp: Gfp) -> u32 {
    let mut flags = ALLOC_WMARK_MIN | (gfp.0 & __GFP_HIGH.0);
    if gfp.has(__GFP_ATOMIC) && !gfp.has(__GFP_NOMEMALLOC) {
        flags |= ALLOC_HARDER;
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combinations_have_linux_values() {
        assert_eq!(GFP_KERNEL.0, 0xcc0);
        assert_eq!(GFP_ATOMIC.0, 0xa20);
        assert_eq!(GFP_HIGHUSER_MOVABLE.0, 0x100cca);
    }

    #[test]
    fn zone_and_alloc_flags() {
        assert_eq!(gfp_zone(GFP_KERNEL), ZoneType::Normal);
        assert_eq!(gfp_zone(GFP_HIGHUSER_MOVABLE), ZoneType::Normal);
        assert_eq!(gfp_zone(GFP_KERNEL | __GFP_DMA32), ZoneType::Dma32);
        assert_eq!(gfp_to_alloc_flags(GFP_KERNEL), ALLOC_WMARK_MIN);
        assert_eq!(gfp_to_alloc_flags(GFP_ATOMIC), ALLOC_HIGH | ALLOC_HARDER);
    }
}
