//! The VFS layer, reduced to an in-memory root filesystem unpacked from the initramfs.

pub mod binfmt_elf;
pub mod cpio;
#[cfg(not(test))]
pub mod exec;
#[cfg(not(test))]
pub mod file;
pub mod proc;
pub mod ramfs;
#[cfg(not(test))]
pub mod read_write;

use alloc::sync::Arc;

use spin::Once;

use ramfs::Inode;

static ROOT: Once<Arc<Inode>> = Once::new();

pub fn root() -> Arc<Inode> {
    ROOT.call_once(Inode::new_root).clone()
}

pub struct UnpackStats {
    pub files: usize,
    pub dirs: usize,
    pub bytes: usize,
    pub errors: usize,
}

/// Unpack a cpio `newc` archive into the root filesystem; file data stays in the archive.
pub fn unpack_initramfs(archive: &'static [u8]) -> Result<UnpackStats, cpio::Error> {
    let root = root();
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
        match ramfs::create(
            &root,
            name,
            e.mode,
            e.mtime as u64,
            e.data,
            (e.rdev_major, e.rdev_minor),
        ) {
            Ok(node) if node.is_dir() => stats.dirs += 1,
            Ok(_) => {
                stats.files += 1;
                stats.bytes += e.data.len();
            }
            Err(_) => stats.errors += 1,
        }
    }
    Ok(stats)
}
