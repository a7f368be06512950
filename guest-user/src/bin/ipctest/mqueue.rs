//! POSIX message queues: mq_open's name and attribute rules, priorities, the errors and the
//! timeouts of send and receive, queues between forked and unrelated processes, mq_notify's
//! signal, interrupted waits, poll, the queue files of the mqueue filesystem and unlinking
//! while open. Raw system calls, so the kernel's own errno comes back (the C library only
//! strips the leading slash of a name). The filesystem side is in `mqueue_fs`.

use std::ffi::CString;
use std::time::{Duration, Instant};

use guest_user::check::{pass, Check, Fail};
use guest_user::ensure;

use crate::util::*;

const MQ_PRIO_MAX: i64 = 32768;
const SIGEV_SIGNAL: i32 = 0;
const SIGEV_NONE: i32 = 1;
const SI_MESGQ: i32 = -3;

/// `struct mq_attr`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq)]
pub struct MqAttr {
    pub flags: i64,
    pub maxmsg: i64,
    pub msgsize: i64,
    pub curmsgs: i64,
    pub reserved: [i64; 4],
}

pub fn attr(maxmsg: i64, msgsize: i64) -> MqAttr {
    MqAttr {
        maxmsg,
        msgsize,
        ..Default::default()
    }
}

/// A queue name of this run, as the kernel takes it (no leading slash).
pub fn qname(tag: &str) -> String {
    format!("ipctest-{tag}-{}", guest_user::sys::getpid())
}

/// A new queue of this run with room for `maxmsg` messages of `msgsize` bytes: its name and
/// a read-write descriptor.
pub fn create(tag: &str, maxmsg: i64, msgsize: i64) -> Result<(String, i64), Fail> {
    let name = qname(tag);
    let _ = mq_unlink(&name);
    let a = attr(maxmsg, msgsize);
    let fd = ok(
        mq_open(&name, libc::O_RDWR | libc::O_CREAT, 0o600, Some(&a)),
        "create",
    )?;
    Ok((name, fd))
}

pub fn cstr(s: &str) -> CString {
    CString::new(s).expect("no NUL in names")
}

pub fn mq_open(name: &str, oflag: i32, mode: i64, a: Option<&MqAttr>) -> Sys {
    let n = cstr(name);
    let ap = a.map_or(0, |a| a as *const MqAttr as i64);
    syscall(
        libc::SYS_mq_open,
        [n.as_ptr() as i64, oflag as i64, mode, ap, 0],
    )
}

pub fn mq_unlink(name: &str) -> Sys {
    let n = cstr(name);
    syscall(libc::SYS_mq_unlink, [n.as_ptr() as i64, 0, 0, 0, 0])
}

/// `struct timespec` for an absolute CLOCK_REALTIME deadline `after` from now.
fn deadline(after: Duration) -> libc::timespec {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) };
    let ns = now.tv_nsec as u64 + after.subsec_nanos() as u64;
    libc::timespec {
        tv_sec: now.tv_sec + after.as_secs() as i64 + (ns / 1_000_000_000) as i64,
        tv_nsec: (ns % 1_000_000_000) as i64,
    }
}

fn ts_ptr(ts: Option<&libc::timespec>) -> i64 {
    ts.map_or(0, |t| t as *const libc::timespec as i64)
}

pub fn mq_send(fd: i64, text: &[u8], prio: i64, ts: Option<&libc::timespec>) -> Sys {
    syscall(
        libc::SYS_mq_timedsend,
        [
            fd,
            text.as_ptr() as i64,
            text.len() as i64,
            prio,
            ts_ptr(ts),
        ],
    )
}

/// Receives into `buf`; the text's length and its priority.
pub fn mq_receive(
    fd: i64,
    buf: &mut [u8],
    ts: Option<&libc::timespec>,
) -> Result<(usize, u32), i32> {
    let mut prio = 0u32;
    let n = syscall(
        libc::SYS_mq_timedreceive,
        [
            fd,
            buf.as_mut_ptr() as i64,
            buf.len() as i64,
            &mut prio as *mut u32 as i64,
            ts_ptr(ts),
        ],
    )?;
    Ok((n as usize, prio))
}

pub fn getsetattr(fd: i64, new: Option<&MqAttr>) -> Result<MqAttr, i32> {
    let mut old = MqAttr::default();
    let np = new.map_or(0, |a| a as *const MqAttr as i64);
    syscall(
        libc::SYS_mq_getsetattr,
        [fd, np, &mut old as *mut MqAttr as i64, 0, 0],
    )?;
    Ok(old)
}

