//! Workqueues and their `kworker` threads (Linux's kernel/workqueue.c).
//!
//! A work item ([`Work`], Linux's `work_struct`) is a function to run later in process
//! context. Items are queued on a workqueue (`alloc_workqueue`), which hands them to worker
//! pools through its pool workqueues (`pool_workqueue`, one per pool it uses, each limiting
//! the items active at once to `max_active`). Every CPU has two pools, normal and
//! high-priority (nice -20), whose workers are bound to the CPU (`kworker/N:M`,
//! `kworker/N:MH`); unbound workqueues share the unbound pools (`kworker/uP:M`), whose workers
//! run anywhere.
//!
//! Per-CPU pools are concurrency-managed: the scheduler tells the pool when one of its
//! workers blocks and when it runs again (`wq_worker_sleeping` / `wq_worker_running`, for
//! tasks flagged PF_WQ_WORKER), so the pool knows how many run (`nr_running`) and wakes an
//! idle worker only when the last running one blocks with work pending. A worker that takes
//! the last idle worker's place first creates another (`manage_workers`), so one idle worker
//! is always ready; surplus idle workers retire after IDLE_WORKER_TIMEOUT via the pool's idle
//! timer. While a worker runs an item, and afterwards, /proc shows the workqueue it served
//! after its name (`kworker/0:1-events`, `wq_worker_comm`); the task's own comm is unchanged.
//!
//! Items are non-reentrant: an item queued while it still runs goes to the pool running it and
//! waits for that run. `flush_work` waits for the last queued instance to finish by counting
//! executions: `data` holds the PENDING bit and the number of starts, `finished` the number
//! of finished runs; a cancelled instance counts as started and finished.
//!
//! Not built: `flush_workqueue`/`destroy_workqueue` (workqueues live for ever), rescuers for
//! WQ_MEM_RECLAIM (the flag is accepted), CPU hotplug, ordered workqueues.
//!
//! Locking: the pool lock (`WorkerPool::inner`) guards the pool, its workers' state and its
//! pool workqueues. Order: pool lock → a work's `pwq` lock / the flush wait queue → `pi_lock`
//! → run queue. Nothing sleeps under a pool lock. Our kernel runs with interrupts off, and
//! timer callbacks (the delayed-work and idle timers) run from softirqs entered only from
//! user mode or the idle loop, so a pool lock never meets itself on one CPU.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};

use spin::{Mutex, MutexGuard, Once};

use crate::arch::percpu::{cpu_id, online_cpus, MAX_CPUS};
use crate::kernel::task::{current, Task, PF_WQ_WORKER, TASK_IDLE, TASK_UNINTERRUPTIBLE};
use crate::kernel::time::{jiffies, HZ};
use crate::kernel::timer_list::{add_timer, TimerList};
use crate::kernel::workqueue_internal::*;
use crate::sched::wait::WaitQueue;

mod flush;
mod worker;

pub use flush::*;
use worker::*;
pub(crate) use worker::{wq_worker_comm, wq_worker_running, wq_worker_sleeping};

// Workqueue flags (`alloc_workqueue`), Linux's values.
/// Not bound to a CPU: served by the unbound pools.
pub const WQ_UNBOUND: u32 = 1 << 1;
/// May be used on the memory-reclaim path (Linux gives it a rescuer; accepted here).
pub const WQ_MEM_RECLAIM: u32 = 1 << 3;
/// Served by the high-priority (nice -20) pools.
pub const WQ_HIGHPRI: u32 = 1 << 4;

pub const WQ_MAX_ACTIVE: usize = 512;
pub const WQ_DFL_ACTIVE: usize = WQ_MAX_ACTIVE / 2;
/// "Any CPU": the local one for per-CPU workqueues (Linux uses NR_CPUS).
pub const WORK_CPU_UNBOUND: usize = usize::MAX;

const HIGHPRI_NICE_LEVEL: i32 = -20;
/// Wait between failed attempts to create a worker (`CREATE_COOLDOWN`).
const CREATE_COOLDOWN: u64 = HZ;
const IDLE_WORKER_TIMEOUT: u64 = IDLE_WORKER_TIMEOUT_SECS * HZ;

