//! `procbench [--quick] [--iters N] [ROW...]`: the process and scheduling benchmark, the same
//! static binary on our kernel and on Linux. One line per row, exactly
//!
//! ```text
//! bench: <row> <ns-per-op> ns
//! ```
//!
//! with the rows
//!
//! - `null_syscall`: `getppid` through `syscall(2)`;
//! - `fork_exit_wait`: fork, the child `_exit`s, the parent `waitpid`s;
//! - `fork_exec_wait`: the same with the child exec'ing this program with `--exit-now`, which
//!   exits before doing anything else;
//! - `ctx_switch`: two processes pinned to one CPU bounce a byte over a pair of pipes; a round
//!   trip is two switches and the row is per switch (pipe costs included, as lmbench's
//!   `lat_ctx` does);
//! - `thread_create_join`: `std::thread::spawn` of an empty closure and `join`;
//! - `signal_delivery`: `kill(getpid(), SIGUSR1)` to a process with a handler: the send, the
//!   delivery, the handler and `rt_sigreturn`;
//! - `sysv_msg_round_trip`: a System V message of 8 bytes to a child on one queue (type 1)
//!   and its answer back (type 2): two `msgsnd` and two blocking `msgrcv` per round trip.
//! - `pipe_pingpong`: a byte to a child and back over two pipes (a round trip);
//! - `pipe_bandwidth`: 64 KiB writes into a pipe a child drains (per 64 KiB);
//! - `unix_pingpong`: `pipe_pingpong` over an AF_UNIX stream socketpair;
//! - `tmpfs_write_read`: 64 KiB `pwrite` then `pread` of a file in /tmp;
//! - `open_close`: `open` + `close` of a file in /tmp;
//! - `stat`: `stat` of that file;
//! - `futex_wake`: two threads bounce a futex word: one `FUTEX_WAKE`s the other out of
//!   `FUTEX_WAIT` and waits to be woken back (a round trip).
//!   and its answer back (type 2): two `msgsnd` and two blocking `msgrcv` per round trip;
//! - `posix_mq_round_trip`: `sysv_msg_round_trip` over two POSIX message queues (a request queue and a
//!   reply queue, 8-byte messages): two `mq_send` and two blocking `mq_receive`.
//! - `page_fault`: a write to each page of a fresh 4 MiB anonymous mapping (per page; the
//!   mmap and munmap around each 1024 pages are not timed);
//! - `mmap_munmap_1m`: `mmap` of 1 MiB of anonymous memory and `munmap` of it, untouched;
//! - `fork_64m`: `fork_exit_wait` from a process with 64 MiB of anonymous memory touched
//!   (the copy-on-write set-up and tear-down of its page tables).
//!
//! Each row is the median of 5 runs; a run lasts about 40 ms (iterations found by doubling
//! until a batch takes 5 ms), 1 ms with `--quick` (for tests), or exactly N iterations with
//! `--iters N`. Rows may be named to run only those. A row that cannot run prints
//! `procbench: <row>: <error>` on stderr and makes the exit status 1.

use std::ffi::CString;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use guest_user::{cli, sys};

const USAGE: &str = "procbench [--quick] [--iters N] [ROW...]";
const RUNS: usize = 5;

type Row = fn(u64) -> Result<Duration, String>;

const ROWS: &[(&str, Row)] = &[
    ("null_syscall", null_syscall),
    ("fork_exit_wait", fork_exit_wait),
    ("fork_exec_wait", fork_exec_wait),
    ("ctx_switch", ctx_switch),
    ("thread_create_join", thread_create_join),
    ("signal_delivery", signal_delivery),
    ("sysv_msg_round_trip", sysv_msg_round_trip),
    ("pipe_pingpong", pipe_pingpong),
    ("pipe_bandwidth", pipe_bandwidth),
    ("unix_pingpong", unix_pingpong),
    ("tmpfs_write_read", tmpfs_write_read),
    ("open_close", open_close),
    ("stat", stat),
    ("futex_wake", futex_wake),
    ("posix_mq_round_trip", posix_mq_round_trip),
    ("page_fault", page_fault),
    ("mmap_munmap_1m", mmap_munmap_1m),
    ("fork_64m", fork_64m),
];

