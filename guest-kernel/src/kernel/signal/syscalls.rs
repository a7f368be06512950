//! Signal system calls: dispositions, masks, waiting for signals, alternate stacks, sending
//! (`kill`, `tgkill`, `rt_sigqueueinfo`) and `pause`.

use core::sync::atomic::Ordering;

use super::*;
use crate::kernel::task::{
    current, current_arc, Pid, Task, TaskRef, TASK_INTERRUPTIBLE, TASK_RUNNING,
};
use crate::kernel::tasklist;
use crate::mm::usercopy::{read_user, write_user};

/// `pause`: sleep until a signal is delivered.
pub fn sys_pause() -> KResult<i64> {
    let t = current();
    while !signal_pending(t) {
        t.state.store(TASK_INTERRUPTIBLE, Ordering::SeqCst);
        if signal_pending(t) {
            break;
        }
        crate::sched::schedule();
    }
    t.state.store(TASK_RUNNING, Ordering::SeqCst);
    Err(ERESTARTNOHAND)
}

pub fn sys_rt_sigaction(sig: u64, act: u64, oldact: u64, sigsetsize: u64) -> KResult<i64> {
    if sigsetsize != 8 || sig == 0 || sig as usize > NSIG {
        return Err(EINVAL);
    }
    let new: Option<SigAction> = if act != 0 {
        Some(read_user(act)?)
    } else {
        None
    };
    let sig = sig as u32;
    if new.is_some() && (sig == SIGKILL || sig == SIGSTOP) {
        return Err(EINVAL);
    }
    let t = current();
    let old = {
        let sh = t.sighand();
        let mut sh = sh.lock();
        let slot = &mut sh.actions[sig as usize - 1];
        let old = *slot;
        if let Some(mut a) = new {
            a.mask &= !UNBLOCKABLE;
            *slot = a;
        }
        old
    };
    if let Some(a) = new {
        // Setting SIG_IGN (or SIG_DFL for a default-ignored signal) discards pending ones.
        if a.handler == SIG_IGN || (a.handler == SIG_DFL && default_ignored(sig)) {
            t.signal.shared_pending.lock().remove_mask(sigmask(sig));
            for th in tasklist::thread_group(&current_arc()) {
                th.pending.lock().remove_mask(sigmask(sig));
            }
        }
    }
    if oldact != 0 {
        write_user(oldact, &old)?;
    }
    Ok(0)
}

pub fn sys_rt_sigprocmask(how: u64, set: u64, oldset: u64, sigsetsize: u64) -> KResult<i64> {
    if sigsetsize != 8 {
        return Err(EINVAL);
    }
    let new: Option<u64> = if set != 0 {
        Some(read_user(set)?)
    } else {
        None
    };
    let t = current();
    let old = {
        let mut p = t.pending.lock();
        let old = p.blocked;
        if let Some(set) = new {
            p.blocked = match how {
                0 => old | set,
                1 => old & !set,
                2 => set,
                _ => return Err(EINVAL),
            } & !UNBLOCKABLE;
        }
        old
    };
    recalc_sigpending(t);
    if oldset != 0 {
        write_user(oldset, &old)?;
    }
    Ok(0)
}

pub fn sys_rt_sigpending(set: u64, sigsetsize: u64) -> KResult<i64> {
    if sigsetsize != 8 {
        return Err(EINVAL);
    }
    let t = current();
    let p = t.pending.lock();
    let pending = (p.set | t.signal.shared_pending.lock().set) & p.blocked;
    drop(p);
    write_user(set, &pending)?;
    Ok(0)
}

pub fn sys_rt_sigsuspend(mask: u64, sigsetsize: u64) -> KResult<i64> {
    if sigsetsize != 8 {
        return Err(EINVAL);
    }
    let mask: u64 = read_user(mask)?;
    let t = current();
    {
        let mut p = t.pending.lock();
        p.saved_mask = Some(p.blocked);
        p.blocked = mask & !UNBLOCKABLE;
    }
    recalc_sigpending(t);
    while !signal_pending(t) {
        t.state.store(TASK_INTERRUPTIBLE, Ordering::SeqCst);
        if signal_pending(t) {
            t.state.store(TASK_RUNNING, Ordering::SeqCst);
            break;
        }
        crate::sched::schedule();
    }
    Err(ERESTARTNOHAND)
}

