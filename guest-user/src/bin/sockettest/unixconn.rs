//! AF_UNIX sockets on a connection: descriptor passing, EPIPE and SIGPIPE, ECONNREFUSED,
//! shutdown, poll and epoll, options and credentials, and a large transfer under flow control.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use guest_user::check::{in_child, pass, Check};
use guest_user::sys;
use guest_user::{ensure, fail};

use crate::epoll::{ctl, epoll_create1, wait};
use crate::unixsock::*;
use crate::util::*;

const STREAM: i32 = libc::SOCK_STREAM;
const DGRAM: i32 = libc::SOCK_DGRAM;
/// SCM_RIGHTS: an open file sent to a forked process, which reads it through the new
/// descriptor after the sender closed its own; a small control buffer truncates.
pub(crate) fn unix_scm_rights() -> Check {
    let scratch = Scratch::new("unix_scm_rights")?;
    let path = scratch.file("data", b"passed through a socket")?;
    let (a, b) = socketpair(STREAM).ctx("socketpair")?;
    let bfd = b.as_raw_fd();
    let child = sys::fork_child(move || {
        let Ok(r) = recv_msg(bfd, 16, 64, libc::MSG_CMSG_CLOEXEC) else {
            return 1;
        };
        if r.data != b"take this" || r.fds.len() != 1 {
            return 2;
        }
        let fd = r.fds[0];
        if !fd_cloexec(fd).unwrap_or(false) {
            return 3;
        }
        let mut buf = [0u8; 64];
        match pread(fd, &mut buf, 0) {
            Ok(n) if &buf[..n] == b"passed through a socket" => 0,
            _ => 4,
        }
    })
    .ctx("fork")?;
    {
        let f = open(&path, libc::O_RDONLY, 0).ctx("open")?;
        send_fds(a.as_raw_fd(), b"take this", &[f.as_raw_fd()]).ctx("sendmsg")?;
    }
    let st = sys::wait_status(child).ctx("wait")?;
    ensure!(st == 0, "receiver {}", sys::describe_status(st));
    // Two descriptors, room for one: MSG_CTRUNC, one installed.
    let (p, q) = pipe().ctx("pipe")?;
    send_fds(a.as_raw_fd(), b"two", &[p.as_raw_fd(), q.as_raw_fd()]).ctx("sendmsg")?;
    // SAFETY: CMSG_LEN is pure arithmetic.
    let room = unsafe { libc::CMSG_LEN(4) } as usize;
    let r = recv_msg(bfd, 16, room, 0).ctx("recvmsg")?;
    ensure!(
        r.flags & libc::MSG_CTRUNC != 0,
        "no MSG_CTRUNC (flags {:#x})",
        r.flags
    );
    ensure!(
        r.fds.len() == 1,
        "{} descriptors installed, want 1",
        r.fds.len()
    );
    // SAFETY: the descriptor was just installed for us.
    drop(unsafe { OwnedFd::from_raw_fd(r.fds[0]) });
    expect_errno(
        send_fds(a.as_raw_fd(), b"bad", &[999]),
        libc::EBADF,
        "SCM_RIGHTS of a closed fd",
    )?;
    pass()
}

/// A write to a connection whose other end is gone: SIGPIPE kills, or EPIPE when ignored
/// or with MSG_NOSIGNAL; the reader sees end of file, or ECONNRESET if it left data unread.
pub(crate) fn unix_epipe_sigpipe() -> Check {
    let (a, b) = socketpair(STREAM).ctx("socketpair")?;
    drop(b);
    let afd = a.as_raw_fd();
    let child = sys::fork_child(|| {
        // SAFETY: the default action in this child (Rust's runtime ignores SIGPIPE).
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        let _ = send(afd, b"x", 0);
        0
    })
    .ctx("fork")?;
    let st = sys::wait_status(child).ctx("wait")?;
    ensure!(
        libc::WIFSIGNALED(st) && libc::WTERMSIG(st) == libc::SIGPIPE,
        "writer {}, want killed by SIGPIPE",
        sys::describe_status(st)
    );
    expect_errno(
        send(afd, b"x", libc::MSG_NOSIGNAL),
        libc::EPIPE,
        "MSG_NOSIGNAL send",
    )?;
    let mut buf = [0u8; 4];
    ensure!(recv(afd, &mut buf, 0).ctx("recv")? == 0, "no end of file");
    in_child(|| {
        // SAFETY: ignoring SIGPIPE in this child only.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        expect_errno(write(afd, b"x"), libc::EPIPE, "write with SIGPIPE ignored")?;
        pass()
    })?;
    let (c, d) = socketpair(STREAM).ctx("socketpair")?;
    send(c.as_raw_fd(), b"unread", 0).ctx("send")?;
    drop(d);
    expect_errno(
        recv(c.as_raw_fd(), &mut buf, 0),
        libc::ECONNRESET,
        "peer closed with data unread",
    )?;
    pass()
}

