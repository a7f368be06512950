//! Safe wrappers over the socket calls the AF_UNIX checks use: each returns the kernel's
//! errno as an `io::Error`, addresses are `sockaddr_un` built from paths or abstract names.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use guest_user::sys::{cvt, cvt_long};

/// A `sockaddr_un` and the length to pass with it.
pub(crate) struct Addr {
    raw: libc::sockaddr_un,
    len: libc::socklen_t,
}

const PATH_OFFSET: usize = 2;

impl Addr {
    fn with(name: &[u8]) -> Addr {
        // SAFETY: a zeroed sockaddr_un is valid.
        let mut raw: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        raw.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (d, s) in raw.sun_path.iter_mut().zip(name) {
            *d = *s as libc::c_char;
        }
        Addr {
            raw,
            len: (PATH_OFFSET + name.len()) as libc::socklen_t,
        }
    }

    /// A filesystem name, with its NUL counted in the length.
    pub(crate) fn path(p: impl AsRef<std::path::Path>) -> Addr {
        use std::os::unix::ffi::OsStrExt;
        let mut name = p.as_ref().as_os_str().as_bytes().to_vec();
        name.push(0);
        Addr::with(&name)
    }

    /// An abstract name: a NUL, then `name`.
    pub(crate) fn abstract_name(name: &[u8]) -> Addr {
        let mut v = vec![0u8];
        v.extend_from_slice(name);
        Addr::with(&v)
    }

    /// Only the family (bind: pick a name).
    pub(crate) fn unnamed() -> Addr {
        Addr::with(&[])
    }

    fn ptr(&self) -> *const libc::sockaddr {
        (&self.raw as *const libc::sockaddr_un).cast()
    }
}

fn owned(fd: i32) -> OwnedFd {
    // SAFETY: a new descriptor from the kernel that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

pub(crate) fn socket(domain: i32, ty: i32, proto: i32) -> io::Result<OwnedFd> {
    // SAFETY: socket has no memory arguments.
    cvt(unsafe { libc::socket(domain, ty, proto) }).map(owned)
}

pub(crate) fn socketpair(ty: i32) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: the kernel writes two descriptors into `fds`.
    cvt(unsafe { libc::socketpair(libc::AF_UNIX, ty, 0, fds.as_mut_ptr()) })?;
    Ok((owned(fds[0]), owned(fds[1])))
}

pub(crate) fn bind(fd: RawFd, a: &Addr) -> io::Result<()> {
    // SAFETY: `a` holds a sockaddr_un of at least `a.len` bytes.
    cvt(unsafe { libc::bind(fd, a.ptr(), a.len) }).map(drop)
}

pub(crate) fn connect(fd: RawFd, a: &Addr) -> io::Result<()> {
    // SAFETY: as for bind.
    cvt(unsafe { libc::connect(fd, a.ptr(), a.len) }).map(drop)
}

pub(crate) fn listen(fd: RawFd, backlog: i32) -> io::Result<()> {
    // SAFETY: listen has no memory arguments.
    cvt(unsafe { libc::listen(fd, backlog) }).map(drop)
}

pub(crate) fn accept4(fd: RawFd, flags: i32) -> io::Result<OwnedFd> {
    // SAFETY: null address pointers are allowed.
    cvt(unsafe { libc::accept4(fd, std::ptr::null_mut(), std::ptr::null_mut(), flags) }).map(owned)
}

pub(crate) fn send(fd: RawFd, buf: &[u8], flags: i32) -> io::Result<usize> {
    // SAFETY: the kernel reads `buf.len()` bytes of `buf`.
    cvt_long(unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), flags) } as i64)
        .map(|n| n as usize)
}

pub(crate) fn sendto(fd: RawFd, buf: &[u8], a: &Addr) -> io::Result<usize> {
    // SAFETY: `buf` and `a` are valid for the lengths given.
    let r = unsafe { libc::sendto(fd, buf.as_ptr().cast(), buf.len(), 0, a.ptr(), a.len) };
    cvt_long(r as i64).map(|n| n as usize)
}

pub(crate) fn recv(fd: RawFd, buf: &mut [u8], flags: i32) -> io::Result<usize> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    cvt_long(unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags) } as i64)
        .map(|n| n as usize)
}

/// recvfrom: the byte count and the sender's address bytes (family included).
pub(crate) fn recvfrom(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, Vec<u8>)> {
    // SAFETY: a zeroed sockaddr_un is valid.
    let mut sa: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: `buf` and `sa` are valid for the lengths given.
    let n = cvt_long(unsafe {
        libc::recvfrom(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            0,
            (&mut sa as *mut libc::sockaddr_un).cast(),
            &mut len,
        )
    } as i64)?;
    Ok((n as usize, addr_bytes(&sa, len)))
}

fn addr_bytes(sa: &libc::sockaddr_un, len: libc::socklen_t) -> Vec<u8> {
    // SAFETY: `sa` is a plain struct of `size_of::<sockaddr_un>()` bytes.
    let raw = unsafe {
        std::slice::from_raw_parts(
            (sa as *const libc::sockaddr_un).cast::<u8>(),
            std::mem::size_of::<libc::sockaddr_un>(),
        )
    };
    raw[..(len as usize).min(raw.len())].to_vec()
}

