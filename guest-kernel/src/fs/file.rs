//! Open files and the per-process descriptor table.

use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::Mutex;

use super::ramfs::Inode;
use crate::kernel::errno::*;

pub const O_ACCMODE: u32 = 3;
pub const O_WRONLY: u32 = 1;
pub const O_RDWR: u32 = 2;
pub const O_CREAT: u32 = 0o100;
pub const O_DIRECTORY: u32 = 0o200000;
pub const O_CLOEXEC: u32 = 0o2000000;
pub const MAX_FDS: usize = 1024;

pub enum FileKind {
    /// The console TTY.
    Console,
    /// A node of the in-memory filesystem.
    Inode(Arc<Inode>),
}

pub struct File {
    pub kind: FileKind,
    pub flags: u32,
    pub pos: Mutex<u64>,
}

impl File {
    pub fn new(kind: FileKind, flags: u32) -> Arc<File> {
        Arc::new(File {
            kind,
            flags,
            pos: Mutex::new(0),
        })
    }
}

#[derive(Default, Clone)]
pub struct FdTable {
    fds: Vec<Option<(Arc<File>, bool)>>,
}

impl FdTable {
    pub fn get(&self, fd: u64) -> KResult<Arc<File>> {
        self.fds
            .get(fd as usize)
            .and_then(|f| f.as_ref())
            .map(|(f, _)| f.clone())
            .ok_or(EBADF)
    }

    /// Install at the lowest free descriptor.
    pub fn install(&mut self, file: Arc<File>, cloexec: bool) -> KResult<u64> {
        let fd = match self.fds.iter().position(|f| f.is_none()) {
            Some(fd) => fd,
            None if self.fds.len() < MAX_FDS => {
                self.fds.push(None);
                self.fds.len() - 1
            }
            None => return Err(EMFILE),
        };
        self.fds[fd] = Some((file, cloexec));
        Ok(fd as u64)
    }

    pub fn close(&mut self, fd: u64) -> KResult<()> {
        match self.fds.get_mut(fd as usize) {
            Some(slot @ Some(_)) => {
                *slot = None;
                Ok(())
            }
            _ => Err(EBADF),
        }
    }

    /// Close the descriptors marked close-on-exec.
    pub fn close_on_exec(&mut self) {
        for slot in self.fds.iter_mut() {
            if matches!(slot, Some((_, true))) {
                *slot = None;
            }
        }
    }
}
