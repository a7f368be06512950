//! `slabtest [CHECK...]`: the kernel's dedicated slab caches count real objects. Each check
//! reads a cache's active objects in /proc/slabinfo, makes N objects of its kind, checks the
//! count grew by at least N, lets them go and checks it fell by at least N again.
//!
//! - `task_struct`: N forked children that stay alive (blocked reading a pipe), then exit.
//! - `filp`: N open files, then closed.
//! - `dentry_inode`: N new tmpfs files are N more `dentry` and `inode_cache` objects; unlinked,
//!   N fewer.
//! - `vm_area_struct`: N separate anonymous mappings are N more VMAs; unmapped, N fewer.
//! - `sreclaimable`: SReclaimable in /proc/meminfo is the pages of the reclaimable caches
//!   (`dentry`, `inode_cache`) as /proc/slabinfo counts them.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use guest_user::check::{pass_with, Check, Context, Fail, NamedCheck, Report};
use guest_user::ensure;
use guest_user::sys;

const CHECKS: &[NamedCheck] = &[
    ("task_struct", task_struct),
    ("filp", filp),
    ("dentry_inode", dentry_inode),
    ("vm_area_struct", vm_area_struct),
    ("sreclaimable", sreclaimable),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut report = Report::new("slabtest");
    report.run_table(CHECKS, &args);
    report.finish();
}

/// The numbers of cache `name`'s line in /proc/slabinfo: `<active_objs> <num_objs>
/// <objsize> <objperslab> <pagesperslab>`, then the tunables and slabdata columns.
fn slabinfo(name: &str) -> Result<Vec<u64>, Fail> {
    let text = std::fs::read_to_string("/proc/slabinfo").ctx("read /proc/slabinfo")?;
    text.lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some(name)).then(|| w.filter_map(|v| v.parse().ok()).collect())
        })
        .ok_or_else(|| Fail(format!("no cache {name} in /proc/slabinfo:\n{text}")))
}

fn active_objs(name: &str) -> Result<u64, Fail> {
    Ok(slabinfo(name)?[0])
}

