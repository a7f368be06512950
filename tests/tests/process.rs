//! Processes, threads and signals, checked by the guest's own test programs on a 2-CPU VM.

use std::sync::{mpsc, RwLock};
use std::time::Duration;

use vm_tests::Outcome;

/// Longest one VM may run. The guest's own watchdog (`alarm`) fails a check that hangs, but
/// not a kernel that stops scheduling, so a hung VM has to fail the test from here.
const VM_TIMEOUT: Duration = Duration::from_secs(300);

/// The scheduler checks measure CPU shares and timing, which the other VMs of this file,
/// booted side by side on a 2-core host, would skew: they run alone (write), the rest
/// together (read).
static VM_SHARING: RwLock<()> = RwLock::new(());

/// `vm_tests::boot` that fails instead of waiting forever on a hung guest.
fn boot(cmdline: &str, cpus: u8) -> Outcome {
    let _shared = VM_SHARING.read().unwrap_or_else(|e| e.into_inner());
    boot_within_timeout(cmdline, cpus)
}

/// `boot` with no other VM of this file running.
fn boot_alone(cmdline: &str, cpus: u8) -> Outcome {
    let _alone = VM_SHARING.write().unwrap_or_else(|e| e.into_inner());
    boot_within_timeout(cmdline, cpus)
}

fn boot_within_timeout(cmdline: &str, cpus: u8) -> Outcome {
    let (tx, rx) = mpsc::channel();
    let owned = cmdline.to_string();
    std::thread::spawn(move || tx.send(vm_tests::boot(&owned, cpus)));
    rx.recv_timeout(VM_TIMEOUT)
        .unwrap_or_else(|_| panic!("VM `{cmdline}` hung: still running after {VM_TIMEOUT:?}"))
}

/// Run `program` with `args` as init's child and return the console, asserting it passed.
fn run_checks(program: &str, args: &str) -> String {
    checked(program, boot(&format!("quiet -- /bin/{program} {args}"), 2))
}

fn checked(program: &str, o: Outcome) -> String {
    assert_eq!(o.status(), 0, "{program} failed:\n{}", o.console);
    assert!(!o.console.contains("FAIL"), "{}", o.console);
    o.console
}

#[test]
fn fork_exec_wait_rusage_and_process_ids() {
    let out = run_checks(
        "proctest",
        "fork_wait fork_cow fork_exec_wait exec_enoent orphan_reparent vfork clone_flags_einval \
         wait4_wnohang waitid prctl_name session_pgrp rusage_times",
    );
    for check in [
        "fork_wait",
        "fork_cow",
        "fork_exec_wait",
        "orphan_reparent",
        "session_pgrp",
        "vfork",
        "clone_flags_einval",
        "wait4_wnohang",
        "waitid",
        "rusage_times",
    ] {
        assert!(
            out.contains(&format!("ok: {check}")),
            "{check} missing:\n{out}"
        );
    }
}

#[test]
fn futexes_requeue_and_meet_across_fork_and_munmap_reaches_the_other_cpu() {
    let out = run_checks(
        "proctest",
        "futex_requeue futex_shared_fork tlb_munmap tlb_remap tlb_stress",
    );
    for check in [
        "futex_requeue",
        "futex_shared_fork",
        "tlb_munmap",
        "tlb_remap",
        "tlb_stress",
    ] {
        assert!(
            out.contains(&format!("ok: {check}")),
            "{check} missing:\n{out}"
        );
    }
}

#[test]
fn proc_shows_the_boot_time_and_controlling_terminals_as_linux_does() {
    let before = vm_tests::unix_now();
    let out = run_checks("proctest", "proc_btime ctty_stat");
    vm_tests::assert_btime_is_boot_time(&out, before, vm_tests::unix_now());
    // hvc0 is major 229, minor 0: tty_nr (229 << 8) | 0; /dev/console is hvc0 here.
    assert!(
        out.contains("ok: ctty_stat (hvc0 tty_nr 58624 tpgid ")
            && out.contains("console tty_nr 58624)"),
        "{out}"
    );
}

#[test]
fn threads_share_a_pid_and_join() {
    let out = run_checks("proctest", "thread_ids threads_join thread_exit_group");
    assert!(out.contains("ok: threads_join"), "{out}");
}

#[test]
fn fork_bomb_is_stopped_by_rlimit_nproc() {
    let out = run_checks("proctest", "rlimit_nproc");
    assert!(out.contains("ok: rlimit_nproc"), "{out}");
}

