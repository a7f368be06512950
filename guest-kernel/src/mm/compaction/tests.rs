//! The scanners on a simulated zone: frames that are free, movable (carrying a value that
//! must survive the move), pinned (movable, but migration fails) or the kernel's own.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Frame {
    Free,
    FreeIsolated,
    Movable(u32),
    Isolated(u32),
    Pinned,
    PinnedIsolated,
    Unmovable,
}

struct SimZone {
    frames: Vec<Frame>,
    moves: Vec<(u64, u64)>,
}

impl SimZone {
    fn new(frames: Vec<Frame>) -> Self {
        SimZone {
            frames,
            moves: Vec::new(),
        }
    }

    fn values(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .frames
            .iter()
            .filter_map(|f| match f {
                Frame::Movable(x) => Some(*x),
                _ => None,
            })
            .collect();
        v.sort();
        v
    }
}

impl CompactEnv for SimZone {
    fn isolate_migrate(&mut self, pfn: u64) -> Scan {
        let f = &mut self.frames[pfn as usize];
        *f = match *f {
            Frame::Movable(x) => Frame::Isolated(x),
            Frame::Pinned => Frame::PinnedIsolated,
            _ => return Scan::NEXT,
        };
        Scan {
            advance: 1,
            isolated: 1,
        }
    }

    fn isolate_free(&mut self, pfn: u64, list: &mut Vec<u64>) -> Scan {
        let f = &mut self.frames[pfn as usize];
        if *f != Frame::Free {
            return Scan::NEXT;
        }
        *f = Frame::FreeIsolated;
        list.push(pfn);
        Scan {
            advance: 1,
            isolated: 1,
        }
    }

    fn migrate(&mut self, from: u64, to: u64) -> bool {
        let Frame::Isolated(x) = self.frames[from as usize] else {
            return false;
        };
        assert_eq!(self.frames[to as usize], Frame::FreeIsolated);
        self.frames[to as usize] = Frame::Movable(x);
        self.frames[from as usize] = Frame::Free;
        self.moves.push((from, to));
        true
    }

    fn putback(&mut self, pfn: u64) {
        let f = &mut self.frames[pfn as usize];
        *f = match *f {
            Frame::Isolated(x) => Frame::Movable(x),
            Frame::PinnedIsolated => Frame::Pinned,
            other => panic!("putback of {other:?} at {pfn}"),
        };
    }

    fn release_free(&mut self, pfn: u64) {
        assert_eq!(self.frames[pfn as usize], Frame::FreeIsolated);
        self.frames[pfn as usize] = Frame::Free;
    }

    fn free_block(&mut self, order: usize) -> bool {
        self.frames
            .chunks(1 << order)
            .any(|c| c.iter().all(|f| *f == Frame::Free))
    }
}

const PB: usize = PAGEBLOCK_NR_PAGES as usize;

/// `blocks` pageblocks with a movable page on every other frame.
fn checkerboard(blocks: usize) -> SimZone {
    SimZone::new(
        (0..blocks * PB)
            .map(|i| {
                if i % 2 == 0 {
                    Frame::Movable(i as u32)
                } else {
                    Frame::Free
                }
            })
            .collect(),
    )
}

fn no_isolated_left(z: &SimZone) -> bool {
    z.frames.iter().all(|f| {
        !matches!(
            f,
            Frame::FreeIsolated | Frame::Isolated(_) | Frame::PinnedIsolated
        )
    })
}

#[test]
fn a_checkerboard_compacts_into_a_free_pageblock() {
    let mut z = checkerboard(4);
    let before = z.values();
    assert!(!z.free_block(1));
    let mut cc = CompactControl::new(0, 4 * PB as u64, Some(PAGEBLOCK_ORDER));
    assert_eq!(compact_zone(&mut z, &mut cc), CompactResult::Success);
    assert!(z.free_block(PAGEBLOCK_ORDER));
    assert_eq!(z.values(), before, "every value survives its move");
    assert!(no_isolated_left(&z));
    // Pages only ever move up, into the free scanner's blocks.
    assert!(z.moves.iter().all(|&(from, to)| to > from));
    // A pageblock's 256 pages, moved in batches of at most COMPACT_CLUSTER_MAX.
    assert_eq!(cc.nr_migrated, 256);
    assert!(cc.nr_migrate_scanned >= 511 && cc.nr_free_scanned > 0);
    assert_eq!(cc.nr_isolated, 2 * 256);
}

