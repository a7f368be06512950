//! `fallocate` (Linux's `vfs_fallocate` in fs/open.c) for memory file systems: reserving
//! space is free, so the default mode only grows the file (zero-filled) to `offset + len`,
//! and `FALLOC_FL_KEEP_SIZE` does nothing more than check. Hole punching and range zeroing
//! are not supported (`EOPNOTSUPP`, which Linux gives for a mode a file system lacks).

use super::read_write::fdget;
use crate::kernel::errno::*;

const FALLOC_FL_KEEP_SIZE: u64 = 0x01;
const FALLOC_FL_PUNCH_HOLE: u64 = 0x02;
const FALLOC_FL_COLLAPSE_RANGE: u64 = 0x08;
const FALLOC_FL_ZERO_RANGE: u64 = 0x10;
const FALLOC_FL_INSERT_RANGE: u64 = 0x20;
const FALLOC_FL_UNSHARE_RANGE: u64 = 0x40;
const FALLOC_FL_SUPPORTED_MASK: u64 = FALLOC_FL_KEEP_SIZE
    | FALLOC_FL_PUNCH_HOLE
    | FALLOC_FL_COLLAPSE_RANGE
    | FALLOC_FL_ZERO_RANGE
    | FALLOC_FL_INSERT_RANGE
    | FALLOC_FL_UNSHARE_RANGE;

pub fn sys_fallocate(fd: u64, mode: u64, offset: i64, len: i64) -> KResult<i64> {
    let file = fdget(fd)?;
    let mode = mode as i32 as u64;
    if offset < 0 || len <= 0 {
        return Err(EINVAL);
    }
    if mode & !FALLOC_FL_SUPPORTED_MASK != 0 {
        return Err(EOPNOTSUPP);
    }
    // Punching a hole must keep the size.
    if mode & FALLOC_FL_PUNCH_HOLE != 0 && mode & FALLOC_FL_KEEP_SIZE == 0 {
        return Err(EOPNOTSUPP);
    }
    if !file.writable() {
        return Err(EBADF);
    }
    let inode = &file.inode;
    if inode.is_dir() {
        return Err(EISDIR);
    }
    if inode.file_type() == super::inode::S_IFIFO {
        return Err(ESPIPE);
    }
    if !inode.is_reg() {
        return Err(ENODEV);
    }
    // Past `MAX_LFS_FILESIZE` (i64::MAX on 64-bit).
    let end = offset.checked_add(len).ok_or(EFBIG)?;
    if mode & !FALLOC_FL_KEEP_SIZE != 0 {
        return Err(EOPNOTSUPP);
    }
    if mode & FALLOC_FL_KEEP_SIZE == 0 && end as u64 > inode.size() {
        inode.ops.truncate(inode, end as u64)?;
        inode.touch_mtime();
    }
    Ok(0)
}
