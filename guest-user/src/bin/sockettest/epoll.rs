//! epoll: epoll_ctl's errors, level-triggered, edge-triggered and one-shot reports, hang-up
//! and error bits, timeouts, signals, a waiter woken from another process, epolls inside
//! epolls, and items that go away with their file.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use guest_user::check::{pass, Check};
use guest_user::sys::{self, cvt};
use guest_user::{ensure, fail};

use crate::eventfd::{eventfd, read_u64, write_u64};
use crate::util::*;

pub(crate) fn epoll_create1(flags: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: epoll_create1 has no memory arguments.
    let fd = cvt(unsafe { libc::epoll_create1(flags) })?;
    // SAFETY: a new descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub(crate) fn ctl(ep: RawFd, op: i32, fd: RawFd, events: u32, data: u64) -> std::io::Result<i32> {
    let mut ev = libc::epoll_event { events, u64: data };
    // SAFETY: `ev` is a valid epoll_event for the call.
    cvt(unsafe { libc::epoll_ctl(ep, op, fd, &mut ev) })
}

/// epoll_wait: (events, data) of what was reported.
pub(crate) fn wait(ep: RawFd, max: usize, timeout_ms: i32) -> std::io::Result<Vec<(u32, u64)>> {
    let mut evs = vec![libc::epoll_event { events: 0, u64: 0 }; max];
    // SAFETY: the kernel writes at most `max` events into `evs`.
    let n = cvt(unsafe { libc::epoll_wait(ep, evs.as_mut_ptr(), max as i32, timeout_ms) })?;
    Ok(evs[..n as usize]
        .iter()
        .map(|e| (e.events, e.u64))
        .collect())
}

const IN: u32 = libc::EPOLLIN as u32;
const OUT: u32 = libc::EPOLLOUT as u32;
const HUP: u32 = libc::EPOLLHUP as u32;
const ERR: u32 = libc::EPOLLERR as u32;
const ET: u32 = libc::EPOLLET as u32;
const ONESHOT: u32 = libc::EPOLLONESHOT as u32;

