//! The AF_UNIX data path (Linux's `unix_dgram_sendmsg`, `unix_stream_sendmsg`,
//! `unix_stream_read_generic`, `unix_dgram_recvmsg`): a sender puts each message straight on
//! the receiver's queue and waits while the receiver holds too much; a reader takes bytes or
//! one record and wakes the writers its reading made room for. Locks as in af_unix.rs: one
//! socket's `inner` at a time.

use alloc::sync::Arc;

use super::af_unix::*;
use super::skb::Skb;
use crate::fs::file::FileRef;
use crate::kernel::errno::*;
use crate::kernel::task::TASK_INTERRUPTIBLE;
use crate::net::socket::*;

impl UnixSock {
    /// Send `data` as one datagram to `other` (`unix_dgram_sendmsg`).
    pub(super) fn dgram_send(
        &self,
        other: &Arc<UnixSock>,
        skb: Skb<FileRef>,
        nonblock: bool,
    ) -> KResult<()> {
        let me = self.arc();
        let mut skb = Some(skb);
        loop {
            {
                let mut o = other.inner.lock();
                if o.dead {
                    drop(o);
                    // A dead default destination is forgotten (`unix_dgram_disconnected`).
                    let mut i = self.inner.lock();
                    if i.peer.as_ref().is_some_and(|p| Arc::ptr_eq(p, other)) {
                        i.peer = None;
                    }
                    return Err(ECONNREFUSED);
                }
                // A socket connected elsewhere takes datagrams only from its peer.
                if o.peer.as_ref().is_some_and(|p| !Arc::ptr_eq(p, &me)) {
                    return Err(EPERM);
                }
                if o.shutdown & RCV_SHUTDOWN != 0 {
                    return Err(EPIPE);
                }
                if o.queue.count() <= MAX_DGRAM_QLEN {
                    o.queue.push(skb.take().expect("sent once"));
                    drop(o);
                    other.wq.wake_up_all();
                    return Ok(());
                }
            }
            if nonblock {
                return Err(EAGAIN);
            }
            other.wq.wait_event(TASK_INTERRUPTIBLE, false, || {
                let o = other.inner.lock();
                o.dead || o.queue.count() <= MAX_DGRAM_QLEN
            })?;
        }
    }

    /// Send on a connection (`unix_stream_sendmsg`, and seqpacket as one record).
    pub(super) fn stream_send(&self, mut msg: SendMsg, nonblock: bool) -> KResult<usize> {
        let (peer, sndbuf) = {
            let i = self.inner.lock();
            if i.state != State::Connected {
                return Err(ENOTCONN);
            }
            if i.shutdown & SEND_SHUTDOWN != 0 {
                return Err(EPIPE);
            }
            (i.peer.clone().ok_or(ENOTCONN)?, i.opts.sndbuf)
        };
        let record = self.ty == SockType::SeqPacket;
        if record && msg.data.len() > sndbuf.saturating_sub(32) {
            return Err(EMSGSIZE);
        }
        // Linux caps one buffer at half the send buffer.
        let chunk = if record {
            msg.data.len()
        } else {
            (sndbuf / 2).saturating_sub(64).max(4096)
        };
        let cred = msg.cred.unwrap_or_else(current_ucred);
        let mut sent = 0;
        let total = msg.data.len();
        loop {
            let n = chunk.min(total - sent);
            {
                let mut p = peer.inner.lock();
                if p.dead || p.shutdown & RCV_SHUTDOWN != 0 {
                    return if sent > 0 { Ok(sent) } else { Err(EPIPE) };
                }
                if p.queue.bytes() < sndbuf {
                    // A send that fits one buffer moves its bytes instead of copying them.
                    let data = if n == total {
                        core::mem::take(&mut msg.data)
                    } else {
                        msg.data[sent..sent + n].to_vec()
                    };
                    let fds = core::mem::take(&mut msg.fds);
                    p.queue.push(Skb::new(data, fds, cred, None));
                    drop(p);
                    sent += n;
                    peer.wq.wake_up_all();
                    if sent == total {
                        return Ok(sent);
                    }
                    continue;
                }
            }
            if nonblock {
                return if sent > 0 { Ok(sent) } else { Err(EAGAIN) };
            }
            let waited = peer.wq.wait_event(TASK_INTERRUPTIBLE, false, || {
                let p = peer.inner.lock();
                p.dead || p.shutdown & RCV_SHUTDOWN != 0 || p.queue.bytes() < sndbuf
            });
            if let Err(e) = waited {
                return if sent > 0 { Ok(sent) } else { Err(e) };
            }
        }
    }