/// `work->data`: queued (or owned by whoever is queueing or cancelling it).
const WORK_STRUCT_PENDING: u64 = 1;
/// `work->data` counts executions started in the bits above PENDING.
const WORK_STARTED_ONE: u64 = 2;

/// A deferred function (`struct work_struct`). Create it with [`Work::new`] (`INIT_WORK`),
/// queue it with [`queue_work`] or [`schedule_work`].
pub struct Work {
    /// PENDING and the number of executions started (`WORK_STARTED_ONE` each).
    data: AtomicU64,
    /// Executions finished (equal to the starts when none runs).
    finished: AtomicU64,
    /// The pool the item is queued on or last ran on, as index + 1; 0 before its first
    /// queueing. Written under that pool's lock.
    pool: AtomicUsize,
    /// The pool workqueue while the item is queued (Linux keeps it in `data`).
    pwq: Mutex<Option<Arc<PoolWorkqueue>>>,
    func: Box<dyn Fn() + Send + Sync>,
    /// What `workqueue:*` tracepoints report as `function`: [`work_fn`] for this item's type.
    function: u64,
}

impl Work {
    /// A work item that runs `func` (`INIT_WORK`).
    pub fn new<F: Fn() + Send + Sync + 'static>(func: F) -> Arc<Work> {
        Arc::new(Work {
            data: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            pool: AtomicUsize::new(0),
            pwq: Mutex::new(None),
            func: Box::new(move || work_fn(&func)),
            function: work_fn::<F> as fn(&F) as usize as u64,
        })
    }

    /// The item's address, as tracepoints report `work`.
    fn addr(self: &Arc<Self>) -> u64 {
        Arc::as_ptr(self) as u64
    }

    /// Queued and not yet started (`work_pending`).
    pub fn pending(&self) -> bool {
        self.data.load(Acquire) & WORK_STRUCT_PENDING != 0
    }

    fn started(&self) -> u64 {
        self.data.load(Acquire) / WORK_STARTED_ONE
    }
}

/// A work item queued after a delay (`struct delayed_work`): a jiffies timer queues it.
pub struct DelayedWork {
    pub work: Arc<Work>,
    /// The armed timer; taken by whoever cancels it.
    timer: Mutex<Option<TimerList>>,
    /// Where the timer queues the item, for `flush_delayed_work`.
    target: Mutex<Option<(usize, Workqueue)>>,
}

impl DelayedWork {
    /// `INIT_DELAYED_WORK`.
    pub fn new(func: impl Fn() + Send + Sync + 'static) -> Arc<DelayedWork> {
        Arc::new(DelayedWork {
            work: Work::new(func),
            timer: Mutex::new(None),
            target: Mutex::new(None),
        })
    }

    /// Waiting for its timer or queued (`delayed_work_pending`).
    pub fn pending(&self) -> bool {
        self.work.pending()
    }
}

/// A workqueue (`struct workqueue_struct`).
pub struct WorkqueueStruct {
    pub name: Arc<str>,
    pub flags: u32,
    /// Per-CPU: one per online CPU, indexed by CPU; unbound: one.
    pwqs: Vec<Arc<PoolWorkqueue>>,
}

pub type Workqueue = Arc<WorkqueueStruct>;

/// A workqueue's link to one pool (`struct pool_workqueue`); its counts live in the pool.
pub struct PoolWorkqueue {
    pool: &'static WorkerPool,
    /// Index of this pwq's state in the pool's `pwqs`.
    slot: usize,
    wq_id: usize,
    wq_name: Arc<str>,
    max_active: usize,
}

/// Per-pwq state, under the pool lock.
#[derive(Default)]
struct PwqState {
    /// Items on the worklist or running.
    nr_active: usize,
    /// Items beyond `max_active`, waiting for a slot (`inactive_works`).
    inactive: VecDeque<Arc<Work>>,
}

type Queued = (Arc<Work>, Arc<PoolWorkqueue>);

