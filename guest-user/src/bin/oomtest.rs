//! `oomtest MODE`: memory-pressure scenarios for the reclaim and OOM-killer tests. Each mode
//! prints `oomtest: <check>: ok|FAILED <detail>` lines and `oomtest: all checks passed` (exit
//! 0) or `oomtest: some checks FAILED` (exit 1).
//!
//! - `cat FILE...`: print files (the initramfs has no `cat`).
//! - `pagecache`: write files into tmpfs worth 55% of MemFree (their pages are the only copy
//!   of the data: Shmem, never reclaimed), then map and read every program in /bin: their
//!   clean page cache, read in from the initramfs image, cannot all fit beside the files, so
//!   kswapd0 must reclaim the older pages. Checks pgscan_kswapd/pgsteal_kswapd grew, kswapd0
//!   was charged CPU time (/proc/<pid>/stat, /proc/<pid>/sched), and the files and programs
//!   still read back right.
//! - `oom`: a child protected with oom_score_adj -1000 takes 60% of MemFree, then another
//!   allocates and touches memory without bound. Checks the hog (not the bigger, protected
//!   child) dies of SIGKILL, oom_kill grew, the protected child lives on, and MemFree comes
//!   back once both are gone.
//! - `mapped`: /proc/meminfo's Mapped follows a tmpfs file and shared anonymous memory as
//!   they are mapped and unmapped, not as they are written.

use std::fs;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::process::exit;
use std::time::Duration;

use guest_user::check::Verdicts;
use guest_user::procfs::proc_value;

const P: usize = 4096;

fn memfree_kb() -> u64 {
    proc_value("/proc/meminfo", "MemFree")
}

fn vmstat(key: &str) -> u64 {
    proc_value("/proc/vmstat", key)
}

/// Map `bytes` of private anonymous memory and write every page.
fn touch_anon(bytes: usize) -> *mut u8 {
    // SAFETY: an anonymous mapping the kernel places.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    } as *mut u8;
    if p as isize == -1 {
        return p;
    }
    for off in (0..bytes).step_by(P) {
        // SAFETY: inside the mapping just made.
        unsafe { p.add(off).write_volatile(1) };
    }
    p
}

/// The pid and CPU time (utime + stime, ticks) of the task named `comm`.
fn find_task(comm: &str) -> Option<(i32, u64)> {
    for e in fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let name = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if name.trim() == comm {
            let stat = guest_user::procfs::Stat::of(pid).ok()?;
            return Some((pid, stat.utime + stat.stime));
        }
    }
    None
}

fn pagecache(r: &mut Verdicts) {
    let total = (memfree_kb() as usize * 1024) * 55 / 100;
    let file_size = 256 << 10;
    let files = total / file_size;
    let _ = fs::create_dir_all("/tmp/pc");
    for i in 0..files {
        let data = vec![(i % 251) as u8; file_size];
        if let Err(e) = fs::write(format!("/tmp/pc/{i}"), &data) {
            r.check("write the files", false, format!("file {i}: {e}"));
            return;
        }
    }
    let (scan0, steal0) = (vmstat("pgscan_kswapd"), vmstat("pgsteal_kswapd"));
    let mut programs: Vec<(String, u64)> = fs::read_dir("/bin")
        .map(|d| {
            d.flatten()
                .map(|e| e.path().display().to_string())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p, 0))
        .collect();
    programs.sort();
    for (path, sum) in programs.iter_mut() {
        *sum = mapped_sum(path).unwrap_or(u64::MAX);
    }
    let mut good = true;
    for i in 0..files {
        let want = (i % 251) as u8;
        let back = fs::read(format!("/tmp/pc/{i}")).unwrap_or_default();
        good &= back.len() == file_size && back.iter().all(|&b| b == want);
    }
    r.check(
        "tmpfs files read back right",
        good,
        format!("{files} files of {file_size}"),
    );
    // The programs' pages read in again from the image after reclaim: the same bytes.
    let again = programs
        .iter()
        .filter(|(path, sum)| mapped_sum(path) != Some(*sum))
        .count();
    r.check(
        "mapped programs read back right",
        again == 0 && programs.len() > 5,
        format!("{} programs, {again} differ", programs.len()),
    );
    // kswapd0 works on after the last allocation asked it to.
    std::thread::sleep(Duration::from_millis(500));
    let (scan, steal) = (
        vmstat("pgscan_kswapd") - scan0,
        vmstat("pgsteal_kswapd") - steal0,
    );
    r.check(
        "kswapd0 reclaimed page cache",
        scan > 0 && steal > 0,
        format!("pgscan_kswapd +{scan} pgsteal_kswapd +{steal}"),
    );
    // Its CPU time: the scheduler's exact runtime (ms), and /proc/<pid>/stat's utime+stime
    // (10 ms ticks), which is that runtime split in two: the same amount, give or take the
    // tick it may have run on between the two reads.
    let task = find_task("kswapd0");
    let runtime_ms = task.map_or(0.0, |(pid, _)| sum_exec_runtime_ms(pid));
    let ticks = task.map_or(0, |(_, t)| t);
    let whole = (runtime_ms / 10.0) as u64;
    r.check(
        "kswapd0 ran: CPU time in /proc/<pid>/stat and sched",
        runtime_ms > 0.0 && ticks + 1 >= whole && ticks <= whole + 1,
        format!("{task:?} (pid, utime+stime ticks), se.sum_exec_runtime {runtime_ms} ms"),
    );
    let _ = fs::remove_dir_all("/tmp/pc");
}

