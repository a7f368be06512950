//! Control messages (Linux's net/core/scm.c and the `CMSG_*` layout): the `cmsghdr`
//! records of `msg_control`, SCM_RIGHTS (descriptors) and SCM_CREDENTIALS (`struct ucred`).
//! The layout code is pure and tested on the host; `sockets` turns a sendmsg's control part
//! into files and credentials (`__scm_send`) and a received message's back into descriptors
//! in the receiver's table (`scm_recv`).

use alloc::vec::Vec;

#[cfg(not(test))]
pub use sockets::*;

use crate::kernel::errno::*;

pub const SOL_SOCKET: i32 = 1;
pub const SCM_RIGHTS: i32 = 1;
pub const SCM_CREDENTIALS: i32 = 2;
/// At most this many descriptors in one message (`SCM_MAX_FD`).
pub const SCM_MAX_FD: usize = 253;
/// `sizeof(struct cmsghdr)`: a u64 length, then level and type.
const CMSG_HDR: usize = 16;
/// `MSG_CTRUNC`: the control buffer was too small.
pub const MSG_CTRUNC: u32 = 8;

const fn cmsg_align(n: usize) -> usize {
    (n + 7) & !7
}

/// One control message: (level, type, data).
pub type Cmsg = (i32, i32, Vec<u8>);

/// Split `buf` (all `msg_controllen` bytes) into its messages (`__scm_send`'s walk):
/// `EINVAL` for a header whose length is short or runs past the buffer.
pub fn parse_cmsgs(buf: &[u8]) -> KResult<Vec<Cmsg>> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + CMSG_HDR <= buf.len() {
        let len = u64::from_ne_bytes(buf[off..off + 8].try_into().expect("8 bytes")) as usize;
        let level = i32::from_ne_bytes(buf[off + 8..off + 12].try_into().expect("4 bytes"));
        let ty = i32::from_ne_bytes(buf[off + 12..off + 16].try_into().expect("4 bytes"));
        if len < CMSG_HDR || len > buf.len() - off {
            return Err(EINVAL);
        }
        out.push((level, ty, buf[off + CMSG_HDR..off + len].to_vec()));
        off += cmsg_align(len);
    }
    Ok(out)
}

/// Descriptor numbers of an SCM_RIGHTS payload: whole ints, at least one, at most
/// SCM_MAX_FD (`scm_fp_copy`).
pub fn rights_fds(data: &[u8]) -> KResult<Vec<i32>> {
    let n = data.len() / 4;
    if n == 0 || n > SCM_MAX_FD {
        return Err(EINVAL);
    }
    Ok(data
        .chunks_exact(4)
        .map(|c| i32::from_ne_bytes(c.try_into().expect("4 bytes")))
        .collect())
}

/// Builds `msg_control` for recvmsg within `room` bytes, as `put_cmsg` and `scm_detach_fds`
/// do: a message that does not fit whole sets MSG_CTRUNC; SCM_RIGHTS is cut to the
/// descriptors that fit.
pub struct CmsgWriter {
    pub buf: Vec<u8>,
    room: usize,
    pub flags: u32,
}

impl CmsgWriter {
    pub fn new(room: usize) -> Self {
        CmsgWriter {
            buf: Vec::new(),
            room,
            flags: 0,
        }
    }

    fn space(&self) -> usize {
        self.room.saturating_sub(self.buf.len())
    }

    /// Append one message; false (and MSG_CTRUNC) if it did not fit.
    pub fn put(&mut self, level: i32, ty: i32, data: &[u8]) -> bool {
        let len = CMSG_HDR + data.len();
        if self.space() < len {
            self.flags |= MSG_CTRUNC;
            return false;
        }
        self.buf.extend_from_slice(&(len as u64).to_ne_bytes());
        self.buf.extend_from_slice(&level.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        // The padding to the next message, as far as the buffer has room for it.
        let pad = (cmsg_align(len) - len).min(self.space());
        self.buf.resize(self.buf.len() + pad, 0);
        true
    }

    /// How many of `n` descriptors an SCM_RIGHTS message can carry here; fewer than `n`
    /// sets MSG_CTRUNC.
    pub fn rights_room(&mut self, n: usize) -> usize {
        let fit = self.space().saturating_sub(CMSG_HDR) / 4;
        if fit < n {
            self.flags |= MSG_CTRUNC;
        }
        fit.min(n)
    }
}

/// The control parts of sendmsg and recvmsg, between user memory, files and a message.
#[cfg(not(test))]
mod sockets {
    use alloc::vec::Vec;

    use super::*;
    use crate::fs::read_write::fdget_raw;
    use crate::kernel::task::current;
    use crate::mm::usercopy::copy_from_user;
    use crate::net::socket::*;
    use crate::net::unix::af_unix::current_ucred;
    use crate::net::unix::skb::Ucred;

    /// Control data a sendmsg may carry (`net.core.optmem_max`).
    const OPTMEM_MAX: usize = 20480;

