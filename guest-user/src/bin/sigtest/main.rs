//! `sigtest [--pid1] [CHECK...]`: tests signals as Linux defines them: siginfo from kill,
//! sigqueue and tgkill; the handler frame (every register, the FPU state, flags and the
//! direction flag come back after rt_sigreturn); SA_RESTART, SA_RESETHAND, SA_NODEFER;
//! sigaltstack and SA_ONSTACK (validation, SS_ONSTACK, EPERM on the stack, SS_AUTODISARM);
//! masks, pending sets and real-time queueing; stop/continue and death by signal as
//! wait reports them (core-dump bit included); a handler without SA_RESTORER; SIGCHLD; sigtimedwait; sigsuspend; the
//! uncatchable SIGKILL/SIGSTOP; faults (SIGSEGV, SIGILL, SIGFPE) with their si_code/si_addr;
//! and interval timers (setitimer/getitimer/alarm: SIGALRM, SIGVTALRM, SIGPROF).
//!
//! `--pid1` adds a check that PID 1 survives `kill(1, SIGKILL)` (meaningful only as the
//! guest's init; elsewhere it is skipped). Output as `guest_user::check`; exit 0 only if no
//! check failed.

mod altstack;
mod faults;
mod frame;
mod handler;
mod itimer;

use std::mem::zeroed;
use std::sync::atomic::{AtomicI64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use guest_user::check::{pass, pass_with, skip, Check, Context, Fail, NamedCheck, Report};
use guest_user::ensure;
use guest_user::sys::{self, Shared};

use altstack::sigaltstack;
use faults::{core_dump_bit, death_by_signal, fault_signals, no_restorer};
use frame::handler_frame_restores_state;
use handler::{
    getuid, is_member, kill, mask, record, reset, set_mask, sigset, Handler, BLOCKED_INSIDE, CODE,
    HITS, MAX_DEPTH, PID, RERAISE, SIGNO, UID, VALUE, VALUES,
};
use itimer::{itimer_cpu, itimer_eintr, itimer_interval};

const SIGUSR1: i32 = libc::SIGUSR1;
const SIGUSR2: i32 = libc::SIGUSR2;

const CHECKS: &[NamedCheck] = &[
    ("siginfo_kill", siginfo_kill),
    ("siginfo_queue_tkill", siginfo_queue_tkill),
    ("handler_frame_restores_state", handler_frame_restores_state),
    ("sa_restart", sa_restart),
    ("sa_resethand", sa_resethand),
    ("sa_nodefer", sa_nodefer),
    ("mask_pending", mask_pending),
    ("rt_signals_queue", rt_signals_queue),
    ("sigaltstack", sigaltstack),
    ("stop_continue", stop_continue),
    ("death_by_signal", death_by_signal),
    ("no_restorer", no_restorer),
    ("core_dump_bit", core_dump_bit),
    ("sigchld", sigchld),
    ("sigtimedwait", sigtimedwait),
    ("sigsuspend", sigsuspend),
    ("sigkill_uncatchable", sigkill_uncatchable),
    ("fault_signals", fault_signals),
    ("itimer_eintr", itimer_eintr),
    ("itimer_interval", itimer_interval),
    ("itimer_cpu", itimer_cpu),
];

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let pid1 = args.iter().any(|a| a == "--pid1");
    args.retain(|a| a != "--pid1");
    let mut report = Report::new("sigtest");
    report.run_table(CHECKS, &args);
    if pid1 {
        report.run("pid1_ignores_sigkill", pid1_ignores_sigkill);
    }
    report.finish();
}

// ---- checks ------------------------------------------------------------------------------

/// kill() to ourselves runs an SA_SIGINFO handler before kill returns, with si_signo,
/// si_code SI_USER, si_pid and si_uid filled in.
fn siginfo_kill() -> Check {
    reset();
    let _h = Handler::recording(SIGUSR1, 0)?;
    ensure!(
        kill(sys::getpid(), SIGUSR1) == 0,
        "kill: errno {}",
        sys::errno()
    );
    ensure!(
        HITS.load(SeqCst) == 1,
        "handler ran {} times by the time kill returned",
        HITS.load(SeqCst)
    );
    let (signo, code, pid, uid) = (
        SIGNO.load(SeqCst),
        CODE.load(SeqCst),
        PID.load(SeqCst),
        UID.load(SeqCst),
    );
    ensure!(signo == SIGUSR1 as i64, "si_signo {signo}, want {SIGUSR1}");
    ensure!(
        code == libc::SI_USER as i64,
        "si_code {code}, want SI_USER (0)"
    );
    ensure!(
        pid == sys::getpid() as i64,
        "si_pid {pid}, want {}",
        sys::getpid()
    );
    ensure!(uid == getuid(), "si_uid {uid}, want {}", getuid());
    pass()
}