/// `se.sum_exec_runtime` of /proc/<pid>/sched, in ms.
fn sum_exec_runtime_ms(pid: i32) -> f64 {
    let text = fs::read_to_string(format!("/proc/{pid}/sched")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("se.sum_exec_runtime"))
        .and_then(|v| v.trim().trim_start_matches(':').trim().parse().ok())
        .unwrap_or(0.0)
}

/// A checksum of `path`'s bytes read through a private mapping (every page touched).
fn mapped_sum(path: &str) -> Option<u64> {
    let f = fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len() as usize;
    if len == 0 {
        return Some(0);
    }
    // SAFETY: a private read-only mapping of the file, unmapped below.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            f.as_raw_fd(),
            0,
        )
    } as *const u8;
    if p as isize == -1 {
        return None;
    }
    // SAFETY: `len` bytes of the file are mapped at `p`.
    let bytes = unsafe { std::slice::from_raw_parts(p, len) };
    let sum = bytes
        .iter()
        .step_by(61)
        .fold(0u64, |s, &b| s.wrapping_mul(31).wrapping_add(b as u64));
    // SAFETY: our mapping.
    unsafe { libc::munmap(p as *mut _, len) };
    Some(sum)
}

fn fork() -> i32 {
    // SAFETY: the child only runs code of this single-threaded program.
    unsafe { libc::fork() }
}

fn wait(pid: i32) -> i32 {
    let mut status = 0;
    // SAFETY: a plain waitpid on our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    status
}

fn oom(r: &mut Verdicts) {
    let free0 = memfree_kb();
    let kills0 = vmstat("oom_kill");
    let (mut ready_r, mut ready_w) = std::io::pipe().unwrap();
    let (mut go_r, go_w) = std::io::pipe().unwrap();
    let protected = fork();
    if protected == 0 {
        drop(ready_r);
        drop(go_w);
        let adj = fs::write("/proc/self/oom_score_adj", "-1000").is_ok();
        let p = touch_anon(free0 as usize * 1024 * 6 / 10);
        let score = fs::read_to_string("/proc/self/oom_score").unwrap_or_default();
        let _ = writeln!(ready_w, "{adj} {} {}", p as isize != -1, score.trim());
        drop(ready_w);
        let mut b = [0u8];
        let _ = go_r.read(&mut b);
        exit(0);
    }
    drop(ready_w);
    drop(go_r);
    let mut said = String::new();
    let _ = ready_r.read_to_string(&mut said);
    r.check(
        "protected child: oom_score_adj -1000, memory touched, oom_score 0",
        said.trim() == "true true 0",
        said.trim().to_string(),
    );
    let hog = fork();
    if hog == 0 {
        loop {
            touch_anon(1 << 20);
        }
    }
    let status = wait(hog);
    let killed = libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL;
    r.check(
        "the unbounded allocator is killed by SIGKILL",
        killed,
        format!("status {status:#x}"),
    );
    let kills = vmstat("oom_kill") - kills0;
    r.check("oom_kill counted", kills >= 1, format!("+{kills}"));
    let reaped = reaper_report(hog);
    r.check(
        "oom_reaper reports the victim reaped with no anonymous memory left",
        reaped
            .as_deref()
            .is_some_and(|l| l.contains("anon-rss:0kB")),
        reaped.unwrap_or_else(|| "no oom_reaper line in 10 s".into()),
    );
    drop(go_w);
    let status = wait(protected);
    r.check(
        "the protected child lives on and exits 0",
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        format!("status {status:#x}"),
    );
    // Pages come back as the victims' last references go; give the per-CPU lists a moment.
    std::thread::sleep(Duration::from_millis(200));
    let free = memfree_kb();
    let margin = free0 / 20 + 1024;
    r.check(
        "MemFree comes back",
        free + margin >= free0,
        format!("before {free0} kB, after {free} kB"),
    );
}

