//! Reading and writing open files (Linux's fs/read_write.c): `read`, `write`, their
//! positioned and vector forms, `lseek` and `sendfile`, and the file operations of
//! memory-resident regular files.

use alloc::vec;
use alloc::vec::Vec;

use super::file::*;
use super::inode::InodeRef;
use super::tmpfs::TmpfsFile;
use crate::kernel::errno::*;
use crate::kernel::task::current;
use crate::mm::page_alloc::{memcpy_from_page, memcpy_to_page};
use crate::mm::usercopy::{
    access_ok, clear_user, copy_from_user, copy_page_from_user, copy_page_to_user, copy_to_user,
    read_user,
};

/// The largest single transfer, bounding the kernel bounce buffer.
const CHUNK: usize = 64 * 1024;
/// Linux clamps one read or write to this (`MAX_RW_COUNT`).
const MAX_RW_COUNT: u64 = 0x7fff_f000;

/// The open file behind `fd` for an operation on the file itself (`fdget`): an `O_PATH`
/// descriptor, which only names a place, is `EBADF` here.
pub fn fdget(fd: u64) -> KResult<FileRef> {
    let file = fdget_raw(fd)?;
    if file.flags() & O_PATH != 0 {
        return Err(EBADF);
    }
    Ok(file)
}

/// The open file behind `fd`, `O_PATH` ones included (`fdget_raw`): for the calls that use
/// a descriptor as a place (fstat, fchdir, a `*at` call's directory, fstatfs).
pub fn fdget_raw(fd: u64) -> KResult<FileRef> {
    current().files().lock().get(fd)
}

/// Regular files of tmpfs: bytes in the page cache (`shmem_file_operations`).
pub struct MemFile {
    pub inode: InodeRef,
}

impl MemFile {
    fn tmpfs(&self) -> KResult<&TmpfsFile> {
        self.inode.ops.as_any().downcast_ref().ok_or(EINVAL)
    }

    /// `pos` after a write that started at `start` and moved `n` bytes.
    fn written(&self, (start, n): (u64, usize), pos: &mut u64) -> usize {
        *pos = start + n as u64;
        if n > 0 {
            self.inode.touch_mtime();
        }
        n
    }
}

impl FileOps for MemFile {
    fn read(&self, _file: &File, buf: &mut [u8], pos: &mut u64) -> KResult<usize> {
        let n = self
            .tmpfs()?
            .read_iter(&self.inode, *pos, buf.len(), |page, c| {
                let dst = &mut buf[c.done..c.done + c.n];
                match page {
                    Some(phys) => memcpy_from_page(dst, phys, c.offset),
                    None => dst.fill(0),
                }
                Ok(())
            })?;
        *pos += n as u64;
        Ok(n)
    }

    fn write(&self, file: &File, buf: &[u8], pos: &mut u64) -> KResult<usize> {
        let append = file.flags() & O_APPEND != 0;
        let w = self
            .tmpfs()?
            .perform_write(&self.inode, *pos, append, buf.len(), |phys, c| {
                memcpy_to_page(phys, c.offset, &buf[c.done..c.done + c.n]);
                Ok(())
            })?;
        Ok(self.written(w, pos))
    }

    fn read_iter(
        &self,
        _file: &File,
        ubuf: u64,
        len: usize,
        pos: &mut u64,
    ) -> Option<KResult<usize>> {
        let r = self.tmpfs().and_then(|f| {
            f.read_iter(&self.inode, *pos, len, |page, c| {
                let dst = ubuf + c.done as u64;
                match page {
                    Some(phys) => copy_page_to_user(dst, phys, c.offset, c.n),
                    None => clear_user(dst, c.n),
                }
            })
        });
        if let Ok(n) = r {
            *pos += n as u64;
        }
        Some(r)
    }

    fn write_iter(
        &self,
        file: &File,
        ubuf: u64,
        len: usize,
        pos: &mut u64,
    ) -> Option<KResult<usize>> {
        let append = file.flags() & O_APPEND != 0;
        let r = self.tmpfs().and_then(|f| {
            f.perform_write(&self.inode, *pos, append, len, |phys, c| {
                copy_page_from_user(phys, c.offset, ubuf + c.done as u64, c.n)
            })
        });
        Some(r.map(|w| self.written(w, pos)))
    }

