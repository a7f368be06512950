//! AF_UNIX sockets (Linux's net/unix/af_unix.c): stream, datagram and seqpacket.
//!
//! A sender puts each message straight on the receiver's queue (`skb::RecvQueue`), with the
//! descriptors and credentials it carries. A stream connection is a pair of sockets pointing
//! at each other; `connect` makes the server's half at once and queues it on the listener
//! for `accept`. Each socket has one wait queue for everything that waits on it: readers,
//! accepters, and senders waiting for room in its queue. A reader that frees room wakes its
//! own queue and its peer's (where pollers of the writer's side look).
//!
//! Flow control as Linux's: a stream sender waits while its bytes in flight (what the peer
//! has not read) reach its SO_SNDBUF; a datagram sender waits while the receiver holds more
//! than `max_dgram_qlen` messages.
//!
//! Locks: each socket's `inner`; never two at once (peers are looked at one after the
//! other), and files passed in messages are dropped outside them.
//!
//! The data path, sendmsg and recvmsg of the three types, is in msg.rs.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::fmt::Write;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use spin::Mutex;

use super::addr::*;
use super::skb::{RecvQueue, Skb, Ucred, INFLIGHT_GEN, TOT_INFLIGHT};
use crate::fs::file::*;
use crate::fs::inode::S_IFSOCK;
use crate::kernel::errno::*;
use crate::kernel::task::{current, TASK_INTERRUPTIBLE};
use crate::net::socket::*;
use crate::sched::wait::WaitQueue;

/// `net.unix.max_dgram_qlen`.
pub(super) const MAX_DGRAM_QLEN: usize = 10;
/// `net.core.somaxconn`.
const SOMAXCONN: usize = 4096;
pub const RCV_SHUTDOWN: u8 = 1;
pub const SEND_SHUTDOWN: u8 = 2;
const SHUTDOWN_MASK: u8 = 3;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// `TCP_CLOSE`: new, or a datagram socket.
    Unconnected,
    Listening,
    /// `TCP_ESTABLISHED`: a connected stream or seqpacket socket.
    Connected,
}

/// Where a bound socket is found (`unix_socket_table`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
enum BindKey {
    /// A filesystem name: the socket inode's (dev, ino).
    Inode(u64, u64),
    Abstract(Vec<u8>),
}

static BOUND: Mutex<BTreeMap<BindKey, Weak<UnixSock>>> = Mutex::new(BTreeMap::new());
static AUTOBIND_NEXT: AtomicU32 = AtomicU32::new(1);

