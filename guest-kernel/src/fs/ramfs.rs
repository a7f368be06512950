//! The in-memory filesystem the root lives in (Linux's ramfs/tmpfs role), and path walk.
//!
//! Directories map names to inodes; regular files hold their bytes either borrowed from the
//! initramfs image (never copied: the archive stays in memory like a page cache) or owned once
//! written. Each directory keeps a weak link to its parent for `..`.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use super::cpio::{S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
use crate::kernel::errno::*;

const MAX_SYMLINKS: usize = 40;
pub const NAME_MAX: usize = 255;

static NEXT_INO: AtomicU64 = AtomicU64::new(1);

pub enum FileData {
    Borrowed(&'static [u8]),
    Owned(Vec<u8>),
}

impl FileData {
    pub fn bytes(&self) -> &[u8] {
        match self {
            FileData::Borrowed(b) => b,
            FileData::Owned(v) => v,
        }
    }
}

pub enum Kind {
    Dir {
        entries: Mutex<BTreeMap<String, Arc<Inode>>>,
        parent: Mutex<Weak<Inode>>,
    },
    File(Mutex<FileData>),
    Symlink(String),
    CharDev {
        major: u32,
        minor: u32,
    },
}

pub struct Inode {
    pub ino: u64,
    pub mode: u32,
    pub mtime: u64,
    pub kind: Kind,
}

impl Inode {
    fn new(mode: u32, mtime: u64, kind: Kind) -> Arc<Inode> {
        Arc::new(Inode {
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
            mode,
            mtime,
            kind,
        })
    }

    pub fn new_root() -> Arc<Inode> {
        Self::new_dir(0o755, 0)
    }

    fn new_dir(perm: u32, mtime: u64) -> Arc<Inode> {
        Self::new(
            S_IFDIR | perm,
            mtime,
            Kind::Dir {
                entries: Mutex::new(BTreeMap::new()),
                parent: Mutex::new(Weak::new()),
            },
        )
    }

    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }

    pub fn size(&self) -> u64 {
        match &self.kind {
            Kind::File(data) => data.lock().bytes().len() as u64,
            Kind::Symlink(target) => target.len() as u64,
            _ => 0,
        }
    }

    /// Look a name up in this directory.
    pub fn child(&self, name: &str) -> KResult<Arc<Inode>> {
        match &self.kind {
            Kind::Dir { entries, .. } => entries.lock().get(name).cloned().ok_or(ENOENT),
            _ => Err(ENOTDIR),
        }
    }

    fn parent(self: &Arc<Self>) -> Arc<Inode> {
        match &self.kind {
            Kind::Dir { parent, .. } => parent.lock().upgrade().unwrap_or_else(|| self.clone()),
            _ => self.clone(),
        }
    }

    /// Link `child` under `name` in this directory.
    pub fn insert(self: &Arc<Self>, name: &str, child: Arc<Inode>) -> KResult<()> {
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            return Err(EINVAL);
        }
        if name.len() > NAME_MAX {
            return Err(ENAMETOOLONG);
        }
        let Kind::Dir { entries, .. } = &self.kind else {
            return Err(ENOTDIR);
        };
        if let Kind::Dir { parent, .. } = &child.kind {
            *parent.lock() = Arc::downgrade(self);
        }
        let mut entries = entries.lock();
        if entries.contains_key(name) {
            return Err(EEXIST);
        }
        entries.insert(name.to_string(), child);
        Ok(())
    }

    /// Names in this directory, in order.
    pub fn list(&self) -> KResult<Vec<(String, Arc<Inode>)>> {
        match &self.kind {
            Kind::Dir { entries, .. } => Ok(entries
                .lock()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()),
            _ => Err(ENOTDIR),
        }
    }
}

/// Resolve `path` from `root` (absolute) or `cwd` (relative), following symlinks.
pub fn lookup(root: &Arc<Inode>, cwd: &Arc<Inode>, path: &str) -> KResult<Arc<Inode>> {
    let mut budget = MAX_SYMLINKS;
    walk(root, cwd, path, true, &mut budget)
}

