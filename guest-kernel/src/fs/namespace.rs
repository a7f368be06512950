//! Mounts and the mount table (Linux's fs/namespace.c), and `Path`, a place in the tree.
//!
//! A mount attaches a filesystem's root dentry on top of a dentry (the mount point) of another
//! mount. Path walk crosses into a mount when it reaches a dentry whose `mounted` count is set,
//! and `..` at a mount's root climbs to the mount point. One namespace for all processes.

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Write;
use core::sync::atomic::Ordering;

use spin::Mutex;

use super::dcache::DentryRef;
use super::inode::{InodeRef, SuperBlock};
use crate::kernel::errno::*;

pub const MS_RDONLY: u64 = 1;
pub const MS_NOSUID: u64 = 2;
pub const MS_NODEV: u64 = 4;
pub const MS_NOEXEC: u64 = 8;
pub const MS_REMOUNT: u64 = 32;
pub const MS_BIND: u64 = 4096;
pub const MNT_DETACH: u64 = 2;

pub struct Mount {
    pub sb: Arc<SuperBlock>,
    pub root: DentryRef,
    /// The device or name given to mount(2), shown first in /proc/mounts.
    pub source: String,
    pub flags: u64,
    /// The mount and dentry this one covers; `None` for the root mount.
    pub mountpoint: Option<(Arc<Mount>, DentryRef)>,
}

/// A position in the tree: a dentry as seen through one mount (`struct path`).
#[derive(Clone)]
pub struct Path {
    pub mnt: Arc<Mount>,
    pub dentry: DentryRef,
}

impl Path {
    pub fn inode(&self) -> KResult<InodeRef> {
        self.dentry.positive()
    }

    pub fn same(&self, other: &Path) -> bool {
        Arc::ptr_eq(&self.mnt, &other.mnt) && Arc::ptr_eq(&self.dentry, &other.dentry)
    }

    /// At a mount's root, the place it is mounted on (`follow_up`); `None` elsewhere, and at
    /// the root of the whole tree.
    pub fn follow_up(&self) -> Option<Path> {
        if !Arc::ptr_eq(&self.dentry, &self.mnt.root) {
            return None;
        }
        let (mnt, dentry) = self.mnt.mountpoint.clone()?;
        Some(Path { mnt, dentry })
    }

    /// The root of this path's mount.
    #[cfg(test)]
    pub fn mount_root(&self) -> Path {
        Path {
            mnt: self.mnt.clone(),
            dentry: self.mnt.root.clone(),
        }
    }
}

static MOUNTS: Mutex<Vec<Arc<Mount>>> = Mutex::new(Vec::new());

/// The mount on top of `path`, if any (`lookup_mnt`); the latest one wins.
pub fn lookup_mnt(path: &Path) -> Option<Arc<Mount>> {
    MOUNTS
        .lock()
        .iter()
        .rev()
        .find(|m| {
            m.mountpoint
                .as_ref()
                .is_some_and(|(pm, pd)| Arc::ptr_eq(pm, &path.mnt) && Arc::ptr_eq(pd, &path.dentry))
        })
        .cloned()
}

/// Step onto whatever is mounted at `path` (`follow_mount`).
pub fn follow_mount(mut path: Path) -> Path {
    while path.dentry.mounted() {
        match lookup_mnt(&path) {
            Some(m) => {
                path = Path {
                    dentry: m.root.clone(),
                    mnt: m,
                }
            }
            None => break,
        }
    }
    path
}

/// Make `root` the root of a new mount tree (the initial rootfs).
pub fn mount_root(sb: Arc<SuperBlock>, root: DentryRef, source: &str) -> Path {
    let mnt = Arc::new(Mount {
        sb,
        root: root.clone(),
        source: source.to_string(),
        flags: 0,
        mountpoint: None,
    });
    MOUNTS.lock().push(mnt.clone());
    Path { mnt, dentry: root }
}

/// A mount of `root` that is in no tree (`kern_mount`): for the kernel's own use of a
/// filesystem (pipefs, kdevtmpfs's view of devtmpfs).
pub fn kern_mount(sb: Arc<SuperBlock>, root: DentryRef, source: &str) -> Arc<Mount> {
    Arc::new(Mount {
        sb,
        root,
        source: source.to_string(),
        flags: 0,
        mountpoint: None,
    })
}

