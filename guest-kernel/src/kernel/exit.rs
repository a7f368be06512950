//! Task exit and waiting for children (Linux's kernel/exit.c): `do_exit`, `do_group_exit`,
//! re-parenting of orphans, zombies, and `wait4` / `waitid`.
//!
//! A process's exit status is reported once its last thread is gone: the leader stays a
//! zombie until then (`delay_group_leader`). When PID 1's last thread exits, the machine
//! powers off with its status — the way the VMM reports a guest's result.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use crate::kernel::errno::*;
use crate::kernel::signal::{
    self, KSigInfo, CLD_CONTINUED, CLD_DUMPED, CLD_EXITED, CLD_KILLED, CLD_STOPPED, SA_NOCLDWAIT,
    SIGCHLD, SIG_IGN,
};
use crate::kernel::sys::{setmax_mm_hiwater_rss, Rusage};
use crate::kernel::task::*;
use crate::kernel::tasklist::{self, TaskList};
use crate::mm::usercopy::{copy_to_user, write_user};

pub const WNOHANG: u64 = 0x1;
pub const WUNTRACED: u64 = 0x2;
pub const WEXITED: u64 = 0x4;
pub const WCONTINUED: u64 = 0x8;
pub const WNOWAIT: u64 = 0x0100_0000;
pub const __WNOTHREAD: u64 = 0x2000_0000;
pub const __WALL: u64 = 0x4000_0000;
pub const __WCLONE: u64 = 0x8000_0000;

/// Exit the current thread with wait status `status` (`code << 8`, or a signal number with
/// the core bit).
pub fn do_exit(status: i32) -> ! {
    let t = current_arc();
    t.flags.fetch_or(PF_EXITING, Ordering::Relaxed);
    t.exit_code.store(status, Ordering::Relaxed);
    crate::trace::trace_sched_process_exit(&t);
    let group_dead = t.signal.live.fetch_sub(1, Ordering::AcqRel) == 1;

    if group_dead && t.tgid == 1 {
        let group_status = t.signal.group_exit.lock().unwrap_or(status);
        let code = match group_status {
            s if s & 0x7f == 0 => (s >> 8) & 0xff,
            s => 128 + (s & 0x7f),
        };
        crate::pr_notice!("reboot: init exited with status {}, power down", code);
        crate::drivers::tty::flush();
        crate::arch::power_off(code as u32);
    }

    if group_dead {
        crate::kernel::itimer::exit_itimers(&t.signal);
        // A session leader's terminal is freed for its session.
        crate::drivers::tty::tty_jobctrl::disassociate_ctty(true);
    }

    // CPU time goes to the group's dead-thread totals.
    t.signal
        .dead_utime
        .fetch_add(t.utime_ns.load(Ordering::Relaxed), Ordering::Relaxed);
    t.signal
        .dead_stime
        .fetch_add(t.stime_ns.load(Ordering::Relaxed), Ordering::Relaxed);
    t.signal.sum_sched_runtime.fetch_add(
        crate::sched::cputime::task_sched_runtime(&t),
        Ordering::Relaxed,
    );

    // The address space's peak RSS outlives it, for getrusage and the parent's wait.
    if let Some(mm) = t.mm() {
        setmax_mm_hiwater_rss(&t.signal.maxrss, &mm);
    }
    exit_mm(&t);
    if group_dead {
        crate::ipc::sem::exit_sem(t.tgid);
    }
    // Close the files (`exit_files`) outside the task's lock: releasing a pipe end wakes.
    let files = core::mem::replace(
        &mut *t.files.lock(),
        Arc::new(spin::Mutex::new(Default::default())),
    );
    drop(files);
    *t.fs.lock() = crate::kernel::fork::kernel_fs();

    exit_notify(&t, group_dead);
    t.state.store(TASK_DEAD, Ordering::SeqCst);
    drop(t);
    crate::sched::schedule();
    unreachable!("a dead task was scheduled");
}

/// Kill every thread of the group, then exit (`do_group_exit`).
pub fn do_group_exit(status: i32) -> ! {
    let t = current_arc();
    if t.signal.group_exec.load(Ordering::Acquire) && t.signal.group_exit.lock().is_none() {
        // Killed by another thread's execve: just this thread goes.
        drop(t);
        do_exit(status);
    }
    let status = {
        let mut ge = t.signal.group_exit.lock();
        *ge.get_or_insert(status)
    };
    for th in tasklist::thread_group(&t) {
        if !Arc::ptr_eq(&th, &t) {
            signal::zap_thread(&th);
        }
    }
    drop(t);
    do_exit(status)
}

/// Release the address space (`exit_mm` / `mm_release`): release the robust futexes, clear
/// the child-tid word and wake its futex (how `pthread_join` learns of the exit), finish a
/// vfork.
pub fn exit_mm(t: &Task) {
    release_user_tid(t);
    vfork_release(t);
    let mm = t.mm.lock().take();
    if let Some(mm) = mm {
        crate::mm::mmput(mm);
    }
}

