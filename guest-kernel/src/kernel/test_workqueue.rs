//! `test.workqueue` on the command line: a boot-time self-test of the workqueue API and of
//! how the pools behave (in the spirit of Linux's lib/test_*.c), run by `kernel_init` before
//! user space starts. It logs `workqueue: self-test passed` or the first check that failed;
//! the VM tests look for the line.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering::SeqCst};

use spin::Mutex;

use super::task::{current, TASK_UNINTERRUPTIBLE};
use super::timer_list::schedule_timeout;
use super::workqueue::*;
use crate::arch::percpu::cpu_id;
use crate::arch::tsc::ns_since_boot;
use crate::kernel::cpu::cpu_online_mask;
use crate::kernel::cpumask::for_each_cpu;

/// What the runs of one or more items saw.
#[derive(Default)]
struct Probe {
    runs: AtomicU32,
    running: AtomicU32,
    max_running: AtomicU32,
    pid: AtomicI32,
    cpu: AtomicUsize,
    nice: AtomicI32,
    start_ns: AtomicU64,
    end_ns: AtomicU64,
    comm: Mutex<String>,
}

/// How an item behaves when it runs.
#[derive(Clone, Copy)]
enum Body {
    Instant,
    /// Sleep this many jiffies (the worker blocks).
    Sleep(u64),
    /// Busy-wait this many ns without blocking.
    Spin(u64),
}

fn record(p: &Probe, body: Body) {
    let now_running = p.running.fetch_add(1, SeqCst) + 1;
    p.max_running.fetch_max(now_running, SeqCst);
    let me = current();
    p.start_ns.store(ns_since_boot(), SeqCst);
    p.pid.store(me.pid, SeqCst);
    p.cpu.store(cpu_id(), SeqCst);
    p.nice.store(me.se.lock().nice(), SeqCst);
    *p.comm.lock() = me.comm();
    match body {
        Body::Instant => {}
        Body::Sleep(j) => {
            schedule_timeout(j, TASK_UNINTERRUPTIBLE);
        }
        Body::Spin(ns) => {
            let until = ns_since_boot() + ns;
            while ns_since_boot() < until {
                core::hint::spin_loop();
            }
        }
    }
    p.end_ns.store(ns_since_boot(), SeqCst);
    p.running.fetch_sub(1, SeqCst);
    p.runs.fetch_add(1, SeqCst);
}

fn probe() -> Arc<Probe> {
    Arc::new(Probe::default())
}

fn work(p: &Arc<Probe>, body: Body) -> Arc<Work> {
    let p = p.clone();
    Work::new(move || record(&p, body))
}

fn delayed(p: &Arc<Probe>, body: Body) -> Arc<DelayedWork> {
    let p = p.clone();
    DelayedWork::new(move || record(&p, body))
}

