//! AF_UNIX sockets: the errors of each call, a stream echo between forked processes through
//! a filesystem name, abstract names and autobind, datagram and seqpacket boundaries. What
//! happens on a connection afterwards is in unixconn.rs.

use std::os::fd::AsRawFd;

use guest_user::check::{pass, Check};
use guest_user::sys;
use guest_user::{ensure, fail};

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
