//! AF_UNIX sockets: the errors of each call, a stream echo between forked processes through
//! a filesystem name, abstract names and autobind, datagram and seqpacket boundaries,
//! descriptor passing, EPIPE and SIGPIPE, ECONNREFUSED, shutdown, poll and epoll, options
//! and credentials, and a large transfer under flow control.

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

/// What socket() and the calls on the wrong kind of socket answer.
pub(crate) fn unix_socket_errors() -> Check {
    // Families a kernel may lack fail with EAFNOSUPPORT (a host with networking has them).
    for (family, what) in [
        (libc::AF_INET, "AF_INET"),
        (libc::AF_INET6, "AF_INET6"),
        (libc::AF_APPLETALK, "AF_APPLETALK"),
    ] {
        if let Err(e) = socket(family, STREAM, 0) {
            expect_errno::<()>(Err(e), libc::EAFNOSUPPORT, what)?;
        }
    }
    expect_errno(
        socket(46, STREAM, 0),
        libc::EAFNOSUPPORT,
        "family 46 (AF_MAX)",
    )?;
    expect_errno(socket(libc::AF_UNIX, 99, 0), libc::EINVAL, "type 99")?;
    expect_errno(
        socket(libc::AF_UNIX, STREAM, 6),
        libc::EPROTONOSUPPORT,
        "protocol 6",
    )?;
    expect_errno(
        socket(libc::AF_UNIX, libc::SOCK_RDM, 0),
        libc::ESOCKTNOSUPPORT,
        "SOCK_RDM",
    )?;
    let s = socket(libc::AF_UNIX, STREAM | libc::SOCK_CLOEXEC, 0).ctx("socket")?;
    let fd = s.as_raw_fd();
    ensure!(
        fd_cloexec(fd).ctx("F_GETFD")?,
        "SOCK_CLOEXEC left FD_CLOEXEC clear"
    );
    let st = fstat(fd).ctx("fstat")?;
    ensure!(
        st.st_mode & libc::S_IFMT == libc::S_IFSOCK,
        "st_mode {:#o}",
        st.st_mode
    );
    let link = readlink(format!("/proc/self/fd/{fd}")).ctx("readlink")?;
    ensure!(
        link == format!("socket:[{}]", st.st_ino),
        "fd link {link:?}, inode {}",
        st.st_ino
    );
    let mut buf = [0u8; 4];
    expect_errno(
        recv(fd, &mut buf, 0),
        libc::EINVAL,
        "recv on an unconnected stream",
    )?;
    expect_errno(
        send(fd, b"x", 0),
        libc::ENOTCONN,
        "send on an unconnected stream",
    )?;
    expect_errno(listen(fd, 1), libc::EINVAL, "listen before bind")?;
    expect_errno(
        accept4(fd, 0),
        libc::EINVAL,
        "accept on a socket not listening",
    )?;
    expect_errno(accept4(fd, 0x1), libc::EINVAL, "accept4 with flags 1")?;
    expect_errno(name(fd, true), libc::ENOTCONN, "getpeername unconnected")?;
    expect_errno(shutdown(fd, 5), libc::EINVAL, "shutdown how 5")?;
    expect_errno(
        getsockopt_int(fd, libc::IPPROTO_TCP, 1),
        libc::EOPNOTSUPP,
        "getsockopt at IPPROTO_TCP",
    )?;
    expect_errno(
        getsockopt_int(fd, libc::SOL_SOCKET, 999),
        libc::ENOPROTOOPT,
        "option 999",
    )?;
    expect_errno(
        connect(fd, &Addr::path("/nonexistent/s")),
        libc::ENOENT,
        "connect to no file",
    )?;
    let d = socket(libc::AF_UNIX, DGRAM, 0).ctx("socket")?;
    expect_errno(
        listen(d.as_raw_fd(), 1),
        libc::EOPNOTSUPP,
        "listen on a datagram socket",
    )?;
    expect_errno(
        accept4(d.as_raw_fd(), 0),
        libc::EOPNOTSUPP,
        "accept on a datagram socket",
    )?;
    expect_errno(
        send(d.as_raw_fd(), b"x", 0),
        libc::ENOTCONN,
        "send with no destination",
    )?;
    let (r, _w) = pipe().ctx("pipe")?;
    expect_errno(
        send(r.as_raw_fd(), b"x", 0),
        libc::ENOTSOCK,
        "send on a pipe",
    )?;
    expect_errno(
        name(r.as_raw_fd(), false),
        libc::ENOTSOCK,
        "getsockname of a pipe",
    )?;
    pass()
}

