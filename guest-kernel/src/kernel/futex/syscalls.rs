//! The `futex` system call (Linux's kernel/futex/syscalls.c): decode the operation, its flags
//! and its timeout, and dispatch.

use super::requeue::futex_requeue;
use super::waitwake::{futex_wait, futex_wake, futex_wake_op, FUTEX_BITSET_MATCH_ANY};
use crate::kernel::errno::*;
use crate::mm::usercopy::read_user;

const FUTEX_WAIT: u64 = 0;
const FUTEX_WAKE: u64 = 1;
const FUTEX_REQUEUE: u64 = 3;
const FUTEX_CMP_REQUEUE: u64 = 4;
const FUTEX_WAKE_OP: u64 = 5;
const FUTEX_WAIT_BITSET: u64 = 9;
const FUTEX_WAKE_BITSET: u64 = 10;
const FUTEX_PRIVATE_FLAG: u64 = 128;
const FUTEX_CLOCK_REALTIME: u64 = 256;

/// The wake-up time of a wait, in ns since boot: `timeout` is relative for FUTEX_WAIT and an
/// absolute time of CLOCK_MONOTONIC (or CLOCK_REALTIME) for FUTEX_WAIT_BITSET.
fn timeout_deadline(timeout: u64, absolute: bool, realtime: bool) -> KResult<Option<u64>> {
    if timeout == 0 {
        return Ok(None);
    }
    let ts: [i64; 2] = read_user(timeout)?;
    if ts[0] < 0 || !(0..1_000_000_000).contains(&ts[1]) {
        return Err(EINVAL);
    }
    let ns = (ts[0] as u64).saturating_mul(1_000_000_000) + ts[1] as u64;
    let now = crate::arch::tsc::ns_since_boot();
    Ok(Some(if absolute {
        if realtime {
            ns.saturating_sub(crate::kernel::time::realtime_offset_ns())
        } else {
            ns
        }
    } else {
        now.saturating_add(ns)
    }))
}

pub fn sys_futex(
    uaddr: u64,
    op: u64,
    val: u64,
    timeout: u64,
    uaddr2: u64,
    val3: u64,
) -> KResult<i64> {
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    let shared = op & FUTEX_PRIVATE_FLAG == 0;
    let realtime = op & FUTEX_CLOCK_REALTIME != 0;
    if realtime && cmd != FUTEX_WAIT_BITSET {
        return Err(ENOSYS);
    }
    // Counts are C ints; the requeue count travels in the timeout argument.
    let (nr, nr2) = (val as i32, timeout as i32);
    match cmd {
        FUTEX_WAIT => {
            let d = timeout_deadline(timeout, false, false)?;
            futex_wait(uaddr, shared, val as u32, d, FUTEX_BITSET_MATCH_ANY)
        }
        FUTEX_WAIT_BITSET => {
            let d = timeout_deadline(timeout, true, realtime)?;
            futex_wait(uaddr, shared, val as u32, d, val3 as u32)
        }
        FUTEX_WAKE => futex_wake(uaddr, shared, nr, FUTEX_BITSET_MATCH_ANY),
        FUTEX_WAKE_BITSET => futex_wake(uaddr, shared, nr, val3 as u32),
        FUTEX_REQUEUE => futex_requeue(uaddr, shared, uaddr2, nr, nr2, None),
        FUTEX_CMP_REQUEUE => futex_requeue(uaddr, shared, uaddr2, nr, nr2, Some(val3 as u32)),
        FUTEX_WAKE_OP => futex_wake_op(uaddr, shared, nr, nr2, uaddr2, val3 as u32),
        _ => Err(ENOSYS),
    }
}
