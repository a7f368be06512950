//! `proctest [CHECK...]`: tests processes and threads as Linux defines them: fork, exec, wait
//! in its forms, zombies, orphans, vfork, clone flag rules, resource usage, names, sessions and
//! process groups, RLIMIT_NPROC, thread groups, and std's `thread` and `process` on top; the
//! kernel threads that serve them (khungtaskd, softirqs, kworkers); the boot time and
//! controlling terminals as /proc shows them; futexes (requeue, shared across processes); and
//! what threads on several CPUs need of the memory manager (TLB shootdowns).
//!
//! Prints `ok:` / `FAIL:` / `skip:` per check (see `guest_user::check`) and exits 0 only if
//! none failed. Every check fails on a kernel that lacks the feature it names. Runs as PID 1
//! (the guest's init execs it) or as an ordinary process (the host): orphans are collected with
//! `PR_SET_CHILD_SUBREAPER` in the latter case.

mod futex;
mod kworkers;
mod resources;
mod terminal;
mod threads;
mod tlb;

use std::ffi::CString;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use guest_user::check::{pass, pass_with, skip, Check, Context, Fail, NamedCheck, Report};
use guest_user::procfs::Stat;
use guest_user::sys::{self, Fork, Shared};
use guest_user::{ensure, fail};

use kworkers::{console_input, kworker_comm, kworkers_per_cpu, vmstat_fold};
use resources::{prctl_name, rlimit_nproc, rusage_times, session_pgrp};
use threads::{command_output, command_status, thread_exit_group, thread_ids, threads_join};

const CHECKS: &[NamedCheck] = &[
    ("fork_wait", fork_wait),
    ("fork_cow", fork_cow),
    ("fork_exec_wait", fork_exec_wait),
    ("exec_enoent", exec_enoent),
    ("zombie_state", zombie_state),
    ("orphan_reparent", orphan_reparent),
    ("vfork", vfork),
    ("clone_flags_einval", clone_flags_einval),
    ("wait4_wnohang", wait4_wnohang),
    ("waitid", waitid),
    ("rusage_times", rusage_times),
    ("prctl_name", prctl_name),
    ("session_pgrp", session_pgrp),
    ("rlimit_nproc", rlimit_nproc),
    ("thread_ids", thread_ids),
    ("threads_join", threads_join),
    ("thread_exit_group", thread_exit_group),
    ("command_status", command_status),
    ("command_output", command_output),
    ("hung_task", hung_task),
    ("softirqs", softirqs),
    ("watchdog", watchdog),
    ("kworkers", kworkers_per_cpu),
    ("kworker_comm", kworker_comm),
    ("vmstat_fold", vmstat_fold),
    ("console_input", console_input),
    ("proc_btime", terminal::proc_btime),
    ("ctty_stat", terminal::ctty_stat),
    ("futex_requeue", futex::futex_requeue),
    ("futex_shared_fork", futex::futex_shared_fork),
    ("tlb_munmap", tlb::tlb_munmap),
    ("tlb_remap", tlb::tlb_remap),
    ("tlb_stress", tlb::tlb_stress),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut report = Report::new("proctest");
    report.run_table(CHECKS, &args);
    report.finish();
}

pub(crate) fn errno_of(err: &std::io::Error) -> i32 {
    err.raw_os_error().unwrap_or(0)
}

/// fork: the child gets 0 and its own pid, sees us as its parent; waitpid returns its pid and
/// exit status, after which it is gone (ECHILD).
fn fork_wait() -> Check {
    let parent = sys::getpid();
    let seen = Shared::new([AtomicI32::new(0), AtomicI32::new(0)]).ctx("mmap")?;
    let pid = sys::fork_child(|| {
        seen[0].store(sys::getppid(), SeqCst);
        seen[1].store(sys::getpid(), SeqCst);
        42
    })
    .ctx("fork")?;
    let (got, status) = sys::waitpid(pid, 0).ctx("waitpid")?;
    ensure!(got == pid, "waitpid returned {got}, want {pid}");
    ensure!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 42,
        "child {}, want exited 42",
        sys::describe_status(status)
    );
    ensure!(pid != parent, "child pid {pid} is our own pid");
    ensure!(
        seen[1].load(SeqCst) == pid,
        "child's getpid() = {}, fork returned {pid}",
        seen[1].load(SeqCst)
    );
    ensure!(
        seen[0].load(SeqCst) == parent,
        "child's getppid() = {}, want {parent}",
        seen[0].load(SeqCst)
    );
    match sys::waitpid(pid, 0) {
        Err(e) if errno_of(&e) == libc::ECHILD => pass_with("status 42, reaped"),
        other => fail!("second waitpid for the reaped child: {other:?}, want ECHILD"),
    }
}