    fn llseek(&self, file: &File, offset: i64, whence: u64) -> KResult<i64> {
        if whence != SEEK_DATA && whence != SEEK_HOLE {
            return generic_file_llseek(file, offset, whence);
        }
        let from = u64::try_from(offset).map_err(|_| ENXIO)?;
        let to = self
            .tmpfs()?
            .seek_data_hole(&self.inode, from, whence == SEEK_DATA)?;
        *file.pos.lock() = to;
        Ok(to as i64)
    }
}

/// Read into a kernel buffer at `*pos` (`vfs_read`).
pub fn vfs_read(file: &File, buf: &mut [u8], pos: &mut u64) -> KResult<usize> {
    if !file.readable() {
        return Err(EBADF);
    }
    if file.inode.is_dir() {
        return Err(EISDIR);
    }
    file.ops.read(file, buf, pos)
}

/// Write a kernel buffer at `*pos` (`vfs_write`).
pub fn vfs_write(file: &File, buf: &[u8], pos: &mut u64) -> KResult<usize> {
    if !file.writable() {
        return Err(EBADF);
    }
    file.ops.write(file, buf, pos)
}

/// A transfer straight between user memory and the file's pages, at `pos` or the file
/// position, if the file offers one (`io(pos)` is not `None`). The position is read and
/// written back around it, not locked across it: the copies may fault and sleep (Linux's
/// `f_pos_lock` is a sleeping lock; concurrent users of one file position race here).
fn direct_io(
    file: &File,
    pos: Option<u64>,
    io: impl FnOnce(&mut u64) -> Option<KResult<usize>>,
) -> Option<KResult<usize>> {
    let mut p = pos.unwrap_or_else(|| *file.pos.lock());
    let r = io(&mut p)?;
    if pos.is_none() && r.is_ok() {
        *file.pos.lock() = p;
    }
    Some(r)
}

