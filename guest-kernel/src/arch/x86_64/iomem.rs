//! Memory-mapped device registers (Linux's `ioremap` + `readl`/`writel`).
//!
//! An [`IoMem`] is a window of device registers reached through the direct map; its accessors
//! are volatile 32-bit loads and stores, bounds- and alignment-checked, so drivers above hold no
//! `unsafe` of their own.

use super::phys_to_virt;

#[derive(Clone, Copy)]
pub struct IoMem {
    base: u64,
    len: u64,
}

impl IoMem {
    /// # Safety
    /// `[phys, phys + len)` must be device registers (not RAM the kernel uses) inside the
    /// direct map (the first 4 GiB), valid for 32-bit accesses for as long as the value lives.
    pub const unsafe fn new(phys: u64, len: u64) -> Self {
        IoMem {
            base: phys_to_virt(phys),
            len,
        }
    }

    fn check(&self, offset: u64) -> *mut u32 {
        assert!(
            offset.is_multiple_of(4) && offset + 4 <= self.len,
            "register {offset:#x} outside its window"
        );
        (self.base + offset) as *mut u32
    }

    pub fn readl(&self, offset: u64) -> u32 {
        let reg = self.check(offset);
        // SAFETY: `new`'s contract makes the window device registers; `check` keeps the access
        // inside it and aligned.
        unsafe { reg.read_volatile() }
    }

    pub fn writel(&self, offset: u64, value: u32) {
        let reg = self.check(offset);
        // SAFETY: as for `readl`.
        unsafe { reg.write_volatile(value) }
    }
}
