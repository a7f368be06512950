//! /proc/<pid> and /proc/<pid>/task/<tid> (Linux's fs/proc/base.c and fd.c): per-process
//! files rendered by `array`, the magic links `exe`, `cwd`, `root` and `fd/N`, `net/` and
//! `task/`.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::ToString;
use alloc::vec::Vec;

use super::array;
use super::inode::*;
use crate::fs::inode::*;
use crate::fs::namei::LinkTarget;
use crate::kernel::errno::*;
use crate::kernel::task::{Task, TaskRef, EXIT_DEAD};
use crate::kernel::tasklist;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Cmdline,
    Comm,
    Cwd,
    Environ,
    Exe,
    Fd,
    Maps,
    Mounts,
    Net,
    OomScore,
    OomScoreAdj,
    Root,
    Sched,
    Stat,
    Status,
    Task,
}

/// The entries of a process directory, in Linux's order; `task` is only in the process's
/// own directory, not in `task/<tid>`.
const ENTRIES: &[(&str, Which)] = &[
    ("task", Which::Task),
    ("fd", Which::Fd),
    ("net", Which::Net),
    ("environ", Which::Environ),
    ("sched", Which::Sched),
    ("comm", Which::Comm),
    ("cmdline", Which::Cmdline),
    ("stat", Which::Stat),
    ("status", Which::Status),
    ("maps", Which::Maps),
    ("mounts", Which::Mounts),
    ("oom_score", Which::OomScore),
    ("oom_score_adj", Which::OomScoreAdj),
    ("cwd", Which::Cwd),
    ("root", Which::Root),
    ("exe", Which::Exe),
];

/// Stable inode numbers for per-process entries: the pid and the entry's index.
pub fn pid_ino(pid: i32, index: usize) -> u64 {
    0x1_0000_0000 + ((pid as u64) << 12) + index as u64
}

/// `net/` (the entry at `index`) has its files' inode numbers after its own: keep them clear
/// of the other entries and of `fd/N` for low descriptors.
fn entry_ino(pid: i32, index: usize, w: Which) -> u64 {
    match w {
        Which::Net => pid_ino(pid, 0xe00),
        _ => pid_ino(pid, index),
    }
}

fn mode_of(w: Which) -> u32 {
    match w {
        Which::Task | Which::Fd | Which::Net => S_IFDIR | 0o555,
        Which::Cwd | Which::Root | Which::Exe => S_IFLNK | 0o777,
        Which::Environ => S_IFREG | 0o400,
        Which::Comm | Which::OomScoreAdj => S_IFREG | 0o644,
        _ => S_IFREG | 0o444,
    }
}

fn owner(task: &Task) -> (u32, u32) {
    let c = *task.cred.lock();
    (c.euid, c.egid)
}

fn alive(task: &Task) -> KResult<()> {
    if task.exit_state.load(core::sync::atomic::Ordering::Acquire) & EXIT_DEAD != 0 {
        return Err(ESRCH);
    }
    Ok(())
}

/// The process directory of `task` (`whole`: /proc/<pid>) or a thread's (`task/<tid>`).
pub fn pid_dir(task: &TaskRef, whole: bool) -> InodeRef {
    let pid = task.pid;
    let (t1, t2) = (task.clone(), task.clone());
    proc_dir(
        pid_ino(pid, 0),
        0o555,
        owner(task),
        Box::new(move |name| {
            let found = ENTRIES
                .iter()
                .enumerate()
                .find(|(_, (n, w))| *n == name && (whole || *w != Which::Task));
            Ok(found.map(|(i, (_, w))| pid_entry(&t1, *w, i + 1, whole)))
        }),
        Box::new(move || {
            alive(&t2)?;
            Ok(ENTRIES
                .iter()
                .enumerate()
                .filter(|(_, (_, w))| whole || *w != Which::Task)
                .map(|(i, (n, w))| entry(*n, entry_ino(t2.pid, i + 1, *w), mode_of(*w)))
                .collect())
        }),
    )
}

fn text(f: impl Fn() -> Vec<u8> + Send + Sync + 'static) -> Show {
    Box::new(move || Ok(f()))
}

