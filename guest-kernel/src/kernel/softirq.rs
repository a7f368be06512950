//! Softirqs, tasklets and `ksoftirqd/N` (Linux's kernel/softirq.c).
//!
//! An interrupt handler does the urgent part of its work and raises a softirq for the rest;
//! `irq_exit` runs the raised softirqs before the CPU returns to what it interrupted
//! (`__do_softirq`). If softirqs keep re-raising themselves past a budget (10 rounds or 2 ms),
//! the rest is left to this CPU's `ksoftirqd/N` thread, which the scheduler runs like any other
//! task, so a softirq storm cannot starve user space. Tasklets are work items run from the
//! TASKLET softirq on the CPU that scheduled them.
//!
//! Our kernel runs with interrupts off outside user mode and the idle loop, so an interrupt
//! never lands in the middle of softirq processing: `irq_exit` needs no nesting count.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use core::fmt::Write;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use spin::Mutex;

use crate::arch::percpu::{cpu_id, nr_cpu_ids, MAX_CPUS};
use crate::arch::tsc;
use crate::kernel::smpboot::{smpboot_register_percpu_thread, SmpHotplugThread};

#[allow(dead_code)] // Linux's numbering; nothing raises it yet
pub const HI_SOFTIRQ: usize = 0;
pub const TIMER_SOFTIRQ: usize = 1;
#[allow(dead_code)] // Linux's numbering; nothing raises it yet
pub const NET_TX_SOFTIRQ: usize = 2;
#[allow(dead_code)] // Linux's numbering; nothing raises it yet
pub const NET_RX_SOFTIRQ: usize = 3;
#[allow(dead_code)] // Linux's numbering; nothing raises it yet
pub const BLOCK_SOFTIRQ: usize = 4;
#[allow(dead_code)] // Linux's numbering; nothing raises it yet
pub const IRQ_POLL_SOFTIRQ: usize = 5;
pub const TASKLET_SOFTIRQ: usize = 6;
pub const SCHED_SOFTIRQ: usize = 7;
#[allow(dead_code)] // Linux's numbering; nothing raises it yet
pub const HRTIMER_SOFTIRQ: usize = 8;
#[allow(dead_code)] // Linux's numbering; nothing raises it yet
pub const RCU_SOFTIRQ: usize = 9;
pub const NR_SOFTIRQS: usize = 10;

/// Names as /proc/softirqs prints them (`softirq_to_name`).
pub const SOFTIRQ_NAMES: [&str; NR_SOFTIRQS] = [
    "HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "IRQ_POLL", "TASKLET", "SCHED", "HRTIMER", "RCU",
];

const MAX_SOFTIRQ_RESTART: u32 = 10;
const MAX_SOFTIRQ_TIME_NS: u64 = 2_000_000;

type Action = fn();

static SOFTIRQ_VEC: Mutex<[Option<Action>; NR_SOFTIRQS]> = Mutex::new([None; NR_SOFTIRQS]);
/// Raised and not yet run, per CPU (`local_softirq_pending`).
static PENDING: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(0) }; MAX_CPUS];
/// Runs of each softirq on each CPU (`kstat_softirqs_cpu`), for /proc/softirqs and /proc/stat.
static COUNTS: [[AtomicU64; NR_SOFTIRQS]; MAX_CPUS] =
    [const { [const { AtomicU64::new(0) }; NR_SOFTIRQS] }; MAX_CPUS];

/// `ksoftirqd/N` (`softirq_threads`).
static SOFTIRQ_THREADS: SmpHotplugThread =
    SmpHotplugThread::new("ksoftirqd/", ksoftirqd_should_run, run_ksoftirqd);

/// Install the handler of softirq `nr` (`open_softirq`).
pub fn open_softirq(nr: usize, action: Action) {
    SOFTIRQ_VEC.lock()[nr] = Some(action);
}

/// Mark softirq `nr` pending on this CPU; it runs at the next `irq_exit` or in ksoftirqd
/// (`raise_softirq_irqoff`).
pub fn raise_softirq(nr: usize) {
    crate::trace::trace_softirq_raise(nr);
    PENDING[cpu_id()].fetch_or(1 << nr, Ordering::AcqRel);
}

fn local_softirq_pending() -> u32 {
    PENDING[cpu_id()].load(Ordering::Acquire)
}