/// fork copies memory: the child sees the parent's data and its writes stay its own.
fn fork_cow() -> Check {
    let mut heap = vec![1u8; 64 * 1024];
    let mut stack = [7u64; 64];
    std::hint::black_box((&mut heap, &mut stack));
    let pid = sys::fork_child(|| {
        if heap.iter().any(|&b| b != 1) || stack.iter().any(|&w| w != 7) {
            return 1;
        }
        heap.iter_mut().for_each(|b| *b = 2);
        stack[3] = 9;
        std::hint::black_box((&heap, &stack));
        if heap[65535] == 2 && stack[3] == 9 {
            0
        } else {
            3
        }
    })
    .ctx("fork")?;
    let status = sys::wait_status(pid).ctx("waitpid")?;
    ensure!(
        status == 0,
        "child {} (1: did not see the parent's data, 3: its own writes were lost)",
        sys::describe_status(status)
    );
    ensure!(
        heap.iter().all(|&b| b == 1) && stack[3] == 7,
        "the child's writes showed up in the parent"
    );
    pass()
}

/// fork + execve + wait: the exec'd program's exit status comes back.
fn fork_exec_wait() -> Check {
    let Some(path) = sys::find_program("exitcode") else {
        fail!("cannot find the exitcode program (/bin/exitcode or next to proctest)");
    };
    let cpath = CString::new(path.to_string_lossy().as_bytes()).unwrap();
    let (arg0, arg1) = (c"exitcode", c"7");
    let argv = [arg0.as_ptr(), arg1.as_ptr(), std::ptr::null()];
    let envp = [std::ptr::null()];
    let pid = sys::fork_child(|| {
        // SAFETY: path, argv and envp are NUL-terminated and outlive the call.
        unsafe { libc::execve(cpath.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
        127
    })
    .ctx("fork")?;
    let status = sys::wait_status(pid).ctx("waitpid")?;
    ensure!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 7,
        "{} {}, want exited 7 (127: execve failed)",
        path.display(),
        sys::describe_status(status)
    );
    pass_with(format_args!("{} exited 7", path.display()))
}

/// execve of a missing file fails with ENOENT and leaves the caller running.
fn exec_enoent() -> Check {
    let argv = [c"nothing".as_ptr(), std::ptr::null()];
    let envp = [std::ptr::null()];
    // SAFETY: NUL-terminated path, argv and envp; on success we would be replaced, which the
    // missing file rules out.
    let r = unsafe {
        libc::execve(
            c"/nonexistent/nothing".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
        )
    };
    let e = sys::errno();
    ensure!(
        r == -1 && e == libc::ENOENT,
        "execve returned {r}, errno {e}, want ENOENT"
    );
    pass()
}

/// An exited, unreaped child is a zombie ('Z' in /proc/<pid>/stat); reaping removes it.
fn zombie_state() -> Check {
    let pid = sys::fork_child(|| 0).ctx("fork")?;
    if !Path::new("/proc/self/stat").exists() {
        sys::wait_status(pid).ctx("waitpid")?;
        return skip("no /proc/self/stat: zombie state not visible");
    }
    let mut state = '?';
    let became_zombie = sys::wait_until(Duration::from_secs(5), || {
        state = Stat::of(pid).map(|s| s.state).unwrap_or('-');
        state == 'Z'
    });
    let status = sys::wait_status(pid).ctx("waitpid")?;
    ensure!(
        became_zombie,
        "/proc/{pid}/stat state is '{state}' ('-': unreadable), want 'Z' before the wait"
    );
    ensure!(status == 0, "child {}", sys::describe_status(status));
    ensure!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "/proc/{pid} still exists after the child was reaped"
    );
    pass()
}