/// sigqueue carries a value with si_code SI_QUEUE; raise (tgkill) gives SI_TKILL.
fn siginfo_queue_tkill() -> Check {
    reset();
    let _h = Handler::recording(SIGUSR1, 0)?;
    let value = libc::sigval {
        sival_ptr: 0x5eed as *mut libc::c_void,
    };
    // SAFETY: sigqueue has no memory arguments beyond the value it copies.
    let r = unsafe { libc::sigqueue(sys::getpid(), SIGUSR1, value) };
    ensure!(r == 0, "sigqueue: errno {}", sys::errno());
    let (code, val) = (CODE.load(SeqCst), VALUE.load(SeqCst));
    ensure!(HITS.load(SeqCst) == 1, "handler did not run for sigqueue");
    ensure!(
        code == libc::SI_QUEUE as i64,
        "sigqueue: si_code {code}, want SI_QUEUE (-1)"
    );
    ensure!(val == 0x5eed, "sigqueue: si_value {val:#x}, want 0x5eed");
    // SAFETY: raise has no memory arguments.
    let r = unsafe { libc::raise(SIGUSR1) };
    ensure!(r == 0, "raise: errno {}", sys::errno());
    let code = CODE.load(SeqCst);
    ensure!(HITS.load(SeqCst) == 2, "handler did not run for raise");
    ensure!(
        code == libc::SI_TKILL as i64,
        "raise: si_code {code}, want SI_TKILL (-6)"
    );
    pass()
}

/// A pipe read blocked in the parent, interrupted by a signal a child sends after 100 ms;
/// the child writes one byte after `write_after`. Returns read's result, errno and the time.
fn interrupted_read(flags: i32, write_after: Duration) -> Result<(isize, i32, Duration), Fail> {
    let _h = Handler::recording(SIGUSR1, flags)?;
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    let r = unsafe { libc::pipe(fds.as_mut_ptr()) };
    ensure!(r == 0, "pipe: errno {}", sys::errno());
    let parent = sys::getpid();
    let child = sys::fork_child(|| {
        sys::die_with_parent();
        sys::sleep(Duration::from_millis(100));
        kill(parent, SIGUSR1);
        sys::sleep(write_after);
        // SAFETY: writes one byte from a static buffer to our pipe end.
        unsafe { libc::write(fds[1], b"x".as_ptr().cast(), 1) };
        0
    });
    // SAFETY: closing our copy of the write end, which we do not use.
    unsafe { libc::close(fds[1]) };
    let child = child.ctx("fork")?;
    let start = Instant::now();
    let mut buf = [0u8; 1];
    // SAFETY: reads at most one byte into `buf`.
    let r = unsafe { libc::read(fds[0], buf.as_mut_ptr().cast(), 1) };
    let (e, took) = (sys::errno(), start.elapsed());
    sys::kill_and_reap(child);
    // SAFETY: closing the read end we own.
    unsafe { libc::close(fds[0]) };
    Ok((r, e, took))
}

/// Without SA_RESTART a blocking pipe read interrupted by a handled signal fails with EINTR;
/// with SA_RESTART the read resumes and returns the data written later.
fn sa_restart() -> Check {
    reset();
    let (r, e, took) = interrupted_read(0, Duration::from_secs(3))?;
    ensure!(
        HITS.load(SeqCst) == 1,
        "handler ran {} times, want 1",
        HITS.load(SeqCst)
    );
    ensure!(
        r == -1 && e == libc::EINTR,
        "read without SA_RESTART returned {r} errno {e} after {took:?}, want EINTR at ~100 ms"
    );
    reset();
    let (r, e, took2) = interrupted_read(libc::SA_RESTART, Duration::from_millis(200))?;
    ensure!(
        HITS.load(SeqCst) == 1,
        "SA_RESTART: handler ran {} times, want 1",
        HITS.load(SeqCst)
    );
    ensure!(
        r == 1,
        "read with SA_RESTART returned {r} errno {e} after {took2:?}, want the byte at ~300 ms"
    );
    ensure!(
        took2 >= Duration::from_millis(250),
        "read with SA_RESTART returned after only {took2:?}"
    );
    pass_with(format_args!(
        "EINTR after {} ms, restarted read done after {} ms",
        took.as_millis(),
        took2.as_millis()
    ))
}

