//! Kernel threads (Linux's kernel/kthread.c): `kthreadd` (PID 2) creates every kernel thread
//! on request, as its child; `kthread_create` queues a request and waits for the new thread,
//! which sleeps until `wake_up_process`, runs its body and exits when the body returns.
//!
//! Each thread has a [`Kthread`] (`struct kthread`): the flags by which others ask it to park
//! or stop, and the CPU a per-CPU thread belongs to. A thread told to park goes to sleep in
//! TASK_PARKED at its next `kthread_parkme`, where only `kthread_unpark` wakes it: that is how
//! CPU hotplug freezes a CPU's threads while the CPU is away. `kthread_stop` makes the body's
//! loop return and waits for the thread to exit.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use spin::Mutex;

use crate::kernel::task::{
    current, current_arc, Task, TaskRef, TASK_INTERRUPTIBLE, TASK_PARKED, TASK_RUNNING,
    TASK_UNINTERRUPTIBLE,
};
use crate::sched::completion::Completion;

// `kthread->flags`, Linux's bits.
const KTHREAD_IS_PER_CPU: u32 = 1 << 0;
const KTHREAD_SHOULD_STOP: u32 = 1 << 1;
const KTHREAD_SHOULD_PARK: u32 = 1 << 2;

/// What others know of a kernel thread (`struct kthread`).
pub struct Kthread {
    flags: AtomicU32,
    /// The CPU a per-CPU thread is bound to again when unparked.
    cpu: AtomicUsize,
    /// Completed once it sleeps parked (`parked`); `is_parked` keeps it to once per park.
    parked: Completion,
    is_parked: AtomicBool,
    /// Completed when the body has returned (`exited`).
    exited: Completion,
}

impl Kthread {
    fn new() -> Self {
        Kthread {
            flags: AtomicU32::new(0),
            cpu: AtomicUsize::new(0),
            parked: Completion::new(),
            is_parked: AtomicBool::new(false),
            exited: Completion::new(),
        }
    }

    fn test(&self, bit: u32) -> bool {
        self.flags.load(Ordering::Acquire) & bit != 0
    }

    /// Bound to one CPU for good, parked while it is offline (`kthread_is_per_cpu`).
    pub fn is_per_cpu(&self) -> bool {
        self.test(KTHREAD_IS_PER_CPU)
    }
}

/// `task`'s `struct kthread`, if it is a kernel thread made by `kthread_create`.
fn to_kthread(task: &Task) -> Option<&Arc<Kthread>> {
    task.kthread.get()
}

fn current_kthread() -> &'static Arc<Kthread> {
    to_kthread(current()).expect("called from a kthread")
}

/// Whether `task` is a kernel thread bound to its CPU for good (`kthread_is_per_cpu`).
pub fn kthread_is_per_cpu(task: &Task) -> bool {
    to_kthread(task).is_some_and(|k| k.is_per_cpu())
}

/// Mark `task` as per-CPU for `cpu`, or no longer per-CPU (`kthread_set_per_cpu`; `None` is
/// Linux's -1).
pub fn kthread_set_per_cpu(task: &Task, cpu: Option<usize>) {
    let Some(k) = to_kthread(task) else { return };
    match cpu {
        Some(cpu) => {
            k.cpu.store(cpu, Ordering::Relaxed);
            k.flags.fetch_or(KTHREAD_IS_PER_CPU, Ordering::AcqRel);
        }
        None => {
            k.flags.fetch_and(!KTHREAD_IS_PER_CPU, Ordering::AcqRel);
        }
    }
}

/// Whether someone called `kthread_stop` on us (`kthread_should_stop`).
pub fn kthread_should_stop() -> bool {
    current_kthread().test(KTHREAD_SHOULD_STOP)
}

/// Whether someone called `kthread_park` on us (`kthread_should_park`).
pub fn kthread_should_park() -> bool {
    current_kthread().test(KTHREAD_SHOULD_PARK)
}

/// Sleep parked while asked to (`kthread_parkme`): the state is set before the flag is
/// tested, so an unpark between the two is not lost.
pub fn kthread_parkme() {
    let me = current();
    let k = current_kthread();
    loop {
        me.state.store(TASK_PARKED, Ordering::SeqCst);
        if !k.test(KTHREAD_SHOULD_PARK) {
            break;
        }
        if !k.is_parked.swap(true, Ordering::AcqRel) {
            k.parked.complete();
        }
        crate::sched::schedule();
    }
    me.state.store(TASK_RUNNING, Ordering::SeqCst);
}

/// Ask `task` to park and wait until it sleeps parked, off every CPU (`kthread_park`).
/// Parking oneself only sets the flag: the caller parks at its next `kthread_parkme`.
pub fn kthread_park(task: &TaskRef) {
    let Some(k) = to_kthread(task) else { return };
    if k.test(KTHREAD_SHOULD_PARK) {
        return; // Linux WARNs and says EBUSY: parked already
    }
    k.is_parked.store(false, Ordering::Release);
    k.parked.reinit_completion();
    k.flags.fetch_or(KTHREAD_SHOULD_PARK, Ordering::AcqRel);
    if core::ptr::eq(Arc::as_ptr(task), current()) {
        return;
    }
    crate::sched::wake_up_process(task);
    k.parked.wait_for_completion();
    crate::sched::wait_task_inactive(task);
}