/// The errors of epoll_create, epoll_create1, epoll_ctl and epoll_wait, as Linux orders them.
pub(crate) fn epoll_ctl_errors() -> Check {
    // SAFETY: epoll_create has no memory arguments.
    let sized0 = cvt(unsafe { libc::epoll_create(0) });
    expect_errno(sized0, libc::EINVAL, "epoll_create(0)")?;
    expect_errno(epoll_create1(1), libc::EINVAL, "epoll_create1(1)")?;
    let ep = epoll_create1(libc::EPOLL_CLOEXEC).ctx("epoll_create1")?;
    let e = ep.as_raw_fd();
    ensure!(
        fd_cloexec(e).ctx("F_GETFD")?,
        "EPOLL_CLOEXEC left FD_CLOEXEC clear"
    );
    let link = readlink(format!("/proc/self/fd/{e}")).ctx("readlink")?;
    ensure!(
        link == "anon_inode:[eventpoll]",
        "/proc/self/fd link {link:?}"
    );
    let (r, _w) = pipe().ctx("pipe")?;
    let r = r.as_raw_fd();
    let scratch = Scratch::new("epoll_ctl_errors")?;
    let file = open(scratch.file("f", b"x")?, libc::O_RDONLY, 0).ctx("open")?;
    let dir = open(scratch.dir(), libc::O_RDONLY, 0).ctx("open dir")?;
    use libc::{EPOLL_CTL_ADD as ADD, EPOLL_CTL_DEL as DEL, EPOLL_CTL_MOD as MOD};
    expect_errno(
        ctl(e, ADD, file.as_raw_fd(), IN, 0),
        libc::EPERM,
        "ADD of a regular file",
    )?;
    expect_errno(
        ctl(e, ADD, dir.as_raw_fd(), IN, 0),
        libc::EPERM,
        "ADD of a directory",
    )?;
    expect_errno(ctl(e, ADD, 999, IN, 0), libc::EBADF, "ADD of a closed fd")?;
    expect_errno(ctl(999, ADD, r, IN, 0), libc::EBADF, "ADD on a closed epfd")?;
    expect_errno(ctl(r, ADD, r, IN, 0), libc::EINVAL, "ADD on a pipe as epfd")?;
    expect_errno(
        ctl(e, ADD, e, IN, 0),
        libc::EINVAL,
        "ADD of the epoll to itself",
    )?;
    expect_errno(
        ctl(e, MOD, r, IN, 0),
        libc::ENOENT,
        "MOD of an fd not in the set",
    )?;
    expect_errno(
        ctl(e, DEL, r, 0, 0),
        libc::ENOENT,
        "DEL of an fd not in the set",
    )?;
    ctl(e, ADD, r, IN, 1).ctx("ADD")?;
    expect_errno(ctl(e, ADD, r, IN, 1), libc::EEXIST, "second ADD")?;
    expect_errno(ctl(e, 7, r, IN, 1), libc::EINVAL, "op 7")?;
    let excl = libc::EPOLLEXCLUSIVE as u32;
    expect_errno(
        ctl(e, MOD, r, IN | excl, 1),
        libc::EINVAL,
        "MOD with EPOLLEXCLUSIVE",
    )?;
    let (r2, _w2) = pipe().ctx("pipe")?;
    expect_errno(
        ctl(e, ADD, r2.as_raw_fd(), IN | ONESHOT | excl, 1),
        libc::EINVAL,
        "ADD with EPOLLEXCLUSIVE|EPOLLONESHOT",
    )?;
    ctl(e, MOD, r, OUT, 2).ctx("MOD")?;
    ctl(e, DEL, r, 0, 0).ctx("DEL")?;
    // An epoll inside an epoll that is inside it: ELOOP.
    let ep2 = epoll_create1(0).ctx("epoll_create1")?;
    ctl(ep2.as_raw_fd(), ADD, e, IN, 0).ctx("ADD epoll to epoll")?;
    expect_errno(
        ctl(e, ADD, ep2.as_raw_fd(), IN, 0),
        libc::ELOOP,
        "ADD closing a loop",
    )?;
    // Nesting deeper than 5 levels: ELOOP.
    let mut chain = vec![epoll_create1(0).ctx("epoll_create1")?];
    let mut refused = false;
    for _ in 0..6 {
        let outer = epoll_create1(0).ctx("epoll_create1")?;
        let inner = chain.last().map(|f| f.as_raw_fd()).unwrap_or(-1);
        match ctl(outer.as_raw_fd(), ADD, inner, IN, 0) {
            Ok(_) => chain.push(outer),
            Err(err) if err.raw_os_error() == Some(libc::ELOOP) => {
                refused = true;
                break;
            }
            Err(err) => fail!("nesting level {}: {err}", chain.len()),
        }
    }
    ensure!(
        refused && chain.len() == 5,
        "nesting stopped at {} levels (refused {refused})",
        chain.len()
    );
    let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 1];
    // SAFETY: maxevents 0 and -1 are refused before the buffer is used.
    let zero = cvt(unsafe { libc::epoll_wait(e, evs.as_mut_ptr(), 0, 0) });
    expect_errno(zero, libc::EINVAL, "epoll_wait maxevents 0")?;
    // SAFETY: as above; `r` is not an epoll.
    let notep = cvt(unsafe { libc::epoll_wait(r, evs.as_mut_ptr(), 1, 0) });
    expect_errno(notep, libc::EINVAL, "epoll_wait on a pipe")?;
    // SAFETY: a kernel address is refused with EFAULT.
    let fault = cvt(unsafe { libc::epoll_wait(e, KERNEL_ADDR as *mut _, 1, 0) });
    expect_errno(fault, libc::EFAULT, "epoll_wait into a kernel address")?;
    pass()
}

