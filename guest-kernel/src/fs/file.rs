//! Open files (`struct file`, `file_operations`) and the per-process descriptor table
//! (`files_struct`).

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use spin::Mutex;

use super::inode::InodeRef;
use super::namespace::Path;
use crate::kernel::errno::*;
use crate::sched::wait::WaitQueue;

pub const O_ACCMODE: u32 = 3;
pub const O_RDONLY: u32 = 0;
pub const O_WRONLY: u32 = 1;
pub const O_RDWR: u32 = 2;
pub const O_CREAT: u32 = 0o100;
pub const O_EXCL: u32 = 0o200;
pub const O_NOCTTY: u32 = 0o400;
pub const O_TRUNC: u32 = 0o1000;
pub const O_APPEND: u32 = 0o2000;
pub const O_NONBLOCK: u32 = 0o4000;
pub const O_LARGEFILE: u32 = 0o100000;
pub const O_DIRECTORY: u32 = 0o200000;
pub const O_NOFOLLOW: u32 = 0o400000;
pub const O_CLOEXEC: u32 = 0o2000000;
pub const O_PATH: u32 = 0o10000000;
pub const O_TMPFILE: u32 = 0o20000000 | O_DIRECTORY;
/// The flags `F_SETFL` may change.
pub const SETFL_MASK: u32 = O_APPEND | O_NONBLOCK | 0o20000 /* O_ASYNC */ | 0o40000 /* O_DIRECT */ | 0o1000000 /* O_NOATIME */;

/// Linux's `sysctl_nr_open`: no descriptor table grows past this, whatever the rlimit says.
pub const NR_OPEN_MAX: usize = 1 << 20;

/// How many descriptors the calling process may have: its `RLIMIT_NOFILE` soft limit
/// (`rlimit(RLIMIT_NOFILE)`), capped at `NR_OPEN_MAX`.
pub fn nofile_limit() -> usize {
    use crate::kernel::signal::RLIMIT_NOFILE;
    let soft = crate::kernel::task::current().signal.rlim.lock()[RLIMIT_NOFILE][0];
    soft.min(NR_OPEN_MAX as u64) as usize
}

pub const POLLIN: u16 = 0x1;
pub const POLLPRI: u16 = 0x2;
pub const POLLOUT: u16 = 0x4;
pub const POLLERR: u16 = 0x8;
pub const POLLHUP: u16 = 0x10;
pub const POLLNVAL: u16 = 0x20;
pub const POLLRDNORM: u16 = 0x40;
pub const POLLWRNORM: u16 = 0x100;
pub const POLLWRBAND: u16 = 0x200;
pub const POLLRDHUP: u16 = 0x2000;
/// What a file that never blocks reports (`DEFAULT_POLLMASK`).
pub const DEFAULT_POLLMASK: u16 = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;

/// The wait queues a poller sleeps on (`poll_table`): each pollable file adds the queue its
/// readiness changes are announced on.
#[derive(Default)]
pub struct PollTable {
    pub queues: Vec<Arc<WaitQueue>>,
}

impl PollTable {
    pub fn poll_wait(&mut self, wq: &Arc<WaitQueue>) {
        if !self.queues.iter().any(|q| Arc::ptr_eq(q, wq)) {
            self.queues.push(wq.clone());
        }
    }
}

/// What a kind of open file does (`file_operations`). Defaults are those of a file that
/// supports nothing beyond being open.
pub trait FileOps: Send + Sync {
    fn read(&self, _file: &File, _buf: &mut [u8], _pos: &mut u64) -> KResult<usize> {
        Err(EINVAL)
    }

    fn write(&self, _file: &File, _buf: &[u8], _pos: &mut u64) -> KResult<usize> {
        Err(EINVAL)
    }

    /// Read straight into user memory at `ubuf` (Linux's `read_iter` on a user iov_iter), for
    /// files whose bytes sit in pages: no bounce buffer. `None`: use `read`.
    fn read_iter(
        &self,
        _file: &File,
        _ubuf: u64,
        _len: usize,
        _pos: &mut u64,
    ) -> Option<KResult<usize>> {
        None
    }

