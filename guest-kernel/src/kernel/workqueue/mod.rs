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
//! `flush_workqueue` waits for the items queued before it by two flush colors: each item
//! records the workqueue's color when queued, and a flush flips the color and waits for the
//! old one's items to finish (Linux has 15 colors and lets flushers overlap; ours take turns).
//! `destroy_workqueue` drains (flushes until nothing is queued), stops the rescuer and frees
//! the pool workqueues; queueing on a workqueue being drained or destroyed is refused with a
//! warning, except by its own items.
//!
//! A WQ_MEM_RECLAIM workqueue has a rescuer, a thread named after it that serves it when its
//! pools cannot get a new worker (`rescuer.rs`): a pool that keeps failing to create one
//! sends maydays from a timer, and the rescuer attaches to the pool and runs that
//! workqueue's items itself. When a CPU goes offline its pools are disassociated: their
//! workers run anywhere, unmanaged, until the CPU is back (`hotplug.rs`).
//!
//! Not built: ordered workqueues, workqueue attributes (`apply_workqueue_attrs`).
//!
//! Locking: the pool lock (`WorkerPool::inner`) guards the pool, its workers' state and its
//! pool workqueues. Order: `WQ_POOL_ATTACH_MUTEX` (sleeping) → pool lock → a workqueue's
//! `mayday` lock → a work's `pwq` lock / the flush wait queue → `pi_lock` → run queue. Nothing sleeps under a pool lock. Our kernel runs with interrupts off, and
//! timer callbacks (the delayed-work and idle timers) run from softirqs entered only from
//! user mode or the idle loop, so a pool lock never meets itself on one CPU.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::*};

use spin::{Mutex, MutexGuard, Once};

use crate::arch::percpu::{cpu_id, nr_cpu_ids, MAX_CPUS};
use crate::kernel::locking::mutex::SleepingMutex;
use crate::kernel::task::{current, Task, TaskRef, PF_WQ_WORKER, TASK_IDLE, TASK_UNINTERRUPTIBLE};
use crate::kernel::time::{jiffies, HZ};
use crate::kernel::timer_list::{add_timer, TimerList};
use crate::kernel::workqueue_internal::*;
use crate::sched::wait::WaitQueue;

mod create;
mod flush;
mod hotplug;
mod rescuer;
mod worker;

use create::WORKQUEUES;
pub use create::*;
pub use flush::*;
pub use hotplug::{workqueue_offline_cpu, workqueue_online_cpu};
pub use rescuer::workqueue_rescuer;
use rescuer::*;
pub use worker::fail_create_worker;
use worker::*;
pub(crate) use worker::{wq_worker_comm, wq_worker_running, wq_worker_sleeping};

// Workqueue flags (`alloc_workqueue`), Linux's values.
/// Not bound to a CPU: served by the unbound pools.
pub const WQ_UNBOUND: u32 = 1 << 1;
/// May be used on the memory-reclaim path: it gets a rescuer.
pub const WQ_MEM_RECLAIM: u32 = 1 << 3;
/// Served by the high-priority (nice -20) pools.
pub const WQ_HIGHPRI: u32 = 1 << 4;
// Internal state (`wq->flags` above the public ones), Linux's values.
/// Being destroyed: only its own items may queue more.
const __WQ_DESTROYING: u32 = 1 << 15;
/// Being drained: only its own items may queue more.
const __WQ_DRAINING: u32 = 1 << 16;

pub const WQ_MAX_ACTIVE: usize = 512;
pub const WQ_DFL_ACTIVE: usize = WQ_MAX_ACTIVE / 2;
/// "Any CPU": the local one for per-CPU workqueues (Linux uses NR_CPUS).
pub const WORK_CPU_UNBOUND: usize = usize::MAX;

const HIGHPRI_NICE_LEVEL: i32 = -20;
/// Wait between failed attempts to create a worker (`CREATE_COOLDOWN`).
const CREATE_COOLDOWN: u64 = HZ;
/// A pool that has not got a new worker this long calls its rescuers, then again every
/// interval (`MAYDAY_INITIAL_TIMEOUT`, `MAYDAY_INTERVAL`).
const MAYDAY_INITIAL_TIMEOUT: u64 = if HZ / 100 >= 2 { HZ / 100 } else { 2 };
const MAYDAY_INTERVAL: u64 = HZ / 10;
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
    /// The flush color of the queued instance (written under its pool's lock).
    color: AtomicU32,
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
            color: AtomicU32::new(0),
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
    id: usize,
    /// __WQ_DRAINING, __WQ_DESTROYING.
    state: AtomicU32,
    /// Per-CPU: one per possible CPU, indexed by CPU; unbound: one.
    pwqs: Vec<Arc<PoolWorkqueue>>,
    /// The flush color newly queued items get (0 or 1).
    work_color: AtomicU32,
    /// Flushers take turns (`wq->mutex` around the flush queue).
    flush_mutex: SleepingMutex,
    nr_drainers: Mutex<usize>,
    /// The rescuer and the pool workqueues asking for it (`wq_mayday_lock`).
    mayday: Mutex<Mayday>,
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
    wq: Weak<WorkqueueStruct>,
    /// On its workqueue's mayday list (`mayday_node`; under the `mayday` lock).
    on_mayday: AtomicBool,
}

