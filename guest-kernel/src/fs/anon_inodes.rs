//! Files with no inode of their own (Linux's fs/anon_inodes.c): eventfd, epoll. They all
//! share one inode of the anon_inodefs pseudo filesystem (mode 0600, no file type, as on
//! Linux, so `stat` calls them neither regular files nor directories) and are named
//! `anon_inode:[NAME]` in /proc/<pid>/fd.

use alloc::format;
use alloc::sync::Arc;

use spin::Once;

use super::dcache::Dentry;
use super::file::{File, FileOps, FileRef};
use super::inode::*;
use super::namespace::{kern_mount, Mount, Path};

const ANON_INODE_FS_MAGIC: u64 = 0x0904_1934;

/// The anon_inodefs mount and its one shared inode (`anon_inode_mnt`, `anon_inode_inode`).
fn anon_inode() -> &'static (Arc<Mount>, InodeRef) {
    static ANON: Once<(Arc<Mount>, InodeRef)> = Once::new();
    ANON.call_once(|| {
        let sb = SuperBlock::new_anon("anon_inodefs", ANON_INODE_FS_MAGIC);
        let root = Inode::new(&sb, InodeMeta::new(S_IFDIR | 0o700), SpecialInode::new());
        let mnt = kern_mount(sb.clone(), Dentry::new_root(root), "anon_inodefs");
        let inode = Inode::new(&sb, InodeMeta::new(0o600), SpecialInode::new());
        (mnt, inode)
    })
}

/// A new open file on the shared anonymous inode (`anon_inode_getfile`); `flags` carries
/// the access mode and O_NONBLOCK.
pub fn anon_inode_getfile(name: &str, ops: Arc<dyn FileOps>, flags: u32) -> FileRef {
    let (mnt, inode) = anon_inode();
    let dentry = Dentry::new_pseudo(&format!("anon_inode:[{name}]"), inode.clone());
    let path = Path {
        mnt: mnt.clone(),
        dentry,
    };
    File::new(path, inode.clone(), ops, flags)
}
