//! The socket layer (Linux's net/socket.c): sockfs, socket files, and the socket system
//! calls, which copy addresses, iovecs and control messages in and out and hand the rest to
//! the family's `ProtoOps`. AF_UNIX is the only family; the others are `EAFNOSUPPORT`, so a
//! program probing for AF_INET gets a clean answer.

use alloc::format;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use spin::Once;

use super::scm::{scm_recv, scm_send, ucred_bytes, SOL_SOCKET};
use super::unix::af_unix::UnixSock;
use super::unix::skb::Ucred;
use crate::fs::dcache::Dentry;
use crate::fs::file::*;
use crate::fs::inode::*;
use crate::fs::namespace::{kern_mount, Mount, Path};
use crate::fs::read_write::{fdget, import_iovec};
use crate::kernel::errno::*;
use crate::kernel::task::current;
use crate::mm::usercopy::{copy_from_user, copy_to_user, read_user, write_user};

pub const AF_UNIX: u64 = 1;
/// Families are numbered below this (`AF_MAX`).
const AF_MAX: u64 = 46;
const SOCK_TYPE_MASK: u64 = 0xf;
/// Socket types are numbered below this (`SOCK_MAX`).
const SOCK_MAX: u64 = 11;
pub const SOCK_NONBLOCK: u64 = O_NONBLOCK as u64;
pub const SOCK_CLOEXEC: u64 = O_CLOEXEC as u64;

pub const MSG_OOB: u32 = 1;
pub const MSG_PEEK: u32 = 2;
pub const MSG_TRUNC: u32 = 0x20;
pub const MSG_DONTWAIT: u32 = 0x40;
pub const MSG_WAITALL: u32 = 0x100;
pub const MSG_NOSIGNAL: u32 = 0x4000;
pub const MSG_CMSG_CLOEXEC: u32 = 0x4000_0000;

const SO_REUSEADDR: i32 = 2;
const SO_TYPE: i32 = 3;
const SO_ERROR: i32 = 4;
const SO_BROADCAST: i32 = 6;
const SO_SNDBUF: i32 = 7;
const SO_RCVBUF: i32 = 8;
const SO_KEEPALIVE: i32 = 9;
const SO_PASSCRED: i32 = 16;
const SO_PEERCRED: i32 = 17;
const SO_ACCEPTCONN: i32 = 30;
const SO_PROTOCOL: i32 = 38;
const SO_DOMAIN: i32 = 39;
/// `net.core.wmem_max` / `rmem_max`, and the defaults.
const SYSCTL_MEM_MAX: usize = 212_992;
const SOCK_MIN_SNDBUF: usize = 4608;
const SOCK_MIN_RCVBUF: usize = 2304;
/// `sizeof(struct sockaddr_storage)`: no address is longer.
const SOCKADDR_STORAGE: usize = 128;
/// The most one receive copies through the kernel at once.
const RECV_CHUNK: usize = 256 * 1024;
/// The most one send copies into the kernel: a stream send of more is a short one, a
/// datagram of more is EMSGSIZE anyway.
const SEND_MAX: usize = 8 << 20;
const FIONREAD: u32 = 0x541b;
const SOCKFS_MAGIC: u64 = 0x534f_434b;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SockType {
    Stream = 1,
    Dgram = 2,
    SeqPacket = 5,
}

/// The SOL_SOCKET options a socket keeps.
#[derive(Clone, Copy)]
pub struct SockOpts {
    pub sndbuf: usize,
    pub rcvbuf: usize,
    pub passcred: bool,
    pub reuseaddr: bool,
    pub keepalive: bool,
    pub broadcast: bool,
}

impl Default for SockOpts {
    fn default() -> Self {
        SockOpts {
            sndbuf: SYSCTL_MEM_MAX,
            rcvbuf: SYSCTL_MEM_MAX,
            passcred: false,
            reuseaddr: false,
            keepalive: false,
            broadcast: false,
        }
    }
}

