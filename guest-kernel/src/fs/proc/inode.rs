//! The building blocks of procfs (Linux's fs/proc/inode.c, generic.c and seq_file): files
//! whose text is made when read, directories whose entries are computed at each lookup, and
//! links computed when followed.
//!
//! Nothing here is cached by the dcache (`cache_lookups` is false): a process directory
//! must vanish the moment the process is reaped.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;

use spin::{Mutex, Once};

use crate::fs::file::{File, FileOps};
use crate::fs::inode::*;
use crate::fs::namei::LinkTarget;
use crate::kernel::errno::*;

pub const PROC_SUPER_MAGIC: u64 = 0x9fa0;
pub const PROC_ROOT_INO: u64 = 1;

pub type Show = Box<dyn Fn() -> KResult<Vec<u8>> + Send + Sync>;
pub type Store = Box<dyn Fn(&[u8]) -> KResult<()> + Send + Sync>;
pub type Lookup = Box<dyn Fn(&str) -> KResult<Option<InodeRef>> + Send + Sync>;
pub type List = Box<dyn Fn() -> KResult<Vec<DirEntry>> + Send + Sync>;
pub type GetLink = Box<dyn Fn() -> KResult<LinkTarget> + Send + Sync>;

/// The one procfs superblock: every mount of proc shows the same tree.
pub fn proc_sb() -> Arc<SuperBlock> {
    static SB: Once<Arc<SuperBlock>> = Once::new();
    SB.call_once(|| SuperBlock::new_anon("proc", PROC_SUPER_MAGIC))
        .clone()
}

fn meta(mode: u32, uid: u32, gid: u32) -> InodeMeta {
    let mut m = InodeMeta::new(mode);
    m.uid = uid;
    m.gid = gid;
    m
}

/// A file whose contents `show` makes when it is first read after open; `store` takes
/// writes (sysctls, `comm`).
pub struct ProcFile {
    show: Show,
    store: Option<Store>,
}

pub fn proc_file(
    ino: u64,
    perm: u32,
    owner: (u32, u32),
    show: Show,
    store: Option<Store>,
) -> InodeRef {
    Inode::with_ino(
        ino,
        &proc_sb(),
        meta(S_IFREG | perm, owner.0, owner.1),
        ProcFile { show, store },
    )
}

impl InodeOps for ProcFile {
    fn open(&self, inode: &InodeRef, _flags: u32) -> KResult<Arc<dyn FileOps>> {
        Ok(Arc::new(SeqFile {
            inode: inode.clone(),
            buf: Mutex::new(None),
        }))
    }

    fn truncate(&self, _inode: &Inode, _size: u64) -> KResult<()> {
        Ok(()) // `echo x > /proc/sys/...` opens with O_TRUNC
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// An open procfs file: the text made at the first read, served from there on (`seq_file`
/// with `single_open`), so one reader sees one consistent snapshot.
struct SeqFile {
    inode: InodeRef,
    buf: Mutex<Option<Vec<u8>>>,
}

impl SeqFile {
    fn ops(&self) -> &ProcFile {
        self.inode
            .ops
            .as_any()
            .downcast_ref::<ProcFile>()
            .expect("SeqFile opened on a ProcFile")
    }
}

impl FileOps for SeqFile {
    fn read(&self, _file: &File, out: &mut [u8], pos: &mut u64) -> KResult<usize> {
        let mut buf = self.buf.lock();
        if buf.is_none() || *pos == 0 {
            *buf = Some((self.ops().show)()?);
        }
        let data = buf.as_ref().unwrap();
        let start = (*pos as usize).min(data.len());
        let n = out.len().min(data.len() - start);
        out[..n].copy_from_slice(&data[start..start + n]);
        *pos += n as u64;
        Ok(n)
    }

    fn write(&self, _file: &File, data: &[u8], pos: &mut u64) -> KResult<usize> {
        let store = self.ops().store.as_ref().ok_or(EIO)?;
        store(data)?;
        *pos += data.len() as u64;
        Ok(data.len())
    }
}

/// A directory whose entries are computed: by name at lookup, all at readdir.
pub struct ProcDir {
    lookup: Lookup,
    list: List,
}

pub fn proc_dir(ino: u64, perm: u32, owner: (u32, u32), lookup: Lookup, list: List) -> InodeRef {
    Inode::with_ino(
        ino,
        &proc_sb(),
        meta(S_IFDIR | perm, owner.0, owner.1),
        ProcDir { lookup, list },
    )
}

impl InodeOps for ProcDir {
    /// A name the kernel does not provide is an error, not a negative dentry (Linux's
    /// `proc_root_lookup` and `proc_sys_lookup`): creating one is ENOENT rather than EPERM.
    fn lookup(&self, _dir: &InodeRef, name: &str) -> KResult<Option<InodeRef>> {
        (self.lookup)(name)?.map(Some).ok_or(ENOENT)
    }

    fn cache_lookups(&self) -> bool {
        false
    }

    fn readdir(&self, _dir: &InodeRef) -> Option<KResult<Vec<DirEntry>>> {
        Some((self.list)())
    }

    fn open(&self, _inode: &InodeRef, _flags: u32) -> KResult<Arc<dyn FileOps>> {
        Ok(Arc::new(crate::fs::readdir::DirFile))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A link computed when read: text (`/proc/self`) or a place in the tree (the "magic" links
/// `/proc/<pid>/cwd`, `exe`, `fd/N`, which lead to the very file even if it was renamed).
pub struct ProcLink {
    get: GetLink,
}

pub fn proc_link(ino: u64, owner: (u32, u32), get: GetLink) -> InodeRef {
    Inode::with_ino(
        ino,
        &proc_sb(),
        meta(S_IFLNK | 0o777, owner.0, owner.1),
        ProcLink { get },
    )
}

impl InodeOps for ProcLink {
    fn readlink(&self, _inode: &InodeRef) -> KResult<String> {
        match (self.get)()? {
            LinkTarget::Text(t) => Ok(t),
            LinkTarget::Path(p) => {
                let root = crate::kernel::task::current().fs().lock().root.clone();
                Ok(crate::fs::namespace::d_path(&p, &root))
            }
        }
    }

    fn get_link(&self, _inode: &InodeRef) -> KResult<LinkTarget> {
        (self.get)()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A directory entry for a listing.
pub fn entry(name: impl Into<String>, ino: u64, mode: u32) -> DirEntry {
    DirEntry {
        name: name.into(),
        ino,
        d_type: dt_type(mode),
    }
}

/// A file's name and the function that renders its text.
pub type TextFile = (&'static str, fn() -> String);

/// A directory of fixed read-only text files (/proc/sysvipc, /proc/net); file `i` gets inode
/// number `ino + 0x100 + i`.
pub fn proc_text_dir(ino: u64, files: &'static [TextFile]) -> InodeRef {
    let file_ino = move |i: usize| ino + 0x100 + i as u64;
    proc_dir(
        ino,
        0o555,
        (0, 0),
        Box::new(move |name| {
            let Some(i) = files.iter().position(|(n, _)| *n == name) else {
                return Ok(None);
            };
            let show = files[i].1;
            Ok(Some(proc_file(
                file_ino(i),
                0o444,
                (0, 0),
                Box::new(move || Ok(show().into_bytes())),
                None,
            )))
        }),
        Box::new(move || {
            Ok(files
                .iter()
                .enumerate()
                .map(|(i, (n, _))| entry(*n, file_ino(i), S_IFREG))
                .collect())
        }),
    )
}
