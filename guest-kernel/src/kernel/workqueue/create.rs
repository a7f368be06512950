//! Making workqueues (`alloc_workqueue`), the system workqueues (`events`, ...), and the
//! boot-time setup of the pools (`workqueue_init_early`, `workqueue_init`).

use super::*;

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
        (0..nr_cpu_ids())
            .map(|cpu| cpu_pool(cpu, highpri))
            .collect()
    };
    let wq_id = NEXT_WQ_ID.fetch_add(1, Relaxed);
    let name: Arc<str> = name.into();
    let wq = Arc::new_cyclic(|me: &Weak<WorkqueueStruct>| {
        let pwqs = pools
            .into_iter()
            .map(|pool| {
                let first_use = !pool.used.swap(true, AcqRel);
                if first_use && pool.cpu.is_none() {
                    // `get_unbound_pool`: the next pool ID, and a first worker if they can run.
                    let id = 2 * nr_cpu_ids() + NEXT_UNBOUND_POOL_ID.fetch_add(1, Relaxed);
                    pool.id.store(id, Relaxed);
                    if WQ_ONLINE.load(Acquire) {
                        create_worker(pool);
                    }
                }
                Arc::new(PoolWorkqueue {
                    pool,
                    slot: pool.lock().alloc_pwq_slot(),
                    wq_id,
                    wq_name: name.clone(),
                    max_active,
                    wq: me.clone(),
                    on_mayday: AtomicBool::new(false),
                })
            })
            .collect();
        WorkqueueStruct {
            name,
            flags,
            id: wq_id,
            state: AtomicU32::new(0),
            pwqs,
            work_color: AtomicU32::new(0),
            flush_mutex: SleepingMutex::new(),
            nr_drainers: Mutex::new(0),
            mayday: Mutex::new(Mayday::default()),
        }
    });
    if flags & WQ_MEM_RECLAIM != 0 && WQ_ONLINE.load(Acquire) {
        init_rescuer(&wq);
    }
    WORKQUEUES.lock().push(wq.clone());
    wq
}

/// Every workqueue not destroyed (`workqueues`).
pub(super) static WORKQUEUES: Mutex<Vec<Workqueue>> = Mutex::new(Vec::new());

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
/// are up, as our per-CPU tables are sized by the CPUs that exist.
pub fn workqueue_init_early() {
    for cpu in 0..nr_cpu_ids() {
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

/// Start one worker in each CPU pool and each unbound pool in use, and the rescuers of the
/// workqueues made so far (`workqueue_init`); needs kthreadd.
pub fn workqueue_init() {
    WQ_ONLINE.store(true, Release);
    let early: Vec<Workqueue> = WORKQUEUES.lock().clone();
    for wq in early.iter().filter(|wq| wq.flags & WQ_MEM_RECLAIM != 0) {
        init_rescuer(wq);
    }
    for cpu in 0..nr_cpu_ids() {
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