/// `rt_sigtimedwait`: take one of `set` from the pending signals, waiting up to `timeout`.
/// As in Linux, the wanted signals are unblocked while waiting so that their arrival wakes
/// us, and the old mask is back before we return (nothing is delivered to a handler).
pub fn sys_rt_sigtimedwait(set: u64, info: u64, timeout: u64, sigsetsize: u64) -> KResult<i64> {
    if sigsetsize != 8 {
        return Err(EINVAL);
    }
    let wanted: u64 = read_user::<u64>(set)? & !UNBLOCKABLE;
    let deadline = if timeout != 0 {
        let ts: [i64; 2] = read_user(timeout)?;
        if ts[0] < 0 || !(0..1_000_000_000).contains(&ts[1]) {
            return Err(EINVAL);
        }
        Some(crate::arch::tsc::ns_since_boot() + ts[0] as u64 * 1_000_000_000 + ts[1] as u64)
    } else {
        None
    };
    let t = current_arc();
    let take = || dequeue_signal(&t, !wanted);
    let mut got = take();
    if got.is_none() && deadline.is_none_or(|d| crate::arch::tsc::ns_since_boot() < d) {
        let saved = {
            let mut p = t.pending.lock();
            let saved = p.blocked;
            p.real_blocked = saved & wanted;
            p.blocked &= !wanted;
            saved
        };
        recalc_sigpending(&t);
        let timer = deadline.map(|d| {
            let waker = t.clone();
            crate::kernel::timer::Hrtimer::start(d, move || {
                crate::sched::wake_up_state(&waker, TASK_INTERRUPTIBLE);
            })
        });
        t.state.store(TASK_INTERRUPTIBLE, Ordering::SeqCst);
        if !signal_pending(&t) {
            crate::sched::schedule();
        }
        t.state.store(TASK_RUNNING, Ordering::SeqCst);
        if let Some(timer) = timer {
            let _ = timer.cancel();
        }
        {
            let mut p = t.pending.lock();
            p.blocked = saved;
            p.real_blocked = 0;
        }
        got = take();
        recalc_sigpending(&t);
    }
    match got {
        Some(i) => {
            if info != 0 {
                crate::mm::usercopy::copy_to_user(info, &i.to_user())?;
            }
            Ok(i.signo as i64)
        }
        // Woken by some other, deliverable signal: let it be handled first.
        None if signal_pending(&t) => Err(EINTR),
        None => Err(EAGAIN),
    }
}

pub fn sys_sigaltstack(ss: u64, old: u64) -> KResult<i64> {
    let new: Option<StackT> = if ss != 0 { Some(read_user(ss)?) } else { None };
    let sp = crate::arch::signal::user_sp();
    let prev = do_sigaltstack(current(), new, sp, MINSIGSTKSZ)?;
    if old != 0 {
        write_user(old, &prev)?;
    }
    Ok(0)
}

fn check_kill_permission(_t: &Task) -> KResult<()> {
    // Everyone is root here; the uid check joins with credentials.
    Ok(())
}

fn kill_one(t: &TaskRef, sig: u32, info: KSigInfo) -> KResult<()> {
    check_kill_permission(t)?;
    if sig != 0 {
        send_signal(t, info, true);
    }
    Ok(())
}

pub fn sys_kill(pid: i64, sig: u64) -> KResult<i64> {
    if sig as usize > NSIG {
        return Err(EINVAL);
    }
    let sig = sig as u32;
    let info = KSigInfo::user(sig, SI_USER);
    let me = current();
    let targets: alloc::vec::Vec<TaskRef> = match pid {
        p if p > 0 => alloc::vec![tasklist::find_process(p as Pid).ok_or(ESRCH)?],
        0 => tasklist::process_group(tasklist::pgid_of(me.tgid)),
        -1 => tasklist::all_processes()
            .into_iter()
            .filter(|t| t.tgid != 1 && t.tgid != me.tgid && !t.is_kthread())
            .collect(),
        p => tasklist::process_group((-p) as Pid),
    };
    if targets.is_empty() {
        return Err(ESRCH);
    }
    for t in &targets {
        kill_one(t, sig, info)?;
    }
    Ok(0)
}

pub fn sys_tgkill(tgid: i64, tid: i64, sig: u64) -> KResult<i64> {
    if tid <= 0 || (tgid <= 0 && tgid != -1) || sig as usize > NSIG {
        return Err(EINVAL);
    }
    let t = tasklist::find_task(tid as Pid).ok_or(ESRCH)?;
    if tgid > 0 && t.tgid != tgid as Pid {
        return Err(ESRCH);
    }
    check_kill_permission(&t)?;
    if sig != 0 {
        send_signal(&t, KSigInfo::user(sig as u32, SI_TKILL), false);
    }
    Ok(0)
}

pub fn sys_rt_sigqueueinfo(pid: i64, sig: u64, uinfo: u64) -> KResult<i64> {
    if sig == 0 || sig as usize > NSIG {
        return Err(EINVAL);
    }
    let raw: [u8; 128] = {
        let mut b = [0u8; 128];
        crate::mm::usercopy::copy_from_user(&mut b, uinfo)?;
        b
    };
    let code = i32::from_le_bytes(raw[8..12].try_into().unwrap());
    // Only the kernel may send SI_USER/SI_KERNEL-coded signals to others.
    if code >= 0 {
        return Err(EPERM);
    }
    let t = tasklist::find_process(pid as Pid).ok_or(ESRCH)?;
    let info = KSigInfo {
        signo: sig as u32,
        code,
        pid: i32::from_le_bytes(raw[16..20].try_into().unwrap()),
        uid: u32::from_le_bytes(raw[20..24].try_into().unwrap()),
        addr: u64::from_le_bytes(raw[24..32].try_into().unwrap()),
        ..Default::default()
    };
    send_signal(&t, info, true);
    Ok(0)
}

/// Block `mask` until the current system call returns (`set_user_sigmask`, for `ppoll` and
/// `pselect6`).
pub fn set_temporary_mask(mask: u64) {
    let t = current();
    {
        let mut p = t.pending.lock();
        p.saved_mask = Some(p.blocked);
        p.blocked = mask & !UNBLOCKABLE;
    }
    recalc_sigpending(t);
}

/// Put the mask from before `set_temporary_mask` back, unless the call was interrupted: then
/// signal delivery restores it after the handler's frame has recorded it
/// (`restore_saved_sigmask_unless`).
pub fn restore_temporary_mask(interrupted: bool) {
    if interrupted {
        return;
    }
    let t = current();
    {
        let mut p = t.pending.lock();
        if let Some(mask) = p.saved_mask.take() {
            p.blocked = mask;
        }
    }
    recalc_sigpending(t);
}
