//! Writing file systems back (Linux's fs/sync.c): `sync` and `syncfs`. Every file system here
//! keeps its data in memory (tmpfs, procfs, sysfs, devtmpfs), so there is nothing to write back
//! but the console's pending output; the calls check their arguments as Linux does.

use super::read_write::fdget;
use crate::kernel::errno::*;

/// Write everything out (`ksys_sync`).
pub fn ksys_sync() {
    crate::drivers::tty::flush();
}

/// `sync()`: always succeeds.
pub fn sys_sync() -> KResult<i64> {
    ksys_sync();
    Ok(0)
}

/// `syncfs(fd)`: `EBADF` for a bad descriptor (an `O_PATH` one included).
pub fn sys_syncfs(fd: u64) -> KResult<i64> {
    fdget(fd)?;
    Ok(0)
}
