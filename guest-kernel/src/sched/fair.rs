//! The completely fair scheduling class (CFS, Linux's kernel/sched/fair.c), as pure logic.
//!
//! Each entity accumulates *virtual* runtime: real runtime scaled by NICE_0_LOAD / weight, so a
//! heavier (lower nice) task's clock runs slower and it gets proportionally more CPU. The run
//! queue is ordered by vruntime; the leftmost entity runs next. The running entity is kept out
//! of the tree (as Linux does with `set_next_entity`) and put back when it stops running.
//!
//! - `sched_period` = max(latency, nr_running × min_granularity); an entity's slice is its
//!   weight's share of the period; the tick preempts an entity that has used its slice.
//! - A woken entity is placed no earlier than min_vruntime − latency/2 (GENTLE_FAIR_SLEEPERS),
//!   so a long sleeper gets a bounded bonus and cannot starve the others; a new one starts at
//!   min_vruntime + its vslice (START_DEBIT), so forking doesn't buy CPU.
//! - A waking entity preempts the current one if it is behind by more than the wake-up
//!   granularity (scaled to the current entity's weight).

use alloc::collections::BTreeMap;
use core::sync::atomic::{AtomicU64, Ordering};

pub const NICE_0_LOAD: u64 = 1024;

/// Linux's `sched_prio_to_weight`: nice -20 .. 19. Each nice step is ~10 % CPU.
pub const SCHED_PRIO_TO_WEIGHT: [u64; 40] = [
    88761, 71755, 56483, 46273, 36291, 29154, 23254, 18705, 14949, 11916, 9548, 7620, 6100, 4904,
    3906, 3121, 2501, 1991, 1586, 1277, 1024, 820, 655, 526, 423, 335, 272, 215, 172, 137, 110, 87,
    70, 56, 45, 36, 29, 23, 18, 15,
];

/// Weight of SCHED_IDLE entities (Linux's WEIGHT_IDLEPRIO).
pub const WEIGHT_IDLEPRIO: u64 = 3;

/// `/proc/sys/kernel/sched_latency_ns` and friends (Linux's defaults for one CPU).
pub static SYSCTL_SCHED_LATENCY: AtomicU64 = AtomicU64::new(6_000_000);
pub static SYSCTL_SCHED_MIN_GRANULARITY: AtomicU64 = AtomicU64::new(750_000);
pub static SYSCTL_SCHED_WAKEUP_GRANULARITY: AtomicU64 = AtomicU64::new(1_000_000);

pub fn nice_to_weight(nice: i32) -> u64 {
    SCHED_PRIO_TO_WEIGHT[(nice.clamp(-20, 19) + 20) as usize]
}

/// Real time `delta` as virtual time for an entity of `weight`.
pub fn calc_delta_fair(delta: u64, weight: u64) -> u64 {
    if weight == NICE_0_LOAD {
        return delta;
    }
    ((delta as u128 * NICE_0_LOAD as u128) / weight.max(1) as u128) as u64
}

/// The period in which every runnable entity should run once.
pub fn sched_period(nr_running: u64) -> u64 {
    let latency = SYSCTL_SCHED_LATENCY.load(Ordering::Relaxed);
    let min_gran = SYSCTL_SCHED_MIN_GRANULARITY.load(Ordering::Relaxed);
    if nr_running > latency / min_gran.max(1) {
        nr_running * min_gran
    } else {
        latency
    }
}

/// The fair-class state of one entity.
#[derive(Clone, Copy, Debug, Default)]
pub struct FairEntity {
    pub vruntime: u64,
    pub weight: u64,
    /// Total runtime, and its value when the entity last started running.
    pub sum_exec_runtime: u64,
    pub prev_sum_exec_runtime: u64,
}

impl FairEntity {
    pub fn new(weight: u64) -> Self {
        FairEntity {
            weight,
            ..Default::default()
        }
    }
}

/// A CFS run queue of entities identified by `K` (unique, e.g. a pid) carrying `T`.
pub struct CfsRq<K: Ord + Copy, T> {
    tree: BTreeMap<(u64, K), T>,
    /// Monotonic floor of the runnable entities' vruntime.
    pub min_vruntime: u64,
    /// Sum of the weights of queued entities plus the running one (if fair).
    pub load: u64,
    pub nr_running: u64,
}