#[test]
fn signal_handlers_frames_masks_and_default_actions() {
    let out = run_checks(
        "sigtest",
        "siginfo_kill siginfo_queue_tkill handler_frame_restores_state sa_resethand sa_nodefer \
         mask_pending rt_signals_queue sigaltstack stop_continue death_by_signal no_restorer \
         core_dump_bit sigchld sigtimedwait sigsuspend sigkill_uncatchable fault_signals itimer_interval \
         itimer_cpu",
    );
    for check in [
        "handler_frame_restores_state",
        "sigaltstack",
        "itimer_interval",
        "itimer_cpu",
        "stop_continue",
        "fault_signals",
        "no_restorer",
        "core_dump_bit",
        "sigsuspend",
        "sigchld",
    ] {
        assert!(
            out.contains(&format!("ok: {check}")),
            "{check} missing:\n{out}"
        );
    }
}

#[test]
fn init_survives_kill_9() {
    // As PID 1 itself: kill(1, SIGKILL) must be ignored.
    let o = boot("quiet init=/bin/sigtest -- --pid1 siginfo_kill", 1);
    assert!(
        o.console.contains("ok: pid1_ignores_sigkill"),
        "{}",
        o.console
    );
    assert_eq!(o.status(), 0, "{}", o.console);
}

#[test]
fn scheduler_shares_by_nice_preempts_balances_and_migrates_across_two_cpus() {
    // `fair` and `policy` renice themselves (setpriority), which once hung the kernel.
    let out = checked(
        "schedtest",
        boot_alone(
            "quiet -- /bin/schedtest fair fifo balance migrate yield sleep cpus getcpu policy",
            2,
        ),
    );
    for check in [
        "fair", "fifo", "balance", "migrate", "yield", "sleep", "cpus", "getcpu", "policy",
    ] {
        assert!(
            out.contains(&format!("ok: {check}")),
            "{check} missing:\n{out}"
        );
    }
}

/// One row of `ps -ef`: (PID, PPID, CMD).
fn ps_rows(console: &str) -> Vec<(u32, u32, String)> {
    console
        .lines()
        .skip_while(|l| !l.starts_with("UID"))
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let pid = cols.get(1)?.parse().ok()?;
            let ppid = cols.get(2)?.parse().ok()?;
            Some((pid, ppid, cols[7..].join(" ")))
        })
        .collect()
}

#[test]
fn ps_ef_shows_init_kthreadd_and_per_cpu_threads_like_linux() {
    let o = boot("quiet -- /bin/ps -ef", 2);
    assert_eq!(o.status(), 0, "{}", o.console);
    let rows = ps_rows(&o.console);
    let find = |cmd: &str| rows.iter().filter(|r| r.2 == cmd).count();
    assert!(
        rows.iter()
            .any(|r| r.0 == 1 && r.1 == 0 && r.2.starts_with("/sbin/init")),
        "init is not PID 1 with PPID 0:\n{}",
        o.console
    );
    assert!(
        rows.contains(&(2, 0, "[kthreadd]".into())),
        "kthreadd is not PID 2 with PPID 0:\n{}",
        o.console
    );
    for (pid, ppid, cmd) in &rows {
        if cmd.starts_with('[') && *pid != 2 {
            assert_eq!(*ppid, 2, "kernel thread {cmd} is not kthreadd's child");
        }
    }
    for cpu in 0..2 {
        assert_eq!(find(&format!("[migration/{cpu}]")), 1, "{}", o.console);
    }
    for cpu in 0..2 {
        assert_eq!(find(&format!("[ksoftirqd/{cpu}]")), 1, "{}", o.console);
    }
    // The CPU hotplug threads, one per CPU (kthreadd's children, checked below).
    for cpu in 0..2 {
        assert_eq!(find(&format!("[cpuhp/{cpu}]")), 1, "{}", o.console);
    }
    // The rescuer of the one WQ_MEM_RECLAIM workqueue, named after it as on Linux 6.1.
    assert_eq!(find("[mm_percpu_wq]"), 1, "{}", o.console);
    // Workqueue workers as on Linux: a normal and a high-priority worker bound to each CPU
    // (`kworker/N:M`, `kworker/N:MH`, maybe with the workqueue they last served after a
    // `-`), and the unbound pool's (`kworker/u4:M` on 2 CPUs); all kthreadd's children
    // (checked above).
    let kworker = |prefix: &str, highpri: bool| {
        rows.iter().any(|r| {
            let Some(rest) = r.2.strip_prefix(prefix) else {
                return false;
            };
            let name = rest.split(['-', '+', ']']).next().unwrap_or("");
            name.ends_with('H') == highpri
                && name.trim_end_matches('H').parse::<u32>().is_ok()
                && r.2.ends_with(']')
        })
    };
    for cpu in 0..2 {
        for highpri in [false, true] {
            assert!(
                kworker(&format!("[kworker/{cpu}:"), highpri),
                "no {}kworker for CPU {cpu}:\n{}",
                if highpri { "high-priority " } else { "" },
                o.console
            );
        }
    }
    assert!(kworker("[kworker/u4:", false), "{}", o.console);
    assert_eq!(find("[kdevtmpfs]"), 1, "{}", o.console);
    assert_eq!(find("[khungtaskd]"), 1, "{}", o.console);
    assert!(
        rows.iter().any(|r| r.2 == "/bin/ps -ef" && r.1 == 1),
        "{}",
        o.console
    );
}

