//! tmpfs: files that live in memory only (Linux's mm/shmem.c as a filesystem, minus swap).
//!
//! Names live in the dcache (see `dcache`), so a directory inode carries nothing. A regular
//! file's bytes live in its page cache (`tmpfs_file.rs`). The root filesystem, `/dev`
//! (devtmpfs) and every `mount -t tmpfs` are instances.

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use core::any::Any;

use super::dcache::{Dentry, DentryRef};
use super::inode::*;
pub use super::tmpfs_file::TmpfsFile;
use crate::kernel::errno::*;

pub const TMPFS_MAGIC: u64 = 0x0102_1994;

pub struct TmpfsDir;
pub struct TmpfsSymlink {
    target: String,
}

/// A new inode of `mode` on `sb`, with the operations tmpfs gives that type.
pub fn new_inode(sb: &Arc<SuperBlock>, mode: u32, rdev: u64) -> KResult<InodeRef> {
    let mut meta = InodeMeta::new(mode);
    meta.rdev = rdev;
    Ok(match mode & S_IFMT {
        S_IFDIR => Inode::new(sb, meta, TmpfsDir),
        S_IFREG => Inode::new(sb, meta, TmpfsFile::default()),
        S_IFCHR | S_IFBLK | S_IFIFO | S_IFSOCK => Inode::new(sb, meta, SpecialInode::new()),
        _ => return Err(EINVAL),
    })
}

impl InodeOps for TmpfsDir {
    fn lookup(&self, _dir: &InodeRef, _name: &str) -> KResult<Option<InodeRef>> {
        // Every name that exists is in the dcache already (`simple_lookup`).
        Ok(None)
    }

    fn mknod(&self, dir: &InodeRef, mode: u32, rdev: u64) -> KResult<InodeRef> {
        new_inode(&dir.sb, mode, rdev)
    }

    fn symlink(&self, dir: &InodeRef, target: &str) -> KResult<InodeRef> {
        Ok(Inode::new(
            &dir.sb,
            InodeMeta::new(S_IFLNK | 0o777),
            TmpfsSymlink {
                target: target.to_string(),
            },
        ))
    }

    fn may_change_names(&self) -> KResult<()> {
        Ok(())
    }

