//! Taking the snapshots that `/proc/<pid>/stat`, `status` and `comm` render, from a live task
//! (kernel only: the renderers in `array/mod.rs` are pure and host-tested).

use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::Ordering::Relaxed;

use super::*;
use crate::kernel::signal::{SIG_DFL, SIG_IGN};
use crate::kernel::task::{Task, TaskRef};
use crate::kernel::tasklist;
use crate::mm::mmap::{MmStruct, PAGE};

const RLIMIT_RSS: usize = 5;
const RLIMIT_SIGPENDING: usize = 11;

/// The family facts kept in the task list: parent process, process group, session and
/// the number of threads of the group.
struct Family {
    ppid: i32,
    pgid: i32,
    sid: i32,
    nr_threads: usize,
}

fn family(task: &Task) -> Family {
    let tl = tasklist::lock();
    match tl.leader(task.tgid) {
        Some(l) => Family {
            ppid: l.parent,
            pgid: l.pgid,
            sid: l.sid,
            nr_threads: l.threads.len(),
        },
        None => Family {
            ppid: 0,
            pgid: 0,
            sid: 0,
            nr_threads: 0,
        },
    }
}

/// Ignored and caught signals, as bit masks (`collect_sigign_sigcatch`).
fn sigign_sigcatch(task: &Task) -> (u64, u64) {
    let sighand = task.sighand();
    let sighand = sighand.lock();
    let (mut ign, mut catch) = (0, 0);
    for (i, a) in sighand.actions.iter().enumerate() {
        if a.handler == SIG_IGN {
            ign |= 1 << i;
        } else if a.handler != SIG_DFL {
            catch |= 1 << i;
        }
    }
    (ign, catch)
}

/// utime and stime of the task, or of its whole group (live threads plus the exited
/// ones), in ns: the exact runtime split in the ticks' ratio (`sched::cputime`).
fn cputime(task: &Task, whole: bool) -> (u64, u64) {
    if whole {
        crate::sched::cputime::thread_group_cputime_adjusted(task)
    } else {
        crate::sched::cputime::task_cputime_adjusted(task)
    }
}

fn with_mm<R>(task: &Task, f: impl FnOnce(&mut MmStruct) -> R) -> Option<R> {
    let mm = task.mm()?;
    let mut mm = mm.lock();
    Some(f(&mut mm))
}

fn do_task_stat(task: &TaskRef, whole: bool) -> String {
    let fam = family(task);
    let state = task.state();
    let exit_state = task.exit_state.load(Relaxed);
    let (sigignore, sigcatch) = sigign_sigcatch(task);
    let (signal, blocked) = {
        let p = task.pending.lock();
        (p.set, p.blocked)
    };
    let (utime, stime) = cputime(task, whole);
    let min_flt = if whole {
        tasklist::thread_group(task)
            .iter()
            .map(|t| t.min_flt.load(Relaxed))
            .sum()
    } else {
        task.min_flt.load(Relaxed)
    };
    let mut exit_code = task.exit_code.load(Relaxed);
    if whole {
        // A group that is exiting or stopped reports the group's code.
        if let Some(code) = *task.signal.group_exit.lock() {
            exit_code = code;
        } else {
            let gs = task.signal.group_stop.lock();
            if gs.stopped {
                exit_code = gs.stop_sig as i32;
            }
        }
    }
    let se = task.se.lock().clone();
    let (policy, rt_priority, prio) = crate::sched::debug::sched_attrs(&se);
    let (tty_nr, tpgid) = crate::drivers::tty::tty_jobctrl::task_tty(task);
    let mut s = TaskStat {
        pid: task.pid,
        comm: proc_task_name(task),
        state: get_task_state(state, exit_state)
            .chars()
            .next()
            .unwrap_or('?'),
        ppid: fam.ppid,
        pgrp: fam.pgid,
        session: fam.sid,
        tty_nr,
        tpgid,
        flags: task.flags.load(Relaxed),
        min_flt,
        utime: nsec_to_clock_t(utime),
        stime: nsec_to_clock_t(stime),
        cutime: nsec_to_clock_t(task.signal.cutime.load(Relaxed)),
        cstime: nsec_to_clock_t(task.signal.cstime.load(Relaxed)),
        priority: prio as i64 - crate::sched::MAX_RT_PRIO as i64,
        nice: se.nice() as i64,
        num_threads: fam.nr_threads as i64,
        start_time: nsec_to_clock_t(task.start_time_ns),
        rsslim: task.signal.rlim.lock()[RLIMIT_RSS][0],
        signal,
        blocked,
        sigignore,
        sigcatch,
        // `wchan` is only a flag now: whether the task sleeps.
        wchan: (!whole || fam.nr_threads < 2) as u64 & (state != 0) as u64,
        // Threads other than the leader have no exit signal.
        exit_signal: if task.is_group_leader() {
            task.exit_signal as i32
        } else {
            -1
        },
        processor: crate::sched::task_cpu(task) as i32,
        rt_priority,
        policy,
        exit_code,
        ..Default::default()
    };
    with_mm(task, |mm| {
        s.vsize = mm.vmas.total_vm * PAGE;
        s.rss = mm.get_mm_rss();
        s.start_code = mm.start_code;
        s.end_code = mm.end_code;
        s.start_stack = mm.start_stack;
        s.start_data = mm.start_data;
        s.end_data = mm.end_data;
        s.start_brk = mm.start_brk;
        s.arg_start = mm.arg_start;
        s.arg_end = mm.arg_end;
        s.env_start = mm.env_start;
        s.env_end = mm.env_end;
    });
    render_task_stat(&s)
}