/// Connecting to what does not take connections.
pub(crate) fn unix_econnrefused() -> Check {
    let scratch = Scratch::new("unix_econnrefused")?;
    let path = scratch.path("s");
    {
        let s = socket(libc::AF_UNIX, STREAM, 0).ctx("socket")?;
        bind(s.as_raw_fd(), &Addr::path(&path)).ctx("bind")?;
        let c = socket(libc::AF_UNIX, STREAM, 0).ctx("socket")?;
        expect_errno(
            connect(c.as_raw_fd(), &Addr::path(&path)),
            libc::ECONNREFUSED,
            "not listening",
        )?;
    }
    let c = socket(libc::AF_UNIX, STREAM, 0).ctx("socket")?;
    expect_errno(
        connect(c.as_raw_fd(), &Addr::path(&path)),
        libc::ECONNREFUSED,
        "closed socket's name",
    )?;
    let file = scratch.file("f", b"")?;
    expect_errno(
        connect(c.as_raw_fd(), &Addr::path(&file)),
        libc::ECONNREFUSED,
        "a regular file",
    )?;
    let tag = format!("nobody-{}", sys::getpid());
    expect_errno(
        connect(c.as_raw_fd(), &Addr::abstract_name(tag.as_bytes())),
        libc::ECONNREFUSED,
        "unbound abstract name",
    )?;
    let d = socket(libc::AF_UNIX, DGRAM, 0).ctx("socket")?;
    bind(d.as_raw_fd(), &Addr::path(scratch.path("d"))).ctx("bind")?;
    expect_errno(
        connect(c.as_raw_fd(), &Addr::path(scratch.path("d"))),
        libc::EPROTOTYPE,
        "stream to dgram",
    )?;
    // A full backlog: a non-blocking connect is EAGAIN.
    let l = socket(libc::AF_UNIX, STREAM, 0).ctx("socket")?;
    bind(l.as_raw_fd(), &Addr::path(scratch.path("l"))).ctx("bind")?;
    listen(l.as_raw_fd(), 0).ctx("listen")?;
    let mut held = Vec::new();
    let refused = loop {
        let c = socket(libc::AF_UNIX, STREAM | libc::SOCK_NONBLOCK, 0).ctx("socket")?;
        match connect(c.as_raw_fd(), &Addr::path(scratch.path("l"))) {
            Ok(()) => held.push(c),
            Err(e) => break e,
        }
        ensure!(held.len() < 100, "the backlog never filled");
    };
    ensure!(
        refused.raw_os_error() == Some(libc::EAGAIN),
        "full backlog: {refused}, want EAGAIN"
    );
    pass()
}

/// shutdown(SHUT_WR): the peer reads end of file and polls POLLRDHUP; our writes are EPIPE.
pub(crate) fn unix_shutdown() -> Check {
    let (a, b) = socketpair(STREAM).ctx("socketpair")?;
    send(a.as_raw_fd(), b"last", 0).ctx("send")?;
    shutdown(a.as_raw_fd(), libc::SHUT_WR).ctx("shutdown")?;
    expect_errno(
        send(a.as_raw_fd(), b"x", libc::MSG_NOSIGNAL),
        libc::EPIPE,
        "send after SHUT_WR",
    )?;
    let mut p = [pollfd(b.as_raw_fd(), libc::POLLIN | libc::POLLRDHUP)];
    poll(&mut p, 0).ctx("poll")?;
    ensure!(
        p[0].revents & libc::POLLRDHUP != 0,
        "no POLLRDHUP: {:#x}",
        p[0].revents
    );
    let mut buf = [0u8; 8];
    let n = recv(b.as_raw_fd(), &mut buf, 0).ctx("recv")?;
    ensure!(&buf[..n] == b"last", "data before the shutdown");
    ensure!(
        recv(b.as_raw_fd(), &mut buf, 0).ctx("recv")? == 0,
        "no end of file"
    );
    // The other direction still works.
    send(b.as_raw_fd(), b"back", 0).ctx("send back")?;
    ensure!(
        recv(a.as_raw_fd(), &mut buf, 0).ctx("recv")? == 4,
        "reply lost"
    );
    pass()
}