fn pid_entry(task: &TaskRef, w: Which, index: usize, whole: bool) -> InodeRef {
    let ino = entry_ino(task.pid, index, w);
    let own = owner(task);
    let perm = mode_of(w) & 0o7777;
    let t = task.clone();
    match w {
        Which::Stat => proc_file(
            ino,
            perm,
            own,
            text(move || {
                if whole {
                    array::proc_tgid_stat(&t).into_bytes()
                } else {
                    array::proc_tid_stat(&t).into_bytes()
                }
            }),
            None,
        ),
        Which::Status => proc_file(
            ino,
            perm,
            own,
            text(move || array::proc_pid_status(&t).into_bytes()),
            None,
        ),
        Which::Cmdline => proc_file(
            ino,
            perm,
            own,
            text(move || super::pid_cmdline::proc_pid_cmdline(&t)),
            None,
        ),
        Which::Environ => proc_file(
            ino,
            perm,
            own,
            text(move || super::pid_cmdline::proc_pid_environ(&t)),
            None,
        ),
        Which::Sched => proc_file(
            ino,
            perm,
            own,
            text(move || crate::sched::debug::proc_pid_sched(&t).into_bytes()),
            None,
        ),
        Which::Comm => {
            let target = task.clone();
            proc_file(
                ino,
                perm,
                own,
                text(move || array::proc_pid_comm(&t).into_bytes()),
                Some(Box::new(move |data: &[u8]| {
                    // Only threads of the writer's own process may be renamed.
                    if target.tgid != crate::kernel::task::current().tgid {
                        return Err(EINVAL);
                    }
                    let name = core::str::from_utf8(data).map_err(|_| EINVAL)?;
                    target.set_comm(name.trim_end_matches('\n'));
                    Ok(())
                })),
            )
        }
        Which::Maps => proc_file(
            ino,
            perm,
            own,
            text(move || {
                let mut out = alloc::string::String::new();
                if let Some(mm) = t.get_task_mm() {
                    let mm = mm.lock();
                    // Files' paths as the reader sees them (Linux's `d_path` from its root).
                    let root = crate::kernel::task::current().fs().lock().root.clone();
                    mm.proc_maps(&mut out, Some(&root));
                }
                out.into_bytes()
            }),
            None,
        ),
        Which::Mounts => proc_file(
            ino,
            perm,
            own,
            text(move || {
                let root = t.fs().lock().root.clone();
                crate::fs::namespace::mounts_show(&root).into_bytes()
            }),
            None,
        ),
        Which::OomScore => proc_file(
            ino,
            perm,
            own,
            text(move || {
                alloc::format!("{}\n", crate::mm::oom_kill::proc_oom_score(&t)).into_bytes()
            }),
            None,
        ),
        Which::OomScoreAdj => {
            let target = task.clone();
            proc_file(
                ino,
                perm,
                own,
                text(move || {
                    let adj = t
                        .signal
                        .oom_score_adj
                        .load(core::sync::atomic::Ordering::Relaxed);
                    alloc::format!("{adj}\n").into_bytes()
                }),
                Some(Box::new(move |data: &[u8]| {
                    use crate::mm::oom_kill::{OOM_SCORE_ADJ_MAX, OOM_SCORE_ADJ_MIN};
                    let text = core::str::from_utf8(data).map_err(|_| EINVAL)?;
                    let adj: i32 = text.trim().parse().map_err(|_| EINVAL)?;
                    if !(OOM_SCORE_ADJ_MIN..=OOM_SCORE_ADJ_MAX).contains(&adj) {
                        return Err(EINVAL);
                    }
                    target
                        .signal
                        .oom_score_adj
                        .store(adj, core::sync::atomic::Ordering::Relaxed);
                    Ok(())
                })),
            )
        }
        Which::Cwd => proc_link(
            ino,
            own,
            Box::new(move || Ok(LinkTarget::Path(t.fs().lock().pwd.clone()))),
        ),
        Which::Root => proc_link(
            ino,
            own,
            Box::new(move || Ok(LinkTarget::Path(t.fs().lock().root.clone()))),
        ),
        Which::Exe => proc_link(
            ino,
            own,
            Box::new(move || {
                let mm = t.mm().ok_or(ENOENT)?;
                let exe = mm.lock().exe_file.clone();
                exe.map(LinkTarget::Path).ok_or(ENOENT)
            }),
        ),
        Which::Fd => fd_dir(task, ino),
        Which::Net => super::proc_net::proc_net_dir(ino),
        Which::Task => task_dir(task, ino),
    }
}

/// `fd/`: one magic link per open descriptor (`proc_fd_operations`).
fn fd_dir(task: &TaskRef, ino: u64) -> InodeRef {
    let (t1, t2) = (task.clone(), task.clone());
    let pid = task.pid;
    let fd_ino = move |fd: usize| pid_ino(pid, 64 + fd);
    proc_dir(
        ino,
        0o500,
        owner(task),
        Box::new(move |name| {
            let Ok(fd) = name.parse::<u64>() else {
                return Ok(None);
            };
            let Ok(file) = t1.files().lock().get(fd) else {
                return Ok(None);
            };
            let own = owner(&t1);
            Ok(Some(proc_link(
                fd_ino(fd as usize),
                own,
                Box::new(move || Ok(LinkTarget::Path(file.path.clone()))),
            )))
        }),
        Box::new(move || {
            alive(&t2)?;
            let files = t2.files();
            let t = files.lock();
            Ok(t.open_fds()
                .map(|(fd, _)| entry(fd.to_string(), fd_ino(fd), S_IFLNK))
                .collect())
        }),
    )
}

/// `task/`: a directory per thread of the process.
fn task_dir(task: &TaskRef, ino: u64) -> InodeRef {
    let (t1, t2) = (task.clone(), task.clone());
    proc_dir(
        ino,
        0o555,
        owner(task),
        Box::new(move |name| {
            let Ok(tid) = name.parse::<i32>() else {
                return Ok(None);
            };
            Ok(tasklist::find_task(tid)
                .filter(|th| th.tgid == t1.tgid)
                .map(|th| pid_dir(&th, false)))
        }),
        Box::new(move || {
            alive(&t2)?;
            Ok(tasklist::thread_group(&t2)
                .iter()
                .map(|th| entry(format!("{}", th.pid), pid_ino(th.pid, 0), S_IFDIR))
                .collect())
        }),
    )
}
