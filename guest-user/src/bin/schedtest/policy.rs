//! Policies, priorities, nice values and what /proc shows for them.

use super::*;

fn priority_range(policy: i32) -> (i32, i32) {
    // SAFETY: these calls have no memory arguments.
    unsafe {
        (
            libc::sched_get_priority_min(policy),
            libc::sched_get_priority_max(policy),
        )
    }
}

/// The policy system calls and what /proc shows for them.
pub(super) fn policy() -> Check {
    for (p, name, want) in [
        (libc::SCHED_OTHER, "SCHED_OTHER", (0, 0)),
        (libc::SCHED_FIFO, "SCHED_FIFO", (1, 99)),
        (libc::SCHED_RR, "SCHED_RR", (1, 99)),
        (libc::SCHED_BATCH, "SCHED_BATCH", (0, 0)),
        (libc::SCHED_IDLE, "SCHED_IDLE", (0, 0)),
    ] {
        let got = priority_range(p);
        ensure!(got == want, "{name} priority range {got:?}, want {want:?}");
    }
    let bad = priority_range(42);
    ensure!(
        bad == (-1, -1) && sys::errno() == libc::EINVAL,
        "priority range of policy 42: {bad:?}, want EINVAL"
    );
    let now = sys::sched_getscheduler(0).ctx("sched_getscheduler")?;
    ensure!(
        now == libc::SCHED_OTHER,
        "we run under policy {now}, want SCHED_OTHER"
    );
    in_child(nice_values)?;
    if !is_root() {
        return pass_with("real-time parts need root");
    }
    in_child(rt_policies)
}

/// setpriority/getpriority in a child, with the kernel's raw `20 - nice` return and /proc.
pub(super) fn nice_values() -> Check {
    set_nice(7)?;
    sys::clear_errno();
    // SAFETY: getpriority has no memory arguments.
    let n = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    ensure!(n == 7, "getpriority after setpriority(7): {n}");
    // SAFETY: the raw system call has no memory arguments.
    let raw = unsafe { libc::syscall(libc::SYS_getpriority, libc::PRIO_PROCESS, 0) };
    ensure!(
        raw == 13,
        "raw getpriority syscall returned {raw}, want 20 - 7 = 13"
    );
    if let Ok(st) = Stat::read("/proc/self/stat") {
        ensure!(
            st.nice == 7 && st.priority == 27,
            "/proc/self/stat nice {} priority {}, want 7 and 27",
            st.nice,
            st.priority
        );
    }
    pass()
}

/// SCHED_FIFO/RR in a child: parameters read back, /proc fields, RR interval, EINVAL cases,
/// SCHED_RESET_ON_FORK.
pub(super) fn rt_policies() -> Check {
    for (p, prio, why) in [
        (libc::SCHED_FIFO, 0, "FIFO priority 0"),
        (libc::SCHED_FIFO, 100, "FIFO priority 100"),
        (libc::SCHED_OTHER, 1, "SCHED_OTHER priority 1"),
        (42, 0, "policy 42"),
    ] {
        match sys::sched_setscheduler(0, p, prio) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            other => fail!("sched_setscheduler({why}): {other:?}, want EINVAL"),
        }
    }
    sys::sched_setscheduler(0, libc::SCHED_FIFO, 50).ctx("sched_setscheduler(FIFO, 50)")?;
    let (p, prio) = (sys::sched_getscheduler(0)?, sys::sched_getparam(0)?);
    ensure!(
        p == libc::SCHED_FIFO && prio == 50,
        "after setting FIFO 50: policy {p} priority {prio}"
    );
    // sched_setparam keeps the policy and changes only the priority.
    let p60: libc::c_int = 60;
    // SAFETY: `p60` is a valid sched_param (one int).
    let r = unsafe { libc::syscall(libc::SYS_sched_setparam, 0, &p60) };
    ensure!(r == 0, "sched_setparam(60): errno {}", sys::errno());
    let (p, prio) = (sys::sched_getscheduler(0)?, sys::sched_getparam(0)?);
    ensure!(
        p == libc::SCHED_FIFO && prio == 60,
        "after sched_setparam(60): policy {p} priority {prio}"
    );
    sys::sched_setscheduler(0, libc::SCHED_FIFO, 50).ctx("sched_setscheduler(FIFO, 50)")?;
    if let Ok(st) = Stat::read("/proc/self/stat") {
        ensure!(
            st.policy == 1 && st.rt_priority == 50 && st.priority == -51,
            "/proc/self/stat policy {} rt_priority {} priority {}, want 1, 50, -51",
            st.policy,
            st.rt_priority,
            st.priority
        );
    }
    sys::sched_setscheduler(0, libc::SCHED_RR, 10).ctx("sched_setscheduler(RR, 10)")?;
    let mut ts = sys::timespec(Duration::ZERO);
    // SAFETY: `ts` is a valid out-pointer.
    let r = unsafe { libc::sched_rr_get_interval(0, &mut ts) };
    let slice = Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
    ensure!(r == 0, "sched_rr_get_interval: errno {}", sys::errno());
    ensure!(
        slice.abs_diff(Duration::from_millis(100)) <= Duration::from_millis(1),
        "SCHED_RR time slice {slice:?}, want 100 ms"
    );

    let policy = libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK;
    sys::sched_setscheduler(0, policy, 20).ctx("sched_setscheduler(FIFO|RESET_ON_FORK)")?;
    let p = sys::sched_getscheduler(0)?;
    ensure!(
        p == policy,
        "policy {p:#x} after setting FIFO|RESET_ON_FORK, want {policy:#x}"
    );
    let child_view = Shared::new([AtomicI32::new(-1), AtomicI32::new(-1)]).ctx("mmap")?;
    let pid = sys::fork_child(|| {
        child_view[0].store(sys::sched_getscheduler(0).unwrap_or(-2), SeqCst);
        child_view[1].store(sys::sched_getparam(0).unwrap_or(-2), SeqCst);
        0
    })
    .ctx("fork")?;
    sys::wait_status(pid).ctx("waitpid")?;
    let (cp, cprio) = (child_view[0].load(SeqCst), child_view[1].load(SeqCst));
    ensure!(
        cp == libc::SCHED_OTHER && cprio == 0,
        "child of a RESET_ON_FORK task has policy {cp} priority {cprio}, want SCHED_OTHER 0"
    );
    pass()
}
