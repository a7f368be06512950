//! Boot-time memory map handling (Linux's memblock, reduced to what boot needs).
//!
//! Turns the firmware memory map (PVH/E820 entries) and the ranges the kernel must keep (low
//! 1 MiB, the kernel image, the initramfs, boot structures) into page-aligned usable ranges
//! for the buddy allocator.

pub const E820_RAM: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub start: u64,
    pub end: u64,
}

pub const MAX_REGIONS: usize = 32;

/// A fixed-capacity set of sorted, non-overlapping regions (no heap this early).
#[derive(Clone, Copy)]
pub struct RegionSet {
    regions: [Region; MAX_REGIONS],
    len: usize,
}

impl Default for RegionSet {
    fn default() -> Self {
        Self::new()
    }
}

impl RegionSet {
    pub const fn new() -> Self {
        RegionSet {
            regions: [Region { start: 0, end: 0 }; MAX_REGIONS],
            len: 0,
        }
    }

    pub fn as_slice(&self) -> &[Region] {
        &self.regions[..self.len]
    }

    #[cfg(test)]
    pub fn total(&self) -> u64 {
        self.as_slice().iter().map(|r| r.end - r.start).sum()
    }

    /// Add a region, merging with neighbours; silently drops it if the set is full.
    pub fn add(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let (mut start, mut end) = (start, end);
        let mut out = RegionSet::new();
        let mut placed = false;
        for r in self.as_slice() {
            if r.end < start {
                out.push(*r);
            } else if r.start > end {
                if !placed {
                    out.push(Region { start, end });
                    placed = true;
                }
                out.push(*r);
            } else {
                start = start.min(r.start);
                end = end.max(r.end);
            }
        }
        if !placed {
            out.push(Region { start, end });
        }
        *self = out;
    }

    /// Remove `[start, end)` from every region, splitting where needed.
    pub fn remove(&mut self, start: u64, end: u64) {
        let mut out = RegionSet::new();
        for r in self.as_slice() {
            if r.end <= start || r.start >= end {
                out.push(*r);
                continue;
            }
            if r.start < start {
                out.push(Region {
                    start: r.start,
                    end: start,
                });
            }
            if r.end > end {
                out.push(Region {
                    start: end,
                    end: r.end,
                });
            }
        }
        *self = out;
    }

    fn push(&mut self, r: Region) {
        if self.len < MAX_REGIONS {
            self.regions[self.len] = r;
            self.len += 1;
        }
    }

    /// Shrink every region to whole pages.
    pub fn page_align(&mut self, page: u64) {
        let mut out = RegionSet::new();
        for r in self.as_slice() {
            let Some(start) = r.start.checked_add(page - 1).map(|s| s & !(page - 1)) else {
                continue;
            };
            let end = r.end & !(page - 1);
            if start < end {
                out.push(Region { start, end });
            }
        }
        *self = out;
    }

    /// Take `size` bytes aligned to `align` from the lowest region that fits (early boot).
    pub fn take(&mut self, size: u64, align: u64) -> Option<u64> {
        let found = self.as_slice().iter().find_map(|r| {
            let start = r.start.checked_add(align - 1)? & !(align - 1);
            (start.checked_add(size)? <= r.end).then_some(start)
        })?;
        self.remove(found, found + size);
        Some(found)
    }
}

/// Usable RAM: the RAM entries of the map, minus the reserved ranges, in whole pages.
pub fn usable_ram(map: &[(u64, u64, u32)], reserved: &[(u64, u64)]) -> RegionSet {
    let mut set = RegionSet::new();
    for &(addr, size, kind) in map {
        if kind == E820_RAM {
            set.add(addr, addr.saturating_add(size));
        }
    }
    for &(start, end) in reserved {
        set.remove(start, end);
    }
    set.page_align(4096);
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_ranges_are_cut_out_and_pages_aligned() {
        let map = [
            (0, 0x9fc00, 1),
            (0x9fc00, 0x60400, 2),
            (0x100000, 0xff00000, 1),
        ];
        let set = usable_ram(
            &map,
            &[(0, 0x100000), (0x100000, 0x345678), (0x8000000, 0x8100000)],
        );
        assert_eq!(
            set.as_slice(),
            &[
                Region {
                    start: 0x346000,
                    end: 0x8000000
                },
                Region {
                    start: 0x8100000,
                    end: 0x10000000
                }
            ]
        );
    }

    #[test]
    fn overlapping_ram_entries_merge_and_other_types_are_ignored() {
        let map = [
            (0x100000, 0x200000, 1),
            (0x200000, 0x200000, 1),
            (0x500000, 0x1000, 3),
        ];
        let set = usable_ram(&map, &[]);
        assert_eq!(
            set.as_slice(),
            &[Region {
                start: 0x100000,
                end: 0x400000
            }]
        );
        assert_eq!(set.total(), 0x300000);
    }

    #[test]
    fn take_returns_aligned_memory_and_removes_it() {
        let mut set = RegionSet::new();
        set.add(0x1000, 0x10000);
        let a = set.take(0x2000, 0x4000).unwrap();
        assert_eq!(a, 0x4000);
        assert_eq!(
            set.as_slice(),
            &[
                Region {
                    start: 0x1000,
                    end: 0x4000
                },
                Region {
                    start: 0x6000,
                    end: 0x10000
                }
            ]
        );
        assert_eq!(set.take(0x100000, 0x1000), None);
    }

    #[test]
    fn hostile_map_entries_do_not_overflow() {
        let set = usable_ram(&[(u64::MAX - 10, 100, 1)], &[]);
        assert_eq!(set.total(), 0);
    }
}
