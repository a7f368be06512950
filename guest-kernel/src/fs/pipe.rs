//! Pipes and FIFOs (Linux's fs/pipe.c): `pipe2`, the pipefs pseudo filesystem anonymous pipes
//! live on, and the FIFO opening rules.
//!
//! Readers sleep on `rd_wait` until data or the last writer's close; writers sleep on
//! `wr_wait` until room or the last reader's close. A write with no reader left gets `EPIPE`
//! and raises SIGPIPE. Writes of at most PIPE_BUF bytes are atomic (`pipe_ring`).

use alloc::format;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicUsize, Ordering};

use spin::{Mutex, Once};

use super::dcache::Dentry;
use super::fcntl::{F_GETPIPE_SZ, F_SETPIPE_SZ};
use super::file::*;
use super::inode::*;
use super::namespace::{kern_mount, Mount, Path};
use super::pipe_ring::{PipeRing, PIPE_BUF};
use crate::kernel::errno::*;
use crate::kernel::task::{current, current_arc, TASK_INTERRUPTIBLE};
use crate::sched::wait::WaitQueue;

const PIPEFS_MAGIC: u64 = 0x5049_5045;
const FIONREAD: u32 = 0x541b;

pub struct Pipe {
    ring: Mutex<PipeRing>,
    readers: AtomicUsize,
    writers: AtomicUsize,
    /// Opens of each side so far: a FIFO opener waits for the count of the other side to move.
    r_counter: AtomicUsize,
    w_counter: AtomicUsize,
    /// Held while an end is counted in or out (Linux's `pipe->mutex` over `fifo_open` and
    /// `pipe_release`): an opener that finds no partner must not miss one that opens, sees
    /// it and closes again in between.
    open_lock: Mutex<()>,
    pub rd_wait: Arc<WaitQueue>,
    pub wr_wait: Arc<WaitQueue>,
}

impl Pipe {
    pub fn new() -> Arc<Pipe> {
        Arc::new(Pipe {
            ring: Mutex::new(PipeRing::new()),
            readers: AtomicUsize::new(0),
            writers: AtomicUsize::new(0),
            r_counter: AtomicUsize::new(0),
            w_counter: AtomicUsize::new(0),
            open_lock: Mutex::new(()),
            rd_wait: Arc::new(WaitQueue::new()),
            wr_wait: Arc::new(WaitQueue::new()),
        })
    }

    fn wake_all(&self) {
        self.rd_wait.wake_up_all();
        self.wr_wait.wake_up_all();
    }

    fn add_reader(&self) {
        self.readers.fetch_add(1, Ordering::SeqCst);
        self.r_counter.fetch_add(1, Ordering::SeqCst);
    }

    fn add_writer(&self) {
        self.writers.fetch_add(1, Ordering::SeqCst);
        self.w_counter.fetch_add(1, Ordering::SeqCst);
    }
}

/// One open end of a pipe; its access mode says which (`pipefifo_fops`).
struct PipeFile {
    pipe: Arc<Pipe>,
    /// Hang-up is reported to a reader only once the writers' open count has moved past
    /// this (`f_pipe`): a FIFO opened for reading without blocking, before any writer came,
    /// has had no writer to lose.
    hup_after_w_counter: usize,
}

impl PipeFile {
    fn new(pipe: Arc<Pipe>) -> Self {
        PipeFile {
            pipe,
            hup_after_w_counter: 0,
        }
    }
}