/// A grandchild whose parent exits is re-parented to the nearest subreaper (us, when
/// PR_SET_CHILD_SUBREAPER works) or to init, and can then be reaped by it.
fn orphan_reparent() -> Check {
    let me = sys::getpid();
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag.
    let subreaper = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) } == 0;
    let expected = if subreaper || me == 1 { me } else { 1 };
    // [grandchild pid, its ppid before, its ppid after the parent exited]
    let ids = Shared::new([AtomicI32::new(0), AtomicI32::new(0), AtomicI32::new(0)]).ctx("mmap")?;
    let middle = sys::fork_child(|| match sys::fork() {
        Ok(Fork::Child) => {
            let before = sys::getppid();
            ids[1].store(before, SeqCst);
            sys::wait_until(Duration::from_secs(10), || sys::getppid() != before);
            ids[2].store(sys::getppid(), SeqCst);
            0
        }
        Ok(Fork::Parent(gc)) => {
            ids[0].store(gc, SeqCst);
            // Exit only once the grandchild has recorded us as its parent.
            sys::wait_until(Duration::from_secs(10), || ids[1].load(SeqCst) != 0);
            0
        }
        Err(_) => 1,
    })
    .ctx("fork")?;
    let status = sys::wait_status(middle).ctx("waitpid(middle)")?;
    ensure!(status == 0, "middle child {}", sys::describe_status(status));
    let reparented = sys::wait_until(Duration::from_secs(10), || ids[2].load(SeqCst) != 0);
    let (gc, before, after) = (
        ids[0].load(SeqCst),
        ids[1].load(SeqCst),
        ids[2].load(SeqCst),
    );
    let reaped = if expected == me && gc > 0 {
        sys::wait_status(gc).map_err(|e| e.to_string())
    } else {
        Err("not ours to reap".into())
    };
    if subreaper {
        // SAFETY: as above.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 0) };
    }
    ensure!(
        before == middle,
        "grandchild's first parent was {before}, want {middle}"
    );
    ensure!(
        reparented,
        "grandchild's getppid() still {before} 10 s after its parent exited"
    );
    ensure!(
        after == expected,
        "grandchild re-parented to {after}, want {expected}"
    );
    if expected == me {
        ensure!(
            reaped.is_ok(),
            "could not reap the adopted grandchild: {reaped:?}"
        );
    }
    let how = if me == 1 {
        "init (us)"
    } else if subreaper {
        "subreaper (us)"
    } else {
        "init"
    };
    pass_with(format_args!("re-parented to {after}, {how}"))
}

/// vfork: the child runs in our memory (its store is visible to us) and we resume only after
/// it has exited.
fn vfork() -> Check {
    // Private (not shared) memory: only a child sharing our address space can change it.
    let flag = Box::new(AtomicU64::new(0));
    let ret = sys::raw_vfork_child_sets(&flag, 9);
    ensure!(ret > 0, "vfork failed: errno {}", -ret);
    let pid = ret as i32;
    let seen = flag.load(SeqCst);
    let status = sys::wait_status(pid).ctx("waitpid")?;
    ensure!(
        seen == 1,
        "the child's store was not visible when vfork returned (no shared memory, or the \
         parent was not suspended until the child exited)"
    );
    ensure!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 9,
        "vfork child {}, want exited 9",
        sys::describe_status(status)
    );
    pass()
}

/// khungtaskd reports a task stuck in uninterruptible sleep (D) past
/// `hung_task_timeout_secs`: here a vfork parent waiting 6 s for its child, with the
/// timeout lowered to 1 s (khungtaskd must look twice: on a loaded host 2.5 s was too
/// short). The report is found in the kernel log through /dev/kmsg.
fn hung_task() -> Check {
    const KNOB: &str = "/proc/sys/kernel/hung_task_timeout_secs";
    let old = std::fs::read_to_string(KNOB).ctx("reading hung_task_timeout_secs")?;
    std::fs::write(KNOB, "1").ctx("lowering hung_task_timeout_secs")?;
    let ts = libc::timespec {
        tv_sec: 6,
        tv_nsec: 0,
    };
    let ret = sys::raw_vfork_child_sleeps(&ts);
    let restored = std::fs::write(KNOB, old.trim());
    ensure!(ret > 0, "vfork failed: errno {}", -ret);
    sys::wait_status(ret as i32).ctx("waitpid")?;
    restored.ctx("restoring hung_task_timeout_secs")?;
    let want = format!(
        "INFO: task proctest:{} blocked for more than",
        std::process::id()
    );
    let log = sys::kmsg_lines().ctx("reading /dev/kmsg")?;
    match log.iter().find(|l| l.contains(&want)) {
        Some(line) => pass_with(line.split_once(';').map_or(line.as_str(), |(_, m)| m)),
        None => fail!("no \"{want}\" in the kernel log"),
    }
}

