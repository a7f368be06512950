//! `reboot(2)` (Linux's kernel/reboot.c): power off, restart or halt on request of a
//! privileged process, after the magic numbers Linux checks.
//!
//! Killing the remaining processes is init's part, as on Linux (`poweroff` signals init, which
//! sends SIGTERM and SIGKILL to everyone, syncs and calls here). The kernel syncs, flushes
//! the console and leaves through the debug-exit port with status 0: a VM has no reset line,
//! so a restart and a halt end the VM as a power-off does.

use core::sync::atomic::{AtomicBool, Ordering};

use crate::kernel::errno::*;
use crate::kernel::task::current;

const LINUX_REBOOT_MAGIC1: u64 = 0xfee1_dead;
const LINUX_REBOOT_MAGIC2: u64 = 672_274_793;
const LINUX_REBOOT_MAGIC2A: u64 = 85_072_278;
const LINUX_REBOOT_MAGIC2B: u64 = 369_367_448;
const LINUX_REBOOT_MAGIC2C: u64 = 537_993_216;

const LINUX_REBOOT_CMD_RESTART: u32 = 0x0123_4567;
const LINUX_REBOOT_CMD_HALT: u32 = 0xcdef_0123;
const LINUX_REBOOT_CMD_CAD_ON: u32 = 0x89ab_cdef;
const LINUX_REBOOT_CMD_CAD_OFF: u32 = 0x0000_0000;
const LINUX_REBOOT_CMD_POWER_OFF: u32 = 0x4321_fedc;
const LINUX_REBOOT_CMD_RESTART2: u32 = 0xa1b2_c3d4;

/// Ctrl-Alt-Del reboots at once instead of signalling init (`C_A_D`); kept for CAD_ON/OFF.
static C_A_D: AtomicBool = AtomicBool::new(true);

pub fn sys_reboot(magic1: u64, magic2: u64, cmd: u64, _arg: u64) -> KResult<i64> {
    // CAP_SYS_BOOT: root only.
    if current().cred.lock().euid != 0 {
        return Err(EPERM);
    }
    let magic2_ok = [
        LINUX_REBOOT_MAGIC2,
        LINUX_REBOOT_MAGIC2A,
        LINUX_REBOOT_MAGIC2B,
        LINUX_REBOOT_MAGIC2C,
    ]
    .contains(&(magic2 & 0xffff_ffff));
    if magic1 & 0xffff_ffff != LINUX_REBOOT_MAGIC1 || !magic2_ok {
        return Err(EINVAL);
    }
    let message = match cmd as u32 {
        LINUX_REBOOT_CMD_CAD_ON | LINUX_REBOOT_CMD_CAD_OFF => {
            C_A_D.store(cmd as u32 == LINUX_REBOOT_CMD_CAD_ON, Ordering::Relaxed);
            return Ok(0);
        }
        LINUX_REBOOT_CMD_POWER_OFF => "Power down",
        LINUX_REBOOT_CMD_RESTART | LINUX_REBOOT_CMD_RESTART2 => "Restarting system",
        LINUX_REBOOT_CMD_HALT => "System halted",
        _ => return Err(EINVAL),
    };
    kernel_shutdown(message)
}

/// `kernel_power_off` and friends: sync, say so, flush the console, power off.
fn kernel_shutdown(message: &str) -> ! {
    crate::fs::sync::ksys_sync();
    crate::pr_notice!("reboot: {}", message);
    crate::drivers::tty::flush();
    crate::arch::power_off(0)
}
