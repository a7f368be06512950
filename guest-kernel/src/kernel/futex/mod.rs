//! Fast user-space mutexes (Linux's kernel/futex/): sleep on a user word until another thread
//! or process wakes it.
//!
//! A futex is known by its key (Linux's `futex_key`), not by its address:
//! - FUTEX_PRIVATE_FLAG: (address space, address). Threads of one process meet there.
//! - otherwise, on shared memory (MAP_SHARED, backed by a shmem object): (object, byte offset),
//!   so processes that map the object meet wherever each maps it (a parent and its forked
//!   child, or two mappings of one object).
//! - otherwise, on private memory: (address space, address) again, but a key of its own kind,
//!   which a private-flag futex at the same address never matches (Linux's `FUT_OFF_MMSHARED`).
//!
//! Sleepers wait in hash buckets by key, in arrival order. A requeue moves sleepers to another
//! key, and so to another bucket: a sleeper records its bucket (Linux's `lock_ptr`), which
//! changes only with both buckets locked, and looks again after locking it.
//!
//! This file holds the keys and the queue operations, plain logic tested on the host;
//! `waitwake.rs` (wait, wake, wake-op), `requeue.rs` and `syscalls.rs` are the kernel's side.

use alloc::vec::Vec;

#[cfg(not(test))]
mod requeue;
#[cfg(not(test))]
pub mod robust;
#[cfg(not(test))]
mod syscalls;
#[cfg(not(test))]
mod waitwake;

#[cfg(not(test))]
pub use syscalls::sys_futex;
#[cfg(not(test))]
pub use waitwake::futex_wake_addr;

/// Hash buckets of sleepers.
pub const FUTEX_HASH_SIZE: usize = 64;

/// What a futex is, wherever it is mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FutexKey {
    /// FUTEX_PRIVATE_FLAG: `addr` in the address space `mm` (an identity, not a pointer).
    Private { mm: usize, addr: u64 },
    /// A shared futex on private memory: `addr` in `mm`, a key apart from `Private`.
    MmShared { mm: usize, addr: u64 },
    /// A shared futex on shared memory: byte `offset` of memory object `ino`.
    Shared { ino: u64, offset: u64 },
}

impl FutexKey {
    /// The key of a shared futex at `addr` in a mapping of object `ino` that starts at
    /// `vm_start`, `vm_pgoff` pages into the object.
    pub fn shared(ino: u64, vm_start: u64, vm_pgoff: u64, addr: u64) -> FutexKey {
        FutexKey::Shared {
            ino,
            offset: vm_pgoff * 4096 + (addr - vm_start),
        }
    }

    /// The bucket its sleepers wait in.
    pub fn hash(&self) -> usize {
        let (a, b) = match *self {
            FutexKey::Private { mm, addr } => (mm as u64, addr),
            FutexKey::MmShared { mm, addr } => (mm as u64 ^ 1, addr),
            FutexKey::Shared { ino, offset } => (ino.wrapping_mul(0x9e37_79b9_7f4a_7c15), offset),
        };
        let h = (b >> 2) ^ (a >> 6) ^ (a >> 32);
        (h as usize) % FUTEX_HASH_SIZE
    }
}

/// One sleeper as its bucket holds it (Linux's `futex_q`).
pub struct FutexQ<W> {
    pub key: FutexKey,
    pub waiter: W,
}

/// A bucket's sleepers, oldest first.
pub type Bucket<W> = Vec<FutexQ<W>>;

/// Take from `bucket`, oldest first, up to `nr` sleepers on `key` that `wanted` accepts (the
/// bitset test of FUTEX_WAKE_BITSET).
pub fn take_waiters<W>(
    bucket: &mut Bucket<W>,
    key: &FutexKey,
    nr: usize,
    wanted: impl Fn(&W) -> bool,
) -> Vec<W> {
    let mut taken = Vec::new();
    let mut i = 0;
    while i < bucket.len() && taken.len() < nr {
        if bucket[i].key == *key && wanted(&bucket[i].waiter) {
            taken.push(bucket.remove(i).waiter);
        } else {
            i += 1;
        }
    }
    taken
}