/// /proc/softirqs counts each softirq per CPU, in Linux's layout: the tick raises TIMER work
/// and SCHED (load balancing) on every CPU, and tasklets run.
fn softirqs() -> Check {
    let text = std::fs::read_to_string("/proc/softirqs").ctx("reading /proc/softirqs")?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    let cpus = header.len();
    ensure!(cpus >= 1 && header[0] == "CPU0", "header {header:?}");
    let mut rows = std::collections::HashMap::new();
    for l in lines {
        let Some((name, counts)) = l.split_once(':') else {
            fail!("row without ':' in:\n{text}");
        };
        let counts: Vec<u64> = counts
            .split_whitespace()
            .map(|c| c.parse().unwrap_or(u64::MAX))
            .collect();
        ensure!(
            counts.len() == cpus,
            "row {name} has {} columns",
            counts.len()
        );
        rows.insert(name.trim().to_string(), counts);
    }
    let names = [
        "HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "IRQ_POLL", "TASKLET", "SCHED", "HRTIMER",
        "RCU",
    ];
    for n in names {
        ensure!(rows.contains_key(n), "no {n} row in:\n{text}");
    }
    ensure!(
        rows["SCHED"].iter().all(|&c| c > 0),
        "SCHED softirq never ran on some CPU: {:?}",
        rows["SCHED"]
    );
    pass_with(format_args!("{cpus} CPUs, SCHED {:?}", rows["SCHED"]))
}

/// The soft-lockup detector's knob, kernel.watchdog_thresh, takes 0..=60 seconds. With it at
/// 1 s, real-time tasks hogging every CPU in user mode for 3 s are no lockup: each CPU's
/// stopper still gets in to touch the watchdog, so nothing is reported.
fn watchdog() -> Check {
    const KNOB: &str = "/proc/sys/kernel/watchdog_thresh";
    let old = std::fs::read_to_string(KNOB).ctx("reading watchdog_thresh")?;
    ensure!(old == "10\n", "watchdog_thresh is {old:?}, want 10");
    match std::fs::write(KNOB, "61") {
        Err(e) if errno_of(&e) == libc::EINVAL => {}
        other => fail!("writing 61 to watchdog_thresh: {other:?}, want EINVAL"),
    }
    let reports = || -> Result<usize, Fail> {
        let log = sys::kmsg_lines().ctx("reading /dev/kmsg")?;
        Ok(log.iter().filter(|l| l.contains("soft lockup")).count())
    };
    let before = reports()?;
    std::fs::write(KNOB, "1").ctx("lowering watchdog_thresh")?;
    let mut pids = Vec::new();
    for cpu in 0..sys::online_cpus() {
        let pid = sys::fork_child(move || {
            if sys::pin_to(cpu).is_err()
                || sys::sched_setscheduler(0, libc::SCHED_FIFO, 10).is_err()
            {
                return 1;
            }
            sys::burn(Duration::from_secs(3));
            0
        });
        match pid {
            Ok(pid) => pids.push(pid),
            Err(e) => {
                let _ = std::fs::write(KNOB, old.trim());
                return Err(Fail(format!("fork: {e}")));
            }
        }
    }
    let statuses: Vec<_> = pids.iter().map(|&p| sys::wait_status(p)).collect();
    sys::sleep(Duration::from_millis(500));
    std::fs::write(KNOB, old.trim()).ctx("restoring watchdog_thresh")?;
    for s in statuses {
        ensure!(
            s.ctx("waitpid")? == 0,
            "a hog could not pin itself or become SCHED_FIFO"
        );
    }
    let after = reports()?;
    ensure!(
        after == before,
        "{} soft lockup report(s) for user-mode hogs",
        after - before
    );
    pass_with("3 s of SCHED_FIFO hogs on every CPU with watchdog_thresh 1: no report")
}

