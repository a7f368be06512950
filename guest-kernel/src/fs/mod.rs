//! The virtual filesystem switch (Linux's fs/): inodes, the dentry cache, mounts and path walk,
//! open files and descriptor tables, and the filesystems behind them (tmpfs as the root,
//! procfs, sysfs on kernfs, devtmpfs, pipefs).

#[cfg(not(test))]
pub mod anon_inodes;
pub mod binfmt_elf;
pub mod binfmt_script;
#[cfg(not(test))]
pub mod char_dev;
pub mod cpio;
pub mod dcache;
#[cfg(not(test))]
pub mod devtmpfs;
#[cfg(not(test))]
pub mod eventfd;
#[cfg(not(test))]
pub mod eventpoll;
#[cfg(not(test))]
pub mod exec;
#[cfg(not(test))]
pub mod fallocate;
#[cfg(not(test))]
pub mod fcntl;
#[cfg(not(test))]
pub mod file;
pub mod filesystems;
pub mod inode;
#[cfg(not(test))]
pub mod ioctl;
#[cfg(not(test))]
pub mod kernfs;
#[cfg(not(test))]
pub mod mount;
pub mod namei;
#[cfg(not(test))]
pub mod namei_syscalls;
pub mod namespace;
#[cfg(not(test))]
pub mod open;
#[cfg(not(test))]
pub mod pipe;
pub mod pipe_ring;
pub mod proc;
#[cfg(not(test))]
pub mod read_write;
#[cfg(not(test))]
pub mod readdir;
#[cfg(not(test))]
pub mod select;
#[cfg(not(test))]
pub mod stat;
#[cfg(not(test))]
pub mod sync;
#[cfg(not(test))]
pub mod sysfs;
pub mod tmpfs;
pub mod tmpfs_file;
#[cfg(not(test))]
pub mod utimes;

#[cfg(not(test))]
pub use file::FileOps;

use spin::Once;

use inode::{S_IFDIR, S_IFMT, S_IFREG};
use namei::Walker;
use namespace::Path;

/// The root of the mount tree; processes start here (`init_fs`).
static ROOT: Once<Path> = Once::new();

/// Mount the root tmpfs (Linux's `init_mount_tree` with rootfs).
pub fn root() -> Path {
    ROOT.call_once(|| {
        let (sb, root) = tmpfs::fill_super("rootfs", 0o755);
        namespace::mount_root(sb, root, "rootfs")
    })
    .clone()
}

/// A walker for kernel code: from the root, with root's rights.
pub fn kernel_walker() -> Walker {
    let root = root();
    Walker {
        root: root.clone(),
        cwd: root,
        fsuid: 0,
        fsgid: 0,
    }
}

pub struct UnpackStats {
    pub files: usize,
    pub dirs: usize,
    pub bytes: usize,
    pub errors: usize,
}

/// Unpack a cpio `newc` archive into the root filesystem (`populate_rootfs`); file data stays
/// in the archive until a file is written.
pub fn unpack_initramfs(archive: &'static [u8]) -> Result<UnpackStats, cpio::Error> {
    let w = kernel_walker();
    let mut stats = UnpackStats {
        files: 0,
        dirs: 0,
        bytes: 0,
        errors: 0,
    };
    for entry in cpio::Reader::new(archive) {
        let e = entry?;
        let name = e.name.trim_start_matches("./").trim_start_matches('/');
        if name.is_empty() || name == "." {
            continue;
        }
        match unpack_one(&w, name, &e) {
            Ok(true) => stats.dirs += 1,
            Ok(false) => {
                stats.files += 1;
                stats.bytes += e.data.len();
            }
            Err(_) => stats.errors += 1,
        }
    }
    Ok(stats)
}

/// Create one archive entry; true for a directory.
fn unpack_one(w: &Walker, name: &str, e: &cpio::Entry<'static>) -> kernel_errno::KResult<bool> {
    let last = w.parent(&w.cwd, name)?;
    let ftype = e.mode & S_IFMT;
    let path = if ftype == inode::S_IFLNK {
        let target = core::str::from_utf8(e.data).map_err(|_| kernel_errno::EINVAL)?;
        w.symlink(&last, target)?;
        w.lookup(&w.cwd, name, false)?
    } else {
        let rdev = inode::mkdev(e.rdev_major, e.rdev_minor);
        match w.create(&last, e.mode, rdev) {
            Ok(p) => p,
            // An archive may name a directory twice (or the root): keep the first.
            Err(kernel_errno::EEXIST) if ftype == S_IFDIR => return Ok(true),
            Err(err) => return Err(err),
        }
    };
    let inode = path.inode()?;
    if ftype == S_IFREG {
        if let Some(f) = inode.ops.as_any().downcast_ref::<tmpfs::TmpfsFile>() {
            f.set_image(e.data);
        }
    }
    let mut m = inode.meta.lock();
    m.uid = e.uid;
    m.gid = e.gid;
    let t = inode::Timespec {
        sec: e.mtime as i64,
        nsec: 0,
    };
    (m.atime, m.mtime, m.ctime) = (t, t, t);
    Ok(ftype == S_IFDIR)
}

use crate::kernel::errno as kernel_errno;