/// A message to send, its data and control parts in the kernel.
pub struct SendMsg {
    pub data: Vec<u8>,
    /// The destination's raw `sockaddr`, if one was given.
    pub addr: Option<Vec<u8>>,
    pub fds: Vec<FileRef>,
    pub cred: Option<Ucred>,
    pub flags: u32,
}

/// What a receive got.
pub struct RecvMsg {
    pub data: Vec<u8>,
    /// A record's whole length (more than `data` if it was cut to the buffer).
    pub full_len: usize,
    pub fds: Vec<FileRef>,
    pub cred: Option<Ucred>,
    pub from: Option<super::unix::addr::UnixAddr>,
}

impl RecvMsg {
    pub fn with_capacity(len: usize) -> Self {
        RecvMsg {
            data: Vec::with_capacity(len),
            full_len: 0,
            fds: Vec::new(),
            cred: None,
            from: None,
        }
    }
}

/// What a protocol family does (`struct proto_ops`).
pub trait ProtoOps: Send + Sync {
    fn sock_type(&self) -> SockType;
    fn bind(&self, addr: &[u8]) -> KResult<()>;
    fn connect(&self, addr: &[u8], nonblock: bool) -> KResult<()>;
    fn listen(&self, backlog: i32) -> KResult<()>;
    fn accept(&self, nonblock: bool) -> KResult<Arc<dyn ProtoOps>>;
    /// Our name, or the peer's: a `sockaddr` to copy out.
    fn getname(&self, peer: bool) -> KResult<Vec<u8>>;
    fn sendmsg(&self, msg: SendMsg, nonblock: bool) -> KResult<usize>;
    fn recvmsg(&self, len: usize, flags: u32, nonblock: bool) -> KResult<RecvMsg>;
    fn shutdown(&self, how: i32) -> KResult<()>;
    fn opts(&self) -> SockOpts;
    fn set_opts(&self, opts: SockOpts);
    /// Take the pending error (`sock_error`).
    fn take_error(&self) -> Errno;
    fn peer_cred(&self) -> Option<Ucred>;
    fn listening(&self) -> bool;
    /// Bytes ready to read (FIONREAD).
    fn inq(&self) -> usize;
    fn poll(&self, pt: Option<&mut PollTable>) -> u16;
    fn release(&self);
    /// The socket got its file (`sock_graft`).
    fn graft(&self, _file: &FileRef) {}
}

/// An open socket (`socket_file_ops`): read and write are recv and send without flags.
pub struct SocketFile {
    pub sock: Arc<dyn ProtoOps>,
}

impl FileOps for SocketFile {
    fn read(&self, file: &File, buf: &mut [u8], _pos: &mut u64) -> KResult<usize> {
        let got = self.sock.recvmsg(buf.len(), 0, file.nonblocking())?;
        buf[..got.data.len()].copy_from_slice(&got.data);
        Ok(got.data.len())
    }

    fn write(&self, file: &File, buf: &[u8], _pos: &mut u64) -> KResult<usize> {
        let msg = SendMsg {
            data: buf.to_vec(),
            addr: None,
            fds: Vec::new(),
            cred: None,
            flags: 0,
        };
        send_checked(&*self.sock, msg, file.nonblocking())
    }

    fn seekable(&self) -> bool {
        false
    }

    fn poll(&self, _file: &File, pt: Option<&mut PollTable>) -> u16 {
        self.sock.poll(pt)
    }

    fn ioctl(&self, _file: &File, cmd: u32, arg: u64) -> KResult<i64> {
        match cmd {
            FIONREAD => {
                write_user(arg, &(self.sock.inq() as i32))?;
                Ok(0)
            }
            _ => Err(ENOTTY),
        }
    }

    fn release(&self, _file: &File) {
        self.sock.release();
    }

    fn as_any(&self) -> Option<&dyn core::any::Any> {
        Some(self)
    }
}

/// Send, raising SIGPIPE for a broken connection unless MSG_NOSIGNAL.
fn send_checked(sock: &dyn ProtoOps, msg: SendMsg, nonblock: bool) -> KResult<usize> {
    let quiet = msg.flags & MSG_NOSIGNAL != 0;
    let r = sock.sendmsg(msg, nonblock);
    if r == Err(EPIPE) && sock.sock_type() != SockType::Dgram && !quiet {
        crate::fs::pipe::send_sigpipe();
    }
    r
}