impl FileOps for PipeFile {
    fn read(&self, file: &File, buf: &mut [u8], _pos: &mut u64) -> KResult<usize> {
        let p = &self.pipe;
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let n = p.ring.lock().read(buf);
            if n > 0 {
                p.wr_wait.wake_up_all();
                return Ok(n);
            }
            if p.writers.load(Ordering::SeqCst) == 0 {
                // The last writer may have written and gone since the ring was looked at:
                // what it left comes before the end of file.
                return Ok(p.ring.lock().read(buf));
            }
            if file.nonblocking() {
                return Err(EAGAIN);
            }
            p.rd_wait.wait_event(TASK_INTERRUPTIBLE, false, || {
                !p.ring.lock().is_empty() || p.writers.load(Ordering::SeqCst) == 0
            })?;
        }
    }

    fn write(&self, file: &File, buf: &[u8], _pos: &mut u64) -> KResult<usize> {
        let p = &self.pipe;
        let atomic = buf.len() <= PIPE_BUF;
        let mut done = 0;
        loop {
            if p.readers.load(Ordering::SeqCst) == 0 {
                send_sigpipe();
                return if done > 0 { Ok(done) } else { Err(EPIPE) };
            }
            let n = p.ring.lock().write(&buf[done..], atomic);
            if n > 0 {
                done += n;
                p.rd_wait.wake_up_all();
            }
            if done == buf.len() {
                return Ok(done);
            }
            if file.nonblocking() {
                return if done > 0 { Ok(done) } else { Err(EAGAIN) };
            }
            let left = buf.len() - done;
            let waited = p.wr_wait.wait_event(TASK_INTERRUPTIBLE, false, || {
                p.readers.load(Ordering::SeqCst) == 0 || p.ring.lock().writable(left)
            });
            if let Err(e) = waited {
                return if done > 0 { Ok(done) } else { Err(e) };
            }
        }
    }

    fn seekable(&self) -> bool {
        false
    }

    fn poll(&self, file: &File, pt: Option<&mut PollTable>) -> u16 {
        let p = &self.pipe;
        if let Some(pt) = pt {
            pt.poll_wait(&p.rd_wait);
            pt.poll_wait(&p.wr_wait);
        }
        let ring = p.ring.lock();
        let mut mask = 0;
        if file.readable() {
            if !ring.is_empty() {
                mask |= POLLIN | POLLRDNORM;
            }
            if p.writers.load(Ordering::SeqCst) == 0
                && p.w_counter.load(Ordering::SeqCst) != self.hup_after_w_counter
            {
                mask |= POLLHUP;
            }
        }
        if file.writable() {
            if ring.free() >= PIPE_BUF.min(ring.capacity()) {
                mask |= POLLOUT | POLLWRNORM;
            }
            if p.readers.load(Ordering::SeqCst) == 0 {
                mask |= POLLERR;
            }
        }
        mask
    }

    fn ioctl(&self, _file: &File, cmd: u32, arg: u64) -> KResult<i64> {
        match cmd {
            FIONREAD => {
                let n = self.pipe.ring.lock().len() as i32;
                crate::mm::usercopy::write_user(arg, &n)?;
                Ok(0)
            }
            _ => Err(ENOTTY),
        }
    }

    fn fcntl(&self, _file: &File, cmd: u32, arg: u64) -> KResult<i64> {
        match cmd {
            F_GETPIPE_SZ => Ok(self.pipe.ring.lock().capacity() as i64),
            F_SETPIPE_SZ => {
                // The size is an unsigned int (`pipe_fcntl`).
                let n = self.pipe.ring.lock().set_capacity(arg as u32 as usize)?;
                self.pipe.wr_wait.wake_up_all();
                Ok(n as i64)
            }
            _ => Err(EINVAL),
        }
    }

    fn release(&self, file: &File) {
        let p = &self.pipe;
        let counting = p.open_lock.lock();
        if file.readable() {
            p.readers.fetch_sub(1, Ordering::SeqCst);
        }
        if file.writable() {
            p.writers.fetch_sub(1, Ordering::SeqCst);
        }
        drop(counting);
        p.wake_all();
    }
}

/// A write to something nobody reads any more raises SIGPIPE.
pub fn send_sigpipe() {
    use crate::kernel::signal::{send_signal, KSigInfo, SIGPIPE};
    send_signal(&current_arc(), KSigInfo::kernel(SIGPIPE), false);
}

/// The pipefs mount anonymous pipes hang off (`pipe_mnt`); it is never in the mount table.
fn pipe_mnt() -> Arc<Mount> {
    static MNT: Once<Arc<Mount>> = Once::new();
    MNT.call_once(|| {
        let sb = SuperBlock::new_anon("pipefs", PIPEFS_MAGIC);
        let root = Inode::new(&sb, InodeMeta::new(S_IFDIR | 0o700), SpecialInode::new());
        kern_mount(sb, Dentry::new_root(root), "pipefs")
    })
    .clone()
}

