//! File attributes (Linux's fs/stat.c): `stat`, `fstat`, `lstat`, `newfstatat`, `statx`,
//! and `statfs` of fs/statfs.c.

use super::inode::*;
use super::open::*;
use super::read_write::fdget_raw;
use crate::kernel::errno::*;
use crate::mm::usercopy::write_user;

/// `struct stat` for x86_64.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct Stat {
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
    atime: Timespec,
    mtime: Timespec,
    ctime: Timespec,
    _unused: [i64; 3],
}

/// `generic_fillattr`.
pub fn fillattr(inode: &Inode) -> Stat {
    let m = *inode.meta.lock();
    let size = inode.size();
    Stat {
        dev: inode.sb.dev,
        ino: inode.ino,
        nlink: m.nlink as u64,
        mode: m.mode,
        uid: m.uid,
        gid: m.gid,
        rdev: m.rdev,
        size: size as i64,
        blksize: 4096,
        blocks: size.div_ceil(512) as i64,
        atime: m.atime,
        mtime: m.mtime,
        ctime: m.ctime,
        ..Default::default()
    }
}

pub fn sys_fstat(fd: u64, statbuf: u64) -> KResult<i64> {
    write_user(statbuf, &fillattr(&fdget_raw(fd)?.inode))?;
    Ok(0)
}

pub fn sys_newfstatat(dirfd: u64, path: u64, statbuf: u64, flags: u64) -> KResult<i64> {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | 0x800/* AT_NO_AUTOMOUNT */) != 0 {
        return Err(EINVAL);
    }
    let p = user_path_at(dirfd, path, flags & AT_SYMLINK_NOFOLLOW == 0, flags)?;
    write_user(statbuf, &fillattr(&*p.inode()?))?;
    Ok(0)
}

pub fn sys_stat(path: u64, statbuf: u64) -> KResult<i64> {
    sys_newfstatat(AT_FDCWD as u64, path, statbuf, 0)
}

pub fn sys_lstat(path: u64, statbuf: u64) -> KResult<i64> {
    sys_newfstatat(AT_FDCWD as u64, path, statbuf, AT_SYMLINK_NOFOLLOW)
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct StatxTimestamp {
    sec: i64,
    nsec: u32,
    _reserved: i32,
}

/// `struct statx`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Statx {
    mask: u32,
    blksize: u32,
    attributes: u64,
    nlink: u32,
    uid: u32,
    gid: u32,
    mode: u16,
    _spare0: u16,
    ino: u64,
    size: u64,
    blocks: u64,
    attributes_mask: u64,
    atime: StatxTimestamp,
    btime: StatxTimestamp,
    ctime: StatxTimestamp,
    mtime: StatxTimestamp,
    rdev_major: u32,
    rdev_minor: u32,
    dev_major: u32,
    dev_minor: u32,
    _spare: [u64; 14],
}

pub fn sys_statx(dirfd: u64, path: u64, flags: u64, _mask: u64, buf: u64) -> KResult<i64> {
    const STATX_BASIC_STATS: u32 = 0x7ff;
    const AT_STATX_SYNC_TYPE: u64 = 0x6000;
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | 0x800 | AT_STATX_SYNC_TYPE) != 0 {
        return Err(EINVAL);
    }
    let p = user_path_at(dirfd, path, flags & AT_SYMLINK_NOFOLLOW == 0, flags)?;
    let st = fillattr(&*p.inode()?);
    let ts = |t: Timespec| StatxTimestamp {
        sec: t.sec,
        nsec: t.nsec as u32,
        _reserved: 0,
    };
    let out = Statx {
        mask: STATX_BASIC_STATS,
        blksize: st.blksize as u32,
        nlink: st.nlink as u32,
        uid: st.uid,
        gid: st.gid,
        mode: st.mode as u16,
        ino: st.ino,
        size: st.size as u64,
        blocks: st.blocks as u64,
        atime: ts(st.atime),
        ctime: ts(st.ctime),
        mtime: ts(st.mtime),
        rdev_major: major(st.rdev),
        rdev_minor: minor(st.rdev),
        dev_major: major(st.dev),
        dev_minor: minor(st.dev),
        ..Default::default()
    };
    write_user(buf, &out)?;
    Ok(0)
}

/// `struct statfs` for x86_64.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Statfs {
    f_type: i64,
    f_bsize: i64,
    f_blocks: u64,
    f_bfree: u64,
    f_bavail: u64,
    f_files: u64,
    f_ffree: u64,
    f_fsid: [i32; 2],
    f_namelen: i64,
    f_frsize: i64,
    f_flags: i64,
    f_spare: [i64; 4],
}

fn statfs(p: &super::namespace::Path, buf: u64) -> KResult<i64> {
    // The pseudo file systems hold no data: Linux's `simple_statfs` reports no blocks and no
    // inodes for them (which is how `df` knows to leave them out).
    let free = match p.mnt.sb.fs_name {
        "proc" | "sysfs" | "pipefs" | "mqueue" | "sockfs" => 0,
        _ => crate::mm::page_alloc::free_page_count(),
    };
    let out = Statfs {
        f_type: p.mnt.sb.magic as i64,
        f_bsize: 4096,
        f_blocks: free,
        f_bfree: free,
        f_bavail: free,
        f_files: free,
        f_ffree: free,
        f_namelen: super::namei::NAME_MAX as i64,
        f_frsize: 4096,
        f_flags: p.mnt.flags as i64,
        ..Default::default()
    };
    write_user(buf, &out)?;
    Ok(0)
}

pub fn sys_statfs(path: u64, buf: u64) -> KResult<i64> {
    statfs(&user_path_at(AT_FDCWD as u64, path, true, 0)?, buf)
}

pub fn sys_fstatfs(fd: u64, buf: u64) -> KResult<i64> {
    statfs(&fdget_raw(fd)?.path, buf)
}