/// Let a parked `task` run again, on its own CPU if it is per-CPU (`kthread_unpark`).
pub fn kthread_unpark(task: &TaskRef) {
    let Some(k) = to_kthread(task) else { return };
    if k.is_per_cpu() && task.state() == TASK_PARKED {
        // Its CPU went away and came back meanwhile: bind it there again.
        crate::sched::kthread_bind(task, k.cpu.load(Ordering::Relaxed));
    }
    k.flags.fetch_and(!KTHREAD_SHOULD_PARK, Ordering::AcqRel);
    crate::sched::wake_up_state(task, TASK_PARKED);
}

/// Tell `task` to stop and wait until its body has returned (`kthread_stop`). The body must
/// look at `kthread_should_stop` whenever it is woken.
pub fn kthread_stop(task: &TaskRef) {
    let Some(k) = to_kthread(task) else { return };
    k.flags.fetch_or(KTHREAD_SHOULD_STOP, Ordering::AcqRel);
    kthread_unpark(task);
    crate::sched::wake_up_process(task);
    k.exited.wait_for_completion();
}

struct CreateRequest {
    name: String,
    body: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    result: Mutex<Option<TaskRef>>,
    done: Completion,
}

static CREATE_LIST: Mutex<VecDeque<Arc<CreateRequest>>> = Mutex::new(VecDeque::new());
static KTHREADD: spin::Once<TaskRef> = spin::Once::new();

/// Record PID 2 (before it first runs, so early requests can wake it).
pub fn set_kthreadd(t: TaskRef) {
    t.set_comm("kthreadd");
    KTHREADD.call_once(|| t);
}

/// Body of PID 2.
pub extern "C" fn kthreadd(_: usize) -> ! {
    let me = current_arc();
    // Not pinned like the idle task that created us: kernel threads start on any CPU.
    let _ = crate::sched::set_cpus_allowed(&me, u64::MAX);
    loop {
        me.state.store(TASK_INTERRUPTIBLE, Ordering::SeqCst);
        if CREATE_LIST.lock().is_empty() {
            crate::sched::schedule();
        }
        me.state.store(TASK_RUNNING, Ordering::SeqCst);
        loop {
            let Some(req) = CREATE_LIST.lock().pop_front() else {
                break;
            };
            let arg = Arc::into_raw(req.clone()) as usize;
            if let Err(e) = crate::kernel::fork::kernel_thread(kthread_entry, arg, 0) {
                crate::pr_err!("kthreadd: cannot create {}: error -{}", req.name, e);
                // SAFETY: the thread was not created, so the reference passed to it is ours.
                drop(unsafe { Arc::from_raw(arg as *const CreateRequest) });
                req.done.complete();
            }
        }
    }
}

/// First code of every kthread (`kthread`): report to the creator, sleep until woken, park
/// if asked to meanwhile, run the body unless already told to stop.
extern "C" fn kthread_entry(arg: usize) -> ! {
    // SAFETY: `arg` came from Arc::into_raw in kthreadd, handed over to us exactly once.
    let req = unsafe { Arc::from_raw(arg as *const CreateRequest) };
    let me = current_arc();
    let k = me.kthread.call_once(|| Arc::new(Kthread::new())).clone();
    me.set_comm(&req.name);
    let body = req.body.lock().take();
    *req.result.lock() = Some(me.clone());
    me.state.store(TASK_UNINTERRUPTIBLE, Ordering::SeqCst);
    req.done.complete();
    drop(req);
    drop(me);
    crate::sched::schedule();
    if !k.test(KTHREAD_SHOULD_STOP) {
        kthread_parkme();
        if let Some(body) = body {
            if !k.test(KTHREAD_SHOULD_STOP) {
                body();
            }
        }
    }
    k.exited.complete();
    crate::kernel::exit::do_exit(0)
}

/// Ask kthreadd for a new kernel thread running `body`; it sleeps until woken.
pub fn kthread_create(name: &str, body: impl FnOnce() + Send + 'static) -> Option<TaskRef> {
    let req = Arc::new(CreateRequest {
        name: name.into(),
        body: Mutex::new(Some(Box::new(body))),
        result: Mutex::new(None),
        done: Completion::new(),
    });
    CREATE_LIST.lock().push_back(req.clone());
    crate::sched::wake_up_process(KTHREADD.get()?);
    req.done.wait_for_completion();
    let t = req.result.lock().take();
    t
}

/// A kernel thread bound to `cpu` for good, bound again there whenever it is unparked
/// (`kthread_create_on_cpu`).
pub fn kthread_create_on_cpu(
    cpu: usize,
    name: &str,
    body: impl FnOnce() + Send + 'static,
) -> Option<TaskRef> {
    let t = kthread_create(name, body)?;
    crate::sched::kthread_bind(&t, cpu);
    kthread_set_per_cpu(&t, Some(cpu));
    Some(t)
}

/// Create and start.
pub fn kthread_run(name: &str, body: impl FnOnce() + Send + 'static) -> Option<TaskRef> {
    let t = kthread_create(name, body)?;
    crate::sched::wake_up_process(&t);
    Some(t)
}