/// The oom_reaper's `reaped process PID (comm), now anon-rss:…` line for `pid` in the kernel
/// log, waited for: the reaper may still be at work (or waiting for the victim's exit to let
/// go of its address space) when the victim's exit status arrives.
fn reaper_report(pid: i32) -> Option<String> {
    let want = format!("oom_reaper: reaped process {pid} (");
    for _ in 0..100 {
        let log = guest_user::sys::kmsg_lines().unwrap_or_default();
        if let Some(line) = log.iter().find(|l| l.contains(&want)) {
            return Some(
                line.split_once(';')
                    .map_or(line.as_str(), |(_, m)| m)
                    .to_string(),
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

fn meminfo_kb(key: &str) -> i64 {
    proc_value("/proc/meminfo", key) as i64
}

/// Map `len` bytes of `fd` (or anonymous memory if `fd` is -1) shared, and read every page.
fn map_shared_and_touch(fd: i32, len: usize) -> *mut u8 {
    let anon = if fd < 0 { libc::MAP_ANONYMOUS } else { 0 };
    // SAFETY: a shared mapping the kernel places; every page touched lies inside it.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | anon,
            fd,
            0,
        ) as *mut u8;
        if p as isize != -1 {
            for off in (0..len).step_by(P) {
                p.add(off).read_volatile();
            }
        }
        p
    }
}

/// Mapped counts page-cache pages while some page table maps them, each page once: a tmpfs
/// file's pages count only once mapped (not for being in Shmem), a second process mapping
/// them adds nothing, and unmapping takes them out again; shared anonymous memory likewise.
fn mapped(r: &mut Verdicts) {
    const LEN: usize = 4 << 20;
    const KB: i64 = (LEN / 1024) as i64;
    const SLACK: i64 = 512;
    let (mapped0, shmem0) = (meminfo_kb("Mapped"), meminfo_kb("Shmem"));
    let _ = fs::write("/tmp/mapped", vec![7u8; LEN]);
    let (mapped1, shmem1) = (meminfo_kb("Mapped"), meminfo_kb("Shmem"));
    r.check(
        "a tmpfs file is Shmem, not Mapped",
        shmem1 - shmem0 >= KB - SLACK && (mapped1 - mapped0).abs() < SLACK,
        format!("Shmem {shmem0} -> {shmem1} kB, Mapped {mapped0} -> {mapped1} kB"),
    );
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/tmp/mapped")
        .unwrap();
    let p = map_shared_and_touch(f.as_raw_fd(), LEN);
    let mapped2 = meminfo_kb("Mapped");
    r.check(
        "mapping it MAP_SHARED adds its size to Mapped",
        p as isize != -1 && (mapped2 - mapped1 - KB).abs() < SLACK,
        format!("Mapped {mapped1} -> {mapped2} kB for {KB} kB"),
    );
    // A child shares the mapping: the same pages, counted once.
    let child = fork();
    if child == 0 {
        let m = meminfo_kb("Mapped");
        exit(((m - mapped2).abs() >= SLACK) as i32);
    }
    let status = wait(child);
    r.check(
        "a forked child's copy of the mapping adds nothing",
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        format!("status {status:#x}"),
    );
    // SAFETY: our mapping of LEN bytes.
    unsafe { libc::munmap(p as *mut _, LEN) };
    let mapped3 = meminfo_kb("Mapped");
    r.check(
        "munmap takes them out of Mapped",
        (mapped3 - mapped1).abs() < SLACK,
        format!("Mapped {mapped2} -> {mapped3} kB"),
    );
    drop(f);
    let _ = fs::remove_file("/tmp/mapped");
    let p = map_shared_and_touch(-1, LEN);
    let mapped4 = meminfo_kb("Mapped");
    // SAFETY: our mapping of LEN bytes.
    unsafe { libc::munmap(p as *mut _, LEN) };
    let mapped5 = meminfo_kb("Mapped");
    r.check(
        "shared anonymous memory is Mapped while mapped",
        (mapped4 - mapped3 - KB).abs() < SLACK && (mapped5 - mapped3).abs() < SLACK,
        format!("Mapped {mapped3} -> {mapped4} -> {mapped5} kB"),
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut r = Verdicts::new("oomtest");
    match args.first().map(String::as_str) {
        Some("cat") => {
            for f in &args[1..] {
                match fs::read(f) {
                    Ok(b) => std::io::stdout().write_all(&b).unwrap(),
                    Err(e) => println!("oomtest: {f}: {e}"),
                }
            }
            exit(0)
        }
        Some("pagecache") => pagecache(&mut r),
        Some("oom") => oom(&mut r),
        Some("mapped") => mapped(&mut r),
        _ => {
            eprintln!("usage: oomtest cat FILE... | pagecache | oom | mapped");
            exit(2)
        }
    }
    r.finish()
}
