//! Resources and identity: CPU-time and peak-memory accounting (getrusage, wait4, times), task
//! names (prctl),
//! sessions and process groups, and the RLIMIT_NPROC limit on forking.

use std::sync::atomic::{AtomicI64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use guest_user::check::{in_child, pass, pass_with, Check, Context};
use guest_user::sys::{self, Shared};
use guest_user::{ensure, fail};

use crate::errno_of;

fn rusage(who: i32) -> libc::rusage {
    // SAFETY: rusage is plain data, filled by getrusage.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid out-pointer.
    unsafe { libc::getrusage(who, &mut ru) };
    ru
}

fn cpu_of(ru: &libc::rusage) -> Duration {
    let us = |t: libc::timeval| (t.tv_sec * 1_000_000 + t.tv_usec).max(0) as u64;
    Duration::from_micros(us(ru.ru_utime) + us(ru.ru_stime))
}

fn times() -> (i64, libc::tms) {
    // SAFETY: tms is plain data, filled by times.
    let mut t: libc::tms = unsafe { std::mem::zeroed() };
    // SAFETY: `t` is a valid out-pointer.
    let r = unsafe { libc::times(&mut t) };
    (r, t)
}

/// Touches every page of `bytes` of fresh heap memory, so that it all becomes resident.
fn touch_fresh(bytes: usize) {
    let mut v = vec![0u8; bytes];
    for i in (0..bytes).step_by(4096) {
        v[i] = 1;
    }
    std::hint::black_box(&v);
}

/// getrusage and times account CPU time to the process and, once reaped, to its parent;
/// ru_maxrss (KiB) is the process's peak RSS, and for RUSAGE_CHILDREN and wait4 the largest
/// of the reaped children's.
pub(crate) fn rusage_times() -> Check {
    const TOUCH_KIB: i64 = 2 << 10;
    let burn = Duration::from_millis(200);
    let (t0, _) = times();
    let (self0, child0) = (rusage(libc::RUSAGE_SELF), rusage(libc::RUSAGE_CHILDREN));
    let wall = Instant::now();
    sys::burn(burn);
    let own = cpu_of(&rusage(libc::RUSAGE_SELF)) - cpu_of(&self0);
    let elapsed = wall.elapsed();
    // The child's own ru_maxrss before and after touching TOUCH_KIB of new memory.
    let child_rss = Shared::new([AtomicI64::new(-1), AtomicI64::new(-1)]).ctx("mmap")?;
    let pid = sys::fork_child(|| {
        sys::burn(burn);
        child_rss[0].store(rusage(libc::RUSAGE_SELF).ru_maxrss, SeqCst);
        touch_fresh(TOUCH_KIB as usize * 1024);
        child_rss[1].store(rusage(libc::RUSAGE_SELF).ru_maxrss, SeqCst);
        0
    })
    .ctx("fork")?;
    let mut status = 0;
    // SAFETY: rusage is plain data, filled by wait4.
    let mut reaped: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: both out-pointers are valid.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut reaped) };
    ensure!(r == pid, "wait4: {r} (errno {})", sys::errno());
    let children = rusage(libc::RUSAGE_CHILDREN);
    let (before, peak) = (child_rss[0].load(SeqCst), child_rss[1].load(SeqCst));
    // Units: KiB, not pages (a quarter) nor bytes (beyond the guest's memory).
    ensure!(
        before > 0 && peak >= before + TOUCH_KIB && peak < 1 << 20,
        "the child's RUSAGE_SELF ru_maxrss went from {before} to {peak} KiB over touching \
         {TOUCH_KIB} KiB"
    );
    ensure!(
        children.ru_maxrss >= peak && reaped.ru_maxrss >= peak,
        "after reaping a child whose peak was {peak} KiB: RUSAGE_CHILDREN ru_maxrss {}, \
         wait4's {}",
        children.ru_maxrss,
        reaped.ru_maxrss
    );
    let mine = rusage(libc::RUSAGE_SELF).ru_maxrss;
    ensure!(
        mine > 0 && mine < 1 << 20,
        "RUSAGE_SELF ru_maxrss {mine} KiB"
    );
    let child = cpu_of(&children) - cpu_of(&child0);
    let (t1, tms) = times();
    let hz = guest_user::procfs::hertz() as i64;
    ensure!(
        own >= Duration::from_millis(40),
        "RUSAGE_SELF grew {own:?} over a {burn:?} busy loop"
    );
    ensure!(
        own <= elapsed + Duration::from_millis(50),
        "RUSAGE_SELF grew {own:?}, more than the {elapsed:?} that passed"
    );
    ensure!(
        child >= Duration::from_millis(40),
        "RUSAGE_CHILDREN grew {child:?} after reaping a child that spun {burn:?}"
    );
    ensure!(
        tms.tms_utime + tms.tms_stime >= 4 * hz / 100,
        "times(): tms_utime+tms_stime = {} ticks after {burn:?} of spinning",
        tms.tms_utime + tms.tms_stime
    );
    ensure!(
        tms.tms_cutime + tms.tms_cstime >= 4 * hz / 100,
        "times(): tms_cutime+tms_cstime = {} ticks after reaping a spinning child",
        tms.tms_cutime + tms.tms_cstime
    );
    ensure!(
        t1 - t0 >= 3 * (2 * burn.as_millis() as i64) * hz / 4000,
        "times() advanced {} ticks over {:?}",
        t1 - t0,
        2 * burn
    );
    pass_with(format_args!(
        "self {} ms, children {} ms; maxrss self {mine} KiB, child {before} -> {peak} KiB",
        own.as_millis(),
        child.as_millis()
    ))
}

