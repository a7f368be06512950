//! `schedtest [SUBCOMMAND...]`: tests the scheduler as Linux defines it. Subcommands (all of
//! them when none is named):
//!
//! - `fair`: two CPU-bound children on one CPU at nice 0 and nice 5 share it by CFS weight
//!   (1024 : 335, a ratio of 3.06, within 15%), measured by their own CPU clocks; the loop
//!   counts and /proc `utime+stime` over the same window are printed beside it;
//! - `fifo`: a SCHED_FIFO task on a CPU stops a fair task there at once and completely, and
//!   preempts it again each time it wakes;
//! - `balance`: four spinners started on one CPU spread over two once allowed to, looked at
//!   after 1 s (and up to 3 s, for a host busy with other work; 2+ CPUs);
//! - `migrate`: changing a running task's affinity moves it to the new CPU (2+ CPUs);
//! - `yield`: sched_yield hands the CPU to the other task on it: strictly between two
//!   SCHED_FIFO tasks, mostly between two fair ones;
//! - `sleep`: nanosleep and clock_nanosleep(TIMER_ABSTIME) sleep at least as asked, not much
//!   longer;
//! - `cpus`: /proc/stat, /proc/softirqs, sysconf and the affinity mask agree on the online
//!   CPUs;
//! - `getcpu`: pinned to each allowed CPU in turn, getcpu (syscall and libc) and /proc agree;
//! - `policy`: sched_{set,get}scheduler, sched_{set,get}param, priority ranges,
//!   rr_get_interval (100 ms), EINVAL cases, SCHED_RESET_ON_FORK, {set,get}priority and the
//!   raw `20 - nice` ABI, and what /proc/<pid>/stat shows for them;
//! - `cpu_sysfs`, `cpuhp_threads`, `hotplug`, `hotplug_refused`, `hotplug_cycles`: CPU 1
//!   taken offline and back through `/sys/devices/system/cpu/cpu1/online` (`hotplug.rs`).
//!
//! Output as `guest_user::check`; exit 0 only if no check failed. Real-time parts need root
//! (CAP_SYS_NICE) and are skipped without it.

mod classes;
mod hotplug;
mod placement;
mod policy;
mod yield_sleep;

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use guest_user::check::{
    in_child, pass, pass_with, skip, Check, Context, Fail, NamedCheck, Report,
};
use guest_user::procfs::Stat;
use guest_user::sys::{self, CpuSet, Shared};
use guest_user::{ensure, fail};

use classes::{fair, fifo};
use hotplug::{cpu_sysfs, cpuhp_threads, hotplug, hotplug_cycles, hotplug_refused};
use placement::{balance, cpus, getcpu, migrate};
use policy::policy;
use yield_sleep::{sleep, yield_cpu};

const CHECKS: &[NamedCheck] = &[
    ("fair", fair),
    ("fifo", fifo),
    ("balance", balance),
    ("migrate", migrate),
    ("yield", yield_cpu),
    ("sleep", sleep),
    ("cpus", cpus),
    ("getcpu", getcpu),
    ("policy", policy),
    ("cpu_sysfs", cpu_sysfs),
    ("cpuhp_threads", cpuhp_threads),
    ("hotplug", hotplug),
    ("hotplug_refused", hotplug_refused),
    ("hotplug_cycles", hotplug_cycles),
];

/// Longest any spinning child runs, whatever happens to its parent.
const SPIN_LIMIT: Duration = Duration::from_secs(15);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut report = Report::new("schedtest");
    report.run_table(CHECKS, &args);
    report.finish();
}

/// A forked child that is killed and reaped when dropped, so no spinner outlives a check.
struct Kid(sys::pid_t);

impl Kid {
    fn spawn(f: impl FnOnce() -> i32) -> Result<Kid, Fail> {
        let pid = sys::fork_child(|| {
            sys::die_with_parent();
            f()
        })
        .ctx("fork")?;
        Ok(Kid(pid))
    }

    /// Waits for the child's exit; returns the raw status.
    fn wait(self) -> Result<i32, Fail> {
        let status = sys::wait_status(self.0).ctx("waitpid");
        std::mem::forget(self);
        status
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        sys::kill_and_reap(self.0);
    }
}

/// Spins until `stop` is set (or [`SPIN_LIMIT`]), publishing the loop count in `count`.
fn spin(stop: &AtomicBool, count: &AtomicU64) {
    let start = Instant::now();
    let mut n = 0u64;
    while !stop.load(SeqCst) && start.elapsed() < SPIN_LIMIT {
        for _ in 0..10_000 {
            n = std::hint::black_box(n + 1);
        }
        count.store(n, SeqCst);
    }
}

fn allowed_cpus() -> Result<Vec<usize>, Fail> {
    Ok(sys::get_affinity(0)
        .ctx("sched_getaffinity")?
        .cpus()
        .collect())
}

fn is_root() -> bool {
    sys::geteuid() == 0
}

fn set_nice(nice: i32) -> Result<(), Fail> {
    // SAFETY: setpriority has no memory arguments.
    let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
    ensure!(r == 0, "setpriority({nice}): errno {}", sys::errno());
    Ok(())
}
