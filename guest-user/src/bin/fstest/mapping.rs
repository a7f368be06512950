//! Files and memory sharing the page cache: `mmap(MAP_SHARED)` of a file seen by `read` and
//! `write` and by other processes, `msync`, SIGBUS past the end after a truncation, sparse
//! files, a big file counted once (Shmem), and the write permission a shared mapping needs.

use std::os::fd::{AsRawFd, RawFd};

use guest_user::check::{pass, pass_with, Check};
use guest_user::ensure;
use guest_user::sys;

use crate::util::*;

const P: usize = 4096;
const RW: i32 = libc::PROT_READ | libc::PROT_WRITE;

/// A mapping unmapped when dropped.
#[derive(Debug)]
struct Map {
    p: *mut u8,
    len: usize,
}

impl Map {
    fn new(fd: RawFd, len: usize, prot: i32, flags: i32) -> std::io::Result<Map> {
        // SAFETY: a fresh mapping the kernel places; only used through `get`/`set` below.
        let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, fd, 0) };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Map {
            p: p as *mut u8,
            len,
        })
    }

    fn get(&self, off: usize) -> u8 {
        assert!(off < self.len);
        // SAFETY: inside the live mapping (checked).
        unsafe { self.p.add(off).read_volatile() }
    }

    fn set(&self, off: usize, v: u8) {
        assert!(off < self.len);
        // SAFETY: inside the live mapping (checked); callers map it writable.
        unsafe { self.p.add(off).write_volatile(v) }
    }

    fn addr(&self) -> usize {
        self.p as usize
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: our own mapping, no longer used.
        unsafe { libc::munmap(self.p as *mut _, self.len) };
    }
}

fn msync(addr: usize, len: usize, flags: i32) -> std::io::Result<()> {
    // SAFETY: msync only inspects the range.
    sys::cvt(unsafe { libc::msync(addr as *mut _, len, flags) }).map(|_| ())
}

fn meminfo_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or(0)
}

/// A write through a shared mapping is what read() returns, a write() shows in the mapping,
/// and /proc/self/maps names the file with `s`.
pub(crate) fn shared_map_and_read_write() -> Check {
    let dir = Scratch::new("shared_map")?;
    let path = dir.file("f", &[b'.'; 2 * P])?;
    let fd = open(&path, libc::O_RDWR, 0).ctx("open")?;
    let m = Map::new(fd.as_raw_fd(), 2 * P, RW, libc::MAP_SHARED).ctx("mmap MAP_SHARED")?;
    m.set(10, b'M');
    m.set(P + 1, b'N');
    let back = pread_exact(fd.as_raw_fd(), 2 * P, 0).ctx("pread")?;
    ensure!(
        back[10] == b'M' && back[P + 1] == b'N',
        "read() does not see writes through the mapping"
    );
    pwrite(fd.as_raw_fd(), b"W", 20).ctx("pwrite")?;
    ensure!(m.get(20) == b'W', "the mapping does not see write()");
    let maps = std::fs::read_to_string("/proc/self/maps").ctx("read maps")?;
    let line = maps
        .lines()
        .find(|l| l.starts_with(&format!("{:08x}-", m.addr())))
        .unwrap_or_default()
        .to_string();
    ensure!(
        line.contains(" rw-s ") && line.ends_with(&*path.to_string_lossy()),
        "maps line {line:?}, want rw-s and the file's path"
    );
    pass()
}

