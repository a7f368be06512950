//! Signal delivery on the way back to user mode (`exit_to_user_mode` → `get_signal`): the
//! default actions (ignore, terminate, core, stop), handler frames, and restarting system
//! calls interrupted by a signal.

use alloc::sync::Arc;
use core::sync::atomic::Ordering;

use super::*;
use crate::arch::entry::TrapFrame;
use crate::kernel::task::{current, current_arc, Task, TaskRef, TASK_RUNNING, TASK_STOPPED};
use crate::kernel::tasklist;

/// Work before returning to user mode (`exit_to_user_mode_loop`): reschedule if asked,
/// deliver pending signals.
pub fn exit_to_user_mode(frame: &mut TrapFrame) {
    loop {
        let t = current();
        if t.need_resched.load(Ordering::Relaxed) {
            crate::sched::schedule();
            continue;
        }
        if signal_pending(t) {
            do_signal(frame);
            // Delivery may have stopped us; check again.
            if t.need_resched.load(Ordering::Relaxed) {
                continue;
            }
        }
        break;
    }
}

fn syscall_restart(frame: &mut TrapFrame, handler: Option<&SigAction>) {
    if frame.vector != crate::arch::entry::SYSCALL_VECTOR {
        return;
    }
    let ret = frame.rax as i64;
    let restart = match (-ret, handler) {
        (ERESTARTNOHAND | ERESTART_RESTARTBLOCK, Some(_)) => false,
        (ERESTARTSYS, Some(a)) => a.flags & SA_RESTART != 0,
        (ERESTARTSYS | ERESTARTNOHAND | ERESTARTNOINTR | ERESTART_RESTARTBLOCK, None) => true,
        (ERESTARTNOINTR, Some(_)) => true,
        _ => return,
    };
    if restart {
        frame.rax = frame.error_code; // the syscall number, kept there on entry
        frame.rip -= 2;
    } else {
        frame.rax = (-EINTR) as u64;
    }
}

/// Deliver one signal (`arch_do_signal_or_restart`).
fn do_signal(frame: &mut TrapFrame) {
    let t = current_arc();
    loop {
        // Group stop in progress: join it.
        if t.signal.group_stop.lock().stopped && !t.signal.group_exiting() {
            do_signal_stop(&t, 0);
            continue;
        }
        let blocked = t.pending.lock().blocked;
        let info = dequeue_signal(&t, blocked);
        let Some(info) = info else {
            recalc_sigpending(&t);
            syscall_restart(frame, None);
            let mut p = t.pending.lock();
            if let Some(mask) = p.saved_mask.take() {
                p.blocked = mask;
            }
            drop(p);
            recalc_sigpending(&t);
            return;
        };
        let sig = info.signo;
        let group_exit = *t.signal.group_exit.lock();
        if let Some(status) = group_exit {
            crate::kernel::exit::do_exit(status);
        }
        let action = t.sighand().lock().actions[sig as usize - 1];
        crate::trace::trace_signal_deliver(
            sig,
            info.errno,
            info.code,
            action.handler,
            action.flags,
        );
        match action.handler {
            SIG_IGN => continue,
            SIG_DFL => {
                if default_ignored(sig) {
                    continue;
                }
                if t.signal.unkillable.load(Ordering::Relaxed) && sig != SIGKILL {
                    continue;
                }
                if STOP_MASK & sigmask(sig) != 0 {
                    // The terminal's stop signals don't stop an orphaned group: nobody would
                    // continue it.
                    if sig != SIGSTOP && tasklist::is_current_pgrp_orphaned() {
                        continue;
                    }
                    do_signal_stop(&t, sig);
                    continue;
                }
                let core = if COREDUMP_MASK & sigmask(sig) != 0 {
                    0x80
                } else {
                    0
                };
                if core != 0 || sig != SIGKILL {
                    log_fatal(&t, sig, &info, frame);
                }
                crate::kernel::exit::do_group_exit(sig as i32 | core);
            }
            _ => {
                syscall_restart(frame, Some(&action));
                let old_mask = {
                    let mut p = t.pending.lock();
                    p.saved_mask.take().unwrap_or(p.blocked)
                };
                if crate::arch::signal::setup_rt_frame(frame, &t, &info, &action, old_mask).is_err()
                {
                    force_sig_fault(SIGSEGV, SI_KERNEL, 0);
                    continue;
                }
                {
                    let mut p = t.pending.lock();
                    let mut add = action.mask;
                    if action.flags & SA_NODEFER == 0 {
                        add |= sigmask(sig);
                    }
                    p.blocked = (p.blocked | add) & !UNBLOCKABLE;
                }
                // `signal_delivered`: the handler's frame saved an SS_AUTODISARM stack, and
                // rt_sigreturn puts it back; until then it is off.
                if t.altstack.lock()[1] as u32 & SS_AUTODISARM != 0 {
                    sas_ss_reset(&t);
                }
                if action.flags & SA_RESETHAND != 0 {
                    t.sighand().lock().actions[sig as usize - 1].handler = SIG_DFL;
                }
                recalc_sigpending(&t);
                return;
            }
        }
    }
}

fn log_fatal(t: &Task, sig: u32, info: &KSigInfo, frame: &TrapFrame) {
    if sig == SIGSEGV && info.code > 0 {
        crate::pr_info!(
            "{}[{}]: segfault at {:x} ip {:016x} sp {:016x} error {:x}",
            t.comm(),
            t.pid,
            info.addr,
            frame.rip,
            frame.rsp,
            frame.error_code
        );
    }
}

/// Stop the thread group (`do_signal_stop`): the first thread to stop notifies the parent.
fn do_signal_stop(t: &TaskRef, sig: u32) {
    let first = {
        let mut gs = t.signal.group_stop.lock();
        let first = !gs.stopped;
        if first {
            if sig == 0 {
                return;
            }
            gs.stopped = true;
            gs.stop_sig = sig;
            gs.report_stopped = true;
            gs.report_continued = false;
        }
        first
    };
    if first {
        for th in tasklist::thread_group(t) {
            if !Arc::ptr_eq(&th, t) {
                signal_wake_up(&th, false);
            }
        }
        let stop_sig = t.signal.group_stop.lock().stop_sig;
        tasklist::notify_parent_cldstop(t, CLD_STOPPED, stop_sig);
    }
    t.state.store(TASK_STOPPED, Ordering::SeqCst);
    if !t.signal.group_stop.lock().stopped || fatal_signal_pending(t) {
        t.state.store(TASK_RUNNING, Ordering::SeqCst);
        return;
    }
    crate::sched::schedule();
}