/// Wait (up to ten seconds) for the count of `name` to fall to `at_most`: a dead task's last
/// reference goes when its CPU switches away from it, which may be just after wait returns,
/// and on a loaded host (VMs in parallel, kernel code emulated) a second was not always enough.
fn settles(name: &str, at_most: u64) -> Result<u64, Fail> {
    let start = Instant::now();
    loop {
        let n = active_objs(name)?;
        if n <= at_most || start.elapsed() > Duration::from_secs(10) {
            return Ok(n);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A check whose counts the kernel may disturb meanwhile, tried again (twice at most) if a
/// round fails.
fn retried(round: fn() -> Check) -> Check {
    let mut result = round();
    for _ in 0..2 {
        if result.is_ok() {
            break;
        }
        result = round();
    }
    result
}

/// N children blocked on a pipe are N more task_structs; once reaped, N fewer. The kernel may
/// start threads of its own meanwhile (a busy worker pool gets another kworker), so a round
/// that such a newcomer spoiled is tried again.
fn task_struct() -> Check {
    retried(task_struct_round)
}

fn task_struct_round() -> Check {
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

/// N files in a new tmpfs directory: a dentry and an inode each; unlinked, both go.
fn dentry_inode() -> Check {
    const N: u64 = 32;
    let dir = "/tmp/slabtest";
    let _ = std::fs::remove_dir_all(dir);
    let counts = || -> Result<(u64, u64), Fail> {
        Ok((active_objs("dentry")?, active_objs("inode_cache")?))
    };
    let (d0, i0) = counts()?;
    std::fs::create_dir(dir).ctx("mkdir")?;
    for i in 0..N {
        std::fs::write(format!("{dir}/{i}"), b"x").ctx("create")?;
    }
    let (d1, i1) = counts()?;
    for i in 0..N {
        std::fs::remove_file(format!("{dir}/{i}")).ctx("unlink")?;
    }
    let (d2, i2) = counts()?;
    std::fs::remove_dir(dir).ctx("rmdir")?;
    let seen = format!("dentry {d0} -> {d1} -> {d2}, inode_cache {i0} -> {i1} -> {i2}");
    ensure!(d1 >= d0 + N && i1 >= i0 + N, "{N} files created: {seen}");
    ensure!(d2 + N <= d1 && i2 + N <= i1, "{N} files unlinked: {seen}");
    pass_with(seen)
}

/// N one-page anonymous mappings side by side, alternately read-only and read-write so that
/// none merges with the next, are N more VMAs in `vm_area_struct`; unmapped, N fewer. N is
/// odd: both ends are read-only, so that a page malloc maps meanwhile (read-write, in the
/// highest hole) never merges with them.
fn vm_area_struct() -> Check {
    retried(vm_area_struct_round)
}

fn vm_area_struct_round() -> Check {
    const N: usize = 63;
    let page = 4096;
    let anon = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
    let before = active_objs("vm_area_struct")?;
    // A free stretch of N + 2 pages: reserved, then let go, so that it is a hole.
    // SAFETY: a new anonymous mapping chosen by the kernel; nothing else is touched.
    let hole = unsafe { libc::mmap(std::ptr::null_mut(), (N + 2) * page, 0, anon, -1, 0) };
    ensure!(hole != libc::MAP_FAILED, "mmap of the stretch failed");
    // SAFETY: the mapping just made, which nothing uses.
    let rc = unsafe { libc::munmap(hole, (N + 2) * page) };
    ensure!(rc == 0, "munmap of the stretch failed");
    let mut maps = Vec::new();
    for i in 0..N {
        let prot = if i % 2 == 0 {
            libc::PROT_READ
        } else {
            libc::PROT_READ | libc::PROT_WRITE
        };
        let at = hole as usize + (i + 1) * page;
        // SAFETY: MAP_FIXED_NOREPLACE inside the stretch this process just unmapped: it
        // replaces nothing.
        let p = unsafe {
            libc::mmap(
                at as *mut _,
                page,
                prot,
                anon | libc::MAP_FIXED_NOREPLACE,
                -1,
                0,
            )
        };
        ensure!(p as usize == at, "mmap {i} at {at:#x} failed: {p:?}");
        maps.push(p);
    }
    let during = active_objs("vm_area_struct")?;
    for p in maps {
        // SAFETY: one of the pages mapped above, unused.
        let rc = unsafe { libc::munmap(p, page) };
        ensure!(rc == 0, "munmap failed");
    }
    let after = settles("vm_area_struct", during - N as u64)?;
    let n = N as u64;
    let seen = format!("vm_area_struct {before} -> {during} -> {after}");
    // A few more may come from malloc's own mappings, never fewer.
    ensure!(
        (before + n..=before + n + 8).contains(&during),
        "{N} mappings: {seen}"
    );
    ensure!(after + n <= during, "{N} unmapped: {seen}");
    pass_with(seen)
}

/// SReclaimable counts exactly the slabs of the caches made SLAB_RECLAIM_ACCOUNT, once the
/// CPUs' page-count differences are folded in (`stat_refresh`); a slab or two may come or
/// go between the two reads.
fn sreclaimable() -> Check {
    std::fs::write("/proc/sys/vm/stat_refresh", "1").ctx("write stat_refresh")?;
    let pages = |name: &str| -> Result<u64, Fail> {
        let n = slabinfo(name)?;
        // pagesperslab, and num_slabs (the slabdata's second column).
        Ok(n[4] * n[n.len() - 2])
    };
    let slabs = pages("dentry")? + pages("inode_cache")?;
    let meminfo = std::fs::read_to_string("/proc/meminfo").ctx("read /proc/meminfo")?;
    let kb = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("SReclaimable:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok())
        .ok_or_else(|| Fail(format!("no SReclaimable:\n{meminfo}")))?;
    let seen = format!("SReclaimable {kb} kB, dentry + inode_cache slabs {slabs} pages");
    ensure!(slabs > 0 && (kb / 4).abs_diff(slabs) <= 8, "{seen}");
    pass_with(seen)
}
