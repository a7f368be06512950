//! The memory rows: anonymous page faults, mmap+munmap, fork of a large process.

use super::*;

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

pub(super) fn page_fault(n: u64) -> Result<Duration, String> {
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

pub(super) fn mmap_munmap_1m(n: u64) -> Result<Duration, String> {
    let start = Instant::now();
    for _ in 0..n {
        let p = map_anon(1 << 20)?;
        unmap(std::hint::black_box(p), 1 << 20)?;
    }
    Ok(start.elapsed())
}

pub(super) fn fork_64m(n: u64) -> Result<Duration, String> {
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
