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
//!   and its answer back (type 2): two `msgsnd` and two blocking `msgrcv` per round trip;
//! - `posix_mq_round_trip`: the same over two POSIX message queues (a request queue and a
//!   reply queue, 8-byte messages): two `mq_send` and two blocking `mq_receive`.
//!
//! Each row is the median of 5 runs; a run lasts about 40 ms (iterations found by doubling
//! until a batch takes 5 ms), 1 ms with `--quick` (for tests), or exactly N iterations with
//! `--iters N`. Rows may be named to run only those. A row that cannot run prints
//! `procbench: <row>: <error>` on stderr and makes the exit status 1.

use std::ffi::CString;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
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
    ("posix_mq_round_trip", posix_mq_round_trip),
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
    let mut ok = true;
    for &(name, row) in ROWS {
        if !selected.is_empty() && !selected.iter().any(|s| s == name) {
            continue;
        }
        match measure(row, &iters) {
            Ok(ns) => println!("bench: {name} {ns:.1} ns"),
            Err(e) => {
                eprintln!("procbench: {name}: {e}");
                ok = false;
            }
        }
    }
    std::process::exit(if ok { 0 } else { 1 });
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

/// Bounces a byte `n` times between us and a child (both on our CPU); returns the time per
/// round trip times `n` halved, i.e. the total for 2n switches.
fn ping_pong(n: u64) -> Result<Duration, String> {
    let (mut there, mut back) = ([0; 2], [0; 2]);
    // SAFETY: each array has room for two descriptors.
    let made = unsafe { libc::pipe(there.as_mut_ptr()) == 0 && libc::pipe(back.as_mut_ptr()) == 0 };
    if !made {
        return Err(errno_text("pipe"));
    }
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
        None => Ok(took / 2),
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