/// A server bound to a path echoes what a forked client sends; names, credentials, and the
/// socket inode in the filesystem.
pub(crate) fn unix_stream_echo_path() -> Check {
    let scratch = Scratch::new("unix_stream_echo_path")?;
    let path = scratch.path("sock");
    let srv = socket(libc::AF_UNIX, STREAM, 0).ctx("socket")?;
    bind(srv.as_raw_fd(), &Addr::path(&path)).ctx("bind")?;
    let st = stat(&path).ctx("stat")?;
    ensure!(
        st.st_mode & libc::S_IFMT == libc::S_IFSOCK,
        "bound name mode {:#o}",
        st.st_mode
    );
    ensure!(
        st.st_mode & 0o777 == 0o755,
        "mode {:#o}, want 0755 (umask 022)",
        st.st_mode
    );
    expect_errno(
        bind(srv.as_raw_fd(), &Addr::path(scratch.path("b"))),
        libc::EINVAL,
        "bind twice",
    )?;
    let other = socket(libc::AF_UNIX, STREAM, 0).ctx("socket")?;
    expect_errno(
        bind(other.as_raw_fd(), &Addr::path(&path)),
        libc::EADDRINUSE,
        "bind taken",
    )?;
    expect_errno(
        open(&path, libc::O_RDONLY, 0),
        libc::ENXIO,
        "open of a socket",
    )?;
    listen(srv.as_raw_fd(), 4).ctx("listen")?;
    let want_name = name_bytes(format!("{}\0", path.display()).as_bytes());
    ensure!(
        name(srv.as_raw_fd(), false).ctx("getsockname")? == want_name,
        "server name"
    );
    let client_path = path.clone();
    let client = sys::fork_child(move || {
        let run = || -> Result<(), String> {
            let c = socket(libc::AF_UNIX, STREAM, 0).map_err(|e| e.to_string())?;
            connect(c.as_raw_fd(), &Addr::path(&client_path))
                .map_err(|e| format!("connect: {e}"))?;
            let peer = name(c.as_raw_fd(), true).map_err(|e| e.to_string())?;
            if peer != name_bytes(format!("{}\0", client_path.display()).as_bytes()) {
                return Err(format!("peer name {peer:?}"));
            }
            for i in 0..20 {
                let msg = format!("ping {i}");
                send(c.as_raw_fd(), msg.as_bytes(), 0).map_err(|e| e.to_string())?;
                let mut buf = [0u8; 32];
                let n = recv(c.as_raw_fd(), &mut buf, 0).map_err(|e| e.to_string())?;
                if buf[..n] != *msg.as_bytes() {
                    return Err(format!("echo {:?}", &buf[..n]));
                }
            }
            Ok(())
        };
        match run() {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("client: {e}");
                1
            }
        }
    })
    .ctx("fork")?;
    let conn = accept4(srv.as_raw_fd(), libc::SOCK_CLOEXEC).ctx("accept4")?;
    let c = conn.as_raw_fd();
    ensure!(
        fd_cloexec(c).ctx("F_GETFD")?,
        "accept4(SOCK_CLOEXEC) left FD_CLOEXEC clear"
    );
    ensure!(
        name(c, true).ctx("getpeername")? == name_bytes(b""),
        "client should be unnamed"
    );
    ensure!(
        name(c, false).ctx("getsockname")? == want_name,
        "accepted socket's name"
    );
    let cred = peercred(c).ctx("SO_PEERCRED")?;
    ensure!(
        cred.pid == client && cred.uid == sys::geteuid(),
        "peer cred pid {} uid {}",
        cred.pid,
        cred.uid
    );
    let mut buf = [0u8; 64];
    loop {
        let n = recv(c, &mut buf, 0).ctx("recv")?;
        if n == 0 {
            break;
        }
        send(c, &buf[..n], 0).ctx("send")?;
    }
    let st = sys::wait_status(client).ctx("wait")?;
    ensure!(st == 0, "client {}", sys::describe_status(st));
    pass()
}

/// Abstract names leave nothing in the filesystem; bind with only the family picks a
/// five-digit abstract name; a name is free again once its socket is closed.
pub(crate) fn unix_abstract_and_autobind() -> Check {
    let tag = format!("sockettest-{}", sys::getpid());
    let srv = socket(libc::AF_UNIX, STREAM, 0).ctx("socket")?;
    bind(srv.as_raw_fd(), &Addr::abstract_name(tag.as_bytes())).ctx("bind")?;
    let mut want = vec![0u8];
    want.extend_from_slice(tag.as_bytes());
    ensure!(
        name(srv.as_raw_fd(), false).ctx("getsockname")? == name_bytes(&want),
        "abstract name"
    );
    listen(srv.as_raw_fd(), 1).ctx("listen")?;
    let c = socket(libc::AF_UNIX, STREAM, 0).ctx("socket")?;
    bind(c.as_raw_fd(), &Addr::unnamed()).ctx("autobind")?;
    let auto = name(c.as_raw_fd(), false).ctx("getsockname")?;
    ensure!(
        auto.len() == 8 && auto[2] == 0 && auto[3..].iter().all(u8::is_ascii_hexdigit),
        "autobind name {auto:?}"
    );
    connect(c.as_raw_fd(), &Addr::abstract_name(tag.as_bytes())).ctx("connect")?;
    let conn = accept4(srv.as_raw_fd(), 0).ctx("accept")?;
    ensure!(
        name(conn.as_raw_fd(), true).ctx("getpeername")? == auto,
        "peer is the autobound name"
    );
    drop((srv, conn));
    let again = socket(libc::AF_UNIX, STREAM, 0).ctx("socket")?;
    bind(again.as_raw_fd(), &Addr::abstract_name(tag.as_bytes())).ctx("bind after close")?;
    pass()
}