/// One worker's state, under its pool's lock (`struct worker`).
struct WorkerState {
    task: Arc<Task>,
    flags: u32,
    /// Blocked while counted as running (set by `wq_worker_sleeping`).
    sleeping: bool,
    current_work: Option<Arc<Work>>,
    current_pwq: Option<Arc<PoolWorkqueue>>,
    /// Items that must run on this worker after the current one (non-reentrancy).
    scheduled: VecDeque<Queued>,
    /// The workqueue of the latest item (`desc`).
    desc: Option<Arc<str>>,
    /// When it last went idle, in jiffies.
    last_active: u64,
}

struct PoolInner {
    c: PoolCounts,
    worklist: VecDeque<Queued>,
    /// Idle worker IDs, most recently idle first.
    idle_list: VecDeque<usize>,
    /// Worker state by ID.
    workers: Vec<Option<WorkerState>>,
    worker_ida: Ida,
    idle_timer: Option<TimerList>,
    pwqs: Vec<PwqState>,
    /// When the pool last started an item (`watchdog_ts`).
    watchdog_ts: u64,
}

impl PoolInner {
    const fn new() -> Self {
        PoolInner {
            c: PoolCounts {
                nr_workers: 0,
                nr_idle: 0,
                nr_running: 0,
                nr_pending: 0,
                manager_active: false,
            },
            worklist: VecDeque::new(),
            idle_list: VecDeque::new(),
            workers: Vec::new(),
            worker_ida: Ida::new(),
            idle_timer: None,
            pwqs: Vec::new(),
            watchdog_ts: 0,
        }
    }

    /// The counts with the worklist's length.
    fn counts(&self) -> PoolCounts {
        PoolCounts {
            nr_pending: self.worklist.len(),
            ..self.c
        }
    }

    fn worker(&mut self, id: usize) -> &mut WorkerState {
        self.counts_and_worker(id).1
    }

    /// The pool's counts and worker `id`, both writable (to move `nr_running`).
    fn counts_and_worker(&mut self, id: usize) -> (&mut PoolCounts, &mut WorkerState) {
        let w = self.workers[id]
            .as_mut()
            .expect("worker attached to its pool");
        (&mut self.c, w)
    }

    /// The worker running `work` (`find_worker_executing_work`).
    fn find_worker_executing_work(&self, work: &Arc<Work>) -> Option<usize> {
        self.workers.iter().position(|w| {
            w.as_ref()
                .and_then(|w| w.current_work.as_ref())
                .is_some_and(|c| Arc::ptr_eq(c, work))
        })
    }

    /// Wake the most recently idle worker (`wake_up_worker`).
    fn wake_up_worker(&self) {
        let task = self
            .idle_list
            .front()
            .and_then(|&id| self.workers[id].as_ref());
        if let Some(w) = task {
            crate::sched::wake_up_process(&w.task);
        }
    }
}

/// A worker pool (`struct worker_pool`).
pub struct WorkerPool {
    /// Our index (`pool_by_index`); per-CPU pools first.
    index: usize,
    /// The CPU its workers are bound to; None for an unbound pool.
    cpu: Option<usize>,
    highpri: bool,
    /// The ID in worker names: CPU pools 2*cpu (+1 high-priority), unbound pools after all
    /// CPU pools, in the order they are first used (Linux's `pool->id`).
    id: AtomicUsize,
    /// A workqueue uses it (unbound pools get workers only then).
    used: AtomicBool,
    inner: Mutex<PoolInner>,
}

impl WorkerPool {
    const fn new(index: usize, cpu: Option<usize>, highpri: bool) -> Self {
        WorkerPool {
            index,
            cpu,
            highpri,
            id: AtomicUsize::new(0),
            used: AtomicBool::new(false),
            inner: Mutex::new(PoolInner::new()),
        }
    }

