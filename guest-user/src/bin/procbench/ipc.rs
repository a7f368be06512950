//! The inter-process rows: pipes, an AF_UNIX socketpair, System V and POSIX message queues,
//! futexes.

use super::*;

/// Bounces a byte `n` times between us and a child over two pipes; returns the time for the
/// `n` round trips halved, i.e. the total for 2n switches when both share a CPU.
pub(super) fn ping_pong(n: u64) -> Result<Duration, String> {
    round_trips(n, false).map(|d| d / 2)
}

pub(super) fn pipe_pingpong(n: u64) -> Result<Duration, String> {
    round_trips(n, false)
}

pub(super) fn unix_pingpong(n: u64) -> Result<Duration, String> {
    round_trips(n, true)
}

/// Two one-way channels: pipes, or the two directions of a unix stream socketpair (each
/// array is `[read end, write end]`).
fn channels(unix: bool) -> Result<([i32; 2], [i32; 2]), String> {
    let (mut there, mut back) = ([0; 2], [0; 2]);
    if unix {
        let mut sv = [0; 2];
        // SAFETY: `sv` has room for two descriptors.
        if unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, sv.as_mut_ptr()) } != 0 {
            return Err(errno_text("socketpair"));
        }
        // SAFETY: a second descriptor for each end, so each array holds two to close.
        let (d0, d1) = unsafe { (libc::dup(sv[0]), libc::dup(sv[1])) };
        return Ok(([sv[1], sv[0]], [d0, d1]));
    }
    // SAFETY: each array has room for two descriptors.
    let made = unsafe { libc::pipe(there.as_mut_ptr()) == 0 && libc::pipe(back.as_mut_ptr()) == 0 };
    if !made {
        return Err(errno_text("pipe"));
    }
    Ok((there, back))
}

/// Bounces a byte `n` times between us and a child; the time for the `n` round trips.
fn round_trips(n: u64, unix: bool) -> Result<Duration, String> {
    let (there, back) = channels(unix)?;
    let close_all = || {
        for fd in [there[0], there[1], back[0], back[1]] {
            // SAFETY: closing descriptors we own.
            unsafe { libc::close(fd) };
        }
    };
    let mut byte = [0u8; 1];
    let pid = sys::fork_child(|| {
        sys::die_with_parent();
        // SAFETY: closing our copies of the parent's ends, so its close means EOF here.
        unsafe {
            libc::close(there[1]);
            libc::close(back[0]);
        }
        let mut b = [0u8; 1];
        // SAFETY: one-byte reads and writes on our pipe ends.
        while unsafe { libc::read(there[0], b.as_mut_ptr().cast(), 1) } == 1 {
            // SAFETY: as above.
            if unsafe { libc::write(back[1], b.as_ptr().cast(), 1) } != 1 {
                return 1;
            }
        }
        0
    });
    let pid = match pid {
        Ok(pid) => pid,
        Err(e) => {
            close_all();
            return Err(format!("fork: {e}"));
        }
    };
    let start = Instant::now();
    let mut failed = None;
    for _ in 0..n {
        // SAFETY: one-byte writes and reads on our pipe ends.
        let ok = unsafe {
            libc::write(there[1], byte.as_ptr().cast(), 1) == 1
                && libc::read(back[0], byte.as_mut_ptr().cast(), 1) == 1
        };
        if !ok {
            failed = Some(errno_text("pipe round trip"));
            break;
        }
    }
    let took = start.elapsed();
    close_all();
    let _ = sys::wait_status(pid);
    match failed {
        Some(e) => Err(e),
        None => Ok(took),
    }
}

/// A System V message: its type and 8 bytes of text.
#[repr(C)]
struct Msg {
    mtype: libc::c_long,
    text: u64,
}

pub(super) fn sysv_msg_round_trip(n: u64) -> Result<Duration, String> {
    // SAFETY: msgget takes no pointers.
    let q = unsafe { libc::msgget(libc::IPC_PRIVATE, 0o600) };
    if q < 0 {
        return Err(errno_text("msgget"));
    }
    let size = std::mem::size_of::<u64>();
    let pid = sys::fork_child(|| {
        sys::die_with_parent();
        let mut m = Msg { mtype: 0, text: 0 };
        // SAFETY: `m` is a message buffer of `size` bytes of text; the loop ends when the
        // parent removes the queue (EIDRM).
        while unsafe { libc::msgrcv(q, (&mut m as *mut Msg).cast(), size, 1, 0) } >= 0 {
            m.mtype = 2;
            // SAFETY: as above.
            if unsafe { libc::msgsnd(q, (&m as *const Msg).cast(), size, 0) } != 0 {
                return 1;
            }
        }
        0
    });
    let pid = pid.map_err(|e| format!("fork: {e}"));
    let result = pid.clone().and_then(|_| {
        let start = Instant::now();
        let mut m = Msg { mtype: 1, text: 0 };
        for i in 0..n {
            m.mtype = 1;
            m.text = i;
            // SAFETY: `m` is a message buffer of `size` bytes of text.
            let ok = unsafe {
                libc::msgsnd(q, (&m as *const Msg).cast(), size, 0) == 0
                    && libc::msgrcv(q, (&mut m as *mut Msg).cast(), size, 2, 0) >= 0
            };
            if !ok || m.text != i {
                return Err(errno_text("message round trip"));
            }
        }
        Ok(start.elapsed())
    });
    // SAFETY: removing our queue; no buffer.
    unsafe { libc::msgctl(q, libc::IPC_RMID, std::ptr::null_mut()) };
    if let Ok(pid) = pid {
        let _ = sys::wait_status(pid);
    }
    result
}