#[test]
fn std_process_command_and_zombies_through_proc() {
    let out = run_checks("proctest", "zombie_state command_status command_output");
    for check in ["zombie_state", "command_status", "command_output"] {
        assert!(
            out.contains(&format!("ok: {check}")),
            "{check} missing:\n{out}"
        );
    }
}

#[test]
fn sa_restart_restarts_and_plain_handlers_get_eintr() {
    let out = run_checks("sigtest", "sa_restart");
    assert!(out.contains("ok: sa_restart"), "{out}");
}

#[test]
fn khungtaskd_reports_a_task_stuck_in_d_state_and_softirqs_run_per_cpu() {
    let out = run_checks("proctest", "hung_task softirqs");
    assert!(out.contains("INFO: task proctest:"), "{out}");
    assert!(out.contains("ok: hung_task"), "{out}");
    assert!(out.contains("ok: softirqs"), "{out}");
}

#[test]
fn kworkers_are_bound_per_cpu_and_run_work_queued_from_proc() {
    let out = run_checks("proctest", "kworkers kworker_comm vmstat_fold");
    for check in ["kworkers", "kworker_comm", "vmstat_fold"] {
        assert!(
            out.contains(&format!("ok: {check}")),
            "{check} missing:\n{out}"
        );
    }
}

#[test]
fn console_input_reaches_readers_through_an_unbound_kworker() {
    let _shared = VM_SHARING.read().unwrap_or_else(|e| e.into_inner());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let g = vm_tests::guest();
        tx.send(vm_tests::boot_with_input(
            &g.kernel,
            Some(&g.initramfs),
            "quiet -- /bin/proctest console_input",
            2,
            b"typed on the console\n".to_vec(),
        ))
    });
    let o = rx
        .recv_timeout(VM_TIMEOUT)
        .unwrap_or_else(|_| panic!("console_input VM hung"));
    let out = checked("proctest", o);
    assert!(out.contains("ok: console_input"), "{out}");
    assert!(out.contains("-events_unbound"), "{out}");
}

#[test]
fn workqueue_self_test_passes_at_boot() {
    // Not quiet: the result is a notice. Among the checks: flush_workqueue, and a
    // WQ_MEM_RECLAIM workqueue whose items its rescuer runs while creating workers fails,
    // then destroy_workqueue, after which queueing on it is refused with a warning.
    let o = boot("test.workqueue -- /bin/exitcode 0", 2);
    assert_eq!(o.status(), 0, "{}", o.console);
    assert!(
        o.console.contains("workqueue: self-test passed (7 checks)"),
        "{}",
        o.console
    );
    let rescued = o
        .console
        .lines()
        .find(|l| l.contains("items rescued"))
        .unwrap_or_else(|| panic!("no rescue count:\n{}", o.console));
    assert!(!rescued.contains("workqueue: 0 of"), "{rescued}");
    assert!(
        o.console.contains("workqueue wq_rescue_test: queueing 0x")
            && o.console.contains("while it is being destroyed")
            && o.console.contains("WARNING: CPU: "),
        "{}",
        o.console
    );
}

#[test]
fn cpu_hotplug_takes_cpu1_offline_and_back_through_sysfs() {
    // Timed checks (tasks must move within seconds): alone.
    let checks = vm_tests::HOTPLUG_CHECKS;
    let cmdline = format!("quiet -- /bin/schedtest {}", checks.join(" "));
    let out = checked("schedtest", boot_alone(&cmdline, 2));
    for check in checks {
        assert!(out.contains(&format!("ok: {check}")), "{check}:\n{out}");
    }
    // The spinner pinned to CPU 1 lost its affinity, as Linux says it.
    assert!(
        out.lines()
            .any(|l| l.contains("(schedtest) no longer affine to cpu1")),
        "{out}"
    );
}

#[test]
fn soft_lockup_is_reported_for_a_cpu_stuck_in_the_kernel() {
    // PID 1 loops in the kernel for 5 s before init runs; the threshold is 2 * 1 s.
    let o = boot("watchdog_thresh=1 test.softlockup=5 -- /bin/exitcode 0", 2);
    assert_eq!(o.status(), 0, "{}", o.console);
    let report = o
        .console
        .lines()
        .find(|l| l.contains("BUG: soft lockup - CPU#"))
        .unwrap_or_else(|| panic!("no soft lockup report:\n{}", o.console));
    assert!(
        report.contains(" stuck for ") && report.ends_with("s! [swapper/0:1]"),
        "{report}"
    );
}

#[test]
fn soft_lockup_detector_stays_quiet_for_user_mode_hogs() {
    let out = run_checks("proctest", "watchdog");
    assert!(out.contains("ok: watchdog"), "{out}");
    assert!(!out.contains("soft lockup"), "{out}");
}