    fn lock(&'static self) -> MutexGuard<'static, PoolInner> {
        self.inner.lock()
    }
}

const NR_STD_WORKER_POOLS: usize = 2;
const NR_CPU_POOLS: usize = MAX_CPUS * NR_STD_WORKER_POOLS;

static CPU_WORKER_POOLS: [WorkerPool; NR_CPU_POOLS] = {
    let mut pools = [const { WorkerPool::new(0, None, false) }; NR_CPU_POOLS];
    let mut i = 0;
    while i < NR_CPU_POOLS {
        // Plain fields: assigning them drops nothing, which a const initializer needs.
        pools[i].index = i;
        pools[i].cpu = Some(i / NR_STD_WORKER_POOLS);
        pools[i].highpri = i % NR_STD_WORKER_POOLS == 1;
        i += 1;
    }
    pools
};
static UNBOUND_POOLS: [WorkerPool; NR_STD_WORKER_POOLS] = [
    WorkerPool::new(NR_CPU_POOLS, None, false),
    WorkerPool::new(NR_CPU_POOLS + 1, None, true),
];
/// The next ID for an unbound pool's names.
static NEXT_UNBOUND_POOL_ID: AtomicUsize = AtomicUsize::new(0);
static NEXT_WQ_ID: AtomicUsize = AtomicUsize::new(1);
/// Workers can be created (`wq_online`): kthreadd runs.
static WQ_ONLINE: AtomicBool = AtomicBool::new(false);

fn pool_by_index(i: usize) -> &'static WorkerPool {
    if i < NR_CPU_POOLS {
        &CPU_WORKER_POOLS[i]
    } else {
        &UNBOUND_POOLS[i - NR_CPU_POOLS]
    }
}

fn cpu_pool(cpu: usize, highpri: bool) -> &'static WorkerPool {
    &CPU_WORKER_POOLS[cpu * NR_STD_WORKER_POOLS + highpri as usize]
}

/// A task's worker: which pool and which ID (Linux's `kthread_data`).
#[derive(Clone, Copy)]
struct Worker {
    pool: &'static WorkerPool,
    id: usize,
}

impl Worker {
    fn encode(self) -> usize {
        ((self.pool.index + 1) << 32) | self.id
    }