/// Per-pwq state, under the pool lock.
#[derive(Default)]
struct PwqState {
    /// Items on the worklist or running.
    nr_active: usize,
    /// Items beyond `max_active`, waiting for a slot (`inactive_works`).
    inactive: VecDeque<Arc<Work>>,
    /// Items queued, inactive or running, by flush color (`nr_in_flight`).
    in_flight: [usize; 2],
}

type Queued = (Arc<Work>, Arc<PoolWorkqueue>);

/// One worker's state, under its pool's lock (`struct worker`).
struct WorkerState {
    task: TaskRef,
    flags: u32,
    /// Blocked while counted as running (set by `wq_worker_sleeping`).
    sleeping: bool,
    current_work: Option<Arc<Work>>,
    current_pwq: Option<Arc<PoolWorkqueue>>,
    /// The flush color of the current item.
    current_color: u32,
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
    /// Calls the rescuers while a worker cannot be created (`mayday_timer`), and which
    /// arming of it is current.
    mayday_timer: Option<TimerList>,
    mayday_gen: u64,
    /// Pool workqueue states by slot; None for a free slot (its workqueue was destroyed).
    pwqs: Vec<Option<PwqState>>,
    /// When the pool last started an item (`watchdog_ts`).
    watchdog_ts: u64,
    /// The CPU of this per-CPU pool is offline: its workers run anywhere, unmanaged
    /// (`POOL_DISASSOCIATED`).
    disassociated: bool,
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
            mayday_timer: None,
            mayday_gen: 0,
            pwqs: Vec::new(),
            watchdog_ts: 0,
            disassociated: false,
        }
    }

    /// The state of the pool workqueue in `slot`.
    fn pwq(&mut self, slot: usize) -> &mut PwqState {
        self.pwqs[slot].as_mut().expect("pool workqueue in use")
    }

    /// Take a free slot for a new pool workqueue.
    fn alloc_pwq_slot(&mut self) -> usize {
        match self.pwqs.iter().position(Option::is_none) {
            Some(i) => {
                self.pwqs[i] = Some(PwqState::default());
                i
            }
            None => {
                self.pwqs.push(Some(PwqState::default()));
                self.pwqs.len() - 1
            }
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
/// A workqueue being drained or destroyed takes more items only from its own items; anyone
/// else is a bug that Linux WARNs about, and the item stays pending without being queued.
fn __queue_work(cpu: usize, wq: &WorkqueueStruct, work: &Arc<Work>) {
    if wq.state.load(Acquire) & (__WQ_DESTROYING | __WQ_DRAINING) != 0 && !is_chained_work(wq) {
        crate::kernel::panic::warn_on_once(
            &QUEUE_ON_DYING_WQ,
            format_args!(
                "workqueue {}: queueing {:#x} while it is being {}",
                wq.name,
                work.function,
                if wq.state.load(Acquire) & __WQ_DESTROYING != 0 {
                    "destroyed"
                } else {
                    "drained"
                }
            ),
        );
        return;
    }
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
    let color = wq.work_color.load(Acquire);
    work.color.store(color, Relaxed);
    let st = inner.pwq(pwq.slot);
    st.in_flight[color as usize] += 1;
    if st.nr_active < pwq.max_active {
        st.nr_active += 1;
        crate::trace::trace_workqueue_activate_work(work.addr());
        insert_work(&mut inner, (work.clone(), pwq));
    } else {
        st.inactive.push_back(work.clone());
    }
}

static QUEUE_ON_DYING_WQ: AtomicBool = AtomicBool::new(false);

/// Whether the running task is a worker running an item of `wq` (`is_chained_work`).
fn is_chained_work(wq: &WorkqueueStruct) -> bool {
    let Some((mut inner, id)) = lock_worker_pool(current()) else {
        return false;
    };
    let w = inner.worker(id);
    w.current_pwq.as_ref().is_some_and(|p| p.wq_id == wq.id)
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