/// Sockets through poll and epoll: writable at once, readable with data, hang-up after the
/// peer's close; a listening socket is readable with a connection pending.
pub(crate) fn unix_poll_epoll() -> Check {
    let (a, b) = socketpair(STREAM | libc::SOCK_NONBLOCK).ctx("socketpair")?;
    let ep = epoll_create1(0).ctx("epoll_create1")?;
    let e = ep.as_raw_fd();
    let (ein, eout) = (libc::EPOLLIN as u32, libc::EPOLLOUT as u32);
    ctl(
        e,
        libc::EPOLL_CTL_ADD,
        b.as_raw_fd(),
        ein | eout | libc::EPOLLRDHUP as u32,
        1,
    )
    .ctx("ADD")?;
    ensure!(
        wait(e, 4, 0).ctx("wait")? == [(eout, 1)],
        "fresh socket not just writable"
    );
    let wfd = a.as_raw_fd();
    let child = sys::fork_child(|| {
        sys::sleep(Duration::from_millis(100));
        i32::from(send(wfd, b"x", 0).is_err())
    })
    .ctx("fork")?;
    ctl(e, libc::EPOLL_CTL_MOD, b.as_raw_fd(), ein, 1).ctx("MOD")?;
    let got = wait(e, 4, 5000).ctx("wait")?;
    let _ = sys::wait_status(child);
    ensure!(got == [(ein, 1)], "after the peer's send: {got:?}");
    let mut buf = [0u8; 4];
    recv(b.as_raw_fd(), &mut buf, 0).ctx("recv")?;
    ctl(
        e,
        libc::EPOLL_CTL_MOD,
        b.as_raw_fd(),
        ein | libc::EPOLLRDHUP as u32,
        1,
    )
    .ctx("MOD")?;
    drop(a);
    let got = wait(e, 4, 0).ctx("wait")?;
    let want = ein | libc::EPOLLRDHUP as u32 | libc::EPOLLHUP as u32;
    ensure!(
        got == [(want, 1)],
        "after the peer's close: {got:x?}, want {want:#x}"
    );
    let scratch = Scratch::new("unix_poll_epoll")?;
    let l = socket(libc::AF_UNIX, STREAM | libc::SOCK_NONBLOCK, 0).ctx("socket")?;
    bind(l.as_raw_fd(), &Addr::path(scratch.path("l"))).ctx("bind")?;
    listen(l.as_raw_fd(), 5).ctx("listen")?;
    expect_errno(
        accept4(l.as_raw_fd(), 0),
        libc::EAGAIN,
        "accept with nothing pending",
    )?;
    let mut p = [pollfd(l.as_raw_fd(), libc::POLLIN | libc::POLLOUT)];
    ensure!(
        poll(&mut p, 0).ctx("poll")? == 0,
        "idle listener polls {:#x}",
        p[0].revents
    );
    let c = socket(libc::AF_UNIX, STREAM, 0).ctx("socket")?;
    connect(c.as_raw_fd(), &Addr::path(scratch.path("l"))).ctx("connect")?;
    poll(&mut p, 0).ctx("poll")?;
    ensure!(
        p[0].revents == libc::POLLIN,
        "listener with a connection: {:#x}",
        p[0].revents
    );
    let conn = accept4(l.as_raw_fd(), libc::SOCK_NONBLOCK).ctx("accept4")?;
    let fl = fcntl(conn.as_raw_fd(), libc::F_GETFL, 0).ctx("F_GETFL")?;
    ensure!(
        fl & libc::O_NONBLOCK != 0,
        "SOCK_NONBLOCK not set on the accepted socket"
    );
    pass()
}

