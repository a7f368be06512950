//! kernfs (Linux's fs/kernfs/): a tree of kernel-made nodes, directories, attribute files
//! and symlinks, shown as a filesystem. sysfs is a kernfs tree; subsystems add their nodes
//! with `kernfs_create_*`.
//!
//! An attribute file has a `show` that writes its text and, if writable, a `store` that
//! takes what user space writes, whole, in one call: the sysfs convention of one value per
//! file. Reads are served from the text made at the first read after open (or at a read
//! from offset 0), so one reader sees one snapshot.
//!
//! Inodes are made at each lookup from the node (its number, mode and times are the node's),
//! and the dcache keeps no names: a removed node is gone from the next path walk.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use super::dcache::{Dentry, DentryRef};
use super::file::{File, FileOps, O_ACCMODE, O_RDONLY, O_WRONLY};
use super::inode::*;
use crate::kernel::errno::*;

/// Makes an attribute's text (`show`).
pub type ShowFn = Box<dyn Fn() -> KResult<String> + Send + Sync>;
/// Takes what was written to an attribute (`store`).
pub type StoreFn = Box<dyn Fn(&[u8]) -> KResult<()> + Send + Sync>;

/// The most an attribute shows or takes at once, as sysfs's one page.
const ATTR_MAX: usize = 4096;

enum Kind {
    Dir(Mutex<BTreeMap<String, Arc<KernfsNode>>>),
    Attr {
        show: Option<ShowFn>,
        store: Option<StoreFn>,
    },
    Link(String),
}

/// One node of the tree (`struct kernfs_node`).
pub struct KernfsNode {
    ino: u64,
    meta: InodeMeta,
    kind: Kind,
}

/// A tree and the superblock it is mounted with (`struct kernfs_root`).
pub struct KernfsRoot {
    sb: Arc<SuperBlock>,
    root: Arc<KernfsNode>,
    next_ino: AtomicU64,
}

impl KernfsRoot {
    /// A new tree with an empty root directory (`kernfs_create_root`).
    pub fn new(fs_name: &'static str, magic: u64) -> KernfsRoot {
        KernfsRoot {
            sb: SuperBlock::new_anon(fs_name, magic),
            root: Arc::new(KernfsNode {
                ino: 1,
                meta: InodeMeta::new(S_IFDIR | 0o755),
                kind: Kind::Dir(Mutex::new(BTreeMap::new())),
            }),
            next_ino: AtomicU64::new(2),
        }
    }

    pub fn root(&self) -> &Arc<KernfsNode> {
        &self.root
    }

    /// A mount of the tree: its superblock and a root dentry (`kernfs_get_tree`).
    pub fn mount(self: &Arc<Self>) -> (Arc<SuperBlock>, DentryRef) {
        (self.sb.clone(), Dentry::new_root(self.inode(&self.root)))
    }

    fn add(
        &self,
        parent: &KernfsNode,
        name: &str,
        mode: u32,
        kind: Kind,
    ) -> KResult<Arc<KernfsNode>> {
        let Kind::Dir(children) = &parent.kind else {
            return Err(ENOTDIR);
        };
        if name.is_empty() || name.contains('/') {
            return Err(EINVAL);
        }
        let mut children = children.lock();
        if children.contains_key(name) {
            return Err(EEXIST);
        }
        let node = Arc::new(KernfsNode {
            ino: self.next_ino.fetch_add(1, Ordering::Relaxed),
            meta: InodeMeta::new(mode),
            kind,
        });
        children.insert(name.into(), node.clone());
        Ok(node)
    }

    fn inode(self: &Arc<Self>, node: &Arc<KernfsNode>) -> InodeRef {
        Inode::with_ino(
            node.ino,
            &self.sb,
            node.meta,
            KernfsInode {
                root: self.clone(),
                node: node.clone(),
            },
        )
    }
}

/// A directory `name` in `parent` (`kernfs_create_dir`).
pub fn kernfs_create_dir(
    root: &KernfsRoot,
    parent: &KernfsNode,
    name: &str,
) -> KResult<Arc<KernfsNode>> {
    add_dir(root, parent, name, 0o755)
}

fn add_dir(
    root: &KernfsRoot,
    parent: &KernfsNode,
    name: &str,
    perm: u32,
) -> KResult<Arc<KernfsNode>> {
    root.add(
        parent,
        name,
        S_IFDIR | perm,
        Kind::Dir(Mutex::new(BTreeMap::new())),
    )
}

/// A directory that stays empty, mode 0555, where another filesystem gets mounted
/// (`kernfs_create_empty_dir`).
pub fn kernfs_create_empty_dir(
    root: &KernfsRoot,
    parent: &KernfsNode,
    name: &str,
) -> KResult<Arc<KernfsNode>> {
    add_dir(root, parent, name, 0o555)
}

/// An attribute file `name` in `parent` with permissions `perm` (`kernfs_create_file`):
/// readable if it has a `show`, writable if it has a `store`.
pub fn kernfs_create_file(
    root: &KernfsRoot,
    parent: &KernfsNode,
    name: &str,
    perm: u32,
    show: Option<ShowFn>,
    store: Option<StoreFn>,
) -> KResult<Arc<KernfsNode>> {
    root.add(parent, name, S_IFREG | perm, Kind::Attr { show, store })
}