impl<K: Ord + Copy, T> Default for CfsRq<K, T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Ord + Copy, T> CfsRq<K, T> {
    pub const fn new() -> Self {
        CfsRq {
            tree: BTreeMap::new(),
            min_vruntime: 0,
            load: 0,
            nr_running: 0,
        }
    }

    /// Queue a runnable entity that is not running.
    pub fn enqueue(&mut self, se: &FairEntity, key: K, item: T) {
        self.tree.insert((se.vruntime, key), item);
    }

    /// Take an entity out of the tree (it starts running, sleeps or migrates).
    pub fn dequeue(&mut self, se: &FairEntity, key: K) -> Option<T> {
        self.tree.remove(&(se.vruntime, key))
    }

    /// The entity with the smallest vruntime.
    pub fn pick_first(&self) -> Option<(u64, K)> {
        self.tree.keys().next().copied()
    }

    /// Take the leftmost entity out of the tree (it is about to run).
    pub fn pop_first(&mut self) -> Option<T> {
        self.tree.pop_first().map(|(_, t)| t)
    }

    pub fn queued(&self) -> usize {
        self.tree.len()
    }

    /// Entities in vruntime order (for load balancing and /proc).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&(u64, K), &T)> {
        self.tree.iter()
    }

    /// Account an entity joining the run queue (queued or running).
    pub fn account_enqueue(&mut self, se: &FairEntity) {
        self.load += se.weight;
        self.nr_running += 1;
    }

    pub fn account_dequeue(&mut self, se: &FairEntity) {
        self.load = self.load.saturating_sub(se.weight);
        self.nr_running = self.nr_running.saturating_sub(1);
    }

    /// Advance min_vruntime to min(curr, leftmost), never backwards.
    pub fn update_min_vruntime(&mut self, curr: Option<&FairEntity>) {
        let mut v = curr.map(|c| c.vruntime);
        if let Some((left, _)) = self.pick_first() {
            v = Some(v.map_or(left, |c| c.min(left)));
        }
        if let Some(v) = v {
            self.min_vruntime = self.min_vruntime.max(v);
        }
    }

    /// The wall-clock slice of an entity in the current period.
    pub fn sched_slice(&self, se: &FairEntity) -> u64 {
        let period = sched_period(self.nr_running.max(1));
        let load = self.load.max(se.weight).max(1);
        ((period as u128 * se.weight as u128) / load as u128) as u64
    }

    /// Charge `delta` ns of running to the current entity (`update_curr`).
    pub fn update_curr(&mut self, curr: &mut FairEntity, delta: u64) {
        curr.sum_exec_runtime += delta;
        curr.vruntime += calc_delta_fair(delta, curr.weight);
        self.update_min_vruntime(Some(curr));
    }

    /// Where a waking (`initial` = false) or new (`initial` = true) entity is placed.
    pub fn place_entity(&self, se: &mut FairEntity, initial: bool) {
        let latency = SYSCTL_SCHED_LATENCY.load(Ordering::Relaxed);
        let mut vruntime = self.min_vruntime;
        if initial {
            // START_DEBIT: a new task waits its turn.
            vruntime += calc_delta_fair(self.sched_slice(se), se.weight);
        } else {
            // GENTLE_FAIR_SLEEPERS: at most half a latency of credit.
            vruntime = vruntime.saturating_sub(latency / 2);
        }
        se.vruntime = se.vruntime.max(vruntime);
    }

    /// Whether the running entity has used its slice (`check_preempt_tick`).
    pub fn check_preempt_tick(&self, curr: &FairEntity) -> bool {
        let ran = curr.sum_exec_runtime - curr.prev_sum_exec_runtime;
        if ran > self.sched_slice(curr) {
            return true;
        }
        if ran < SYSCTL_SCHED_MIN_GRANULARITY.load(Ordering::Relaxed) {
            return false;
        }
        match self.pick_first() {
            Some((left, _)) => {
                curr.vruntime > left && curr.vruntime - left > self.sched_slice(curr)
            }
            None => false,
        }
    }
}