/// `mm_release`'s user-visible half, also done by execve.
pub fn release_user_tid(t: &Task) {
    crate::kernel::futex::robust::exit_robust_list(t);
    let addr = t.clear_child_tid.swap(0, Ordering::Relaxed);
    if addr != 0 && t.mm().is_some() && write_user(addr, &0u32).is_ok() {
        crate::kernel::futex::futex_wake_addr(addr, 1);
    }
}

pub fn vfork_release(t: &Task) {
    let done = t.vfork_done.lock().take();
    if let Some(done) = done {
        done.complete();
    }
}

/// The status `wait` reports for a dead process.
fn exit_status_of(t: &Task) -> i32 {
    t.signal
        .group_exit
        .lock()
        .unwrap_or_else(|| t.exit_code.load(Ordering::Relaxed))
}

/// Tell the parent a process is gone (`do_notify_parent`). Returns whether it reaps itself
/// (the parent ignores SIGCHLD), and the signal to send after the lock is dropped.
fn do_notify_parent(tl: &TaskList, leader: &TaskRef) -> (bool, Option<(TaskRef, KSigInfo)>) {
    let ppid = tl.leader(leader.tgid).map_or(0, |e| e.parent);
    let Some(parent) = tl.leader(ppid).map(|e| e.task.clone()) else {
        return (true, None);
    };
    let act = parent.sighand().lock().actions[SIGCHLD as usize - 1];
    let autoreap =
        leader.exit_signal == SIGCHLD && (act.handler == SIG_IGN || act.flags & SA_NOCLDWAIT != 0);
    parent.signal.child_event();
    if leader.exit_signal == 0 || autoreap {
        return (autoreap, None);
    }
    let status = exit_status_of(leader);
    let (code, st) = if status & 0x7f == 0 {
        (CLD_EXITED, (status >> 8) & 0xff)
    } else if status & 0x80 != 0 {
        (CLD_DUMPED, status & 0x7f)
    } else {
        (CLD_KILLED, status & 0x7f)
    };
    let info = KSigInfo {
        signo: leader.exit_signal,
        code,
        pid: leader.tgid,
        status: st,
        utime: leader.signal.dead_utime.load(Ordering::Relaxed) / 10_000_000,
        stime: leader.signal.dead_stime.load(Ordering::Relaxed) / 10_000_000,
        ..Default::default()
    };
    (false, Some((parent, info)))
}

/// Re-parent children, become a zombie or reap ourselves, notify the parent (`exit_notify`).
fn exit_notify(t: &TaskRef, group_dead: bool) {
    let mut signals: Vec<(TaskRef, KSigInfo)> = Vec::new();
    {
        let mut tl = tasklist::lock();
        if group_dead {
            let children = tl.leader(t.tgid).map(|e| e.children.clone());
            forget_original_parent(&mut tl, t.tgid, &mut signals);
            kill_orphaned_pgrps(&tl, t.tgid, &children.unwrap_or_default(), &mut signals);
        }
        if t.is_group_leader() {
            t.exit_state.store(EXIT_ZOMBIE, Ordering::Release);
            if tl.group_empty(t.tgid) {
                let (autoreap, sig) = do_notify_parent(&tl, t);
                signals.extend(sig);
                if autoreap {
                    t.exit_state.store(EXIT_DEAD, Ordering::Release);
                    tl.release(t.pid);
                }
            }
        } else {
            t.exit_state.store(EXIT_DEAD, Ordering::Release);
            tl.release(t.pid);
            // The last thread out reports a leader that exited before it.
            if let Some(leader) = tl.leader(t.tgid).map(|e| e.task.clone()) {
                if leader.exit_state.load(Ordering::Acquire) == EXIT_ZOMBIE
                    && tl.group_empty(t.tgid)
                {
                    let (autoreap, sig) = do_notify_parent(&tl, &leader);
                    signals.extend(sig);
                    if autoreap {
                        leader.exit_state.store(EXIT_DEAD, Ordering::Release);
                        tl.release(leader.pid);
                    }
                }
            }
        }
    }
    for (p, info) in signals {
        signal::send_signal(&p, info, true);
    }
}

