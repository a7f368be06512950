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

mod files;
mod ipc;
mod memory;

use files::*;
use ipc::*;
use memory::*;

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