/// `n` writes of 64 KiB into a pipe that a child drains.
pub(super) fn pipe_bandwidth(n: u64) -> Result<Duration, String> {
    const CHUNK: usize = 64 * 1024;
    let mut p = [0; 2];
    // SAFETY: `p` has room for two descriptors.
    if unsafe { libc::pipe(p.as_mut_ptr()) } != 0 {
        return Err(errno_text("pipe"));
    }
    let pid = sys::fork_child(|| {
        sys::die_with_parent();
        // SAFETY: closing our copy of the write end, so the parent's close is EOF here.
        unsafe { libc::close(p[1]) };
        let mut buf = vec![0u8; CHUNK];
        // SAFETY: reads into `buf`, within its length.
        while unsafe { libc::read(p[0], buf.as_mut_ptr().cast(), CHUNK) } > 0 {}
        0
    })
    .map_err(|e| format!("fork: {e}"))?;
    // SAFETY: the child has its own copy of the read end.
    unsafe { libc::close(p[0]) };
    let buf = vec![7u8; CHUNK];
    let start = Instant::now();
    let mut failed = None;
    for _ in 0..n {
        let mut done = 0;
        while done < CHUNK {
            // SAFETY: writes from `buf`, within its length.
            let w = unsafe { libc::write(p[1], buf[done..].as_ptr().cast(), CHUNK - done) };
            if w <= 0 {
                failed = Some(errno_text("pipe write"));
                break;
            }
            done += w as usize;
        }
    }
    let took = start.elapsed();
    // SAFETY: closing our end ends the child's loop.
    unsafe { libc::close(p[1]) };
    let _ = sys::wait_status(pid);
    failed.map_or(Ok(took), Err)
}

fn futex(word: &AtomicU32, op: i32, val: u32) -> i64 {
    // SAFETY: `word` is a live, aligned u32; no timeout or second address.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            op | libc::FUTEX_PRIVATE_FLAG,
            val,
            std::ptr::null::<libc::timespec>(),
        )
    }
}

/// Sleep on `word` until it holds `want`.
fn futex_wait_for(word: &AtomicU32, want: u32) {
    loop {
        let v = word.load(SeqCst);
        if v == want {
            return;
        }
        futex(word, libc::FUTEX_WAIT, v);
    }
}

/// `n` round trips of a futex word between two threads: each side stores the other's turn,
/// wakes it and sleeps until its own turn comes back.
pub(super) fn futex_wake(n: u64) -> Result<Duration, String> {
    let word = std::sync::Arc::new(AtomicU32::new(0));
    let w2 = word.clone();
    let peer = std::thread::Builder::new()
        .spawn(move || {
            for _ in 0..n {
                futex_wait_for(&w2, 1);
                w2.store(0, SeqCst);
                futex(&w2, libc::FUTEX_WAKE, 1);
            }
        })
        .map_err(|e| format!("spawn: {e}"))?;
    let start = Instant::now();
    for _ in 0..n {
        word.store(1, SeqCst);
        futex(&word, libc::FUTEX_WAKE, 1);
        futex_wait_for(&word, 0);
    }
    let took = start.elapsed();
    peer.join().map_err(|_| "thread panicked".to_string())?;
    Ok(took)
}

/// A new POSIX queue for 8-byte messages, unlinked at once (the descriptors keep it).
fn mq_create(tag: &str) -> Result<libc::mqd_t, String> {
    let name = CString::new(format!("/procbench-{tag}-{}", sys::getpid())).unwrap();
    // SAFETY: a zeroed mq_attr with its sizes set.
    let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
    attr.mq_maxmsg = 1;
    attr.mq_msgsize = 8;
    let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL;
    // SAFETY: a NUL-terminated name and a valid attribute block.
    let q = unsafe { libc::mq_open(name.as_ptr(), flags, 0o600, &attr as *const libc::mq_attr) };
    if q < 0 {
        return Err(errno_text("mq_open"));
    }
    // SAFETY: the same name.
    unsafe { libc::mq_unlink(name.as_ptr()) };
    Ok(q)
}

pub(super) fn posix_mq_round_trip(n: u64) -> Result<Duration, String> {
    let (req, rep) = (mq_create("req")?, mq_create("rep")?);
    let pid = sys::fork_child(|| {
        sys::die_with_parent();
        let mut b = [0u8; 8];
        // SAFETY: 8-byte buffers for 8-byte messages; the parent kills us when done.
        while unsafe { libc::mq_receive(req, b.as_mut_ptr().cast(), 8, std::ptr::null_mut()) } == 8
        {
            // SAFETY: as above.
            if unsafe { libc::mq_send(rep, b.as_ptr().cast(), 8, 0) } != 0 {
                return 1;
            }
        }
        2
    })
    .map_err(|e| format!("fork: {e}"))?;
    let start = Instant::now();
    let mut result = Ok(());
    for i in 0..n {
        let mut b = i.to_ne_bytes();
        // SAFETY: 8-byte buffers for 8-byte messages.
        let ok = unsafe {
            libc::mq_send(req, b.as_ptr().cast(), 8, 0) == 0
                && libc::mq_receive(rep, b.as_mut_ptr().cast(), 8, std::ptr::null_mut()) == 8
        };
        if !ok || u64::from_ne_bytes(b) != i {
            result = Err(errno_text("mq round trip"));
            break;
        }
    }
    let elapsed = start.elapsed();
    sys::kill_and_reap(pid);
    for q in [req, rep] {
        // SAFETY: closing our queue descriptors.
        unsafe { libc::mq_close(q) };
    }
    result.map(|_| elapsed)
}
