//! Descriptor duplication and control (Linux's fs/fcntl.c and `dup*` of fs/file.c).

use super::file::*;
use super::inode::S_IFIFO;
use crate::kernel::errno::*;
use crate::kernel::task::current;

pub const F_DUPFD: u64 = 0;
pub const F_GETFD: u64 = 1;
pub const F_SETFD: u64 = 2;
pub const F_GETFL: u64 = 3;
pub const F_SETFL: u64 = 4;
pub const F_DUPFD_CLOEXEC: u64 = 1030;
pub const F_SETPIPE_SZ: u32 = 1031;
pub const F_GETPIPE_SZ: u32 = 1032;
pub const FD_CLOEXEC: u64 = 1;

pub fn sys_dup(fd: u64) -> KResult<i64> {
    let files = current().files();
    let mut t = files.lock();
    let file = t.get(fd)?;
    Ok(t.install(file, false)? as i64)
}

/// `dup3`: `EINVAL` for equal descriptors or unknown flags; the old file at `newfd` is
/// closed silently.
pub fn sys_dup3(oldfd: u64, newfd: u64, flags: u64) -> KResult<i64> {
    if flags & !(O_CLOEXEC as u64) != 0 || oldfd == newfd {
        return Err(EINVAL);
    }
    if newfd >= nofile_limit() as u64 {
        return Err(EBADF);
    }
    let files = current().files();
    let replaced = {
        let mut t = files.lock();
        let file = t.get(oldfd)?;
        t.set(newfd as usize, file, flags != 0)
    };
    drop(replaced);
    Ok(newfd as i64)
}

pub fn sys_dup2(oldfd: u64, newfd: u64) -> KResult<i64> {
    if oldfd == newfd {
        current().files().lock().get(oldfd)?;
        return Ok(newfd as i64);
    }
    sys_dup3(oldfd, newfd, 0)
}

pub fn sys_fcntl(fd: u64, cmd: u64, arg: u64) -> KResult<i64> {
    let files = current().files();
    let file = files.lock().get(fd)?;
    match cmd {
        F_DUPFD | F_DUPFD_CLOEXEC => {
            if arg >= nofile_limit() as u64 {
                return Err(EINVAL);
            }
            let fd = files
                .lock()
                .install_from(arg as usize, file, cmd == F_DUPFD_CLOEXEC)?;
            Ok(fd as i64)
        }
        F_GETFD => Ok(files.lock().cloexec(fd)? as i64),
        F_SETFD => {
            files.lock().set_cloexec(fd, arg & FD_CLOEXEC != 0)?;
            Ok(0)
        }
        F_GETFL => Ok(file.flags() as i64),
        F_SETFL => {
            let keep = file.flags() & !SETFL_MASK;
            file.flags.store(
                keep | (arg as u32 & SETFL_MASK),
                core::sync::atomic::Ordering::Relaxed,
            );
            Ok(0)
        }
        // The pipe commands on anything but a pipe or FIFO (`get_pipe_info` finds none).
        _ if matches!(cmd as u32, F_GETPIPE_SZ | F_SETPIPE_SZ)
            && file.inode.file_type() != S_IFIFO =>
        {
            Err(EBADF)
        }
        _ => file.ops.fcntl(&file, cmd as u32, arg),
    }
}
