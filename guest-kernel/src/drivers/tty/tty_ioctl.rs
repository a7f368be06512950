//! The terminal ioctls (Linux's drivers/tty/tty_ioctl.c and the ioctl half of tty_io.c):
//! termios get/set, window size, input queue and flushing, and the job-control requests of
//! `tty_jobctrl`.

use spin::Mutex;

use super::n_tty::{Termios, TERMIOS_SIZE};
use super::n_tty::{VSTART, VSTOP};
use super::{emit, start_tty, tty_jobctrl, with_ldisc, INPUT_WAIT};
use crate::fs::file::File;
use crate::kernel::errno::*;
use crate::kernel::signal::{SIGTTOU, SIGWINCH};
use crate::mm::usercopy::{copy_from_user, copy_to_user, read_user, write_user};

const TCGETS: u32 = 0x5401;
const TCSETS: u32 = 0x5402;
const TCSETSW: u32 = 0x5403;
const TCSETSF: u32 = 0x5404;
const TCSBRK: u32 = 0x5409;
const TCXONC: u32 = 0x540a;
const TCFLSH: u32 = 0x540b;
const TIOCSCTTY: u32 = 0x540e;
const TIOCGPGRP: u32 = 0x540f;
pub(super) const TIOCSPGRP: u32 = 0x5410;
const TIOCOUTQ: u32 = 0x5411;
const TIOCGWINSZ: u32 = 0x5413;
const TIOCSWINSZ: u32 = 0x5414;
const FIONREAD: u32 = 0x541b;
const TIOCNOTTY: u32 = 0x5422;
const TIOCGSID: u32 = 0x5429;

const TCIFLUSH: u64 = 0;
const TCOFLUSH: u64 = 1;
const TCIOFLUSH: u64 = 2;

const TCOOFF: u64 = 0;
const TCOON: u64 = 1;
const TCIOFF: u64 = 2;
const TCION: u64 = 3;

/// tcflow (`n_tty_ioctl_helper`'s TCXONC): hold or restart our output, or send the other
/// side the STOP or START character.
fn tcxonc(arg: u64) -> KResult<()> {
    match arg {
        TCOOFF => with_ldisc(|l| {
            l.tco_stopped = true;
            l.stop();
        }),
        TCOON => {
            with_ldisc(|l| l.tco_stopped = false);
            start_tty();
        }
        TCIOFF | TCION => {
            let idx = if arg == TCIOFF { VSTOP } else { VSTART };
            let c = with_ldisc(|l| l.termios.cc[idx]);
            // `_POSIX_VDISABLE`: nothing to send.
            if c != 0 {
                emit(&[c], &[c]);
            }
        }
        _ => return Err(EINVAL),
    }
    Ok(())
}

/// After new settings: if output is no longer held, send the held echo and wake writers.
fn start_tty_if_let_go() {
    if !with_ldisc(|l| l.stopped) {
        start_tty();
    }
}

/// `struct winsize`: rows, columns, and the two pixel sizes.
static WINSIZE: Mutex<[u16; 4]> = Mutex::new([24, 80, 0, 0]);

pub fn tty_ioctl(rdev: u64, file: &File, cmd: u32, arg: u64) -> KResult<i64> {
    match cmd {
        TCGETS => {
            let t = with_ldisc(|l| l.termios);
            copy_to_user(arg, &t.to_bytes())?;
        }
        TCSETS | TCSETSW | TCSETSF => {
            // A background process changing the settings gets SIGTTOU (`set_termios`).
            tty_jobctrl::tty_check_change(SIGTTOU)?;
            let mut b = [0u8; TERMIOS_SIZE];
            copy_from_user(&mut b, arg)?;
            let t = Termios::from_bytes(&b);
            // Output is written synchronously, so TCSETSW has nothing left to drain.
            with_ldisc(|l| {
                if cmd == TCSETSF {
                    l.flush_input();
                }
                l.set_termios(t);
            });
            // Readers waiting for a line may be satisfied in the new mode; clearing IXON
            // may have let held output go.
            INPUT_WAIT.wake_up_all();
            start_tty_if_let_go();
        }
        TCFLSH => {
            tty_jobctrl::tty_check_change(SIGTTOU)?;
            match arg {
                TCIFLUSH | TCIOFLUSH => with_ldisc(|l| l.flush_input()),
                // Nothing is queued for output.
                TCOFLUSH => {}
                _ => return Err(EINVAL),
            }
        }
        // tcdrain (TCSBRK with a non-zero argument) and breaks: output is already sent.
        TCSBRK => tty_jobctrl::tty_check_change(SIGTTOU)?,
        TCXONC => {
            tty_jobctrl::tty_check_change(SIGTTOU)?;
            tcxonc(arg)?;
        }
        TIOCOUTQ => write_user(arg, &0i32)?,
        FIONREAD => {
            let n = with_ldisc(|l| l.readable_len()) as i32;
            write_user(arg, &n)?;
        }
        TIOCGWINSZ => {
            let w = *WINSIZE.lock();
            write_user(arg, &w)?;
        }
        TIOCSWINSZ => {
            let w: [u16; 4] = read_user(arg)?;
            let changed = core::mem::replace(&mut *WINSIZE.lock(), w) != w;
            // The foreground job redraws for the new size (`tty_do_resize`).
            if changed {
                tty_jobctrl::kill_fg_pgrp(SIGWINCH);
            }
        }
        TIOCSCTTY => tty_jobctrl::tiocsctty(rdev, file.readable())?,
        TIOCNOTTY => tty_jobctrl::tiocnotty()?,
        TIOCGPGRP => write_user(arg, &tty_jobctrl::tiocgpgrp()?)?,
        TIOCSPGRP => {
            let pgrp: i32 = read_user(arg)?;
            tty_jobctrl::tiocspgrp(pgrp)?;
        }
        TIOCGSID => write_user(arg, &tty_jobctrl::tiocgsid()?)?,
        _ => return Err(ENOTTY),
    }
    Ok(0)
}
