//! Path walk and the operations on names (Linux's fs/namei.c).
//!
//! `path_lookup` resolves a path component by component through the dcache, crossing mount
//! points and following symbolic links (at most 40 in one walk, Linux's MAXSYMLINKS);
//! `path_parent` stops one short so create, unlink and rename can work on the last name. The
//! `vfs_*` functions then change the namespace of filesystems that keep names in the dcache.

use alloc::string::{String, ToString};
use alloc::sync::Arc;

use spin::Mutex;

use super::inode::*;
use super::namespace::{follow_mount, Path};
use crate::kernel::errno::*;

pub const MAXSYMLINKS: u32 = 40;
pub const NAME_MAX: usize = 255;
pub const PATH_MAX: usize = 4096;

/// Where a walk starts and who walks (`nameidata`'s root, cwd and credentials).
#[derive(Clone)]
pub struct Walker {
    pub root: Path,
    pub cwd: Path,
    pub fsuid: u32,
    pub fsgid: u32,
}

/// The last component of a path, resolved in its parent directory.
pub struct Last {
    pub parent: Path,
    pub name: String,
    /// The path ended in `/`: the last component must be a directory.
    pub trailing_slash: bool,
}

impl Walker {
    fn may_exec(&self, dir: &Inode) -> KResult<()> {
        dir.permission(self.fsuid, self.fsgid, 1)
    }

    /// `..` of `cur`: the parent dentry, climbing out of mounts, never above the root.
    fn dotdot(&self, mut cur: Path) -> Path {
        loop {
            if cur.same(&self.root) {
                return cur;
            }
            if Arc::ptr_eq(&cur.dentry, &cur.mnt.root) {
                match cur.follow_up() {
                    Some(up) => {
                        cur = up;
                        continue;
                    }
                    None => return cur,
                }
            }
            let parent = cur.dentry.parent().unwrap_or_else(|| cur.dentry.clone());
            return follow_mount(Path {
                mnt: cur.mnt,
                dentry: parent,
            });
        }
    }

    /// One step: `name` in directory `dir` (possibly a negative dentry).
    fn step(&self, dir: &Path, name: &str) -> KResult<Path> {
        if name.len() > NAME_MAX {
            return Err(ENAMETOOLONG);
        }
        let inode = dir.inode()?;
        if !inode.is_dir() {
            return Err(ENOTDIR);
        }
        self.may_exec(&inode)?;
        if name == ".." {
            return Ok(self.dotdot(dir.clone()));
        }
        let child = dir.dentry.lookup(name)?;
        Ok(follow_mount(Path {
            mnt: dir.mnt.clone(),
            dentry: child,
        }))
    }

    /// Replace a symlink by what it points at (`pick_link`), relative to `dir`.
    fn follow_link(&self, dir: &Path, link: &InodeRef, budget: &mut u32) -> KResult<Path> {
        if *budget == 0 {
            return Err(ELOOP);
        }
        *budget -= 1;
        match link.ops.get_link(link)? {
            LinkTarget::Text(text) => {
                if text.is_empty() {
                    return Err(ENOENT);
                }
                self.walk(dir, &text, true, budget)
            }
            LinkTarget::Path(p) => Ok(p),
        }
    }