/// Level-triggered: readable data is reported at every wait until it is read; the data
/// word comes back as given; eventfd and pipe in one set.
pub(crate) fn epoll_level_triggered() -> Check {
    let ep = epoll_create1(0).ctx("epoll_create1")?;
    let e = ep.as_raw_fd();
    let (r, w) = pipe().ctx("pipe")?;
    let efd = eventfd(0, libc::EFD_NONBLOCK).ctx("eventfd")?;
    ctl(
        e,
        libc::EPOLL_CTL_ADD,
        r.as_raw_fd(),
        IN,
        0xAAAA_0000_0000_0001,
    )
    .ctx("ADD pipe")?;
    ctl(e, libc::EPOLL_CTL_ADD, efd.as_raw_fd(), IN, 2).ctx("ADD eventfd")?;
    ensure!(
        wait(e, 8, 0).ctx("wait")?.is_empty(),
        "an empty set reported events"
    );
    write(w.as_raw_fd(), b"ab").ctx("write")?;
    for round in 0..3 {
        let got = wait(e, 8, 0).ctx("wait")?;
        ensure!(
            got == [(IN, 0xAAAA_0000_0000_0001)],
            "round {round}: {got:x?}"
        );
    }
    write_u64(efd.as_raw_fd(), 3).ctx("write eventfd")?;
    let mut got = wait(e, 8, 0).ctx("wait")?;
    got.sort_by_key(|g| g.1);
    ensure!(
        got == [(IN, 2), (IN, 0xAAAA_0000_0000_0001)],
        "both ready: {got:x?}"
    );
    let mut buf = [0u8; 2];
    read(r.as_raw_fd(), &mut buf).ctx("read")?;
    read_u64(efd.as_raw_fd()).ctx("read eventfd")?;
    ensure!(
        wait(e, 8, 0).ctx("wait")?.is_empty(),
        "reported after everything was read"
    );
    // Writable and readable: EPOLLOUT on the write end until the pipe is full.
    ctl(e, libc::EPOLL_CTL_ADD, w.as_raw_fd(), OUT, 3).ctx("ADD write end")?;
    let got = wait(e, 8, 0).ctx("wait")?;
    ensure!(got == [(OUT, 3)], "write end: {got:x?}");
    pass()
}

/// EPOLLET: reported once per arrival of new data, not again while it sits unread.
pub(crate) fn epoll_edge_triggered() -> Check {
    let ep = epoll_create1(0).ctx("epoll_create1")?;
    let e = ep.as_raw_fd();
    let (r, w) = pipe().ctx("pipe")?;
    ctl(e, libc::EPOLL_CTL_ADD, r.as_raw_fd(), IN | ET, 7).ctx("ADD")?;
    write(w.as_raw_fd(), b"a").ctx("write")?;
    ensure!(
        wait(e, 4, 0).ctx("wait")? == [(IN, 7)],
        "first edge not reported"
    );
    ensure!(
        wait(e, 4, 0).ctx("wait")?.is_empty(),
        "an edge was reported twice"
    );
    write(w.as_raw_fd(), b"b").ctx("write")?;
    ensure!(
        wait(e, 4, 0).ctx("wait")? == [(IN, 7)],
        "second edge not reported"
    );
    ensure!(
        wait(e, 4, 0).ctx("wait")?.is_empty(),
        "second edge reported twice"
    );
    // The same through an eventfd.
    let efd = eventfd(0, 0).ctx("eventfd")?;
    ctl(e, libc::EPOLL_CTL_ADD, efd.as_raw_fd(), IN | ET, 8).ctx("ADD eventfd")?;
    write_u64(efd.as_raw_fd(), 1).ctx("write")?;
    ensure!(
        wait(e, 4, 0).ctx("wait")? == [(IN, 8)],
        "eventfd edge not reported"
    );
    ensure!(
        wait(e, 4, 0).ctx("wait")?.is_empty(),
        "eventfd edge reported twice"
    );
    pass()
}

/// EPOLLONESHOT: one report, then silence until EPOLL_CTL_MOD re-arms the item.
pub(crate) fn epoll_oneshot() -> Check {
    let ep = epoll_create1(0).ctx("epoll_create1")?;
    let e = ep.as_raw_fd();
    let (r, w) = pipe().ctx("pipe")?;
    ctl(e, libc::EPOLL_CTL_ADD, r.as_raw_fd(), IN | ONESHOT, 5).ctx("ADD")?;
    write(w.as_raw_fd(), b"a").ctx("write")?;
    ensure!(wait(e, 4, 0).ctx("wait")? == [(IN, 5)], "not reported");
    ensure!(wait(e, 4, 0).ctx("wait")?.is_empty(), "reported again");
    write(w.as_raw_fd(), b"b").ctx("write")?;
    ensure!(
        wait(e, 4, 0).ctx("wait")?.is_empty(),
        "reported after new data, disarmed"
    );
    expect_errno(
        ctl(e, libc::EPOLL_CTL_ADD, r.as_raw_fd(), IN, 5),
        libc::EEXIST,
        "ADD of a disarmed item",
    )?;
    ctl(e, libc::EPOLL_CTL_MOD, r.as_raw_fd(), IN | ONESHOT, 6).ctx("MOD")?;
    ensure!(
        wait(e, 4, 0).ctx("wait")? == [(IN, 6)],
        "not reported after MOD"
    );
    pass()
}

