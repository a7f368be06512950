//! Hanging up the console's open files (Linux's `__tty_hangup` in tty_io.c): when the
//! controlling process exits, every open file of the terminal except those opened through
//! /dev/console (`redirected_tty_write` in Linux, so init's descriptors and the kernel's own
//! output go on) is switched to `hung_up_tty_fops`: read() gives end of file, write() EIO,
//! poll() reports the hang-up, ioctl() fails with EIO. A file opened afterwards is a new one
//! and works normally.
//!
//! Linux keeps `tty->tty_files`; here it is a list of weak references to the open files,
//! pruned as they are closed.

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use spin::Mutex;

use super::TtyFile;
use crate::fs::file::{POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
use crate::kernel::errno::*;

/// The terminal's open files that a hang-up reaches (`tty->tty_files`).
static TTY_FILES: Mutex<Vec<Weak<TtyFile>>> = Mutex::new(Vec::new());

/// Remember a newly opened file (`tty_add_file`), forgetting closed ones.
pub fn tty_add_file(file: &Arc<TtyFile>) {
    let mut files = TTY_FILES.lock();
    files.retain(|f| f.strong_count() > 0);
    files.push(Arc::downgrade(file));
}

/// Hang up every open file of the terminal (`tty_vhangup_session`'s file half), and wake
/// whoever sleeps reading or writing so that they see it.
pub fn tty_vhangup() {
    let files: Vec<Arc<TtyFile>> = core::mem::take(&mut *TTY_FILES.lock())
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    for f in &files {
        f.hung_up.store(true, Ordering::Release);
    }
    super::wake_readers_and_writers();
}

/// `hung_up_tty_poll`: readable and writable (so a caller goes on to read end of file or
/// fail to write), in error, hung up.
pub const HUNG_UP_POLL: u16 = POLLIN | POLLOUT | POLLERR | POLLHUP | POLLRDNORM | POLLWRNORM;

/// `hung_up_tty_ioctl`: ENOTTY for TIOCSPGRP, EIO for everything else.
pub fn hung_up_tty_ioctl(cmd: u32) -> KResult<i64> {
    Err(if cmd == super::tty_ioctl::TIOCSPGRP {
        ENOTTY
    } else {
        EIO
    })
}
