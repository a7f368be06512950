//! Waiting on descriptors: poll's ready bits on pipes, timeouts that expire, wake-ups from
//! another process, select, and ppoll's temporary signal mask.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use guest_user::check::{in_child, pass, pass_with, Check};
use guest_user::ensure;
use guest_user::sys::{self, cvt, cvt_long};

use crate::util::*;

/// poll's answer for a pipe in each state: nothing (timeout 0), POLLIN with data, POLLHUP
/// once the writer is gone, POLLERR for a writer without reader; POLLNVAL for a closed fd,
/// and a negative fd is skipped.
pub(crate) fn poll_pipe_states() -> Check {
    let (r, w) = pipe().ctx("pipe")?;
    let mut p = [
        pollfd(r.as_raw_fd(), libc::POLLIN),
        pollfd(w.as_raw_fd(), libc::POLLOUT),
    ];
    let n = poll(&mut p, 0).ctx("poll")?;
    ensure!(
        n == 1 && p[0].revents == 0 && p[1].revents == libc::POLLOUT,
        "empty pipe: poll = {n}, revents {:#x} {:#x}, want 1, 0, POLLOUT",
        p[0].revents,
        p[1].revents
    );
    write(w.as_raw_fd(), b"x").ctx("write")?;
    let mut p = [pollfd(r.as_raw_fd(), libc::POLLIN)];
    let n = poll(&mut p, 0).ctx("poll")?;
    ensure!(
        n == 1 && p[0].revents == libc::POLLIN,
        "with data: revents {:#x}",
        p[0].revents
    );
    drop(w);
    poll(&mut p, 0).ctx("poll")?;
    ensure!(
        p[0].revents == libc::POLLIN | libc::POLLHUP,
        "data and no writer: revents {:#x}, want POLLIN|POLLHUP",
        p[0].revents
    );
    let mut buf = [0u8; 4];
    read(r.as_raw_fd(), &mut buf).ctx("read")?;
    poll(&mut p, 0).ctx("poll")?;
    ensure!(
        p[0].revents == libc::POLLHUP,
        "drained, no writer: revents {:#x}",
        p[0].revents
    );
    let (r2, w2) = pipe().ctx("pipe")?;
    drop(r2);
    let mut p = [
        pollfd(w2.as_raw_fd(), libc::POLLOUT),
        pollfd(-1, libc::POLLIN),
        pollfd(900, libc::POLLIN),
    ];
    let n = poll(&mut p, 0).ctx("poll")?;
    ensure!(
        n == 2
            && p[0].revents == libc::POLLOUT | libc::POLLERR
            && p[1].revents == 0
            && p[2].revents == libc::POLLNVAL,
        "no reader / fd -1 / closed fd: poll = {n}, revents {:#x} {:#x} {:#x}, want 2, \
         POLLOUT|POLLERR, 0, POLLNVAL",
        p[0].revents,
        p[1].revents,
        p[2].revents
    );
    pass()
}

/// Regular files and /dev/null are always ready to read and write.
pub(crate) fn poll_files_always_ready() -> Check {
    let dir = Scratch::new("poll_files")?;
    let f = open(dir.file("f", b"")?, libc::O_RDWR, 0).ctx("open")?;
    let null = open("/dev/null", libc::O_RDWR, 0).ctx("open /dev/null")?;
    let both = libc::POLLIN | libc::POLLOUT;
    let mut p = [pollfd(f.as_raw_fd(), both), pollfd(null.as_raw_fd(), both)];
    let n = poll(&mut p, 1000).ctx("poll")?;
    ensure!(
        n == 2 && p.iter().all(|q| q.revents == both),
        "poll of a file and /dev/null: {n}, revents {:#x} {:#x}, want both POLLIN|POLLOUT",
        p[0].revents,
        p[1].revents
    );
    pass()
}

/// A poll that nothing satisfies returns 0 after its timeout, not before.
pub(crate) fn poll_timeout() -> Check {
    let (r, _w) = pipe().ctx("pipe")?;
    let mut p = [pollfd(r.as_raw_fd(), libc::POLLIN)];
    let start = Instant::now();
    let n = poll(&mut p, 50).ctx("poll")?;
    let took = start.elapsed();
    ensure!(n == 0, "poll on an empty pipe returned {n}");
    ensure!(
        took >= Duration::from_millis(50),
        "a 50 ms poll returned after {took:?}"
    );
    ensure!(took < Duration::from_secs(5), "a 50 ms poll took {took:?}");
    pass_with(format_args!("{} ms", took.as_millis()))
}

