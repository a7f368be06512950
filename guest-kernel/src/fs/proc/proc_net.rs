//! /proc/net (Linux's fs/proc/proc_net.c): the network files. Linux makes /proc/net a link
//! to `self/net`, the calling process's network namespace; there is one namespace here, so
//! it is a directory.

use super::inode::{proc_text_dir, TextFile};
use crate::fs::inode::InodeRef;

const FILES: &[TextFile] = &[("unix", crate::net::unix::af_unix::unix_seq_show)];

pub fn proc_net_dir(ino: u64) -> InodeRef {
    proc_text_dir(ino, FILES)
}