/// SA_RESETHAND: the handler runs once and the disposition is back to SIG_DFL.
fn sa_resethand() -> Check {
    reset();
    let _h = Handler::recording(SIGUSR2, libc::SA_RESETHAND)?;
    kill(sys::getpid(), SIGUSR2);
    ensure!(
        HITS.load(SeqCst) == 1,
        "handler ran {} times",
        HITS.load(SeqCst)
    );
    // SAFETY: queries the disposition into a zeroed sigaction.
    let now = unsafe {
        let mut sa: libc::sigaction = zeroed();
        libc::sigaction(SIGUSR2, std::ptr::null(), &mut sa);
        sa.sa_sigaction
    };
    ensure!(
        now == libc::SIG_DFL,
        "disposition after delivery is {now:#x}, want SIG_DFL"
    );
    pass()
}

/// Without SA_NODEFER the signal is blocked inside its handler (a re-raise waits for the
/// return); with it the re-raise nests at once.
fn sa_nodefer() -> Check {
    for (flags, what) in [(0, "default"), (libc::SA_NODEFER, "SA_NODEFER")] {
        reset();
        let _h = Handler::recording(SIGUSR1, flags)?;
        RERAISE.store(true, SeqCst);
        kill(sys::getpid(), SIGUSR1);
        let (hits, depth, blocked) = (
            HITS.load(SeqCst),
            MAX_DEPTH.load(SeqCst),
            BLOCKED_INSIDE.load(SeqCst),
        );
        ensure!(hits == 2, "{what}: handler ran {hits} times, want 2");
        if flags == 0 {
            ensure!(
                depth == 1,
                "{what}: re-raised signal nested (depth {depth}) though blocked in its handler"
            );
        } else {
            ensure!(
                depth == 2,
                "SA_NODEFER: re-raised signal did not nest (depth {depth})"
            );
            ensure!(
                !blocked,
                "SA_NODEFER: signal was blocked inside its handler"
            );
        }
    }
    pass()
}

/// A blocked signal stays pending (rt_sigpending shows it; a second one does not queue) and
/// is delivered as soon as it is unblocked.
fn mask_pending() -> Check {
    reset();
    let _h = Handler::recording(SIGUSR1, 0)?;
    let old = mask(libc::SIG_BLOCK, &[SIGUSR1]);
    kill(sys::getpid(), SIGUSR1);
    kill(sys::getpid(), SIGUSR1);
    let hits_blocked = HITS.load(SeqCst);
    // SAFETY: sigpending writes into a zeroed set.
    let pending = unsafe {
        let mut p: libc::sigset_t = zeroed();
        libc::sigpending(&mut p);
        p
    };
    set_mask(&old);
    let hits = HITS.load(SeqCst);
    ensure!(
        hits_blocked == 0,
        "handler ran {hits_blocked} times while the signal was blocked"
    );
    ensure!(
        is_member(&pending, SIGUSR1),
        "rt_sigpending does not show the blocked SIGUSR1"
    );
    ensure!(
        hits == 1,
        "after unblocking the handler ran {hits} times, want 1 (standard signals do not queue)"
    );
    pass()
}

/// Real-time signals queue: three blocked sigqueue()s are delivered three times, in order.
fn rt_signals_queue() -> Check {
    reset();
    let sig = libc::SIGRTMIN() + 1;
    let _h = Handler::recording(sig, 0)?;
    let old = mask(libc::SIG_BLOCK, &[sig]);
    for v in 1..=3usize {
        let value = libc::sigval {
            sival_ptr: v as *mut libc::c_void,
        };
        // SAFETY: as in siginfo_queue_tkill.
        unsafe { libc::sigqueue(sys::getpid(), sig, value) };
    }
    set_mask(&old);
    let got: Vec<i64> = VALUES[..3].iter().map(|v| v.load(SeqCst)).collect();
    ensure!(
        HITS.load(SeqCst) == 3,
        "signal {sig} delivered {} times, want 3",
        HITS.load(SeqCst)
    );
    ensure!(
        got == [1, 2, 3],
        "values delivered in order {got:?}, want [1, 2, 3]"
    );
    pass()
}