/// Whether waking entity `se` should preempt `curr` (`wakeup_preempt_entity` > 0).
pub fn wakeup_preempt(curr: &FairEntity, se: &FairEntity) -> bool {
    let gran = calc_delta_fair(
        SYSCTL_SCHED_WAKEUP_GRANULARITY.load(Ordering::Relaxed),
        se.weight,
    );
    curr.vruntime > se.vruntime && curr.vruntime - se.vruntime > gran
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two always-runnable entities on one queue, run tick by tick as the kernel does.
    fn run(weights: &[u64], ticks: usize, tick_ns: u64) -> alloc::vec::Vec<u64> {
        let mut rq: CfsRq<usize, ()> = CfsRq::new();
        let mut ents: alloc::vec::Vec<FairEntity> =
            weights.iter().map(|&w| FairEntity::new(w)).collect();
        for (i, e) in ents.iter_mut().enumerate() {
            rq.place_entity(e, true);
            rq.account_enqueue(e);
            rq.enqueue(e, i, ());
        }
        let (_, first) = rq.pick_first().unwrap();
        let mut curr = first;
        rq.dequeue(&ents[curr].clone(), curr);
        ents[curr].prev_sum_exec_runtime = ents[curr].sum_exec_runtime;
        for _ in 0..ticks {
            rq.update_curr(&mut ents[curr], tick_ns);
            if rq.check_preempt_tick(&ents[curr]) {
                rq.enqueue(&ents[curr].clone(), curr, ());
                let (_, next) = rq.pick_first().unwrap();
                rq.dequeue(&ents[next].clone(), next);
                curr = next;
                ents[curr].prev_sum_exec_runtime = ents[curr].sum_exec_runtime;
            }
        }
        ents.iter().map(|e| e.sum_exec_runtime).collect()
    }

    #[test]
    fn weights_follow_nice() {
        assert_eq!(nice_to_weight(0), 1024);
        assert_eq!(nice_to_weight(5), 335);
        assert_eq!(nice_to_weight(-20), 88761);
        assert_eq!(nice_to_weight(99), 15);
    }

    #[test]
    fn cpu_time_is_shared_by_weight() {
        // nice 0 vs nice 5 with a 10 ms tick: 1024:335 within 15 %.
        let t = run(&[1024, 335], 20_000, 10_000_000);
        let ratio = t[0] as f64 / t[1] as f64;
        let want = 1024.0 / 335.0;
        assert!((ratio / want - 1.0).abs() < 0.15, "ratio {ratio}");
        // Equal weights: equal shares.
        let t = run(&[1024, 1024, 1024], 3_000, 10_000_000);
        assert!(t.iter().all(|&x| x.abs_diff(t[0]) <= 10_000_000));
    }

    #[test]
    fn sleeper_credit_is_bounded() {
        let mut rq: CfsRq<u32, ()> = CfsRq::new();
        rq.min_vruntime = 100_000_000;
        let mut sleeper = FairEntity::new(1024);
        rq.place_entity(&mut sleeper, false);
        assert_eq!(sleeper.vruntime, 100_000_000 - 3_000_000);
        let mut fresh = FairEntity::new(1024);
        rq.account_enqueue(&fresh);
        rq.place_entity(&mut fresh, true);
        assert!(fresh.vruntime > rq.min_vruntime);
    }

    #[test]
    fn wakeup_preemption_needs_a_lead() {
        let curr = FairEntity {
            vruntime: 10_000_000,
            ..FairEntity::new(1024)
        };
        let close = FairEntity {
            vruntime: 9_500_000,
            ..FairEntity::new(1024)
        };
        let far = FairEntity {
            vruntime: 5_000_000,
            ..FairEntity::new(1024)
        };
        assert!(!wakeup_preempt(&curr, &close));
        assert!(wakeup_preempt(&curr, &far));
    }

    #[test]
    fn min_vruntime_never_goes_back() {
        let mut rq: CfsRq<u32, ()> = CfsRq::new();
        let a = FairEntity {
            vruntime: 50,
            ..FairEntity::new(1024)
        };
        rq.update_min_vruntime(Some(&a));
        assert_eq!(rq.min_vruntime, 50);
        let b = FairEntity {
            vruntime: 10,
            ..FairEntity::new(1024)
        };
        rq.update_min_vruntime(Some(&b));
        assert_eq!(rq.min_vruntime, 50);
    }
}
