//! The evaluation of one `semop` call on a semaphore set (the pure half of Linux's
//! ipc/sem.c: `perform_atomic_semop`): all operations happen or none, in order, on the
//! values as the earlier operations of the same call left them. Host-tested.

#![deny(unsafe_code)]

use crate::kernel::errno::*;

/// Largest semaphore value, and largest undo adjustment (`SEMVMX`, `SEMAEM`).
pub const SEMVMX: i32 = 32767;
pub const SEMAEM: i32 = SEMVMX;
pub const SEM_UNDO: i16 = 0x1000;
/// IPC_NOWAIT as a `sem_flg` bit.
pub const SEM_NOWAIT: i16 = 0o4000;

/// `struct sembuf`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Sembuf {
    pub num: u16,
    pub op: i16,
    pub flg: i16,
}

/// Why a call cannot complete yet: the operation that would block, on semaphore `num`,
/// waits for zero (`zero`) or for the value to grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocked {
    pub num: u16,
    pub zero: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum SemopOutcome {
    /// Applied to the values.
    Done,
    /// Nothing changed; sleep and try again (or EAGAIN for IPC_NOWAIT, decided here).
    Blocked(Blocked),
}

/// Apply `sops` to `vals` atomically. `adj` is the caller's undo adjustments for the set, if
/// it has any yet: an operation with SEM_UNDO whose adjustment would leave the range fails
/// with ERANGE, like a result above SEMVMX. An operation that would block fails with EAGAIN
/// if it has IPC_NOWAIT. On success the SEM_UNDO adjustments are made in `adj`.
pub fn perform_atomic_semop(
    vals: &mut [i32],
    sops: &[Sembuf],
    adj: Option<&mut [i32]>,
) -> KResult<SemopOutcome> {
    let mut tmp: alloc::vec::Vec<i32> = vals.to_vec();
    for sop in sops {
        let v = &mut tmp[sop.num as usize];
        let op = sop.op as i32;
        let blocked = match op {
            0 => *v != 0,
            _ => *v + op < 0,
        };
        if blocked {
            if sop.flg & SEM_NOWAIT != 0 {
                return Err(EAGAIN);
            }
            return Ok(SemopOutcome::Blocked(Blocked {
                num: sop.num,
                zero: op == 0,
            }));
        }
        *v += op;
        if *v > SEMVMX {
            return Err(ERANGE);
        }
        if sop.flg & SEM_UNDO != 0 {
            let cur = adj.as_deref().map_or(0, |a| a[sop.num as usize]);
            let undo = cur - op;
            if !(-SEMAEM - 1..=SEMAEM).contains(&undo) {
                return Err(ERANGE);
            }
        }
    }
    vals.copy_from_slice(&tmp);
    if let Some(adj) = adj {
        for sop in sops.iter().filter(|s| s.flg & SEM_UNDO != 0) {
            adj[sop.num as usize] -= sop.op as i32;
        }
    }
    Ok(SemopOutcome::Done)
}

/// Apply an exiting process's adjustments (`exit_sem`): each value moves by its
/// adjustment, clamped to `0..=SEMVMX` as Linux does.
pub fn apply_undo(vals: &mut [i32], adj: &[i32]) {
    for (v, a) in vals.iter_mut().zip(adj) {
        *v = (*v + a).clamp(0, SEMVMX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(num: u16, op: i16, flg: i16) -> Sembuf {
        Sembuf { num, op, flg }
    }

    #[test]
    fn operations_apply_all_or_nothing() {
        let mut v = [1, 0];
        assert_eq!(
            perform_atomic_semop(&mut v, &[op(0, -1, 0), op(1, -1, 0)], None),
            Ok(SemopOutcome::Blocked(Blocked {
                num: 1,
                zero: false
            }))
        );
        assert_eq!(v, [1, 0]);
        assert_eq!(
            perform_atomic_semop(&mut v, &[op(1, 2, 0), op(0, -1, 0), op(1, -1, 0)], None),
            Ok(SemopOutcome::Done)
        );
        assert_eq!(v, [0, 1]);
    }

    #[test]
    fn wait_for_zero_blocks_until_the_value_is_zero() {
        let mut v = [2];
        assert_eq!(
            perform_atomic_semop(&mut v, &[op(0, 0, 0)], None),
            Ok(SemopOutcome::Blocked(Blocked { num: 0, zero: true }))
        );
        // Later operations of the same call see the earlier ones' results.
        assert_eq!(
            perform_atomic_semop(&mut v, &[op(0, -2, 0), op(0, 0, 0)], None),
            Ok(SemopOutcome::Done)
        );
        assert_eq!(v, [0]);
    }

    #[test]
    fn nowait_gives_eagain_and_overflow_erange() {
        let mut v = [0];
        assert_eq!(
            perform_atomic_semop(&mut v, &[op(0, -1, SEM_NOWAIT)], None),
            Err(EAGAIN)
        );
        v[0] = SEMVMX;
        assert_eq!(
            perform_atomic_semop(&mut v, &[op(0, 1, 0)], None),
            Err(ERANGE)
        );
        assert_eq!(v, [SEMVMX]);
    }

    #[test]
    fn undo_adjustments_record_the_opposite_and_stay_in_range() {
        let mut v = [0, 5];
        let mut adj = [0, 0];
        let ops = [op(0, 3, SEM_UNDO), op(1, -2, SEM_UNDO)];
        assert_eq!(
            perform_atomic_semop(&mut v, &ops, Some(&mut adj)),
            Ok(SemopOutcome::Done)
        );
        assert_eq!((v, adj), ([3, 3], [-3, 2]));
        apply_undo(&mut v, &adj);
        assert_eq!(v, [0, 5]);
        let mut adj = [SEMAEM, 0];
        let mut v = [SEMVMX, 0];
        assert_eq!(
            perform_atomic_semop(&mut v, &[op(0, -1, SEM_UNDO)], Some(&mut adj)),
            Err(ERANGE)
        );
    }

    #[test]
    fn undo_at_exit_clamps_to_the_value_range() {
        let mut v = [1, SEMVMX];
        apply_undo(&mut v, &[-5, 10]);
        assert_eq!(v, [0, SEMVMX]);
    }
}
