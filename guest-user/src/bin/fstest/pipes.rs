//! Pipes and FIFOs: data and end of file, SIGPIPE and EPIPE, non-blocking ends, capacity and
//! F_SETPIPE_SZ, atomic PIPE_BUF writes, FIONREAD, sleeping readers and writers woken from
//! another process, std::process::Command's pipes, and a FIFO between two processes.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use guest_user::check::{in_child, pass, pass_with, Check};
use guest_user::sys::{self, cvt};
use guest_user::{ensure, fail};

use crate::util::*;

const PIPE_BUF: usize = 4096;

/// Writes `chunk`-sized pieces into a non-blocking pipe until EAGAIN; returns the bytes taken.
fn fill_nonblocking(fd: i32, chunk: usize) -> Result<usize, guest_user::check::Fail> {
    let data = vec![b'f'; chunk];
    let mut total = 0;
    loop {
        match write(fd, &data) {
            Ok(n) => total += n,
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => return Ok(total),
            Err(e) => return Err(guest_user::check::Fail(format!("filling the pipe: {e}"))),
        }
        ensure!(total <= 16 << 20, "the pipe took 16 MiB without filling");
    }
}

/// pipe2's two ends: what is written comes out in order, each end only goes one way, no
/// seeking, O_CLOEXEC applies to both, unknown flags are EINVAL.
pub(crate) fn pipe_basic() -> Check {
    let (r, w) = pipe2(libc::O_CLOEXEC).ctx("pipe2")?;
    let (r, w) = (r.as_raw_fd(), w.as_raw_fd());
    ensure!(
        fd_cloexec(r).ctx("F_GETFD")? && fd_cloexec(w).ctx("F_GETFD")?,
        "pipe2(O_CLOEXEC) left FD_CLOEXEC clear"
    );
    let (sr, sw) = (fstat(r).ctx("fstat")?, fstat(w).ctx("fstat")?);
    ensure!(
        sr.st_mode & libc::S_IFMT == libc::S_IFIFO && sr.st_ino == sw.st_ino,
        "pipe ends: modes {:#o} {:#o}, inodes {} {}",
        sr.st_mode,
        sw.st_mode,
        sr.st_ino,
        sw.st_ino
    );
    ensure!(write(w, b"hello").ctx("write")? == 5, "short write");
    ensure!(write(w, b" pipe").ctx("write")? == 5, "short write");
    let mut buf = [0u8; 7];
    let n = read(r, &mut buf).ctx("read")?;
    ensure!(
        &buf[..n] == b"hello p",
        "first read {:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    let n = read(r, &mut buf).ctx("read")?;
    ensure!(
        &buf[..n] == b"ipe",
        "second read {:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    expect_errno(write(r, b"x"), libc::EBADF, "write to the read end")?;
    expect_errno(read(w, &mut buf), libc::EBADF, "read from the write end")?;
    expect_errno(lseek(r, 0, libc::SEEK_CUR), libc::ESPIPE, "lseek on a pipe")?;
    expect_errno(pread(r, &mut buf, 0), libc::ESPIPE, "pread on a pipe")?;
    expect_errno(pipe2(0x1), libc::EINVAL, "pipe2 with flags 1")?;
    pass()
}

/// After the last writer closes, the reader gets what is left, then end of file (0), every
/// time; while a writer (a dup) remains, a non-blocking read is EAGAIN instead.
pub(crate) fn pipe_eof() -> Check {
    let (r, w) = pipe2(libc::O_NONBLOCK).ctx("pipe2")?;
    let w2 = dup(w.as_raw_fd()).ctx("dup")?;
    write(w.as_raw_fd(), b"tail").ctx("write")?;
    drop(w);
    let mut buf = [0u8; 16];
    let n = read(r.as_raw_fd(), &mut buf).ctx("read")?;
    ensure!(&buf[..n] == b"tail", "read {:?}", &buf[..n]);
    expect_errno(
        read(r.as_raw_fd(), &mut buf),
        libc::EAGAIN,
        "read of an empty pipe whose writer has a dup open",
    )?;
    drop(w2);
    for _ in 0..2 {
        ensure!(
            read(r.as_raw_fd(), &mut buf).ctx("read at EOF")? == 0,
            "no EOF after the writers closed"
        );
    }
    // A reader asleep on an empty pipe wakes with EOF when the last writer, in another
    // process, goes away.
    let (r, w) = pipe().ctx("pipe")?;
    let writer = later_in_child(Duration::from_millis(50), || true)?;
    drop(w);
    let n = read(r.as_raw_fd(), &mut buf).ctx("blocking read")?;
    reap_ok(writer, "writer")?;
    ensure!(n == 0, "a sleeping reader got {n} bytes instead of EOF");
    pass()
}

/// Writing to a pipe nobody reads kills the writer with SIGPIPE by default.
pub(crate) fn sigpipe_kills() -> Check {
    let (r, w) = pipe().ctx("pipe")?;
    drop(r);
    let pid = sys::fork_child(|| {
        let _ = set_signal(libc::SIGPIPE, libc::SIG_DFL);
        let _ = write(w.as_raw_fd(), b"x");
        0
    })
    .ctx("fork")?;
    let status = sys::wait_status(pid).ctx("waitpid")?;
    ensure!(
        libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGPIPE,
        "writer {}, want killed by SIGPIPE ({})",
        sys::describe_status(status),
        libc::SIGPIPE
    );
    pass()
}

/// With SIGPIPE ignored the write fails with EPIPE; with it blocked, EPIPE and the signal
/// stays pending.
pub(crate) fn epipe_when_ignored() -> Check {
    in_child(|| {
        let (r, w) = pipe().ctx("pipe")?;
        drop(r);
        set_signal(libc::SIGPIPE, libc::SIG_IGN).ctx("sigaction")?;
        expect_errno(
            write(w.as_raw_fd(), b"x"),
            libc::EPIPE,
            "write with SIGPIPE ignored",
        )?;
        set_signal(libc::SIGPIPE, libc::SIG_DFL).ctx("sigaction")?;
        sigmask(libc::SIG_BLOCK, &sigset(&[libc::SIGPIPE])).ctx("sigprocmask")?;
        expect_errno(
            write(w.as_raw_fd(), b"x"),
            libc::EPIPE,
            "write with SIGPIPE blocked",
        )?;
        let pending = sigpending().ctx("sigpending")?;
        ensure!(
            sigismember(&pending, libc::SIGPIPE),
            "SIGPIPE is not pending after EPIPE"
        );
        // A writer asleep on a full pipe gets EPIPE when the last reader, in another
        // process, goes away.
        let (r, w) = pipe2(libc::O_NONBLOCK).ctx("pipe2")?;
        fill_nonblocking(w.as_raw_fd(), PIPE_BUF)?;
        fcntl(w.as_raw_fd(), libc::F_SETFL, 0).ctx("F_SETFL")?;
        let reader = later_in_child(Duration::from_millis(50), || true)?;
        drop(r);
        let res = write(w.as_raw_fd(), &[0u8; PIPE_BUF]);
        reap_ok(reader, "reader")?;
        expect_errno(res, libc::EPIPE, "a sleeping writer whose reader left")?;
        pass()
    })
}

/// O_NONBLOCK: EAGAIN reading an empty pipe and writing a full one.
pub(crate) fn pipe_nonblock() -> Check {
    let (r, w) = pipe2(libc::O_NONBLOCK).ctx("pipe2")?;
    let mut buf = [0u8; 8];
    expect_errno(
        read(r.as_raw_fd(), &mut buf),
        libc::EAGAIN,
        "read of an empty pipe",
    )?;
    let n = write(w.as_raw_fd(), &vec![0u8; 100_000]).ctx("write of 100000 bytes")?;
    ensure!(
        n == 65536,
        "a non-blocking 100000-byte write took {n} bytes, want 65536"
    );
    expect_errno(
        write(w.as_raw_fd(), b"x"),
        libc::EAGAIN,
        "1-byte write to a full pipe",
    )?;
    read(r.as_raw_fd(), &mut buf).ctx("read")?;
    pass()
}

/// A pipe holds 65536 bytes (F_GETPIPE_SZ says so), FIONREAD counts them, and POLLOUT is
/// off while it is full.
pub(crate) fn pipe_capacity() -> Check {
    let (r, w) = pipe2(libc::O_NONBLOCK).ctx("pipe2")?;
    let size = fcntl(w.as_raw_fd(), libc::F_GETPIPE_SZ, 0).ctx("F_GETPIPE_SZ")?;
    ensure!(size == 65536, "F_GETPIPE_SZ {size}, want 65536");
    let total = fill_nonblocking(w.as_raw_fd(), PIPE_BUF)?;
    ensure!(total == 65536, "the pipe took {total} bytes, want 65536");
    let queued = fionread(r.as_raw_fd()).ctx("FIONREAD")?;
    ensure!(queued == 65536, "FIONREAD {queued} on a full pipe");
    let mut p = [pollfd(w.as_raw_fd(), libc::POLLOUT)];
    ensure!(
        poll(&mut p, 0).ctx("poll")? == 0,
        "a full pipe polls writable"
    );
    let mut buf = vec![0u8; PIPE_BUF];
    read(r.as_raw_fd(), &mut buf).ctx("read")?;
    ensure!(
        poll(&mut p, 0).ctx("poll")? == 1,
        "a pipe with a page free is not writable"
    );
    pass_with(format_args!("{total} bytes"))
}

/// F_SETPIPE_SZ rounds up to a power-of-two number of pages, changes what the pipe holds,
/// refuses to shrink below the queued data (EBUSY), and is EBADF on anything but a pipe.
pub(crate) fn pipe_setsize() -> Check {
    let (r, w) = pipe2(libc::O_NONBLOCK).ctx("pipe2")?;
    let set = |size| fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, size);
    ensure!(
        set(8192).ctx("F_SETPIPE_SZ 8192")? == 8192,
        "F_SETPIPE_SZ(8192) result"
    );
    let got = fcntl(r.as_raw_fd(), libc::F_GETPIPE_SZ, 0).ctx("F_GETPIPE_SZ")?;
    ensure!(
        got == 8192,
        "F_GETPIPE_SZ {got} on the read end after setting 8192"
    );
    let total = fill_nonblocking(w.as_raw_fd(), PIPE_BUF)?;
    ensure!(total == 8192, "an 8192-byte pipe took {total} bytes");
    expect_errno(set(4096), libc::EBUSY, "F_SETPIPE_SZ below the queued data")?;
    let mut buf = vec![0u8; 8192];
    read(r.as_raw_fd(), &mut buf).ctx("drain")?;
    ensure!(
        set(1).ctx("F_SETPIPE_SZ 1")? == 4096,
        "F_SETPIPE_SZ(1) is not one page"
    );
    ensure!(
        set(10_000).ctx("F_SETPIPE_SZ 10000")? == 16384,
        "F_SETPIPE_SZ(10000) is not 16384"
    );
    let max = std::fs::read_to_string("/proc/sys/fs/pipe-max-size").ctx("read pipe-max-size")?;
    ensure!(max == "1048576\n", "/proc/sys/fs/pipe-max-size {max:?}");
    let file = open("/dev/null", libc::O_RDONLY, 0).ctx("open")?;
    expect_errno(
        fcntl(file.as_raw_fd(), libc::F_GETPIPE_SZ, 0),
        libc::EBADF,
        "F_GETPIPE_SZ on /dev/null",
    )?;
    pass()
}

/// Writes of at most PIPE_BUF bytes are never interleaved with other writers' and never
/// split: with less room than that, a non-blocking one is EAGAIN rather than partial.
pub(crate) fn pipe_buf_atomic() -> Check {
    const RECORDS: usize = 16;
    let (r, w) = pipe().ctx("pipe")?;
    let writers: Vec<i32> = [b'A', b'B']
        .iter()
        .map(|&tag| {
            sys::fork_child(|| {
                sys::die_with_parent();
                let rec = [tag; PIPE_BUF];
                for _ in 0..RECORDS {
                    if write(w.as_raw_fd(), &rec).ok() != Some(PIPE_BUF) {
                        return 1;
                    }
                }
                0
            })
        })
        .collect::<std::io::Result<_>>()
        .ctx("fork")?;
    drop(w);
    let data = read_to_end(r.as_raw_fd()).ctx("read")?;
    for pid in writers {
        let status = sys::wait_status(pid).ctx("waitpid")?;
        ensure!(status == 0, "writer {}", sys::describe_status(status));
    }
    ensure!(
        data.len() == 2 * RECORDS * PIPE_BUF,
        "read {} bytes, want {}",
        data.len(),
        2 * RECORDS * PIPE_BUF
    );
    if let Some(i) = data
        .chunks(PIPE_BUF)
        .position(|rec| rec.iter().any(|&b| b != rec[0]))
    {
        fail!("record {i} mixes the two writers' bytes");
    }
    let (r, w) = pipe2(libc::O_NONBLOCK).ctx("pipe2")?;
    ensure!(
        write(w.as_raw_fd(), &vec![0u8; 65536 - 100]).ctx("write")? == 65436,
        "short write"
    );
    expect_errno(
        write(w.as_raw_fd(), &[1u8; 200]),
        libc::EAGAIN,
        "200-byte write with 100 bytes free",
    )?;
    ensure!(
        write(w.as_raw_fd(), &[1u8; 100]).ctx("write")? == 100,
        "100-byte write into 100 free"
    );
    drop(r);
    pass()
}

static SIGNALS_SEEN: AtomicU32 = AtomicU32::new(0);

extern "C" fn count_signal(_: libc::c_int) {
    SIGNALS_SEEN.fetch_add(1, Ordering::SeqCst);
}

/// A signal handler interrupts a sleeping pipe read: EINTR without SA_RESTART; with it,
/// the read goes on and returns the data that comes later.
pub(crate) fn pipe_read_interrupted() -> Check {
    in_child(|| {
        let me = sys::getpid();
        let (r, w) = pipe().ctx("pipe")?;
        for restart in [false, true] {
            // SAFETY: sigaction is plain data; the handler only counts (async-signal-safe).
            let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
            sa.sa_sigaction = count_signal as *const () as libc::sighandler_t;
            sa.sa_flags = if restart { libc::SA_RESTART } else { 0 };
            // SAFETY: `sa` is valid for the call.
            cvt(unsafe { libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()) })
                .ctx("sigaction")?;
            let w = w.as_raw_fd();
            let sender = later_in_child(Duration::from_millis(50), || {
                // SAFETY: kill has no memory arguments.
                let sent = unsafe { libc::kill(me, libc::SIGUSR1) } == 0;
                sys::sleep(Duration::from_millis(50));
                sent && (!restart || write(w, b"late").is_ok())
            })?;
            let mut buf = [0u8; 8];
            let got = read(r.as_raw_fd(), &mut buf);
            reap_ok(sender, "signal sender")?;
            if restart {
                let n = got.ctx("read with SA_RESTART")?;
                ensure!(
                    &buf[..n] == b"late",
                    "restarted read returned {:?}",
                    &buf[..n]
                );
            } else {
                expect_errno(got, libc::EINTR, "read interrupted by a handler")?;
            }
        }
        let seen = SIGNALS_SEEN.load(Ordering::SeqCst);
        ensure!(seen == 2, "the handler ran {seen} times, want 2");
        pass()
    })
}

