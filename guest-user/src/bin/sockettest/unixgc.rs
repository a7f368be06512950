//! /proc/net/unix and the collection of sockets held only by descriptors in flight: the
//! table's columns for each kind of socket, a cycle of sockets freed once unreachable, and a
//! socket in flight that is still reachable kept intact.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use guest_user::check::{pass, Check, Fail};
use guest_user::{ensure, fail};

use crate::unixsock::*;
use crate::util::*;

/// The /proc/net/unix lines, keyed by inode: the columns after `Num:`.
fn net_unix() -> Result<Vec<(u64, Vec<String>)>, Fail> {
    let text = std::fs::read_to_string("/proc/net/unix").ctx("read /proc/net/unix")?;
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    ensure!(
        header == "Num       RefCount Protocol Flags    Type St Inode Path",
        "header {header:?}"
    );
    let mut out = Vec::new();
    for l in lines {
        let cols: Vec<String> = l.split_whitespace().map(String::from).collect();
        ensure!(
            cols.len() >= 7 && cols[0].ends_with(':'),
            "malformed line {l:?}"
        );
        let ino = cols[6]
            .parse()
            .map_err(|_| Fail(format!("inode in {l:?}")))?;
        out.push((ino, cols[1..].to_vec()));
    }
    Ok(out)
}

fn ino(fd: &OwnedFd) -> Result<u64, Fail> {
    Ok(fstat(fd.as_raw_fd()).ctx("fstat")?.st_ino)
}

/// The columns of the line for inode `ino`, if listed.
fn line_of(ino: u64) -> Result<Option<Vec<String>>, Fail> {
    Ok(net_unix()?
        .into_iter()
        .find(|(i, _)| *i == ino)
        .map(|(_, c)| c))
}

/// Columns Flags, Type, St and Path (if any) of a socket: how Linux describes each kind.
pub(crate) fn unix_proc_net_unix() -> Check {
    let scratch = Scratch::new("unix_proc_net_unix")?;
    let path = scratch.path("listener");
    let l = socket(libc::AF_UNIX, libc::SOCK_STREAM, 0).ctx("socket")?;
    bind(l.as_raw_fd(), &Addr::path(&path)).ctx("bind")?;
    listen(l.as_raw_fd(), 4).ctx("listen")?;
    let d = socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0).ctx("socket")?;
    bind(d.as_raw_fd(), &Addr::abstract_name(b"gc-test")).ctx("bind")?;
    let (a, _b) = socketpair(libc::SOCK_SEQPACKET).ctx("socketpair")?;
    let want = [
        (&l, "00010000 0001 01", Some(path.display().to_string())),
        (&d, "00000000 0002 01", Some("@gc-test".to_string())),
        (&a, "00000000 0005 03", None),
    ];
    for (fd, cols, name) in want {
        let Some(line) = line_of(ino(fd)?)? else {
            fail!("inode {} not listed", ino(fd)?);
        };
        ensure!(
            line[2..5].join(" ") == cols && line.get(6) == name.as_ref(),
            "line {line:?}, want {cols} {name:?}"
        );
    }
    // A connection not accepted yet is listed with no inode, state connecting (02).
    let c = socket(libc::AF_UNIX, libc::SOCK_STREAM, 0).ctx("socket")?;
    connect(c.as_raw_fd(), &Addr::path(&path)).ctx("connect")?;
    let embryo = net_unix()?
        .into_iter()
        .any(|(i, cols)| i == 0 && cols[2..5].join(" ") == "00000000 0001 02");
    ensure!(embryo, "no embryo line in {:?}", net_unix()?);
    // Closed sockets leave the table.
    let gone = ino(&d)?;
    drop(d);
    ensure!(line_of(gone)?.is_none(), "inode {gone} still listed");
    pass()
}

/// Close some unix socket: the last close is what runs the collector (`unix_release_sock`).
fn trigger_gc() -> Result<(), Fail> {
    drop(socketpair(libc::SOCK_STREAM).ctx("socketpair")?);
    Ok(())
}

/// A socketpair whose ends are each sent over themselves and then closed is freed; a socket
/// in flight that an open socket can still receive survives the collection.
pub(crate) fn unix_gc_in_flight_cycles() -> Check {
    // The cycle: a's file waits in b's queue, b's in a's.
    let (a, b) = socketpair(libc::SOCK_STREAM).ctx("socketpair")?;
    let (ia, ib) = (ino(&a)?, ino(&b)?);
    send_fds(a.as_raw_fd(), b"a", &[a.as_raw_fd()]).ctx("send a over a")?;
    send_fds(b.as_raw_fd(), b"b", &[b.as_raw_fd()]).ctx("send b over b")?;
    // Reachable: c's file waits in d's queue, and d stays open.
    let (c, d) = socketpair(libc::SOCK_STREAM).ctx("socketpair")?;
    let ic = ino(&c)?;
    send_fds(c.as_raw_fd(), b"c", &[c.as_raw_fd()]).ctx("send c over c")?;
    drop((a, b, c));
    ensure!(
        line_of(ia)?.is_some() && line_of(ib)?.is_some(),
        "the cycle vanished before any collection"
    );
    trigger_gc()?;
    // Linux collects from a workqueue since 6.10: give it a moment.
    let start = Instant::now();
    while line_of(ia)?.is_some() || line_of(ib)?.is_some() {
        if start.elapsed() > Duration::from_secs(5) {
            fail!("sockets {ia} and {ib} of the cycle still listed after the collection");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    ensure!(line_of(ic)?.is_some(), "reachable socket {ic} was freed");
    // c comes back through d and still works as d's peer.
    let r = recv_msg(d.as_raw_fd(), 8, 64, 0).ctx("recvmsg")?;
    ensure!(
        r.data == b"c" && r.fds.len() == 1,
        "got {:?} with {} fds",
        r.data,
        r.fds.len()
    );
    // SAFETY: recvmsg installed this descriptor for us.
    let c = unsafe { OwnedFd::from_raw_fd(r.fds[0]) };
    ensure!(ino(&c)? == ic, "received inode {}, want {ic}", ino(&c)?);
    send(c.as_raw_fd(), b"still here", 0).ctx("send on c")?;
    let mut buf = [0u8; 16];
    let n = recv(d.as_raw_fd(), &mut buf, 0).ctx("recv on d")?;
    ensure!(&buf[..n] == b"still here", "d read {:?}", &buf[..n]);
    pass()
}