/// How many iterations a run does.
enum Iters {
    /// About this long per run.
    Target(Duration),
    Fixed(u64),
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--exit-now") {
        sys::exit_now(0);
    }
    let mut iters = Iters::Target(Duration::from_millis(40));
    let mut selected = Vec::new();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        match a.as_str() {
            "--quick" => iters = Iters::Target(Duration::from_millis(1)),
            "--iters" => {
                i += 1;
                let n = args
                    .get(i)
                    .and_then(|s| s.parse::<u64>().ok())
                    .filter(|&n| n > 0);
                let n = n.unwrap_or_else(|| {
                    cli::usage_error("procbench", "--iters needs a positive number", USAGE, 2)
                });
                iters = Iters::Fixed(n);
            }
            name if ROWS.iter().any(|(r, _)| *r == name) => selected.push(name.to_string()),
            other => cli::usage_error(
                "procbench",
                format_args!("unknown row or option '{other}'"),
                USAGE,
                2,
            ),
        }
        i += 1;
    }
    // A kernel that lost its fine clock (Linux under a loaded TCG host can fall back to
    // jiffies) would time every row in whole ticks: report that instead of numbers.
    let coarse = match clock_resolution() {
        Some(res) if res < Duration::from_micros(100) => None,
        Some(res) => Some(format!(
            "the clock's resolution is {res:?} (a tick-based clock source): too coarse to time"
        )),
        None => Some(errno_text("clock_getres")),
    };
    let mut ok = true;
    for &(name, row) in ROWS {
        if !selected.is_empty() && !selected.iter().any(|s| s == name) {
            continue;
        }
        let result = match &coarse {
            Some(why) => Err(why.clone()),
            None => measure(row, &iters),
        };
        match result {
            Ok(ns) => println!("bench: {name} {ns:.1} ns"),
            Err(e) => {
                eprintln!("procbench: {name}: {e}");
                ok = false;
            }
        }
    }
    std::process::exit(if ok { 0 } else { 1 });
}

/// The monotonic clock's resolution as the kernel states it (`clock_getres`): Linux says one
/// tick once it has fallen back to a tick-based clock source; `None` if the call failed.
fn clock_resolution() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the kernel to fill.
    if unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC, &mut ts) } != 0 {
        return None;
    }
    Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// The median over [`RUNS`] runs of the time per operation, in nanoseconds.
fn measure(row: Row, iters: &Iters) -> Result<f64, String> {
    let n = match *iters {
        Iters::Fixed(n) => n,
        Iters::Target(target) => {
            let batch = (target / 8).max(Duration::from_micros(500));
            let mut n = 1u64;
            loop {
                let took = row(n)?;
                if took >= batch || n >= 1 << 30 {
                    let per = took.as_secs_f64() / n as f64;
                    break ((target.as_secs_f64() / per) as u64).max(1);
                }
                n *= 2;
            }
        }
    };
    let mut per_op: Vec<f64> = (0..RUNS)
        .map(|_| row(n).map(|d| d.as_nanos() as f64 / n as f64))
        .collect::<Result<_, _>>()?;
    per_op.sort_by(f64::total_cmp);
    Ok(per_op[RUNS / 2])
}

fn errno_text(what: &str) -> String {
    format!("{what}: {}", cli::errmsg(&std::io::Error::last_os_error()))
}

fn null_syscall(n: u64) -> Result<Duration, String> {
    let start = Instant::now();
    for _ in 0..n {
        // SAFETY: getppid has no arguments.
        std::hint::black_box(unsafe { libc::syscall(libc::SYS_getppid) });
    }
    Ok(start.elapsed())
}

fn fork_exit_wait(n: u64) -> Result<Duration, String> {
    let start = Instant::now();
    for _ in 0..n {
        // SAFETY: single-threaded here; the child only calls _exit.
        match unsafe { libc::fork() } {
            -1 => return Err(errno_text("fork")),
            // SAFETY: _exit has no preconditions.
            0 => unsafe { libc::_exit(0) },
            pid => {
                sys::wait_status(pid).map_err(|e| format!("waitpid: {e}"))?;
            }
        }
    }
    Ok(start.elapsed())
}

/// This program's path, for exec'ing itself: /proc/self/exe, else argv[0] if it is a path or
/// found in PATH, else /bin/procbench.
fn self_path() -> CString {
    let from_argv = || {
        let arg0 = std::env::args().next()?;
        if arg0.contains('/') {
            return Some(arg0.into());
        }
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|d| d.join(&arg0))
            .find(|p| p.is_file())
    };
    let path = std::env::current_exe()
        .ok()
        .or_else(from_argv)
        .unwrap_or_else(|| "/bin/procbench".into());
    CString::new(path.to_string_lossy().as_bytes()).unwrap_or_default()
}