/// Every unix socket, bound or not, by a number handed out at creation: what
/// /proc/net/unix lists and the garbage collector walks (the role of Linux's
/// `unix_socket_table`, which holds unbound sockets too). A socket leaves it when freed.
static UNIX_SOCKETS: Mutex<BTreeMap<u64, Weak<UnixSock>>> = Mutex::new(BTreeMap::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The live sockets (new references, to drop with the table unlocked).
pub(super) fn all_sockets() -> Vec<Arc<UnixSock>> {
    UNIX_SOCKETS
        .lock()
        .values()
        .filter_map(Weak::upgrade)
        .collect()
}

pub(super) struct UnixInner {
    pub(super) state: State,
    /// The other end of a connection, or a datagram socket's default destination.
    pub(super) peer: Option<Arc<UnixSock>>,
    pub(super) addr: Option<UnixAddr>,
    bind_key: Option<BindKey>,
    pub(super) queue: RecvQueue<FileRef>,
    /// Connections made to a listening socket, not accepted yet.
    pub(super) accept_q: VecDeque<Arc<UnixSock>>,
    pub(super) backlog: usize,
    pub(super) shutdown: u8,
    /// `sk_err`: reported once by the next call that looks.
    pub(super) err: Errno,
    pub(super) peer_cred: Option<Ucred>,
    pub(super) opts: SockOpts,
    pub(super) dead: bool,
}

pub struct UnixSock {
    /// The number /proc/net/unix shows as `Num` (Linux prints the socket's hashed address).
    id: u64,
    /// The open file of the socket (`sk_socket->file`), set when it gets one: a connection
    /// not accepted yet has none. The garbage collector compares its references with those
    /// in flight.
    pub(super) file: spin::Once<FileWeak>,
    /// Its sockfs inode number (`sock_i_ino`), 0 before it has a file.
    ino: AtomicU64,
    pub(super) ty: SockType,
    pub(super) me: Weak<UnixSock>,
    pub(super) inner: Mutex<UnixInner>,
    pub(super) wq: Arc<WaitQueue>,
}

/// The caller's credentials as a message carries them (`cred_to_ucred`).
pub fn current_ucred() -> Ucred {
    let task = current();
    let cred = *task.cred.lock();
    Ucred {
        pid: task.tgid,
        uid: cred.euid,
        gid: cred.egid,
    }
}

impl UnixSock {
    pub fn new(ty: SockType) -> Arc<UnixSock> {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let sk = Arc::new_cyclic(|me| UnixSock {
            id,
            file: spin::Once::new(),
            ino: AtomicU64::new(0),
            ty,
            me: me.clone(),
            inner: Mutex::new(UnixInner {
                state: State::Unconnected,
                peer: None,
                addr: None,
                bind_key: None,
                queue: RecvQueue::default(),
                accept_q: VecDeque::new(),
                backlog: 0,
                shutdown: 0,
                err: 0,
                peer_cred: None,
                opts: SockOpts::default(),
                dead: false,
            }),
            wq: Arc::new(WaitQueue::new()),
        });
        UNIX_SOCKETS.lock().insert(id, Arc::downgrade(&sk));
        sk
    }

    pub(super) fn arc(&self) -> Arc<UnixSock> {
        self.me.upgrade().expect("a live socket")
    }

    pub(super) fn connection_based(&self) -> bool {
        self.ty != SockType::Dgram
    }

    /// Connect two new sockets to each other (`unix_socketpair`).
    pub fn pair(a: &Arc<UnixSock>, b: &Arc<UnixSock>) {
        let cred = current_ucred();
        for (x, y) in [(a, b), (b, a)] {
            let mut i = x.inner.lock();
            i.peer = Some(y.clone());
            i.peer_cred = Some(cred);
            if x.connection_based() {
                i.state = State::Connected;
            }
        }
    }

    pub(super) fn peer(&self) -> Option<Arc<UnixSock>> {
        self.inner.lock().peer.clone()
    }

    /// Wake our waiters and the peer's (a reader made room for its writer).
    pub(super) fn wake_with_peer(&self) {
        self.wq.wake_up_all();
        if let Some(p) = self.peer() {
            p.wq.wake_up_all();
        }
    }

    /// Give ourselves an abstract name (`unix_autobind`).
    fn autobind(&self, inner: &mut UnixInner) -> KResult<()> {
        let mut bound = BOUND.lock();
        for _ in 0..0x100000 {
            let addr = autobind_name(AUTOBIND_NEXT.fetch_add(1, Ordering::Relaxed));
            let UnixAddr::Abstract(name) = &addr else {
                unreachable!()
            };
            let key = BindKey::Abstract(name.clone());
            if bound.get(&key).is_some_and(|w| w.strong_count() > 0) {
                continue;
            }
            bound.insert(key.clone(), self.me.clone());
            inner.addr = Some(addr);
            inner.bind_key = Some(key);
            return Ok(());
        }
        Err(ENOSPC)
    }

    /// The socket bound at `addr` (`unix_find_other`): a filesystem name must be a socket
    /// inode we may write to.
    fn find_other(addr: &UnixAddr, ty: SockType) -> KResult<Arc<UnixSock>> {
        let key = match addr {
            UnixAddr::Abstract(n) => BindKey::Abstract(n.clone()),
            UnixAddr::Path(p) => {
                let name = core::str::from_utf8(p).map_err(|_| ENOENT)?;
                let w = crate::fs::open::walker();
                let start = crate::fs::open::start_at(&w, AT_FDCWD, name)?;
                let inode = w.lookup(&start, name, true)?.inode()?;
                inode.permission(w.fsuid, w.fsgid, 2)?;
                if inode.file_type() != S_IFSOCK {
                    return Err(ECONNREFUSED);
                }
                BindKey::Inode(inode.sb.dev, inode.ino)
            }
        };
        let other = BOUND
            .lock()
            .get(&key)
            .and_then(Weak::upgrade)
            .ok_or(ECONNREFUSED)?;
        if other.ty != ty {
            return Err(EPROTOTYPE);
        }
        Ok(other)
    }
}

impl ProtoOps for UnixSock {
    fn sock_type(&self) -> SockType {
        self.ty
    }

    fn bind(&self, raw: &[u8]) -> KResult<()> {
        let sa = parse_sockaddr(raw)?;
        if self.inner.lock().addr.is_some() {
            return Err(EINVAL);
        }
        let addr = match sa {
            SockAddr::Unnamed => {
                let mut i = self.inner.lock();
                return self.autobind(&mut i);
            }
            SockAddr::Named(a) => a,
        };
        let key = match &addr {
            UnixAddr::Abstract(n) => BindKey::Abstract(n.clone()),
            UnixAddr::Path(p) => {
                // A new socket inode in the filesystem (`unix_bind_bsd`); a name that is
                // there already, socket or not, is EADDRINUSE.
                let name = core::str::from_utf8(p).map_err(|_| EINVAL)?;
                let w = crate::fs::open::walker();
                let start = crate::fs::open::start_at(&w, AT_FDCWD, name)?;
                let last = w.parent(&start, name)?;
                let umask = current().fs().lock().umask;
                let path = match w.create(&last, S_IFSOCK | (0o777 & !umask), 0) {
                    Err(EEXIST) => return Err(EADDRINUSE),
                    r => r?,
                };
                let inode = path.inode()?;
                BindKey::Inode(inode.sb.dev, inode.ino)
            }
        };
        let mut bound = BOUND.lock();
        if bound.get(&key).is_some_and(|w| w.strong_count() > 0) {
            return Err(EADDRINUSE);
        }
        let mut i = self.inner.lock();
        if i.addr.is_some() {
            return Err(EINVAL);
        }
        bound.insert(key.clone(), self.me.clone());
        i.addr = Some(addr);
        i.bind_key = Some(key);
        Ok(())
    }

    fn connect(&self, raw: &[u8], nonblock: bool) -> KResult<()> {
        if self.ty == SockType::Dgram && raw.len() >= 2 && raw[..2] == [0, 0] {
            // AF_UNSPEC: forget the default destination.
            self.inner.lock().peer = None;
            return Ok(());
        }
        if raw.len() <= 2 {
            return Err(EINVAL);
        }
        let SockAddr::Named(addr) = parse_sockaddr(raw)? else {
            return Err(EINVAL);
        };
        let other = Self::find_other(&addr, self.ty)?;
        if self.ty == SockType::Dgram {
            self.inner.lock().peer = Some(other);
            return Ok(());
        }
        match self.inner.lock().state {
            State::Connected => return Err(EISCONN),
            State::Listening => return Err(EINVAL),
            State::Unconnected => {}
        }
        let me = self.arc();
        let newsk = UnixSock::new(self.ty);
        let my_cred = current_ucred();
        let listener_cred = loop {
            {
                let mut o = other.inner.lock();
                if o.dead || o.state != State::Listening {
                    return Err(ECONNREFUSED);
                }
                if o.accept_q.len() <= o.backlog {
                    let mut n = newsk.inner.lock();
                    n.state = State::Connected;
                    n.peer = Some(me.clone());
                    n.peer_cred = Some(my_cred);
                    n.addr = o.addr.clone();
                    n.opts = o.opts;
                    drop(n);
                    o.accept_q.push_back(newsk.clone());
                    break o.peer_cred;
                }
            }
            if nonblock {
                return Err(EAGAIN);
            }
            other.wq.wait_event(TASK_INTERRUPTIBLE, false, || {
                let o = other.inner.lock();
                o.dead || o.state != State::Listening || o.accept_q.len() <= o.backlog
            })?;
        };
        {
            let mut i = self.inner.lock();
            i.state = State::Connected;
            i.peer = Some(newsk);
            i.peer_cred = listener_cred;
        }
        other.wq.wake_up_all();
        Ok(())
    }

    fn listen(&self, backlog: i32) -> KResult<()> {
        if self.ty == SockType::Dgram {
            return Err(EOPNOTSUPP);
        }
        {
            let mut i = self.inner.lock();
            if i.addr.is_none() || i.state == State::Connected {
                return Err(EINVAL);
            }
            // A negative backlog is a huge unsigned one: somaxconn.
            i.backlog = (backlog as u32 as usize).min(SOMAXCONN);
            i.state = State::Listening;
            i.peer_cred = Some(current_ucred());
        }
        self.wq.wake_up_all();
        Ok(())
    }

    fn accept(&self, nonblock: bool) -> KResult<Arc<dyn ProtoOps>> {
        if self.ty == SockType::Dgram {
            return Err(EOPNOTSUPP);
        }
        loop {
            {
                let mut i = self.inner.lock();
                if i.state != State::Listening {
                    return Err(EINVAL);
                }
                if let Some(newsk) = i.accept_q.pop_front() {
                    drop(i);
                    // Its queue's descriptors stop being the listener's in the collector's
                    // eyes.
                    INFLIGHT_GEN.fetch_add(1, Ordering::AcqRel);
                    // Connecters waiting for room in the backlog.
                    self.wq.wake_up_all();
                    return Ok(newsk);
                }
            }
            if nonblock {
                return Err(EAGAIN);
            }
            self.wq.wait_event(TASK_INTERRUPTIBLE, false, || {
                let i = self.inner.lock();
                !i.accept_q.is_empty() || i.state != State::Listening
            })?;
        }
    }

    fn getname(&self, peer: bool) -> KResult<Vec<u8>> {
        let addr = if peer {
            let p = self.peer().ok_or(ENOTCONN)?;
            let a = p.inner.lock().addr.clone();
            a
        } else {
            self.inner.lock().addr.clone()
        };
        Ok(sockaddr_bytes(addr.as_ref()))
    }

    fn sendmsg(&self, mut msg: SendMsg, nonblock: bool) -> KResult<usize> {
        if msg.flags & MSG_OOB != 0 {
            return Err(EOPNOTSUPP);
        }
        if self.ty != SockType::Dgram {
            if msg.addr.is_some() {
                let connected = self.inner.lock().state == State::Connected;
                return Err(if connected { EISCONN } else { EOPNOTSUPP });
            }
            return self.stream_send(msg, nonblock);
        }
        let (sndbuf, shut, my_addr) = {
            let i = self.inner.lock();
            (i.opts.sndbuf, i.shutdown, i.addr.clone())
        };
        if msg.data.len() > sndbuf.saturating_sub(32) {
            return Err(EMSGSIZE);
        }
        let other = match &msg.addr {
            Some(raw) => match parse_sockaddr(raw)? {
                SockAddr::Named(a) => Self::find_other(&a, SockType::Dgram)?,
                SockAddr::Unnamed => return Err(EINVAL),
            },
            None => self.peer().ok_or(ENOTCONN)?,
        };
        if shut & SEND_SHUTDOWN != 0 {
            return Err(EPIPE);
        }
        let len = msg.data.len();
        let cred = msg.cred.unwrap_or_else(current_ucred);
        let skb = Skb::new(
            core::mem::take(&mut msg.data),
            core::mem::take(&mut msg.fds),
            cred,
            my_addr,
        );
        self.dgram_send(&other, skb, nonblock)?;
        Ok(len)
    }

    fn recvmsg(&self, len: usize, flags: u32, nonblock: bool) -> KResult<RecvMsg> {
        if flags & MSG_OOB != 0 {
            return Err(EOPNOTSUPP);
        }
        if self.ty == SockType::Stream {
            self.stream_recv(len, flags, nonblock)
        } else {
            self.record_recv(len, flags, nonblock)
        }
    }

    fn shutdown(&self, how: i32) -> KResult<()> {
        if !(0..=2).contains(&how) {
            return Err(EINVAL);
        }
        let mode = (how + 1) as u8;
        let peer = {
            let mut i = self.inner.lock();
            i.shutdown |= mode;
            i.peer.clone()
        };
        if let Some(p) = peer.filter(|_| self.connection_based()) {
            let mut peer_mode = 0;
            if mode & RCV_SHUTDOWN != 0 {
                peer_mode |= SEND_SHUTDOWN;
            }
            if mode & SEND_SHUTDOWN != 0 {
                peer_mode |= RCV_SHUTDOWN;
            }
            p.inner.lock().shutdown |= peer_mode;
            p.wq.wake_up_all();
        }
        self.wq.wake_up_all();
        Ok(())
    }

    fn opts(&self) -> SockOpts {
        self.inner.lock().opts
    }

    fn set_opts(&self, opts: SockOpts) {
        self.inner.lock().opts = opts;
        self.wq.wake_up_all();
    }

    fn take_error(&self) -> Errno {
        core::mem::take(&mut self.inner.lock().err)
    }

    fn peer_cred(&self) -> Option<Ucred> {
        self.inner.lock().peer_cred
    }

    fn listening(&self) -> bool {
        self.inner.lock().state == State::Listening
    }

    fn inq(&self) -> usize {
        let i = self.inner.lock();
        if self.ty == SockType::Stream {
            i.queue.bytes()
        } else {
            i.queue.next_len()
        }
    }

    fn poll(&self, pt: Option<&mut PollTable>) -> u16 {
        let (mut mask, peer, state) = {
            let i = self.inner.lock();
            let mut mask = 0;
            if i.err != 0 {
                mask |= POLLERR;
            }
            if i.shutdown == SHUTDOWN_MASK {
                mask |= POLLHUP;
            }
            if i.shutdown & RCV_SHUTDOWN != 0 {
                mask |= POLLRDHUP | POLLIN | POLLRDNORM;
            }
            let readable = match i.state {
                State::Listening => !i.accept_q.is_empty(),
                _ => !i.queue.is_empty(),
            };
            if readable {
                mask |= POLLIN | POLLRDNORM;
            }
            if self.connection_based() && i.state == State::Unconnected {
                mask |= POLLHUP;
            }
            (mask, i.peer.clone(), (i.state, i.opts.sndbuf))
        };
        if let Some(pt) = pt {
            pt.poll_wait(&self.wq);
            if let Some(p) = &peer {
                pt.poll_wait(&p.wq);
            }
        }
        let (state, sndbuf) = state;
        let writable = state != State::Listening
            && peer.is_none_or(|p| {
                let p = p.inner.lock();
                if self.ty == SockType::Dgram {
                    p.dead || p.queue.count() <= MAX_DGRAM_QLEN
                } else {
                    p.queue.bytes() * 4 <= sndbuf
                }
            });
        if writable {
            mask |= POLLOUT | POLLWRNORM | POLLWRBAND;
        }
        mask
    }

    /// The last close (`unix_release_sock`): the peer of a connection sees end of file (and
    /// ECONNRESET if we left data unread), connections never accepted are closed, the name
    /// is freed (a filesystem name stays as a dead socket inode).
    fn release(&self) {
        let (peer, queued, embryos, key) = {
            let mut i = self.inner.lock();
            i.dead = true;
            i.shutdown = SHUTDOWN_MASK;
            i.state = State::Unconnected;
            let queued = i.queue.drain();
            let embryos: Vec<Arc<UnixSock>> = i.accept_q.drain(..).collect();
            (i.peer.take(), queued, embryos, i.bind_key.take())
        };
        if let Some(key) = key {
            let mut bound = BOUND.lock();
            if bound
                .get(&key)
                .is_some_and(|w| core::ptr::eq(w.as_ptr(), self))
            {
                bound.remove(&key);
            }
        }
        if let Some(p) = &peer {
            if self.connection_based() {
                let mut pi = p.inner.lock();
                pi.shutdown = SHUTDOWN_MASK;
                if !queued.is_empty() || !embryos.is_empty() {
                    pi.err = ECONNRESET;
                }
            }
            p.wq.wake_up_all();
        }
        self.wq.wake_up_all();
        for e in &embryos {
            e.release();
        }
        // The files in unread messages go last, with no lock held.
        drop(queued);
        // Descriptors in flight may be all that holds a cycle of sockets (`unix_gc`).
        if TOT_INFLIGHT.load(Ordering::Relaxed) > 0 {
            super::garbage::unix_gc();
        }
    }

    fn graft(&self, file: &FileRef) {
        self.file.call_once(|| Arc::downgrade(file));
        self.ino.store(file.inode.ino, Ordering::Relaxed);
    }
}

impl Drop for UnixSock {
    fn drop(&mut self) {
        UNIX_SOCKETS.lock().remove(&self.id);
    }
}

/// `__SO_ACCEPTCON`: the flag /proc/net/unix shows for a listening socket.
const SO_ACCEPTCON: u32 = 1 << 16;
/// `socket_state` as /proc/net/unix shows it.
const SS_UNCONNECTED: u8 = 1;
const SS_CONNECTING: u8 = 2;
const SS_CONNECTED: u8 = 3;

/// /proc/net/unix (`unix_seq_show`): one line per socket not yet released.
pub fn unix_seq_show() -> alloc::string::String {
    let socks = all_sockets();
    let mut out =
        alloc::string::String::from("Num       RefCount Protocol Flags    Type St Inode Path\n");
    for sk in &socks {
        let i = sk.inner.lock();
        if i.dead {
            continue;
        }
        let flags = if i.state == State::Listening {
            SO_ACCEPTCON
        } else {
            0
        };
        let ino = sk.ino.load(Ordering::Relaxed);
        // A connection not accepted yet has no socket file: Linux calls it connecting.
        let st = match (ino != 0, i.state == State::Connected) {
            (true, true) => SS_CONNECTED,
            (true, false) => SS_UNCONNECTED,
            (false, true) => SS_CONNECTING,
            (false, false) => 4, // SS_DISCONNECTING
        };
        let _ = write!(
            out,
            "{:016x}: {:08X} {:08X} {:08X} {:04X} {:02X} {:5}",
            sk.id,
            // Our snapshot's reference is not one of its own.
            Arc::strong_count(sk) - 1,
            0,
            flags,
            sk.ty as u32,
            st,
            ino
        );
        match &i.addr {
            Some(UnixAddr::Path(p)) => {
                out.push(' ');
                out.extend(p.iter().map(|&b| if b == 0 { '@' } else { b as char }));
            }
            Some(UnixAddr::Abstract(n)) => {
                out.push_str(" @");
                out.extend(n.iter().map(|&b| if b == 0 { '@' } else { b as char }));
            }
            None => {}
        }
        out.push('\n');
    }
    drop(socks);
    out
}

const AT_FDCWD: u64 = -100i64 as u64;