    /// Walk every component but the last; return the directory and the last name.
    fn walk_to_last<'p>(
        &self,
        start: &Path,
        path: &'p str,
        budget: &mut u32,
    ) -> KResult<(Path, &'p str)> {
        if path.is_empty() {
            return Err(ENOENT);
        }
        let mut cur = if path.starts_with('/') {
            self.root.clone()
        } else {
            start.clone()
        };
        // A `.` inside the path is a no-op, but a final one stays the last component: it is
        // what makes rmdir("d/.") EINVAL and mkdir("d/.") EEXIST (Linux's LAST_DOT).
        let mut parts = path.split('/').filter(|c| !c.is_empty());
        let mut last = match parts.next() {
            Some(p) => p,
            None => return Ok((cur, ".")),
        };
        for next in parts {
            if last == "." {
                last = next;
                continue;
            }
            let child = self.step(&cur, last)?;
            let inode = child.inode()?;
            cur = if inode.is_symlink() {
                self.follow_link(&cur, &inode, budget)?
            } else {
                child
            };
            if !cur.inode()?.is_dir() {
                return Err(ENOTDIR);
            }
            last = next;
        }
        Ok((cur, last))
    }

    fn walk(&self, start: &Path, path: &str, follow_last: bool, budget: &mut u32) -> KResult<Path> {
        let (dir, last) = self.walk_to_last(start, path, budget)?;
        let trailing_slash = path.ends_with('/');
        let found = if last == "." {
            dir.clone()
        } else {
            self.step(&dir, last)?
        };
        let inode = found.inode()?;
        let found = if inode.is_symlink() && (follow_last || trailing_slash) {
            self.follow_link(&dir, &inode, budget)?
        } else {
            found
        };
        if trailing_slash && !found.inode()?.is_dir() {
            return Err(ENOTDIR);
        }
        Ok(found)
    }

    /// Resolve `path` from `start` (relative) or the root (absolute) to an existing file
    /// (`filename_lookup`); `follow` says whether a final symlink is followed.
    pub fn lookup(&self, start: &Path, path: &str, follow: bool) -> KResult<Path> {
        let mut budget = MAXSYMLINKS;
        self.walk(start, path, follow, &mut budget)
    }

    /// Resolve all but the last component (`filename_parentat`).
    pub fn parent(&self, start: &Path, path: &str) -> KResult<Last> {
        let mut budget = MAXSYMLINKS;
        let (parent, name) = self.walk_to_last(start, path, &mut budget)?;
        if name.len() > NAME_MAX {
            return Err(ENAMETOOLONG);
        }
        let dir = parent.inode()?;
        if !dir.is_dir() {
            return Err(ENOTDIR);
        }
        self.may_exec(&dir)?;
        Ok(Last {
            parent,
            name: name.to_string(),
            trailing_slash: path.ends_with('/'),
        })
    }

    /// The dentry of `last` in its parent, possibly negative (`lookup_one_qstr_excl`).
    pub fn child(&self, last: &Last) -> KResult<Path> {
        if last.name == "." || last.name == ".." {
            return Ok(if last.name == "." {
                last.parent.clone()
            } else {
                self.dotdot(last.parent.clone())
            });
        }
        Ok(follow_mount(Path {
            mnt: last.parent.mnt.clone(),
            dentry: last.parent.dentry.lookup(&last.name)?,
        }))
    }

    fn may_write_dir(&self, dir: &Inode) -> KResult<()> {
        dir.permission(self.fsuid, self.fsgid, 3)
    }

    /// May `victim` be removed from `dir` (`may_delete`)? It takes write and search rights on
    /// the directory, and in a sticky directory (`/tmp`) being root or the owner of the file
    /// or of the directory (`check_sticky`), else EPERM.
    fn may_delete(&self, dir: &Inode, victim: &Inode) -> KResult<()> {
        self.may_write_dir(dir)?;
        let (mode, dir_owner) = {
            let m = dir.meta.lock();
            (m.mode, m.uid)
        };
        let owner = victim.meta.lock().uid;
        if mode & S_ISVTX != 0 && self.fsuid != 0 && self.fsuid != dir_owner && self.fsuid != owner
        {
            return Err(EPERM);
        }
        Ok(())
    }

    /// May a name be added in `last`'s directory (`may_create`)? Not in a directory that
    /// was removed (ENOENT, Linux's IS_DEADDIR), else it takes write and search rights.
    fn may_create(&self, last: &Last) -> KResult<InodeRef> {
        if last.parent.dentry.is_unlinked() {
            return Err(ENOENT);
        }
        let dir = last.parent.inode()?;
        self.may_write_dir(&dir)?;
        Ok(dir)
    }

    /// Create `last` as a new inode of `mode` (`vfs_create`/`vfs_mkdir`/`vfs_mknod`).
    pub fn create(&self, last: &Last, mode: u32, rdev: u64) -> KResult<Path> {
        let child = self.child(last)?;
        if child.dentry.inode().is_some() || last.name == "." || last.name == ".." {
            return Err(EEXIST);
        }
        if last.trailing_slash && mode & S_IFMT != S_IFDIR {
            return Err(ENOENT);
        }
        let dir = self.may_create(last)?;
        let inode = dir.ops.mknod(&dir, mode, rdev)?;
        {
            let mut m = inode.meta.lock();
            m.uid = self.fsuid;
            m.gid = self.fsgid;
        }
        if inode.is_dir() {
            dir.meta.lock().nlink += 1;
        }
        dir.touch_mtime();
        child.dentry.instantiate(inode);
        Ok(child)
    }

    pub fn symlink(&self, last: &Last, target: &str) -> KResult<()> {
        let child = self.child(last)?;
        if child.dentry.inode().is_some() || last.trailing_slash {
            return Err(EEXIST);
        }
        let dir = self.may_create(last)?;
        let inode = dir.ops.symlink(&dir, target)?;
        dir.touch_mtime();
        child.dentry.instantiate(inode);
        Ok(())
    }

    /// Give `old` another name (`vfs_link`).
    pub fn link(&self, old: &Path, last: &Last) -> KResult<()> {
        let inode = old.inode()?;
        if inode.is_dir() {
            return Err(EPERM);
        }
        // A file whose names are all gone stays gone (linkat of an open, unlinked file).
        if inode.meta.lock().nlink == 0 {
            return Err(ENOENT);
        }
        if !Arc::ptr_eq(&old.mnt, &last.parent.mnt) {
            return Err(EXDEV);
        }
        let child = self.child(last)?;
        if child.dentry.inode().is_some() {
            return Err(EEXIST);
        }
        let dir = self.may_create(last)?;
        dir.ops.may_change_names()?;
        inode.meta.lock().nlink += 1;
        inode.touch_ctime();
        dir.touch_mtime();
        child.dentry.instantiate(inode);
        Ok(())
    }

    /// Remove a name of a non-directory (`vfs_unlink`).
    pub fn unlink(&self, last: &Last) -> KResult<()> {
        if last.name == "." || last.name == ".." {
            return Err(EISDIR);
        }
        let child = self.child(last)?;
        let inode = child.inode()?;
        if inode.is_dir() {
            return Err(EISDIR);
        }
        if last.trailing_slash {
            return Err(ENOTDIR);
        }
        let dir = last.parent.inode()?;
        self.may_delete(&dir, &inode)?;
        dir.ops.may_change_names()?;
        if child.dentry.mounted() {
            return Err(EBUSY);
        }
        {
            let mut m = inode.meta.lock();
            m.nlink = m.nlink.saturating_sub(1);
        }
        inode.touch_ctime();
        dir.touch_mtime();
        // Unhash rather than empty the dentry: open files and cwds keep their inode.
        child.dentry.d_delete();
        Ok(())
    }

    /// Remove an empty directory (`vfs_rmdir`).
    pub fn rmdir(&self, last: &Last) -> KResult<()> {
        match last.name.as_str() {
            "." => return Err(EINVAL),
            ".." => return Err(ENOTEMPTY),
            _ => {}
        }
        let child = self.child(last)?;
        let inode = child.inode()?;
        if !inode.is_dir() {
            return Err(ENOTDIR);
        }
        let dir = last.parent.inode()?;
        self.may_delete(&dir, &inode)?;
        dir.ops.may_change_names()?;
        if child.dentry.mounted() || Arc::ptr_eq(&child.dentry, &child.mnt.root) {
            return Err(EBUSY);
        }
        if child.dentry.has_positive_children() {
            return Err(ENOTEMPTY);
        }
        inode.meta.lock().nlink = 0;
        {
            let mut m = dir.meta.lock();
            m.nlink = m.nlink.saturating_sub(1);
        }
        dir.touch_mtime();
        child.dentry.d_delete();
        Ok(())
    }

    /// Move `old` to `new` (`vfs_rename`), replacing a compatible `new`.
    pub fn rename(&self, old: &Last, new: &Last, noreplace: bool) -> KResult<()> {
        static RENAME_LOCK: Mutex<()> = Mutex::new(());
        if [&old.name, &new.name]
            .iter()
            .any(|n| *n == "." || *n == "..")
        {
            return Err(if old.name == "." || new.name == "." {
                EINVAL
            } else {
                EBUSY
            });
        }
        if !Arc::ptr_eq(&old.parent.mnt, &new.parent.mnt) {
            return Err(EXDEV);
        }
        let _guard = RENAME_LOCK.lock();
        let src = self.child(old)?;
        let inode = src.inode()?;
        let dst = self.child(new)?;
        let odir = old.parent.inode()?;
        self.may_delete(&odir, &inode)?;
        let ndir = self.may_create(new)?;
        odir.ops.may_change_names()?;
        ndir.ops.may_change_names()?;
        if (old.trailing_slash || new.trailing_slash) && !inode.is_dir() {
            return Err(ENOTDIR);
        }
        if src.dentry.mounted() || dst.dentry.mounted() {
            return Err(EBUSY);
        }
        if Arc::ptr_eq(&src.dentry, &dst.dentry) {
            return Ok(());
        }
        if inode.is_dir() && new.parent.dentry.is_subdir_of(&src.dentry) {
            return Err(EINVAL);
        }
        if let Some(target) = dst.dentry.inode() {
            if noreplace {
                return Err(EEXIST);
            }
            if Arc::ptr_eq(&target, &inode) {
                return Ok(()); // two links to one inode: POSIX says do nothing
            }
            self.may_delete(&ndir, &target)?;
            match (inode.is_dir(), target.is_dir()) {
                (true, false) => return Err(ENOTDIR),
                (false, true) => return Err(EISDIR),
                (true, true) if dst.dentry.has_positive_children() => return Err(ENOTEMPTY),
                _ => {}
            }
            let target_is_dir = target.is_dir();
            let mut m = target.meta.lock();
            m.nlink = if target_is_dir {
                0
            } else {
                m.nlink.saturating_sub(1)
            };
        }
        if inode.is_dir() && !Arc::ptr_eq(&odir, &ndir) {
            let replaced_dir = dst.dentry.inode().is_some_and(|t| t.is_dir());
            odir.meta.lock().nlink -= 1;
            if !replaced_dir {
                ndir.meta.lock().nlink += 1;
            }
        }
        if dst.dentry.inode().is_some() {
            dst.dentry.d_delete();
        }
        src.dentry.d_move(&new.parent.dentry, &new.name);
        inode.touch_ctime();
        odir.touch_mtime();
        ndir.touch_mtime();
        Ok(())
    }
}

/// What a symbolic link leads to: text to walk, or (procfs's magic links such as
/// `/proc/self/cwd`) a place in the tree.
pub enum LinkTarget {
    Text(String),
    Path(Path),
}
