//! Character-device numbers to drivers (Linux's fs/char_dev.c `chrdev_open`), and the
//! table of devices devtmpfs creates nodes for.

use alloc::sync::Arc;

use super::file::FileOps;
use super::inode::{major, minor};
use crate::kernel::errno::*;

pub const MEM_MAJOR: u32 = 1;
pub const TTY_MAJOR: u32 = 4;
pub const TTYAUX_MAJOR: u32 = 5;
pub const HVC_MAJOR: u32 = 229;

/// Every device node devtmpfs makes at boot: name, mode, major, minor (Linux's numbers).
pub const DEVICES: &[(&str, u32, u32, u32)] = &[
    ("null", 0o666, MEM_MAJOR, 3),
    ("zero", 0o666, MEM_MAJOR, 5),
    ("full", 0o666, MEM_MAJOR, 7),
    ("random", 0o666, MEM_MAJOR, 8),
    ("urandom", 0o666, MEM_MAJOR, 9),
    ("kmsg", 0o644, MEM_MAJOR, 11),
    ("tty", 0o666, TTYAUX_MAJOR, 0),
    ("console", 0o600, TTYAUX_MAJOR, 1),
    ("ttyS0", 0o660, TTY_MAJOR, 64),
    ("hvc0", 0o600, HVC_MAJOR, 0),
];

/// Open the driver behind device number `rdev`; `ENXIO` for a number nothing drives.
pub fn chrdev_open(rdev: u64, flags: u32) -> KResult<Arc<dyn FileOps>> {
    match (major(rdev), minor(rdev)) {
        (MEM_MAJOR, m) => crate::drivers::char::mem::open(m),
        (TTYAUX_MAJOR, 0 | 1) | (TTY_MAJOR, 64) | (HVC_MAJOR, 0) => {
            crate::drivers::tty::tty_open(rdev, flags)
        }
        _ => Err(ENXIO),
    }
}