/// clone rejects inconsistent flags: a thread must share signal handlers, and shared handlers
/// need shared memory.
fn clone_flags_einval() -> Check {
    let cases: [(u64, &str); 2] = [
        (
            libc::CLONE_THREAD as u64,
            "CLONE_THREAD without CLONE_SIGHAND",
        ),
        (libc::CLONE_SIGHAND as u64, "CLONE_SIGHAND without CLONE_VM"),
    ];
    for (flags, what) in cases {
        let r = sys::raw_clone_exiting_child(flags);
        if r > 0 {
            if flags & libc::CLONE_THREAD as u64 == 0 {
                let _ = sys::waitpid(r as i32, libc::__WALL);
            }
            fail!("clone({what}) created task {r}, want EINVAL");
        }
        ensure!(
            r == -(libc::EINVAL as i64),
            "clone({what}) returned errno {}, want EINVAL",
            -r
        );
    }
    pass()
}

/// wait4 with WNOHANG returns 0 while the child runs, then the blocking wait4 returns it with
/// its status and resource usage.
fn wait4_wnohang() -> Check {
    let go = Shared::new(AtomicBool::new(false)).ctx("mmap")?;
    let pid = sys::fork_child(|| {
        sys::die_with_parent();
        sys::burn(Duration::from_millis(30));
        sys::wait_until(Duration::from_secs(20), || go.load(SeqCst));
        5
    })
    .ctx("fork")?;
    let mut status = 0;
    // SAFETY: rusage is plain data.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointers.
    let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
    go.store(true, SeqCst);
    if r != 0 {
        sys::kill_and_reap(pid);
        fail!(
            "wait4(WNOHANG) on a running child returned {r} (errno {}), want 0",
            sys::errno()
        );
    }
    let r = loop {
        // SAFETY: valid out-pointers.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r != -1 || sys::errno() != libc::EINTR {
            break r;
        }
    };
    ensure!(
        r == pid,
        "wait4 returned {r} (errno {}), want {pid}",
        sys::errno()
    );
    ensure!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 5,
        "child {}, want exited 5",
        sys::describe_status(status)
    );
    let cpu_us = (ru.ru_utime.tv_sec * 1_000_000 + ru.ru_utime.tv_usec) as u64;
    pass_with(format_args!("child user time {cpu_us} us"))
}

fn waitid_info(pid: i32, flags: i32) -> Result<libc::siginfo_t, std::io::Error> {
    // SAFETY: siginfo_t is plain data.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `info` is a valid out-pointer.
        if unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) } == 0 {
            return Ok(info);
        }
        if sys::errno() != libc::EINTR {
            return Err(std::io::Error::last_os_error());
        }
    }
}

/// waitid(P_PID, WEXITED) fills siginfo (SIGCHLD, CLD_EXITED, pid, uid, status); with WNOWAIT
/// the child stays waitable.
fn waitid() -> Check {
    let pid = sys::fork_child(|| 17).ctx("fork")?;
    let info = waitid_info(pid, libc::WEXITED).ctx("waitid")?;
    // SAFETY: for SIGCHLD the kernel fills the child fields of the union.
    let (spid, suid, sstatus) = unsafe { (info.si_pid(), info.si_uid(), info.si_status()) };
    ensure!(
        info.si_signo == libc::SIGCHLD,
        "si_signo {}, want SIGCHLD",
        info.si_signo
    );
    ensure!(
        info.si_code == libc::CLD_EXITED,
        "si_code {}, want CLD_EXITED",
        info.si_code
    );
    ensure!(spid == pid, "si_pid {spid}, want {pid}");
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    ensure!(suid == uid, "si_uid {suid}, want {uid}");
    ensure!(sstatus == 17, "si_status {sstatus}, want 17");
    ensure!(
        matches!(sys::waitpid(pid, libc::WNOHANG), Err(e) if errno_of(&e) == libc::ECHILD),
        "child still waitable after waitid(WEXITED)"
    );

    let pid = sys::fork_child(|| 18).ctx("fork")?;
    let info = waitid_info(pid, libc::WEXITED | libc::WNOWAIT).ctx("waitid(WNOWAIT)")?;
    // SAFETY: as above.
    let spid = unsafe { info.si_pid() };
    let again = sys::waitpid(pid, 0);
    ensure!(spid == pid, "waitid(WNOWAIT) si_pid {spid}, want {pid}");
    match again {
        Ok((p, st)) if p == pid && libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 18 => pass(),
        other => fail!("waitpid after waitid(WNOWAIT): {other:?}, want ({pid}, exited 18)"),
    }
}