/// 256 KiB written in one call by another process arrive whole and in order.
pub(crate) fn pipe_large_transfer() -> Check {
    const SIZE: usize = 256 * 1024;
    let data: Vec<u8> = (0..SIZE).map(|i| (i % 253) as u8).collect();
    let (r, w) = pipe().ctx("pipe")?;
    let writer = later_in_child(Duration::ZERO, || {
        write(w.as_raw_fd(), &data).ok() == Some(SIZE)
    })?;
    drop(w);
    let got = read_to_end(r.as_raw_fd()).ctx("read")?;
    reap_ok(writer, "writer (1: short write)")?;
    ensure!(got.len() == SIZE, "read {} bytes, want {SIZE}", got.len());
    if let Some(i) = got.iter().zip(&data).position(|(a, b)| a != b) {
        fail!("byte {i} differs");
    }
    pass()
}

/// FIONREAD says how many bytes a read would get.
pub(crate) fn pipe_fionread() -> Check {
    let (r, w) = pipe().ctx("pipe")?;
    ensure!(
        fionread(r.as_raw_fd()).ctx("FIONREAD")? == 0,
        "FIONREAD on an empty pipe"
    );
    write(w.as_raw_fd(), &[0u8; 123]).ctx("write")?;
    ensure!(
        fionread(r.as_raw_fd()).ctx("FIONREAD")? == 123,
        "FIONREAD after writing 123"
    );
    let mut buf = [0u8; 23];
    read(r.as_raw_fd(), &mut buf).ctx("read")?;
    let n = fionread(r.as_raw_fd()).ctx("FIONREAD")?;
    ensure!(n == 100, "FIONREAD {n} after reading 23 of 123");
    pass()
}

