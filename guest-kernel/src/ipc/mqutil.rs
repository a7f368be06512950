//! The pure half of POSIX message queues (Linux's ipc/mqueue.c): `struct mq_attr`, the
//! attribute checks of `mq_open` (`mq_attr_ok`) and what a queue charges against
//! RLIMIT_MSGQUEUE, the messages ordered by priority (Linux's `msg_tree`: highest priority
//! first, FIFO within one), and the line a queue's file reads as. Host-tested.

#![deny(unsafe_code)]

use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::kernel::errno::*;

/// Priorities are `0..MQ_PRIO_MAX`.
pub const MQ_PRIO_MAX: u32 = 32768;
/// What CAP_SYS_RESOURCE may ask for, whatever the sysctls say.
pub const HARD_MSGMAX: u64 = 65536;
pub const HARD_MSGSIZEMAX: u64 = 16 * 1024 * 1024;
/// The sysctls' floors (`MIN_MSGMAX`, `MIN_MSGSIZEMAX`).
pub const MIN_MSGMAX: u64 = 1;
pub const MIN_MSGSIZEMAX: u64 = 128;
/// `sizeof(struct mq_attr)`: four longs and four reserved ones.
pub const MQ_ATTR_SIZE: usize = 64;
/// `st_size` of a queue file (`FILENT_SIZE`).
pub const FILENT_SIZE: u64 = 80;
/// `sizeof(struct msg_msg)` and `sizeof(struct posix_msg_tree_node)` on x86_64: what Linux
/// charges per message slot and per priority level on top of the text.
const MSG_MSG_SIZE: u64 = 48;
const TREE_NODE_SIZE: u64 = 48;

pub const SIGEV_SIGNAL: i32 = 0;
pub const SIGEV_NONE: i32 = 1;
pub const SIGEV_THREAD: i32 = 2;

/// `struct mq_attr`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MqAttr {
    pub flags: i64,
    pub maxmsg: i64,
    pub msgsize: i64,
    pub curmsgs: i64,
}