/// A sleeping poll is woken by a write from another process.
pub(crate) fn poll_woken_by_writer() -> Check {
    let (r, w) = pipe().ctx("pipe")?;
    let start = Instant::now();
    let writer = later_in_child(Duration::from_millis(100), || {
        write(w.as_raw_fd(), b"!").is_ok()
    })?;
    let mut p = [pollfd(r.as_raw_fd(), libc::POLLIN)];
    let n = poll(&mut p, 10_000).ctx("poll")?;
    let took = start.elapsed();
    reap_ok(writer, "writer")?;
    ensure!(
        n == 1 && p[0].revents == libc::POLLIN,
        "poll = {n}, revents {:#x}",
        p[0].revents
    );
    ensure!(
        took >= Duration::from_millis(90),
        "poll returned after {took:?}, before the write"
    );
    ensure!(
        took < Duration::from_secs(9),
        "poll was not woken: {took:?}"
    );
    pass_with(format_args!("woken after {} ms", took.as_millis()))
}

/// A stop and continue (signals with no handler) do not end a sleeping poll or select:
/// Linux restarts them, and they return only when the data comes.
pub(crate) fn poll_survives_stop_and_continue() -> Check {
    let (r, w) = pipe().ctx("pipe")?;
    let (r, w) = (r.as_raw_fd(), w.as_raw_fd());
    let sleeper = |use_select: bool| -> Result<libc::pid_t, guest_user::check::Fail> {
        later_in_child(Duration::ZERO, || {
            let woke = if use_select {
                let mut rd = FdSet::of(&[r]);
                let mut tv = libc::timeval {
                    tv_sec: 10,
                    tv_usec: 0,
                };
                select_raw(r + 1, &mut rd, &mut FdSet::default(), Some(&mut tv))
            } else {
                poll(&mut [pollfd(r, libc::POLLIN)], 10_000).map(|n| n as i32)
            };
            matches!(woke, Ok(1))
        })
    };
    for use_select in [false, true] {
        let pid = sleeper(use_select)?;
        sys::sleep(Duration::from_millis(50));
        // SAFETY: kill has no memory arguments.
        unsafe { libc::kill(pid, libc::SIGSTOP) };
        sys::waitpid(pid, libc::WUNTRACED).ctx("waitpid WUNTRACED")?;
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGCONT) };
        sys::sleep(Duration::from_millis(50));
        write(w, b"x").ctx("write")?;
        let what = if use_select { "select" } else { "poll" };
        reap_ok(
            pid,
            &format!("{what} across SIGSTOP/SIGCONT (1: it returned early)"),
        )?;
        let mut buf = [0u8; 1];
        read(r, &mut buf).ctx("read")?;
    }
    pass()
}

/// A `fd_set` of 1024 bits.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
#[repr(C)]
struct FdSet([u64; 16]);

impl FdSet {
    fn of(fds: &[i32]) -> FdSet {
        let mut s = FdSet::default();
        for &fd in fds {
            s.0[fd as usize / 64] |= 1 << (fd % 64);
        }
        s
    }
}

/// The `select` system call itself (musl's wrapper hides the timeout's update).
fn select_raw(
    nfds: i32,
    rd: &mut FdSet,
    wr: &mut FdSet,
    tv: Option<&mut libc::timeval>,
) -> std::io::Result<i32> {
    let tvp = tv.map_or(std::ptr::null_mut(), |t| t as *mut libc::timeval);
    // SAFETY: the sets are 1024-bit fd_sets and `tvp` is null or a valid timeval.
    cvt_long(unsafe {
        libc::syscall(
            libc::SYS_select,
            nfds,
            rd as *mut FdSet,
            wr as *mut FdSet,
            std::ptr::null_mut::<FdSet>(),
            tvp,
        )
    })
    .map(|n| n as i32)
}

