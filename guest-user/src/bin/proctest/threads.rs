//! Threads and std on top of processes: thread-group ids, spawning and joining threads,
//! exit_group from a thread, and std::process::Command with and without pipes.

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use guest_user::check::{pass, pass_with, Check, Context, Fail};
use guest_user::ensure;
use guest_user::procfs::Stat;
use guest_user::sys;

/// Threads share the process id (getpid) and get their own thread ids (gettid); the main
/// thread's tid is the pid; /proc shows both tasks while they live.
pub(crate) fn thread_ids() -> Check {
    let (pid, tid) = (sys::getpid(), sys::gettid());
    ensure!(tid == pid, "main thread: gettid() {tid} != getpid() {pid}");
    let (tpid, ttid, tppid, tasks, nthreads) = std::thread::spawn(|| {
        let tasks = guest_user::procfs::list_ids("/proc/self/task").ok();
        let nthreads = Stat::read("/proc/self/stat").ok().map(|s| s.num_threads);
        (
            sys::getpid(),
            sys::gettid(),
            sys::getppid(),
            tasks,
            nthreads,
        )
    })
    .join()
    .map_err(|_| Fail("thread panicked".into()))?;
    ensure!(tpid == pid, "thread's getpid() {tpid}, want {pid}");
    ensure!(
        ttid != tid && ttid > 0,
        "thread's gettid() {ttid}, main's {tid}"
    );
    ensure!(
        tppid == sys::getppid(),
        "thread's getppid() {tppid} differs from main's"
    );
    if let Some(tasks) = tasks {
        ensure!(
            tasks.contains(&pid) && tasks.contains(&ttid),
            "/proc/self/task lists {tasks:?}, want {pid} and {ttid}"
        );
    }
    if let Some(n) = nthreads {
        ensure!(
            n == 2,
            "/proc/self/stat num_threads {n} with 2 threads alive"
        );
    }
    pass_with(format_args!("pid {pid}, thread tid {ttid}"))
}

/// Four std threads do independent work and contend on an atomic and a mutex; join returns
/// every result.
pub(crate) fn threads_join() -> Check {
    let counter = std::sync::Arc::new(AtomicU64::new(0));
    let locked = std::sync::Arc::new(std::sync::Mutex::new(0u64));
    let handles: Vec<_> = (0..4u64)
        .map(|i| {
            let (counter, locked) = (counter.clone(), locked.clone());
            std::thread::spawn(move || {
                let mut sum = 0u64;
                for k in 0..200_000u64 {
                    sum = sum.wrapping_add(std::hint::black_box(k * (i + 1)));
                    counter.fetch_add(1, SeqCst);
                    if k % 20 == 0 {
                        *locked.lock().unwrap() += 1;
                    }
                }
                sys::sleep(Duration::from_millis(5));
                (sys::gettid(), sum)
            })
        })
        .collect();
    let mut tids = Vec::new();
    for (i, h) in handles.into_iter().enumerate() {
        let (tid, sum) = h.join().map_err(|_| Fail(format!("thread {i} panicked")))?;
        let want = (i as u64 + 1) * (200_000 * 199_999 / 2);
        ensure!(sum == want, "thread {i} computed {sum}, want {want}");
        tids.push(tid);
    }
    tids.sort_unstable();
    tids.dedup();
    ensure!(tids.len() == 4, "threads' tids not distinct: {tids:?}");
    let (n, m) = (counter.load(SeqCst), *locked.lock().unwrap());
    ensure!(n == 800_000, "atomic counter {n}, want 800000");
    ensure!(m == 40_000, "mutex counter {m}, want 40000");
    pass()
}

/// exit_group from a secondary thread ends the whole process with that status.
pub(crate) fn thread_exit_group() -> Check {
    let pid = sys::fork_child(|| {
        sys::die_with_parent();
        std::thread::spawn(|| {
            sys::sleep(Duration::from_millis(20));
            // SAFETY: _exit (exit_group) ends the process; nothing needs cleaning up.
            unsafe { libc::_exit(5) }
        });
        sys::sleep(Duration::from_secs(20));
        1
    })
    .ctx("fork")?;
    let start = Instant::now();
    let status = sys::wait_status(pid).ctx("waitpid")?;
    ensure!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 5,
        "process {} after {:?}, want exited 5 from the thread's exit_group",
        sys::describe_status(status),
        start.elapsed()
    );
    pass()
}

/// std::process::Command spawns a program and returns its status.
pub(crate) fn command_status() -> Check {
    let path = sys::find_program("exitcode")
        .ok_or_else(|| Fail("cannot find the exitcode program".into()))?;
    let status = std::process::Command::new(&path)
        .arg("3")
        .status()
        .ctx("spawn")?;
    ensure!(
        status.code() == Some(3),
        "{} {status}, want exit 3",
        path.display()
    );
    pass()
}

/// std::process::Command captures a child's output through a pipe.
pub(crate) fn command_output() -> Check {
    let path = sys::find_program("exitcode")
        .ok_or_else(|| Fail("cannot find the exitcode program".into()))?;
    let out = std::process::Command::new(&path)
        .arg("5")
        .output()
        .ctx("spawn")?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.code() == Some(5),
        "{} {}, want exit 5",
        path.display(),
        out.status
    );
    ensure!(text == "exitcode: exiting with 5\n", "captured {text:?}");
    pass()
}