/// Two processes with their own shared mappings of one file see each other's writes.
pub(crate) fn shared_map_two_processes() -> Check {
    let dir = Scratch::new("shared_two")?;
    let path = dir.file("f", &[0u8; P])?;
    let fd = open(&path, libc::O_RDWR, 0).ctx("open")?;
    let m = Map::new(fd.as_raw_fd(), P, RW, libc::MAP_SHARED).ctx("mmap")?;
    m.set(0, 1);
    let child_path = path.clone();
    let pid = sys::fork_child(|| {
        let Ok(fd) = open(&child_path, libc::O_RDWR, 0) else {
            return 3;
        };
        let Ok(c) = Map::new(fd.as_raw_fd(), P, RW, libc::MAP_SHARED) else {
            return 4;
        };
        if c.get(0) != 1 {
            return 5;
        }
        c.set(1, 2);
        // Wait for the parent's answer through the file's page.
        for _ in 0..2000 {
            if c.get(2) == 3 {
                return 0;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        6
    })
    .ctx("fork")?;
    let mut seen = false;
    for _ in 0..2000 {
        if m.get(1) == 2 {
            seen = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    m.set(2, 3);
    let status = sys::wait_status(pid).ctx("waitpid")?;
    ensure!(seen, "the parent never saw the child's write");
    ensure!(
        status == 0,
        "child: {} (5: did not see the parent's write, 6: its answer)",
        sys::describe_status(status)
    );
    pass()
}

/// msync: the flags Linux accepts, EINVAL for bad ones or an unaligned start, ENOMEM over
/// unmapped memory; the file has the bytes afterwards.
pub(crate) fn msync_args() -> Check {
    let dir = Scratch::new("msync")?;
    let path = dir.file("f", &[0u8; 2 * P])?;
    let fd = open(&path, libc::O_RDWR, 0).ctx("open")?;
    let m = Map::new(fd.as_raw_fd(), 2 * P, RW, libc::MAP_SHARED).ctx("mmap")?;
    m.set(5, b'S');
    for flags in [libc::MS_SYNC, libc::MS_ASYNC, libc::MS_INVALIDATE, 0] {
        msync(m.addr(), 2 * P, flags).ctx(format!("msync flags {flags}"))?;
    }
    ensure!(
        std::fs::read(&path).ctx("read")?[5] == b'S',
        "the file lacks the bytes after MS_SYNC"
    );
    expect_errno(
        msync(m.addr(), P, libc::MS_SYNC | libc::MS_ASYNC),
        libc::EINVAL,
        "MS_SYNC|MS_ASYNC",
    )?;
    expect_errno(msync(m.addr(), P, 0x100), libc::EINVAL, "unknown flag")?;
    expect_errno(
        msync(m.addr() + 1, P, libc::MS_SYNC),
        libc::EINVAL,
        "unaligned start",
    )?;
    let hole = Map::new(-1, 3 * P, RW, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS).ctx("mmap")?;
    // SAFETY: unmapping the middle page of our own mapping.
    unsafe { libc::munmap((hole.addr() + P) as *mut _, P) };
    expect_errno(
        msync(hole.addr(), 3 * P, libc::MS_SYNC),
        libc::ENOMEM,
        "a range with a hole",
    )?;
    pass()
}

/// After a truncation a shared mapping's pages past the new end are gone: touching one is
/// SIGBUS; the last page's bytes past the end read as zeros.
pub(crate) fn sigbus_past_eof() -> Check {
    let dir = Scratch::new("sigbus")?;
    let path = dir.file("f", &[b'x'; 2 * P])?;
    let fd = open(&path, libc::O_RDWR, 0).ctx("open")?;
    let m = Map::new(fd.as_raw_fd(), 2 * P, RW, libc::MAP_SHARED).ctx("mmap")?;
    ensure!(m.get(P + 5) == b'x', "mapped byte before the truncation");
    ftruncate(fd.as_raw_fd(), 100).ctx("ftruncate")?;
    ensure!(
        m.get(99) == b'x' && m.get(100) == 0 && m.get(P - 1) == 0,
        "the last page past the end is not zeros"
    );
    let pid = sys::fork_child(|| {
        m.get(P + 5);
        0
    })
    .ctx("fork")?;
    let status = sys::wait_status(pid).ctx("waitpid")?;
    ensure!(
        libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGBUS,
        "touching a page past the end: {}, want SIGBUS",
        sys::describe_status(status)
    );
    pass()
}

/// A sparse file: holes read as zeros and take no memory; SEEK_DATA and SEEK_HOLE find them.
pub(crate) fn sparse_file_holes() -> Check {
    let dir = Scratch::new("sparse")?;
    let fd = open(dir.path("f"), libc::O_RDWR | libc::O_CREAT, 0o644).ctx("open")?;
    let fd = fd.as_raw_fd();
    let shmem = meminfo_kb("Shmem");
    let at = 64 << 20;
    pwrite(fd, b"end", at).ctx("pwrite at 64 MiB")?;
    let grew = meminfo_kb("Shmem").saturating_sub(shmem);
    ensure!(grew < 1024, "a 64 MiB sparse file took {grew} kB of Shmem");
    let middle = pread_exact(fd, 8192, 32 << 20).ctx("pread of the hole")?;
    ensure!(middle.iter().all(|&b| b == 0), "a hole read non-zero bytes");
    let data = lseek(fd, 0, libc::SEEK_DATA).ctx("SEEK_DATA")?;
    let hole = lseek(fd, 0, libc::SEEK_HOLE).ctx("SEEK_HOLE")?;
    ensure!(
        data == at & !(P as i64 - 1) && hole == 0,
        "SEEK_DATA {data} SEEK_HOLE {hole}, want {} and 0",
        at & !(P as i64 - 1)
    );
    expect_errno(
        lseek(fd, at + 3, libc::SEEK_DATA),
        libc::ENXIO,
        "SEEK_DATA at EOF",
    )?;
    pass()
}

/// A 4 MiB file's pages are counted once (Shmem) and mapping it shares them: no second copy.
pub(crate) fn big_file_counted_once() -> Check {
    let dir = Scratch::new("big")?;
    let len = 4 << 20;
    let (shmem0, cached0) = (meminfo_kb("Shmem"), meminfo_kb("Cached"));
    let path = dir.file("f", &vec![7u8; len])?;
    let (shmem1, cached1) = (meminfo_kb("Shmem"), meminfo_kb("Cached"));
    let fd = open(&path, libc::O_RDWR, 0).ctx("open")?;
    let free1 = meminfo_kb("MemFree");
    let m = Map::new(fd.as_raw_fd(), len, RW, libc::MAP_SHARED).ctx("mmap")?;
    let mut sum = 0u64;
    for off in (0..len).step_by(P) {
        sum += m.get(off) as u64;
    }
    let (shmem2, free2) = (meminfo_kb("Shmem"), meminfo_kb("MemFree"));
    let detail = format!(
        "Shmem {shmem0}->{shmem1}->{shmem2} kB, Cached {cached0}->{cached1} kB, \
         MemFree {free1}->{free2} kB"
    );
    ensure!(sum == 7 * (len / P) as u64, "mapped bytes differ");
    let kb = (len >> 10) as u64;
    // Within 512 kB: other files come and go meanwhile (earlier checks' leftovers).
    let near = |grew: u64| grew + 512 >= kb && grew < kb + 512;
    ensure!(
        near(shmem1.saturating_sub(shmem0)),
        "writing the file: {detail}"
    );
    ensure!(
        cached1.saturating_sub(cached0) + 512 >= kb,
        "Cached did not grow: {detail}"
    );
    ensure!(
        shmem2 < shmem1 + 256 && free1.saturating_sub(free2) < kb / 2,
        "mapping the file made a copy: {detail}"
    );
    drop(m);
    drop(dir);
    pass_with(detail)
}

/// A shared writable mapping needs a file open for writing (EACCES, also for mprotect
/// later); a private one does not.
pub(crate) fn shared_map_needs_write_access() -> Check {
    let dir = Scratch::new("shared_ro")?;
    let path = dir.file("f", &[1u8; P])?;
    let fd = open(&path, libc::O_RDONLY, 0).ctx("open")?;
    let fd = fd.as_raw_fd();
    expect_errno(
        Map::new(fd, P, RW, libc::MAP_SHARED),
        libc::EACCES,
        "MAP_SHARED PROT_WRITE on an O_RDONLY file",
    )?;
    let ro = Map::new(fd, P, libc::PROT_READ, libc::MAP_SHARED).ctx("MAP_SHARED PROT_READ")?;
    ensure!(ro.get(0) == 1, "read-only shared mapping");
    // SAFETY: mprotect of our own mapping, expected to be refused.
    let r = sys::cvt(unsafe { libc::mprotect(ro.p as *mut _, P, RW) });
    expect_errno(r, libc::EACCES, "mprotect(PROT_WRITE) of it")?;
    let private = Map::new(fd, P, RW, libc::MAP_PRIVATE).ctx("MAP_PRIVATE PROT_WRITE")?;
    private.set(0, 9);
    ensure!(
        std::fs::read(&path).ctx("read")?[0] == 1,
        "a private write reached the file"
    );
    pass()
}