/// `struct sigevent` (64 bytes): value, signo, notify, then the union.
#[repr(C)]
struct SigEvent {
    value: u64,
    signo: i32,
    notify: i32,
    pad: [u64; 6],
}

fn mq_notify(fd: i64, how: Option<(i32, i32, u64)>) -> Sys {
    let ev = how.map(|(notify, signo, value)| SigEvent {
        value,
        signo,
        notify,
        pad: [0; 6],
    });
    let p = ev.as_ref().map_or(0, |e| e as *const SigEvent as i64);
    syscall(libc::SYS_mq_notify, [fd, p, 0, 0, 0])
}

pub fn close(fd: i64) {
    // SAFETY: closing a descriptor this check opened.
    unsafe { libc::close(fd as i32) };
}

/// Receives one message that must be there, as (text, priority).
pub fn take(fd: i64, size: usize) -> Result<(Vec<u8>, u32), Fail> {
    let mut buf = vec![0u8; size];
    let (n, prio) = mq_receive(fd, &mut buf, None).map_err(fail_errno("mq_receive"))?;
    buf.truncate(n);
    Ok((buf, prio))
}

pub fn mq_open_rules() -> Check {
    let name = qname("open");
    let _ = mq_unlink(&name);
    expect_err(
        mq_open(&name, libc::O_RDWR, 0, None),
        libc::ENOENT,
        "no O_CREAT",
    )?;
    for (bad, want) in [
        ("", libc::ENOENT),
        ("a/b", libc::EACCES),
        (".", libc::EACCES),
        ("..", libc::EACCES),
    ] {
        expect_err(
            mq_open(bad, libc::O_RDWR | libc::O_CREAT, 0o600, None),
            want,
            &format!("name {bad:?}"),
        )?;
    }
    expect_err(
        mq_open(&"x".repeat(256), libc::O_RDWR | libc::O_CREAT, 0o600, None),
        libc::ENAMETOOLONG,
        "a 256-byte name",
    )?;
    for (a, what) in [
        (attr(0, 16), "mq_maxmsg 0"),
        (attr(4, -1), "mq_msgsize -1"),
        (attr(65537, 16), "mq_maxmsg past HARD_MSGMAX"),
    ] {
        expect_err(
            mq_open(&name, libc::O_RDWR | libc::O_CREAT, 0o600, Some(&a)),
            libc::EINVAL,
            what,
        )?;
    }
    let a = attr(4, 64);
    let fd = ok(
        mq_open(
            &name,
            libc::O_RDWR | libc::O_CREAT | libc::O_EXCL,
            0o640,
            Some(&a),
        ),
        "create",
    )?;
    // SAFETY: fcntl on our descriptor.
    let fdflags = unsafe { libc::fcntl(fd as i32, libc::F_GETFD) };
    ensure!(fdflags == libc::FD_CLOEXEC, "FD_CLOEXEC not set: {fdflags}");
    expect_err(
        mq_open(
            &name,
            libc::O_RDWR | libc::O_CREAT | libc::O_EXCL,
            0o600,
            None,
        ),
        libc::EEXIST,
        "O_EXCL of an existing queue",
    )?;
    // Attributes only matter when creating.
    let again = ok(
        mq_open(
            &name,
            libc::O_WRONLY | libc::O_CREAT,
            0o600,
            Some(&attr(0, 0)),
        ),
        "O_CREAT of an existing queue",
    )?;
    let got = ok(getsetattr(again, None), "mq_getsetattr")?;
    ensure!(
        (got.maxmsg, got.msgsize, got.curmsgs, got.flags) == (4, 64, 0, 0),
        "attributes {got:?}"
    );
    // Only O_NONBLOCK changes.
    expect_err(
        getsetattr(
            fd,
            Some(&MqAttr {
                flags: 1,
                ..Default::default()
            }),
        ),
        libc::EINVAL,
        "mq_flags other than O_NONBLOCK",
    )?;
    let nb = MqAttr {
        flags: libc::O_NONBLOCK as i64,
        maxmsg: 99,
        ..Default::default()
    };
    ok(getsetattr(fd, Some(&nb)), "set O_NONBLOCK")?;
    let got = ok(getsetattr(fd, None), "mq_getsetattr")?;
    ensure!(
        got.flags == libc::O_NONBLOCK as i64 && got.maxmsg == 4,
        "after setting: {got:?}"
    );
    let mut buf = [0u8; 64];
    expect_err(
        mq_receive(fd, &mut buf, None),
        libc::EAGAIN,
        "receive from an empty O_NONBLOCK queue",
    )?;
    // Not a queue, not open, or a queue's descriptor of the other kind: EBADF.
    let mut pipe = [0i32; 2];
    // SAFETY: a valid array for pipe's two descriptors.
    unsafe { libc::pipe(pipe.as_mut_ptr()) };
    expect_err(
        mq_send(pipe[1] as i64, b"x", 0, None),
        libc::EBADF,
        "send to a pipe",
    )?;
    expect_err(getsetattr(-1, None), libc::EBADF, "getsetattr(-1)")?;
    close(pipe[0] as i64);
    close(pipe[1] as i64);
    expect_err(
        mq_receive(again, &mut buf, None),
        libc::EBADF,
        "receive on an O_WRONLY descriptor",
    )?;
    let ro = ok(mq_open(&name, libc::O_RDONLY, 0, None), "O_RDONLY")?;
    expect_err(mq_send(ro, b"x", 0, None), libc::EBADF, "send on O_RDONLY")?;
    // Another user may not write a 0640 queue, nor exceed the sysctl limits.
    if guest_user::sys::geteuid() == 0 {
        let n2 = name.clone();
        let pid = child(move || {
            // SAFETY: setgid/setuid take no pointers.
            unsafe {
                libc::setgid(65534);
                libc::setuid(65534);
            }
            let big = attr(11, 16);
            let other = qname("open-other");
            let denied = mq_open(&n2, libc::O_WRONLY, 0, None) == Err(libc::EACCES)
                && mq_open(&other, libc::O_RDWR | libc::O_CREAT, 0o600, Some(&big))
                    == Err(libc::EINVAL);
            if denied {
                0
            } else {
                1
            }
        })?;
        reap_ok(pid, "uid 65534 gets EACCES and EINVAL past msg_max")?;
    }
    for f in [fd, again, ro] {
        close(f);
    }
    ok(mq_unlink(&name), "mq_unlink")?;
    expect_err(mq_unlink(&name), libc::ENOENT, "second mq_unlink")?;
    pass()
}

