//! The top of /proc (Linux's fs/proc/root.c): the system-wide files, the links `self`,
//! `thread-self` and `net` (to `self/net`), `sys`, and one directory per process.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::inode::*;
use crate::fs::dcache::{Dentry, DentryRef};
use crate::fs::inode::*;
use crate::fs::namei::LinkTarget;
use crate::kernel::errno::*;
use crate::kernel::task::current;
use crate::kernel::tasklist;

/// What each fixed entry of /proc is.
enum Kind {
    Text(fn() -> String),
    Link(fn() -> String),
    Dir(fn(u64) -> InodeRef),
}

fn meminfo() -> String {
    let mut s = String::new();
    crate::mm::vmstat::meminfo_proc_show(&mut s);
    s
}

fn zoneinfo() -> String {
    let mut s = String::new();
    crate::mm::page_alloc::zoneinfo_show(&mut s);
    s
}

fn buddyinfo() -> String {
    let mut s = String::new();
    crate::mm::page_alloc::buddyinfo_show(&mut s);
    s
}

fn slabinfo() -> String {
    let mut s = String::new();
    crate::mm::slab::slabinfo_show(&mut s);
    s
}

fn vmstat() -> String {
    let mut s = String::new();
    crate::mm::vmstat::vmstat_show(&mut s);
    s
}

fn mounts() -> String {
    let root = current().fs().lock().root.clone();
    crate::fs::namespace::mounts_show(&root)
}

fn self_link() -> String {
    format!("{}", current().tgid)
}

fn thread_self_link() -> String {
    let t = current();
    format!("{}/task/{}", t.tgid, t.pid)
}

/// The fixed entries, in Linux's listing order (after the process directories).
const ENTRIES: &[(&str, Kind)] = &[
    ("buddyinfo", Kind::Text(buddyinfo)),
    ("cmdline", Kind::Text(super::cmdline::cmdline_proc_show)),
    ("cpuinfo", Kind::Text(super::cpuinfo::cpuinfo_proc_show)),
    (
        "filesystems",
        Kind::Text(crate::fs::filesystems::filesystems_proc_show),
    ),
    (
        "interrupts",
        Kind::Text(super::interrupts::interrupts_proc_show),
    ),
    (
        "loadavg",
        Kind::Text(crate::sched::loadavg::loadavg_proc_show),
    ),
    ("meminfo", Kind::Text(meminfo)),
    ("mounts", Kind::Text(mounts)),
    ("net", Kind::Link(super::proc_net::proc_net_link)),
    ("self", Kind::Link(self_link)),
    ("slabinfo", Kind::Text(slabinfo)),
    (
        "softirqs",
        Kind::Text(crate::kernel::softirq::softirqs_proc_show),
    ),
    ("stat", Kind::Text(super::stat::stat_proc_show)),
    ("sys", Kind::Dir(super::proc_sysctl::sys_dir)),
    ("sysvipc", Kind::Dir(crate::ipc::proc::sysvipc_dir)),
    ("thread-self", Kind::Link(thread_self_link)),
    ("uptime", Kind::Text(super::uptime::uptime_proc_show)),
    ("version", Kind::Text(super::version::version_proc_show)),
    ("vmstat", Kind::Text(vmstat)),
    ("zoneinfo", Kind::Text(zoneinfo)),
];

/// Inode numbers of the fixed entries (Linux hands them out from its `proc_inum` IDA).
fn fixed_ino(index: usize) -> u64 {
    0xf000_0000 + index as u64
}

fn fixed_mode(kind: &Kind) -> u32 {
    match kind {
        Kind::Text(_) => S_IFREG | 0o444,
        Kind::Link(_) => S_IFLNK | 0o777,
        Kind::Dir(_) => S_IFDIR | 0o555,
    }
}

fn fixed_inode(index: usize) -> InodeRef {
    let ino = fixed_ino(index);
    match &ENTRIES[index].1 {
        Kind::Text(f) => {
            let f = *f;
            proc_file(
                ino,
                0o444,
                (0, 0),
                alloc::boxed::Box::new(move || Ok(f().into_bytes())),
                None,
            )
        }
        Kind::Link(f) => {
            let f = *f;
            proc_link(
                ino,
                (0, 0),
                alloc::boxed::Box::new(move || Ok(LinkTarget::Text(f()))),
            )
        }
        Kind::Dir(f) => f(ino),
    }
}

fn root_lookup(name: &str) -> KResult<Option<InodeRef>> {
    if let Some(i) = ENTRIES.iter().position(|(n, _)| *n == name) {
        return Ok(Some(fixed_inode(i)));
    }
    // Any thread id resolves, though only processes are listed (as in Linux).
    let Ok(pid) = name.parse::<i32>() else {
        return Ok(None);
    };
    if name.starts_with('0') || name.starts_with('+') {
        return Ok(None);
    }
    Ok(tasklist::find_task(pid).map(|t| super::base::pid_dir(&t, true)))
}

fn root_list() -> KResult<Vec<DirEntry>> {
    let mut out: Vec<DirEntry> = ENTRIES
        .iter()
        .enumerate()
        .map(|(i, (name, kind))| entry(*name, fixed_ino(i), fixed_mode(kind)))
        .collect();
    let mut pids = tasklist::all_pids();
    pids.sort_unstable();
    out.extend(
        pids.into_iter()
            .map(|pid| entry(format!("{pid}"), super::base::pid_ino(pid, 0), S_IFDIR)),
    );
    Ok(out)
}

/// A mount of proc: the shared superblock and a root dentry for it (`proc_fill_super`).
pub fn proc_mount(_source: &str) -> KResult<(Arc<SuperBlock>, DentryRef)> {
    let root = proc_dir(
        PROC_ROOT_INO,
        0o555,
        (0, 0),
        alloc::boxed::Box::new(root_lookup),
        alloc::boxed::Box::new(root_list),
    );
    Ok((proc_sb(), Dentry::new_root(root)))
}
