//! Process exit (`do_exit`). When init exits the machine powers off with its status, which is
//! how the VMM reports a guest's result.

use crate::kernel::task;

/// Normal exit with `code` (low 8 bits, as `exit_group` keeps them).
pub fn do_exit(code: i32) -> ! {
    let status = (code & 0xff) as u32;
    finish(status)
}

/// Death by signal: the shell convention 128 + signal number is the guest's status.
pub fn do_exit_signal(sig: u32) -> ! {
    finish(128 + sig)
}

fn finish(status: u32) -> ! {
    let t = task::current();
    // Release the address space now, like exit_mm() does.
    t.mm = None;
    // Init is the only process until fork lands; its exit ends the machine.
    crate::pr_notice!("reboot: init exited with status {}, power down", status);
    crate::drivers::tty::flush();
    crate::arch::power_off(status)
}