/// SIGSTOP stops a child (WIFSTOPPED via WUNTRACED; it makes no progress, /proc says 'T'),
/// SIGCONT resumes it (WIFCONTINUED via WCONTINUED), SIGKILL ends it (WIFSIGNALED).
fn stop_continue() -> Check {
    let counter = Shared::new(AtomicI64::new(0)).ctx("mmap")?;
    let pid = sys::fork_child(|| {
        sys::die_with_parent();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            counter.fetch_add(1, SeqCst);
        }
        0
    })
    .ctx("fork")?;
    let result = (|| {
        ensure!(
            sys::wait_until(Duration::from_secs(5), || counter.load(SeqCst) > 0),
            "child never ran"
        );
        kill(pid, libc::SIGSTOP);
        let (_, st) = sys::waitpid(pid, libc::WUNTRACED).ctx("waitpid(WUNTRACED)")?;
        ensure!(
            libc::WIFSTOPPED(st) && libc::WSTOPSIG(st) == libc::SIGSTOP,
            "after SIGSTOP: {}",
            sys::describe_status(st)
        );
        let c1 = counter.load(SeqCst);
        sys::sleep(Duration::from_millis(100));
        let c2 = counter.load(SeqCst);
        ensure!(c1 == c2, "stopped child kept running ({c1} -> {c2})");
        if let Ok(stat) = guest_user::procfs::Stat::of(pid) {
            ensure!(
                stat.state == 'T',
                "/proc/{pid}/stat state '{}' while stopped, want 'T'",
                stat.state
            );
        }
        kill(pid, libc::SIGCONT);
        let (_, st) = sys::waitpid(pid, libc::WCONTINUED).ctx("waitpid(WCONTINUED)")?;
        ensure!(
            libc::WIFCONTINUED(st),
            "after SIGCONT: {}",
            sys::describe_status(st)
        );
        ensure!(
            sys::wait_until(Duration::from_secs(5), || counter.load(SeqCst) > c2),
            "child did not resume after SIGCONT"
        );
        kill(pid, libc::SIGKILL);
        let (_, st) = sys::waitpid(pid, 0).ctx("waitpid")?;
        ensure!(
            libc::WIFSIGNALED(st) && libc::WTERMSIG(st) == libc::SIGKILL,
            "after SIGKILL: {}",
            sys::describe_status(st)
        );
        pass()
    })();
    if result.is_err() {
        sys::kill_and_reap(pid);
    }
    result
}

/// A child's exit sends SIGCHLD to the parent with si_pid, CLD_EXITED and the status.
fn sigchld() -> Check {
    reset();
    let _h = Handler::recording(libc::SIGCHLD, 0)?;
    let pid = sys::fork_child(|| 3).ctx("fork")?;
    let arrived = sys::wait_until(Duration::from_secs(5), || HITS.load(SeqCst) > 0);
    let st = sys::wait_status(pid).ctx("waitpid")?;
    ensure!(arrived, "no SIGCHLD within 5 s of the child's exit");
    ensure!(st == 3 << 8, "child {}", sys::describe_status(st));
    let (code, spid) = (CODE.load(SeqCst), PID.load(SeqCst));
    // For SIGCHLD si_status sits where si_value's low half does for queued signals.
    let status = VALUE.load(SeqCst) as i32;
    ensure!(
        code == libc::CLD_EXITED as i64,
        "si_code {code}, want CLD_EXITED"
    );
    ensure!(spid == pid as i64, "si_pid {spid}, want {pid}");
    ensure!(status == 3, "si_status {status}, want 3");
    pass()
}