/// SOL_SOCKET options, SO_PASSCRED with SCM_CREDENTIALS, MSG_PEEK and FIONREAD.
pub(crate) fn unix_options_and_peek() -> Check {
    let (a, b) = socketpair(STREAM).ctx("socketpair")?;
    let (afd, bfd) = (a.as_raw_fd(), b.as_raw_fd());
    let opt = |o| getsockopt_int(afd, libc::SOL_SOCKET, o);
    ensure!(opt(libc::SO_TYPE).ctx("SO_TYPE")? == STREAM, "SO_TYPE");
    ensure!(
        opt(libc::SO_DOMAIN).ctx("SO_DOMAIN")? == libc::AF_UNIX,
        "SO_DOMAIN"
    );
    ensure!(opt(libc::SO_ERROR).ctx("SO_ERROR")? == 0, "SO_ERROR");
    ensure!(
        opt(libc::SO_ACCEPTCONN).ctx("SO_ACCEPTCONN")? == 0,
        "SO_ACCEPTCONN"
    );
    setsockopt_int(afd, libc::SO_SNDBUF, 10000).ctx("SO_SNDBUF")?;
    ensure!(
        opt(libc::SO_SNDBUF).ctx("SO_SNDBUF")? == 20000,
        "SO_SNDBUF is not doubled"
    );
    setsockopt_int(afd, libc::SO_RCVBUF, 1).ctx("SO_RCVBUF")?;
    ensure!(
        opt(libc::SO_RCVBUF).ctx("SO_RCVBUF")? == 2304,
        "SO_RCVBUF minimum"
    );
    let cred = peercred(bfd).ctx("SO_PEERCRED")?;
    ensure!(
        cred.pid == sys::getpid(),
        "socketpair peer pid {}",
        cred.pid
    );
    setsockopt_int(bfd, libc::SO_PASSCRED, 1).ctx("SO_PASSCRED")?;
    send(afd, b"peekaboo", 0).ctx("send")?;
    ensure!(fionread(bfd).ctx("FIONREAD")? == 8, "FIONREAD");
    let mut buf = [0u8; 4];
    let n = recv(bfd, &mut buf, libc::MSG_PEEK).ctx("peek")?;
    ensure!(&buf[..n] == b"peek", "peek got {:?}", &buf[..n]);
    let r = recv_msg(bfd, 16, 64, 0).ctx("recvmsg")?;
    ensure!(r.data == b"peekaboo", "peeked data consumed: {:?}", r.data);
    let c = r
        .cred
        .ok_or_else(|| guest_user::check::Fail("no SCM_CREDENTIALS".into()))?;
    ensure!(
        c.pid == sys::getpid() && c.uid == sys::geteuid(),
        "credentials pid {} uid {}",
        c.pid,
        c.uid
    );
    pass()
}

/// 4 MiB through a stream socket between two processes: flow control stalls the writer,
/// the reader gets every byte in order.
pub(crate) fn unix_stream_large_transfer() -> Check {
    const TOTAL: usize = 4 << 20;
    let (a, b) = socketpair(STREAM).ctx("socketpair")?;
    let afd = a.as_raw_fd();
    let writer = sys::fork_child(|| {
        let chunk: Vec<u8> = (0..65536).map(|i| (i % 251) as u8).collect();
        let mut sent = 0;
        while sent < TOTAL {
            let want = (TOTAL - sent).min(chunk.len());
            let off = sent % chunk.len();
            let piece = [&chunk[off..], &chunk[..off]].concat();
            match write(afd, &piece[..want]) {
                Ok(n) => sent += n,
                Err(_) => return 1,
            }
        }
        0
    })
    .ctx("fork")?;
    drop(a);
    let mut got = 0;
    let mut buf = vec![0u8; 100_000];
    loop {
        let n = read(b.as_raw_fd(), &mut buf).ctx("read")?;
        if n == 0 {
            break;
        }
        for (i, &byte) in buf[..n].iter().enumerate() {
            if byte != ((got + i) % 65536 % 251) as u8 {
                fail!("byte {} is {byte}", got + i);
            }
        }
        got += n;
    }
    let st = sys::wait_status(writer).ctx("wait")?;
    ensure!(st == 0, "writer {}", sys::describe_status(st));
    ensure!(got == TOTAL, "read {got} bytes, want {TOTAL}");
    pass()
}
