//! Whose records a ring holds: each `TaskInfo` record names the task the records after it
//! belong to ([`TaskIdentity`]), and a `sched_switch` makes its next task current, as that
//! ring last described it ([`RingTasks`]).

use std::collections::HashMap;

use abi::trace::TaskInfo;

/// Who a CPU's records belong to, from its ring's latest `TaskInfo` record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskIdentity {
    /// The kernel address of the task (`curtask`), 0 before the CPU ran one.
    pub task: u64,
    /// Thread id and thread-group id.
    pub tid: u32,
    pub pid: u32,
    pub uid: u32,
    /// The parent process's id (`curtask->real_parent->pid`).
    pub ppid: u32,
    /// NUL-padded.
    pub comm: [u8; 16],
}

impl TaskIdentity {
    pub(super) fn from_payload(p: &[u8]) -> Option<TaskIdentity> {
        let b = p.get(..std::mem::size_of::<TaskInfo>())?;
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        Some(TaskIdentity {
            task: u64::from_le_bytes(b[0..8].try_into().expect("8 bytes")),
            tid: u32_at(8),
            pid: u32_at(12),
            uid: u32_at(16),
            ppid: u32_at(20),
            comm: b[24..40].try_into().expect("16 bytes"),
        })
    }

    /// The `TaskInfo` payload for `self` (the inverse of `from_payload`), for tests and the
    /// drain benchmark, which play the guest.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(std::mem::size_of::<TaskInfo>());
        b.extend_from_slice(&self.task.to_le_bytes());
        for v in [self.tid, self.pid, self.uid, self.ppid] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&self.comm);
        b
    }
}

/// Whose records a CPU's ring is writing now, and the latest `TaskInfo` it wrote for each
/// thread: a `sched_switch` to a thread the ring described is followed by no `TaskInfo` (see
/// `abi::trace`'s module comment).
#[derive(Debug, Clone, Default)]
pub struct RingTasks {
    pub current: TaskIdentity,
    /// The one before `current`: where a ping-pong of two tasks finds the next one without
    /// a look-up.
    previous: TaskIdentity,
    described: HashMap<u32, TaskIdentity>,
    /// `TaskInfo` records read.
    pub descriptions: u64,
}

impl RingTasks {
    /// Threads one ring remembers at most: a guest that describes more (a hostile one: a
    /// kernel has a few thousand threads) starts over, costing only wrong attributions.
    pub(super) const MAX_DESCRIBED: usize = 1 << 16;

    pub(super) fn describe(&mut self, t: TaskIdentity) {
        if self.described.len() >= Self::MAX_DESCRIBED && !self.described.contains_key(&t.tid) {
            self.described.clear();
        }
        self.descriptions += 1;
        self.described.insert(t.tid, t);
        if self.previous.tid == t.tid {
            self.previous = t;
        }
        self.current = t;
    }

    /// The ring's `sched_switch` to thread `tid` called `comm`: its description, or what the
    /// record says of it until the `TaskInfo` that the guest then writes.
    pub(super) fn switch_to(&mut self, tid: u32, comm: [u8; 16]) {
        if self.previous.tid == tid && self.previous.task != 0 {
            std::mem::swap(&mut self.current, &mut self.previous);
            return;
        }
        let next = match self.described.get(&tid) {
            Some(t) => *t,
            None => TaskIdentity {
                tid,
                pid: tid,
                comm,
                ..TaskIdentity::default()
            },
        };
        self.previous = std::mem::replace(&mut self.current, next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::channel::decode::tests::task_info;
    use crate::trace::channel::decode::Records;

    #[test]
    fn a_guest_describing_endless_threads_is_bounded() {
        let mut cpu = RingTasks::default();
        let mut data = Vec::new();
        for tid in 0..(RingTasks::MAX_DESCRIBED as u32 + 10) {
            data.extend(task_info(tid, b"t"));
        }
        assert_eq!(Records::new(&data, &mut cpu).count(), 0);
        assert!(cpu.described.len() <= RingTasks::MAX_DESCRIBED);
        assert_eq!(cpu.current.tid, RingTasks::MAX_DESCRIBED as u32 + 9);
    }
}
