//! FUTEX_REQUEUE and FUTEX_CMP_REQUEUE (Linux's kernel/futex/requeue.c, without the PI
//! variants): wake some sleepers of one futex and move others, still asleep, to a second
//! futex, where a later wake of that futex wakes them. What condition variables are built on:
//! a broadcast wakes one waiter and hands the rest to the mutex instead of waking them all to
//! fight over it.

use super::requeue_waiters;
use super::waitwake::{double_lock_hb, get_futex_key, wake_waiters};
use crate::kernel::errno::*;
use crate::mm::usercopy::read_user;

/// Wake up to `nr_wake` sleepers on `uaddr1` and move up to `nr_requeue` more to `uaddr2`;
/// with `cmpval` (FUTEX_CMP_REQUEUE), only if `*uaddr1` still holds it, else `EAGAIN`. Returns
/// how many were woken or moved, for both operations, as Linux does. Requeueing onto the
/// same futex is allowed (only the PI variant forbids it).
pub(super) fn futex_requeue(
    uaddr1: u64,
    shared: bool,
    uaddr2: u64,
    nr_wake: i32,
    nr_requeue: i32,
    cmpval: Option<u32>,
) -> KResult<i64> {
    if nr_wake < 0 || nr_requeue < 0 {
        return Err(EINVAL);
    }
    let key1 = get_futex_key(uaddr1, shared)?;
    let key2 = get_futex_key(uaddr2, shared)?;
    let (b1, b2) = (key1.hash(), key2.hash());
    let (mut q1, mut q2) = double_lock_hb(b1, b2);
    if let Some(val) = cmpval {
        // Read with both buckets locked: a sleeper can't queue on the old value meanwhile.
        let cur: u32 = read_user(uaddr1)?;
        if cur != val {
            return Err(EAGAIN);
        }
    }
    let (woken, moved) = requeue_waiters(
        &mut q1,
        q2.as_deref_mut(),
        &key1,
        &key2,
        nr_wake as usize,
        nr_requeue as usize,
        |w| w.moved_to(b2),
    );
    Ok((wake_waiters(woken) + moved) as i64)
}
