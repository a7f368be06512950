//! Fast user-space mutexes (Linux's kernel/futex/): sleep on a user address until another
//! thread wakes it. Keys are (address space, address), so private and process-local shared
//! futexes work; cross-process shared futexes on MAP_SHARED memory are keyed the same way and
//! therefore only meet within one address space (noted limitation).

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use spin::Mutex;

use crate::kernel::errno::*;
use crate::kernel::task::{current, current_arc, Task, TASK_INTERRUPTIBLE, TASK_RUNNING};
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
const FUTEX_BITSET_MATCH_ANY: u32 = u32::MAX;

type Key = (usize, u64);

struct Waiter {
    key: Key,
    bitset: u32,
    task: Arc<Task>,
    woken: AtomicBool,
}

const BUCKETS: usize = 64;
static QUEUES: [Mutex<Vec<Arc<Waiter>>>; BUCKETS] = [const { Mutex::new(Vec::new()) }; BUCKETS];

fn key_of(uaddr: u64) -> Key {
    let mm = current().mm().map_or(0, |m| Arc::as_ptr(&m) as usize);
    (mm, uaddr)
}

fn bucket(key: &Key) -> &'static Mutex<Vec<Arc<Waiter>>> {
    let h = (key.1 >> 2) ^ (key.0 as u64 >> 6);
    &QUEUES[(h as usize) % BUCKETS]
}

fn futex_wait(uaddr: u64, val: u32, deadline: Option<u64>, bitset: u32) -> KResult<i64> {
    if !uaddr.is_multiple_of(4) {
        return Err(EINVAL);
    }
    if bitset == 0 {
        return Err(EINVAL);
    }
    let key = key_of(uaddr);
    let me = current();
    let w = Arc::new(Waiter {
        key,
        bitset,
        task: current_arc(),
        woken: AtomicBool::new(false),
    });
    {
        let mut q = bucket(&key).lock();
        let cur: u32 = read_user(uaddr)?;
        if cur != val {
            return Err(EAGAIN);
        }
        q.push(w.clone());
        me.state.store(TASK_INTERRUPTIBLE, Ordering::SeqCst);
    }
    let timer = deadline.map(|d| {
        let t = current_arc();
        crate::kernel::timer::Hrtimer::start(d, move || {
            crate::sched::wake_up_state(&t, TASK_INTERRUPTIBLE);
        })
    });
    let result = loop {
        if w.woken.load(Ordering::Acquire) {
            break Ok(0);
        }
        if crate::kernel::signal::signal_pending(me) {
            break Err(ERESTARTSYS);
        }
        if deadline.is_some_and(|d| crate::arch::tsc::ns_since_boot() >= d) {
            break Err(ETIMEDOUT);
        }
        crate::sched::schedule();
        me.state.store(TASK_INTERRUPTIBLE, Ordering::SeqCst);
    };
    me.state.store(TASK_RUNNING, Ordering::SeqCst);
    if let Some(t) = timer {
        let _ = t.cancel();
    }
    if result.is_err() {
        let mut q = bucket(&key).lock();
        q.retain(|x| !Arc::ptr_eq(x, &w));
        // Woken while giving up: the wake counts, report success.
        if w.woken.load(Ordering::Acquire) {
            return Ok(0);
        }
    }
    result
}

fn wake_key(key: Key, nr: usize, bitset: u32) -> usize {
    let mut q = bucket(&key).lock();
    let mut woken = 0;
    q.retain(|w| {
        if woken < nr && w.key == key && w.bitset & bitset != 0 {
            w.woken.store(true, Ordering::Release);
            crate::sched::wake_up_state(&w.task, TASK_INTERRUPTIBLE);
            woken += 1;
            false
        } else {
            true
        }
    });
    woken
}

/// Wake up to `nr` waiters on `uaddr` in the current address space (CLONE_CHILD_CLEARTID).
pub fn futex_wake_addr(uaddr: u64, nr: usize) -> usize {
    wake_key(key_of(uaddr), nr, FUTEX_BITSET_MATCH_ANY)
}

/// FUTEX_(CMP_)REQUEUE: wake `nr_wake` waiters and "move" up to `nr_requeue` more to the
/// second futex. We wake those too instead of moving them: a waiter re-checks its futex word
/// in user space and the ABI allows spurious wake-ups, so it only costs them a trip round
/// their loop.
fn futex_requeue(uaddr: u64, nr_wake: usize, nr_requeue: usize, cmp: Option<u32>) -> KResult<i64> {
    if let Some(v) = cmp {
        let cur: u32 = read_user(uaddr)?;
        if cur != v {
            return Err(EAGAIN);
        }
    }
    let n = wake_key(
        key_of(uaddr),
        nr_wake.saturating_add(nr_requeue),
        FUTEX_BITSET_MATCH_ANY,
    );
    Ok(n as i64)
}

fn futex_wake_op(uaddr: u64, nr: usize, nr2: usize, uaddr2: u64, op: u32) -> KResult<i64> {
    let encoded_op = op;
    let opcode = (encoded_op >> 28) & 7;
    let cmp = (encoded_op >> 24) & 15;
    let mut oparg = ((encoded_op << 8) as i32 >> 20) as u32;
    let cmparg = ((encoded_op << 20) as i32 >> 20) as u32;
    if encoded_op & (8 << 28) != 0 {
        oparg = 1u32.checked_shl(oparg).unwrap_or(0);
    }
    let old: u32 = read_user(uaddr2)?;
    let new = match opcode {
        0 => oparg,
        1 => old.wrapping_add(oparg),
        2 => old | oparg,
        3 => old & !oparg,
        4 => old ^ oparg,
        _ => return Err(ENOSYS),
    };
    crate::mm::usercopy::write_user(uaddr2, &new)?;
    let mut woken = wake_key(key_of(uaddr), nr, FUTEX_BITSET_MATCH_ANY);
    let hit = match cmp {
        0 => old == cmparg,
        1 => old != cmparg,
        2 => (old as i32) < cmparg as i32,
        3 => (old as i32) <= cmparg as i32,
        4 => (old as i32) > cmparg as i32,
        5 => (old as i32) >= cmparg as i32,
        _ => return Err(ENOSYS),
    };
    if hit {
        woken += wake_key(key_of(uaddr2), nr2, FUTEX_BITSET_MATCH_ANY);
    }
    Ok(woken as i64)
}

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
    let realtime = op & FUTEX_CLOCK_REALTIME != 0;
    match cmd {
        FUTEX_WAIT => {
            let d = timeout_deadline(timeout, false, false)?;
            futex_wait(uaddr, val as u32, d, FUTEX_BITSET_MATCH_ANY)
        }
        FUTEX_WAIT_BITSET => {
            let d = timeout_deadline(timeout, true, realtime)?;
            futex_wait(uaddr, val as u32, d, val3 as u32)
        }
        FUTEX_WAKE => Ok(wake_key(key_of(uaddr), val as usize, FUTEX_BITSET_MATCH_ANY) as i64),
        FUTEX_WAKE_BITSET => {
            if val3 as u32 == 0 {
                return Err(EINVAL);
            }
            Ok(wake_key(key_of(uaddr), val as usize, val3 as u32) as i64)
        }
        FUTEX_REQUEUE => futex_requeue(uaddr, val as usize, timeout as usize, None),
        FUTEX_CMP_REQUEUE => {
            futex_requeue(uaddr, val as usize, timeout as usize, Some(val3 as u32))
        }
        FUTEX_WAKE_OP => futex_wake_op(uaddr, val as usize, timeout as usize, uaddr2, val3 as u32),
        _ => Err(ENOSYS),
    }
}