#[test]
fn the_whole_zone_is_compacted_until_the_scanners_meet() {
    let mut z = checkerboard(8);
    let before = z.values();
    let mut cc = CompactControl::new(0, 8 * PB as u64, None);
    assert_eq!(compact_zone(&mut z, &mut cc), CompactResult::Complete);
    assert_eq!(z.values(), before);
    assert!(no_isolated_left(&z));
    // Half the frames hold pages: the lower half of the zone is free in whole pageblocks.
    let free_blocks = z
        .frames
        .chunks(PB)
        .filter(|c| c.iter().all(|f| *f == Frame::Free))
        .count();
    assert!(free_blocks >= 3, "{free_blocks} free pageblocks");
    assert!(cc.scanners_met());
}

#[test]
fn unmovable_and_pinned_pages_stay_and_nothing_is_lost() {
    let mut z = checkerboard(4);
    for b in 0..4 {
        z.frames[b * PB + 100] = Frame::Unmovable;
        z.frames[b * PB + 200] = Frame::Pinned;
    }
    let before = z.values();
    let mut cc = CompactControl::new(0, 4 * PB as u64, Some(PAGEBLOCK_ORDER));
    // Every pageblock keeps a page the scanners cannot move: no order-9 block ever.
    assert_eq!(compact_zone(&mut z, &mut cc), CompactResult::Complete);
    assert!(!z.free_block(PAGEBLOCK_ORDER));
    assert_eq!(z.values(), before);
    assert!(no_isolated_left(&z));
    for b in 0..4 {
        assert_eq!(z.frames[b * PB + 100], Frame::Unmovable);
        assert_eq!(z.frames[b * PB + 200], Frame::Pinned);
    }
    assert!(cc.nr_failed >= 2);
}

#[test]
fn a_full_zone_puts_its_isolated_pages_back() {
    // No free frame above the first pageblock: nothing can move.
    let mut frames = vec![Frame::Unmovable; 3 * PB];
    frames[..PB].fill(Frame::Movable(7));
    let mut z = SimZone::new(frames);
    let mut cc = CompactControl::new(0, 3 * PB as u64, Some(3));
    assert_eq!(compact_zone(&mut z, &mut cc), CompactResult::Complete);
    assert!(z.frames[..PB].iter().all(|f| *f == Frame::Movable(7)));
    assert!(z.moves.is_empty());
}

#[test]
fn a_zone_that_already_has_the_block_is_left_alone() {
    let mut z = checkerboard(2);
    z.frames[PB..].fill(Frame::Free);
    let mut cc = CompactControl::new(0, 2 * PB as u64, Some(PAGEBLOCK_ORDER));
    assert_eq!(compact_zone(&mut z, &mut cc), CompactResult::Success);
    assert_eq!(cc.nr_migrate_scanned, 0);
}

#[test]
fn failures_back_off_exponentially_and_success_resets() {
    let mut d = Deferral::new();
    assert!(!d.deferred(4));
    d.defer(4);
    // Shift 1: one attempt in two.
    assert!(d.deferred(4));
    assert!(!d.deferred(4));
    d.defer(4);
    d.defer(4);
    // Shift 3: seven skipped, then one tried.
    assert_eq!((0..8).filter(|_| d.deferred(4)).count(), 7);
    // Lower orders than the one that failed are never put off.
    assert!(!d.deferred(2));
    d.reset(4);
    assert!(!d.deferred(4));
    for _ in 0..20 {
        d.defer(9);
    }
    assert_eq!((0..64).filter(|_| d.deferred(9)).count(), 63);
}