/// getsockname or getpeername: the address bytes, as long as the kernel says.
pub(crate) fn name(fd: RawFd, peer: bool) -> io::Result<Vec<u8>> {
    // SAFETY: a zeroed sockaddr_un is valid.
    let mut sa: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    let p = (&mut sa as *mut libc::sockaddr_un).cast();
    // SAFETY: the kernel writes at most `len` bytes at `p`.
    let r = unsafe {
        if peer {
            libc::getpeername(fd, p, &mut len)
        } else {
            libc::getsockname(fd, p, &mut len)
        }
    };
    cvt(r)?;
    Ok(addr_bytes(&sa, len))
}

/// The bytes of a name as getsockname returns them: family, then the name.
pub(crate) fn name_bytes(name: &[u8]) -> Vec<u8> {
    let mut v = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
    v.extend_from_slice(name);
    v
}

pub(crate) fn getsockopt_int(fd: RawFd, level: i32, opt: i32) -> io::Result<i32> {
    let mut v = 0i32;
    let mut len = 4 as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `v`.
    cvt(unsafe { libc::getsockopt(fd, level, opt, (&mut v as *mut i32).cast(), &mut len) })?;
    Ok(v)
}

pub(crate) fn setsockopt_int(fd: RawFd, opt: i32, v: i32) -> io::Result<()> {
    // SAFETY: the kernel reads one int.
    let r = unsafe { libc::setsockopt(fd, libc::SOL_SOCKET, opt, (&v as *const i32).cast(), 4) };
    cvt(r).map(drop)
}

pub(crate) fn peercred(fd: RawFd) -> io::Result<libc::ucred> {
    let mut c = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    let p = (&mut c as *mut libc::ucred).cast();
    // SAFETY: the kernel writes at most `len` bytes into `c`.
    cvt(unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_PEERCRED, p, &mut len) })?;
    Ok(c)
}

pub(crate) fn shutdown(fd: RawFd, how: i32) -> io::Result<()> {
    // SAFETY: shutdown has no memory arguments.
    cvt(unsafe { libc::shutdown(fd, how) }).map(drop)
}

/// sendmsg with `data` and SCM_RIGHTS carrying `fds` (none: no control part).
pub(crate) fn send_fds(fd: RawFd, data: &[u8], fds: &[RawFd]) -> io::Result<usize> {
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut _,
        iov_len: data.len(),
    };
    let mut control = vec![0u64; 64];
    // SAFETY: a zeroed msghdr is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        let bytes = std::mem::size_of_val(fds) as u32;
        msg.msg_control = control.as_mut_ptr().cast();
        // SAFETY: CMSG_SPACE is pure arithmetic.
        msg.msg_controllen = unsafe { libc::CMSG_SPACE(bytes) } as _;
        // SAFETY: the control buffer has room for one header and `fds` (CMSG_SPACE above,
        // 512 bytes in all).
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(bytes) as _;
            std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(c).cast(), fds.len());
        }
    }
    // SAFETY: `msg` points at live buffers of the lengths it states.
    cvt_long(unsafe { libc::sendmsg(fd, &msg, 0) } as i64).map(|n| n as usize)
}

/// What recvmsg brought: data, descriptors, credentials, msg_flags.
pub(crate) struct Received {
    pub data: Vec<u8>,
    pub fds: Vec<RawFd>,
    pub cred: Option<libc::ucred>,
    pub flags: i32,
}

/// recvmsg into a buffer of `len` bytes with `control_len` bytes for control messages.
pub(crate) fn recv_msg(
    fd: RawFd,
    len: usize,
    control_len: usize,
    flags: i32,
) -> io::Result<Received> {
    let mut data = vec![0u8; len];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: len,
    };
    let mut control = vec![0u64; control_len.div_ceil(8).max(1)];
    // SAFETY: a zeroed msghdr is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = control_len as _;
    // SAFETY: `msg` points at live buffers of the lengths it states.
    let n = cvt_long(unsafe { libc::recvmsg(fd, &mut msg, flags) } as i64)?;
    data.truncate(n as usize);
    let mut out = Received {
        data,
        fds: Vec::new(),
        cred: None,
        flags: msg.msg_flags,
    };
    // SAFETY: the CMSG macros walk the control buffer the kernel filled, within
    // msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let payload = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
            let p = libc::CMSG_DATA(c);
            match ((*c).cmsg_level, (*c).cmsg_type) {
                (libc::SOL_SOCKET, libc::SCM_RIGHTS) => {
                    for i in 0..payload / 4 {
                        out.fds
                            .push(std::ptr::read_unaligned(p.cast::<i32>().add(i)));
                    }
                }
                (libc::SOL_SOCKET, libc::SCM_CREDENTIALS) => {
                    out.cred = Some(std::ptr::read_unaligned(p.cast::<libc::ucred>()));
                }
                _ => {}
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok(out)
}
