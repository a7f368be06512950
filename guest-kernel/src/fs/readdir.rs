//! Listing directories (Linux's fs/readdir.c and libfs's `dcache_readdir`): `getdents64`.
//!
//! A directory's position counts entries: 0 is `.`, 1 is `..`, then the filesystem's own
//! entries in its order (name order for the memory filesystems).

use alloc::vec::Vec;

use super::file::{File, FileOps};
use super::inode::{dt_type, DirEntry, S_IFDIR};
use super::read_write::fdget;
use crate::kernel::errno::*;
use crate::mm::usercopy::copy_to_user;

/// The file operations of an open directory (`simple_dir_operations`).
pub struct DirFile;
impl FileOps for DirFile {}

/// Every entry of the directory `file` is open on, `.` and `..` first.
pub fn list(file: &File) -> KResult<Vec<DirEntry>> {
    let inode = &file.inode;
    if !inode.is_dir() {
        return Err(ENOTDIR);
    }
    let parent_ino = file
        .path
        .dentry
        .parent()
        .and_then(|p| p.inode())
        .map_or(inode.ino, |i| i.ino);
    let mut out = alloc::vec![
        DirEntry {
            name: ".".into(),
            ino: inode.ino,
            d_type: dt_type(S_IFDIR),
        },
        DirEntry {
            name: "..".into(),
            ino: parent_ino,
            d_type: dt_type(S_IFDIR),
        },
    ];
    match inode.ops.readdir(inode) {
        Some(entries) => out.extend(entries?),
        None => out.extend(file.path.dentry.list_children()),
    }
    Ok(out)
}

pub fn sys_getdents64(fd: u64, dirp: u64, count: u64) -> KResult<i64> {
    let file = fdget(fd)?;
    if !file.inode.is_dir() {
        return Err(ENOTDIR);
    }
    // A removed directory has nothing to list, not even `.` and `..` (`iterate_dir` on
    // IS_DEADDIR).
    if file.path.dentry.is_unlinked() {
        return Err(ENOENT);
    }
    let entries = list(&file)?;
    let mut pos = file.pos.lock();
    let mut buf: Vec<u8> = Vec::new();
    let mut next = *pos as usize;
    for e in entries.iter().skip(next) {
        let reclen = (19 + e.name.len() + 1).next_multiple_of(8);
        if buf.len() + reclen > count as usize {
            if buf.is_empty() {
                return Err(EINVAL); // the buffer cannot hold even one entry
            }
            break;
        }
        next += 1;
        let start = buf.len();
        buf.extend_from_slice(&e.ino.to_le_bytes());
        buf.extend_from_slice(&(next as i64).to_le_bytes());
        buf.extend_from_slice(&(reclen as u16).to_le_bytes());
        buf.push(e.d_type);
        buf.extend_from_slice(e.name.as_bytes());
        buf.resize(start + reclen, 0); // NUL terminator and padding
    }
    copy_to_user(dirp, &buf)?;
    *pos = next as u64;
    Ok(buf.len() as i64)
}