/// A pipe whose writer closed reports EPOLLHUP (asked for or not); one whose reader closed
/// reports EPOLLERR to the writer.
pub(crate) fn epoll_hup_and_err() -> Check {
    let ep = epoll_create1(0).ctx("epoll_create1")?;
    let e = ep.as_raw_fd();
    let (r, w) = pipe().ctx("pipe")?;
    ctl(e, libc::EPOLL_CTL_ADD, r.as_raw_fd(), 0, 1).ctx("ADD")?;
    ensure!(
        wait(e, 4, 0).ctx("wait")?.is_empty(),
        "events before the close"
    );
    drop(w);
    ensure!(
        wait(e, 4, 0).ctx("wait")? == [(HUP, 1)],
        "no EPOLLHUP after the writer closed"
    );
    let (r2, w2) = pipe().ctx("pipe")?;
    ctl(e, libc::EPOLL_CTL_ADD, w2.as_raw_fd(), OUT, 2).ctx("ADD")?;
    drop(r2);
    let got: Vec<_> = wait(e, 4, 0)
        .ctx("wait")?
        .into_iter()
        .filter(|g| g.1 == 2)
        .collect();
    ensure!(
        got == [(OUT | ERR, 2)],
        "write end after the reader closed: {got:x?}"
    );
    drop(r);
    pass()
}

/// A timeout with nothing ready returns 0 after about that long.
pub(crate) fn epoll_timeout() -> Check {
    let ep = epoll_create1(0).ctx("epoll_create1")?;
    let (r, _w) = pipe().ctx("pipe")?;
    ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, r.as_raw_fd(), IN, 1).ctx("ADD")?;
    let start = Instant::now();
    let got = wait(ep.as_raw_fd(), 4, 100).ctx("wait")?;
    let took = start.elapsed();
    ensure!(got.is_empty(), "events {got:?}");
    ensure!(
        took >= Duration::from_millis(95),
        "returned after {took:?}, want 100 ms"
    );
    ensure!(took < Duration::from_secs(5), "returned after {took:?}");
    pass()
}

static CAUGHT: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_alarm(_: libc::c_int) {
    CAUGHT.fetch_add(1, Ordering::SeqCst);
}

/// A signal with a handler ends epoll_wait with EINTR, even with SA_RESTART.
pub(crate) fn epoll_signal_eintr() -> Check {
    guest_user::check::in_child(|| {
        // SAFETY: installs an async-signal-safe handler with SA_RESTART.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_alarm as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
        }
        let ep = epoll_create1(0).ctx("epoll_create1")?;
        let parent = sys::getpid();
        let killer = sys::fork_child(|| {
            sys::sleep(Duration::from_millis(100));
            // SAFETY: kill has no memory arguments.
            unsafe { libc::kill(parent, libc::SIGUSR1) };
            0
        })
        .ctx("fork")?;
        let r = wait(ep.as_raw_fd(), 4, 10_000);
        let _ = sys::wait_status(killer);
        expect_errno(r, libc::EINTR, "epoll_wait interrupted by a signal")?;
        ensure!(
            CAUGHT.load(Ordering::SeqCst) == 1,
            "the handler did not run"
        );
        pass()
    })
}

/// A waiter with no timeout is woken by a write from another process.
pub(crate) fn epoll_wakes_waiter() -> Check {
    let ep = epoll_create1(0).ctx("epoll_create1")?;
    let (r, w) = pipe().ctx("pipe")?;
    let efd = eventfd(0, 0).ctx("eventfd")?;
    ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, r.as_raw_fd(), IN, 1).ctx("ADD")?;
    ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, efd.as_raw_fd(), IN, 2).ctx("ADD")?;
    let (wfd, efd_raw) = (w.as_raw_fd(), efd.as_raw_fd());
    let child = sys::fork_child(|| {
        sys::sleep(Duration::from_millis(100));
        let a = write(wfd, b"x").is_ok();
        sys::sleep(Duration::from_millis(100));
        let b = write_u64(efd_raw, 1).is_ok();
        if a && b {
            0
        } else {
            1
        }
    })
    .ctx("fork")?;
    let first = wait(ep.as_raw_fd(), 4, -1).ctx("wait")?;
    let mut buf = [0u8; 1];
    read(r.as_raw_fd(), &mut buf).ctx("read")?;
    let second = wait(ep.as_raw_fd(), 4, -1).ctx("wait")?;
    let st = sys::wait_status(child).ctx("wait child")?;
    ensure!(first == [(IN, 1)], "first wake-up: {first:?}");
    ensure!(second == [(IN, 2)], "second wake-up: {second:?}");
    ensure!(st == 0, "writer {}", sys::describe_status(st));
    pass()
}

