//! Inodes and superblocks (Linux's `struct inode`, `struct super_block`, `inode_operations`).
//!
//! An inode is the VFS's view of one file: its attributes (`InodeMeta`) plus `ops`, the
//! filesystem's object that both implements the inode operations and holds the file's data.
//! Names live in dentries (`dcache`), never here, so one inode may have several links.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use crate::kernel::errno::*;

pub const S_IFMT: u32 = 0o170000;
pub const S_IFSOCK: u32 = 0o140000;
pub const S_IFLNK: u32 = 0o120000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFBLK: u32 = 0o060000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFCHR: u32 = 0o020000;
pub const S_IFIFO: u32 = 0o010000;
pub const S_ISVTX: u32 = 0o1000;

/// `d_type` values of `getdents64`.
pub fn dt_type(mode: u32) -> u8 {
    ((mode & S_IFMT) >> 12) as u8
}

/// `MKDEV` with Linux's `new_encode_dev` layout (what `st_rdev` carries).
pub const fn mkdev(major: u32, minor: u32) -> u64 {
    ((minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)) as u64
}

pub const fn major(dev: u64) -> u32 {
    ((dev >> 8) & 0xfff) as u32
}

pub const fn minor(dev: u64) -> u32 {
    ((dev & 0xff) | ((dev >> 12) & 0xfff00)) as u32
}

/// A mounted filesystem instance.
pub struct SuperBlock {
    /// `st_dev` of every inode in it (anonymous `0:N` for memory filesystems).
    pub dev: u64,
    /// The filesystem type name, as /proc/mounts shows it.
    pub fs_name: &'static str,
    /// `f_type` magic of statfs.
    pub magic: u64,
}

static NEXT_ANON_DEV: AtomicU64 = AtomicU64::new(1);

impl SuperBlock {
    /// A superblock with the next anonymous device number (`get_anon_bdev`).
    pub fn new_anon(fs_name: &'static str, magic: u64) -> Arc<SuperBlock> {
        Arc::new(SuperBlock {
            dev: mkdev(0, NEXT_ANON_DEV.fetch_add(1, Ordering::Relaxed) as u32),
            fs_name,
            magic,
        })
    }
}

/// A time stamp, seconds and nanoseconds since the epoch.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Timespec {
    pub sec: i64,
    pub nsec: i64,
}

/// The wall-clock time for new time stamps (`current_time`).
pub fn current_time() -> Timespec {
    #[cfg(not(test))]
    {
        let ns = crate::arch::tsc::ns_since_boot() + crate::kernel::time::realtime_offset_ns();
        Timespec {
            sec: (ns / 1_000_000_000) as i64,
            nsec: (ns % 1_000_000_000) as i64,
        }
    }
    #[cfg(test)]
    Timespec::default()
}

/// The attributes `stat` reports.
#[derive(Clone, Copy, Debug)]
pub struct InodeMeta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub rdev: u64,
    pub atime: Timespec,
    pub mtime: Timespec,
    pub ctime: Timespec,
}

impl InodeMeta {
    pub fn new(mode: u32) -> Self {
        let now = current_time();
        InodeMeta {
            mode,
            uid: 0,
            gid: 0,
            nlink: if mode & S_IFMT == S_IFDIR { 2 } else { 1 },
            rdev: 0,
            atime: now,
            mtime: now,
            ctime: now,
        }
    }
}

/// One entry of a directory listing.
pub struct DirEntry {
    pub name: String,
    pub ino: u64,
    pub d_type: u8,
}

/// What a filesystem does for its inodes (`inode_operations`, plus `i_fop`'s `open`).
/// Defaults describe a file that supports none of it.
pub trait InodeOps: Send + Sync + Any {
    /// Find `name` in this directory: `Ok(None)` for "no such entry" (a negative dentry).
    fn lookup(&self, _dir: &InodeRef, _name: &str) -> KResult<Option<InodeRef>> {
        Err(ENOTDIR)
    }

    /// Whether the dcache may keep what `lookup` answered for names in this directory
    /// (`d_revalidate`); procfs says no, its entries come and go with processes.
    fn cache_lookups(&self) -> bool {
        true
    }

    /// List a directory whose entries are not all in the dcache (procfs). `None` lets the VFS
    /// list the dcache (`dcache_readdir`), which is all a memory filesystem has.
    fn readdir(&self, _dir: &InodeRef) -> Option<KResult<Vec<DirEntry>>> {
        None
    }

    /// Make a new inode (file, directory, device, FIFO, socket) to be linked into this
    /// directory; the VFS links it (`create`/`mkdir`/`mknod`).
    fn mknod(&self, _dir: &InodeRef, _mode: u32, _rdev: u64) -> KResult<InodeRef> {
        Err(EPERM)
    }

    fn symlink(&self, _dir: &InodeRef, _target: &str) -> KResult<InodeRef> {
        Err(EPERM)
    }

    /// May names in this directory be linked, unlinked and renamed? The memory filesystems
    /// keep their names in the dcache, so the VFS does the rest.
    fn may_change_names(&self) -> KResult<()> {
        Err(EPERM)
    }

    fn readlink(&self, _inode: &InodeRef) -> KResult<String> {
        Err(EINVAL)
    }

    /// Where path walk goes from this symlink; procfs's magic links (`/proc/<pid>/cwd`)
    /// lead straight to a place in the tree instead of to text.
    fn get_link(&self, inode: &InodeRef) -> KResult<super::namei::LinkTarget> {
        self.readlink(inode).map(super::namei::LinkTarget::Text)
    }

    /// Open this inode: the file operations a new `File` uses.
    #[cfg(not(test))]
    fn open(&self, _inode: &InodeRef, _flags: u32) -> KResult<Arc<dyn super::FileOps>> {
        Err(ENXIO)
    }

