//! A unix socket's receive queue (`sk_receive_queue` of `sk_buff`s): one buffer per send,
//! each with the descriptors and credentials sent along and, for datagrams, the sender's
//! name. Stream reads run across buffers (`unix_stream_read_generic`): they stop after a
//! buffer that carried descriptors, so those arrive with the bytes they were sent with;
//! datagram and seqpacket reads take one buffer whole and drop what does not fit
//! (`unix_dgram_recvmsg`). Generic over the descriptor type, so it is tested on the host.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::addr::UnixAddr;

/// Descriptors in flight in every unix queue (`unix_tot_inflight`): while there are any, the
/// last close of a unix socket runs the garbage collector.
pub static TOT_INFLIGHT: AtomicUsize = AtomicUsize::new(0);
/// Bumped whenever descriptors enter or leave a queue (a peek counts: it hands out new
/// references): the collector's snapshot is good only if this did not move under it.
pub static INFLIGHT_GEN: AtomicU64 = AtomicU64::new(0);

/// `n_in` descriptors entered a queue, `n_out` left one.
fn fds_moved(n_in: usize, n_out: usize) {
    if n_in == 0 && n_out == 0 {
        return;
    }
    INFLIGHT_GEN.fetch_add(1, Ordering::AcqRel);
    if n_in > 0 {
        TOT_INFLIGHT.fetch_add(n_in, Ordering::Relaxed);
    }
    if n_out > 0 {
        TOT_INFLIGHT.fetch_sub(n_out, Ordering::Relaxed);
    }
}

/// A peek copied `n` descriptors out, leaving them queued.
fn fds_peeked(n: usize) {
    if n > 0 {
        INFLIGHT_GEN.fetch_add(1, Ordering::AcqRel);
    }
}

/// `struct ucred`: who sent a message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ucred {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

/// One message (`sk_buff` and its `unix_skb_parms`).
pub struct Skb<F> {
    pub data: Vec<u8>,
    /// Bytes stream readers took from the front already (`UNIXCB(skb).consumed`).
    consumed: usize,
    pub fds: Vec<F>,
    pub cred: Ucred,
    /// The sender's name (datagrams).
    pub from: Option<UnixAddr>,
}

impl<F> Skb<F> {
    pub fn new(data: Vec<u8>, fds: Vec<F>, cred: Ucred, from: Option<UnixAddr>) -> Self {
        Skb {
            data,
            consumed: 0,
            fds,
            cred,
            from,
        }
    }
}

/// What one read got.
pub struct Received<F> {
    /// Bytes copied into the caller's buffer.
    pub copied: usize,
    /// For a record: its whole length (more than `copied` if it was truncated).
    pub full_len: usize,
    pub fds: Vec<F>,
    pub cred: Option<Ucred>,
    pub from: Option<UnixAddr>,
}

pub struct RecvQueue<F> {
    skbs: VecDeque<Skb<F>>,
    /// Unread bytes in the queue (`sk_rmem_alloc`'s payload part).
    bytes: usize,
}

impl<F> Default for RecvQueue<F> {
    fn default() -> Self {
        RecvQueue {
            skbs: VecDeque::new(),
            bytes: 0,
        }
    }
}

impl<F: Clone> RecvQueue<F> {
    pub fn push(&mut self, skb: Skb<F>) {
        fds_moved(skb.fds.len(), 0);
        self.bytes += skb.data.len();
        self.skbs.push_back(skb);
    }

    pub fn is_empty(&self) -> bool {
        self.skbs.is_empty()
    }

    /// Messages queued.
    pub fn count(&self) -> usize {
        self.skbs.len()
    }

    /// Unread bytes (FIONREAD / SIOCINQ of a stream).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The length of the next record (SIOCINQ of a datagram socket).
    pub fn next_len(&self) -> usize {
        self.skbs.front().map_or(0, |s| s.data.len() - s.consumed)
    }

    /// Take everything (a dying socket's queue), to drop outside any lock.
    pub fn drain(&mut self) -> Vec<Skb<F>> {
        self.bytes = 0;
        fds_moved(0, self.fds().count());
        self.skbs.drain(..).collect()
    }

    /// Every descriptor the queue holds (what `scan_inflight` walks).
    pub fn fds(&self) -> impl Iterator<Item = &F> {
        self.skbs.iter().flat_map(|s| s.fds.iter())
    }

