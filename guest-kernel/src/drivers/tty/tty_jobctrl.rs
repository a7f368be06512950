//! The console as a controlling terminal (Linux's drivers/tty/tty_jobctrl.c and the ctty half
//! of tty_io.c), with the one terminal this kernel has.
//!
//! A session leader without a terminal acquires the console when it opens a terminal device
//! without O_NOCTTY (not /dev/console, which never makes one controlling), or with TIOCSCTTY;
//! the process records it (`signal->tty`, inherited by fork, dropped by setsid) and the
//! terminal records the session and its foreground process group (`tty->ctrl`). /dev/tty
//! opens the caller's controlling terminal. The session leader gives it up with TIOCNOTTY (its
//! foreground group gets SIGHUP and SIGCONT) or by exiting (the terminal's open files are
//! hung up, `tty_hangup`, and the foreground group gets SIGHUP); then no process of the
//! session has it any more.
//!
//! Lock order: the task list (and its callers' locks) before `CTRL`; signals are sent with
//! neither held.

use core::sync::atomic::Ordering;

use spin::Mutex;

use crate::fs::char_dev::{HVC_MAJOR, TTY_MAJOR};
use crate::fs::inode::mkdev;
use crate::kernel::errno::*;
use crate::kernel::signal::{self, KSigInfo, SIGCONT, SIGHUP, SIGTTIN, SIGTTOU, SIG_IGN};
use crate::kernel::task::{current, Pid, Task};
use crate::kernel::tasklist;

/// The terminal's side (Linux's `tty->ctrl`); 0 for none.
struct TtyCtrl {
    /// The session it is the controlling terminal of.
    session: Pid,
    /// That session's foreground process group.
    pgrp: Pid,
    /// The device it was made controlling through, for /proc/<pid>/stat's tty_nr.
    rdev: u64,
}

static CTRL: Mutex<TtyCtrl> = Mutex::new(TtyCtrl {
    session: 0,
    pgrp: 0,
    rdev: 0,
});

/// The device the console writes to now: `hvc0` once the virtio console is up, else `ttyS0`
/// (what /dev/console stands for).
pub fn console_device() -> u64 {
    match super::backend_name() {
        Some("hvc0") => mkdev(HVC_MAJOR, 0),
        _ => mkdev(TTY_MAJOR, 64),
    }
}

/// The current process's (tgid, process group, session).
fn ids() -> (Pid, Pid, Pid) {
    let me = current().tgid;
    let tl = tasklist::lock();
    tl.leader(me).map_or((me, 0, 0), |e| (me, e.pgid, e.sid))
}

fn has_ctty(t: &Task) -> bool {
    t.signal.tty.load(Ordering::Acquire)
}

/// Make the console the current process's controlling terminal (Linux's `__proc_set_tty`).
fn proc_set_tty(rdev: u64, pgrp: Pid, session: Pid) {
    *CTRL.lock() = TtyCtrl {
        session,
        pgrp,
        rdev,
    };
    current().signal.tty.store(true, Ordering::Release);
}

/// A terminal device was opened without O_NOCTTY (Linux's `tty_open_proc_set_tty`): a session
/// leader with no terminal acquires it, if no other session has it and it may read it.
pub fn tty_open_proc_set_tty(rdev: u64, readable: bool) {
    let (me, pgrp, session) = ids();
    if !readable || session != me || has_ctty(current()) {
        return;
    }
    if CTRL.lock().session == 0 {
        proc_set_tty(rdev, pgrp, session);
    }
}

/// /dev/tty: the device of the caller's controlling terminal (Linux's `tty_open_current_tty`).
pub fn tty_open_current_tty() -> KResult<u64> {
    if !has_ctty(current()) {
        return Err(ENXIO);
    }
    Ok(CTRL.lock().rdev)
}

/// TIOCSCTTY on a file of device `rdev`: a session leader without a terminal takes it, or
/// keeps it if it has it already; stealing it from another session is not supported.
pub fn tiocsctty(rdev: u64, readable: bool) -> KResult<()> {
    let (me, pgrp, session) = ids();
    let ctrl_session = CTRL.lock().session;
    if session == me && ctrl_session == session {
        return Ok(());
    }
    if session != me || has_ctty(current()) || ctrl_session != 0 || !readable {
        return Err(EPERM);
    }
    proc_set_tty(rdev, pgrp, session);
    Ok(())
}

/// The caller's session, if the console is its controlling terminal.
fn my_ctty_session() -> KResult<(Pid, Pid)> {
    let (_, pgrp, session) = ids();
    if !has_ctty(current()) || CTRL.lock().session != session {
        return Err(ENOTTY);
    }
    Ok((pgrp, session))
}

/// TIOCGPGRP: the foreground process group (0 if none).
pub fn tiocgpgrp() -> KResult<Pid> {
    my_ctty_session()?;
    Ok(CTRL.lock().pgrp)
}

/// TIOCGSID: the session the terminal belongs to.
pub fn tiocgsid() -> KResult<Pid> {
    my_ctty_session().map(|(_, session)| session)
}

