//! The registered filesystem types (Linux's fs/filesystems.c): what `mount -t` accepts and
//! /proc/filesystems lists.

use alloc::string::String;
use alloc::sync::Arc;
use core::fmt::Write;

use super::dcache::DentryRef;
use super::inode::SuperBlock;
use crate::kernel::errno::*;

/// A mounted instance: its superblock and root dentry.
pub type Instance = (Arc<SuperBlock>, DentryRef);

pub struct FileSystemType {
    pub name: &'static str,
    /// Not backed by a block device (`nodev` in /proc/filesystems).
    pub nodev: bool,
    /// Make an instance: its superblock and root dentry (`fs_context`'s `get_tree`).
    pub mount: fn(source: &str) -> KResult<Instance>,
}

fn tmpfs_mount(_source: &str) -> KResult<Instance> {
    Ok(super::tmpfs::fill_super("tmpfs", 0o1777))
}

fn ramfs_mount(_source: &str) -> KResult<Instance> {
    Ok(super::tmpfs::fill_super("ramfs", 0o755))
}

/// sockfs and pipefs exist only inside the kernel (`SB_NOUSER`): mounting them is EINVAL,
/// as Linux's `graft_tree` answers.
fn nouser_mount(_source: &str) -> KResult<Instance> {
    Err(EINVAL)
}

/// Every type, in registration order.
pub fn filesystems() -> &'static [FileSystemType] {
    static TYPES: &[FileSystemType] = &[
        FileSystemType {
            name: "tmpfs",
            nodev: true,
            mount: tmpfs_mount,
        },
        FileSystemType {
            name: "sockfs",
            nodev: true,
            mount: nouser_mount,
        },
        FileSystemType {
            name: "pipefs",
            nodev: true,
            mount: nouser_mount,
        },
        FileSystemType {
            name: "ramfs",
            nodev: true,
            mount: ramfs_mount,
        },
        #[cfg(not(test))]
        FileSystemType {
            name: "proc",
            nodev: true,
            mount: super::proc::proc_mount,
        },
        #[cfg(not(test))]
        FileSystemType {
            name: "sysfs",
            nodev: true,
            mount: super::sysfs::sysfs_mount,
        },
        #[cfg(not(test))]
        FileSystemType {
            name: "devtmpfs",
            nodev: true,
            mount: super::devtmpfs::devtmpfs_mount,
        },
        #[cfg(not(test))]
        FileSystemType {
            name: "mqueue",
            nodev: true,
            mount: crate::ipc::mqueue::mqueue_mount,
        },
    ];
    TYPES
}

pub fn get_fs_type(name: &str) -> KResult<&'static FileSystemType> {
    filesystems().iter().find(|t| t.name == name).ok_or(ENODEV)
}

/// /proc/filesystems.
pub fn filesystems_proc_show() -> String {
    let mut out = String::new();
    for t in filesystems() {
        let _ = writeln!(out, "{}\t{}", if t.nodev { "nodev" } else { "" }, t.name);
    }
    out
}
