//! Writing file systems back (Linux's fs/sync.c): `sync` and `syncfs`. Every file system here
//! lives in memory (tmpfs, procfs, sysfs, devtmpfs), so there is never anything to write back;
//! the calls check their arguments as Linux does.

use super::read_write::fdget;
use crate::kernel::errno::*;

/// `sync()`: always succeeds.
pub fn sys_sync() -> KResult<i64> {
    Ok(0)
}

/// `syncfs(fd)`: `EBADF` for a bad descriptor (an `O_PATH` one included).
pub fn sys_syncfs(fd: u64) -> KResult<i64> {
    fdget(fd)?;
    Ok(0)
}