/// Process groups that `tgid`'s exit leaves orphaned while some member is stopped get
/// SIGHUP and SIGCONT (`kill_orphaned_pgrp`): no job-control shell is left to continue them.
/// Its own group, if its parent was that group's link to the session, and its children's
/// groups, which it linked (`children` were its children; they have a new parent already).
fn kill_orphaned_pgrps(
    tl: &TaskList,
    tgid: Pid,
    children: &[Pid],
    signals: &mut Vec<(TaskRef, KSigInfo)>,
) {
    let Some(me) = tl.leader(tgid) else { return };
    let (pgid, sid) = (me.pgid, me.sid);
    let mut groups: Vec<Pid> = Vec::new();
    if let Some(parent) = tl.leader(me.parent) {
        if parent.pgid != pgid && parent.sid == sid {
            groups.push(pgid);
        }
    }
    for c in children.iter().filter_map(|c| tl.leader(*c)) {
        if c.pgid != pgid && c.sid == sid && !groups.contains(&c.pgid) {
            groups.push(c.pgid);
        }
    }
    for g in groups {
        if tl.will_become_orphaned_pgrp(g, tgid) && tl.has_stopped_jobs(g) {
            for e in tl.entries.values() {
                if e.task.is_group_leader() && e.pgid == g {
                    signals.push((e.task.clone(), KSigInfo::kernel(signal::SIGHUP)));
                    signals.push((e.task.clone(), KSigInfo::kernel(signal::SIGCONT)));
                }
            }
        }
    }
}

