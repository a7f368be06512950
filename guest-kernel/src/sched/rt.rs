//! The real-time scheduling class (Linux's kernel/sched/rt.c), as pure logic.
//!
//! One FIFO list per priority (1..=99, higher runs first) and a bitmap of non-empty lists, so
//! picking the next task is a find-first-set. SCHED_FIFO runs until it blocks or yields;
//! SCHED_RR additionally goes to the tail of its list when its 100 ms slice is used up.

use alloc::collections::VecDeque;

pub const MAX_RT_PRIO: usize = 100;
/// `sched_rr_timeslice_ms`.
pub const RR_TIMESLICE_NS: u64 = 100_000_000;

pub struct RtRq<T> {
    queues: [VecDeque<T>; MAX_RT_PRIO],
    /// Bit p set when queue p is non-empty.
    bitmap: u128,
}

impl<T> Default for RtRq<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> RtRq<T> {
    pub const fn new() -> Self {
        RtRq {
            queues: [const { VecDeque::new() }; MAX_RT_PRIO],
            bitmap: 0,
        }
    }

    /// Queue at the tail (or the head, for a preempted task that keeps its place).
    pub fn enqueue(&mut self, prio: u32, item: T, head: bool) {
        let p = (prio as usize).min(MAX_RT_PRIO - 1);
        if head {
            self.queues[p].push_front(item);
        } else {
            self.queues[p].push_back(item);
        }
        self.bitmap |= 1 << p;
    }

    /// Remove the first queued item of priority `prio` matching `is`.
    pub fn dequeue(&mut self, prio: u32, is: impl Fn(&T) -> bool) -> Option<T> {
        let p = (prio as usize).min(MAX_RT_PRIO - 1);
        let idx = self.queues[p].iter().position(is)?;
        let item = self.queues[p].remove(idx);
        if self.queues[p].is_empty() {
            self.bitmap &= !(1 << p);
        }
        item
    }

    /// The highest priority with a queued task.
    pub fn highest_prio(&self) -> Option<u32> {
        (self.bitmap != 0).then(|| 127 - self.bitmap.leading_zeros())
    }

    /// Take the first task of the highest priority.
    pub fn pop_first(&mut self) -> Option<(u32, T)> {
        let p = self.highest_prio()?;
        let item = self.queues[p as usize].pop_front()?;
        if self.queues[p as usize].is_empty() {
            self.bitmap &= !(1 << p);
        }
        Some((p, item))
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.queues.iter().rev().flat_map(|q| q.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highest_priority_first_fifo_within() {
        let mut rq = RtRq::new();
        rq.enqueue(10, "a", false);
        rq.enqueue(50, "b", false);
        rq.enqueue(50, "c", false);
        rq.enqueue(99, "d", false);
        rq.enqueue(50, "e", true);
        let order: alloc::vec::Vec<_> = core::iter::from_fn(|| rq.pop_first()).collect();
        assert_eq!(
            order,
            [(99, "d"), (50, "e"), (50, "b"), (50, "c"), (10, "a")]
        );
        assert_eq!(rq.highest_prio(), None);
    }

    #[test]
    fn dequeue_clears_bitmap() {
        let mut rq = RtRq::new();
        rq.enqueue(1, 7, false);
        assert_eq!(rq.highest_prio(), Some(1));
        assert_eq!(rq.dequeue(1, |&x| x == 7), Some(7));
        assert_eq!(rq.highest_prio(), None);
        assert_eq!(rq.dequeue(1, |&x| x == 7), None);
    }
}
