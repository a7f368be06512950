//! File system calls: open, read, write, their vector forms, lseek, stat, ioctl and poll.

use alloc::vec;

use super::file::*;
use super::ramfs::{self, Kind};
use crate::drivers::tty;
use crate::kernel::errno::*;
use crate::kernel::task::current;
use crate::mm::usercopy::{copy_from_user, copy_to_user, read_user, strncpy_from_user, write_user};

const AT_FDCWD: i64 = -100;
const CHUNK: usize = 4096;

pub fn sys_openat(dirfd: u64, path: u64, flags: u64, _mode: u64) -> KResult<i64> {
    let path = strncpy_from_user(path, 4096)?;
    let flags = flags as u32;
    let kind = open_kind(dirfd, &path, flags)?;
    let fd = current()
        .files()
        .lock()
        .install(File::new(kind, flags), flags & O_CLOEXEC != 0)?;
    Ok(fd as i64)
}

/// What opening `path` (relative to `dirfd`) with `flags` would give.
fn open_kind(dirfd: u64, path: &str, flags: u32) -> KResult<FileKind> {
    if dirfd as i64 != AT_FDCWD && !path.starts_with('/') {
        return Err(EBADF);
    }
    let root = super::root();
    let cwd = ramfs::lookup(&root, &root, &current().fs().lock().cwd.clone())?;
    let inode = ramfs::lookup(&root, &cwd, path)?;
    if flags & O_DIRECTORY != 0 && !inode.is_dir() {
        return Err(ENOTDIR);
    }
    let kind = match &inode.kind {
        Kind::CharDev { major: 5, minor: 1 }
        | Kind::CharDev { major: 4, .. }
        | Kind::CharDev { major: 229, .. } => FileKind::Console,
        Kind::CharDev { .. } => return Err(ENOENT),
        Kind::Dir { .. } if flags & O_ACCMODE != 0 => return Err(EISDIR),
        Kind::File(_) if flags & O_ACCMODE != 0 => return Err(EROFS),
        _ => FileKind::Inode(inode.clone()),
    };
    Ok(kind)
}

pub fn sys_close(fd: u64) -> KResult<i64> {
    current().files().lock().close(fd)?;
    Ok(0)
}

fn do_write(file: &File, data: &[u8]) -> KResult<usize> {
    if file.flags & O_ACCMODE == 0 && !matches!(file.kind, FileKind::Console) {
        return Err(EBADF);
    }
    match &file.kind {
        FileKind::Console => {
            tty::write(data);
            Ok(data.len())
        }
        FileKind::Inode(_) => Err(EBADF),
    }
}

fn do_read(file: &File, out: &mut [u8]) -> KResult<usize> {
    match &file.kind {
        FileKind::Console => tty::read(out),
        FileKind::Inode(inode) => match &inode.kind {
            Kind::File(data) => {
                let data = data.lock();
                let bytes = data.bytes();
                let mut pos = file.pos.lock();
                let start = (*pos as usize).min(bytes.len());
                let n = out.len().min(bytes.len() - start);
                out[..n].copy_from_slice(&bytes[start..start + n]);
                *pos += n as u64;
                Ok(n)
            }
            Kind::Dir { .. } => Err(EISDIR),
            _ => Err(EINVAL),
        },
    }
}

pub fn sys_write(fd: u64, buf: u64, count: u64) -> KResult<i64> {
    let file = current().files().lock().get(fd)?;
    let mut done = 0usize;
    let mut chunk = vec![0u8; CHUNK.min(count as usize)];
    while done < count as usize {
        let n = chunk.len().min(count as usize - done);
        if let Err(e) = copy_from_user(&mut chunk[..n], buf + done as u64) {
            return if done > 0 { Ok(done as i64) } else { Err(e) };
        }
        done += do_write(&file, &chunk[..n])?;
    }
    Ok(done as i64)
}

pub fn sys_read(fd: u64, buf: u64, count: u64) -> KResult<i64> {
    let file = current().files().lock().get(fd)?;
    let mut chunk = vec![0u8; CHUNK.min(count as usize)];
    let n = do_read(&file, &mut chunk)?;
    copy_to_user(buf, &chunk[..n])?;
    Ok(n as i64)
}

#[derive(Clone, Copy, Default)]
#[repr(C)]
struct IoVec {
    base: u64,
    len: u64,
}

pub fn sys_writev(fd: u64, iov: u64, iovcnt: u64) -> KResult<i64> {
    if iovcnt > 1024 {
        return Err(EINVAL);
    }
    let mut total = 0i64;
    for i in 0..iovcnt {
        let v: IoVec = read_user(iov + i * 16)?;
        if v.len > 0 {
            total += sys_write(fd, v.base, v.len)?;
        }
    }
    Ok(total)
}

pub fn sys_readv(fd: u64, iov: u64, iovcnt: u64) -> KResult<i64> {
    if iovcnt > 1024 {
        return Err(EINVAL);
    }
    for i in 0..iovcnt {
        let v: IoVec = read_user(iov + i * 16)?;
        if v.len > 0 {
            return sys_read(fd, v.base, v.len);
        }
    }
    Ok(0)
}

