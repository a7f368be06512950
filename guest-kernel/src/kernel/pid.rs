//! PID allocation (Linux's kernel/pid.c): a bitmap, allocated cyclically from the last PID
//! handed out up to `pid_max`, wrapping to RESERVED_PIDS (300) so that low numbers stay with
//! the early daemons.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

pub const PID_MAX_DEFAULT: u32 = 32768;
pub const PID_MAX_LIMIT: u32 = 4 * 1024 * 1024;
pub const RESERVED_PIDS: u32 = 300;

/// `/proc/sys/kernel/pid_max`.
pub static PID_MAX: AtomicU32 = AtomicU32::new(PID_MAX_DEFAULT);

pub struct PidMap {
    bits: Vec<u64>,
    last: u32,
    pub nr_allocated: u32,
}

impl Default for PidMap {
    fn default() -> Self {
        Self::new()
    }
}

impl PidMap {
    pub const fn new() -> Self {
        PidMap {
            bits: Vec::new(),
            last: 0,
            nr_allocated: 0,
        }
    }

    fn test(&self, pid: u32) -> bool {
        self.bits
            .get(pid as usize / 64)
            .is_some_and(|w| w & (1 << (pid % 64)) != 0)
    }

    fn set(&mut self, pid: u32, on: bool) {
        let word = pid as usize / 64;
        if word >= self.bits.len() {
            self.bits.resize(word + 1, 0);
        }
        if on {
            self.bits[word] |= 1 << (pid % 64);
        } else {
            self.bits[word] &= !(1 << (pid % 64));
        }
    }

    /// The next free PID after the last one, below `max`; None when all are taken.
    pub fn alloc(&mut self, max: u32) -> Option<u32> {
        let max = max.clamp(RESERVED_PIDS + 1, PID_MAX_LIMIT);
        let words = (max as usize).div_ceil(64);
        if self.bits.len() < words {
            self.bits.resize(words, 0);
        }
        let first = if self.last + 1 < max {
            self.last + 1
        } else {
            RESERVED_PIDS
        };
        for (lo, hi) in [(first, max), (RESERVED_PIDS.min(first), first)] {
            if let Some(pid) = self.scan(lo, hi) {
                self.set(pid, true);
                self.last = pid;
                self.nr_allocated += 1;
                return Some(pid);
            }
        }
        None
    }

    fn scan(&self, lo: u32, hi: u32) -> Option<u32> {
        let mut pid = lo.max(1);
        while pid < hi {
            if self.bits[pid as usize / 64] == u64::MAX {
                pid = (pid / 64 + 1) * 64;
                continue;
            }
            if !self.test(pid) {
                return Some(pid);
            }
            pid += 1;
        }
        None
    }

    pub fn free(&mut self, pid: u32) {
        if self.test(pid) {
            self.set(pid, false);
            self.nr_allocated -= 1;
        }
    }

    /// The PID handed out last (/proc/loadavg's last field).
    pub fn last(&self) -> u32 {
        self.last
    }
}

pub fn pid_max() -> u32 {
    PID_MAX.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_in_order_then_wraps_past_reserved() {
        let mut m = PidMap::new();
        assert_eq!(m.alloc(400), Some(1));
        assert_eq!(m.alloc(400), Some(2));
        for _ in 3..400 {
            m.alloc(400).unwrap();
        }
        assert_eq!(m.alloc(400), None, "all of 1..400 taken");
        m.free(2);
        m.free(350);
        // Wraps to RESERVED_PIDS, not to 2.
        assert_eq!(m.alloc(400), Some(350));
        assert_eq!(m.alloc(400), None);
    }

    #[test]
    fn cyclic_not_lowest_free() {
        let mut m = PidMap::new();
        let a = m.alloc(32768).unwrap();
        let b = m.alloc(32768).unwrap();
        m.free(a);
        let c = m.alloc(32768).unwrap();
        assert!(c > b, "reuses only after wrap");
    }
}