/// The queue half of FUTEX_(CMP_)REQUEUE, on locked buckets (`to` is None when both keys
/// hash to `from`): the oldest `nr_wake` sleepers on `key1` are taken out to be woken, the
/// next `nr_requeue` move to `key2`, behind its sleepers, and `moved` is told of each (to
/// update its bucket). Returns the sleepers to wake and how many moved. Each sleeper counts
/// once, even when `key2` is `key1` (Linux may count a sleeper moved to its own futex twice).
pub fn requeue_waiters<W>(
    from: &mut Bucket<W>,
    to: Option<&mut Bucket<W>>,
    key1: &FutexKey,
    key2: &FutexKey,
    nr_wake: usize,
    nr_requeue: usize,
    mut moved: impl FnMut(&W),
) -> (Vec<W>, usize) {
    let mut woken = Vec::new();
    let mut requeued = Vec::new();
    let mut i = 0;
    while i < from.len() && woken.len() + requeued.len() < nr_wake + nr_requeue {
        if from[i].key != *key1 {
            i += 1;
            continue;
        }
        let mut q = from.remove(i);
        if woken.len() < nr_wake {
            woken.push(q.waiter);
        } else {
            q.key = *key2;
            moved(&q.waiter);
            requeued.push(q);
        }
    }
    let n = requeued.len();
    to.unwrap_or(from).extend(requeued);
    (woken, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MM: usize = 0xffff_8000_1234_0000;

    fn private(addr: u64) -> FutexKey {
        FutexKey::Private { mm: MM, addr }
    }

    fn bucket(entries: &[(FutexKey, u32)]) -> Bucket<u32> {
        entries
            .iter()
            .map(|&(key, waiter)| FutexQ { key, waiter })
            .collect()
    }

    fn waiters(b: &Bucket<u32>) -> Vec<(FutexKey, u32)> {
        b.iter().map(|q| (q.key, q.waiter)).collect()
    }

    #[test]
    fn keys_of_the_three_kinds_never_match_each_other() {
        let mm_shared = FutexKey::MmShared {
            mm: MM,
            addr: 0x1000,
        };
        assert_ne!(private(0x1000), mm_shared);
        assert_ne!(private(0x1000), private(0x1004));
        // One object mapped at two places, and in two processes: one futex.
        let here = FutexKey::shared(7, 0x7000_0000, 0, 0x7000_1010);
        let there = FutexKey::shared(7, 0x5555_0000, 1, 0x5555_0010);
        assert_eq!(here, there);
        assert_eq!(
            here,
            FutexKey::Shared {
                ino: 7,
                offset: 0x1010
            }
        );
        assert_eq!(here.hash(), there.hash());
        assert_ne!(here, FutexKey::shared(8, 0x7000_0000, 0, 0x7000_1010));
        for k in [private(0x1000), mm_shared, here] {
            assert!(k.hash() < FUTEX_HASH_SIZE);
        }
    }

    #[test]
    fn wake_takes_the_oldest_matching_sleepers_only() {
        let (a, b) = (private(0x1000), private(0x2000));
        let mut q = bucket(&[(a, 1), (b, 2), (a, 3), (a, 4)]);
        assert_eq!(take_waiters(&mut q, &a, 2, |_| true), [1, 3]);
        assert_eq!(waiters(&q), [(b, 2), (a, 4)]);
        // The bitset filter: sleeper 4 is not wanted, so nobody on `a` is taken.
        assert_eq!(take_waiters(&mut q, &a, 5, |&w| w != 4), Vec::<u32>::new());
        assert_eq!(take_waiters(&mut q, &b, 0, |_| true), Vec::<u32>::new());
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn requeue_wakes_some_and_moves_the_next_behind_the_second_futexs_sleepers() {
        let (a, b, c) = (private(0x1000), private(0x2000), private(0x3000));
        let mut from = bucket(&[(a, 1), (c, 2), (a, 3), (a, 4), (a, 5)]);
        let mut to = bucket(&[(b, 9)]);
        let mut moved = Vec::new();
        let (woken, n) =
            requeue_waiters(&mut from, Some(&mut to), &a, &b, 1, 2, |&w| moved.push(w));
        assert_eq!((woken, n), (vec![1], 2));
        assert_eq!(moved, [3, 4]);
        assert_eq!(waiters(&from), [(c, 2), (a, 5)]);
        assert_eq!(waiters(&to), [(b, 9), (b, 3), (b, 4)]);
    }

    #[test]
    fn requeue_within_one_bucket_and_onto_the_same_futex_counts_each_sleeper_once() {
        let (a, b) = (private(0x1000), private(0x2000));
        let mut q = bucket(&[(a, 1), (a, 2), (b, 3)]);
        let (woken, n) = requeue_waiters(&mut q, None, &a, &b, 0, 10, |_| {});
        assert_eq!((woken.len(), n), (0, 2));
        assert_eq!(waiters(&q), [(b, 3), (b, 1), (b, 2)]);
        let (woken, n) = requeue_waiters(&mut q, None, &b, &b, 1, 10, |_| {});
        assert_eq!((woken, n), (vec![3], 2));
        assert_eq!(waiters(&q), [(b, 1), (b, 2)]);
        // Nothing to do: nothing happens.
        let (woken, n) = requeue_waiters(&mut q, None, &a, &b, 0, 0, |_| panic!("moved"));
        assert_eq!((woken.len(), n), (0, 0));
    }
}