/// `/proc/<pid>/task/<tid>/stat`: this thread's numbers.
pub fn proc_tid_stat(task: &TaskRef) -> String {
    do_task_stat(task, false)
}

/// `/proc/<pid>/stat`: the whole thread group's times and faults.
pub fn proc_tgid_stat(task: &TaskRef) -> String {
    do_task_stat(task, true)
}

/// Linux's `max_fds` for a table whose highest open descriptor is `max_fd`: 64, growing
/// to power-of-two multiples of 128 (`expand_fdtable`).
fn max_fds(max_fd: Option<usize>) -> usize {
    match max_fd {
        Some(fd) if fd >= 64 => (fd / 128 + 1).next_power_of_two() * 128,
        _ => 64,
    }
}

/// The highest open descriptor of `task`.
fn highest_fd(task: &Task) -> Option<usize> {
    let files = task.files();
    let files = files.lock();
    files.open_fds().map(|(fd, _)| fd).last()
}

/// Signals queued for the user of `task` (the SigQ count Linux keeps per user).
fn queued_signals_of_user(uid: u32) -> u64 {
    let tasks: Vec<TaskRef> = tasklist::lock()
        .entries
        .values()
        .filter(|e| e.task.cred.lock().uid == uid)
        .map(|e| e.task.clone())
        .collect();
    let mut n = 0;
    for t in &tasks {
        n += t.pending.lock().queue.len() as u64;
        if t.is_group_leader() {
            n += t.signal.shared_pending.lock().queue.len() as u64;
        }
    }
    n
}

/// `/proc/<pid>/status`.
pub fn proc_pid_status(task: &TaskRef) -> String {
    let fam = family(task);
    let cred = *task.cred.lock();
    let (sig_ign, sig_cgt) = sigign_sigcatch(task);
    let (sig_pnd, sig_blk) = {
        let p = task.pending.lock();
        (p.set, p.blocked)
    };
    let se = task.se.lock().clone();
    // Root holds every capability; others none (no file capabilities here).
    let root_prm = cred.uid == 0 || cred.euid == 0;
    let caps = |on: bool| if on { CAP_FULL_SET } else { 0 };
    let s = TaskStatus {
        comm: proc_task_name(task),
        umask: task.fs().lock().umask,
        state: get_task_state(task.state(), task.exit_state.load(Relaxed)),
        tgid: task.tgid,
        pid: task.pid,
        ppid: fam.ppid,
        tracer_pid: 0,
        // No saved or filesystem ids yet: they follow the effective ones.
        uid: [cred.uid, cred.euid, cred.euid, cred.euid],
        gid: [cred.gid, cred.egid, cred.egid, cred.egid],
        fd_size: max_fds(highest_fd(task)),
        groups: Vec::new(),
        pgid: fam.pgid,
        sid: fam.sid,
        kthread: task.is_kthread(),
        vm: with_mm(task, |mm| {
            let mut vm = String::new();
            mm.proc_status_vm(&mut vm);
            vm
        }),
        threads: fam.nr_threads,
        sigq: (
            queued_signals_of_user(cred.uid),
            task.signal.rlim.lock()[RLIMIT_SIGPENDING][0],
        ),
        sig_pnd,
        shd_pnd: task.signal.shared_pending.lock().set,
        sig_blk,
        sig_ign,
        sig_cgt,
        cap_inh: 0,
        cap_prm: caps(root_prm),
        cap_eff: caps(cred.euid == 0),
        cap_bnd: CAP_FULL_SET,
        cap_amb: 0,
        no_new_privs: false,
        seccomp: 0,
        cpus_allowed: se.cpus_allowed,
        nr_cpu_ids: crate::arch::percpu::nr_cpu_ids(),
        nvcsw: task.nvcsw.load(Relaxed),
        nivcsw: task.nivcsw.load(Relaxed),
    };
    render_task_status(&s)
}

/// The name stat, status and comm show: a workqueue worker's with the workqueue it
/// serves (`wq_worker_comm`), else the task's comm (`proc_task_name`).
fn proc_task_name(task: &Task) -> String {
    if task.flags.load(Relaxed) & crate::kernel::task::PF_WQ_WORKER != 0 {
        crate::kernel::workqueue::wq_worker_comm(task)
    } else {
        task.comm()
    }
}

/// `/proc/<pid>/comm`.
pub fn proc_pid_comm(task: &TaskRef) -> String {
    let mut s = proc_task_name(task);
    s.push('\n');
    s
}
