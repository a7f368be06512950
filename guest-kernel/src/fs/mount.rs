//! The `mount` and `umount2` system calls (the syscall half of Linux's fs/namespace.c).

use super::filesystems::get_fs_type;
use super::namespace::*;
use super::open::{getname, user_path_at, walker, AT_FDCWD};
use crate::kernel::errno::*;
use crate::kernel::task::current;
use crate::mm::usercopy::strncpy_from_user;

pub fn sys_mount(source: u64, target: u64, fstype: u64, flags: u64, _data: u64) -> KResult<i64> {
    if current().cred.lock().euid != 0 {
        return Err(EPERM);
    }
    let at = user_path_at(AT_FDCWD as u64, target, true, 0)?;
    if flags & MS_REMOUNT != 0 {
        return Err(EINVAL); // not supported: mount options are fixed at mount time
    }
    let source = if source != 0 {
        strncpy_from_user(source, 4096)?
    } else {
        "none".into()
    };
    let (sb, root) = if flags & MS_BIND != 0 {
        let w = walker();
        let from = w.lookup(&w.cwd, &source, true)?;
        (from.mnt.sb.clone(), from.dentry.clone())
    } else {
        let fstype = getname(fstype)?;
        (get_fs_type(&fstype)?.mount)(&source)?
    };
    let keep = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
    do_add_mount(&at, sb, root, &source, flags & keep)?;
    Ok(0)
}

pub fn sys_umount2(target: u64, flags: u64) -> KResult<i64> {
    const UMOUNT_NOFOLLOW: u64 = 8;
    if flags & !(MNT_DETACH | 1 /* MNT_FORCE */ | UMOUNT_NOFOLLOW) != 0 {
        return Err(EINVAL);
    }
    if current().cred.lock().euid != 0 {
        return Err(EPERM);
    }
    let at = user_path_at(AT_FDCWD as u64, target, flags & UMOUNT_NOFOLLOW == 0, 0)?;
    do_umount(&at, flags)?;
    Ok(0)
}