/// The sockfs mount socket inodes hang off (`sock_mnt`).
fn sock_mnt() -> Arc<Mount> {
    static MNT: Once<Arc<Mount>> = Once::new();
    MNT.call_once(|| {
        let sb = SuperBlock::new_anon("sockfs", SOCKFS_MAGIC);
        let root = Inode::new(&sb, InodeMeta::new(S_IFDIR | 0o555), SpecialInode::new());
        kern_mount(sb, Dentry::new_root(root), "sockfs")
    })
    .clone()
}

/// A file for `sock` on a new sockfs inode, named `socket:[ino]` (`sock_alloc_file`).
fn sock_alloc_file(sock: Arc<dyn ProtoOps>, flags: u64) -> FileRef {
    let mnt = sock_mnt();
    let mut meta = InodeMeta::new(S_IFSOCK | 0o777);
    let cred = *current().cred.lock();
    (meta.uid, meta.gid) = (cred.euid, cred.egid);
    let inode = Inode::new(&mnt.sb, meta, SpecialInode::new());
    let dentry = Dentry::new_pseudo(&format!("socket:[{}]", inode.ino), inode.clone());
    let ops: Arc<dyn FileOps> = Arc::new(SocketFile { sock: sock.clone() });
    let file = File::new(
        Path { mnt, dentry },
        inode,
        ops,
        O_RDWR | (flags as u32 & O_NONBLOCK),
    );
    sock.graft(&file);
    file
}

fn install(file: FileRef, flags: u64) -> KResult<i64> {
    let fd = current()
        .files()
        .lock()
        .install(file, flags & SOCK_CLOEXEC != 0)?;
    Ok(fd as i64)
}

/// Check socket/socketpair arguments as Linux orders them and make the socket.
fn sock_create(family: u64, ty: u64, protocol: u64) -> KResult<Arc<UnixSock>> {
    if ty & !(SOCK_TYPE_MASK | SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return Err(EINVAL);
    }
    if family as i32 as i64 >= AF_MAX as i64 || (family as i32) < 0 {
        return Err(EAFNOSUPPORT);
    }
    let base = ty & SOCK_TYPE_MASK;
    if base >= SOCK_MAX {
        return Err(EINVAL);
    }
    if family as i32 as u64 != AF_UNIX {
        return Err(EAFNOSUPPORT);
    }
    if protocol as i32 != 0 && protocol as i32 as u64 != AF_UNIX {
        return Err(EPROTONOSUPPORT);
    }
    let kind = match base {
        1 => SockType::Stream,
        // SOCK_RAW is a datagram socket in this family.
        2 | 3 => SockType::Dgram,
        5 => SockType::SeqPacket,
        _ => return Err(ESOCKTNOSUPPORT),
    };
    Ok(UnixSock::new(kind))
}

pub fn sys_socket(family: u64, ty: u64, protocol: u64) -> KResult<i64> {
    let sock = sock_create(family, ty, protocol)?;
    install(sock_alloc_file(sock, ty), ty)
}

pub fn sys_socketpair(family: u64, ty: u64, protocol: u64, usv: u64) -> KResult<i64> {
    let a = sock_create(family, ty, protocol)?;
    let b = sock_create(family, ty, protocol)?;
    UnixSock::pair(&a, &b);
    let (fa, fb) = (sock_alloc_file(a, ty), sock_alloc_file(b, ty));
    let files = current().files();
    let cloexec = ty & SOCK_CLOEXEC != 0;
    let (x, y) = {
        let mut t = files.lock();
        let x = t.install(fa, cloexec)?;
        match t.install(fb, cloexec) {
            Ok(y) => (x, y),
            Err(e) => {
                let f = t.close(x);
                drop(t);
                drop(f);
                return Err(e);
            }
        }
    };
    if let Err(e) = write_user(usv, &[x as i32, y as i32]) {
        let (f1, f2) = {
            let mut t = files.lock();
            (t.close(x), t.close(y))
        };
        drop((f1, f2));
        return Err(e);
    }
    Ok(0)
}