pub fn mq_priorities_and_errors() -> Check {
    let (name, fd) = create("prio", 5, 16)?;
    for (prio, text) in [(1, "a"), (5, "b"), (1, "c"), (0, "d"), (5, "e")] {
        ok(mq_send(fd, text.as_bytes(), prio, None), "mq_send")?;
    }
    expect_err(
        mq_send(fd, &[0; 17], 0, None),
        libc::EMSGSIZE,
        "a 17-byte message",
    )?;
    expect_err(
        mq_send(fd, b"x", MQ_PRIO_MAX, None),
        libc::EINVAL,
        "priority MQ_PRIO_MAX",
    )?;
    // Full: a past deadline times out at once, a near one after waiting for it.
    let past = libc::timespec {
        tv_sec: 1,
        tv_nsec: 0,
    };
    expect_err(
        mq_send(fd, b"f", 0, Some(&past)),
        libc::ETIMEDOUT,
        "send to a full queue",
    )?;
    let bad = libc::timespec {
        tv_sec: 0,
        tv_nsec: 1_000_000_000,
    };
    expect_err(
        mq_send(fd, b"f", 0, Some(&bad)),
        libc::EINVAL,
        "tv_nsec of 1e9",
    )?;
    let mut small = [0u8; 15];
    expect_err(
        mq_receive(fd, &mut small, None),
        libc::EMSGSIZE,
        "a buffer under mq_msgsize",
    )?;
    let mut order = Vec::new();
    for _ in 0..5 {
        let (t, p) = take(fd, 16)?;
        order.push(format!("{}{p}", String::from_utf8_lossy(&t)));
    }
    ensure!(
        order == ["b5", "e5", "a1", "c1", "d0"],
        "received in order {order:?}"
    );
    let start = Instant::now();
    let soon = deadline(Duration::from_millis(60));
    let mut buf = [0u8; 16];
    expect_err(
        mq_receive(fd, &mut buf, Some(&soon)),
        libc::ETIMEDOUT,
        "receive from an empty queue",
    )?;
    let waited = start.elapsed();
    ensure!(
        waited >= Duration::from_millis(50),
        "timed out after {waited:?}"
    );
    // A deadline long past does not matter when a message is there.
    ok(mq_send(fd, b"z", 3, Some(&past)), "send with room")?;
    let r = mq_receive(fd, &mut buf, Some(&past)).map_err(fail_errno("receive"))?;
    ensure!(r == (1, 3), "got {r:?}");
    close(fd);
    ok(mq_unlink(&name), "mq_unlink")?;
    pass()
}

