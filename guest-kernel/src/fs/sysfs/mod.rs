//! sysfs (Linux's fs/sysfs/): the kernel's objects as a kernfs tree, mounted on `/sys` by
//! init as on any Linux system (`mount -t sysfs sysfs /sys`). Every mount shows the one
//! tree. `sysfs_init` makes the top-level directories Linux has; subsystems hang their
//! directories and attribute files below them (`drivers/base/cpu.rs`:
//! `/sys/devices/system/cpu`).

use alloc::sync::Arc;

use spin::Once;

use super::filesystems::Instance;
use super::kernfs::{kernfs_create_dir, kernfs_create_file, kernfs_find, KernfsNode, KernfsRoot};
pub use super::kernfs::{ShowFn, StoreFn};
use crate::kernel::errno::*;

pub const SYSFS_MAGIC: u64 = 0x6265_6572;

/// The top-level directories of /sys on Linux.
const TOP_DIRS: [&str; 11] = [
    "block",
    "bus",
    "class",
    "dev",
    "devices",
    "firmware",
    "fs",
    "hypervisor",
    "kernel",
    "module",
    "power",
];

static SYSFS: Once<Arc<KernfsRoot>> = Once::new();

fn sysfs() -> &'static Arc<KernfsRoot> {
    SYSFS.call_once(|| Arc::new(KernfsRoot::new("sysfs", SYSFS_MAGIC)))
}

/// Make the tree and its top-level directories (`sysfs_init`).
pub fn sysfs_init() {
    let root = sysfs();
    for dir in TOP_DIRS {
        let _ = kernfs_create_dir(root, root.root(), dir);
    }
}

/// A mount of sysfs (`sysfs_get_tree`).
pub fn sysfs_mount(_source: &str) -> KResult<Instance> {
    Ok(sysfs().mount())
}

/// The directory at `path` below /sys, made with its missing parents.
pub fn sysfs_create_dirs(path: &str) -> KResult<Arc<KernfsNode>> {
    let root = sysfs();
    let mut dir = root.root().clone();
    for name in path.split('/').filter(|n| !n.is_empty()) {
        dir = match kernfs_find(&dir, name) {
            Some(d) => d,
            None => kernfs_create_dir(root, &dir, name)?,
        };
    }
    Ok(dir)
}

/// An attribute file in `dir` (`sysfs_create_file`): mode 0444 if read-only, 0644 if it
/// also takes writes (from root).
pub fn sysfs_create_file(
    dir: &KernfsNode,
    name: &str,
    show: ShowFn,
    store: Option<StoreFn>,
) -> KResult<()> {
    let perm = if store.is_some() { 0o644 } else { 0o444 };
    kernfs_create_file(sysfs(), dir, name, perm, Some(show), store).map(|_| ())
}

/// An empty directory `name` in `dir` for another filesystem's mount
/// (`sysfs_create_mount_point`: /sys/kernel/debug, /sys/kernel/tracing).
pub fn sysfs_create_mount_point(dir: &KernfsNode, name: &str) -> KResult<()> {
    super::kernfs::kernfs_create_empty_dir(sysfs(), dir, name).map(|_| ())
}

/// A symlink in `dir` to `target`, relative to `dir` (`sysfs_create_link`).
pub fn sysfs_create_link(
    dir: &KernfsNode,
    name: &str,
    target: alloc::string::String,
) -> KResult<()> {
    super::kernfs::kernfs_create_link(sysfs(), dir, name, target).map(|_| ())
}