fn fork_exec_wait(n: u64) -> Result<Duration, String> {
    let path = self_path();
    let flag = c"--exit-now";
    let argv = [path.as_ptr(), flag.as_ptr(), std::ptr::null()];
    let envp = [std::ptr::null()];
    let start = Instant::now();
    for _ in 0..n {
        // SAFETY: single-threaded here; the child only calls execve and _exit.
        match unsafe { libc::fork() } {
            -1 => return Err(errno_text("fork")),
            0 => {
                // SAFETY: path, argv and envp are NUL-terminated and outlive the call.
                unsafe {
                    libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr());
                    libc::_exit(127)
                }
            }
            pid => {
                let st = sys::wait_status(pid).map_err(|e| format!("waitpid: {e}"))?;
                if st != 0 {
                    return Err(format!("exec of {path:?} {}", sys::describe_status(st)));
                }
            }
        }
    }
    Ok(start.elapsed())
}

fn ctx_switch(n: u64) -> Result<Duration, String> {
    let saved = sys::get_affinity(0).map_err(|e| format!("sched_getaffinity: {e}"))?;
    let cpu = saved.cpus().next().unwrap_or(0);
    sys::pin_to(cpu).map_err(|e| format!("sched_setaffinity: {e}"))?;
    let result = ping_pong(n);
    let _ = sys::set_affinity(0, &saved);
    result
}

/// Bounces a byte `n` times between us and a child over two pipes; returns the time for the
/// `n` round trips halved, i.e. the total for 2n switches when both share a CPU.
fn ping_pong(n: u64) -> Result<Duration, String> {
    round_trips(n, false).map(|d| d / 2)
}

fn pipe_pingpong(n: u64) -> Result<Duration, String> {
    round_trips(n, false)
}

fn unix_pingpong(n: u64) -> Result<Duration, String> {
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

fn thread_create_join(n: u64) -> Result<Duration, String> {
    let start = Instant::now();
    for _ in 0..n {
        std::thread::Builder::new()
            .spawn(|| {})
            .map_err(|e| format!("spawn: {e}"))?
            .join()
            .map_err(|_| "thread panicked".to_string())?;
    }
    Ok(start.elapsed())
}

static DELIVERED: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_usr1(_: libc::c_int) {
    DELIVERED.fetch_add(1, SeqCst);
}

fn signal_delivery(n: u64) -> Result<Duration, String> {
    // SAFETY: a zeroed sigaction with an async-signal-safe handler; restored below.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_usr1 as *const () as usize;
        if libc::sigaction(libc::SIGUSR1, &sa, &mut old) != 0 {
            return Err(errno_text("sigaction"));
        }
    }
    let pid = sys::getpid();
    let before = DELIVERED.load(SeqCst);
    let start = Instant::now();
    for _ in 0..n {
        // SAFETY: kill has no memory arguments.
        unsafe { libc::kill(pid, libc::SIGUSR1) };
    }
    let took = start.elapsed();
    // SAFETY: restores the saved disposition.
    unsafe { libc::sigaction(libc::SIGUSR1, &old, std::ptr::null_mut()) };
    let got = DELIVERED.load(SeqCst) - before;
    if got != n {
        return Err(format!("{got} of {n} signals delivered"));
    }
    Ok(took)
}

/// A System V message: its type and 8 bytes of text.
#[repr(C)]
struct Msg {
    mtype: libc::c_long,
    text: u64,
}

