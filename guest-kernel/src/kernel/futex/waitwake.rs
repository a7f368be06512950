//! FUTEX_WAIT, FUTEX_WAKE and FUTEX_WAKE_OP (Linux's kernel/futex/waitwake.c), the futex keys
//! of user addresses (`get_futex_key`) and the hash buckets.
//!
//! Lock order: a bucket (two in index order), then the scheduler's locks (waking). The futex
//! word is read with the bucket locked, so a waker that changes the word and then wakes
//! cannot slip between a sleeper's check and its queueing.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use spin::{Mutex, MutexGuard};

use super::{take_waiters, Bucket, FutexKey, FutexQ, FUTEX_HASH_SIZE};
use crate::kernel::errno::*;
use crate::kernel::task::{current, current_arc, TaskRef, TASK_INTERRUPTIBLE, TASK_RUNNING};
use crate::mm::usercopy::{access_ok, read_user, write_user};
use crate::mm::vma::VM_MAYSHARE;

pub(super) const FUTEX_BITSET_MATCH_ANY: u32 = u32::MAX;

/// A sleeping task.
pub(super) struct Waiter {
    bitset: u32,
    task: TaskRef,
    /// Set, with its bucket locked, by whoever takes it out of the queue to wake it.
    woken: AtomicBool,
    /// The bucket it waits in; changed by a requeue, with both buckets locked.
    bucket: AtomicUsize,
}

impl Waiter {
    /// Moved to bucket `b` by a requeue.
    pub(super) fn moved_to(&self, b: usize) {
        self.bucket.store(b, Ordering::Release);
    }
}

pub(super) type Queue = Bucket<Arc<Waiter>>;

static QUEUES: [Mutex<Queue>; FUTEX_HASH_SIZE] =
    [const { Mutex::new(Vec::new()) }; FUTEX_HASH_SIZE];

/// The key of the futex at `uaddr` for the current task (Linux's `get_futex_key`): private
/// futexes by address; shared ones by the memory object under a shared mapping, else by
/// address, as a key of the shared kind.
pub(super) fn get_futex_key(uaddr: u64, shared: bool) -> KResult<FutexKey> {
    if !uaddr.is_multiple_of(4) {
        return Err(EINVAL);
    }
    let mm = current().mm();
    let id = mm.as_ref().map_or(0, |m| Arc::as_ptr(m) as usize);
    if !shared {
        if !access_ok(uaddr, 4) {
            return Err(EFAULT);
        }
        return Ok(FutexKey::Private {
            mm: id,
            addr: uaddr,
        });
    }
    let mm = mm.ok_or(EFAULT)?;
    let mm = mm.lock();
    let vma = mm.vmas.vma_lookup(uaddr).ok_or(EFAULT)?;
    Ok(match &vma.file {
        Some(file) if vma.flags & VM_MAYSHARE != 0 => {
            FutexKey::shared(file.ino, vma.start, vma.pgoff, uaddr)
        }
        _ => FutexKey::MmShared {
            mm: id,
            addr: uaddr,
        },
    })
}

/// The bucket of `key`, locked.
pub(super) fn lock_bucket(key: &FutexKey) -> MutexGuard<'static, Queue> {
    QUEUES[key.hash()].lock()
}

/// Lock the buckets of two keys (Linux's `double_lock_hb`): the second is None when both
/// hash to the first. Locked in index order, so two CPUs locking the same pair can't deadlock.
pub(super) fn double_lock_hb(
    b1: usize,
    b2: usize,
) -> (
    MutexGuard<'static, Queue>,
    Option<MutexGuard<'static, Queue>>,
) {
    if b1 == b2 {
        (QUEUES[b1].lock(), None)
    } else if b1 < b2 {
        let first = QUEUES[b1].lock();
        (first, Some(QUEUES[b2].lock()))
    } else {
        let second = QUEUES[b2].lock();
        (QUEUES[b1].lock(), Some(second))
    }
}

/// Wake sleepers taken out of their bucket, which is still locked (Linux's `futex_wake_mark`).
pub(super) fn wake_waiters(woken: Vec<Arc<Waiter>>) -> usize {
    for w in &woken {
        w.woken.store(true, Ordering::Release);
        crate::sched::wake_up_state(&w.task, TASK_INTERRUPTIBLE);
    }
    woken.len()
}

/// Take a sleeper that gave up out of whatever bucket it is in now (Linux's
/// `futex_unqueue`); false if it was not queued any more, i.e. it was woken.
fn futex_unqueue(w: &Arc<Waiter>) -> bool {
    loop {
        let b = w.bucket.load(Ordering::Acquire);
        let mut q = QUEUES[b].lock();
        if w.bucket.load(Ordering::Acquire) != b {
            // Requeued while we waited for the lock.
            continue;
        }
        return match q.iter().position(|e| Arc::ptr_eq(&e.waiter, w)) {
            Some(i) => {
                q.remove(i);
                true
            }
            None => false,
        };
    }
}

