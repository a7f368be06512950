//! The pure half of the workqueue (Linux's kernel/workqueue_internal.h and the pool
//! bookkeeping of kernel/workqueue.c): worker flags, the counts a worker pool decides on, the
//! worker ID allocator, and the names `ps` shows. `workqueue/` keeps these under the pool
//! lock; here they are plain data, unit-tested on the host.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

// Worker flags (`worker->flags`), Linux's values.
/// Told to exit by the idle timer (`destroy_worker`).
pub const WORKER_DIE: u32 = 1 << 1;
/// On the pool's idle list.
pub const WORKER_IDLE: u32 = 1 << 2;
/// Preparing to run work, or going idle: not counted as running.
pub const WORKER_PREP: u32 = 1 << 3;
/// Running a CPU-intensive item (no user yet).
pub const WORKER_CPU_INTENSIVE: u32 = 1 << 6;
/// In an unbound pool: never counted, the pool is not concurrency-managed.
pub const WORKER_UNBOUND: u32 = 1 << 7;
/// Re-bound after CPU hotplug (no hotplug here; kept for the mask).
pub const WORKER_REBOUND: u32 = 1 << 8;
/// Any of these keeps a worker out of `nr_running`.
pub const WORKER_NOT_RUNNING: u32 =
    WORKER_PREP | WORKER_CPU_INTENSIVE | WORKER_UNBOUND | WORKER_REBOUND;

/// Idle workers are kept at most this much longer than busy ones (`MAX_IDLE_WORKERS_RATIO`).
pub const MAX_IDLE_WORKERS_RATIO: usize = 4;
/// A surplus idle worker retires after this long idle (`IDLE_WORKER_TIMEOUT`, 300 s).
pub const IDLE_WORKER_TIMEOUT_SECS: u64 = 300;
/// Length of a worker's description, the workqueue it last served (`WORKER_DESC_LEN`).
pub const WORKER_DESC_LEN: usize = 24;

/// What a worker pool decides on (fields of `struct worker_pool`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolCounts {
    /// Workers attached to the pool, idle or busy.
    pub nr_workers: usize,
    /// Workers on the idle list.
    pub nr_idle: usize,
    /// Workers running work and not flagged WORKER_NOT_RUNNING: the concurrency level.
    pub nr_running: usize,
    /// Work items on the pool's worklist.
    pub nr_pending: usize,
    /// A worker is creating workers (`POOL_MANAGER_ACTIVE`).
    pub manager_active: bool,
}

impl PoolCounts {
    /// No worker runs: the next queued item needs one woken (`__need_more_worker`).
    pub fn __need_more_worker(&self) -> bool {
        self.nr_running == 0
    }

    /// Work is pending and no worker runs (`need_more_worker`).
    pub fn need_more_worker(&self) -> bool {
        self.nr_pending > 0 && self.__need_more_worker()
    }

    /// A worker may start on work when an idle one is left to take over
    /// (`may_start_working`).
    pub fn may_start_working(&self) -> bool {
        self.nr_idle > 0
    }

    /// A worker goes on with the next item while no other one runs (`keep_working`).
    pub fn keep_working(&self) -> bool {
        self.nr_pending > 0 && self.nr_running <= 1
    }

    /// Work waits and no idle worker is left to run it (`need_to_create_worker`).
    pub fn need_to_create_worker(&self) -> bool {
        self.need_more_worker() && !self.may_start_working()
    }

    /// More than two idle workers, and enough of them relative to the busy ones that some
    /// may retire (`too_many_workers`). The manager counts as idle.
    pub fn too_many_workers(&self) -> bool {
        let nr_idle = self.nr_idle + self.manager_active as usize;
        let nr_busy = self.nr_workers.saturating_sub(nr_idle);
        nr_idle > 2 && (nr_idle - 2) * MAX_IDLE_WORKERS_RATIO >= nr_busy
    }

    /// Set `flags` on a worker whose flags are `*wflags`, leaving `nr_running` when it
    /// becomes NOT_RUNNING (`worker_set_flags`).
    pub fn worker_set_flags(&mut self, wflags: &mut u32, flags: u32) {
        if flags & WORKER_NOT_RUNNING != 0 && *wflags & WORKER_NOT_RUNNING == 0 {
            self.nr_running -= 1;
        }
        *wflags |= flags;
    }

