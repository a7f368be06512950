//! /proc/sysvipc/{msg,sem,shm} (Linux's `sysvipc_*_proc_show` behind
//! `ipc_init_proc_interface`): a header line, then one line per object in index order, in
//! Linux's exact columns (64-bit widths), which `ipcs` and scripts parse.

use alloc::string::String;
use core::fmt::Write;

use crate::fs::inode::InodeRef;
use crate::fs::proc::inode::{proc_text_dir, TextFile};

const MSG_HEADER: &str = "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime\n";
const SEM_HEADER: &str =
    "       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n";
const SHM_HEADER: &str = "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n";

pub fn sysvipc_msg_proc_show() -> String {
    let mut out = String::from(MSG_HEADER);
    for (_, q) in super::msg::MSG_IDS.lock().iter() {
        let g = q.inner.lock();
        let p = &g.perm;
        let _ = writeln!(
            out,
            "{:10} {:10}  {:4o}  {:10} {:10} {:5} {:5} {:5} {:5} {:5} {:5} {:10} {:10} {:10}",
            p.key,
            p.id,
            p.mode,
            g.list.cbytes,
            g.list.qnum(),
            g.lspid,
            g.lrpid,
            p.uid,
            p.gid,
            p.cuid,
            p.cgid,
            g.stime,
            g.rtime,
            g.ctime
        );
    }
    out
}

pub fn sysvipc_sem_proc_show() -> String {
    let mut out = String::from(SEM_HEADER);
    for (_, s) in super::sem::SEM_IDS.lock().iter() {
        let g = s.inner.lock();
        let p = &g.perm;
        let _ = writeln!(
            out,
            "{:10} {:10}  {:4o} {:10} {:5} {:5} {:5} {:5} {:10} {:10}",
            p.key,
            p.id,
            p.mode,
            g.vals.len(),
            p.uid,
            p.gid,
            p.cuid,
            p.cgid,
            g.otime,
            g.ctime
        );
    }
    out
}

pub fn sysvipc_shm_proc_show() -> String {
    let mut out = String::from(SHM_HEADER);
    for (_, s) in super::shm::shm_ids().iter() {
        let g = s.inner.lock();
        let p = &g.perm;
        let _ = writeln!(
            out,
            "{:10} {:10}  {:4o} {:21} {:5} {:5}  {:5} {:5} {:5} {:5} {:5} {:10} {:10} {:10} {:21} {:21}",
            p.key,
            p.id,
            p.mode,
            g.segsz,
            g.cpid,
            g.lpid,
            s.nattch(&g),
            p.uid,
            p.gid,
            p.cuid,
            p.cgid,
            g.atime,
            g.dtime,
            g.ctime,
            s.rss_pages() * crate::mm::mmap::PAGE,
            0
        );
    }
    out
}

const FILES: &[TextFile] = &[
    ("msg", sysvipc_msg_proc_show),
    ("sem", sysvipc_sem_proc_show),
    ("shm", sysvipc_shm_proc_show),
];

/// /proc/sysvipc.
pub fn sysvipc_dir(ino: u64) -> InodeRef {
    proc_text_dir(ino, FILES)
}
