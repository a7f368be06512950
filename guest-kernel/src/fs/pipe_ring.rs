//! The byte ring behind a pipe (the buffer half of Linux's fs/pipe.c), kept pure so its
//! rules are tested on the host: a capacity of whole pages (64 KiB by default, changed with
//! `F_SETPIPE_SZ`), and writes of at most `PIPE_BUF` bytes that land whole or not at all.

use alloc::collections::VecDeque;

use crate::kernel::errno::*;

pub const PAGE_SIZE: usize = 4096;
pub const PIPE_BUF: usize = 4096;
pub const PIPE_DEF_BUFFERS: usize = 16;
/// `/proc/sys/fs/pipe-max-size`'s default.
pub const PIPE_MAX_SIZE: usize = 1 << 20;

pub struct PipeRing {
    buf: VecDeque<u8>,
    capacity: usize,
}

impl Default for PipeRing {
    fn default() -> Self {
        Self::new()
    }
}

impl PipeRing {
    pub fn new() -> Self {
        PipeRing {
            buf: VecDeque::new(),
            capacity: PIPE_DEF_BUFFERS * PAGE_SIZE,
        }
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn free(&self) -> usize {
        self.capacity - self.buf.len()
    }

    /// Whether a write of `len` bytes could make progress now: an atomic write needs room
    /// for all of it, a larger one for any of it.
    pub fn writable(&self, len: usize) -> bool {
        if len <= PIPE_BUF {
            self.free() >= len.max(1)
        } else {
            self.free() > 0
        }
    }

    /// Take up to `out.len()` bytes.
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.buf.len());
        // Two slice copies, not a byte at a time: this is the pipe's read path.
        let (a, b) = self.buf.as_slices();
        let first = n.min(a.len());
        out[..first].copy_from_slice(&a[..first]);
        out[first..n].copy_from_slice(&b[..n - first]);
        self.buf.drain(..n);
        n
    }

    /// Add what fits of `data` (nothing if `atomic` and it does not all fit).
    pub fn write(&mut self, data: &[u8], atomic: bool) -> usize {
        if atomic && data.len() > self.free() {
            return 0;
        }
        let n = data.len().min(self.free());
        self.buf.extend(&data[..n]);
        n
    }

    /// `F_SETPIPE_SZ`: round up to a power-of-two number of pages; `EBUSY` if the data
    /// already queued would not fit, `EPERM` past the maximum, `EINVAL` past 2 GiB (which
    /// no rounding can reach, `round_pipe_size`).
    pub fn set_capacity(&mut self, size: usize) -> KResult<usize> {
        if size > 1 << 31 {
            return Err(EINVAL);
        }
        if size > PIPE_MAX_SIZE {
            return Err(EPERM);
        }
        let pages = size.div_ceil(PAGE_SIZE).max(1).next_power_of_two();
        let bytes = pages * PAGE_SIZE;
        if bytes < self.buf.len() {
            return Err(EBUSY);
        }
        self.capacity = bytes;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_order_and_capacity() {
        let mut r = PipeRing::new();
        assert_eq!(r.capacity(), 65536);
        assert_eq!(r.write(b"hello", true), 5);
        let mut out = [0u8; 3];
        assert_eq!(r.read(&mut out), 3);
        assert_eq!(&out, b"hel");
        let big = alloc::vec![7u8; 70000];
        assert_eq!(r.write(&big, false), 65536 - 2);
        assert!(!r.writable(1));
        assert_eq!(r.write(b"x", true), 0);
    }

    #[test]
    fn small_writes_are_atomic() {
        let mut r = PipeRing::new();
        r.write(&alloc::vec![0u8; 65536 - 100], false);
        assert!(!r.writable(PIPE_BUF));
        assert_eq!(r.write(&[1u8; 200], true), 0);
        assert!(r.writable(100));
        assert!(r.writable(PIPE_BUF + 1));
        assert_eq!(r.write(&[1u8; 200], false), 100);
    }

    #[test]
    fn resize_rules() {
        let mut r = PipeRing::new();
        assert_eq!(r.set_capacity(1), Ok(4096));
        assert_eq!(r.set_capacity(3 * 4096), Ok(4 * 4096));
        r.write(&[0u8; 10000], false);
        assert_eq!(r.set_capacity(4096), Err(EBUSY));
        assert_eq!(r.set_capacity(PIPE_MAX_SIZE + 1), Err(EPERM));
        assert_eq!(r.set_capacity(1 << 31), Err(EPERM));
        assert_eq!(r.set_capacity(u32::MAX as usize), Err(EINVAL));
    }
}
