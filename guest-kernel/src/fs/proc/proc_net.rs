//! /proc/<pid>/net (Linux's fs/proc/proc_net.c): the network files of the process's network
//! namespace, and /proc/net, a link to `self/net`. There is one namespace here, so every
//! process's directory shows the same files.

use super::inode::{proc_text_dir, TextFile};
use crate::fs::inode::InodeRef;

const FILES: &[TextFile] = &[("unix", crate::net::unix::af_unix::unix_seq_show)];

/// A process's `net/` directory, inode number `ino` (its files follow it).
pub fn proc_net_dir(ino: u64) -> InodeRef {
    proc_text_dir(ino, FILES)
}

/// /proc/net's target (`proc_net_init`'s `proc_symlink("net", NULL, "self/net")`).
pub fn proc_net_link() -> alloc::string::String {
    "self/net".into()
}