/// A reader asleep on an empty pipe is woken by a write from another process.
pub(crate) fn pipe_wakes_reader() -> Check {
    let (r, w) = pipe().ctx("pipe")?;
    let start = Instant::now();
    let writer = later_in_child(Duration::from_millis(100), || {
        write(w.as_raw_fd(), b"wake").is_ok()
    })?;
    let mut buf = [0u8; 16];
    let n = read(r.as_raw_fd(), &mut buf).ctx("blocking read")?;
    let waited = start.elapsed();
    reap_ok(writer, "writer")?;
    ensure!(&buf[..n] == b"wake", "read {:?}", &buf[..n]);
    ensure!(
        waited >= Duration::from_millis(90),
        "read returned after {waited:?}, before the write"
    );
    pass_with(format_args!("woken after {} ms", waited.as_millis()))
}

/// A writer asleep on a full pipe is woken when another process reads.
pub(crate) fn pipe_wakes_writer() -> Check {
    let (r, w) = pipe().ctx("pipe")?;
    let nonblock = libc::O_NONBLOCK as libc::c_long;
    fcntl(w.as_raw_fd(), libc::F_SETFL, nonblock).ctx("F_SETFL")?;
    fill_nonblocking(w.as_raw_fd(), PIPE_BUF)?;
    fcntl(w.as_raw_fd(), libc::F_SETFL, 0).ctx("F_SETFL")?;
    let start = Instant::now();
    let reader = later_in_child(Duration::from_millis(100), || {
        let mut buf = vec![0u8; 2 * PIPE_BUF];
        read(r.as_raw_fd(), &mut buf).is_ok()
    })?;
    let n = write(w.as_raw_fd(), &[b'w'; PIPE_BUF]).ctx("blocking write")?;
    let waited = start.elapsed();
    reap_ok(reader, "reader")?;
    ensure!(n == PIPE_BUF, "blocking write wrote {n}");
    ensure!(
        waited >= Duration::from_millis(90),
        "write returned after {waited:?}, before the read"
    );
    pass_with(format_args!("woken after {} ms", waited.as_millis()))
}