/// FUTEX_WAIT(_BITSET): sleep on `uaddr` if it still holds `val`, until woken (here or, once
/// requeued, on another futex), a signal, or `deadline` (ns since boot).
pub(super) fn futex_wait(
    uaddr: u64,
    shared: bool,
    val: u32,
    deadline: Option<u64>,
    bitset: u32,
) -> KResult<i64> {
    if bitset == 0 {
        return Err(EINVAL);
    }
    let key = get_futex_key(uaddr, shared)?;
    let me = current();
    let w = Arc::new(Waiter {
        bitset,
        task: current_arc(),
        woken: AtomicBool::new(false),
        bucket: AtomicUsize::new(key.hash()),
    });
    {
        let mut q = lock_bucket(&key);
        let cur: u32 = read_user(uaddr)?;
        if cur != val {
            return Err(EAGAIN);
        }
        q.push(FutexQ {
            key,
            waiter: w.clone(),
        });
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
    // Woken while giving up: the wake counts, report success.
    if result.is_err() && !futex_unqueue(&w) {
        return Ok(0);
    }
    result
}

/// Wake up to `nr` sleepers on `key` whose bitset meets `bitset`. Like Linux, at least one:
/// FUTEX_WAKE with 0 wakes one.
fn wake_key(key: &FutexKey, nr: i32, bitset: u32) -> usize {
    let mut q = lock_bucket(key);
    let woken = take_waiters(&mut q, key, nr.max(1) as usize, |w| w.bitset & bitset != 0);
    wake_waiters(woken)
}

/// FUTEX_WAKE(_BITSET).
pub(super) fn futex_wake(uaddr: u64, shared: bool, nr: i32, bitset: u32) -> KResult<i64> {
    if bitset == 0 {
        return Err(EINVAL);
    }
    let key = get_futex_key(uaddr, shared)?;
    Ok(wake_key(&key, nr, bitset) as i64)
}

/// Wake one sleeper on the current task's `uaddr` (CLONE_CHILD_CLEARTID at exit; Linux wakes
/// it as a shared futex).
pub fn futex_wake_addr(uaddr: u64, nr: i32) -> usize {
    get_futex_key(uaddr, true).map_or(0, |key| wake_key(&key, nr, FUTEX_BITSET_MATCH_ANY))
}

/// FUTEX_WAKE_OP: apply the encoded operation to `*uaddr2`, wake up to `nr` sleepers on
/// `uaddr`, and, if the old value of `*uaddr2` passes the encoded comparison, up to `nr2` on
/// `uaddr2`. The operation is done with both buckets locked, but not as one atomic
/// instruction on the user word.
pub(super) fn futex_wake_op(
    uaddr: u64,
    shared: bool,
    nr: i32,
    nr2: i32,
    uaddr2: u64,
    encoded_op: u32,
) -> KResult<i64> {
    let opcode = (encoded_op >> 28) & 7;
    let cmp = (encoded_op >> 24) & 15;
    let mut oparg = ((encoded_op << 8) as i32 >> 20) as u32;
    let cmparg = ((encoded_op << 20) as i32 >> 20) as u32;
    if encoded_op & (8 << 28) != 0 {
        oparg = 1 << (oparg & 31);
    }
    let key1 = get_futex_key(uaddr, shared)?;
    let key2 = get_futex_key(uaddr2, shared)?;
    let (mut q1, mut q2) = double_lock_hb(key1.hash(), key2.hash());
    let old: u32 = read_user(uaddr2)?;
    let new = match opcode {
        0 => oparg,
        1 => old.wrapping_add(oparg),
        2 => old | oparg,
        3 => old & !oparg,
        4 => old ^ oparg,
        _ => return Err(ENOSYS),
    };
    let hit = match cmp {
        0 => old == cmparg,
        1 => old != cmparg,
        2 => (old as i32) < cmparg as i32,
        3 => (old as i32) <= cmparg as i32,
        4 => (old as i32) > cmparg as i32,
        5 => (old as i32) >= cmparg as i32,
        _ => return Err(ENOSYS),
    };
    write_user(uaddr2, &new)?;
    // No bitset test here, as in Linux.
    let mut woken = wake_waiters(take_waiters(&mut q1, &key1, nr.max(1) as usize, |_| true));
    if hit {
        let q = q2.as_deref_mut().unwrap_or(&mut q1);
        woken += wake_waiters(take_waiters(q, &key2, nr2.max(1) as usize, |_| true));
    }
    Ok(woken as i64)
}
