//! Control messages (Linux's net/core/scm.c and the `CMSG_*` layout): the `cmsghdr`
//! records of `msg_control`, SCM_RIGHTS (descriptors) and SCM_CREDENTIALS (`struct ucred`).
//! Pure layout code, tested on the host; the socket calls turn descriptors into files.

use alloc::vec::Vec;

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
