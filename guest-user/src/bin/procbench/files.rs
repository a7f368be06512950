//! The tmpfs file rows: write+read, open+close, stat.

use super::*;

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

pub(super) fn tmpfs_write_read(n: u64) -> Result<Duration, String> {
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

pub(super) fn open_close(n: u64) -> Result<Duration, String> {
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

pub(super) fn stat(n: u64) -> Result<Duration, String> {
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