type Check = Result<(), String>;
type NamedCheck = (&'static str, fn() -> Check);

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

fn sleep(jiffies: u64) {
    schedule_timeout(jiffies, TASK_UNINTERRUPTIBLE);
}

/// Wait (up to a second) until an item of `p` runs.
fn wait_running(p: &Probe) -> Check {
    for _ in 0..100 {
        if p.running.load(SeqCst) > 0 {
            return Ok(());
        }
        sleep(1);
    }
    Err("the item never started".into())
}

/// Items run on the pool they were queued for: per CPU normal and high-priority workers,
/// unbound workers; a pending item cannot be queued twice; flush waits for it.
fn pools() -> Check {
    for cpu in for_each_cpu(cpu_online_mask()) {
        for (wq, suffix) in [(system_wq(), ""), (system_highpri_wq(), "H")] {
            let p = probe();
            let w = work(&p, Body::Instant);
            ensure!(
                queue_work_on(cpu, wq, &w),
                "queue_work_on an idle item failed"
            );
            if cpu == cpu_id() {
                // Our CPU's worker cannot run before we sleep: it is still pending.
                ensure!(w.pending(), "not pending after queueing");
                ensure!(
                    !queue_work_on(cpu, wq, &w),
                    "a pending item was queued twice"
                );
            }
            flush_work(&w);
            ensure!(
                p.runs.load(SeqCst) == 1,
                "{} runs after flush_work",
                p.runs.load(SeqCst)
            );
            let comm = p.comm.lock().clone();
            let prefix = format!("kworker/{cpu}:");
            ensure!(
                comm.starts_with(&prefix) && comm.ends_with('H') == (suffix == "H"),
                "{} item for CPU {cpu} ran on {comm}",
                wq.name
            );
            ensure!(
                p.cpu.load(SeqCst) == cpu,
                "ran on CPU {}, not {cpu}",
                p.cpu.load(SeqCst)
            );
            let nice = if suffix == "H" { -20 } else { 0 };
            ensure!(
                p.nice.load(SeqCst) == nice,
                "{comm} runs at nice {}",
                p.nice.load(SeqCst)
            );
        }
    }
    let p = probe();
    let w = work(&p, Body::Instant);
    ensure!(!flush_work(&w), "flush_work of a never-queued item waited");
    let wq = system_unbound_wq().ok_or("no events_unbound")?;
    queue_work(wq, &w);
    flush_work(&w);
    let comm = p.comm.lock().clone();
    ensure!(
        comm.starts_with("kworker/u"),
        "an events_unbound item ran on {comm}"
    );
    Ok(())
}

/// Concurrency management: when the running item blocks, the next one runs on another
/// worker; while it computes without blocking, the next waits for the same worker.
fn concurrency_management() -> Check {
    let cpu = cpu_id();
    let (a, b) = (probe(), probe());
    let (wa, wb) = (work(&a, Body::Sleep(10)), work(&b, Body::Instant));
    queue_work_on(cpu, system_wq(), &wa);
    queue_work_on(cpu, system_wq(), &wb);
    flush_work(&wb);
    ensure!(
        b.runs.load(SeqCst) == 1 && a.runs.load(SeqCst) == 0,
        "the second item did not run while the first slept (runs {} {})",
        a.runs.load(SeqCst),
        b.runs.load(SeqCst)
    );
    ensure!(
        a.pid.load(SeqCst) != b.pid.load(SeqCst),
        "both ran on one worker although the first blocked"
    );
    flush_work(&wa);

    let (a, b) = (probe(), probe());
    let (wa, wb) = (work(&a, Body::Spin(20_000_000)), work(&b, Body::Instant));
    queue_work_on(cpu, system_wq(), &wa);
    queue_work_on(cpu, system_wq(), &wb);
    flush_work(&wb);
    flush_work(&wa);
    ensure!(
        a.pid.load(SeqCst) == b.pid.load(SeqCst)
            && b.start_ns.load(SeqCst) >= a.end_ns.load(SeqCst),
        "a second worker ran while the first was computing (pids {} {})",
        a.pid.load(SeqCst),
        b.pid.load(SeqCst)
    );
    Ok(())
}

/// An item queued while it runs (here from another CPU) waits for that run: never two at once.
fn non_reentrant() -> Check {
    let p = probe();
    let w = work(&p, Body::Sleep(10));
    let online = cpu_online_mask();
    let other = for_each_cpu(online & !(1 << cpu_id()))
        .next()
        .unwrap_or(cpu_id());
    queue_work_on(cpu_id(), system_wq(), &w);
    wait_running(&p)?;
    ensure!(
        queue_work_on(other, system_wq(), &w),
        "could not queue a running item"
    );
    ensure!(
        flush_work(&w),
        "flush_work did not wait for the queued instance"
    );
    ensure!(
        p.runs.load(SeqCst) == 2,
        "{} runs, want 2",
        p.runs.load(SeqCst)
    );
    ensure!(
        p.max_running.load(SeqCst) == 1,
        "the item ran twice at once"
    );
    Ok(())
}

/// Delayed items: run after their delay, `flush_delayed_work` runs them at once,
/// `cancel_delayed_work` stops the timer, `mod_delayed_work` re-arms it.
fn delayed_work() -> Check {
    let p = probe();
    let dw = delayed(&p, Body::Instant);
    let runs = || p.runs.load(SeqCst);
    ensure!(
        schedule_delayed_work(&dw, 20),
        "schedule_delayed_work failed"
    );
    ensure!(dw.pending(), "not pending while its timer waits");
    ensure!(!schedule_delayed_work(&dw, 20), "queued twice");
    sleep(5);
    ensure!(runs() == 0, "ran before its delay");
    flush_delayed_work(&dw);
    ensure!(
        runs() == 1,
        "flush_delayed_work did not run it ({} runs)",
        runs()
    );

    queue_delayed_work(system_wq(), &dw, 20);
    ensure!(
        cancel_delayed_work(&dw),
        "cancel_delayed_work found nothing pending"
    );
    ensure!(!dw.pending(), "still pending after cancel");
    sleep(30);
    ensure!(runs() == 1, "a cancelled item ran");

    let start = ns_since_boot();
    ensure!(
        !mod_delayed_work(system_wq(), &dw, 1000),
        "mod_delayed_work: idle item was pending"
    );
    ensure!(
        mod_delayed_work(system_wq(), &dw, 0),
        "mod_delayed_work lost the pending timer"
    );
    flush_work(&dw.work);
    ensure!(runs() == 2, "mod_delayed_work to 0 did not run it");
    ensure!(
        ns_since_boot() - start < 5_000_000_000,
        "mod_delayed_work kept the long delay"
    );

    schedule_delayed_work(&dw, 5);
    for _ in 0..100 {
        if runs() == 3 {
            break;
        }
        sleep(1);
    }
    ensure!(runs() == 3, "the delay timer never queued the item");
    ensure!(!cancel_delayed_work_sync(&dw), "an idle item was pending");
    Ok(())
}

/// `max_active` 1: items of a workqueue run one at a time, the rest wait inactive and can be
/// cancelled there; `cancel_work_sync` waits for a running item.
fn max_active_and_cancel() -> Check {
    let wq = alloc_workqueue("wq_selftest", WQ_UNBOUND, 1);
    let shared = probe();
    let (a, b, c) = (
        work(&shared, Body::Sleep(10)),
        work(&shared, Body::Instant),
        work(&shared, Body::Instant),
    );
    queue_work(&wq, &a);
    queue_work(&wq, &b);
    queue_work(&wq, &c);
    ensure!(
        cancel_work_sync(&b),
        "cancel_work_sync found the waiting item not pending"
    );
    ensure!(!b.pending(), "still pending after cancel");
    flush_work(&c);
    flush_work(&a);
    ensure!(
        shared.runs.load(SeqCst) == 2,
        "{} runs, want 2 (the cancelled item must not run)",
        shared.runs.load(SeqCst)
    );
    ensure!(
        shared.max_running.load(SeqCst) == 1,
        "max_active 1 ran two items at once"
    );

    let p = probe();
    let w = work(&p, Body::Sleep(10));
    schedule_work(&w);
    wait_running(&p)?;
    ensure!(!cancel_work_sync(&w), "a running item counted as pending");
    ensure!(
        p.runs.load(SeqCst) == 1 && p.running.load(SeqCst) == 0,
        "cancel_work_sync returned before the running item finished"
    );
    ensure!(!cancel_work(&w), "cancel_work of an idle item");
    Ok(())
}

/// `flush_workqueue` waits for every item queued before it and for none queued after.
fn flush_workqueue_waits() -> Check {
    let wq = alloc_workqueue("wq_flush_test", WQ_UNBOUND, 0);
    let (before, after) = (probe(), probe());
    let items: alloc::vec::Vec<_> = (0..3).map(|_| work(&before, Body::Sleep(5))).collect();
    for w in &items {
        queue_work(&wq, w);
    }
    flush_workqueue(&wq);
    ensure!(
        before.runs.load(SeqCst) == 3,
        "flush_workqueue returned after {} of 3 items",
        before.runs.load(SeqCst)
    );
    // An item queued after the flush began is not waited for: it is still asleep.
    let late = work(&after, Body::Sleep(50));
    queue_work(&wq, &late);
    wait_running(&after)?;
    let start = ns_since_boot();
    let w = work(&before, Body::Instant);
    queue_work(&wq, &w);
    flush_work(&w);
    ensure!(
        after.runs.load(SeqCst) == 0 && ns_since_boot() - start < 400_000_000,
        "flushing one item waited for an unrelated sleeper"
    );
    destroy_workqueue(&wq);
    ensure!(
        after.runs.load(SeqCst) == 1,
        "destroy_workqueue did not drain the sleeping item"
    );
    Ok(())
}

/// WQ_MEM_RECLAIM: the workqueue has a rescuer named after it; while workers cannot be
/// created, the pool's mayday timer calls it and it runs the items the busy workers cannot
/// reach. `destroy_workqueue` stops it, and refuses items queued afterwards.
fn rescuer() -> Check {
    const NAME: &str = "wq_rescue_test";
    const ITEMS: usize = 12;
    let wq = alloc_workqueue(NAME, WQ_MEM_RECLAIM, 0);
    let task = workqueue_rescuer(&wq).ok_or("no rescuer for a WQ_MEM_RECLAIM workqueue")?;
    ensure!(task.comm() == NAME, "the rescuer is called {}", task.comm());
    let cpu = cpu_id();
    let probes: alloc::vec::Vec<Arc<Probe>> = (0..ITEMS).map(|_| probe()).collect();
    let items: alloc::vec::Vec<_> = probes.iter().map(|p| work(p, Body::Sleep(10))).collect();
    // Each sleeping item takes a worker off the idle list; once none is left, the pool's
    // manager tries to create one, and fails.
    fail_create_worker(true);
    for w in &items {
        queue_work_on(cpu, &wq, w);
    }
    for w in &items {
        flush_work(w);
    }
    fail_create_worker(false);
    let runs: u32 = probes.iter().map(|p| p.runs.load(SeqCst)).sum();
    ensure!(runs == ITEMS as u32, "{runs} of {ITEMS} items ran");
    let rescued = probes.iter().filter(|p| *p.comm.lock() == NAME).count();
    ensure!(rescued > 0, "no item ran on the rescuer");
    let off: alloc::vec::Vec<(String, usize)> = probes
        .iter()
        .filter(|p| p.cpu.load(SeqCst) != cpu)
        .map(|p| (p.comm.lock().clone(), p.cpu.load(SeqCst)))
        .collect();
    ensure!(off.is_empty(), "items of CPU {cpu} ran elsewhere: {off:?}");
    destroy_workqueue(&wq);
    ensure!(
        workqueue_rescuer(&wq).is_none(),
        "destroy_workqueue left the rescuer"
    );
    for _ in 0..100 {
        if task.exit_state.load(SeqCst) != 0 {
            break;
        }
        sleep(1);
    }
    ensure!(
        task.exit_state.load(SeqCst) != 0,
        "the rescuer did not exit"
    );
    let late = probe();
    let w = work(&late, Body::Instant);
    queue_work(&wq, &w);
    sleep(5);
    ensure!(
        late.runs.load(SeqCst) == 0,
        "an item queued on a destroyed workqueue ran"
    );
    crate::pr_info!("workqueue: {} of {} items rescued", rescued, ITEMS);
    Ok(())
}

/// Run every check; log the result.
pub fn test_workqueue() {
    let checks: [NamedCheck; 7] = [
        ("pools", pools),
        ("concurrency_management", concurrency_management),
        ("non_reentrant", non_reentrant),
        ("delayed_work", delayed_work),
        ("max_active_and_cancel", max_active_and_cancel),
        ("flush_workqueue", flush_workqueue_waits),
        ("rescuer", rescuer),
    ];
    for (name, check) in checks {
        if let Err(e) = check() {
            crate::pr_err!("workqueue: self-test FAILED: {}: {}", name, e);
            return;
        }
    }
    crate::pr_notice!("workqueue: self-test passed ({} checks)", checks.len());
}