pub fn mq_between_processes() -> Check {
    let (req, rep) = (qname("req"), qname("rep"));
    let a = attr(2, 8);
    let flags = libc::O_RDWR | libc::O_CREAT;
    let q = ok(mq_open(&req, flags, 0o600, Some(&a)), "create req")?;
    let r = ok(mq_open(&rep, flags, 0o600, Some(&a)), "create rep")?;
    // The child echoes each request back, one more in the first byte, at the same priority.
    let pid = child(move || {
        for _ in 0..40 {
            let mut b = [0u8; 8];
            let Ok((1, prio)) = mq_receive(q, &mut b, None) else {
                return 1;
            };
            b[0] += 1;
            if mq_send(r, &b[..1], prio as i64, None).is_err() {
                return 2;
            }
        }
        0
    })?;
    for i in 0..40u8 {
        ok(mq_send(q, &[i], i as i64 % 3, None), "send")?;
        let (t, p) = take(r, 8)?;
        ensure!(
            t == [i + 1] && p == i as u32 % 3,
            "reply {t:?} prio {p} to {i}"
        );
    }
    reap_ok(pid, "echo")?;
    // A sender blocked on a full queue goes on when the parent makes room.
    ok(mq_send(q, b"1", 0, None), "fill")?;
    ok(mq_send(q, b"2", 0, None), "fill")?;
    let pid = child(move || match mq_send(q, b"3", 7, None) {
        Ok(_) => 0,
        Err(_) => 1,
    })?;
    ensure!(wait_for(|| state_of(pid) == 'S'), "the sender never slept");
    ensure!(take(q, 8)? == (b"1".to_vec(), 0), "first message");
    reap_ok(pid, "blocked sender")?;
    ensure!(
        take(q, 8)? == (b"3".to_vec(), 7),
        "the blocked sender's message"
    );
    ensure!(take(q, 8)? == (b"2".to_vec(), 0), "last message");
    close(q);
    close(r);
    ok(mq_unlink(&req), "unlink")?;
    ok(mq_unlink(&rep), "unlink")?;
    pass()
}

pub fn mq_unrelated_processes() -> Check {
    let (name, fd) = create("unrelated", 4, 32)?;
    ok(mq_send(fd, b"ping", 1, None), "send")?;
    let status = run_helper(&["--mq-echo", &name])?;
    ensure!(status == 0, "helper exited {status}");
    let got = take(fd, 32)?;
    ensure!(got == (b"pong".to_vec(), 2), "reply {got:?}");
    close(fd);
    ok(mq_unlink(&name), "unlink")?;
    pass()
}

/// The helper: open queue NAME by name, take "ping" and answer "pong" at priority 2.
pub fn mq_echo(name: &str) -> i32 {
    let Ok(fd) = mq_open(name, libc::O_RDWR, 0, None) else {
        return 1;
    };
    let mut b = [0u8; 32];
    if mq_receive(fd, &mut b, None) != Ok((4, 1)) || &b[..4] != b"ping" {
        return 2;
    }
    if mq_send(fd, b"pong", 2, None).is_err() {
        return 3;
    }
    0
}

/// Blocks SIGUSR2 and waits up to `ms` for it: its siginfo's (code, pid, value).
fn wait_sigusr2(ms: i64) -> Option<(i32, i32, u64)> {
    // SAFETY: plain signal-set calls on local sets; sigtimedwait fills a local siginfo.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR2);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let ts = libc::timespec {
            tv_sec: ms / 1000,
            tv_nsec: (ms % 1000) * 1_000_000,
        };
        let mut si: libc::siginfo_t = std::mem::zeroed();
        if libc::sigtimedwait(&set, &mut si, &ts) != libc::SIGUSR2 {
            return None;
        }
        let raw = &si as *const libc::siginfo_t as *const u8;
        let word = |o: usize| i32::from_ne_bytes(*(raw.add(o) as *const [u8; 4]));
        let value = u64::from_ne_bytes(*(raw.add(24) as *const [u8; 8]));
        Some((si.si_code, word(16), value))
    }
}