    /// `st_size`.
    fn size(&self) -> u64 {
        0
    }

    /// Change the size (`truncate`, `O_TRUNC`) of `inode` (whose operations these are).
    fn truncate(&self, _inode: &Inode, _size: u64) -> KResult<()> {
        Err(EINVAL)
    }

    /// Page `pgoff` of a regular file whose bytes live in the page cache (tmpfs), with a
    /// reference for the caller: what faults on its mappings map and exec reads. For a hole,
    /// a new zeroed page if `create`, else `None`. ENODEV: no page cache (no mmap).
    fn get_page(&self, _inode: &InodeRef, _pgoff: u64, _create: bool) -> KResult<Option<u64>> {
        Err(ENODEV)
    }

    /// Whether `get_page` works (the file can be mmap'd).
    fn has_page_cache(&self) -> bool {
        false
    }

    fn as_any(&self) -> &dyn Any;
}

crate::kmem_cache_allocator!(
    /// The inode cache (Linux's `inode_cachep`, for filesystems without their own inode
    /// type: here the VFS inode is the whole of every filesystem's, its private part boxed
    /// behind `ops`). Reclaimable, as Linux accounts it.
    InodeCachep,
    INODE_CACHEP,
    "inode_cache",
    crate::mm::slub::SLAB_RECLAIM_ACCOUNT
);

/// An inode as dentries, open files and mappings hold it.
pub type InodeRef = Arc<Inode, InodeCachep>;
pub type InodeWeak = alloc::sync::Weak<Inode, InodeCachep>;

pub struct Inode {
    pub ino: u64,
    pub sb: Arc<SuperBlock>,
    pub meta: Mutex<InodeMeta>,
    pub ops: alloc::boxed::Box<dyn InodeOps>,
    /// The file's pages as its mappings see them (`i_mapping`).
    pub i_mapping: crate::mm::filemap::AddressSpace,
}

static NEXT_INO: AtomicU64 = AtomicU64::new(2);

/// A fresh inode number (`get_next_ino`).
pub fn get_next_ino() -> u64 {
    NEXT_INO.fetch_add(1, Ordering::Relaxed)
}

impl Inode {
    pub fn new(sb: &Arc<SuperBlock>, meta: InodeMeta, ops: impl InodeOps) -> InodeRef {
        Self::with_ino(get_next_ino(), sb, meta, ops)
    }

    pub fn with_ino(
        ino: u64,
        sb: &Arc<SuperBlock>,
        meta: InodeMeta,
        ops: impl InodeOps,
    ) -> InodeRef {
        Arc::new_in(
            Inode {
                ino,
                sb: sb.clone(),
                meta: Mutex::new(meta),
                ops: alloc::boxed::Box::new(ops),
                i_mapping: crate::mm::filemap::AddressSpace::new(),
            },
            InodeCachep,
        )
    }

    pub fn mode(&self) -> u32 {
        self.meta.lock().mode
    }

    pub fn file_type(&self) -> u32 {
        self.mode() & S_IFMT
    }

    pub fn is_dir(&self) -> bool {
        self.file_type() == S_IFDIR
    }

    pub fn is_symlink(&self) -> bool {
        self.file_type() == S_IFLNK
    }

    pub fn is_reg(&self) -> bool {
        self.file_type() == S_IFREG
    }

    pub fn size(&self) -> u64 {
        self.ops.size()
    }

    /// The contents changed (every write and truncate says so): new mtime and ctime.
    pub fn touch_mtime(&self) {
        let now = current_time();
        let mut m = self.meta.lock();
        m.mtime = now;
        m.ctime = now;
    }

    pub fn touch_ctime(&self) {
        self.meta.lock().ctime = current_time();
    }

    /// Whether `cred` may access this inode for `mask` (4 read, 2 write, 1 exec);
    /// `generic_permission` with root's override (exec needs one x bit, or a directory).
    pub fn permission(&self, fsuid: u32, fsgid: u32, mask: u32) -> KResult<()> {
        let m = *self.meta.lock();
        if fsuid == 0 {
            let exec_ok = mask & 1 == 0 || m.mode & 0o111 != 0 || m.mode & S_IFMT == S_IFDIR;
            return if exec_ok { Ok(()) } else { Err(EACCES) };
        }
        let bits = if fsuid == m.uid {
            m.mode >> 6
        } else if fsgid == m.gid {
            m.mode >> 3
        } else {
            m.mode
        } & 7;
        if bits & mask == mask {
            Ok(())
        } else {
            Err(EACCES)
        }
    }
}

/// The inode operations every special inode (device, FIFO, socket) shares: it has no data of its
/// own, opening it goes to the driver or the pipe (`init_special_inode`).
pub struct SpecialInode {
    /// The FIFO's pipe, made at first open (`i_pipe`).
    #[cfg(not(test))]
    pub pipe: spin::Once<Arc<super::pipe::Pipe>>,
}

impl SpecialInode {
    pub fn new() -> Self {
        SpecialInode {
            #[cfg(not(test))]
            pipe: spin::Once::new(),
        }
    }
}

impl InodeOps for SpecialInode {
    #[cfg(not(test))]
    fn open(&self, inode: &InodeRef, flags: u32) -> KResult<Arc<dyn super::FileOps>> {
        let (mode, rdev) = {
            let m = inode.meta.lock();
            (m.mode, m.rdev)
        };
        match mode & S_IFMT {
            S_IFCHR => super::char_dev::chrdev_open(rdev, flags),
            S_IFIFO => {
                super::pipe::fifo_open(self.pipe.call_once(super::pipe::Pipe::new).clone(), flags)
            }
            _ => Err(ENXIO),
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
