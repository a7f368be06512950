//! The scheduler (Linux's kernel/sched/): per-CPU run queues with the scheduling classes in
//! Linux's order — stop (the `migration/N` stoppers) > real-time (FIFO, RR) > fair (CFS) >
//! idle (SCHED_IDLE tasks, then the per-CPU idle task `swapper/N`).
//!
//! The policy parts (`fair`, `rt`) are pure and host-tested; `core` holds the run queues,
//! `schedule()`, `try_to_wake_up()`, the tick and load balancing.

#[cfg(not(test))]
pub mod completion;
#[cfg(not(test))]
pub mod core;
pub mod cputime;
pub mod debug;
pub mod fair;
#[cfg(not(test))]
pub mod hotplug;
pub mod loadavg;
#[cfg(not(test))]
pub mod migrate;
pub mod rt;
#[cfg(not(test))]
pub mod stop_task;
#[cfg(not(test))]
pub mod syscalls;
#[cfg(not(test))]
pub mod wait;

#[cfg(not(test))]
pub use self::core::*;
#[cfg(not(test))]
pub use self::hotplug::{
    idle_task_exit, sched_cpu_activate, sched_cpu_deactivate, sched_cpu_dying, sched_cpu_starting,
    wait_task_inactive,
};
#[cfg(not(test))]
pub use self::migrate::*;

pub const SCHED_NORMAL: u32 = 0;
pub const SCHED_FIFO: u32 = 1;
pub const SCHED_RR: u32 = 2;
pub const SCHED_BATCH: u32 = 3;
pub const SCHED_IDLE: u32 = 5;
pub const SCHED_DEADLINE: u32 = 6;
/// `sched_setscheduler` flag: children revert to SCHED_NORMAL.
pub const SCHED_RESET_ON_FORK: u32 = 0x4000_0000;

pub const MAX_RT_PRIO: i32 = 100;
pub const DEFAULT_PRIO: i32 = 120;

/// Which class a task belongs to, highest first. The idle class below them has one member
/// per CPU, the idle task, which the run queue keeps apart (`Rq::idle`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Class {
    Stop,
    Rt,
    Fair,
}

/// A task's scheduling attributes and class state (guarded by its run queue's lock).
#[derive(Clone, Debug)]
pub struct SchedEntity {
    pub policy: u32,
    /// 100 + 20 + nice for fair tasks (`static_prio`).
    pub static_prio: i32,
    /// 1..=99 for real-time tasks.
    pub rt_priority: u32,
    pub reset_on_fork: bool,
    /// Runs in the stop class (migration/N).
    pub stop: bool,
    pub fair: fair::FairEntity,
    /// When the task last started running (ns since boot).
    pub exec_start: u64,
    /// SCHED_RR: time left in the slice.
    pub rr_left: u64,
    /// CPUs the task may run on (bit per CPU).
    pub cpus_allowed: u64,
    pub nr_migrations: u64,
    /// Time spent runnable but waiting, and the number of times it ran (for /proc/<pid>/schedstat).
    pub run_delay: u64,
    pub pcount: u64,
    pub last_queued: u64,
    /// How much of `fair.sum_exec_runtime` the tick has charged to utime/stime so far.
    pub tick_charged: u64,
}

impl SchedEntity {
    pub fn new_fair(nice: i32) -> Self {
        SchedEntity {
            policy: SCHED_NORMAL,
            static_prio: DEFAULT_PRIO + nice,
            rt_priority: 0,
            reset_on_fork: false,
            stop: false,
            fair: fair::FairEntity::new(fair::nice_to_weight(nice)),
            exec_start: 0,
            rr_left: rt::RR_TIMESLICE_NS,
            cpus_allowed: u64::MAX,
            nr_migrations: 0,
            run_delay: 0,
            pcount: 0,
            last_queued: 0,
            tick_charged: 0,
        }
    }

    pub fn class(&self) -> Class {
        if self.stop {
            Class::Stop
        } else if self.policy == SCHED_FIFO || self.policy == SCHED_RR {
            Class::Rt
        } else {
            // SCHED_IDLE tasks are fair tasks with a tiny weight, as in Linux.
            Class::Fair
        }
    }

    pub fn nice(&self) -> i32 {
        self.static_prio - DEFAULT_PRIO
    }

    /// Linux's `prio` as /proc shows it (field 18 of stat is prio - 100... see `proc_prio`).
    pub fn prio(&self) -> i32 {
        match self.class() {
            Class::Rt | Class::Stop => MAX_RT_PRIO - 1 - self.rt_priority as i32,
            _ => self.static_prio,
        }
    }

    /// Set nice and the matching weight.
    pub fn set_nice(&mut self, nice: i32) {
        let nice = nice.clamp(-20, 19);
        self.static_prio = DEFAULT_PRIO + nice;
        self.update_weight();
    }

    pub fn update_weight(&mut self) {
        self.fair.weight = if self.policy == SCHED_IDLE {
            fair::WEIGHT_IDLEPRIO
        } else {
            fair::nice_to_weight(self.nice())
        };
    }
}
