//! The task list (Linux's `tasklist_lock` and the pid hash): every task by PID, with the
//! family links — parent process, children, thread group, process group and session.
//!
//! Everything here is guarded by one lock. Children belong to a process (its thread-group
//! leader's entry), as `getppid` and `wait` see them. Lock order: this lock before any wait
//! queue, `pi_lock` or run-queue lock; never send a signal while holding it (`send_signal`
//! takes it).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use spin::{Mutex, MutexGuard};

use crate::kernel::pid::{pid_max, PidMap};
use crate::kernel::signal::{self, KSigInfo, SIGCHLD};
use crate::kernel::task::{Pid, Task, TaskRef, EXIT_ZOMBIE};

pub struct Entry {
    pub task: TaskRef,
    /// The parent process (0 for PID 1 and kthreadd).
    pub parent: Pid,
    /// Child processes (thread-group leaders); kept on leaders only.
    pub children: Vec<Pid>,
    /// All threads of the group, leader first; kept on leaders only.
    pub threads: Vec<Pid>,
    pub pgid: Pid,
    pub sid: Pid,
}

pub struct TaskList {
    pub entries: BTreeMap<Pid, Entry>,
    pids: PidMap,
}

static TASKLIST: Mutex<TaskList> = Mutex::new(TaskList {
    entries: BTreeMap::new(),
    pids: PidMap::new(),
});

pub fn lock() -> MutexGuard<'static, TaskList> {
    TASKLIST.lock()
}

/// The lock if it is free (for interrupt context, which must not wait for it).
pub fn try_lock() -> Option<MutexGuard<'static, TaskList>> {
    TASKLIST.try_lock()
}

impl Entry {
    /// A new parent process (reparenting to the reaper).
    pub fn set_parent(&mut self, parent: Pid, parent_task: *mut Task) {
        self.parent = parent;
        self.task.ppid.store(parent, Ordering::Relaxed);
        self.task.real_parent.store(parent_task, Ordering::Relaxed);
        crate::trace::forget_task(&self.task);
    }

    fn new(task: TaskRef, parent: (Pid, *mut Task), pgid: Pid, sid: Pid) -> Self {
        let (parent, parent_task) = parent;
        task.ppid.store(parent, Ordering::Relaxed);
        task.real_parent.store(parent_task, Ordering::Relaxed);
        let threads = if task.is_group_leader() {
            alloc::vec![task.pid]
        } else {
            Vec::new()
        };
        Entry {
            task,
            parent,
            children: Vec::new(),
            threads,
            pgid,
            sid,
        }
    }
}

impl TaskList {
    pub fn alloc_pid(&mut self) -> Option<Pid> {
        self.pids.alloc(pid_max()).map(|p| p as Pid)
    }

    pub fn free_pid(&mut self, pid: Pid) {
        self.pids.free(pid as u32);
    }

    pub fn nr_threads(&self) -> usize {
        self.entries.len()
    }

    /// The PID allocated last.
    pub fn last_pid(&self) -> Pid {
        self.pids.last() as Pid
    }

    /// Add a new process (leader) as a child of `parent`.
    pub fn attach_process(&mut self, task: TaskRef, parent: Pid, pgid: Pid, sid: Pid) {
        let pid = task.pid;
        if let Some(p) = self.entries.get_mut(&parent) {
            p.children.push(pid);
        }
        let parent = (parent, self.task_ptr(parent));
        self.entries
            .insert(pid, Entry::new(task, parent, pgid, sid));
    }

    /// Add a new thread to its leader's group.
    pub fn attach_thread(&mut self, task: TaskRef) {
        let (pid, tgid) = (task.pid, task.tgid);
        let parent = self.entries.get(&tgid).map_or(0, |l| l.parent);
        if let Some(l) = self.entries.get_mut(&tgid) {
            l.threads.push(pid);
        }
        let parent = (parent, self.task_ptr(parent));
        self.entries.insert(pid, Entry::new(task, parent, 0, 0));
    }

    /// The address of `pid`'s task, for `Task::real_parent` (null if there is none).
    pub fn task_ptr(&self, pid: Pid) -> *mut Task {
        self.entries.get(&pid).map_or(core::ptr::null_mut(), |e| {
            alloc::sync::Arc::as_ptr(&e.task) as *mut Task
        })
    }

    /// Remove a dead task for good (`release_task`), freeing its PID.
    pub fn release(&mut self, pid: Pid) -> Option<TaskRef> {
        let e = self.entries.remove(&pid)?;
        let tgid = e.task.tgid;
        if tgid == pid {
            if let Some(p) = self.entries.get_mut(&e.parent) {
                p.children.retain(|&c| c != pid);
            }
        } else if let Some(l) = self.entries.get_mut(&tgid) {
            l.threads.retain(|&t| t != pid);
        }
        self.free_pid(pid);
        Some(e.task)
    }

    pub fn leader(&self, tgid: Pid) -> Option<&Entry> {
        self.entries.get(&tgid)
    }

    /// Only the leader is left of its group.
    pub fn group_empty(&self, tgid: Pid) -> bool {
        self.entries.get(&tgid).is_none_or(|l| l.threads.len() <= 1)
    }

