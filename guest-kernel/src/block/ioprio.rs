//! I/O priorities (Linux's block/ioprio.c): `ioprio_set` and `ioprio_get`, per thread,
//! inherited across fork. With no block devices nothing schedules by them yet; they are kept
//! and reported as Linux does, so `ionice` works.
//!
//! A priority is `class << 13 | data`: class NONE (0, the default: derived from the nice
//! value), RT (1, root only), BE (2) or IDLE (3); RT and BE take a level 0..7.

use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use crate::kernel::errno::*;
use crate::kernel::task::{current, Pid, TaskRef};
use crate::kernel::tasklist;

pub const IOPRIO_CLASS_SHIFT: u32 = 13;
pub const IOPRIO_CLASS_NONE: u32 = 0;
pub const IOPRIO_CLASS_RT: u32 = 1;
pub const IOPRIO_CLASS_BE: u32 = 2;
pub const IOPRIO_CLASS_IDLE: u32 = 3;
const IOPRIO_NR_LEVELS: u32 = 8;
const IOPRIO_PRIO_MASK: u32 = (1 << IOPRIO_CLASS_SHIFT) - 1;

const IOPRIO_WHO_PROCESS: u64 = 1;
const IOPRIO_WHO_PGRP: u64 = 2;
const IOPRIO_WHO_USER: u64 = 3;

/// `IOPRIO_DEFAULT` in Linux 6.1: class NONE, level 0.
pub const IOPRIO_DEFAULT: u32 = 0;

fn class(ioprio: u32) -> u32 {
    ioprio >> IOPRIO_CLASS_SHIFT
}

fn data(ioprio: u32) -> u32 {
    ioprio & IOPRIO_PRIO_MASK
}

/// `ioprio_check_cap`: a valid priority the caller may set.
pub fn ioprio_check_cap(ioprio: u32, root: bool) -> KResult<()> {
    match class(ioprio) {
        IOPRIO_CLASS_RT | IOPRIO_CLASS_BE => {
            if class(ioprio) == IOPRIO_CLASS_RT && !root {
                return Err(EPERM);
            }
            if data(ioprio) >= IOPRIO_NR_LEVELS {
                return Err(EINVAL);
            }
        }
        IOPRIO_CLASS_IDLE => {}
        IOPRIO_CLASS_NONE if data(ioprio) == 0 => {}
        _ => return Err(EINVAL),
    }
    Ok(())
}

/// The threads `which`/`who` names (`ESRCH` when none).
fn targets(which: u64, who: u64) -> KResult<Vec<TaskRef>> {
    let me = current();
    let threads_of = |procs: Vec<TaskRef>| -> Vec<TaskRef> {
        procs
            .iter()
            .flat_map(|p| tasklist::thread_group(p))
            .collect()
    };
    let v = match which {
        IOPRIO_WHO_PROCESS if who == 0 => alloc::vec![crate::kernel::task::current_arc()],
        IOPRIO_WHO_PROCESS => alloc::vec![tasklist::find_task(who as Pid).ok_or(ESRCH)?],
        IOPRIO_WHO_PGRP => {
            let g = if who == 0 {
                tasklist::pgid_of(me.tgid)
            } else {
                who as Pid
            };
            threads_of(tasklist::process_group(g))
        }
        IOPRIO_WHO_USER => {
            let uid = if who == 0 {
                me.cred.lock().uid
            } else {
                who as u32
            };
            threads_of(
                tasklist::all_processes()
                    .into_iter()
                    .filter(|t| t.cred.lock().uid == uid && !t.is_kthread())
                    .collect(),
            )
        }
        _ => return Err(EINVAL),
    };
    if v.is_empty() {
        return Err(ESRCH);
    }
    Ok(v)
}

pub fn sys_ioprio_set(which: u64, who: u64, ioprio: u64) -> KResult<i64> {
    let ioprio = ioprio as u32;
    let cred = *current().cred.lock();
    ioprio_check_cap(ioprio, cred.euid == 0)?;
    for t in targets(which, who)? {
        // `set_task_ioprio`: another user's thread needs privilege.
        let tc = *t.cred.lock();
        if cred.euid != 0 && cred.uid != tc.uid && cred.euid != tc.uid {
            return Err(EPERM);
        }
        t.ioprio.store(ioprio, Ordering::Relaxed);
    }
    Ok(0)
}

/// `ioprio_best`: RT before BE before IDLE (NONE counts as BE), then the lower level.
fn ioprio_best(a: u32, b: u32) -> u32 {
    let rank = |p: u32| {
        let c = match class(p) {
            IOPRIO_CLASS_NONE => IOPRIO_CLASS_BE,
            c => c,
        };
        (c, data(p))
    };
    if rank(a) <= rank(b) {
        a
    } else {
        b
    }
}

pub fn sys_ioprio_get(which: u64, who: u64) -> KResult<i64> {
    let best = targets(which, who)?
        .iter()
        .map(|t| t.ioprio.load(Ordering::Relaxed))
        .reduce(ioprio_best)
        .unwrap_or(IOPRIO_DEFAULT);
    Ok(best as i64)
}