/// Run what is pending, re-checking until nothing is or the budget is spent; true if work
/// was left over (`__do_softirq`).
fn do_softirq_budgeted() -> bool {
    let cpu = cpu_id();
    let start = tsc::ns_since_boot();
    let mut restarts = MAX_SOFTIRQ_RESTART;
    loop {
        let pending = PENDING[cpu].swap(0, Ordering::AcqRel);
        if pending == 0 {
            return false;
        }
        let actions = *SOFTIRQ_VEC.lock();
        for (nr, action) in actions.iter().enumerate() {
            if pending & (1 << nr) == 0 {
                continue;
            }
            COUNTS[cpu][nr].fetch_add(1, Ordering::Relaxed);
            if let Some(f) = action {
                crate::trace::trace_softirq_entry(nr);
                f();
                crate::trace::trace_softirq_exit(nr);
            }
        }
        restarts -= 1;
        if local_softirq_pending() == 0 {
            return false;
        }
        if restarts == 0 || tsc::ns_since_boot() - start >= MAX_SOFTIRQ_TIME_NS {
            return true;
        }
    }
}

/// Leaving an interrupt: run the softirqs it raised, handing an overflow to ksoftirqd.
pub fn irq_exit() {
    if local_softirq_pending() != 0 && do_softirq_budgeted() {
        wakeup_softirqd();
    }
}

fn wakeup_softirqd() {
    if let Some(t) = SOFTIRQ_THREADS.task(cpu_id()) {
        crate::sched::wake_up_process(t);
    }
}

fn ksoftirqd_should_run(cpu: usize) -> bool {
    PENDING[cpu].load(Ordering::Acquire) != 0
}

/// One round of `ksoftirqd/N`, which its smpboot loop runs while softirqs are pending, giving
/// way to others between rounds (`run_ksoftirqd`).
fn run_ksoftirqd(_cpu: usize) {
    if local_softirq_pending() != 0 {
        do_softirq_budgeted();
        crate::sched::cond_resched();
    }
}

/// A deferred function run once in softirq context on the scheduling CPU.
pub type TaskletFn = Box<dyn FnOnce() + Send>;

static TASKLETS: [Mutex<VecDeque<TaskletFn>>; MAX_CPUS] =
    [const { Mutex::new(VecDeque::new()) }; MAX_CPUS];

/// Queue `f` to run from TASKLET_SOFTIRQ on this CPU (`tasklet_schedule`).
pub fn tasklet_schedule(f: TaskletFn) {
    TASKLETS[cpu_id()].lock().push_back(f);
    raise_softirq(TASKLET_SOFTIRQ);
}

fn run_tasklets(list: &Mutex<VecDeque<TaskletFn>>) {
    let batch = core::mem::take(&mut *list.lock());
    for f in batch {
        f();
    }
}

fn tasklet_action() {
    run_tasklets(&TASKLETS[cpu_id()]);
}

/// Register the tasklet softirq (`softirq_init`). High-priority tasklets (HI_SOFTIRQ) have
/// no user yet.
pub fn softirq_init() {
    open_softirq(TASKLET_SOFTIRQ, tasklet_action);
}

/// Start one `ksoftirqd/N` per CPU, bound to it (`spawn_ksoftirqd`).
pub fn spawn_ksoftirqd() {
    smpboot_register_percpu_thread(&SOFTIRQ_THREADS);
}

/// `softirq:dead`, on a live CPU: run the dead `cpu`'s tasklets here; its other pending
/// softirqs are dropped, as its tick and its interrupts are gone (`takeover_tasklets`).
pub fn takeover_tasklets(cpu: usize) {
    let moved = core::mem::take(&mut *TASKLETS[cpu].lock());
    PENDING[cpu].store(0, Ordering::Release);
    if !moved.is_empty() {
        TASKLETS[cpu_id()].lock().extend(moved);
        raise_softirq(TASKLET_SOFTIRQ);
    }
}

/// Total runs of softirq `nr` on `cpu`.
pub fn softirq_count(cpu: usize, nr: usize) -> u64 {
    COUNTS[cpu][nr].load(Ordering::Relaxed)
}

/// /proc/softirqs (`show_softirqs`): a CPUn header, then one row per softirq, for every
/// possible CPU, online or not, as Linux shows it.
pub fn softirqs_proc_show() -> String {
    let cpus = nr_cpu_ids();
    let mut out = String::from("                    ");
    for cpu in 0..cpus {
        let _ = write!(out, "CPU{cpu:<8}");
    }
    out.push('\n');
    for (nr, name) in SOFTIRQ_NAMES.iter().enumerate() {
        let _ = write!(out, "{:>12}:", name);
        for cpu in 0..cpus {
            let _ = write!(out, " {:>10}", softirq_count(cpu, nr));
        }
        out.push('\n');
    }
    out
}