pub fn mq_notify_signal() -> Check {
    let (name, fd) = create("notify", 4, 16)?;
    // Block SIGUSR2 before registering, so it waits for sigtimedwait.
    let _ = wait_sigusr2(0);
    expect_err(
        mq_notify(fd, Some((SIGEV_SIGNAL, 65, 0))),
        libc::EINVAL,
        "signal 65",
    )?;
    expect_err(
        mq_notify(fd, Some((7, 0, 0))),
        libc::EINVAL,
        "sigev_notify 7",
    )?;
    ok(
        mq_notify(fd, Some((SIGEV_SIGNAL, libc::SIGUSR2, 0xfeed))),
        "mq_notify",
    )?;
    // The registration shows in the queue's file. The child reads it: the owner's closing
    // any descriptor of the queue would end the registration (`mqueue_flush_file`).
    let path = crate::mqueue_fs::dev_mqueue()?.then(|| format!("/dev/mqueue/{name}"));
    let want = format!(
        "QSIZE:0          NOTIFY:0     SIGNO:{:<5} NOTIFY_PID:{:<6}\n",
        libc::SIGUSR2,
        guest_user::sys::getpid()
    );
    // Another process may not register while we are; it sends the message that fires ours.
    let pid = child(move || {
        if path.is_some_and(|p| std::fs::read_to_string(p).ok() != Some(want)) {
            return 1;
        }
        if mq_notify(fd, Some((SIGEV_NONE, 0, 0))) != Err(libc::EBUSY) {
            return 2;
        }
        // Removing is a no-op for a process that is not the owner.
        if mq_notify(fd, None).is_err() || mq_send(fd, b"hi", 0, None).is_err() {
            return 3;
        }
        0
    })?;
    reap_ok(pid, "file line (1), EBUSY (2), send (3)")?;
    let got = wait_sigusr2(5000);
    ensure!(
        got.is_some_and(|(code, spid, value)| code == SI_MESGQ && spid == pid && value == 0xfeed),
        "notification {got:?}, want code {SI_MESGQ} pid {pid} value 0xfeed"
    );
    // Fired once: it is gone, and the next message (on a non-empty queue or not) is silent.
    take(fd, 16)?;
    ok(mq_send(fd, b"again", 0, None), "send")?;
    ensure!(wait_sigusr2(100).is_none(), "a second notification");
    take(fd, 16)?;
    // No notification while a receiver waits: the message goes to it.
    ok(
        mq_notify(fd, Some((SIGEV_SIGNAL, libc::SIGUSR2, 1))),
        "register",
    )?;
    let pid = child(move || {
        let mut b = [0u8; 16];
        match mq_receive(fd, &mut b, None) {
            Ok((3, 0)) => 0,
            _ => 1,
        }
    })?;
    ensure!(
        wait_for(|| state_of(pid) == 'S'),
        "the receiver never slept"
    );
    ok(mq_send(fd, b"abc", 0, None), "send")?;
    reap_ok(pid, "receiver")?;
    ensure!(
        wait_sigusr2(100).is_none(),
        "notified although a receiver waited"
    );
    // Still registered; NULL removes it, then anyone may register.
    expect_err(
        mq_notify(fd, Some((SIGEV_NONE, 0, 0))),
        libc::EBUSY,
        "registered twice",
    )?;
    ok(mq_notify(fd, None), "remove")?;
    ok(mq_notify(fd, Some((SIGEV_NONE, 0, 0))), "SIGEV_NONE")?;
    close(fd);
    ok(mq_unlink(&name), "unlink")?;
    pass()
}

pub fn mq_eintr_and_poll() -> Check {
    let (name, fd) = create("eintr", 1, 8)?;
    let pid = child(move || {
        catch_sigusr1(false);
        let mut b = [0u8; 8];
        match mq_receive(fd, &mut b, None) {
            Err(libc::EINTR) => 0,
            _ => 1,
        }
    })?;
    ensure!(
        wait_for(|| state_of(pid) == 'S'),
        "the receiver never slept"
    );
    kill(pid, libc::SIGUSR1);
    reap_ok(pid, "EINTR")?;
    let poll = |events: i16, ms: i32| {
        let mut p = libc::pollfd {
            fd: fd as i32,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut p, 1, ms) };
        p.revents
    };
    ensure!(
        poll(libc::POLLIN | libc::POLLOUT, 0) == libc::POLLOUT,
        "empty queue"
    );
    // A poller sleeping for input wakes when another process sends.
    let pid = child(move || {
        std::thread::sleep(Duration::from_millis(50));
        mq_send(fd, b"x", 0, None).map_or(1, |_| 0)
    })?;
    let r = poll(libc::POLLIN, 5000);
    reap_ok(pid, "sender")?;
    ensure!(r == libc::POLLIN, "poll for input gave {r:#x}");
    ensure!(
        poll(libc::POLLIN | libc::POLLOUT, 0) == libc::POLLIN,
        "full queue"
    );
    close(fd);
    ok(mq_unlink(&name), "unlink")?;
    pass()
}