    /// A stream read of up to `buf.len()` bytes; `peek` leaves the queue as it was (and
    /// hands out copies of the descriptors, as MSG_PEEK does).
    pub fn read_stream(&mut self, buf: &mut [u8], peek: bool) -> Received<F> {
        let mut got = Received {
            copied: 0,
            full_len: 0,
            fds: Vec::new(),
            cred: None,
            from: None,
        };
        let mut i = 0;
        while got.copied < buf.len() && i < self.skbs.len() {
            let skb = &mut self.skbs[i];
            got.cred.get_or_insert(skb.cred);
            let avail = &skb.data[skb.consumed..];
            let n = avail.len().min(buf.len() - got.copied);
            buf[got.copied..got.copied + n].copy_from_slice(&avail[..n]);
            got.copied += n;
            let had_fds = !skb.fds.is_empty();
            if peek {
                got.fds.extend(skb.fds.iter().cloned());
                i += 1;
            } else {
                skb.consumed += n;
                self.bytes -= n;
                got.fds.append(&mut skb.fds);
                if skb.consumed == skb.data.len() {
                    self.skbs.pop_front();
                } else {
                    break;
                }
            }
            if had_fds {
                break;
            }
        }
        got.full_len = got.copied;
        if peek {
            fds_peeked(got.fds.len());
        } else {
            fds_moved(0, got.fds.len());
        }
        got
    }

    /// Read the next record into `buf`, truncating it; `None` if there is none.
    pub fn read_record(&mut self, buf: &mut [u8], peek: bool) -> Option<Received<F>> {
        let skb = self.skbs.front()?;
        let n = skb.data.len().min(buf.len());
        buf[..n].copy_from_slice(&skb.data[..n]);
        if peek {
            fds_peeked(skb.fds.len());
            return Some(Received {
                copied: n,
                full_len: skb.data.len(),
                fds: skb.fds.clone(),
                cred: Some(skb.cred),
                from: skb.from.clone(),
            });
        }
        let skb = self.skbs.pop_front()?;
        self.bytes -= skb.data.len();
        fds_moved(0, skb.fds.len());
        Some(Received {
            copied: n,
            full_len: skb.data.len(),
            fds: skb.fds,
            cred: Some(skb.cred),
            from: skb.from,
        })
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;

    fn skb(data: &[u8], fds: Vec<u32>) -> Skb<u32> {
        Skb::new(data.to_vec(), fds, Ucred::default(), None)
    }

    #[test]
    fn stream_reads_run_across_messages_and_keep_the_rest() {
        let mut q = RecvQueue::default();
        q.push(skb(b"hello ", vec![]));
        q.push(skb(b"world", vec![]));
        assert_eq!(q.bytes(), 11);
        let mut buf = [0u8; 8];
        let got = q.read_stream(&mut buf, false);
        assert_eq!(&buf[..got.copied], b"hello wo");
        assert_eq!(q.bytes(), 3);
        let got = q.read_stream(&mut buf, true);
        assert_eq!(&buf[..got.copied], b"rld");
        let got = q.read_stream(&mut buf, false);
        assert_eq!(&buf[..got.copied], b"rld");
        assert!(q.is_empty() && q.bytes() == 0);
    }

    #[test]
    fn stream_reads_stop_after_the_message_that_carried_descriptors() {
        let mut q = RecvQueue::default();
        q.push(skb(b"ab", vec![]));
        q.push(skb(b"cd", vec![7, 8]));
        q.push(skb(b"ef", vec![9]));
        let mut buf = [0u8; 16];
        let peeked = q.read_stream(&mut buf, true);
        assert_eq!((peeked.copied, peeked.fds), (4, vec![7, 8]));
        let got = q.read_stream(&mut buf, false);
        assert_eq!(&buf[..got.copied], b"abcd");
        assert_eq!(got.fds, vec![7, 8]);
        assert_eq!(q.fds().collect::<Vec<_>>(), [&9]);
        let got = q.read_stream(&mut buf, false);
        assert_eq!((&buf[..got.copied], got.fds), (&b"ef"[..], vec![9]));
    }

    #[test]
    fn records_keep_their_boundaries_and_truncate() {
        let mut q = RecvQueue::default();
        q.push(skb(b"first", vec![]));
        q.push(skb(b"", vec![]));
        q.push(skb(b"third", vec![1]));
        let mut buf = [0u8; 3];
        let got = q.read_record(&mut buf, false).unwrap();
        assert_eq!((got.copied, got.full_len, &buf[..]), (3, 5, &b"fir"[..]));
        let got = q.read_record(&mut buf, false).unwrap();
        assert_eq!((got.copied, got.full_len), (0, 0));
        let got = q.read_record(&mut buf, true).unwrap();
        assert_eq!((got.full_len, got.fds), (5, vec![1]));
        assert_eq!(q.count(), 1);
        assert_eq!(q.read_record(&mut buf, false).unwrap().fds, vec![1]);
        assert!(q.read_record(&mut buf, false).is_none());
    }
}