/// The socket behind `fd` (`sockfd_lookup`): `ENOTSOCK` for other files.
fn sockfd_lookup(fd: u64) -> KResult<(FileRef, Arc<dyn ProtoOps>)> {
    let file = fdget(fd)?;
    let sock = file
        .ops
        .as_any()
        .and_then(|a| a.downcast_ref::<SocketFile>())
        .map(|s| s.sock.clone())
        .ok_or(ENOTSOCK)?;
    Ok((file, sock))
}

/// Copy a user `sockaddr` in (`move_addr_to_kernel`).
fn move_addr_to_kernel(uaddr: u64, len: u64) -> KResult<Vec<u8>> {
    let len = len as i32;
    if len < 0 || len as usize > SOCKADDR_STORAGE {
        return Err(EINVAL);
    }
    let mut buf = vec![0u8; len as usize];
    copy_from_user(&mut buf, uaddr)?;
    Ok(buf)
}

/// Copy a `sockaddr` out (`move_addr_to_user`): as much as the caller's length allows, and
/// the real length back in `*ulen`.
fn move_addr_to_user(addr: &[u8], uaddr: u64, ulen: u64) -> KResult<()> {
    let len: i32 = read_user(ulen)?;
    if len < 0 {
        return Err(EINVAL);
    }
    let n = (len as usize).min(addr.len());
    if n > 0 {
        copy_to_user(uaddr, &addr[..n])?;
    }
    write_user(ulen, &(addr.len() as i32))
}

pub fn sys_bind(fd: u64, uaddr: u64, len: u64) -> KResult<i64> {
    let (_f, sock) = sockfd_lookup(fd)?;
    let addr = move_addr_to_kernel(uaddr, len)?;
    sock.bind(&addr)?;
    Ok(0)
}

pub fn sys_connect(fd: u64, uaddr: u64, len: u64) -> KResult<i64> {
    let (file, sock) = sockfd_lookup(fd)?;
    let addr = move_addr_to_kernel(uaddr, len)?;
    sock.connect(&addr, file.nonblocking())?;
    Ok(0)
}

pub fn sys_listen(fd: u64, backlog: u64) -> KResult<i64> {
    let (_f, sock) = sockfd_lookup(fd)?;
    sock.listen(backlog as i32)?;
    Ok(0)
}

pub fn sys_accept4(fd: u64, uaddr: u64, ulen: u64, flags: u64) -> KResult<i64> {
    if flags & !(SOCK_CLOEXEC | SOCK_NONBLOCK) != 0 {
        return Err(EINVAL);
    }
    let (file, sock) = sockfd_lookup(fd)?;
    let newsock = sock.accept(file.nonblocking())?;
    let name = newsock.getname(true).ok();
    let newfile = sock_alloc_file(newsock, flags);
    if uaddr != 0 {
        move_addr_to_user(&name.unwrap_or_default(), uaddr, ulen)?;
    }
    install(newfile, flags)
}

pub fn sys_accept(fd: u64, uaddr: u64, ulen: u64) -> KResult<i64> {
    sys_accept4(fd, uaddr, ulen, 0)
}

pub fn sys_getsockname(fd: u64, uaddr: u64, ulen: u64) -> KResult<i64> {
    let (_f, sock) = sockfd_lookup(fd)?;
    move_addr_to_user(&sock.getname(false)?, uaddr, ulen)?;
    Ok(0)
}

pub fn sys_getpeername(fd: u64, uaddr: u64, ulen: u64) -> KResult<i64> {
    let (_f, sock) = sockfd_lookup(fd)?;
    move_addr_to_user(&sock.getname(true)?, uaddr, ulen)?;
    Ok(0)
}

pub fn sys_shutdown(fd: u64, how: u64) -> KResult<i64> {
    let (_f, sock) = sockfd_lookup(fd)?;
    sock.shutdown(how as i32)?;
    Ok(0)
}