/// std::process::Command captures a child's stdout and stderr through pipes and its exit
/// status (musl's posix_spawn: CLONE_VM|CLONE_VFORK and a close-on-exec pipe).
pub(crate) fn command_output() -> Check {
    let exe = self_exe()?;
    let out = std::process::Command::new(&exe)
        .arg("--emit-output")
        .output()
        .ctx("spawn")?;
    ensure!(
        out.status.code() == Some(7),
        "child {}, want exit 7",
        out.status
    );
    ensure!(
        out.stdout == b"to stdout\n",
        "stdout {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    ensure!(
        out.stderr == b"to stderr\n",
        "stderr {:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = std::process::Command::new("/no/such/program").output();
    expect_errno(err, libc::ENOENT, "spawning a missing program")?;
    pass()
}

/// Two unrelated processes meet at a FIFO by name: the reader's open waits for a writer
/// (another program, exec'd, sharing no descriptor with us), data flows, and the writer's
/// close is the reader's end of file.
pub(crate) fn fifo_between_processes() -> Check {
    let dir = Scratch::new("fifo")?;
    let fifo = dir.path("fifo");
    mknod(&fifo, libc::S_IFIFO | 0o600, 0).ctx("mkfifo")?;
    let exe = self_exe()?;
    let path = fifo.to_string_lossy().into_owned();
    let start = Instant::now();
    let writer = later_in_child(Duration::from_millis(50), || {
        // SAFETY: closes descriptors only this child holds, before it execs.
        unsafe { libc::syscall(libc::SYS_close_range, 3, u32::MAX, 0) };
        exec(&exe, &["--write-to", &path, "through the fifo"]);
        false
    })?;
    let r = open(&fifo, libc::O_RDONLY, 0).ctx("open the FIFO for reading")?;
    let opened = start.elapsed();
    let data = read_to_end(r.as_raw_fd()).ctx("read")?;
    reap_ok(writer, "writer")?;
    ensure!(
        data == b"through the fifo",
        "read {:?}",
        String::from_utf8_lossy(&data)
    );
    ensure!(
        opened >= Duration::from_millis(40),
        "the reader's open returned after {opened:?}, before any writer opened"
    );
    pass()
}

/// Readers and writers that open a FIFO at the same moment always find each other (no
/// lost partner when both arrive together on two CPUs).
pub(crate) fn fifo_open_race() -> Check {
    const ROUNDS: usize = 40;
    let dir = Scratch::new("fifo_race")?;
    let fifo = dir.path("fifo");
    mknod(&fifo, libc::S_IFIFO | 0o600, 0).ctx("mkfifo")?;
    for round in 0..ROUNDS {
        let reader_first = round % 2 == 0;
        let child = later_in_child(Duration::ZERO, || {
            let flags = if reader_first {
                libc::O_WRONLY
            } else {
                libc::O_RDONLY
            };
            open(&fifo, flags, 0).is_ok()
        })?;
        let flags = if reader_first {
            libc::O_RDONLY
        } else {
            libc::O_WRONLY
        };
        let fd = open(&fifo, flags, 0).ctx(format!("open in round {round}"))?;
        reap_ok(child, &format!("the other end in round {round}"))?;
        drop(fd);
    }
    pass_with(format_args!("{ROUNDS} rounds"))
}