/// An epoll inside an epoll is readable when its own set has events, and poll(2) says so too.
pub(crate) fn epoll_nested() -> Check {
    let inner = epoll_create1(0).ctx("epoll_create1")?;
    let outer = epoll_create1(0).ctx("epoll_create1")?;
    let (r, w) = pipe().ctx("pipe")?;
    ctl(inner.as_raw_fd(), libc::EPOLL_CTL_ADD, r.as_raw_fd(), IN, 1).ctx("ADD")?;
    ctl(
        outer.as_raw_fd(),
        libc::EPOLL_CTL_ADD,
        inner.as_raw_fd(),
        IN,
        9,
    )
    .ctx("ADD")?;
    ensure!(
        wait(outer.as_raw_fd(), 4, 0).ctx("wait")?.is_empty(),
        "ready too early"
    );
    let mut p = [pollfd(inner.as_raw_fd(), libc::POLLIN)];
    ensure!(
        poll(&mut p, 0).ctx("poll")? == 0,
        "poll of the empty inner epoll: {:#x}",
        p[0].revents
    );
    let wfd = w.as_raw_fd();
    let child = sys::fork_child(|| {
        sys::sleep(Duration::from_millis(100));
        i32::from(write(wfd, b"x").is_err())
    })
    .ctx("fork")?;
    let got = wait(outer.as_raw_fd(), 4, 5000).ctx("wait")?;
    let _ = sys::wait_status(child);
    ensure!(got == [(IN, 9)], "outer: {got:?}");
    ensure!(
        poll(&mut p, 0).ctx("poll")? == 1 && p[0].revents == libc::POLLIN,
        "poll of the inner epoll"
    );
    ensure!(
        wait(inner.as_raw_fd(), 4, 0).ctx("wait")? == [(IN, 1)],
        "inner"
    );
    pass()
}

/// Closing the last descriptor of a watched file removes it from the set; a dup keeps it.
pub(crate) fn epoll_close_removes() -> Check {
    let ep = epoll_create1(0).ctx("epoll_create1")?;
    let e = ep.as_raw_fd();
    let (r, w) = pipe().ctx("pipe")?;
    let rfd = r.as_raw_fd();
    ctl(e, libc::EPOLL_CTL_ADD, rfd, IN, 1).ctx("ADD")?;
    write(w.as_raw_fd(), b"x").ctx("write")?;
    let keep = dup(rfd).ctx("dup")?;
    drop(r);
    // The open file lives on through the dup: still reported under the old descriptor.
    ensure!(
        wait(e, 4, 0).ctx("wait")? == [(IN, 1)],
        "lost with a dup still open"
    );
    drop(keep);
    ensure!(
        wait(e, 4, 0).ctx("wait")?.is_empty(),
        "reported after the last close"
    );
    // The number is free for a new pipe, which is not in the set.
    let (r2, w2) = pipe().ctx("pipe")?;
    ctl(e, libc::EPOLL_CTL_ADD, r2.as_raw_fd(), IN, 2).ctx("ADD of the reused number")?;
    drop(w);
    // And an epoll closed while watching a live pipe leaves the pipe working.
    drop(ep);
    write(w2.as_raw_fd(), b"y").ctx("write after the epoll closed")?;
    pass()
}

/// maxevents caps one report; the rest come at the next wait (level-triggered, none lost).
pub(crate) fn epoll_maxevents() -> Check {
    let ep = epoll_create1(0).ctx("epoll_create1")?;
    let mut fds = Vec::new();
    for i in 0..5u64 {
        let efd = eventfd(1, 0).ctx("eventfd")?;
        ctl(
            ep.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            efd.as_raw_fd(),
            IN | ET,
            i,
        )
        .ctx("ADD")?;
        fds.push(efd);
    }
    let mut seen: Vec<u64> = Vec::new();
    for _ in 0..3 {
        let got = wait(ep.as_raw_fd(), 2, 0).ctx("wait")?;
        ensure!(got.len() <= 2, "{} events for maxevents 2", got.len());
        seen.extend(got.iter().map(|g| g.1));
    }
    seen.sort();
    ensure!(seen == [0, 1, 2, 3, 4], "reported {seen:?}");
    pass()
}