    fn of(task: &Task) -> Option<Worker> {
        let v = task.worker_private.load(Acquire);
        (v != 0).then(|| Worker {
            pool: pool_by_index((v >> 32) - 1),
            id: v & 0xffff_ffff,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Queueing

/// Put an active item on the pool's worklist, waking a worker if none runs (`insert_work`).
#[inline(never)] // kept as a symbol: Linux's name, for probes
fn insert_work(inner: &mut PoolInner, item: Queued) {
    inner.worklist.push_back(item);
    if inner.c.__need_more_worker() {
        inner.wake_up_worker();
    }
}

/// Every work item runs through here (one instance per item type).
#[inline(never)]
fn work_fn<F: Fn()>(f: &F) {
    f()
}

/// Queue `work`, whose PENDING bit the caller owns, on `wq` for `cpu` (`__queue_work`).
fn __queue_work(cpu: usize, wq: &WorkqueueStruct, work: &Arc<Work>) {
    let req_cpu = cpu;
    let mut pwq = if wq.flags & WQ_UNBOUND != 0 {
        wq.pwqs[0].clone()
    } else {
        let cpu = if cpu == WORK_CPU_UNBOUND {
            cpu_id()
        } else {
            cpu
        };
        wq.pwqs[cpu.min(wq.pwqs.len() - 1)].clone()
    };
    // An item still running on another pool is queued there, behind that run.
    let last = work.pool.load(Acquire);
    let mut locked = None;
    if last != 0 && last - 1 != pwq.pool.index {
        let last_pool = pool_by_index(last - 1);
        let inner = last_pool.lock();
        let running = inner
            .find_worker_executing_work(work)
            .and_then(|id| inner.workers[id].as_ref())
            .and_then(|w| w.current_pwq.clone())
            .filter(|p| p.wq_id == pwq.wq_id);
        if let Some(p) = running {
            pwq = p;
            locked = Some(inner);
        }
    }
    let mut inner = match locked {
        Some(inner) => inner,
        None => pwq.pool.lock(),
    };
    work.pool.store(pwq.pool.index + 1, Release);
    *work.pwq.lock() = Some(pwq.clone());
    crate::trace::trace_workqueue_queue_work(
        work.addr(),
        work.function,
        &pwq.wq_name,
        req_cpu,
        pwq.pool.cpu.unwrap_or(WORK_CPU_UNBOUND),
    );
    let st = &mut inner.pwqs[pwq.slot];
    if st.nr_active < pwq.max_active {
        st.nr_active += 1;
        crate::trace::trace_workqueue_activate_work(work.addr());
        insert_work(&mut inner, (work.clone(), pwq));
    } else {
        st.inactive.push_back(work.clone());
    }
}

/// Queue `work` on `wq` to run on `cpu`; false if it was already pending (`queue_work_on`).
#[inline(never)] // kept as a symbol: Linux's name, for probes
pub fn queue_work_on(cpu: usize, wq: &WorkqueueStruct, work: &Arc<Work>) -> bool {
    if work.data.fetch_or(WORK_STRUCT_PENDING, AcqRel) & WORK_STRUCT_PENDING != 0 {
        return false;
    }
    __queue_work(cpu, wq, work);
    true
}

/// Queue on the local CPU (or anywhere, for an unbound workqueue) (`queue_work`).
pub fn queue_work(wq: &WorkqueueStruct, work: &Arc<Work>) -> bool {
    queue_work_on(WORK_CPU_UNBOUND, wq, work)
}

/// Queue on the system workqueue, `events` (`schedule_work`).
pub fn schedule_work(work: &Arc<Work>) -> bool {
    queue_work(system_wq(), work)
}

/// Arm the timer that queues `dwork` after `delay` jiffies; PENDING is the caller's
/// (`__queue_delayed_work`).
fn __queue_delayed_work(cpu: usize, wq: &Workqueue, dwork: &DelayedWork, delay: u64) {
    *dwork.target.lock() = Some((cpu, wq.clone()));
    if delay == 0 {
        __queue_work(cpu, wq, &dwork.work);
        return;
    }
    // Hold the slot while arming, so that a timer firing at once and re-arming from the
    // item cannot have its handle overwritten by ours.
    let mut slot = dwork.timer.lock();
    let (work, wq) = (dwork.work.clone(), wq.clone());
    // `delayed_work_timer_fn`.
    *slot = Some(add_timer(jiffies() + delay, move || {
        __queue_work(cpu, &wq, &work)
    }));
}

/// Queue `dwork` on `wq` for `cpu` after `delay` jiffies; false if already pending
/// (`queue_delayed_work_on`).
pub fn queue_delayed_work_on(cpu: usize, wq: &Workqueue, dwork: &DelayedWork, delay: u64) -> bool {
    if dwork.work.data.fetch_or(WORK_STRUCT_PENDING, AcqRel) & WORK_STRUCT_PENDING != 0 {
        return false;
    }
    __queue_delayed_work(cpu, wq, dwork, delay);
    true
}

/// `queue_delayed_work`.
pub fn queue_delayed_work(wq: &Workqueue, dwork: &DelayedWork, delay: u64) -> bool {
    queue_delayed_work_on(WORK_CPU_UNBOUND, wq, dwork, delay)
}

/// On `events` after `delay` jiffies (`schedule_delayed_work`).
pub fn schedule_delayed_work(dwork: &DelayedWork, delay: u64) -> bool {
    queue_delayed_work(system_wq(), dwork, delay)
}

/// Queue `dwork` after `delay` jiffies whether or not it is pending, replacing the pending
/// timer or queueing; true if it was pending (`mod_delayed_work_on`).
pub fn mod_delayed_work_on(cpu: usize, wq: &Workqueue, dwork: &DelayedWork, delay: u64) -> bool {
    let was_pending = grab_pending(&dwork.work, Some(dwork));
    __queue_delayed_work(cpu, wq, dwork, delay);
    was_pending
}

/// `mod_delayed_work`.
pub fn mod_delayed_work(wq: &Workqueue, dwork: &DelayedWork, delay: u64) -> bool {
    mod_delayed_work_on(WORK_CPU_UNBOUND, wq, dwork, delay)
}

// ---------------------------------------------------------------------------------------
// Workqueues

/// Create a workqueue named `name` (`alloc_workqueue`). `max_active` 0 takes the default.
pub fn alloc_workqueue(name: &str, flags: u32, max_active: usize) -> Workqueue {
    let unbound = flags & WQ_UNBOUND != 0;
    let highpri = flags & WQ_HIGHPRI != 0;
    let limit = if unbound {
        WQ_MAX_ACTIVE.max(4 * MAX_CPUS)
    } else {
        WQ_MAX_ACTIVE
    };
    let max_active = match max_active {
        0 => WQ_DFL_ACTIVE,
        n => n.min(limit),
    };
    let pools: Vec<&'static WorkerPool> = if unbound {
        alloc::vec![&UNBOUND_POOLS[highpri as usize]]
    } else {
        (0..online_cpus())
            .map(|cpu| cpu_pool(cpu, highpri))
            .collect()
    };
    let wq_id = NEXT_WQ_ID.fetch_add(1, Relaxed);
    let name: Arc<str> = name.into();
    let pwqs = pools
        .into_iter()
        .map(|pool| {
            let first_use = !pool.used.swap(true, AcqRel);
            if first_use && pool.cpu.is_none() {
                // `get_unbound_pool`: the next pool ID, and a first worker if they can run.
                let id = 2 * online_cpus() + NEXT_UNBOUND_POOL_ID.fetch_add(1, Relaxed);
                pool.id.store(id, Relaxed);
                if WQ_ONLINE.load(Acquire) {
                    create_worker(pool);
                }
            }
            let slot = {
                let mut inner = pool.lock();
                inner.pwqs.push(PwqState::default());
                inner.pwqs.len() - 1
            };
            Arc::new(PoolWorkqueue {
                pool,
                slot,
                wq_id,
                wq_name: name.clone(),
                max_active,
            })
        })
        .collect();
    Arc::new(WorkqueueStruct { name, flags, pwqs })
}

static SYSTEM_WQ: Once<Workqueue> = Once::new();
static SYSTEM_HIGHPRI_WQ: Once<Workqueue> = Once::new();
static SYSTEM_LONG_WQ: Once<Workqueue> = Once::new();
static SYSTEM_UNBOUND_WQ: Once<Workqueue> = Once::new();

fn get(wq: &'static Once<Workqueue>) -> &'static Workqueue {
    wq.get().expect("workqueue_init_early has run")
}

/// `events`: the default for short items.
pub fn system_wq() -> &'static Workqueue {
    get(&SYSTEM_WQ)
}

/// `events_highpri`.
#[allow(dead_code)] // no high-priority user yet
pub fn system_highpri_wq() -> &'static Workqueue {
    get(&SYSTEM_HIGHPRI_WQ)
}

/// `events_long`: for items that may run long.
#[allow(dead_code)] // no long-running user yet
pub fn system_long_wq() -> &'static Workqueue {
    get(&SYSTEM_LONG_WQ)
}

/// `events_unbound`: items that may run on any CPU.
pub fn system_unbound_wq() -> Option<&'static Workqueue> {
    SYSTEM_UNBOUND_WQ.get()
}