    #[cfg(not(test))]
    fn open(&self, _inode: &InodeRef, _flags: u32) -> KResult<Arc<dyn super::FileOps>> {
        Ok(Arc::new(super::readdir::DirFile))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl InodeOps for TmpfsFile {
    fn size(&self) -> u64 {
        TmpfsFile::size(self)
    }

    fn truncate(&self, inode: &Inode, size: u64) -> KResult<()> {
        TmpfsFile::truncate(self, inode, size)
    }

    fn get_page(&self, inode: &InodeRef, pgoff: u64, create: bool) -> KResult<Option<u64>> {
        TmpfsFile::get_page(self, inode, pgoff, create)
    }

    fn has_page_cache(&self) -> bool {
        true
    }

    #[cfg(not(test))]
    fn open(&self, inode: &InodeRef, _flags: u32) -> KResult<Arc<dyn super::FileOps>> {
        Ok(Arc::new(super::read_write::MemFile {
            inode: inode.clone(),
        }))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl InodeOps for TmpfsSymlink {
    fn readlink(&self, _inode: &InodeRef) -> KResult<String> {
        Ok(self.target.clone())
    }

    fn size(&self) -> u64 {
        self.target.len() as u64
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A new tmpfs instance: its superblock and root dentry (`shmem_fill_super`).
pub fn fill_super(fs_name: &'static str, root_mode: u32) -> (Arc<SuperBlock>, DentryRef) {
    let sb = SuperBlock::new_anon(fs_name, TMPFS_MAGIC);
    let root = Inode::new(&sb, InodeMeta::new(S_IFDIR | root_mode), TmpfsDir);
    (sb, Dentry::new_root(root))
}

#[cfg(test)]
mod tests {
    //! Each test holds the emulated machine: inodes and dentries live in its slab caches.

    use super::*;
    use crate::fs::namei::{Last, Walker};
    use crate::fs::namespace::{do_add_mount, mount_root, Path};
    use alloc::vec::Vec;

    fn walker() -> Walker {
        let (sb, root) = fill_super("tmpfs", 0o755);
        let root = mount_root(sb, root, "rootfs");
        Walker {
            root: root.clone(),
            cwd: root,
            fsuid: 0,
            fsgid: 0,
        }
    }

    fn last(w: &Walker, path: &str) -> Last {
        w.parent(&w.cwd, path).unwrap()
    }

    fn mkdir(w: &Walker, path: &str) -> Path {
        w.create(&last(w, path), S_IFDIR | 0o755, 0).unwrap()
    }

    fn mkfile(w: &Walker, path: &str, bytes: &[u8]) -> Path {
        let p = w.create(&last(w, path), S_IFREG | 0o644, 0).unwrap();
        let inode = p.inode().unwrap();
        inode.ops.truncate(&inode, bytes.len() as u64).unwrap();
        p
    }

    fn tree() -> Walker {
        let w = walker();
        mkdir(&w, "/bin");
        mkfile(&w, "/bin/hello", b"hi");
        mkdir(&w, "/sbin");
        w.symlink(&last(&w, "/sbin/init"), "../bin/hello").unwrap();
        w.symlink(&last(&w, "/loop"), "/loop").unwrap();
        w
    }

    fn ino(w: &Walker, path: &str) -> KResult<u64> {
        w.lookup(&w.cwd, path, true).map(|p| p.inode().unwrap().ino)
    }

    #[test]
    fn absolute_relative_dotdot_and_symlinks() {
        let _m = crate::mm::emu::machine();
        let w = tree();
        let hello = ino(&w, "/bin/hello").unwrap();
        let bin = w.lookup(&w.cwd, "bin", true).unwrap();
        assert_eq!(
            w.lookup(&bin, "hello", true).unwrap().inode().unwrap().ino,
            hello
        );
        assert_eq!(
            w.lookup(&bin, "../sbin/init", true)
                .unwrap()
                .inode()
                .unwrap()
                .ino,
            hello
        );
        assert_eq!(ino(&w, "/../../bin/./hello").unwrap(), hello);
        let link = w.lookup(&w.cwd, "/sbin/init", false).unwrap();
        assert!(link.inode().unwrap().is_symlink());
    }

    #[test]
    fn errors_match_linux() {
        let _m = crate::mm::emu::machine();
        let w = tree();
        assert_eq!(ino(&w, "/nope"), Err(ENOENT));
        assert_eq!(ino(&w, "/bin/hello/x"), Err(ENOTDIR));
        assert_eq!(ino(&w, "/bin/hello/"), Err(ENOTDIR));
        assert_eq!(ino(&w, "/loop"), Err(ELOOP));
        assert_eq!(ino(&w, ""), Err(ENOENT));
        assert_eq!(ino(&w, &"a".repeat(300)), Err(ENAMETOOLONG));
        let l = last(&w, "/bin/hello");
        assert_eq!(w.create(&l, S_IFREG, 0).err(), Some(EEXIST));
        assert_eq!(w.rmdir(&last(&w, "/bin")), Err(ENOTEMPTY));
        assert_eq!(w.rmdir(&last(&w, "/bin/hello")), Err(ENOTDIR));
        assert_eq!(w.unlink(&last(&w, "/bin")), Err(EISDIR));
        assert_eq!(w.unlink(&last(&w, "/bin/nope")), Err(ENOENT));
        assert_eq!(w.rmdir(&last(&w, "/bin/.")), Err(EINVAL));
        assert_eq!(w.rmdir(&last(&w, "/bin/./..")), Err(ENOTEMPTY));
        assert_eq!(w.unlink(&last(&w, "/bin/.")), Err(EISDIR));
        assert_eq!(
            w.create(&last(&w, "/bin/."), S_IFDIR | 0o755, 0).err(),
            Some(EEXIST)
        );
        assert_eq!(ino(&w, "/bin/./hello/."), Err(ENOTDIR));
        assert_eq!(w.parent(&w.cwd, "/nope/x").err(), Some(ENOENT));
        assert_eq!(
            w.rename(&last(&w, "/bin"), &last(&w, "/bin/sub"), false),
            Err(EINVAL)
        );
    }

    #[test]
    fn negative_dentries_are_cached_and_revived() {
        let _m = crate::mm::emu::machine();
        let w = tree();
        let bin = w.lookup(&w.cwd, "/bin", true).unwrap();
        let before = bin.dentry.cached_children();
        assert_eq!(ino(&w, "/bin/ghost"), Err(ENOENT));
        assert_eq!(bin.dentry.cached_children(), before + 1);
        mkfile(&w, "/bin/ghost", b"boo");
        assert!(ino(&w, "/bin/ghost").is_ok());
        assert_eq!(bin.dentry.cached_children(), before + 1);
        w.unlink(&last(&w, "/bin/ghost")).unwrap();
        assert_eq!(ino(&w, "/bin/ghost"), Err(ENOENT));
        let names: Vec<String> = bin
            .dentry
            .list_children()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["hello"]);
    }

    #[test]
    fn hard_links_rename_and_nlink() {
        let _m = crate::mm::emu::machine();
        let w = tree();
        let hello = w.lookup(&w.cwd, "/bin/hello", true).unwrap();
        w.link(&hello, &last(&w, "/hello2")).unwrap();
        assert_eq!(hello.inode().unwrap().meta.lock().nlink, 2);
        w.unlink(&last(&w, "/bin/hello")).unwrap();
        assert_eq!(ino(&w, "/hello2").unwrap(), hello.inode().unwrap().ino);
        w.unlink(&last(&w, "/hello2")).unwrap();
        assert_eq!(w.link(&hello, &last(&w, "/back")), Err(ENOENT));
        w.link(
            &w.lookup(&w.cwd, "/sbin/init", false).unwrap(),
            &last(&w, "/hello2"),
        )
        .unwrap();
        mkdir(&w, "/d");
        let root_links = w.root.inode().unwrap().meta.lock().nlink;
        w.rename(&last(&w, "/d"), &last(&w, "/bin/d"), false)
            .unwrap();
        assert_eq!(w.root.inode().unwrap().meta.lock().nlink, root_links - 1);
        assert!(ino(&w, "/bin/d").is_ok());
        assert_eq!(ino(&w, "/d"), Err(ENOENT));
        mkfile(&w, "/x", b"1");
        assert_eq!(
            w.rename(&last(&w, "/x"), &last(&w, "/hello2"), true),
            Err(EEXIST)
        );
        w.rename(&last(&w, "/x"), &last(&w, "/hello2"), false)
            .unwrap();
        assert_eq!(
            w.lookup(&w.cwd, "/hello2", true)
                .unwrap()
                .inode()
                .unwrap()
                .size(),
            1
        );
        assert_eq!(
            w.rename(&last(&w, "/hello2"), &last(&w, "/bin"), false),
            Err(EISDIR)
        );
    }

    #[test]
    fn removed_names_are_marked_and_dead_directories_take_no_new_names() {
        let _m = crate::mm::emu::machine();
        let w = tree();
        let d = mkdir(&w, "/d");
        let f = mkfile(&w, "/d/f", b"x");
        w.unlink(&last(&w, "/d/f")).unwrap();
        assert!(f.dentry.is_unlinked());
        assert_eq!(crate::fs::namespace::d_path(&f, &w.root), "/d/f (deleted)");
        w.rmdir(&last(&w, "/d")).unwrap();
        assert!(d.dentry.is_unlinked());
        let inside = Walker {
            cwd: d.clone(),
            ..w.clone()
        };
        let l = inside.parent(&d, "new").unwrap();
        assert_eq!(inside.create(&l, S_IFREG | 0o644, 0).err(), Some(ENOENT));
        assert_eq!(inside.symlink(&l, "x"), Err(ENOENT));
        // A rename's victim is removed too; the moved file is not.
        let a = mkfile(&w, "/a", b"a");
        let b = mkfile(&w, "/b", b"b");
        w.rename(&last(&w, "/a"), &last(&w, "/b"), false).unwrap();
        assert!(b.dentry.is_unlinked() && !a.dentry.is_unlinked());
        assert_eq!(crate::fs::namespace::d_path(&a, &w.root), "/b");
    }

    #[test]
    fn sticky_directories_keep_other_users_files() {
        let _m = crate::mm::emu::machine();
        let w = tree();
        let tmp = mkdir(&w, "/tmp");
        tmp.inode().unwrap().meta.lock().mode = S_IFDIR | 0o1777;
        mkfile(&w, "/tmp/roots", b"");
        let user = Walker {
            fsuid: 1000,
            fsgid: 1000,
            ..w.clone()
        };
        mkfile(&user, "/tmp/mine", b"");
        assert_eq!(user.unlink(&last(&user, "/tmp/roots")), Err(EPERM));
        assert_eq!(
            user.rename(&last(&user, "/tmp/roots"), &last(&user, "/tmp/x"), false),
            Err(EPERM)
        );
        assert_eq!(
            user.rename(&last(&user, "/tmp/mine"), &last(&user, "/tmp/roots"), false),
            Err(EPERM)
        );
        user.unlink(&last(&user, "/tmp/mine")).unwrap();
        w.unlink(&last(&w, "/tmp/roots")).unwrap();
    }

    #[test]
    fn mounts_are_crossed_both_ways() {
        let _m = crate::mm::emu::machine();
        let w = tree();
        let mnt = mkdir(&w, "/mnt");
        let (sb, root) = fill_super("tmpfs", 0o1777);
        do_add_mount(&mnt, sb, root, "tmpfs", 0).unwrap();
        mkfile(&w, "/mnt/inside", b"x");
        // The file lives in the mounted filesystem, not in the directory underneath.
        assert!(mnt.dentry.list_children().is_empty());
        let inside = w.lookup(&w.cwd, "/mnt/inside", true).unwrap();
        assert_eq!(
            crate::fs::namespace::d_path(&inside, &w.root),
            "/mnt/inside"
        );
        let back = w
            .lookup(&inside.mount_root(), "../bin/hello", true)
            .unwrap();
        assert_eq!(back.inode().unwrap().size(), 2);
        assert_eq!(w.rmdir(&last(&w, "/mnt")), Err(EBUSY));
    }
}