/// select marks exactly the ready descriptors, is EBADF on a closed one, and on timeout
/// returns 0 with the timeval counted down to zero (Linux updates it).
pub(crate) fn select_pipes() -> Check {
    let (r1, w1) = pipe().ctx("pipe")?;
    let (r2, w2) = pipe().ctx("pipe")?;
    write(w2.as_raw_fd(), b"x").ctx("write")?;
    let (r1, w1, r2) = (r1.as_raw_fd(), w1.as_raw_fd(), r2.as_raw_fd());
    let nfds = r1.max(w1).max(r2) + 1;
    let mut rd = FdSet::of(&[r1, r2]);
    let mut wr = FdSet::of(&[w1]);
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let n = select_raw(nfds, &mut rd, &mut wr, Some(&mut tv)).ctx("select")?;
    ensure!(
        n == 2 && rd == FdSet::of(&[r2]) && wr == FdSet::of(&[w1]),
        "select = {n}: readable {:?}, writable {:?}; want only fd {r2} readable and {w1} writable",
        rd.0[0],
        wr.0[0]
    );
    // A closed descriptor inside the table (Linux ignores bits past the table's end).
    let closed = dup(r1).ctx("dup")?.as_raw_fd();
    let mut bad = FdSet::of(&[closed]);
    expect_errno(
        select_raw(closed + 1, &mut bad, &mut FdSet::default(), Some(&mut tv)),
        libc::EBADF,
        "select on a closed fd",
    )?;
    let mut rd = FdSet::of(&[r1]);
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 50_000,
    };
    let start = Instant::now();
    let n = select_raw(nfds, &mut rd, &mut FdSet::default(), Some(&mut tv)).ctx("select")?;
    let took = start.elapsed();
    ensure!(
        n == 0 && rd == FdSet::default(),
        "select on an empty pipe returned {n}"
    );
    ensure!(
        took >= Duration::from_millis(50),
        "a 50 ms select returned after {took:?}"
    );
    ensure!(
        (tv.tv_sec, tv.tv_usec) == (0, 0),
        "the timeval after the timeout is {}.{:06}, want 0.000000",
        tv.tv_sec,
        tv.tv_usec
    );
    // Bits past the descriptor table are ignored, not an error, as in Linux.
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let null = std::ptr::null_mut::<FdSet>();
    // SAFETY: no sets, a valid timeval.
    let n = cvt_long(unsafe { libc::syscall(libc::SYS_select, 2000, null, null, null, &mut tv) })
        .ctx("select(2000)")?;
    ensure!(n == 0, "select(2000) with empty sets returned {n}");
    // pselect6 with a zero timeout polls once.
    let mut rd = FdSet::of(&[r1]);
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: the set is a 1024-bit fd_set, `ts` a valid timespec, no signal mask.
    let n = cvt(unsafe {
        libc::pselect(
            nfds,
            (&mut rd as *mut FdSet).cast(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &ts,
            std::ptr::null(),
        )
    })
    .ctx("pselect")?;
    ensure!(n == 0, "pselect on an empty pipe returned {n}");
    pass()
}

static USR1_SEEN: AtomicU32 = AtomicU32::new(0);

extern "C" fn count_usr1(_: libc::c_int) {
    USR1_SEEN.fetch_add(1, Ordering::SeqCst);
}

fn ppoll_with_mask(fd: i32, timeout: Duration, mask: &libc::sigset_t) -> std::io::Result<i32> {
    let mut p = [pollfd(fd, libc::POLLIN)];
    let ts = sys::timespec(timeout);
    // SAFETY: `p`, `ts` and `mask` are valid for the call.
    cvt(unsafe { libc::ppoll(p.as_mut_ptr(), 1, &ts, mask) })
}

/// ppoll runs with the mask it is given: a blocked, pending signal that the mask unblocks
/// interrupts it (EINTR, handler run) and the old mask is back afterwards; a signal the
/// mask blocks does not interrupt it and is delivered when it returns.
pub(crate) fn ppoll_sigmask() -> Check {
    in_child(|| {
        let (r, _w) = pipe().ctx("pipe")?;
        let r = r.as_raw_fd();
        set_signal(libc::SIGUSR1, count_usr1 as *const () as libc::sighandler_t)
            .ctx("sigaction")?;
        let usr1 = sigset(&[libc::SIGUSR1]);
        sigmask(libc::SIG_BLOCK, &usr1).ctx("block SIGUSR1")?;
        // SAFETY: raise has no memory arguments.
        unsafe { libc::raise(libc::SIGUSR1) };
        ensure!(
            USR1_SEEN.load(Ordering::SeqCst) == 0,
            "a blocked SIGUSR1 was delivered"
        );
        let start = Instant::now();
        let res = ppoll_with_mask(r, Duration::from_secs(5), &sigset(&[]));
        expect_errno(
            res,
            libc::EINTR,
            "ppoll with an empty mask and SIGUSR1 pending",
        )?;
        ensure!(
            start.elapsed() < Duration::from_secs(4),
            "ppoll waited for its timeout"
        );
        ensure!(
            USR1_SEEN.load(Ordering::SeqCst) == 1,
            "the handler did not run during ppoll"
        );
        let now = sigmask(libc::SIG_BLOCK, &sigset(&[])).ctx("sigprocmask")?;
        ensure!(
            sigismember(&now, libc::SIGUSR1),
            "ppoll did not restore the old mask"
        );

        sigmask(libc::SIG_UNBLOCK, &usr1).ctx("unblock SIGUSR1")?;
        let me = sys::getpid();
        let sender = sys::fork_child(|| {
            sys::sleep(Duration::from_millis(30));
            // SAFETY: kill has no memory arguments.
            unsafe { libc::kill(me, libc::SIGUSR1) };
            0
        })
        .ctx("fork")?;
        let res = ppoll_with_mask(r, Duration::from_millis(300), &usr1);
        let seen_after = USR1_SEEN.load(Ordering::SeqCst);
        let _ = sys::wait_status(sender);
        ensure!(
            matches!(res, Ok(0)),
            "ppoll with SIGUSR1 in its mask: {res:?}, want a timeout (0)"
        );
        ensure!(
            seen_after == 2,
            "SIGUSR1 sent during ppoll was not delivered on its return (handler ran {} times)",
            seen_after - 1
        );
        pass()
    })
}
