//! The contents of one System V message queue and the choice of the message `msgrcv` takes
//! (the pure half of Linux's ipc/msg.c: `convert_mode`, `testmsg`, `find_msg`,
//! `msg_fits_inqueue`). Host-tested.

#![deny(unsafe_code)]

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::kernel::errno::*;

pub const MSG_NOERROR: u32 = 0o10000;
pub const MSG_EXCEPT: u32 = 0o20000;
pub const MSG_COPY: u32 = 0o40000;

/// How `msgrcv`'s type argument selects (`SEARCH_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchMode {
    /// The first message.
    Any,
    /// The first of this type.
    Equal(i64),
    /// The first of any other type (MSG_EXCEPT).
    NotEqual(i64),
    /// The first of the lowest type at most this (a negative `msgtyp`).
    LessEqual(i64),
    /// The message at this position (MSG_COPY).
    Number(i64),
}

impl SearchMode {
    /// Whether this mode takes a message of `mtype` (`testmsg`); a positional MSG_COPY read
    /// never waits for one.
    pub fn matches(self, mtype: i64) -> bool {
        match self {
            SearchMode::Any => true,
            SearchMode::Equal(t) => mtype == t,
            SearchMode::NotEqual(t) => mtype != t,
            SearchMode::LessEqual(t) => mtype <= t,
            SearchMode::Number(_) => false,
        }
    }
}

/// Linux's `convert_mode`.
pub fn convert_mode(msgtyp: i64, msgflg: u32) -> SearchMode {
    if msgflg & MSG_COPY != 0 {
        return SearchMode::Number(msgtyp);
    }
    match msgtyp {
        0 => SearchMode::Any,
        t if t < 0 => SearchMode::LessEqual(t.checked_neg().unwrap_or(i64::MAX)),
        t if msgflg & MSG_EXCEPT != 0 => SearchMode::NotEqual(t),
        t => SearchMode::Equal(t),
    }
}

pub struct Msg {
    pub mtype: i64,
    pub text: Vec<u8>,
}

/// A queue's messages and the counters `msqid_ds` reports.
#[derive(Default)]
pub struct MsgList {
    msgs: VecDeque<Msg>,
    /// Bytes of message text queued (`q_cbytes`).
    pub cbytes: u64,
}

impl MsgList {
    pub fn qnum(&self) -> u64 {
        self.msgs.len() as u64
    }

    /// Would a message of `len` bytes fit a queue of `qbytes` (`msg_fits_inqueue`)? Linux
    /// also counts each message as a byte, so a queue holds at most `qbytes` messages.
    pub fn fits(&self, len: usize, qbytes: u64) -> bool {
        self.cbytes.saturating_add(len as u64) <= qbytes && self.qnum() < qbytes
    }

    pub fn push(&mut self, msg: Msg) {
        self.cbytes += msg.text.len() as u64;
        self.msgs.push_back(msg);
    }

    /// The position of the message `mode` selects (`find_msg`).
    pub fn find(&self, mode: SearchMode) -> Option<usize> {
        match mode {
            SearchMode::Any | SearchMode::Equal(_) | SearchMode::NotEqual(_) => {
                self.msgs.iter().position(|m| mode.matches(m.mtype))
            }
            SearchMode::LessEqual(t) => {
                let mut best: Option<(usize, i64)> = None;
                for (i, m) in self.msgs.iter().enumerate() {
                    if m.mtype <= t && best.is_none_or(|(_, low)| m.mtype < low) {
                        best = Some((i, m.mtype));
                    }
                }
                best.map(|(i, _)| i)
            }
            SearchMode::Number(n) => usize::try_from(n).ok().filter(|&n| n < self.msgs.len()),
        }
    }

    /// Take (or, for MSG_COPY, copy) the message `mode` selects if it fits a buffer of
    /// `bufsz` bytes: `E2BIG` (left queued) if not and MSG_NOERROR was not given, `ENOMSG`
    /// when none matches.
    pub fn take(&mut self, mode: SearchMode, bufsz: usize, msgflg: u32) -> KResult<Msg> {
        let i = self.find(mode).ok_or(ENOMSG)?;
        if self.msgs[i].text.len() > bufsz && msgflg & MSG_NOERROR == 0 {
            return Err(E2BIG);
        }
        let mut msg = if let SearchMode::Number(_) = mode {
            let m = &self.msgs[i];
            Msg {
                mtype: m.mtype,
                text: m.text.clone(),
            }
        } else {
            let m = self.msgs.remove(i).ok_or(ENOMSG)?;
            self.cbytes -= m.text.len() as u64;
            m
        };
        msg.text.truncate(bufsz);
        Ok(msg)
    }

