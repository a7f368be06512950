//! `compacttest`: memory compaction seen from user space. Prints `compacttest: <check>:
//! ok|FAILED <detail>` lines and `compacttest: all checks passed` (exit 0) or `compacttest:
//! some checks FAILED` (exit 1).
//!
//! Two private mappings, together 40% of MemFree, are written a page of each in turn, so
//! their frames interleave; unmapping the second leaves the zone's free memory in single-page
//! holes between the first one's pages (/proc/buddyinfo: the high orders are gone). A forked
//! child shares the first mapping copy-on-write. Writing 1 to /proc/sys/vm/compact_memory
//! must then bring high-order blocks back (the pages moved), with every byte of both
//! processes' views intact and the compaction counters of /proc/vmstat grown; kcompactd0
//! must exist, and a write of anything but 1 is EINVAL.
//!
//! `compacttest compact` only writes 1 to compact_memory.

use std::fs;
use std::io::{Read, Write};
use std::process::exit;

use guest_user::check::Verdicts;
use guest_user::procfs::proc_value;

const P: usize = 4096;
/// Orders at and above this count as "high" (512 KiB and more).
const HIGH_ORDER: usize = 7;

/// Free pages in blocks of order `HIGH_ORDER` or more, over every zone of /proc/buddyinfo.
fn high_order_free_pages() -> u64 {
    let text = fs::read_to_string("/proc/buddyinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_once(" zone "))
        .map(|(_, rest)| {
            rest.split_whitespace()
                .skip(1)
                .enumerate()
                .filter(|&(order, _)| order >= HIGH_ORDER)
                .map(|(order, n)| n.parse::<u64>().unwrap_or(0) << order)
                .sum::<u64>()
        })
        .sum()
}

fn map(bytes: usize) -> *mut u8 {
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
    };
    assert!(p != libc::MAP_FAILED, "mmap of {bytes} bytes failed");
    p as *mut u8
}

/// What page `i` of the first mapping holds at byte `off`.
fn pattern(i: usize, off: usize) -> u8 {
    (i.wrapping_mul(31) ^ off) as u8
}

/// The first page of `pages` at `a` whose bytes are not the pattern, if any.
fn first_bad_page(a: *const u8, pages: usize) -> Option<usize> {
    (0..pages).find(|&i| {
        (0..P).step_by(512).any(|off| {
            // SAFETY: inside the mapping.
            unsafe { a.add(i * P + off).read_volatile() != pattern(i, off) }
        })
    })
}

fn write_compact_memory(value: &str) -> std::io::Result<()> {
    fs::OpenOptions::new()
        .write(true)
        .open("/proc/sys/vm/compact_memory")?
        .write_all(value.as_bytes())
}

fn main() {
    // `compacttest compact`: only the write (for the tracepoint test).
    if std::env::args().nth(1).as_deref() == Some("compact") {
        exit(write_compact_memory("1").is_err() as i32);
    }
    let mut r = Verdicts::new("compacttest");
    let free_kb = proc_value("/proc/meminfo", "MemFree") as usize;
    let pages = free_kb * 1024 * 20 / 100 / P;
    let (a, b) = (map(pages * P), map(pages * P));
    for i in 0..pages {
        for off in (0..P).step_by(512) {
            // SAFETY: inside the first mapping.
            unsafe { a.add(i * P + off).write_volatile(pattern(i, off)) };
        }
        // SAFETY: inside the second mapping.
        unsafe { b.add(i * P).write_volatile(1) };
    }
    let before_fill = high_order_free_pages();
    // SAFETY: our mapping, not used again.
    unsafe { libc::munmap(b as *mut _, pages * P) };
    let fragmented = high_order_free_pages();
    r.check(
        "unmapping every other page leaves holes",
        true,
        format!("{pages} pages each; free pages in order>={HIGH_ORDER} blocks: {before_fill} -> {fragmented}"),
    );

    // The child shares the first mapping copy-on-write until told to check it.
    let (mut go_r, mut go_w) = pipe();
    // SAFETY: the child only runs code of this single-threaded program.
    let child = unsafe { libc::fork() };
    if child == 0 {
        drop(go_w);
        let mut byte = [0u8];
        let _ = go_r.read(&mut byte);
        exit(match first_bad_page(a, pages) {
            None => 0,
            Some(i) => 10 + (i % 100) as i32,
        });
    }
    drop(go_r);

    let keys = [
        "compact_migrate_scanned",
        "compact_free_scanned",
        "compact_isolated",
        "pgmigrate_success",
    ];
    let before: Vec<u64> = keys.iter().map(|k| proc_value("/proc/vmstat", k)).collect();
    let res = write_compact_memory("1");
    r.check("write 1 to compact_memory", res.is_ok(), format!("{res:?}"));
    let compacted = high_order_free_pages();
    r.check(
        "high-order blocks came back",
        compacted > fragmented,
        format!("free pages in order>={HIGH_ORDER} blocks: {fragmented} -> {compacted}"),
    );
    let after: Vec<u64> = keys.iter().map(|k| proc_value("/proc/vmstat", k)).collect();
    for (k, (b, a)) in keys.iter().zip(before.iter().zip(&after)) {
        r.check(&format!("{k} grew"), a > b, format!("{b} -> {a}"));
    }
    let bad = first_bad_page(a, pages);
    r.check(
        "the parent's data survived",
        bad.is_none(),
        format!("{bad:?}"),
    );
    let _ = go_w.write_all(b"x");
    drop(go_w);
    let mut status = 0;
    // SAFETY: a plain waitpid on our child.
    unsafe { libc::waitpid(child, &mut status, 0) };
    r.check(
        "the child's copy-on-write view survived",
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        format!("status {status:#x}"),
    );
    let err = write_compact_memory("2")
        .err()
        .and_then(|e| e.raw_os_error());
    r.check(
        "writing 2 is EINVAL",
        err == Some(libc::EINVAL),
        format!("{err:?}"),
    );
    let kcompactd = fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "kcompactd0"));
    r.check("kcompactd0 runs", kcompactd, String::new());
    let daemon = fs::read_to_string("/proc/vmstat").unwrap_or_default();
    r.check(
        "vmstat has compaction lines",
        [
            "compact_stall ",
            "compact_fail ",
            "compact_success ",
            "compact_daemon_wake ",
        ]
        .iter()
        .all(|k| daemon.contains(k)),
        String::new(),
    );
    r.finish()
}

fn pipe() -> (fs::File, fs::File) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    use std::os::fd::FromRawFd;
    // SAFETY: both descriptors were just created and are owned by nobody else.
    unsafe { (fs::File::from_raw_fd(fds[0]), fs::File::from_raw_fd(fds[1])) }
}