    /// Clear `flags`, joining `nr_running` when none of the NOT_RUNNING flags is left
    /// (`worker_clr_flags`).
    pub fn worker_clr_flags(&mut self, wflags: &mut u32, flags: u32) {
        let old = *wflags;
        *wflags &= !flags;
        if flags & WORKER_NOT_RUNNING != 0
            && old & WORKER_NOT_RUNNING != 0
            && *wflags & WORKER_NOT_RUNNING == 0
        {
            self.nr_running += 1;
        }
    }
}

/// The smallest free small integer, as Linux's `ida_alloc` hands out worker IDs.
#[derive(Default, Debug)]
pub struct Ida {
    words: Vec<u64>,
}

impl Ida {
    pub const fn new() -> Self {
        Ida { words: Vec::new() }
    }

    /// Take the lowest free ID (`ida_alloc`).
    pub fn alloc(&mut self) -> usize {
        let word = match self.words.iter().position(|&w| w != u64::MAX) {
            Some(i) => i,
            None => {
                self.words.push(0);
                self.words.len() - 1
            }
        };
        let bit = self.words[word].trailing_ones() as usize;
        self.words[word] |= 1 << bit;
        word * 64 + bit
    }

    /// Give `id` back (`ida_free`).
    pub fn free(&mut self, id: usize) {
        if let Some(w) = self.words.get_mut(id / 64) {
            *w &= !(1 << (id % 64));
        }
    }
}

/// A worker's task name (`create_worker`): `kworker/CPU:ID` with `H` for a high-priority
/// pool, `kworker/uPOOL:ID` for an unbound pool.
pub fn worker_name(cpu: Option<usize>, pool_id: usize, id: usize, highpri: bool) -> String {
    let mut s = String::from("kworker/");
    let _ = match cpu {
        Some(cpu) => write!(s, "{cpu}:{id}{}", if highpri { "H" } else { "" }),
        None => write!(s, "u{pool_id}:{id}"),
    };
    s
}