fn get_name() -> String {
    let mut buf = [0u8; 16];
    // SAFETY: PR_GET_NAME writes at most 16 bytes.
    unsafe { libc::prctl(libc::PR_GET_NAME, buf.as_mut_ptr()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(16);
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// PR_SET_NAME / PR_GET_NAME round trip, truncation to 15 bytes, and /proc/self/comm.
pub(crate) fn prctl_name() -> Check {
    in_child(|| {
        for (set, want) in [
            (c"pt-renamed", "pt-renamed"),
            (c"abcdefghijklmnopqrstuvwxyz", "abcdefghijklmno"),
        ] {
            // SAFETY: PR_SET_NAME reads a NUL-terminated string.
            let r = unsafe { libc::prctl(libc::PR_SET_NAME, set.as_ptr()) };
            ensure!(r == 0, "PR_SET_NAME failed: errno {}", sys::errno());
            let got = get_name();
            ensure!(got == want, "PR_GET_NAME gave {got:?}, want {want:?}");
        }
        match std::fs::read_to_string("/proc/self/comm") {
            Ok(comm) => {
                ensure!(comm == "abcdefghijklmno\n", "/proc/self/comm is {comm:?}");
                pass()
            }
            Err(_) => pass_with("no /proc/self/comm to compare"),
        }
    })
}

/// setsid makes a new session and group led by the caller (once only); setpgid moves a child
/// between groups of the same session but not into a group of another session.
pub(crate) fn session_pgrp() -> Check {
    // SAFETY: getsid/getpgid have no memory arguments.
    let (psid, ppgid) = unsafe { (libc::getsid(0), libc::getpgid(0)) };
    // A process group of our session for the test child (in its own session) to fail to
    // join. Not our own group: as init ours may be group 0, which setpgid reads as "own pid".
    let other_group = sys::fork_child(|| {
        sys::die_with_parent();
        sys::sleep(Duration::from_secs(20));
        0
    })
    .ctx("fork")?;
    // SAFETY: as above; made a group leader from our side, so no race with the child.
    let r = unsafe { libc::setpgid(other_group, other_group) };
    if r != 0 {
        let e = sys::errno();
        sys::kill_and_reap(other_group);
        fail!("setpgid(child, child) in our session: errno {e}");
    }
    let result = in_child(move || {
        let me = sys::getpid();
        // SAFETY: session and group calls (here and below) take ids only.
        let (sid, pgid) = unsafe { (libc::getsid(0), libc::getpgid(0)) };
        ensure!(
            sid == psid && pgid == ppgid,
            "inherited sid/pgid {sid}/{pgid}, want {psid}/{ppgid}"
        );
        // SAFETY: as above.
        let r = unsafe { libc::setsid() };
        ensure!(
            r == me,
            "setsid() returned {r} (errno {}), want {me}",
            sys::errno()
        );
        // SAFETY: as above.
        let (sid, pgid) = unsafe { (libc::getsid(0), libc::getpgid(0)) };
        ensure!(
            sid == me && pgid == me,
            "after setsid: sid/pgid {sid}/{pgid}, want {me}/{me}"
        );
        // SAFETY: as above.
        let r = unsafe { libc::setsid() };
        let e = sys::errno();
        ensure!(
            r == -1 && e == libc::EPERM,
            "second setsid() returned {r} errno {e}, want EPERM"
        );

        let gc = sys::fork_child(|| {
            sys::die_with_parent();
            sys::sleep(Duration::from_secs(20));
            0
        })
        .ctx("fork")?;
        let result = (|| {
            // SAFETY: as above.
            unsafe {
                ensure!(
                    libc::setpgid(gc, gc) == 0,
                    "setpgid(child, child): errno {}",
                    sys::errno()
                );
                ensure!(
                    libc::getpgid(gc) == gc,
                    "getpgid(child) = {}, want {gc}",
                    libc::getpgid(gc)
                );
                ensure!(
                    libc::setpgid(gc, me) == 0,
                    "setpgid(child, {me}): errno {}",
                    sys::errno()
                );
                ensure!(
                    libc::getpgid(gc) == me,
                    "getpgid(child) = {}, want {me}",
                    libc::getpgid(gc)
                );
                ensure!(
                    libc::getsid(gc) == me,
                    "getsid(child) = {}, want {me}",
                    libc::getsid(gc)
                );
                let r = libc::setpgid(gc, other_group);
                let e = sys::errno();
                ensure!(
                    r == -1 && e == libc::EPERM,
                    "setpgid into another session's group returned {r} errno {e}, want EPERM"
                );
            }
            pass()
        })();
        sys::kill_and_reap(gc);
        result
    });
    sys::kill_and_reap(other_group);
    result
}

/// RLIMIT_NPROC: with the limit at 4, an unprivileged user's fork fails with EAGAIN once it
/// has 4 tasks. Root is exempt on Linux, so the test child first becomes uid 54321.
pub(crate) fn rlimit_nproc() -> Check {
    const UID: u32 = 54321;
    const LIMIT: u64 = 4;
    in_child(|| {
        // As root the child becomes a fresh user, whose only task it is; otherwise our user's
        // other processes count too and only an upper bound can be checked.
        let fresh_user = sys::geteuid() == 0;
        if fresh_user {
            // SAFETY: setgid/setuid take ids only; this is a throwaway child.
            let ok = unsafe { libc::setgid(UID) == 0 && libc::setuid(UID) == 0 };
            ensure!(ok, "cannot become uid {UID}: errno {}", sys::errno());
        }
        let lim = libc::rlimit {
            rlim_cur: LIMIT,
            rlim_max: LIMIT,
        };
        // SAFETY: `lim` is valid for the call.
        let r = unsafe { libc::setrlimit(libc::RLIMIT_NPROC, &lim) };
        ensure!(r == 0, "setrlimit(RLIMIT_NPROC): errno {}", sys::errno());
        let mut kids = Vec::new();
        let mut error = None;
        for _ in 0..16 {
            // Children exit at once but stay zombies (and counted) until reaped below.
            match sys::fork_child(|| 0) {
                Ok(pid) => kids.push(pid),
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        for &pid in &kids {
            let _ = sys::wait_status(pid);
        }
        let (n, want) = (kids.len(), LIMIT as usize - 1);
        match error {
            None => fail!("{n} forks succeeded under RLIMIT_NPROC={LIMIT}"),
            Some(e) if errno_of(&e) != libc::EAGAIN => fail!("fork failed with {e}, want EAGAIN"),
            Some(_) if fresh_user && n != want => fail!(
                "fork hit EAGAIN after {n} children, want {want} (the limit counts this process)"
            ),
            Some(_) if fresh_user => pass_with(format_args!("EAGAIN after {n} children")),
            Some(_) => pass_with(format_args!(
                "EAGAIN after {n} children (not root: exact count not checked)"
            )),
        }
    })
}