/// rt_sigtimedwait takes a pending blocked signal (with its siginfo) and times out with
/// EAGAIN when none comes.
fn sigtimedwait() -> Check {
    let _h = Handler::recording(SIGUSR2, 0)?;
    let old = mask(libc::SIG_BLOCK, &[SIGUSR2]);
    let set = sigset(&[SIGUSR2]);
    let result = (|| {
        // SAFETY: raise has no memory arguments.
        unsafe { libc::raise(SIGUSR2) };
        // SAFETY: siginfo is plain data, written by the kernel.
        let mut info: libc::siginfo_t = unsafe { zeroed() };
        let ts = sys::timespec(Duration::from_secs(1));
        // SAFETY: valid set, info and timeout.
        let r = unsafe { libc::sigtimedwait(&set, &mut info, &ts) };
        ensure!(
            r == SIGUSR2,
            "sigtimedwait returned {r} (errno {}), want {SIGUSR2}",
            sys::errno()
        );
        ensure!(
            info.si_signo == SIGUSR2 && info.si_code == libc::SI_TKILL,
            "siginfo signo {} code {}, want {SIGUSR2} SI_TKILL",
            info.si_signo,
            info.si_code
        );
        let ts = sys::timespec(Duration::from_millis(50));
        let start = Instant::now();
        // SAFETY: as above.
        let r = unsafe { libc::sigtimedwait(&set, &mut info, &ts) };
        let (e, took) = (sys::errno(), start.elapsed());
        ensure!(
            r == -1 && e == libc::EAGAIN,
            "sigtimedwait with nothing pending returned {r} errno {e}, want EAGAIN"
        );
        ensure!(
            took >= Duration::from_millis(45) && took < Duration::from_secs(2),
            "50 ms timeout took {took:?}"
        );
        pass()
    })();
    set_mask(&old);
    result
}

/// rt_sigsuspend swaps in a mask that lets a blocked signal through, returns EINTR once the
/// handler ran, and puts the old mask back.
fn sigsuspend() -> Check {
    reset();
    let _h = Handler::recording(SIGUSR1, 0)?;
    let old = mask(libc::SIG_BLOCK, &[SIGUSR1]);
    let parent = sys::getpid();
    let child = sys::fork_child(|| {
        sys::sleep(Duration::from_millis(50));
        kill(parent, SIGUSR1);
        0
    });
    let result = (|| {
        let child = child.ctx("fork")?;
        let empty = sigset(&[]);
        // SAFETY: `empty` is a valid set.
        let r = unsafe { libc::sigsuspend(&empty) };
        let e = sys::errno();
        let _ = sys::wait_status(child);
        ensure!(
            r == -1 && e == libc::EINTR,
            "sigsuspend returned {r} errno {e}, want EINTR"
        );
        ensure!(
            HITS.load(SeqCst) == 1,
            "handler ran {} times",
            HITS.load(SeqCst)
        );
        let now = mask(libc::SIG_BLOCK, &[]);
        ensure!(
            is_member(&now, SIGUSR1),
            "mask not restored after sigsuspend"
        );
        pass()
    })();
    set_mask(&old);
    result
}

/// SIGKILL and SIGSTOP can be neither caught, ignored nor blocked.
fn sigkill_uncatchable() -> Check {
    for (sig, name) in [(libc::SIGKILL, "SIGKILL"), (libc::SIGSTOP, "SIGSTOP")] {
        for (action, what) in [
            (record as *const () as usize, "a handler"),
            (libc::SIG_IGN, "SIG_IGN"),
        ] {
            // SAFETY: a zeroed sigaction with a handler; the kernel must refuse it.
            let r = unsafe {
                let mut sa: libc::sigaction = zeroed();
                sa.sa_sigaction = action;
                libc::sigaction(sig, &sa, std::ptr::null_mut())
            };
            let e = sys::errno();
            ensure!(
                r == -1 && e == libc::EINVAL,
                "sigaction({name}, {what}) returned {r} errno {e}, want EINVAL"
            );
        }
    }
    let old = mask(libc::SIG_BLOCK, &[libc::SIGKILL, libc::SIGSTOP]);
    let now = mask(libc::SIG_BLOCK, &[]);
    set_mask(&old);
    ensure!(
        !is_member(&now, libc::SIGKILL) && !is_member(&now, libc::SIGSTOP),
        "SIGKILL/SIGSTOP appear in the blocked mask"
    );
    pass()
}

/// PID 1 ignores signals it has no handler for, even SIGKILL sent by itself.
fn pid1_ignores_sigkill() -> Check {
    if sys::getpid() != 1 {
        return skip("not PID 1 (meaningful only as the guest's init)");
    }
    for (sig, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGKILL, "SIGKILL")] {
        // SAFETY: resets to the default action, which init must not suffer.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
        let r = kill(1, sig);
        ensure!(
            r == 0,
            "kill(1, {name}) returned {r} errno {}",
            sys::errno()
        );
        sys::sleep(Duration::from_millis(20));
    }
    pass_with("still alive after kill(1, SIGTERM) and kill(1, SIGKILL)")
}