    /// Write straight from user memory at `ubuf` (`write_iter`); `None`: use `write`.
    fn write_iter(
        &self,
        _file: &File,
        _ubuf: u64,
        _len: usize,
        _pos: &mut u64,
    ) -> Option<KResult<usize>> {
        None
    }

    /// Whether the file has positions (`FMODE_LSEEK`): pipes and terminals do not.
    fn seekable(&self) -> bool {
        true
    }

    /// Move the position of a seekable file (`llseek`); devices whose data has no place
    /// answer otherwise.
    fn llseek(&self, file: &File, offset: i64, whence: u64) -> KResult<i64> {
        super::read_write::generic_file_llseek(file, offset, whence)
    }

    /// The ready mask; pollers add the queues to sleep on to `pt`.
    fn poll(&self, _file: &File, _pt: Option<&mut PollTable>) -> u16 {
        DEFAULT_POLLMASK
    }

    fn ioctl(&self, _file: &File, _cmd: u32, _arg: u64) -> KResult<i64> {
        Err(ENOTTY)
    }

    /// `fcntl` commands that belong to the file type (`F_GETPIPE_SZ`...).
    fn fcntl(&self, _file: &File, _cmd: u32, _arg: u64) -> KResult<i64> {
        Err(EINVAL)
    }

    /// The last reference to the open file is gone (`release`).
    fn release(&self, _file: &File) {}

    /// The object behind the file, for the calls that work on one kind of file only
    /// (epoll_ctl on an epoll, the socket calls).
    fn as_any(&self) -> Option<&dyn core::any::Any> {
        None
    }
}

crate::kmem_cache_allocator!(
    /// The `filp` cache (Linux's `filp_cachep`) of open files.
    FilpCachep,
    FILP_CACHEP,
    "filp",
    crate::mm::slub::SLAB_HWCACHE_ALIGN
);

/// An open file as descriptor tables, mappings and epoll hold it.
pub type FileRef = Arc<File, FilpCachep>;
pub type FileWeak = alloc::sync::Weak<File, FilpCachep>;

pub struct File {
    pub path: Path,
    /// The inode the file was opened on (kept even if its name goes away).
    pub inode: InodeRef,
    pub ops: Arc<dyn FileOps>,
    /// `f_flags`: the access mode is fixed at open, the `SETFL_MASK` bits change.
    pub flags: AtomicU32,
    /// `f_pos`, also serializing reads and writes of one open file (`f_pos_lock`).
    pub pos: Mutex<u64>,
    /// The epoll items watching this file (`f_ep`), removed when it goes away.
    pub f_ep: Mutex<Vec<alloc::sync::Weak<super::eventpoll::EpItem>>>,
}

impl File {
    pub fn new(path: Path, inode: InodeRef, ops: Arc<dyn FileOps>, flags: u32) -> FileRef {
        Arc::new_in(
            File {
                path,
                inode,
                ops,
                flags: AtomicU32::new(flags & !(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC)),
                pos: Mutex::new(0),
                f_ep: Mutex::new(Vec::new()),
            },
            FilpCachep,
        )
    }

    pub fn flags(&self) -> u32 {
        self.flags.load(Ordering::Relaxed)
    }

    pub fn readable(&self) -> bool {
        let f = self.flags();
        f & O_PATH == 0 && matches!(f & O_ACCMODE, O_RDONLY | O_RDWR)
    }

    pub fn writable(&self) -> bool {
        let f = self.flags();
        f & O_PATH == 0 && matches!(f & O_ACCMODE, O_WRONLY | O_RDWR)
    }

    pub fn nonblocking(&self) -> bool {
        self.flags() & O_NONBLOCK != 0
    }
}