/// A symlink `name` in `parent` to `target`, a path relative to `parent`
/// (`kernfs_create_link`).
pub fn kernfs_create_link(
    root: &KernfsRoot,
    parent: &KernfsNode,
    name: &str,
    target: String,
) -> KResult<Arc<KernfsNode>> {
    root.add(parent, name, S_IFLNK | 0o777, Kind::Link(target))
}

/// The node `name` in the directory `parent` (`kernfs_find_and_get`).
pub fn kernfs_find(parent: &KernfsNode, name: &str) -> Option<Arc<KernfsNode>> {
    match &parent.kind {
        Kind::Dir(children) => children.lock().get(name).cloned(),
        _ => None,
    }
}

/// The inode operations of every kernfs inode; what it does depends on its node.
struct KernfsInode {
    root: Arc<KernfsRoot>,
    node: Arc<KernfsNode>,
}

impl InodeOps for KernfsInode {
    /// A name the tree does not have is an error, not a negative dentry, so creating files
    /// here fails with ENOENT, as on Linux's sysfs.
    fn lookup(&self, _dir: &InodeRef, name: &str) -> KResult<Option<InodeRef>> {
        if !matches!(self.node.kind, Kind::Dir(_)) {
            return Err(ENOTDIR);
        }
        let node = kernfs_find(&self.node, name).ok_or(ENOENT)?;
        Ok(Some(self.root.inode(&node)))
    }

    fn cache_lookups(&self) -> bool {
        false
    }

    fn readdir(&self, _dir: &InodeRef) -> Option<KResult<Vec<DirEntry>>> {
        let Kind::Dir(children) = &self.node.kind else {
            return Some(Err(ENOTDIR));
        };
        let list = children
            .lock()
            .iter()
            .map(|(name, n)| DirEntry {
                name: name.clone(),
                ino: n.ino,
                d_type: dt_type(n.meta.mode),
            })
            .collect();
        Some(Ok(list))
    }

    fn open(&self, inode: &InodeRef, flags: u32) -> KResult<Arc<dyn FileOps>> {
        match &self.node.kind {
            Kind::Dir(_) => Ok(Arc::new(crate::fs::readdir::DirFile)),
            Kind::Attr { show, store } => {
                let acc = flags & O_ACCMODE;
                // No show or store behind the mode: refused even to root (`kernfs_fop_open`).
                if acc != O_WRONLY && show.is_none() || acc != O_RDONLY && store.is_none() {
                    return Err(EACCES);
                }
                Ok(Arc::new(AttrFile {
                    inode: inode.clone(),
                    node: self.node.clone(),
                    buf: Mutex::new(None),
                }))
            }
            Kind::Link(_) => Err(ELOOP),
        }
    }

    fn readlink(&self, _inode: &InodeRef) -> KResult<String> {
        match &self.node.kind {
            Kind::Link(target) => Ok(target.clone()),
            _ => Err(EINVAL),
        }
    }

    /// Attribute files say one page, as sysfs's do.
    fn size(&self) -> u64 {
        match self.node.kind {
            Kind::Attr { .. } => ATTR_MAX as u64,
            _ => 0,
        }
    }

    /// `echo 1 > attr` opens with O_TRUNC: nothing to truncate.
    fn truncate(&self, _inode: &Inode, _size: u64) -> KResult<()> {
        Ok(())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// An open attribute file (`struct kernfs_open_file`).
struct AttrFile {
    /// Keeps the inode (and its node) alive while open.
    #[allow(dead_code)]
    inode: InodeRef,
    node: Arc<KernfsNode>,
    /// The text made by `show` for this reader.
    buf: Mutex<Option<Vec<u8>>>,
}

impl FileOps for AttrFile {
    fn read(&self, _file: &File, out: &mut [u8], pos: &mut u64) -> KResult<usize> {
        let Kind::Attr {
            show: Some(show), ..
        } = &self.node.kind
        else {
            return Err(EIO);
        };
        let mut buf = self.buf.lock();
        if buf.is_none() || *pos == 0 {
            let mut text = show()?.into_bytes();
            text.truncate(ATTR_MAX);
            *buf = Some(text);
        }
        let data = buf.as_deref().unwrap_or_default();
        let start = (*pos as usize).min(data.len());
        let n = out.len().min(data.len() - start);
        out[..n].copy_from_slice(&data[start..start + n]);
        *pos += n as u64;
        Ok(n)
    }

    /// Everything written goes to `store` in one call, up to a page.
    fn write(&self, _file: &File, data: &[u8], pos: &mut u64) -> KResult<usize> {
        let Kind::Attr {
            store: Some(store), ..
        } = &self.node.kind
        else {
            return Err(EIO);
        };
        let n = data.len().min(ATTR_MAX);
        store(&data[..n])?;
        *pos += n as u64;
        Ok(n)
    }
}