/// A workqueue name cut to what `worker->desc` holds (`strscpy` into WORKER_DESC_LEN).
pub fn worker_desc(name: &str) -> &str {
    let mut end = name.len().min(WORKER_DESC_LEN - 1);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// What /proc and `ps` show for a worker (`wq_worker_comm`): the task's name, then `+desc`
/// while it runs an item of workqueue `desc`, `-desc` after; nothing before its first item.
pub fn format_worker_comm(comm: &str, desc: &str, busy: bool) -> String {
    let mut s = String::with_capacity(comm.len() + 1 + desc.len());
    s.push_str(comm);
    if !desc.is_empty() {
        s.push(if busy { '+' } else { '-' });
        s.push_str(desc);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(nr_workers: usize, nr_idle: usize, nr_running: usize, nr_pending: usize) -> PoolCounts {
        PoolCounts {
            nr_workers,
            nr_idle,
            nr_running,
            nr_pending,
            manager_active: false,
        }
    }

    #[test]
    fn a_worker_is_woken_only_when_work_waits_and_none_runs() {
        assert!(!pool(2, 2, 0, 0).need_more_worker());
        assert!(pool(2, 2, 0, 1).need_more_worker());
        // One worker running is enough: the pool is concurrency-managed.
        assert!(!pool(2, 1, 1, 5).need_more_worker());
        assert!(!pool(2, 1, 1, 5).__need_more_worker());
        assert!(pool(2, 1, 0, 5).__need_more_worker());
    }

    #[test]
    fn the_last_idle_worker_creates_another_before_starting() {
        // The woken worker left the idle list: none is left, so it must manage first.
        let p = pool(1, 0, 0, 1);
        assert!(!p.may_start_working());
        assert!(p.need_to_create_worker());
        // Another idle worker remains: start at once.
        let p = pool(2, 1, 0, 1);
        assert!(p.may_start_working());
        assert!(!p.need_to_create_worker());
        // Nothing queued: nothing to create.
        assert!(!pool(1, 0, 0, 0).need_to_create_worker());
    }

    #[test]
    fn a_worker_keeps_going_while_it_is_the_only_one_running() {
        assert!(pool(2, 1, 1, 3).keep_working());
        assert!(!pool(3, 0, 2, 3).keep_working());
        assert!(!pool(2, 1, 1, 0).keep_working());
    }

    #[test]
    fn idle_workers_retire_only_beyond_two_and_a_quarter_of_the_busy() {
        // Two idle are always kept.
        assert!(!pool(2, 2, 0, 0).too_many_workers());
        assert!(pool(3, 3, 0, 0).too_many_workers());
        // Three idle, four busy: (3 - 2) * 4 >= 4.
        assert!(pool(7, 3, 4, 0).too_many_workers());
        // Three idle, five busy: not yet.
        assert!(!pool(8, 3, 5, 0).too_many_workers());
        // The manager counts as idle.
        let mut p = pool(3, 2, 0, 0);
        assert!(!p.too_many_workers());
        p.manager_active = true;
        assert!(p.too_many_workers());
    }

    #[test]
    fn not_running_flags_move_nr_running_once() {
        let mut p = pool(1, 0, 0, 0);
        let mut flags = WORKER_PREP;
        p.worker_clr_flags(&mut flags, WORKER_PREP | WORKER_REBOUND);
        assert_eq!((flags, p.nr_running), (0, 1));
        // Setting two NOT_RUNNING flags leaves once; clearing one of them does not rejoin.
        p.worker_set_flags(&mut flags, WORKER_PREP);
        p.worker_set_flags(&mut flags, WORKER_CPU_INTENSIVE);
        assert_eq!(p.nr_running, 0);
        p.worker_clr_flags(&mut flags, WORKER_CPU_INTENSIVE);
        assert_eq!(p.nr_running, 0);
        p.worker_clr_flags(&mut flags, WORKER_PREP);
        assert_eq!(p.nr_running, 1);
        // Flags outside the mask don't count.
        p.worker_set_flags(&mut flags, WORKER_IDLE);
        assert_eq!(p.nr_running, 1);
        // An unbound worker never joins.
        let mut u = WORKER_PREP | WORKER_UNBOUND;
        p.worker_clr_flags(&mut u, WORKER_PREP);
        assert_eq!((u, p.nr_running), (WORKER_UNBOUND, 1));
    }

    #[test]
    fn ida_hands_out_the_lowest_free_id() {
        let mut ida = Ida::new();
        assert_eq!((ida.alloc(), ida.alloc(), ida.alloc()), (0, 1, 2));
        ida.free(1);
        assert_eq!(ida.alloc(), 1);
        assert_eq!(ida.alloc(), 3);
        ida.free(0);
        ida.free(0);
        assert_eq!(ida.alloc(), 0);
        for want in 4..130 {
            assert_eq!(ida.alloc(), want);
        }
        ida.free(70);
        assert_eq!(ida.alloc(), 70);
        ida.free(1000);
    }

    #[test]
    fn worker_names_are_linuxs() {
        assert_eq!(worker_name(Some(0), 0, 1, false), "kworker/0:1");
        assert_eq!(worker_name(Some(1), 3, 0, true), "kworker/1:0H");
        assert_eq!(worker_name(None, 4, 2, false), "kworker/u4:2");
    }

    #[test]
    fn proc_shows_the_workqueue_a_worker_serves() {
        assert_eq!(format_worker_comm("kworker/0:1", "", false), "kworker/0:1");
        assert_eq!(
            format_worker_comm("kworker/0:1", "events", true),
            "kworker/0:1+events"
        );
        assert_eq!(
            format_worker_comm("kworker/1:0H", "events_highpri", false),
            "kworker/1:0H-events_highpri"
        );
        assert_eq!(worker_desc("mm_percpu_wq"), "mm_percpu_wq");
        assert_eq!(
            worker_desc("a_workqueue_with_a_long_name"),
            "a_workqueue_with_a_long"
        );
        assert_eq!(worker_desc("ééééééééééééééé").len(), 22);
    }
}
