//! `ioctl` (Linux's fs/ioctl.c): the commands every descriptor takes, then the file's own.

use core::sync::atomic::Ordering;

use super::file::O_NONBLOCK;
use super::read_write::fdget;
use crate::kernel::errno::*;
use crate::kernel::task::current;
use crate::mm::usercopy::read_user;

const FIONCLEX: u32 = 0x5450;
const FIOCLEX: u32 = 0x5451;
const FIONBIO: u32 = 0x5421;

pub fn sys_ioctl(fd: u64, cmd: u64, arg: u64) -> KResult<i64> {
    let file = fdget(fd)?;
    let cmd = cmd as u32;
    match cmd {
        FIOCLEX | FIONCLEX => {
            current().files().lock().set_cloexec(fd, cmd == FIOCLEX)?;
            Ok(0)
        }
        FIONBIO => {
            let on: i32 = read_user(arg)?;
            if on != 0 {
                file.flags.fetch_or(O_NONBLOCK, Ordering::Relaxed);
            } else {
                file.flags.fetch_and(!O_NONBLOCK, Ordering::Relaxed);
            }
            Ok(0)
        }
        _ => file.ops.ioctl(&file, cmd, arg),
    }
}