    /// Where orphans of `tgid` go (`find_new_reaper`): the nearest subreaper ancestor that is
    /// still alive, else init.
    pub fn find_new_reaper(&self, tgid: Pid) -> Pid {
        let mut p = self.entries.get(&tgid).map_or(0, |e| e.parent);
        while p > 1 {
            let Some(e) = self.entries.get(&p) else { break };
            if e.task.signal.is_child_subreaper.load(Ordering::Relaxed)
                && e.task.exit_state.load(Ordering::Relaxed) == 0
            {
                return p;
            }
            p = e.parent;
        }
        1
    }

    /// Whether process group `pgrp` has no member (other than process `ignored`) whose
    /// parent is in another group of the same session — nobody left to continue it if it
    /// stops (Linux's `will_become_orphaned_pgrp`). Init's children don't count.
    pub fn will_become_orphaned_pgrp(&self, pgrp: Pid, ignored: Pid) -> bool {
        !self.entries.values().any(|e| {
            e.task.is_group_leader()
                && e.pgid == pgrp
                && e.task.tgid != ignored
                && e.task.exit_state.load(Ordering::Relaxed) == 0
                && e.parent > 1
                && self
                    .entries
                    .get(&e.parent)
                    .is_some_and(|p| p.pgid != pgrp && p.sid == e.sid)
        })
    }

    /// Whether a process of group `pgrp` is stopped (`has_stopped_jobs`).
    pub fn has_stopped_jobs(&self, pgrp: Pid) -> bool {
        self.entries.values().any(|e| {
            e.task.is_group_leader() && e.pgid == pgrp && e.task.signal.group_stop.lock().stopped
        })
    }

    /// Tasks (by tid) whose credentials belong to `uid` (for RLIMIT_NPROC).
    pub fn nr_tasks_of_uid(&self, uid: u32) -> usize {
        self.entries
            .values()
            .filter(|e| e.task.cred.lock().uid == uid)
            .count()
    }
}

pub fn find_task(tid: Pid) -> Option<TaskRef> {
    lock().entries.get(&tid).map(|e| e.task.clone())
}

/// The leader of process `pid` (None if `pid` is not a process).
pub fn find_process(pid: Pid) -> Option<TaskRef> {
    lock()
        .entries
        .get(&pid)
        .filter(|e| e.task.tgid == pid)
        .map(|e| e.task.clone())
}

/// All threads of `t`'s group, leader first.
pub fn thread_group(t: &Task) -> Vec<TaskRef> {
    let tl = lock();
    match tl.entries.get(&t.tgid) {
        Some(l) => l
            .threads
            .iter()
            .filter_map(|tid| tl.entries.get(tid))
            .map(|e| e.task.clone())
            .collect(),
        None => Vec::new(),
    }
}

pub fn process_group(pgid: Pid) -> Vec<TaskRef> {
    lock()
        .entries
        .values()
        .filter(|e| e.task.is_group_leader() && e.pgid == pgid)
        .map(|e| e.task.clone())
        .collect()
}

pub fn all_processes() -> Vec<TaskRef> {
    lock()
        .entries
        .values()
        .filter(|e| e.task.is_group_leader())
        .map(|e| e.task.clone())
        .collect()
}

pub fn all_pids() -> Vec<Pid> {
    lock()
        .entries
        .values()
        .filter(|e| e.task.is_group_leader())
        .map(|e| e.task.pid)
        .collect()
}

/// The current process's group is orphaned (`is_current_pgrp_orphaned`).
pub fn is_current_pgrp_orphaned() -> bool {
    let me = crate::kernel::task::current().tgid;
    let tl = lock();
    let pgrp = tl.entries.get(&me).map_or(0, |e| e.pgid);
    tl.will_become_orphaned_pgrp(pgrp, 0)
}

pub fn pgid_of(tgid: Pid) -> Pid {
    lock().entries.get(&tgid).map_or(0, |e| e.pgid)
}

pub fn sid_of(tgid: Pid) -> Pid {
    lock().entries.get(&tgid).map_or(0, |e| e.sid)
}

pub fn parent_of(tgid: Pid) -> Pid {
    lock().entries.get(&tgid).map_or(0, |e| e.parent)
}

/// Tell `t`'s parent that its group stopped or continued (`do_notify_parent_cldstop`).
pub fn notify_parent_cldstop(t: &Task, why: i32, sig: u32) {
    let parent = {
        let tl = lock();
        let Some(ppid) = tl.entries.get(&t.tgid).map(|e| e.parent) else {
            return;
        };
        let Some(p) = tl.entries.get(&ppid) else {
            return;
        };
        p.task.clone()
    };
    let nocldstop =
        parent.sighand().lock().actions[SIGCHLD as usize - 1].flags & signal::SA_NOCLDSTOP != 0;
    if !nocldstop {
        let info = KSigInfo {
            signo: SIGCHLD,
            code: why,
            pid: t.tgid,
            status: sig as i32,
            ..Default::default()
        };
        signal::send_signal(&parent, info, true);
    }
    parent.signal.child_event();
}

/// Whether `t` is a zombie leader whose threads are all gone (ready to reap).
pub fn reapable(tl: &TaskList, tgid: Pid) -> bool {
    tl.entries.get(&tgid).is_some_and(|e| {
        e.task.exit_state.load(Ordering::Acquire) == EXIT_ZOMBIE && e.threads.len() <= 1
    })
}