    /// Drop every message (the queue is removed).
    pub fn clear(&mut self) {
        self.msgs.clear();
        self.cbytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(types: &[i64]) -> MsgList {
        let mut q = MsgList::default();
        for (i, &t) in types.iter().enumerate() {
            q.push(Msg {
                mtype: t,
                text: alloc::vec![i as u8; i + 1],
            });
        }
        q
    }

    fn taken(q: &mut MsgList, msgtyp: i64, flg: u32) -> Option<(i64, usize)> {
        q.take(convert_mode(msgtyp, flg), 100, flg)
            .ok()
            .map(|m| (m.mtype, m.text.len()))
    }

    #[test]
    fn type_zero_takes_messages_in_order() {
        let mut q = queue(&[3, 1, 2]);
        assert_eq!(taken(&mut q, 0, 0), Some((3, 1)));
        assert_eq!(taken(&mut q, 0, 0), Some((1, 2)));
        assert_eq!(q.qnum(), 1);
        assert_eq!(q.cbytes, 3);
    }

    #[test]
    fn positive_type_takes_the_first_of_that_type_or_with_except_of_another() {
        let mut q = queue(&[3, 1, 2, 1]);
        assert_eq!(taken(&mut q, 1, 0), Some((1, 2)));
        assert_eq!(taken(&mut q, 1, 0), Some((1, 4)));
        assert_eq!(taken(&mut q, 1, 0), None);
        assert_eq!(taken(&mut q, 3, MSG_EXCEPT), Some((2, 3)));
        assert_eq!(taken(&mut q, 3, MSG_EXCEPT), None);
    }

    #[test]
    fn negative_type_takes_the_lowest_type_at_most_its_magnitude() {
        let mut q = queue(&[5, 3, 2, 4, 2]);
        assert_eq!(taken(&mut q, -4, 0), Some((2, 3)));
        assert_eq!(taken(&mut q, -4, 0), Some((2, 5)));
        assert_eq!(taken(&mut q, -4, 0), Some((3, 2)));
        assert_eq!(taken(&mut q, -1, 0), None);
        assert_eq!(taken(&mut q, i64::MIN, 0), Some((4, 4)));
    }

    #[test]
    fn too_long_messages_stay_unless_noerror_truncates_them() {
        let mut q = queue(&[1, 1, 1]);
        assert_eq!(q.take(SearchMode::Any, 0, 0).err(), Some(E2BIG));
        assert_eq!(q.qnum(), 3);
        let m = q.take(SearchMode::Equal(1), 1, MSG_NOERROR).unwrap();
        assert_eq!(m.text.len(), 1);
        let m = q.take(SearchMode::Any, 1, MSG_NOERROR).unwrap();
        assert_eq!(m.text, [1]);
        assert_eq!(q.cbytes, 3);
    }

    #[test]
    fn a_waiting_receiver_s_mode_tests_a_new_message_s_type() {
        assert!(convert_mode(0, 0).matches(9));
        assert!(convert_mode(3, 0).matches(3) && !convert_mode(3, 0).matches(4));
        assert!(convert_mode(3, MSG_EXCEPT).matches(4));
        assert!(convert_mode(-3, 0).matches(2) && !convert_mode(-3, 0).matches(4));
        assert!(!convert_mode(0, MSG_COPY).matches(1));
    }

    #[test]
    fn msg_copy_reads_by_position_without_taking() {
        let mut q = queue(&[7, 8]);
        assert_eq!(taken(&mut q, 1, MSG_COPY), Some((8, 2)));
        assert_eq!(taken(&mut q, 2, MSG_COPY), None);
        assert_eq!(q.qnum(), 2);
    }

    #[test]
    fn a_queue_holds_qbytes_bytes_and_at_most_qbytes_messages() {
        let mut q = MsgList::default();
        assert!(q.fits(10, 10));
        assert!(!q.fits(11, 10));
        for _ in 0..3 {
            q.push(Msg {
                mtype: 1,
                text: Vec::new(),
            });
        }
        assert!(!q.fits(0, 3));
        assert!(q.fits(0, 4));
    }
}