/// Make a pipe's two open files (`create_pipe_files`).
pub fn create_pipe_files(flags: u32) -> (FileRef, FileRef) {
    let mnt = pipe_mnt();
    let special = SpecialInode::new();
    let pipe = special.pipe.call_once(Pipe::new).clone();
    let inode = Inode::new(&mnt.sb, InodeMeta::new(S_IFIFO | 0o600), special);
    let dentry = Dentry::new_pseudo(&format!("pipe:[{}]", inode.ino), inode.clone());
    let path = Path { mnt, dentry };
    pipe.add_reader();
    pipe.add_writer();
    let ops: Arc<dyn FileOps> = Arc::new(PipeFile::new(pipe));
    let keep = flags & O_NONBLOCK;
    (
        File::new(path.clone(), inode.clone(), ops.clone(), O_RDONLY | keep),
        File::new(path, inode, ops, O_WRONLY | keep),
    )
}

pub fn sys_pipe2(fds: u64, flags: u64) -> KResult<i64> {
    const O_DIRECT: u64 = 0o40000;
    let flags32 = flags as u32;
    if flags & !((O_CLOEXEC | O_NONBLOCK) as u64 | O_DIRECT) != 0 {
        return Err(EINVAL);
    }
    let (r, w) = create_pipe_files(flags32);
    let cloexec = flags32 & O_CLOEXEC != 0;
    let files = current().files();
    let (rfd, wfd) = {
        let mut t = files.lock();
        let rfd = t.install(r, cloexec)?;
        match t.install(w, cloexec) {
            Ok(wfd) => (rfd, wfd),
            Err(e) => {
                let _ = t.close(rfd);
                return Err(e);
            }
        }
    };
    if let Err(e) = crate::mm::usercopy::write_user(fds, &[rfd as i32, wfd as i32]) {
        let mut t = files.lock();
        let _ = t.close(rfd);
        let _ = t.close(wfd);
        return Err(e);
    }
    Ok(0)
}

pub fn sys_pipe(fds: u64) -> KResult<i64> {
    sys_pipe2(fds, 0)
}

/// Open a FIFO (`fifo_open`): a reader waits for a writer and a writer for a reader, unless
/// O_NONBLOCK (then a writer without readers gets `ENXIO`); O_RDWR never waits.
pub fn fifo_open(pipe: Arc<Pipe>, flags: u32) -> KResult<Arc<dyn FileOps>> {
    let nonblock = flags & O_NONBLOCK != 0;
    let mut file = PipeFile::new(pipe.clone());
    match flags & O_ACCMODE {
        O_RDONLY => {
            // Counted in, the writers' open count and number read, under the lock: a writer
            // that opens after moves the count (see `open_lock`).
            let counting = pipe.open_lock.lock();
            pipe.add_reader();
            let seen = pipe.w_counter.load(Ordering::SeqCst);
            let alone = pipe.writers.load(Ordering::SeqCst) == 0;
            drop(counting);
            pipe.wake_all();
            if alone && nonblock {
                file.hup_after_w_counter = seen;
            } else if alone {
                let r = pipe.rd_wait.wait_event(TASK_INTERRUPTIBLE, false, || {
                    pipe.w_counter.load(Ordering::SeqCst) != seen
                });
                if let Err(e) = r {
                    let _counting = pipe.open_lock.lock();
                    pipe.readers.fetch_sub(1, Ordering::SeqCst);
                    return Err(e);
                }
            }
        }
        O_WRONLY => {
            let counting = pipe.open_lock.lock();
            if nonblock && pipe.readers.load(Ordering::SeqCst) == 0 {
                return Err(ENXIO);
            }
            pipe.add_writer();
            let seen = pipe.r_counter.load(Ordering::SeqCst);
            let alone = pipe.readers.load(Ordering::SeqCst) == 0;
            drop(counting);
            pipe.wake_all();
            if alone {
                let r = pipe.wr_wait.wait_event(TASK_INTERRUPTIBLE, false, || {
                    pipe.r_counter.load(Ordering::SeqCst) != seen
                });
                if let Err(e) = r {
                    let counting = pipe.open_lock.lock();
                    pipe.writers.fetch_sub(1, Ordering::SeqCst);
                    drop(counting);
                    pipe.wake_all();
                    return Err(e);
                }
            }
        }
        _ => {
            pipe.add_reader();
            pipe.add_writer();
            pipe.wake_all();
        }
    }
    Ok(Arc::new(file))
}