/// Hand `tgid`'s children to the new reaper; zombies among them are announced to it.
fn forget_original_parent(tl: &mut TaskList, tgid: Pid, signals: &mut Vec<(TaskRef, KSigInfo)>) {
    let children = match tl.entries.get_mut(&tgid) {
        Some(e) => core::mem::take(&mut e.children),
        None => return,
    };
    if children.is_empty() {
        return;
    }
    let reaper = tl.find_new_reaper(tgid);
    let reaper_task = tl.task_ptr(reaper);
    for &c in &children {
        if let Some(e) = tl.entries.get_mut(&c) {
            e.set_parent(reaper, reaper_task);
        }
        // Threads of the orphan keep pointing at the leader's parent for getppid.
        let threads = tl
            .entries
            .get(&c)
            .map(|e| e.threads.clone())
            .unwrap_or_default();
        for th in threads {
            if let Some(e) = tl.entries.get_mut(&th) {
                e.set_parent(reaper, reaper_task);
            }
        }
    }
    if let Some(r) = tl.entries.get_mut(&reaper) {
        r.children.extend(children.iter().copied());
    }
    for &c in &children {
        if tasklist::reapable(tl, c) {
            if let Some(child) = tl.leader(c).map(|e| e.task.clone()) {
                let (autoreap, sig) = do_notify_parent(tl, &child);
                signals.extend(sig);
                if autoreap {
                    tl.release(c);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// wait4 / waitid

#[derive(Clone, Copy)]
enum Which {
    Any,
    Pid(Pid),
    Pgid(Pid),
}

struct WaitResult {
    pid: Pid,
    /// wait4's status word.
    status: i32,
    /// waitid's si_code and si_status.
    code: i32,
    si_status: i32,
    uid: u32,
    /// A reaped child's own and its reaped children's usage (`RUSAGE_BOTH`).
    ru: Rusage,
}

fn eligible(child: &Task, which: Which, options: u64, tl: &TaskList) -> bool {
    let id_ok = match which {
        Which::Any => true,
        Which::Pid(p) => child.tgid == p,
        Which::Pgid(g) => tl.leader(child.tgid).is_some_and(|e| e.pgid == g),
    };
    if !id_ok {
        return false;
    }
    if options & __WALL != 0 {
        return true;
    }
    // __WCLONE selects children that don't signal SIGCHLD, and only those.
    (child.exit_signal != SIGCHLD) == (options & __WCLONE != 0)
}

fn do_wait(which: Which, options: u64) -> KResult<Option<WaitResult>> {
    let me = current_arc();
    crate::trace::trace_sched_process_wait(&me, if let Which::Pid(p) = which { p } else { 0 });
    loop {
        let gen = {
            let mut tl = tasklist::lock();
            let gen = me.signal.chld_events.load(Ordering::Acquire);
            let children: Vec<Pid> = tl
                .leader(me.tgid)
                .map(|e| e.children.clone())
                .unwrap_or_default();
            let mut any = false;
            for c in children {
                let Some(child) = tl.leader(c).map(|e| e.task.clone()) else {
                    continue;
                };
                if !eligible(&child, which, options, &tl) {
                    continue;
                }
                any = true;
                let uid = child.cred.lock().uid;
                if options & WEXITED != 0 && tasklist::reapable(&tl, c) {
                    let status = exit_status_of(&child);
                    let sig = &child.signal;
                    let (utime, stime) = crate::sched::cputime::dead_group_cputime_adjusted(sig);
                    let ru = Rusage {
                        utime: utime + sig.cutime.load(Ordering::Relaxed),
                        stime: stime + sig.cstime.load(Ordering::Relaxed),
                        maxrss: sig
                            .maxrss
                            .load(Ordering::Relaxed)
                            .max(sig.cmaxrss.load(Ordering::Relaxed)),
                        ..Default::default()
                    };
                    if options & WNOWAIT == 0 {
                        let psig = &me.signal;
                        psig.cutime.fetch_add(ru.utime, Ordering::Relaxed);
                        psig.cstime.fetch_add(ru.stime, Ordering::Relaxed);
                        psig.cmaxrss.fetch_max(ru.maxrss, Ordering::Relaxed);
                        child.exit_state.store(EXIT_DEAD, Ordering::Release);
                        tl.release(c);
                    }
                    let (code, st) = if status & 0x7f == 0 {
                        (CLD_EXITED, (status >> 8) & 0xff)
                    } else if status & 0x80 != 0 {
                        (CLD_DUMPED, status & 0x7f)
                    } else {
                        (CLD_KILLED, status & 0x7f)
                    };
                    return Ok(Some(WaitResult {
                        pid: c,
                        status,
                        code,
                        si_status: st,
                        uid,
                        ru,
                    }));
                }
                let mut gs = child.signal.group_stop.lock();
                if options & WUNTRACED != 0 && gs.stopped && gs.report_stopped {
                    if options & WNOWAIT == 0 {
                        gs.report_stopped = false;
                    }
                    let sig = gs.stop_sig as i32;
                    return Ok(Some(WaitResult {
                        pid: c,
                        status: (sig << 8) | 0x7f,
                        code: CLD_STOPPED,
                        si_status: sig,
                        uid,
                        ru: Rusage::default(),
                    }));
                }
                if options & WCONTINUED != 0 && gs.report_continued {
                    if options & WNOWAIT == 0 {
                        gs.report_continued = false;
                    }
                    return Ok(Some(WaitResult {
                        pid: c,
                        status: 0xffff,
                        code: CLD_CONTINUED,
                        si_status: signal::SIGCONT as i32,
                        uid,
                        ru: Rusage::default(),
                    }));
                }
            }
            if !any {
                return Err(ECHILD);
            }
            if options & WNOHANG != 0 {
                return Ok(None);
            }
            gen
        };
        // Sleep until a child changes state (or a signal arrives), then look again.
        me.signal
            .wait_chldexit
            .wait_event(TASK_INTERRUPTIBLE, false, || {
                me.signal.chld_events.load(Ordering::Acquire) != gen
            })?;
    }
}

pub fn sys_wait4(pid: i64, wstatus: u64, options: u64, rusage: u64) -> KResult<i64> {
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | __WNOTHREAD | __WCLONE | __WALL) != 0 {
        return Err(EINVAL);
    }
    let which = match pid {
        -1 => Which::Any,
        0 => Which::Pgid(tasklist::pgid_of(current().tgid)),
        p if p < -1 => Which::Pgid((-p) as Pid),
        p => Which::Pid(p as Pid),
    };
    match do_wait(which, options | WEXITED)? {
        Some(r) => {
            if wstatus != 0 {
                write_user(wstatus, &r.status)?;
            }
            if rusage != 0 {
                r.ru.write_to_user(rusage)?;
            }
            Ok(r.pid as i64)
        }
        None => Ok(0),
    }
}

pub fn sys_waitid(which: u64, id: u64, infop: u64, options: u64, rusage: u64) -> KResult<i64> {
    const P_ALL: u64 = 0;
    const P_PID: u64 = 1;
    const P_PGID: u64 = 2;
    if options
        & !(WNOHANG | WNOWAIT | WEXITED | WUNTRACED | WCONTINUED | __WNOTHREAD | __WCLONE | __WALL)
        != 0
        || options & (WEXITED | WUNTRACED | WCONTINUED) == 0
    {
        return Err(EINVAL);
    }
    let which = match which {
        P_ALL => Which::Any,
        P_PID if id as i64 > 0 => Which::Pid(id as Pid),
        P_PGID => Which::Pgid(if id == 0 {
            tasklist::pgid_of(current().tgid)
        } else {
            id as Pid
        }),
        _ => return Err(EINVAL),
    };
    let r = do_wait(which, options)?;
    if infop != 0 {
        let info = match &r {
            Some(r) => KSigInfo {
                signo: SIGCHLD,
                code: r.code,
                pid: r.pid,
                uid: r.uid,
                status: r.si_status,
                ..Default::default()
            },
            None => KSigInfo::default(),
        };
        let mut bytes = info.to_user();
        if r.is_none() {
            bytes = [0; 128];
        }
        copy_to_user(infop, &bytes)?;
    }
    if rusage != 0 {
        r.map_or_else(Rusage::default, |r| r.ru)
            .write_to_user(rusage)?;
    }
    Ok(0)
}

pub fn sys_exit(code: u64) -> ! {
    do_exit(((code & 0xff) << 8) as i32)
}

pub fn sys_exit_group(code: u64) -> ! {
    do_group_exit(((code & 0xff) << 8) as i32)
}