/// Read up to `count` bytes to user memory at `ubuf`, from `pos` or the file position.
fn do_read(file: &File, ubuf: u64, count: u64, pos: Option<u64>) -> KResult<usize> {
    if !file.readable() {
        return Err(EBADF);
    }
    // Checked before anything is read: a pipe must not lose data to a buffer that can never
    // be written (`vfs_read`'s `access_ok`).
    if !access_ok(ubuf, count as usize) {
        return Err(EFAULT);
    }
    let count = count.min(MAX_RW_COUNT) as usize;
    if count == 0 {
        // Even an empty read asks the file, and a directory says EISDIR (`generic_read_dir`).
        return if file.inode.is_dir() {
            Err(EISDIR)
        } else {
            Ok(0)
        };
    }
    if let Some(r) = direct_io(file, pos, |p| file.ops.read_iter(file, ubuf, count, p)) {
        return r;
    }
    let mut kbuf = vec![0u8; count.min(CHUNK)];
    // The position lock is a spinlock: never hold it where the operation may sleep
    // (pipes, terminals), which have no position anyway.
    let mut guard = (pos.is_none() && file.ops.seekable()).then(|| file.pos.lock());
    let mut p = pos.or(guard.as_deref().copied()).unwrap_or(0);
    let mut done = 0;
    // Regular files fill the whole request; pipes and terminals return what they have.
    let fill = file.ops.seekable();
    while done < count {
        let want = (count - done).min(kbuf.len());
        let n = match vfs_read(file, &mut kbuf[..want], &mut p) {
            Ok(n) => n,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        if let Err(e) = copy_to_user(ubuf + done as u64, &kbuf[..n]) {
            if done == 0 {
                return Err(e);
            }
            break;
        }
        done += n;
        if n < want || !fill {
            break;
        }
    }
    if let Some(g) = guard.as_mut() {
        **g = p;
    }
    Ok(done)
}

/// Write `count` bytes from user memory at `ubuf`, at `pos` or the file position.
fn do_write(file: &File, ubuf: u64, count: u64, pos: Option<u64>) -> KResult<usize> {
    if !file.writable() {
        return Err(EBADF);
    }
    if !access_ok(ubuf, count as usize) {
        return Err(EFAULT);
    }
    let count = count.min(MAX_RW_COUNT) as usize;
    if let Some(r) = direct_io(file, pos, |p| file.ops.write_iter(file, ubuf, count, p)) {
        return r;
    }
    let mut kbuf = vec![0u8; count.min(CHUNK)];
    // The position lock is a spinlock: never hold it where the operation may sleep
    // (pipes, terminals), which have no position anyway.
    let mut guard = (pos.is_none() && file.ops.seekable()).then(|| file.pos.lock());
    let mut p = pos.or(guard.as_deref().copied()).unwrap_or(0);
    let mut done = 0;
    while done < count {
        let want = (count - done).min(kbuf.len());
        if let Err(e) = copy_from_user(&mut kbuf[..want], ubuf + done as u64) {
            if done == 0 {
                return Err(e);
            }
            break;
        }
        match vfs_write(file, &kbuf[..want], &mut p) {
            Ok(n) => {
                done += n;
                if n < want {
                    break;
                }
            }
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    if let Some(g) = guard.as_mut() {
        **g = p;
    }
    Ok(done)
}

pub fn sys_read(fd: u64, buf: u64, count: u64) -> KResult<i64> {
    do_read(&*fdget(fd)?, buf, count, None).map(|n| n as i64)
}

pub fn sys_write(fd: u64, buf: u64, count: u64) -> KResult<i64> {
    do_write(&*fdget(fd)?, buf, count, None).map(|n| n as i64)
}

fn positioned(file: &File, pos: i64) -> KResult<u64> {
    if !file.ops.seekable() {
        return Err(ESPIPE);
    }
    if pos < 0 {
        return Err(EINVAL);
    }
    Ok(pos as u64)
}

pub fn sys_pread64(fd: u64, buf: u64, count: u64, pos: i64) -> KResult<i64> {
    let file = fdget(fd)?;
    let pos = positioned(&file, pos)?;
    do_read(&file, buf, count, Some(pos)).map(|n| n as i64)
}

pub fn sys_pwrite64(fd: u64, buf: u64, count: u64, pos: i64) -> KResult<i64> {
    let file = fdget(fd)?;
    let pos = positioned(&file, pos)?;
    do_write(&file, buf, count, Some(pos)).map(|n| n as i64)
}

pub(crate) struct IoVec {
    pub base: u64,
    pub len: u64,
}

const UIO_MAXIOV: u64 = 1024;

/// Copy in and check a user iovec array, all of it before any transfer (`import_iovec`):
/// at most UIO_MAXIOV entries, no length with the sign bit set (EINVAL), every segment in
/// user space (EFAULT), the total clamped to MAX_RW_COUNT.
pub(crate) fn import_iovec(iov: u64, iovcnt: u64) -> KResult<Vec<IoVec>> {
    if iovcnt > UIO_MAXIOV {
        return Err(EINVAL);
    }
    let mut raw = vec![0u8; iovcnt as usize * 16];
    copy_from_user(&mut raw, iov)?;
    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
    let segs: Vec<IoVec> = raw
        .chunks_exact(16)
        .map(|c| IoVec {
            base: word(&c[..8]),
            len: word(&c[8..]),
        })
        .collect();
    if segs.iter().any(|v| (v.len as i64) < 0) {
        return Err(EINVAL);
    }
    let mut total = 0;
    segs.into_iter()
        .map(|mut v| {
            if !access_ok(v.base, v.len as usize) {
                return Err(EFAULT);
            }
            v.len = v.len.min(MAX_RW_COUNT - total);
            total += v.len;
            Ok(v)
        })
        .collect()
}

/// Run `op` over each segment of an iovec, stopping at the first short transfer.
fn do_iov(
    iov: u64,
    iovcnt: u64,
    mut op: impl FnMut(u64, u64, u64) -> KResult<usize>,
) -> KResult<i64> {
    let mut total: u64 = 0;
    for v in import_iovec(iov, iovcnt)? {
        if v.len == 0 {
            continue;
        }
        let n = match op(v.base, v.len, total) {
            Ok(n) => n as u64,
            Err(e) if total == 0 => return Err(e),
            Err(_) => break,
        };
        total += n;
        if n < v.len {
            break;
        }
    }
    Ok(total as i64)
}

pub fn sys_readv(fd: u64, iov: u64, iovcnt: u64) -> KResult<i64> {
    let file = fdget(fd)?;
    do_iov(iov, iovcnt, |b, l, _| do_read(&file, b, l, None))
}

pub fn sys_writev(fd: u64, iov: u64, iovcnt: u64) -> KResult<i64> {
    let file = fdget(fd)?;
    do_iov(iov, iovcnt, |b, l, _| do_write(&file, b, l, None))
}

pub fn sys_preadv(fd: u64, iov: u64, iovcnt: u64, pos: i64) -> KResult<i64> {
    let file = fdget(fd)?;
    let pos = positioned(&file, pos)?;
    do_iov(iov, iovcnt, |b, l, done| {
        do_read(&file, b, l, Some(pos + done))
    })
}

pub fn sys_pwritev(fd: u64, iov: u64, iovcnt: u64, pos: i64) -> KResult<i64> {
    let file = fdget(fd)?;
    let pos = positioned(&file, pos)?;
    do_iov(iov, iovcnt, |b, l, done| {
        do_write(&file, b, l, Some(pos + done))
    })
}

pub const SEEK_SET: u64 = 0;
pub const SEEK_CUR: u64 = 1;
pub const SEEK_END: u64 = 2;
pub const SEEK_DATA: u64 = 3;
pub const SEEK_HOLE: u64 = 4;

/// `vfs_llseek`: `ESPIPE` for files without positions, else the file's own `llseek`.
pub fn vfs_llseek(file: &File, offset: i64, whence: u64) -> KResult<i64> {
    if !file.ops.seekable() {
        return Err(ESPIPE);
    }
    file.ops.llseek(file, offset, whence)
}

/// `generic_file_llseek`: from the start, the position or the end; never before 0.
pub fn generic_file_llseek(file: &File, offset: i64, whence: u64) -> KResult<i64> {
    let mut pos = file.pos.lock();
    let base = match whence {
        SEEK_SET => 0,
        SEEK_CUR => *pos as i64,
        SEEK_END => file.inode.size() as i64,
        _ => return Err(EINVAL),
    };
    let new = base.checked_add(offset).filter(|&p| p >= 0).ok_or(EINVAL)?;
    *pos = new as u64;
    Ok(new)
}

pub fn sys_lseek(fd: u64, offset: i64, whence: u64) -> KResult<i64> {
    vfs_llseek(&*fdget(fd)?, offset, whence)
}

/// Copy between two open files in the kernel (`do_sendfile`).
pub fn sys_sendfile(out_fd: u64, in_fd: u64, offset: u64, count: u64) -> KResult<i64> {
    let (inf, outf) = (fdget(in_fd)?, fdget(out_fd)?);
    if !inf.readable() || !outf.writable() {
        return Err(EBADF);
    }
    let count = count.min(MAX_RW_COUNT) as usize;
    let mut pos = if offset != 0 {
        let p: i64 = read_user(offset)?;
        positioned(&inf, p)?
    } else {
        *inf.pos.lock()
    };
    let mut kbuf = vec![0u8; count.min(CHUNK)];
    let mut done = 0;
    while done < count {
        let want = (count - done).min(kbuf.len());
        let n = match vfs_read(&inf, &mut kbuf[..want], &mut pos) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        let mut opos = *outf.pos.lock();
        let w = vfs_write(&outf, &kbuf[..n], &mut opos);
        *outf.pos.lock() = opos;
        match w {
            Ok(w) => {
                done += w;
                if w < n {
                    pos -= (n - w) as u64;
                    break;
                }
            }
            Err(e) => {
                pos -= n as u64;
                if done == 0 {
                    return Err(e);
                }
                break;
            }
        }
    }
    if offset != 0 {
        crate::mm::usercopy::write_user(offset, &(pos as i64))?;
    } else {
        *inf.pos.lock() = pos;
    }
    Ok(done as i64)
}
