//! Supplementary group lists (Linux's kernel/groups.c). Our credentials carry no supplementary
//! groups, so `getgroups` reports an empty list: `id` then shows only the effective group.

use crate::kernel::errno::*;

/// `getgroups(size, list)`: the number of supplementary groups (none), `EINVAL` for a
/// negative size.
pub fn sys_getgroups(size: u64, _list: u64) -> KResult<i64> {
    if (size as i32) < 0 {
        return Err(EINVAL);
    }
    Ok(0)
}