    /// The descriptors and credentials of a sendmsg's control part (`__scm_send`).
    pub fn scm_send(control: u64, controllen: u64, msg: &mut SendMsg) -> KResult<()> {
        if controllen == 0 {
            return Ok(());
        }
        if controllen as usize > OPTMEM_MAX {
            return Err(ENOBUFS);
        }
        let mut raw = alloc::vec![0u8; controllen as usize];
        copy_from_user(&mut raw, control)?;
        for (level, ty, data) in parse_cmsgs(&raw)? {
            if level != SOL_SOCKET {
                continue;
            }
            match ty {
                SCM_RIGHTS => {
                    if msg.fds.len() + data.len() / 4 > SCM_MAX_FD {
                        return Err(EINVAL);
                    }
                    for fd in rights_fds(&data)? {
                        msg.fds.push(fdget_raw(fd as u32 as u64)?);
                    }
                }
                SCM_CREDENTIALS => {
                    if data.len() != 12 {
                        return Err(EINVAL);
                    }
                    let word = |i: usize| u32::from_ne_bytes(data[i..i + 4].try_into().expect("4"));
                    let cred = Ucred {
                        pid: word(0) as i32,
                        uid: word(4),
                        gid: word(8),
                    };
                    // Only root may claim to be someone else (`scm_check_creds`).
                    let me = current_ucred();
                    let real = *current().cred.lock();
                    let root = real.euid == 0;
                    let ok = (cred.pid == me.pid || root)
                        && (cred.uid == real.uid || cred.uid == real.euid || root)
                        && (cred.gid == real.gid || cred.gid == real.egid || root);
                    if !ok {
                        return Err(EPERM);
                    }
                    msg.cred = Some(cred);
                }
                _ => return Err(EINVAL),
            }
        }
        Ok(())
    }

    /// A `struct ucred`; nobody (pid 0, the overflow ids) when there are no credentials.
    pub fn ucred_bytes(cred: Option<Ucred>) -> [u8; 12] {
        let c = cred.unwrap_or(Ucred {
            pid: 0,
            uid: 65534,
            gid: 65534,
        });
        let mut data = [0u8; 12];
        data[..4].copy_from_slice(&c.pid.to_ne_bytes());
        data[4..8].copy_from_slice(&c.uid.to_ne_bytes());
        data[8..].copy_from_slice(&c.gid.to_ne_bytes());
        data
    }

    /// Build the control part of a received message (`scm_recv`): credentials if asked for,
    /// then the descriptors, installed in our table as far as the buffer has room; the rest are
    /// closed.
    pub fn scm_recv(sock: &dyn ProtoOps, got: &mut RecvMsg, room: usize, flags: u32) -> CmsgWriter {
        let mut w = CmsgWriter::new(room);
        if sock.opts().passcred {
            w.put(SOL_SOCKET, SCM_CREDENTIALS, &ucred_bytes(got.cred));
        }
        let files = core::mem::take(&mut got.fds);
        if files.is_empty() {
            return w;
        }
        let n = w.rights_room(files.len());
        let cloexec = flags & MSG_CMSG_CLOEXEC != 0;
        let mut fds = Vec::new();
        let mut rest = files.into_iter();
        {
            let table = current().files();
            let mut t = table.lock();
            for f in rest.by_ref().take(n) {
                match t.install(f, cloexec) {
                    Ok(fd) => fds.push(fd as i32),
                    Err(_) => {
                        w.flags |= MSG_CTRUNC;
                        break;
                    }
                }
            }
        }
        drop(rest.collect::<Vec<_>>());
        if !fds.is_empty() {
            let data: Vec<u8> = fds.iter().flat_map(|fd| fd.to_ne_bytes()).collect();
            w.put(SOL_SOCKET, SCM_RIGHTS, &data);
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;

    fn cmsg(level: i32, ty: i32, data: &[u8]) -> Vec<u8> {
        let mut w = CmsgWriter::new(256);
        assert!(w.put(level, ty, data));
        w.buf
    }

    #[test]
    fn messages_round_trip_with_their_padding() {
        let mut buf = cmsg(
            SOL_SOCKET,
            SCM_RIGHTS,
            &[3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0],
        );
        assert_eq!(buf.len(), 32);
        buf.extend(cmsg(SOL_SOCKET, SCM_CREDENTIALS, &[0; 12]));
        let msgs = parse_cmsgs(&buf).unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(rights_fds(&msgs[0].2).unwrap(), vec![3, 4, 5]);
        assert_eq!((msgs[1].0, msgs[1].1, msgs[1].2.len()), (1, 2, 12));
    }

    #[test]
    fn bad_headers_and_rights_are_einval() {
        let mut buf = cmsg(SOL_SOCKET, SCM_RIGHTS, &[1, 0, 0, 0]);
        buf[0] = 8;
        assert_eq!(parse_cmsgs(&buf), Err(EINVAL));
        buf[0] = 200;
        assert_eq!(parse_cmsgs(&buf), Err(EINVAL));
        assert_eq!(rights_fds(&[]), Err(EINVAL));
        assert_eq!(rights_fds(&[0; 254 * 4]), Err(EINVAL));
        assert_eq!(parse_cmsgs(&[0; 8]).unwrap().len(), 0);
    }

    #[test]
    fn a_small_control_buffer_truncates() {
        let mut w = CmsgWriter::new(24);
        assert_eq!(w.rights_room(3), 2);
        assert_eq!(w.flags, MSG_CTRUNC);
        let mut w = CmsgWriter::new(10);
        assert!(!w.put(SOL_SOCKET, SCM_CREDENTIALS, &[0; 12]));
        assert!(w.buf.is_empty());
    }
}
