//! Per-CPU kernel threads that follow their CPU through hotplug (Linux's kernel/smpboot.c):
//! `ksoftirqd/N`, `migration/N` and `cpuhp/N` are each an [`SmpHotplugThread`], one thread
//! per CPU bound to it, running [`smpboot_thread_fn`]: sleep until `thread_should_run`, then
//! run `thread_fn`; park when the CPU goes offline, pick up again when it comes back.
//!
//! Threads are created parked and unparked once their CPU runs. "Self-parking" threads (the
//! stopper and the hotplug thread) are parked and unparked by the hotplug code at precise
//! points instead of by `smpboot_park_threads`.

use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use spin::{Mutex, Once};

use crate::arch::percpu::MAX_CPUS;
use crate::kernel::kthread::{
    kthread_create_on_cpu, kthread_park, kthread_parkme, kthread_should_park, kthread_should_stop,
    kthread_unpark,
};
use crate::kernel::task::{current, TaskRef, TASK_INTERRUPTIBLE, TASK_RUNNING};

/// One kind of per-CPU thread (`struct smp_hotplug_thread`).
pub struct SmpHotplugThread {
    /// The thread of each CPU.
    pub store: [Once<TaskRef>; MAX_CPUS],
    /// Whether there is work; asked with the task's state already set to sleep.
    pub thread_should_run: fn(usize) -> bool,
    pub thread_fn: fn(usize),
    /// The name, before the CPU number (`ksoftirqd/`).
    pub thread_comm: &'static str,
    /// Right after the thread of `cpu` was created, in the creator (`create`).
    pub create: Option<fn(usize, &TaskRef)>,
    /// In the thread, as its CPU goes offline / comes back (`park`, `unpark`).
    pub park: Option<fn(usize)>,
    pub unpark: Option<fn(usize)>,
    /// Parked and unparked by their owner, not by `smpboot_park_threads`.
    pub selfparking: bool,
}

impl SmpHotplugThread {
    pub const fn new(
        thread_comm: &'static str,
        thread_should_run: fn(usize) -> bool,
        thread_fn: fn(usize),
    ) -> Self {
        SmpHotplugThread {
            store: [const { Once::new() }; MAX_CPUS],
            thread_should_run,
            thread_fn,
            thread_comm,
            create: None,
            park: None,
            unpark: None,
            selfparking: false,
        }
    }

    /// With a hook run in the creator right after each thread is made.
    pub const fn with_create(mut self, create: fn(usize, &TaskRef)) -> Self {
        self.create = Some(create);
        self
    }

    /// With a hook run in the thread as it parks.
    pub const fn with_park(mut self, park: fn(usize)) -> Self {
        self.park = Some(park);
        self
    }

    /// Parked and unparked by their owner only.
    pub const fn self_parking(mut self) -> Self {
        self.selfparking = true;
        self
    }

    /// The thread of `cpu`, once created.
    pub fn task(&self, cpu: usize) -> Option<&TaskRef> {
        self.store[cpu].get()
    }
}

/// Every registered kind, in registration order (`hotplug_threads`).
static HOTPLUG_THREADS: Mutex<Vec<&'static SmpHotplugThread>> = Mutex::new(Vec::new());

/// Where a thread is in its life (`HP_THREAD_*`): the park and unpark hooks run only for a
/// thread that was running, not for one created parked.
#[derive(PartialEq, Eq)]
enum Status {
    None,
    Active,
    Parked,
}

/// The body of every such thread (`smpboot_thread_fn`): stop, park, or run when there is
/// work, with the sleeping state set before looking, so no wake-up is lost.
fn smpboot_thread_fn(ht: &'static SmpHotplugThread, cpu: usize) {
    let me = current();
    let set_state = |state| me.state.store(state, Ordering::SeqCst);
    let mut status = Status::None;
    loop {
        set_state(TASK_INTERRUPTIBLE);
        if kthread_should_stop() {
            set_state(TASK_RUNNING);
            return;
        }
        if kthread_should_park() {
            set_state(TASK_RUNNING);
            if status == Status::Active {
                if let Some(park) = ht.park {
                    park(cpu);
                }
                status = Status::Parked;
            }
            kthread_parkme();
            continue;
        }
        match status {
            Status::None => {
                set_state(TASK_RUNNING);
                status = Status::Active;
                continue;
            }
            Status::Parked => {
                set_state(TASK_RUNNING);
                if let Some(unpark) = ht.unpark {
                    unpark(cpu);
                }
                status = Status::Active;
                continue;
            }
            Status::Active => {}
        }
        if (ht.thread_should_run)(cpu) {
            set_state(TASK_RUNNING);
            (ht.thread_fn)(cpu);
        } else {
            crate::sched::schedule();
        }
    }
}

/// Create the thread of `cpu`, parked (`__smpboot_create_thread`).
fn smpboot_create_thread(ht: &'static SmpHotplugThread, cpu: usize) {
    if ht.store[cpu].get().is_some() {
        return;
    }
    let name = alloc::format!("{}{cpu}", ht.thread_comm);
    let Some(task) = kthread_create_on_cpu(cpu, &name, move || smpboot_thread_fn(ht, cpu)) else {
        crate::pr_err!("smpboot: cannot create {}", name);
        return;
    };
    // Parked until its CPU runs it: it starts there, never elsewhere.
    kthread_park(&task);
    let task = ht.store[cpu].call_once(|| task);
    if let Some(create) = ht.create {
        create(cpu, task);
    }
}

fn smpboot_unpark_thread(ht: &SmpHotplugThread, cpu: usize) {
    if let Some(task) = ht.task(cpu).filter(|_| !ht.selfparking) {
        kthread_unpark(task);
    }
}

/// Create `ht`'s thread on every online CPU and start them (`smpboot_register_percpu_thread`).
pub fn smpboot_register_percpu_thread(ht: &'static SmpHotplugThread) {
    for cpu in crate::kernel::cpumask::for_each_cpu(crate::kernel::cpu::cpu_online_mask()) {
        smpboot_create_thread(ht, cpu);
        smpboot_unpark_thread(ht, cpu);
    }
    HOTPLUG_THREADS.lock().push(ht);
}

/// `cpu` comes back: let its threads run again (`smpboot_unpark_threads`).
pub fn smpboot_unpark_threads(cpu: usize) {
    let threads = HOTPLUG_THREADS.lock().clone();
    for ht in threads {
        smpboot_unpark_thread(ht, cpu);
    }
}

/// `cpu` goes away: park its threads, last registered first (`smpboot_park_threads`).
pub fn smpboot_park_threads(cpu: usize) {
    let threads = HOTPLUG_THREADS.lock().clone();
    for ht in threads.iter().rev() {
        if let Some(task) = ht.task(cpu).filter(|_| !ht.selfparking) {
            kthread_park(task);
        }
    }
}