/// Datagrams keep their boundaries, are cut to the buffer (MSG_TRUNC gives the real
/// length), carry the sender's name, and fill the receiver's queue.
pub(crate) fn unix_dgram_boundaries() -> Check {
    let (a, b) = socketpair(DGRAM).ctx("socketpair")?;
    for m in [&b"one"[..], b"", b"three33"] {
        ensure!(
            send(a.as_raw_fd(), m, 0).ctx("send")? == m.len(),
            "short send"
        );
    }
    let mut buf = [0u8; 64];
    for m in [&b"one"[..], b"", b"three33"] {
        let n = recv(b.as_raw_fd(), &mut buf, 0).ctx("recv")?;
        ensure!(&buf[..n] == m, "got {:?}, want {m:?}", &buf[..n]);
    }
    send(a.as_raw_fd(), b"0123456789", 0).ctx("send")?;
    let mut small = [0u8; 4];
    let n = recv(b.as_raw_fd(), &mut small, libc::MSG_TRUNC).ctx("recv MSG_TRUNC")?;
    ensure!(
        n == 10 && &small == b"0123",
        "MSG_TRUNC recv gave {n} {small:?}"
    );
    expect_errno(
        recv(b.as_raw_fd(), &mut buf, libc::MSG_DONTWAIT),
        libc::EAGAIN,
        "empty queue",
    )?;
    let got = recv_msg(b.as_raw_fd(), 2, 0, libc::MSG_DONTWAIT);
    expect_errno(got.map(|r| r.data), libc::EAGAIN, "recvmsg of nothing")?;
    send(a.as_raw_fd(), b"abc", 0).ctx("send")?;
    let r = recv_msg(b.as_raw_fd(), 2, 0, 0).ctx("recvmsg")?;
    ensure!(
        r.data == b"ab" && r.flags & libc::MSG_TRUNC != 0,
        "recvmsg: {:?} flags {:#x}",
        r.data,
        r.flags
    );
    // A named receiver, a sender that names itself.
    let scratch = Scratch::new("unix_dgram_boundaries")?;
    let (rpath, spath) = (scratch.path("r"), scratch.path("s"));
    let rx = socket(libc::AF_UNIX, DGRAM | libc::SOCK_NONBLOCK, 0).ctx("socket")?;
    bind(rx.as_raw_fd(), &Addr::path(&rpath)).ctx("bind")?;
    let tx = socket(libc::AF_UNIX, DGRAM | libc::SOCK_NONBLOCK, 0).ctx("socket")?;
    bind(tx.as_raw_fd(), &Addr::path(&spath)).ctx("bind")?;
    sendto(tx.as_raw_fd(), b"hi", &Addr::path(&rpath)).ctx("sendto")?;
    let (n, from) = recvfrom(rx.as_raw_fd(), &mut buf).ctx("recvfrom")?;
    ensure!(&buf[..n] == b"hi", "recvfrom data");
    ensure!(
        from == name_bytes(format!("{}\0", spath.display()).as_bytes()),
        "sender {from:?}"
    );
    // The receiver's queue holds 11 datagrams (max_dgram_qlen 10, checked before adding).
    let mut sent = 0;
    loop {
        match sendto(tx.as_raw_fd(), b"x", &Addr::path(&rpath)) {
            Ok(_) => sent += 1,
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => break,
            Err(e) => fail!("filling the queue: {e}"),
        }
        ensure!(sent < 10_000, "the queue never filled");
    }
    ensure!(sent == 11, "{sent} datagrams queued, want 11");
    // Writing to a stream-only name: EPROTOTYPE; a dead name: ECONNREFUSED.
    drop(rx);
    expect_errno(
        sendto(tx.as_raw_fd(), b"x", &Addr::path(&rpath)),
        libc::ECONNREFUSED,
        "to a closed socket",
    )?;
    pass()
}

/// SOCK_SEQPACKET: a connection that keeps record boundaries, with end of file.
pub(crate) fn unix_seqpacket() -> Check {
    let (a, b) = socketpair(libc::SOCK_SEQPACKET).ctx("socketpair")?;
    send(a.as_raw_fd(), b"first", 0).ctx("send")?;
    send(a.as_raw_fd(), b"second", 0).ctx("send")?;
    let mut buf = [0u8; 64];
    let n = recv(b.as_raw_fd(), &mut buf, 0).ctx("recv")?;
    ensure!(&buf[..n] == b"first", "record 1: {:?}", &buf[..n]);
    let n = recv(b.as_raw_fd(), &mut buf, 0).ctx("recv")?;
    ensure!(&buf[..n] == b"second", "record 2: {:?}", &buf[..n]);
    ensure!(
        getsockopt_int(a.as_raw_fd(), libc::SOL_SOCKET, libc::SO_TYPE).ctx("SO_TYPE")?
            == libc::SOCK_SEQPACKET,
        "SO_TYPE"
    );
    drop(a);
    ensure!(
        recv(b.as_raw_fd(), &mut buf, 0).ctx("recv at EOF")? == 0,
        "no end of file"
    );
    pass()
}

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