pub fn sys_lseek(fd: u64, offset: i64, whence: u64) -> KResult<i64> {
    let file = current().files().lock().get(fd)?;
    let FileKind::Inode(inode) = &file.kind else {
        return Err(ESPIPE);
    };
    let mut pos = file.pos.lock();
    let base = match whence {
        0 => 0,
        1 => *pos as i64,
        2 => inode.size() as i64,
        _ => return Err(EINVAL),
    };
    let new = base.checked_add(offset).filter(|&p| p >= 0).ok_or(EINVAL)?;
    *pos = new as u64;
    Ok(new)
}

/// `struct stat` for x86_64.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Stat {
    dev: u64,
    ino: u64,
    nlink: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    _pad0: u32,
    rdev: u64,
    size: i64,
    blksize: i64,
    blocks: i64,
    times: [u64; 6],
    _unused: [i64; 3],
}

fn stat_of(kind: &FileKind) -> Stat {
    match kind {
        FileKind::Console => Stat {
            mode: 0o020620,
            rdev: (5 << 8) | 1,
            blksize: 1024,
            nlink: 1,
            ..Default::default()
        },
        FileKind::Inode(i) => Stat {
            ino: i.ino,
            mode: i.mode,
            nlink: 1,
            size: i.size() as i64,
            blksize: 4096,
            blocks: i.size().div_ceil(512) as i64,
            times: [i.mtime, 0, i.mtime, 0, i.mtime, 0],
            ..Default::default()
        },
    }
}

pub fn sys_fstat(fd: u64, statbuf: u64) -> KResult<i64> {
    let file = current().files().lock().get(fd)?;
    write_user(statbuf, &stat_of(&file.kind))?;
    Ok(0)
}

pub fn sys_newfstatat(dirfd: u64, path: u64, statbuf: u64, flags: u64) -> KResult<i64> {
    const AT_EMPTY_PATH: u64 = 0x1000;
    let p = strncpy_from_user(path, 4096)?;
    if p.is_empty() && flags & AT_EMPTY_PATH != 0 {
        return sys_fstat(dirfd, statbuf);
    }
    write_user(statbuf, &stat_of(&open_kind(dirfd, &p, 0)?))?;
    Ok(0)
}

pub fn sys_ioctl(fd: u64, cmd: u64, arg: u64) -> KResult<i64> {
    const TCGETS: u64 = 0x5401;
    const TCSETS: u64 = 0x5402;
    const TCSETSW: u64 = 0x5403;
    const TIOCGWINSZ: u64 = 0x5413;
    let file = current().files().lock().get(fd)?;
    if !matches!(file.kind, FileKind::Console) {
        return Err(ENOTTY);
    }
    match cmd {
        TCGETS => {
            // Linux's default termios for a console: ICRNL, OPOST|ONLCR, B38400 CS8 CREAD,
            // ISIG ICANON ECHO ECHOE ECHOK IEXTEN.
            let mut t = [0u8; 60];
            t[0..4].copy_from_slice(&0x0500u32.to_le_bytes());
            t[4..8].copy_from_slice(&0x0005u32.to_le_bytes());
            t[8..12].copy_from_slice(&0x00bfu32.to_le_bytes());
            t[12..16].copy_from_slice(&0x8a3bu32.to_le_bytes());
            copy_to_user(arg, &t)?;
            Ok(0)
        }
        TCSETS | TCSETSW => Ok(0),
        TIOCGWINSZ => {
            write_user(arg, &[24u16, 80, 0, 0])?;
            Ok(0)
        }
        _ => Err(ENOTTY),
    }
}

pub fn sys_poll(fds: u64, nfds: u64, _timeout: i64) -> KResult<i64> {
    const POLLIN: u16 = 1;
    const POLLOUT: u16 = 4;
    const POLLNVAL: u16 = 0x20;
    if nfds > MAX_FDS as u64 {
        return Err(EINVAL);
    }
    let task = current();
    let mut ready = 0;
    for i in 0..nfds {
        let addr = fds + i * 8;
        let (fd, events): (i32, u16) = {
            let raw: [u8; 8] = read_user(addr)?;
            (
                i32::from_le_bytes(raw[0..4].try_into().unwrap()),
                u16::from_le_bytes([raw[4], raw[5]]),
            )
        };
        let revents = if fd < 0 {
            0
        } else {
            match task.files().lock().get(fd as u64) {
                Err(_) => POLLNVAL,
                Ok(f) => match f.kind {
                    FileKind::Console => {
                        (events & POLLOUT)
                            | if tty::input_ready() {
                                events & POLLIN
                            } else {
                                0
                            }
                    }
                    FileKind::Inode(_) => events & (POLLIN | POLLOUT),
                },
            }
        };
        if revents != 0 {
            ready += 1;
        }
        write_user(addr + 6, &revents)?;
    }
    Ok(ready)
}

pub fn sys_getcwd(buf: u64, size: u64) -> KResult<i64> {
    let cwd = current().fs().lock().cwd.clone();
    if (cwd.len() + 1) as u64 > size {
        return Err(ERANGE);
    }
    copy_to_user(buf, cwd.as_bytes())?;
    copy_to_user(buf + cwd.len() as u64, &[0])?;
    Ok(cwd.len() as i64 + 1)
}