/// TIOCSPGRP: make `pgrp`, a group of the caller's session, the foreground group. A caller
/// in a background group gets SIGTTOU first unless it ignores or blocks it.
pub fn tiocspgrp(pgrp: i32) -> KResult<()> {
    let (_, session) = my_ctty_session()?;
    tty_check_change(SIGTTOU)?;
    if pgrp < 0 {
        return Err(EINVAL);
    }
    let members = tasklist::process_group(pgrp);
    if members.is_empty() {
        return Err(ESRCH);
    }
    if tasklist::sid_of(members[0].tgid) != session {
        return Err(EPERM);
    }
    CTRL.lock().pgrp = pgrp;
    Ok(())
}

/// May the current process use its controlling terminal in a way reserved to the
/// foreground (Linux's `__tty_check_change`)? A process of a background group gets `sig`
/// (SIGTTIN for a read, SIGTTOU for a write with TOSTOP or a settings change) and the call
/// restarts once it is continued; if it ignores or blocks the signal, a write goes ahead and
/// a read fails with EIO; an orphaned group, which nobody would continue, gets EIO.
pub fn tty_check_change(sig: u32) -> KResult<()> {
    if !has_ctty(current()) {
        return Ok(());
    }
    let (_, pgrp, session) = ids();
    let fg = {
        let ctrl = CTRL.lock();
        if ctrl.session != session {
            return Ok(());
        }
        ctrl.pgrp
    };
    if fg == 0 || fg == pgrp {
        return Ok(());
    }
    if ignores(sig) {
        return if sig == SIGTTIN { Err(EIO) } else { Ok(()) };
    }
    if tasklist::is_current_pgrp_orphaned() {
        return Err(EIO);
    }
    kill_pgrp(pgrp, sig);
    Err(ERESTARTSYS)
}

/// Signal the terminal's foreground process group, if it has one (`kill_pgrp(tty->pgrp)`).
pub fn kill_fg_pgrp(sig: u32) {
    let fg = CTRL.lock().pgrp;
    if fg != 0 {
        kill_pgrp(fg, sig);
    }
}

/// A signal key was typed (`isig`): SIGINT, SIGQUIT or SIGTSTP for the foreground group.
pub fn isig(sig: u32) {
    kill_fg_pgrp(sig);
}

/// Whether the current thread blocks or ignores `sig` (Linux's `is_ignored`).
fn ignores(sig: u32) -> bool {
    let t = current();
    let mask = 1u64 << (sig - 1);
    t.pending.lock().blocked & mask != 0
        || t.sighand().lock().actions[sig as usize - 1].handler == SIG_IGN
}

fn kill_pgrp(pgrp: Pid, sig: u32) {
    for t in tasklist::process_group(pgrp) {
        signal::send_signal(&t, KSigInfo::kernel(sig), true);
    }
}

/// TIOCNOTTY: give up the controlling terminal (Linux's `no_tty`); a session leader gives it
/// up for the whole session.
pub fn tiocnotty() -> KResult<()> {
    my_ctty_session()?;
    disassociate_ctty(false);
    proc_clear_tty(current());
    Ok(())
}

/// `t`'s process no longer has a controlling terminal (setsid; Linux's `proc_clear_tty`).
pub fn proc_clear_tty(t: &Task) {
    t.signal.tty.store(false, Ordering::Release);
}

/// A session leader gives up its controlling terminal (Linux's `disassociate_ctty`): by
/// TIOCNOTTY (`on_exit` false: the foreground group gets SIGHUP and SIGCONT) or by exiting
/// (it gets SIGHUP); the terminal is free and no process of the session has it any more.
pub fn disassociate_ctty(on_exit: bool) {
    // Most exits: no terminal, no look-up.
    if !has_ctty(current()) {
        return;
    }
    let (me, _, session) = ids();
    if session != me {
        return;
    }
    let fg = {
        let mut ctrl = CTRL.lock();
        if ctrl.session != session {
            return;
        }
        let fg = ctrl.pgrp;
        *ctrl = TtyCtrl {
            session: 0,
            pgrp: 0,
            rdev: 0,
        };
        fg
    };
    // `session_clear_tty`, before any signal (as `tty_signal_session_leader` does): a
    // member woken by SIGHUP must already find itself without a terminal.
    let members: alloc::vec::Vec<_> = {
        let tl = tasklist::lock();
        tl.entries
            .values()
            .filter(|e| e.sid == session)
            .map(|e| e.task.clone())
            .collect()
    };
    members.iter().for_each(|m| proc_clear_tty(m));
    // The leader's exit hangs up the terminal's open files (`tty_vhangup_session`, the
    // console not being a pty), before the SIGHUP that sends their users to them.
    if on_exit {
        super::tty_hangup::tty_vhangup();
    }
    // The foreground group is hung up on: by TIOCNOTTY with SIGHUP and SIGCONT; by the
    // leader's exit with SIGHUP.
    if fg != 0 {
        kill_pgrp(fg, SIGHUP);
        if !on_exit {
            kill_pgrp(fg, SIGCONT);
        }
    }
}

/// /proc/<pid>/stat's `tty_nr` (the device, `new_encode_dev` encoded) and `tpgid` (the
/// terminal's foreground group): 0 and -1 for a process without a controlling terminal.
pub fn task_tty(t: &Task) -> (i32, i32) {
    if !has_ctty(t) {
        return (0, -1);
    }
    let ctrl = CTRL.lock();
    (ctrl.rdev as i32, ctrl.pgrp)
}
