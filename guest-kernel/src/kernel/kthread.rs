//! Kernel threads (Linux's kernel/kthread.c): `kthreadd` (PID 2) creates every kernel thread
//! on request, as its child; `kthread_create` queues a request and waits for the new thread,
//! which sleeps until `wake_up_process`, runs its body and exits when the body returns.
//! (No `kthread_stop` yet: no kernel thread is ever stopped from outside.)

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::sync::Arc;
use core::sync::atomic::Ordering;

use spin::Mutex;

use crate::kernel::task::{
    current_arc, Task, TASK_INTERRUPTIBLE, TASK_RUNNING, TASK_UNINTERRUPTIBLE,
};
use crate::sched::completion::Completion;

struct CreateRequest {
    name: String,
    body: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    result: Mutex<Option<Arc<Task>>>,
    done: Completion,
}

static CREATE_LIST: Mutex<VecDeque<Arc<CreateRequest>>> = Mutex::new(VecDeque::new());
static KTHREADD: spin::Once<Arc<Task>> = spin::Once::new();

/// Record PID 2 (before it first runs, so early requests can wake it).
pub fn set_kthreadd(t: Arc<Task>) {
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

/// First code of every kthread: report to the creator, sleep until woken, run the body.
extern "C" fn kthread_entry(arg: usize) -> ! {
    // SAFETY: `arg` came from Arc::into_raw in kthreadd, handed over to us exactly once.
    let req = unsafe { Arc::from_raw(arg as *const CreateRequest) };
    let me = current_arc();
    me.set_comm(&req.name);
    let body = req.body.lock().take();
    *req.result.lock() = Some(me.clone());
    me.state.store(TASK_UNINTERRUPTIBLE, Ordering::SeqCst);
    req.done.complete();
    drop(req);
    drop(me);
    crate::sched::schedule();
    if let Some(body) = body {
        body();
    }
    crate::kernel::exit::do_exit(0)
}

/// Ask kthreadd for a new kernel thread running `body`; it sleeps until woken.
pub fn kthread_create(name: &str, body: impl FnOnce() + Send + 'static) -> Option<Arc<Task>> {
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

/// Create and start.
pub fn kthread_run(name: &str, body: impl FnOnce() + Send + 'static) -> Option<Arc<Task>> {
    let t = kthread_create(name, body)?;
    crate::sched::wake_up_process(&t);
    Some(t)
}