/// Set up the CPU pools and the system workqueues; items can be queued from now on, and run
/// once `workqueue_init` has started workers (`workqueue_init_early`). Called once the CPUs
/// are up, as our per-CPU tables are sized by the online CPUs.
pub fn workqueue_init_early() {
    for cpu in 0..online_cpus() {
        for highpri in [false, true] {
            cpu_pool(cpu, highpri)
                .id
                .store(cpu * NR_STD_WORKER_POOLS + highpri as usize, Relaxed);
        }
    }
    SYSTEM_WQ.call_once(|| alloc_workqueue("events", 0, 0));
    SYSTEM_HIGHPRI_WQ.call_once(|| alloc_workqueue("events_highpri", WQ_HIGHPRI, 0));
    SYSTEM_LONG_WQ.call_once(|| alloc_workqueue("events_long", 0, 0));
    SYSTEM_UNBOUND_WQ.call_once(|| alloc_workqueue("events_unbound", WQ_UNBOUND, WQ_MAX_ACTIVE));
}

/// Start one worker in each CPU pool and each unbound pool in use (`workqueue_init`);
/// needs kthreadd.
pub fn workqueue_init() {
    WQ_ONLINE.store(true, Release);
    for cpu in 0..online_cpus() {
        for highpri in [false, true] {
            let pool = cpu_pool(cpu, highpri);
            pool.used.store(true, Relaxed);
            create_worker(pool);
        }
    }
    for pool in &UNBOUND_POOLS {
        if pool.used.load(Acquire) {
            create_worker(pool);
        }
    }
}
