//! `slabtest [CHECK...]`: the kernel's dedicated slab caches count real objects. Each check
//! reads a cache's active objects in /proc/slabinfo, makes N objects of its kind, checks the
//! count grew by at least N, lets them go and checks it fell by at least N again.
//!
//! - `task_struct`: N forked children that stay alive (blocked reading a pipe), then exit.
//! - `filp`: N open files, then closed.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use guest_user::check::{pass_with, Check, Context, Fail, NamedCheck, Report};
use guest_user::ensure;
use guest_user::sys;

const CHECKS: &[NamedCheck] = &[("task_struct", task_struct), ("filp", filp)];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut report = Report::new("slabtest");
    report.run_table(CHECKS, &args);
    report.finish();
}

/// The `<active_objs>` of cache `name` in /proc/slabinfo.
fn active_objs(name: &str) -> Result<u64, Fail> {
    let text = std::fs::read_to_string("/proc/slabinfo").ctx("read /proc/slabinfo")?;
    text.lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some(name)).then(|| w.next()?.parse().ok())?
        })
        .ok_or_else(|| Fail(format!("no cache {name} in /proc/slabinfo:\n{text}")))
}

/// Wait (up to a second) for the count of `name` to fall to `at_most`: a dead task's last
/// reference goes when its CPU switches away from it, which may be just after wait returns.
fn settles(name: &str, at_most: u64) -> Result<u64, Fail> {
    let start = Instant::now();
    loop {
        let n = active_objs(name)?;
        if n <= at_most || start.elapsed() > Duration::from_secs(1) {
            return Ok(n);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// N children blocked on a pipe are N more task_structs; once reaped, N fewer.
fn task_struct() -> Check {
    const N: u64 = 8;
    let before = active_objs("task_struct")?;
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints.
    ensure!(unsafe { libc::pipe(fds.as_mut_ptr()) } == 0, "pipe failed");
    // SAFETY: pipe just returned these descriptors; each is owned once.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let mut pids = Vec::new();
    for _ in 0..N {
        let pid = sys::fork_child(|| {
            let mut byte = 0u8;
            // SAFETY: the child's copies of the pipe's descriptors; `byte` is one writable
            // byte. The read returns at EOF, when the parent closes its write end.
            unsafe {
                libc::close(wr.as_raw_fd());
                libc::read(rd.as_raw_fd(), (&mut byte as *mut u8).cast(), 1);
            }
            0
        })
        .ctx("fork")?;
        pids.push(pid);
    }
    drop(rd);
    let during = active_objs("task_struct")?;
    drop(wr);
    for pid in pids {
        sys::wait_status(pid).ctx("waitpid")?;
    }
    let after = settles("task_struct", during - N)?;
    ensure!(
        during >= before + N,
        "{N} live children: task_struct {before} -> {during}"
    );
    ensure!(
        after + N <= during,
        "{N} children reaped: task_struct {during} -> {after}"
    );
    pass_with(format!("task_struct {before} -> {during} -> {after}"))
}

/// N open files are N more `struct file`s in `filp`; closed, N fewer.
fn filp() -> Check {
    const N: u64 = 32;
    let before = active_objs("filp")?;
    let files = (0..N)
        .map(|_| File::open("/proc/version"))
        .collect::<Result<Vec<_>, _>>()
        .ctx("open")?;
    let during = active_objs("filp")?;
    drop(files);
    let after = settles("filp", during - N)?;
    ensure!(
        during >= before + N,
        "{N} open files: filp {before} -> {during}"
    );
    ensure!(after + N <= during, "{N} closed: filp {during} -> {after}");
    pass_with(format!("filp {before} -> {during} -> {after}"))
}