pub fn sys_sendto(fd: u64, buf: u64, len: u64, flags: u64, uaddr: u64, alen: u64) -> KResult<i64> {
    let (file, sock) = sockfd_lookup(fd)?;
    let len = len.min(SEND_MAX as u64) as usize;
    let mut data = vec![0u8; len];
    copy_from_user(&mut data, buf)?;
    let addr = if uaddr != 0 {
        Some(move_addr_to_kernel(uaddr, alen)?)
    } else {
        None
    };
    let flags = flags as u32;
    let msg = SendMsg {
        data,
        addr,
        fds: Vec::new(),
        cred: None,
        flags,
    };
    let nonblock = file.nonblocking() || flags & MSG_DONTWAIT != 0;
    send_checked(&*sock, msg, nonblock).map(|n| n as i64)
}

pub fn sys_recvfrom(
    fd: u64,
    buf: u64,
    len: u64,
    flags: u64,
    uaddr: u64,
    ulen: u64,
) -> KResult<i64> {
    let (file, sock) = sockfd_lookup(fd)?;
    let flags = flags as u32;
    let nonblock = file.nonblocking() || flags & MSG_DONTWAIT != 0;
    let len = (len.min(i32::MAX as u64) as usize).min(RECV_CHUNK);
    let got = sock.recvmsg(len, flags, nonblock)?;
    copy_to_user(buf, &got.data)?;
    if uaddr != 0 {
        let name = got
            .from
            .as_ref()
            .map(|a| super::unix::addr::sockaddr_bytes(Some(a)))
            .unwrap_or_default();
        move_addr_to_user(&name, uaddr, ulen)?;
    }
    Ok(result_len(&got, flags) as i64)
}

/// A receive's return value: the bytes copied, or with MSG_TRUNC a record's real length.
fn result_len(got: &RecvMsg, flags: u32) -> usize {
    if flags & MSG_TRUNC != 0 {
        got.full_len
    } else {
        got.data.len()
    }
}

/// `struct user_msghdr`.
struct MsgHdr {
    name: u64,
    namelen: u32,
    iov: u64,
    iovlen: u64,
    control: u64,
    controllen: u64,
}

const MSGHDR_SIZE: usize = 56;

fn read_msghdr(addr: u64) -> KResult<MsgHdr> {
    let raw: [u64; 7] = read_user(addr)?;
    if raw[5] > i32::MAX as u64 {
        return Err(ENOBUFS);
    }
    Ok(MsgHdr {
        name: raw[0],
        namelen: raw[1] as u32,
        iov: raw[2],
        iovlen: raw[3],
        control: raw[4],
        controllen: raw[5],
    })
}

pub fn sys_sendmsg(fd: u64, umsg: u64, flags: u64) -> KResult<i64> {
    let (file, sock) = sockfd_lookup(fd)?;
    let hdr = read_msghdr(umsg)?;
    let flags = flags as u32;
    let mut data = Vec::new();
    for v in import_iovec(hdr.iov, hdr.iovlen)? {
        let start = data.len();
        let n = (v.len as usize).min(SEND_MAX - start);
        data.resize(start + n, 0);
        copy_from_user(&mut data[start..], v.base)?;
    }
    let addr = if hdr.name != 0 && hdr.namelen != 0 {
        Some(move_addr_to_kernel(hdr.name, hdr.namelen as u64)?)
    } else {
        None
    };
    let mut msg = SendMsg {
        data,
        addr,
        fds: Vec::new(),
        cred: None,
        flags,
    };
    scm_send(hdr.control, hdr.controllen, &mut msg)?;
    let nonblock = file.nonblocking() || flags & MSG_DONTWAIT != 0;
    send_checked(&*sock, msg, nonblock).map(|n| n as i64)
}