    /// Receive from a connection as a byte stream (`unix_stream_read_generic`).
    pub(super) fn stream_recv(&self, len: usize, flags: u32, nonblock: bool) -> KResult<RecvMsg> {
        let peek = flags & MSG_PEEK != 0;
        let target = if flags & MSG_WAITALL != 0 && !peek {
            len
        } else {
            1
        };
        let mut out = RecvMsg::with_capacity(len);
        loop {
            {
                let mut i = self.inner.lock();
                if i.state != State::Connected {
                    return Err(EINVAL);
                }
                if i.err != 0 && out.data.is_empty() {
                    return Err(core::mem::take(&mut i.err));
                }
                let have = out.data.len();
                out.data.resize(len, 0);
                let got = i.queue.read_stream(&mut out.data[have..], peek);
                out.data.truncate(have + got.copied);
                out.cred = out.cred.or(got.cred);
                let passed_fds = !got.fds.is_empty();
                out.fds.extend(got.fds);
                let done = passed_fds || out.data.len() >= target || len == 0;
                let eof = i.shutdown & RCV_SHUTDOWN != 0;
                if done || (i.queue.is_empty() && eof) || (peek && !out.data.is_empty()) {
                    break;
                }
            }
            if nonblock {
                if out.data.is_empty() {
                    return Err(EAGAIN);
                }
                break;
            }
            let waited = self.wq.wait_event(TASK_INTERRUPTIBLE, false, || {
                let i = self.inner.lock();
                !i.queue.is_empty() || i.shutdown & RCV_SHUTDOWN != 0 || i.err != 0
            });
            if let Err(e) = waited {
                if out.data.is_empty() {
                    return Err(e);
                }
                break;
            }
        }
        out.full_len = out.data.len();
        if !peek {
            self.wake_with_peer();
        }
        Ok(out)
    }

    /// Receive one record (`unix_dgram_recvmsg`, seqpacket too).
    pub(super) fn record_recv(&self, len: usize, flags: u32, nonblock: bool) -> KResult<RecvMsg> {
        let peek = flags & MSG_PEEK != 0;
        let mut out = RecvMsg::with_capacity(len);
        loop {
            {
                let mut i = self.inner.lock();
                if self.ty == SockType::SeqPacket && i.state != State::Connected {
                    return Err(ENOTCONN);
                }
                if i.err != 0 {
                    return Err(core::mem::take(&mut i.err));
                }
                out.data.resize(len, 0);
                if let Some(got) = i.queue.read_record(&mut out.data, peek) {
                    out.data.truncate(got.copied);
                    out.full_len = got.full_len;
                    out.fds = got.fds;
                    out.cred = got.cred;
                    out.from = got.from;
                    break;
                }
                out.data.clear();
                if i.shutdown & RCV_SHUTDOWN != 0 {
                    return Ok(out);
                }
            }
            if nonblock {
                return Err(EAGAIN);
            }
            self.wq.wait_event(TASK_INTERRUPTIBLE, false, || {
                let i = self.inner.lock();
                !i.queue.is_empty() || i.shutdown & RCV_SHUTDOWN != 0 || i.err != 0
            })?;
        }
        if !peek {
            self.wake_with_peer();
        }
        Ok(out)
    }
}
