//! The system calls on names (the syscall half of Linux's fs/namei.c): `mkdirat`, `mknodat`,
//! `unlinkat`, `renameat2`, `linkat`, `symlinkat`, `readlinkat` and their older forms.

use super::inode::*;
use super::namei::Last;
use super::open::*;
use crate::kernel::errno::*;
use crate::kernel::task::current;
use crate::mm::usercopy::copy_to_user;

/// The parent directory and last name of a user path for a `*at` call.
fn user_last(dirfd: u64, path: u64) -> KResult<(super::namei::Walker, Last)> {
    let name = getname(path)?;
    let w = walker();
    let start = start_at(&w, dirfd, &name)?;
    let last = w.parent(&start, &name)?;
    Ok((w, last))
}

fn umask() -> u32 {
    current().fs().lock().umask
}

pub fn sys_mkdirat(dirfd: u64, path: u64, mode: u64) -> KResult<i64> {
    let (w, last) = user_last(dirfd, path)?;
    // A directory keeps only its permission and sticky bits (`vfs_mkdir`), never set-id ones.
    w.create(
        &last,
        S_IFDIR | (mode as u32 & (0o777 | S_ISVTX) & !umask()),
        0,
    )?;
    Ok(0)
}

pub fn sys_mknodat(dirfd: u64, path: u64, mode: u64, dev: u64) -> KResult<i64> {
    let mode = mode as u32;
    let ftype = match mode & S_IFMT {
        0 => S_IFREG,
        t @ (S_IFREG | S_IFCHR | S_IFBLK | S_IFIFO | S_IFSOCK) => t,
        S_IFDIR => return Err(EPERM),
        _ => return Err(EINVAL),
    };
    if matches!(ftype, S_IFCHR | S_IFBLK) && current().cred.lock().euid != 0 {
        return Err(EPERM);
    }
    let (w, last) = user_last(dirfd, path)?;
    // The user's dev_t is the old huge-encoding; ours is `new_encode_dev`.
    let rdev = mkdev(
        ((dev >> 8) & 0xfff) as u32,
        ((dev & 0xff) | ((dev >> 12) & !0xff)) as u32,
    );
    w.create(&last, ftype | (mode & 0o7777 & !umask()), rdev)?;
    Ok(0)
}

pub fn sys_unlinkat(dirfd: u64, path: u64, flags: u64) -> KResult<i64> {
    if flags & !AT_REMOVEDIR != 0 {
        return Err(EINVAL);
    }
    let (w, last) = user_last(dirfd, path)?;
    if flags & AT_REMOVEDIR != 0 {
        w.rmdir(&last)?;
    } else {
        w.unlink(&last)?;
    }
    Ok(0)
}

pub fn sys_renameat2(olddir: u64, old: u64, newdir: u64, new: u64, flags: u64) -> KResult<i64> {
    const RENAME_NOREPLACE: u64 = 1;
    if flags & !RENAME_NOREPLACE != 0 {
        return Err(EINVAL); // RENAME_EXCHANGE and RENAME_WHITEOUT are not supported
    }
    let (w, from) = user_last(olddir, old)?;
    let (_, to) = user_last(newdir, new)?;
    w.rename(&from, &to, flags & RENAME_NOREPLACE != 0)?;
    Ok(0)
}

pub fn sys_linkat(olddir: u64, old: u64, newdir: u64, new: u64, flags: u64) -> KResult<i64> {
    if flags & !(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    let target = user_path_at(olddir, old, flags & AT_SYMLINK_FOLLOW != 0, flags)?;
    let (w, last) = user_last(newdir, new)?;
    w.link(&target, &last)?;
    Ok(0)
}

pub fn sys_symlinkat(target: u64, dirfd: u64, path: u64) -> KResult<i64> {
    let target = getname(target)?;
    if target.is_empty() {
        return Err(ENOENT);
    }
    let (w, last) = user_last(dirfd, path)?;
    w.symlink(&last, &target)?;
    Ok(0)
}

pub fn sys_readlinkat(dirfd: u64, path: u64, buf: u64, size: u64) -> KResult<i64> {
    if (size as i64) <= 0 {
        return Err(EINVAL);
    }
    let p = user_path_at(dirfd, path, false, AT_EMPTY_PATH)?;
    let inode = p.inode()?;
    if !inode.is_symlink() {
        return Err(EINVAL);
    }
    let text = inode.ops.readlink(&inode)?;
    let n = text.len().min(size as usize);
    copy_to_user(buf, &text.as_bytes()[..n])?;
    Ok(n as i64)
}