fn walk(
    root: &Arc<Inode>,
    cwd: &Arc<Inode>,
    path: &str,
    follow_last: bool,
    budget: &mut usize,
) -> KResult<Arc<Inode>> {
    if path.is_empty() {
        return Err(ENOENT);
    }
    let mut cur = if path.starts_with('/') {
        root.clone()
    } else {
        cwd.clone()
    };
    let components: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    for (i, name) in components.iter().enumerate() {
        if name.len() > NAME_MAX {
            return Err(ENAMETOOLONG);
        }
        if !cur.is_dir() {
            return Err(ENOTDIR);
        }
        let next = if *name == ".." {
            cur.parent()
        } else {
            cur.child(name)?
        };
        let last = i + 1 == components.len();
        cur = match &next.kind {
            Kind::Symlink(target) if !last || follow_last => {
                if *budget == 0 {
                    return Err(ELOOP);
                }
                *budget -= 1;
                walk(root, &cur, target, true, budget)?
            }
            _ => next,
        };
    }
    if path.ends_with('/') && !cur.is_dir() {
        return Err(ENOTDIR);
    }
    Ok(cur)
}

/// Split a path into its parent directory and final name.
pub fn split_parent(path: &str) -> (&str, &str) {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind('/') {
        Some(0) => ("/", &trimmed[1..]),
        Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
        None => (".", trimmed),
    }
}

/// Create a node at `path` (parents must exist; an existing directory is kept).
pub fn create(
    root: &Arc<Inode>,
    path: &str,
    mode: u32,
    mtime: u64,
    data: &'static [u8],
    rdev: (u32, u32),
) -> KResult<Arc<Inode>> {
    let (dir, name) = split_parent(path);
    let parent = lookup(root, root, dir)?;
    let node = match mode & S_IFMT {
        S_IFDIR => {
            if let Ok(existing) = parent.child(name) {
                if existing.is_dir() {
                    return Ok(existing);
                }
            }
            Inode::new_dir(mode & 0o7777, mtime)
        }
        S_IFREG => Inode::new(
            mode,
            mtime,
            Kind::File(Mutex::new(FileData::Borrowed(data))),
        ),
        S_IFLNK => {
            let target = core::str::from_utf8(data).map_err(|_| EINVAL)?;
            Inode::new(mode, mtime, Kind::Symlink(target.to_string()))
        }
        S_IFCHR => Inode::new(
            mode,
            mtime,
            Kind::CharDev {
                major: rdev.0,
                minor: rdev.1,
            },
        ),
        _ => return Err(EINVAL),
    };
    parent.insert(name, node.clone())?;
    Ok(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Arc<Inode> {
        let root = Inode::new_root();
        create(&root, "bin", S_IFDIR | 0o755, 0, b"", (0, 0)).unwrap();
        create(&root, "bin/hello", S_IFREG | 0o755, 0, b"hi", (0, 0)).unwrap();
        create(&root, "sbin", S_IFDIR | 0o755, 0, b"", (0, 0)).unwrap();
        create(
            &root,
            "sbin/init",
            S_IFLNK | 0o777,
            0,
            b"../bin/hello",
            (0, 0),
        )
        .unwrap();
        create(&root, "loop", S_IFLNK | 0o777, 0, b"/loop", (0, 0)).unwrap();
        root
    }

    #[test]
    fn absolute_relative_dotdot_and_symlinks() {
        let root = tree();
        let hello = lookup(&root, &root, "/bin/hello").unwrap();
        assert_eq!(hello.size(), 2);
        let bin = lookup(&root, &root, "bin").unwrap();
        assert_eq!(lookup(&root, &bin, "hello").unwrap().ino, hello.ino);
        assert_eq!(lookup(&root, &bin, "../sbin/init").unwrap().ino, hello.ino);
        assert_eq!(
            lookup(&root, &root, "/../../bin/./hello").unwrap().ino,
            hello.ino
        );
    }

    #[test]
    fn errors_match_linux() {
        let root = tree();
        assert_eq!(lookup(&root, &root, "/nope").err(), Some(ENOENT));
        assert_eq!(lookup(&root, &root, "/bin/hello/x").err(), Some(ENOTDIR));
        assert_eq!(lookup(&root, &root, "/bin/hello/").err(), Some(ENOTDIR));
        assert_eq!(lookup(&root, &root, "/loop").err(), Some(ELOOP));
        assert_eq!(lookup(&root, &root, "").err(), Some(ENOENT));
        let long = "a".repeat(300);
        assert_eq!(lookup(&root, &root, &long).err(), Some(ENAMETOOLONG));
        assert_eq!(
            create(&root, "bin/hello", S_IFREG, 0, b"", (0, 0)).err(),
            Some(EEXIST)
        );
    }

    #[test]
    fn split_parent_cases() {
        assert_eq!(split_parent("/a/b"), ("/a", "b"));
        assert_eq!(split_parent("/a"), ("/", "a"));
        assert_eq!(split_parent("a"), (".", "a"));
        assert_eq!(split_parent("a/b/"), ("a", "b"));
    }
}
