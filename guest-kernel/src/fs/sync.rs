//! `sync(2)` (Linux's fs/sync.c). The filesystems here keep their data in memory (tmpfs,
//! procfs, devtmpfs), so there is nothing to write back but the console's pending output.

use crate::kernel::errno::KResult;

/// Write everything out (`ksys_sync`).
pub fn ksys_sync() {
    crate::drivers::tty::flush();
}

pub fn sys_sync() -> KResult<i64> {
    ksys_sync();
    Ok(0)
}
