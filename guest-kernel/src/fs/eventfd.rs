//! eventfd (Linux's fs/eventfd.c): a 64-bit counter behind a descriptor. A write adds to it,
//! a read takes all of it (or 1 in semaphore mode); reads wait while it is 0 and writes wait
//! while the sum would reach `u64::MAX`. Readers, writers and pollers (epoll among them)
//! share one wait queue, woken at every change.

use alloc::sync::Arc;

use spin::Mutex;

use super::anon_inodes::anon_inode_getfile;
use super::file::*;
use crate::kernel::errno::*;
use crate::kernel::task::{current, TASK_INTERRUPTIBLE};
use crate::sched::wait::WaitQueue;

pub const EFD_SEMAPHORE: u32 = 1;
pub const EFD_CLOEXEC: u32 = O_CLOEXEC;
pub const EFD_NONBLOCK: u32 = O_NONBLOCK;

/// The counter (`eventfd_ctx`).
pub struct EventFd {
    count: Mutex<u64>,
    semaphore: bool,
    wqh: Arc<WaitQueue>,
}

impl EventFd {
    /// What a read takes, if anything is there (`eventfd_ctx_do_read`).
    fn take(&self) -> Option<u64> {
        let mut count = self.count.lock();
        if *count == 0 {
            return None;
        }
        let got = if self.semaphore { 1 } else { *count };
        *count -= got;
        Some(got)
    }

    /// Add `n` if the counter stays below `u64::MAX`.
    fn add(&self, n: u64) -> bool {
        let mut count = self.count.lock();
        if u64::MAX - *count > n {
            *count += n;
            true
        } else {
            false
        }
    }
}

impl FileOps for EventFd {
    fn read(&self, file: &File, buf: &mut [u8], _pos: &mut u64) -> KResult<usize> {
        if buf.len() < 8 {
            return Err(EINVAL);
        }
        let got = loop {
            if let Some(got) = self.take() {
                break got;
            }
            if file.nonblocking() {
                return Err(EAGAIN);
            }
            self.wqh
                .wait_event(TASK_INTERRUPTIBLE, false, || *self.count.lock() != 0)?;
        };
        self.wqh.wake_up_all();
        buf[..8].copy_from_slice(&got.to_ne_bytes());
        Ok(8)
    }

    fn write(&self, file: &File, buf: &[u8], _pos: &mut u64) -> KResult<usize> {
        if buf.len() < 8 {
            return Err(EINVAL);
        }
        let n = u64::from_ne_bytes(buf[..8].try_into().expect("8 bytes"));
        if n == u64::MAX {
            return Err(EINVAL);
        }
        while !self.add(n) {
            if file.nonblocking() {
                return Err(EAGAIN);
            }
            self.wqh.wait_event(TASK_INTERRUPTIBLE, false, || {
                u64::MAX - *self.count.lock() > n
            })?;
        }
        self.wqh.wake_up_all();
        Ok(8)
    }

    fn seekable(&self) -> bool {
        false
    }

    fn poll(&self, _file: &File, pt: Option<&mut PollTable>) -> u16 {
        if let Some(pt) = pt {
            pt.poll_wait(&self.wqh);
        }
        let count = *self.count.lock();
        let mut mask = 0;
        if count > 0 {
            mask |= POLLIN | POLLRDNORM;
        }
        if count == u64::MAX {
            mask |= POLLERR;
        }
        if u64::MAX - 1 > count {
            mask |= POLLOUT | POLLWRNORM;
        }
        mask
    }
}

pub fn sys_eventfd2(initval: u64, flags: u64) -> KResult<i64> {
    let flags = flags as u32;
    if flags & !(EFD_SEMAPHORE | EFD_CLOEXEC | EFD_NONBLOCK) != 0 {
        return Err(EINVAL);
    }
    let ctx = Arc::new(EventFd {
        // The initial value is an unsigned int.
        count: Mutex::new(initval as u32 as u64),
        semaphore: flags & EFD_SEMAPHORE != 0,
        wqh: Arc::new(WaitQueue::new()),
    });
    let file = anon_inode_getfile("eventfd", ctx, O_RDWR | (flags & EFD_NONBLOCK));
    let fd = current()
        .files()
        .lock()
        .install(file, flags & EFD_CLOEXEC != 0)?;
    Ok(fd as i64)
}

pub fn sys_eventfd(initval: u64) -> KResult<i64> {
    sys_eventfd2(initval, 0)
}