fn sysv_msg_round_trip(n: u64) -> Result<Duration, String> {
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
fn pipe_bandwidth(n: u64) -> Result<Duration, String> {
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

/// A scratch file in /tmp for the file rows, removed when dropped.
struct TmpFile(CString);

impl TmpFile {
    fn new(name: &str) -> Result<TmpFile, String> {
        let path = CString::new(format!("/tmp/procbench.{}.{name}", sys::getpid()))
            .map_err(|e| e.to_string())?;
        // SAFETY: a NUL-terminated path.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_CREAT | libc::O_RDWR, 0o644) };
        if fd < 0 {
            return Err(errno_text("open"));
        }
        // SAFETY: closing the descriptor just opened.
        unsafe { libc::close(fd) };
        Ok(TmpFile(path))
    }
}

impl Drop for TmpFile {
    fn drop(&mut self) {
        // SAFETY: a NUL-terminated path.
        unsafe { libc::unlink(self.0.as_ptr()) };
    }
}

fn tmpfs_write_read(n: u64) -> Result<Duration, String> {
    const CHUNK: usize = 64 * 1024;
    let f = TmpFile::new("rw")?;
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { libc::open(f.0.as_ptr(), libc::O_RDWR) };
    if fd < 0 {
        return Err(errno_text("open"));
    }
    let out = vec![3u8; CHUNK];
    let mut back = vec![0u8; CHUNK];
    let start = Instant::now();
    let mut ok = true;
    for _ in 0..n {
        // SAFETY: both buffers are CHUNK bytes long.
        ok &= unsafe {
            libc::pwrite(fd, out.as_ptr().cast(), CHUNK, 0) == CHUNK as isize
                && libc::pread(fd, back.as_mut_ptr().cast(), CHUNK, 0) == CHUNK as isize
        };
    }
    let took = start.elapsed();
    // SAFETY: closing our descriptor.
    unsafe { libc::close(fd) };
    if !ok || back != out {
        return Err(errno_text("pwrite/pread"));
    }
    Ok(took)
}

fn open_close(n: u64) -> Result<Duration, String> {
    let f = TmpFile::new("open")?;
    let start = Instant::now();
    for _ in 0..n {
        // SAFETY: a NUL-terminated path; the descriptor is closed at once.
        let fd = unsafe { libc::open(f.0.as_ptr(), libc::O_RDONLY) };
        if fd < 0 {
            return Err(errno_text("open"));
        }
        // SAFETY: as above.
        unsafe { libc::close(fd) };
    }
    Ok(start.elapsed())
}

fn stat(n: u64) -> Result<Duration, String> {
    let f = TmpFile::new("stat")?;
    // SAFETY: a zeroed stat buffer is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let start = Instant::now();
    for _ in 0..n {
        // SAFETY: a NUL-terminated path and a stat buffer.
        if unsafe { libc::stat(f.0.as_ptr(), &mut st) } != 0 {
            return Err(errno_text("stat"));
        }
    }
    Ok(start.elapsed())
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
fn futex_wake(n: u64) -> Result<Duration, String> {
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

fn posix_mq_round_trip(n: u64) -> Result<Duration, String> {
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

/// A private anonymous mapping of `len` bytes.
fn map_anon(len: usize) -> Result<*mut u8, String> {
    // SAFETY: a new anonymous mapping; no existing memory is affected.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(errno_text("mmap"));
    }
    Ok(p.cast())
}

fn unmap(p: *mut u8, len: usize) -> Result<(), String> {
    // SAFETY: `p` is a mapping of `len` bytes from `map_anon`, no longer used.
    if unsafe { libc::munmap(p.cast(), len) } != 0 {
        return Err(errno_text("munmap"));
    }
    Ok(())
}

const PAGE: usize = 4096;

/// Write one byte to each page of `p[..len]`.
fn touch(p: *mut u8, len: usize) {
    for off in (0..len).step_by(PAGE) {
        // SAFETY: inside the caller's writable mapping.
        unsafe { p.add(off).write_volatile(1) };
    }
}

fn page_fault(n: u64) -> Result<Duration, String> {
    const CHUNK: u64 = 1024;
    let mut took = Duration::ZERO;
    let mut left = n;
    while left > 0 {
        let pages = left.min(CHUNK);
        let len = pages as usize * PAGE;
        let p = map_anon(len)?;
        let start = Instant::now();
        touch(p, len);
        took += start.elapsed();
        unmap(p, len)?;
        left -= pages;
    }
    Ok(took)
}

fn mmap_munmap_1m(n: u64) -> Result<Duration, String> {
    let start = Instant::now();
    for _ in 0..n {
        let p = map_anon(1 << 20)?;
        unmap(std::hint::black_box(p), 1 << 20)?;
    }
    Ok(start.elapsed())
}

fn fork_64m(n: u64) -> Result<Duration, String> {
    const LEN: usize = 64 << 20;
    // Set up once per process: every run forks the same 64 MiB.
    static AREA: AtomicU64 = AtomicU64::new(0);
    if AREA.load(SeqCst) == 0 {
        let p = map_anon(LEN)?;
        touch(p, LEN);
        AREA.store(p as u64, SeqCst);
    }
    fork_exit_wait(n)
}