impl Drop for File {
    fn drop(&mut self) {
        let watched = core::mem::take(self.f_ep.get_mut());
        if !watched.is_empty() {
            super::eventpoll::eventpoll_release(watched);
        }
        let ops = self.ops.clone();
        ops.release(self);
    }
}

#[derive(Clone)]
struct FdEntry {
    file: FileRef,
    cloexec: bool,
}

#[derive(Default, Clone)]
pub struct FdTable {
    fds: Vec<Option<FdEntry>>,
}

impl FdTable {
    pub fn get(&self, fd: u64) -> KResult<FileRef> {
        self.fds
            .get(fd as usize)
            .and_then(|f| f.as_ref())
            .map(|e| e.file.clone())
            .ok_or(EBADF)
    }

    /// Install at the lowest free descriptor at or above `min` (`alloc_fd`); `EMFILE` at the
    /// caller's RLIMIT_NOFILE.
    pub fn install_from(&mut self, min: usize, file: FileRef, cloexec: bool) -> KResult<u64> {
        let fd = match self.fds.iter().skip(min).position(|f| f.is_none()) {
            Some(i) => min + i,
            None => self.fds.len().max(min),
        };
        if fd >= nofile_limit() {
            return Err(EMFILE);
        }
        self.set(fd, file, cloexec);
        Ok(fd as u64)
    }

    pub fn install(&mut self, file: FileRef, cloexec: bool) -> KResult<u64> {
        self.install_from(0, file, cloexec)
    }

    /// Put `file` at `fd`, returning what was there (`dup2`'s replace).
    pub fn set(&mut self, fd: usize, file: FileRef, cloexec: bool) -> Option<FileRef> {
        if self.fds.len() <= fd {
            self.fds.resize(fd + 1, None);
        }
        self.fds[fd]
            .replace(FdEntry { file, cloexec })
            .map(|e| e.file)
    }

    /// Remove `fd`; the caller drops the file outside the table's lock.
    pub fn close(&mut self, fd: u64) -> KResult<FileRef> {
        match self.fds.get_mut(fd as usize) {
            Some(slot @ Some(_)) => Ok(slot.take().unwrap().file),
            _ => Err(EBADF),
        }
    }

    pub fn cloexec(&self, fd: u64) -> KResult<bool> {
        match self.fds.get(fd as usize) {
            Some(Some(e)) => Ok(e.cloexec),
            _ => Err(EBADF),
        }
    }

    pub fn set_cloexec(&mut self, fd: u64, on: bool) -> KResult<()> {
        match self.fds.get_mut(fd as usize) {
            Some(Some(e)) => {
                e.cloexec = on;
                Ok(())
            }
            _ => Err(EBADF),
        }
    }

    /// The size of the table: no open descriptor is at or above it (`max_fds`).
    pub fn max_fds(&self) -> usize {
        self.fds.len()
    }

    /// The open descriptors, in order (/proc/<pid>/fd).
    pub fn open_fds(&self) -> impl Iterator<Item = (usize, &FileRef)> {
        self.fds
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.as_ref().map(|e| (i, &e.file)))
    }

    /// Take the descriptors marked close-on-exec (`do_close_on_exec`).
    pub fn take_cloexec(&mut self) -> Vec<FileRef> {
        let mut out = Vec::new();
        for slot in self.fds.iter_mut() {
            if slot.as_ref().is_some_and(|e| e.cloexec) {
                out.push(slot.take().unwrap().file);
            }
        }
        out
    }

    /// Take descriptors `first..=last` (`close_range`), or mark them close-on-exec.
    pub fn close_range(&mut self, first: usize, last: usize, cloexec_only: bool) -> Vec<FileRef> {
        let mut out = Vec::new();
        let end = last.saturating_add(1).min(self.fds.len());
        for slot in self.fds.iter_mut().take(end).skip(first) {
            if cloexec_only {
                if let Some(e) = slot {
                    e.cloexec = true;
                }
            } else if let Some(e) = slot.take() {
                out.push(e.file);
            }
        }
        out
    }
}