/// Attach a filesystem at `at` (`do_add_mount`); `at` must be a directory.
pub fn do_add_mount(
    at: &Path,
    sb: Arc<SuperBlock>,
    root: DentryRef,
    source: &str,
    flags: u64,
) -> KResult<Arc<Mount>> {
    if !at.inode()?.is_dir() || !root.positive()?.is_dir() {
        return Err(ENOTDIR);
    }
    let mnt = Arc::new(Mount {
        sb,
        root,
        source: source.to_string(),
        flags,
        mountpoint: Some((at.mnt.clone(), at.dentry.clone())),
    });
    at.dentry.mounted.fetch_add(1, Ordering::AcqRel);
    MOUNTS.lock().push(mnt.clone());
    Ok(mnt)
}

/// Detach the mount whose root `path` is (`do_umount`): `EINVAL` if `path` is not a mount
/// root, `EBUSY` while another mount sits inside it (unless detaching lazily).
pub fn do_umount(path: &Path, flags: u64) -> KResult<()> {
    if !Arc::ptr_eq(&path.dentry, &path.mnt.root) {
        return Err(EINVAL);
    }
    let Some((_, mountpoint)) = &path.mnt.mountpoint else {
        return Err(EBUSY); // the root mount stays
    };
    let mut mounts = MOUNTS.lock();
    let busy = mounts.iter().any(|m| {
        m.mountpoint
            .as_ref()
            .is_some_and(|(pm, _)| Arc::ptr_eq(pm, &path.mnt))
    });
    if busy && flags & MNT_DETACH == 0 {
        return Err(EBUSY);
    }
    mounts.retain(|m| !Arc::ptr_eq(m, &path.mnt));
    mountpoint.mounted.fetch_sub(1, Ordering::AcqRel);
    Ok(())
}

/// The name of `path` as seen from `root` (`d_path`); a path outside `root` is shown from
/// the real root, and a removed one ends in ` (deleted)`.
pub fn d_path(path: &Path, root: &Path) -> String {
    let mut name = d_path_raw(path, root);
    if path.dentry.is_unlinked() {
        name.push_str(" (deleted)");
    }
    name
}

fn d_path_raw(path: &Path, root: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = path.clone();
    loop {
        if cur.same(root) {
            break;
        }
        if Arc::ptr_eq(&cur.dentry, &cur.mnt.root) {
            match cur.follow_up() {
                Some(up) => {
                    cur = up;
                    continue;
                }
                None => break,
            }
        }
        match cur.dentry.parent() {
            Some(parent) => {
                parts.push(cur.dentry.name());
                cur.dentry = parent;
            }
            // A pseudo file (a pipe): its name is all there is.
            None => return cur.dentry.name(),
        }
    }
    if parts.is_empty() {
        return "/".to_string();
    }
    let mut out = String::new();
    for p in parts.iter().rev() {
        out.push('/');
        out.push_str(p);
    }
    out
}

/// Every mount, in mount order (/proc/mounts).
pub fn mounts() -> Vec<Arc<Mount>> {
    MOUNTS.lock().clone()
}

/// The path a mount is mounted at (its root as seen from the tree's root).
pub fn mount_path(m: &Arc<Mount>) -> Path {
    Path {
        mnt: m.clone(),
        dentry: m.root.clone(),
    }
}

/// /proc/mounts (`show_vfsmnt`): `source mountpoint fstype options 0 0`.
pub fn mounts_show(root: &Path) -> String {
    let mut out = String::new();
    for m in mounts() {
        let at = d_path(&mount_path(&m), root);
        let mut opts = String::from(if m.flags & MS_RDONLY != 0 { "ro" } else { "rw" });
        for (bit, name) in [
            (MS_NOSUID, "nosuid"),
            (MS_NODEV, "nodev"),
            (MS_NOEXEC, "noexec"),
        ] {
            if m.flags & bit != 0 {
                opts.push(',');
                opts.push_str(name);
            }
        }
        opts.push_str(",relatime");
        let _ = writeln!(out, "{} {} {} {} 0 0", m.source, at, m.sb.fs_name, opts);
    }
    out
}