impl MqAttr {
    pub fn from_user(b: &[u8; MQ_ATTR_SIZE]) -> Self {
        let long = |i: usize| i64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap());
        MqAttr {
            flags: long(0),
            maxmsg: long(1),
            msgsize: long(2),
            curmsgs: long(3),
        }
    }

    pub fn to_user(self) -> [u8; MQ_ATTR_SIZE] {
        let mut b = [0u8; MQ_ATTR_SIZE];
        for (i, v) in [self.flags, self.maxmsg, self.msgsize, self.curmsgs]
            .iter()
            .enumerate()
        {
            b[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        b
    }
}

/// The sysctl limits a new queue is checked against (`fs.mqueue.msg_max`, `msgsize_max`).
#[derive(Clone, Copy, Debug)]
pub struct MqLimits {
    pub msg_max: u64,
    pub msgsize_max: u64,
}

/// May a queue be made with `attr` (`mq_attr_ok`)? Sizes must be positive and within the
/// sysctls, or for CAP_SYS_RESOURCE within the hard limits; EOVERFLOW if the total would
/// not fit a long.
pub fn mq_attr_ok(attr: &MqAttr, lim: MqLimits, privileged: bool) -> KResult<()> {
    if attr.maxmsg <= 0 || attr.msgsize <= 0 {
        return Err(EINVAL);
    }
    let (maxmsg, msgsize) = (attr.maxmsg as u64, attr.msgsize as u64);
    let (msg_max, msgsize_max) = if privileged {
        (HARD_MSGMAX, HARD_MSGSIZEMAX)
    } else {
        (lim.msg_max, lim.msgsize_max)
    };
    if maxmsg > msg_max || msgsize > msgsize_max {
        return Err(EINVAL);
    }
    maxmsg
        .checked_mul(msgsize)
        .and_then(|t| t.checked_add(tree_size(maxmsg)))
        .filter(|&t| t <= i64::MAX as u64)
        .ok_or(EOVERFLOW)?;
    Ok(())
}

fn tree_size(maxmsg: u64) -> u64 {
    maxmsg * MSG_MSG_SIZE + maxmsg.min(MQ_PRIO_MAX as u64) * TREE_NODE_SIZE
}

/// What a queue of `attr` charges its creator's RLIMIT_MSGQUEUE (`mq_bytes`): the text of a
/// full queue plus the bookkeeping of each slot.
pub fn mq_bytes(attr: &MqAttr) -> u64 {
    let (maxmsg, msgsize) = (attr.maxmsg as u64, attr.msgsize as u64);
    tree_size(maxmsg).saturating_add(maxmsg.saturating_mul(msgsize))
}

/// A queue's messages (`msg_tree`): taken highest priority first, in sending order within a
/// priority.
#[derive(Default)]
pub struct MsgTree {
    by_prio: BTreeMap<u32, VecDeque<Vec<u8>>>,
    count: usize,
    /// Bytes of text queued (`qsize`).
    pub qsize: u64,
}

impl MsgTree {
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Queue a message (`msg_insert`).
    pub fn insert(&mut self, prio: u32, text: Vec<u8>) {
        self.qsize += text.len() as u64;
        self.count += 1;
        self.by_prio.entry(prio).or_default().push_back(text);
    }

    /// Take the oldest message of the highest priority (`msg_get`).
    pub fn get(&mut self) -> Option<(u32, Vec<u8>)> {
        let mut level = self.by_prio.last_entry()?;
        let prio = *level.key();
        let text = level.get_mut().pop_front()?;
        if level.get().is_empty() {
            level.remove();
        }
        self.count -= 1;
        self.qsize -= text.len() as u64;
        Some((prio, text))
    }
}

/// What reading a queue's file gives (`mqueue_read_file`): the bytes queued and the
/// registered notification (`sigev_notify`, its signal if SIGEV_SIGNAL, the owner's pid;
/// zeros without one).
pub fn mqueue_file_line(qsize: u64, notify: Option<(i32, i32, i32)>) -> String {
    let (how, signo, pid) = match notify {
        Some((how, signo, pid)) => (how, if how == SIGEV_SIGNAL { signo } else { 0 }, pid),
        None => (0, 0, 0),
    };
    format!("QSIZE:{qsize:<10} NOTIFY:{how:<5} SIGNO:{signo:<5} NOTIFY_PID:{pid:<6}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIM: MqLimits = MqLimits {
        msg_max: 10,
        msgsize_max: 8192,
    };

    fn attr(maxmsg: i64, msgsize: i64) -> MqAttr {
        MqAttr {
            maxmsg,
            msgsize,
            ..Default::default()
        }
    }

    #[test]
    fn messages_come_out_by_priority_then_in_order() {
        let mut t = MsgTree::default();
        for (prio, text) in [(1, "a"), (5, "b"), (1, "c"), (0, "d"), (5, "e")] {
            t.insert(prio, text.into());
        }
        assert_eq!((t.len(), t.qsize), (5, 5));
        let order: Vec<(u32, Vec<u8>)> = core::iter::from_fn(|| t.get()).collect();
        let want: Vec<(u32, Vec<u8>)> = [(5, "b"), (5, "e"), (1, "a"), (1, "c"), (0, "d")]
            .iter()
            .map(|&(p, s)| (p, s.into()))
            .collect();
        assert_eq!(order, want);
        assert!(t.is_empty());
        assert_eq!(t.qsize, 0);
    }

    #[test]
    fn attributes_are_checked_against_the_sysctls_or_the_hard_limits() {
        assert_eq!(mq_attr_ok(&attr(10, 8192), LIM, false), Ok(()));
        assert_eq!(mq_attr_ok(&attr(0, 1), LIM, false), Err(EINVAL));
        assert_eq!(mq_attr_ok(&attr(1, -1), LIM, true), Err(EINVAL));
        assert_eq!(mq_attr_ok(&attr(11, 1), LIM, false), Err(EINVAL));
        assert_eq!(mq_attr_ok(&attr(1, 8193), LIM, false), Err(EINVAL));
        assert_eq!(mq_attr_ok(&attr(11, 8193), LIM, true), Ok(()));
        assert_eq!(mq_attr_ok(&attr(65537, 1), LIM, true), Err(EINVAL));
        assert_eq!(mq_attr_ok(&attr(1, 16 << 20), LIM, true), Ok(()));
        assert_eq!(mq_attr_ok(&attr(1, (16 << 20) + 1), LIM, true), Err(EINVAL));
    }

    #[test]
    fn a_default_queue_charges_what_linux_charges() {
        // Nine default queues fit the default RLIMIT_MSGQUEUE of 819200 bytes, ten do not.
        let one = mq_bytes(&attr(10, 8192));
        assert_eq!(one, 10 * 8192 + 10 * 96);
        assert!(9 * one <= 819200 && 10 * one > 819200);
    }

    #[test]
    fn attr_round_trips_through_the_user_layout() {
        let a = MqAttr {
            flags: 0o4000,
            maxmsg: 3,
            msgsize: 64,
            curmsgs: 2,
        };
        let b = a.to_user();
        assert_eq!(&b[8..16], &3i64.to_le_bytes());
        assert_eq!(MqAttr::from_user(&b), a);
    }

    #[test]
    fn the_file_line_has_linux_s_columns() {
        assert_eq!(
            mqueue_file_line(12, None),
            "QSIZE:12         NOTIFY:0     SIGNO:0     NOTIFY_PID:0     \n"
        );
        assert_eq!(
            mqueue_file_line(0, Some((SIGEV_SIGNAL, 10, 42))),
            "QSIZE:0          NOTIFY:0     SIGNO:10    NOTIFY_PID:42    \n"
        );
        assert_eq!(
            mqueue_file_line(0, Some((SIGEV_NONE, 10, 42))),
            "QSIZE:0          NOTIFY:1     SIGNO:0     NOTIFY_PID:42    \n"
        );
    }
}