pub fn sys_recvmsg(fd: u64, umsg: u64, flags: u64) -> KResult<i64> {
    let (file, sock) = sockfd_lookup(fd)?;
    let hdr = read_msghdr(umsg)?;
    let flags = flags as u32;
    let iov = import_iovec(hdr.iov, hdr.iovlen)?;
    let total: usize = iov.iter().map(|v| v.len as usize).sum();
    let nonblock = file.nonblocking() || flags & MSG_DONTWAIT != 0;
    let mut got = sock.recvmsg(total.min(RECV_CHUNK), flags, nonblock)?;
    let mut off = 0;
    for v in &iov {
        let n = (v.len as usize).min(got.data.len() - off);
        copy_to_user(v.base, &got.data[off..off + n])?;
        off += n;
    }
    if hdr.name != 0 {
        let name = got
            .from
            .as_ref()
            .map(|a| super::unix::addr::sockaddr_bytes(Some(a)))
            .unwrap_or_default();
        let n = (hdr.namelen as usize).min(name.len());
        copy_to_user(hdr.name, &name[..n])?;
        write_user(umsg + 8, &(name.len() as u32))?;
    }
    let room = if hdr.control != 0 {
        hdr.controllen as usize
    } else {
        0
    };
    let cmsgs = scm_recv(&*sock, &mut got, room, flags);
    copy_to_user(hdr.control, &cmsgs.buf)?;
    write_user(umsg + 40, &(cmsgs.buf.len() as u64))?;
    let mut out_flags = cmsgs.flags;
    if got.full_len > got.data.len() {
        out_flags |= MSG_TRUNC;
    }
    write_user(umsg + MSGHDR_SIZE as u64 - 8, &out_flags)?;
    Ok(result_len(&got, flags) as i64)
}

pub fn sys_getsockopt(fd: u64, level: u64, name: u64, optval: u64, optlen: u64) -> KResult<i64> {
    let (_f, sock) = sockfd_lookup(fd)?;
    let len: i32 = read_user(optlen)?;
    if len < 0 {
        return Err(EINVAL);
    }
    if level as i32 != SOL_SOCKET {
        return Err(EOPNOTSUPP);
    }
    let name = name as i32;
    if name == SO_PEERCRED {
        let data = ucred_bytes(sock.peer_cred());
        let n = (len as usize).min(12);
        copy_to_user(optval, &data[..n])?;
        write_user(optlen, &(n as i32))?;
        return Ok(0);
    }
    let o = sock.opts();
    let v: i32 = match name {
        SO_TYPE => sock.sock_type() as i32,
        SO_ERROR => sock.take_error() as i32,
        SO_SNDBUF => o.sndbuf as i32,
        SO_RCVBUF => o.rcvbuf as i32,
        SO_PASSCRED => o.passcred as i32,
        SO_REUSEADDR => o.reuseaddr as i32,
        SO_KEEPALIVE => o.keepalive as i32,
        SO_BROADCAST => o.broadcast as i32,
        SO_ACCEPTCONN => sock.listening() as i32,
        SO_PROTOCOL => 0,
        SO_DOMAIN => AF_UNIX as i32,
        _ => return Err(ENOPROTOOPT),
    };
    if (len as usize) < 4 {
        return Err(EINVAL);
    }
    write_user(optval, &v)?;
    write_user(optlen, &4i32)?;
    Ok(0)
}

pub fn sys_setsockopt(fd: u64, level: u64, name: u64, optval: u64, optlen: u64) -> KResult<i64> {
    let (_f, sock) = sockfd_lookup(fd)?;
    if level as i32 != SOL_SOCKET {
        return Err(EOPNOTSUPP);
    }
    if (optlen as i32) < 4 {
        return Err(EINVAL);
    }
    let v: i32 = read_user(optval)?;
    let mut o = sock.opts();
    // Buffer sizes are doubled for bookkeeping, as Linux does, within wmem_max/rmem_max.
    let size = (v as u32 as usize).min(SYSCTL_MEM_MAX) * 2;
    match name as i32 {
        SO_SNDBUF => o.sndbuf = size.max(SOCK_MIN_SNDBUF),
        SO_RCVBUF => o.rcvbuf = size.max(SOCK_MIN_RCVBUF),
        SO_PASSCRED => o.passcred = v != 0,
        SO_REUSEADDR => o.reuseaddr = v != 0,
        SO_KEEPALIVE => o.keepalive = v != 0,
        SO_BROADCAST => o.broadcast = v != 0,
        _ => return Err(ENOPROTOOPT),
    }
    sock.set_opts(o);
    Ok(0)
}
