//! The directory-entry cache (Linux's fs/dcache.c).
//!
//! A dentry binds a name in a directory to an inode, or to nothing: a negative dentry
//! remembers that a name does not exist, so a second failed lookup costs no filesystem call.
//! Each directory dentry keeps its looked-up children. Memory filesystems (tmpfs, devtmpfs)
//! have no other record of their names, like Linux's ramfs: their dentries stay cached for as
//! long as the name exists, and listing such a directory lists its positive children
//! (`dcache_readdir`). A child holds its parent, so a path stays walkable upwards (`..`,
//! `d_path`) for as long as anything holds the child, even a dentry procfs made uncached.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use spin::Mutex;

use super::inode::{dt_type, DirEntry, InodeRef};
use crate::kernel::errno::*;

/// Past this many cached children, a directory forgets its negative ones.
const MAX_CACHED_CHILDREN: usize = 4096;

crate::kmem_cache_allocator!(
    /// The `dentry` cache (Linux's `dentry_cache`); reclaimable, as Linux accounts it.
    DentryCachep,
    DENTRY_CACHEP,
    "dentry",
    crate::mm::slub::SLAB_RECLAIM_ACCOUNT
);

/// A dentry as its parent, children, paths and open files hold it.
pub type DentryRef = Arc<Dentry, DentryCachep>;

pub struct Dentry {
    name: Mutex<String>,
    parent: Mutex<Option<DentryRef>>,
    inode: Mutex<Option<InodeRef>>,
    children: Mutex<BTreeMap<String, DentryRef>>,
    /// How many mounts sit on this dentry (`d_mountpoint`): path walk checks the mount table
    /// only when this is non-zero.
    pub mounted: AtomicU32,
    /// The name was removed (unlink, rmdir, replaced by rename) while the dentry lived on in
    /// an open file or a cwd (`d_unlinked`).
    unlinked: AtomicBool,
}

impl Dentry {
    fn alloc(name: &str, parent: Option<DentryRef>, inode: Option<InodeRef>) -> DentryRef {
        Arc::new_in(
            Dentry {
                name: Mutex::new(name.to_string()),
                parent: Mutex::new(parent),
                inode: Mutex::new(inode),
                children: Mutex::new(BTreeMap::new()),
                mounted: AtomicU32::new(0),
                unlinked: AtomicBool::new(false),
            },
            DentryCachep,
        )
    }

    /// The root dentry of a filesystem (`d_make_root`).
    pub fn new_root(inode: InodeRef) -> DentryRef {
        Self::alloc("/", None, Some(inode))
    }

    /// A dentry in no directory, for pipes and other pseudo files (`d_alloc_pseudo`).
    pub fn new_pseudo(name: &str, inode: InodeRef) -> DentryRef {
        Self::alloc(name, None, Some(inode))
    }

    pub fn name(&self) -> String {
        self.name.lock().clone()
    }

    pub fn parent(&self) -> Option<DentryRef> {
        self.parent.lock().clone()
    }

    /// The inode, or `None` for a negative dentry.
    pub fn inode(&self) -> Option<InodeRef> {
        self.inode.lock().clone()
    }

    /// The inode of a dentry known to be positive, else `ENOENT`.
    pub fn positive(&self) -> KResult<InodeRef> {
        self.inode().ok_or(ENOENT)
    }

    /// Look `name` up in this directory (`lookup_one`): from the cache when the filesystem
    /// lets us, else from the filesystem, caching the answer, positive or negative.
    pub fn lookup(self: &DentryRef, name: &str) -> KResult<DentryRef> {
        let dir = self.positive()?;
        if !dir.is_dir() {
            return Err(ENOTDIR);
        }
        let cache = dir.ops.cache_lookups();
        if cache {
            if let Some(d) = self.children.lock().get(name) {
                return Ok(d.clone());
            }
        }
        let found = dir.ops.lookup(&dir, name)?;
        let child = Self::alloc(name, Some(self.clone()), found);
        if cache {
            let mut children = self.children.lock();
            if let Some(raced) = children.get(name) {
                return Ok(raced.clone());
            }
            if children.len() >= MAX_CACHED_CHILDREN {
                children.retain(|_, d| d.inode.lock().is_some());
            }
            children.insert(name.to_string(), child.clone());
        }
        Ok(child)
    }

    /// Bind a negative dentry to a new inode (`d_instantiate`).
    pub fn instantiate(&self, inode: InodeRef) {
        *self.inode.lock() = Some(inode);
    }

    /// Drop this dentry from its parent's cache (`d_drop`) once its name is gone; whoever
    /// holds it (an open file, a cwd) keeps the inode, and the next lookup finds nothing.
    pub fn drop_from_parent(self: &DentryRef) {
        if let Some(parent) = self.parent() {
            let name = self.name();
            let mut children = parent.children.lock();
            if children.get(&name).is_some_and(|d| Arc::ptr_eq(d, self)) {
                children.remove(&name);
            }
        }
    }

    /// The name is gone (`d_delete`): drop it from the parent's cache and remember, for
    /// getcwd (ENOENT), for creating in a removed directory (ENOENT) and for `d_path`
    /// (` (deleted)`), that whoever still holds this dentry holds a removed file.
    pub fn d_delete(self: &DentryRef) {
        self.unlinked.store(true, Ordering::Release);
        self.drop_from_parent();
    }

    /// Whether the name was removed (`d_unlinked`).
    pub fn is_unlinked(&self) -> bool {
        self.unlinked.load(Ordering::Acquire)
    }

    /// Whether a directory has any entries besides `.` and `..` (for `rmdir`).
    pub fn has_positive_children(&self) -> bool {
        self.children
            .lock()
            .values()
            .any(|d| d.inode.lock().is_some())
    }

    /// The positive children, in name order (`dcache_readdir`).
    pub fn list_children(&self) -> Vec<DirEntry> {
        self.children
            .lock()
            .iter()
            .filter_map(|(name, d)| {
                d.inode().map(|i| DirEntry {
                    name: name.clone(),
                    ino: i.ino,
                    d_type: dt_type(i.mode()),
                })
            })
            .collect()
    }

    /// Move this dentry to `name` in `new_parent` (`d_move`), replacing what was there.
    /// The caller holds the rename lock and has checked the move is legal.
    pub fn d_move(self: &DentryRef, new_parent: &DentryRef, name: &str) {
        self.drop_from_parent();
        *self.name.lock() = name.to_string();
        *self.parent.lock() = Some(new_parent.clone());
        new_parent
            .children
            .lock()
            .insert(name.to_string(), self.clone());
    }

    /// Whether `self` is `other` or below it (rename must not move a directory into itself).
    pub fn is_subdir_of(self: &DentryRef, other: &DentryRef) -> bool {
        let mut cur = Some(self.clone());
        while let Some(d) = cur {
            if Arc::ptr_eq(&d, other) {
                return true;
            }
            cur = d.parent();
        }
        false
    }

    /// The number of cached children (for tests of the cache itself).
    #[cfg(test)]
    pub fn cached_children(&self) -> usize {
        self.children.lock().len()
    }

    pub fn mounted(&self) -> bool {
        self.mounted.load(Ordering::Acquire) != 0
    }
}
