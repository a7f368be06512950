//! Setting a file's access and modification times (Linux's fs/utimes.c): `utimensat` and the
//! older `utimes`.
//!
//! Setting both times to now (no times given, or both `UTIME_NOW`) is allowed to the owner and
//! to anyone who may write the file (`EACCES` otherwise); any other time only to the owner or
//! root (`EPERM`). The change time always becomes now.

use super::inode::{current_time, Timespec};
use super::namespace::Path;
use super::open::{user_path_at, AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW};
use super::read_write::fdget_raw;
use crate::kernel::errno::*;
use crate::kernel::task::current;
use crate::mm::usercopy::read_user;

pub const UTIME_NOW: i64 = (1 << 30) - 1;
pub const UTIME_OMIT: i64 = (1 << 30) - 2;

/// What to do with one of the two times.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TimeUpdate {
    Now,
    Omit,
    Set(Timespec),
}

/// A user `struct timespec` as an update (`EINVAL` for nanoseconds out of range).
pub fn timespec_update(sec: i64, nsec: i64) -> KResult<TimeUpdate> {
    match nsec {
        UTIME_NOW => Ok(TimeUpdate::Now),
        UTIME_OMIT => Ok(TimeUpdate::Omit),
        0..=999_999_999 => Ok(TimeUpdate::Set(Timespec { sec, nsec })),
        _ => Err(EINVAL),
    }
}

/// `vfs_utimes`: applies `times` (access, modification) to the file at `path`.
fn vfs_utimes(path: &Path, times: [TimeUpdate; 2]) -> KResult<i64> {
    let inode = path.inode()?;
    let cred = *current().cred.lock();
    let touch = times.iter().all(|t| *t == TimeUpdate::Now);
    let owner = cred.euid == 0 || cred.euid == inode.meta.lock().uid;
    if !owner {
        if !touch {
            return Err(EPERM);
        }
        inode.permission(cred.euid, cred.egid, 2)?;
    }
    let now = current_time();
    let mut guard = inode.meta.lock();
    let m = &mut *guard;
    for (slot, t) in [&mut m.atime, &mut m.mtime].into_iter().zip(times) {
        match t {
            TimeUpdate::Now => *slot = now,
            TimeUpdate::Set(ts) => *slot = ts,
            TimeUpdate::Omit => {}
        }
    }
    m.ctime = now;
    Ok(0)
}

/// `do_utimes`: a NULL path names `dirfd` itself (without AT_SYMLINK_NOFOLLOW).
fn do_utimes(dirfd: u64, path: u64, times: [TimeUpdate; 2], flags: u64) -> KResult<i64> {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    if path == 0 {
        if flags & AT_SYMLINK_NOFOLLOW != 0 {
            return Err(EINVAL);
        }
        return vfs_utimes(&fdget_raw(dirfd)?.path, times);
    }
    if times.iter().all(|t| *t == TimeUpdate::Omit) {
        return Ok(0);
    }
    let p = user_path_at(dirfd, path, flags & AT_SYMLINK_NOFOLLOW == 0, flags)?;
    vfs_utimes(&p, times)
}

pub fn sys_utimensat(dirfd: u64, path: u64, utimes: u64, flags: u64) -> KResult<i64> {
    let times = if utimes == 0 {
        [TimeUpdate::Now; 2]
    } else {
        let t: [i64; 4] = read_user(utimes)?;
        [timespec_update(t[0], t[1])?, timespec_update(t[2], t[3])?]
    };
    do_utimes(dirfd, path, times, flags)
}

/// `utimes(path, tv)`: microseconds instead of nanoseconds, no NOW/OMIT.
pub fn sys_utimes(path: u64, utimes: u64) -> KResult<i64> {
    let times = if utimes == 0 {
        [TimeUpdate::Now; 2]
    } else {
        let t: [i64; 4] = read_user(utimes)?;
        let one = |sec: i64, usec: i64| {
            if !(0..1_000_000).contains(&usec) {
                return Err(EINVAL);
            }
            Ok(TimeUpdate::Set(Timespec {
                sec,
                nsec: usec * 1000,
            }))
        };
        [one(t[0], t[1])?, one(t[2], t[3])?]
    };
    do_utimes(super::open::AT_FDCWD as u64, path, times, 0)
}
