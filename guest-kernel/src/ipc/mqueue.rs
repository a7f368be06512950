//! POSIX message queues (Linux's ipc/mqueue.c): the mqueue filesystem, whose files are the
//! queues, and `mq_open`, `mq_unlink`, `mq_timedsend`, `mq_timedreceive`, `mq_notify`,
//! `mq_getsetattr`.
//!
//! There is one mqueue superblock (per IPC namespace in Linux, and we have one namespace):
//! the syscalls work in the kernel's internal mount of it, and every `mount -t mqueue` shows
//! the same tree. A queue is its inode; an mq descriptor is an open file of it, so closing,
//! fork and poll/select/epoll work as for any file, and reading the file gives the QSIZE line.
//!
//! Blocked senders and receivers wait on the queue in FIFO order, each with its own entry
//! (`ext_wait_queue`): a send to an empty queue with a receiver waiting hands the message
//! straight to that receiver, and a receive from a full queue moves the first waiting
//! sender's message in (`pipelined_send`/`pipelined_receive`); only that one task is woken.
//! Pollers sleep on their own queue. Lock order: `MQ_DIR_LOCK`, then a queue's lock.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::{Mutex, Once};

use super::mqutil::*;
use crate::fs::dcache::Dentry;
use crate::fs::file::*;
use crate::fs::filesystems::Instance;
use crate::fs::inode::*;
use crate::fs::namei::NAME_MAX;
use crate::fs::namespace::{kern_mount, Mount, Path};
use crate::fs::open::{getname, walker};
use crate::fs::read_write::fdget;
use crate::kernel::errno::*;
use crate::kernel::signal::{send_signal, KSigInfo};
use crate::kernel::task::{current, current_arc, Pid, TaskRef, TASK_INTERRUPTIBLE};
use crate::mm::usercopy::{copy_from_user, copy_to_user, write_user};
use crate::sched::wait::{new_waiter_id, WaitQueue};

const MQUEUE_MAGIC: u64 = 0x1980_0202;
/// `si_code` of a queue's notification signal.
const SI_MESGQ: i32 = -3;
const RLIMIT_MSGQUEUE: usize = 12;

/// fs.mqueue.* (Linux's defaults).
pub static MQ_QUEUES_MAX: AtomicU64 = AtomicU64::new(256);
pub static MQ_MSG_MAX: AtomicU64 = AtomicU64::new(10);
pub static MQ_MSGSIZE_MAX: AtomicU64 = AtomicU64::new(8192);
pub static MQ_MSG_DEFAULT: AtomicU64 = AtomicU64::new(10);
pub static MQ_MSGSIZE_DEFAULT: AtomicU64 = AtomicU64::new(8192);
/// Queues that exist (unlinked ones until their last close).
static MQ_QUEUES_COUNT: AtomicU64 = AtomicU64::new(0);
/// Bytes charged to each real uid's RLIMIT_MSGQUEUE.
static MQ_USER_BYTES: Mutex<BTreeMap<u32, u64>> = Mutex::new(BTreeMap::new());
/// Serializes name lookup with create and unlink (the root directory's `inode_lock`).
static MQ_DIR_LOCK: Mutex<()> = Mutex::new(());

const SEND: usize = 0;
const RECV: usize = 1;

/// A task blocked in send or receive (`ext_wait_queue`). The waker fills `msg` (for a
/// receiver) or takes it (for a sender), sets `ready` and wakes `task`; the sleeper takes its
/// entry off the list.
struct ExtWait {
    id: u64,
    task: TaskRef,
    msg: Option<(u32, Vec<u8>)>,
    ready: bool,
}

/// A registration of `mq_notify` (`notify_owner` and `notify`).
#[derive(Clone, Copy)]
struct Notify {
    owner: Pid,
    how: i32,
    signo: i32,
    value: u64,
}

struct MqInner {
    msgs: MsgTree,
    /// Blocked senders (`SEND`) and receivers (`RECV`), first come first served.
    waiters: [VecDeque<ExtWait>; 2],
    notify: Option<Notify>,
}

impl MqInner {
    fn first_waiter(&mut self, kind: usize) -> Option<&mut ExtWait> {
        self.waiters[kind].iter_mut().find(|w| !w.ready)
    }
}

/// One queue (`mqueue_inode_info`); it is the inode's operations as well.
pub struct MqueueInfo {
    maxmsg: usize,
    msgsize: usize,
    inner: Mutex<MqInner>,
    /// Pollers (`wait_q`), woken when a message arrives or room appears.
    poll_wait: Arc<WaitQueue>,
    /// Whose RLIMIT_MSGQUEUE it is charged to, and how much.
    user: u32,
    charged: u64,
}

impl MqueueInfo {
    fn attr(&self, flags: u32) -> MqAttr {
        MqAttr {
            flags: (flags & O_NONBLOCK) as i64,
            maxmsg: self.maxmsg as i64,
            msgsize: self.msgsize as i64,
            curmsgs: self.inner.lock().msgs.len() as i64,
        }
    }
}

impl Drop for MqueueInfo {
    fn drop(&mut self) {
        MQ_QUEUES_COUNT.fetch_sub(1, Ordering::Relaxed);
        if let Some(b) = MQ_USER_BYTES.lock().get_mut(&self.user) {
            *b = b.saturating_sub(self.charged);
        }
    }
}

impl InodeOps for MqueueInfo {
    fn open(&self, _inode: &InodeRef, _flags: u32) -> KResult<Arc<dyn FileOps>> {
        Ok(Arc::new(MqueueFile))
    }

    fn size(&self) -> u64 {
        FILENT_SIZE
    }

    /// `open(O_TRUNC)` of a queue works and leaves its messages (`simple_setattr`).
    fn truncate(&self, _inode: &Inode, _size: u64) -> KResult<()> {
        Ok(())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn mq_info(inode: &Inode) -> Option<&MqueueInfo> {
    inode.ops.as_any().downcast_ref::<MqueueInfo>()
}

/// The root directory: queues only, no subdirectories, devices or links.
struct MqueueDir;

impl InodeOps for MqueueDir {
    fn lookup(&self, _dir: &InodeRef, _name: &str) -> KResult<Option<InodeRef>> {
        Ok(None) // every queue is in the dcache (`simple_lookup`)
    }

    /// `open(O_CREAT)` in a mounted mqueue makes a queue with the default attributes.
    fn mknod(&self, dir: &InodeRef, mode: u32, _rdev: u64) -> KResult<InodeRef> {
        if mode & S_IFMT != S_IFREG {
            return Err(EPERM);
        }
        mqueue_get_inode(&dir.sb, mode, None)
    }

    fn may_change_names(&self) -> KResult<()> {
        Ok(())
    }

    fn open(&self, _inode: &InodeRef, _flags: u32) -> KResult<Arc<dyn FileOps>> {
        Ok(Arc::new(crate::fs::readdir::DirFile))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn mqueue_sb() -> &'static Instance {
    static SB: Once<Instance> = Once::new();
    SB.call_once(|| {
        let sb = SuperBlock::new_anon("mqueue", MQUEUE_MAGIC);
        let root = Inode::new(&sb, InodeMeta::new(S_IFDIR | S_ISVTX | 0o777), MqueueDir);
        (sb, Dentry::new_root(root))
    })
}

/// `mount -t mqueue`: the one instance.
pub fn mqueue_mount(_source: &str) -> KResult<Instance> {
    Ok(mqueue_sb().clone())
}

/// The kernel's own mount the syscalls use (`ipc_ns->mq_mnt`).
fn mq_mnt() -> Arc<Mount> {
    static MNT: Once<Arc<Mount>> = Once::new();
    MNT.call_once(|| {
        let (sb, root) = mqueue_sb().clone();
        kern_mount(sb, root, "mqueue")
    })
    .clone()
}

/// Make a queue (`mqueue_create_attr` and `mqueue_get_inode`): `attr` checked against the
/// limits, or the defaults; ENOSPC past `queues_max`, EMFILE past the creator's
/// RLIMIT_MSGQUEUE.
fn mqueue_get_inode(sb: &Arc<SuperBlock>, mode: u32, attr: Option<MqAttr>) -> KResult<InodeRef> {
    let cred = *current().cred.lock();
    let privileged = cred.euid == 0;
    let lim = MqLimits {
        msg_max: MQ_MSG_MAX.load(Ordering::Relaxed),
        msgsize_max: MQ_MSGSIZE_MAX.load(Ordering::Relaxed),
    };
    let attr = attr.unwrap_or(MqAttr {
        maxmsg: MQ_MSG_DEFAULT.load(Ordering::Relaxed).min(lim.msg_max) as i64,
        msgsize: MQ_MSGSIZE_DEFAULT
            .load(Ordering::Relaxed)
            .min(lim.msgsize_max) as i64,
        ..Default::default()
    });
    mq_attr_ok(&attr, lim, privileged)?;
    let count = MQ_QUEUES_COUNT.fetch_add(1, Ordering::Relaxed);
    if count >= MQ_QUEUES_MAX.load(Ordering::Relaxed) && !privileged {
        MQ_QUEUES_COUNT.fetch_sub(1, Ordering::Relaxed);
        return Err(ENOSPC);
    }
    let bytes = mq_bytes(&attr);
    let limit = current().signal.rlim.lock()[RLIMIT_MSGQUEUE][0];
    {
        let mut users = MQ_USER_BYTES.lock();
        let used = users.entry(cred.uid).or_insert(0);
        match used.checked_add(bytes) {
            Some(total) if total <= limit => *used = total,
            _ => {
                MQ_QUEUES_COUNT.fetch_sub(1, Ordering::Relaxed);
                return Err(EMFILE);
            }
        }
    }
    let info = MqueueInfo {
        maxmsg: attr.maxmsg as usize,
        msgsize: attr.msgsize as usize,
        inner: Mutex::new(MqInner {
            msgs: MsgTree::default(),
            waiters: [VecDeque::new(), VecDeque::new()],
            notify: None,
        }),
        poll_wait: Arc::new(WaitQueue::new()),
        user: cred.uid,
        charged: bytes,
    };
    Ok(Inode::new(
        sb,
        InodeMeta::new(S_IFREG | (mode & 0o7777)),
        info,
    ))
}

/// An open queue (`mqueue_file_operations`).
struct MqueueFile;

impl FileOps for MqueueFile {
    fn read(&self, file: &File, buf: &mut [u8], pos: &mut u64) -> KResult<usize> {
        let Some(info) = mq_info(&file.inode) else {
            return Err(EINVAL);
        };
        let line = {
            let g = info.inner.lock();
            mqueue_file_line(g.msgs.qsize, g.notify.map(|n| (n.how, n.signo, n.owner)))
        };
        let start = (*pos as usize).min(line.len());
        let n = buf.len().min(line.len() - start);
        buf[..n].copy_from_slice(&line.as_bytes()[start..start + n]);
        *pos += n as u64;
        if n > 0 {
            touch_times(&file.inode, false);
        }
        Ok(n)
    }

    fn poll(&self, file: &File, pt: Option<&mut PollTable>) -> u16 {
        let Some(info) = mq_info(&file.inode) else {
            return 0;
        };
        if let Some(pt) = pt {
            pt.poll_wait(&info.poll_wait);
        }
        let g = info.inner.lock();
        let mut mask = 0;
        if !g.msgs.is_empty() {
            mask |= POLLIN | POLLRDNORM;
        }
        if g.msgs.len() < info.maxmsg {
            mask |= POLLOUT | POLLWRNORM;
        }
        mask
    }

    /// A process's registration goes when it closes the queue (`mqueue_flush_file`).
    fn release(&self, file: &File) {
        if let Some(info) = mq_info(&file.inode) {
            let mut g = info.inner.lock();
            if g.notify.is_some_and(|n| n.owner == current().tgid) {
                g.notify = None;
            }
        }
    }
}

/// atime and ctime change on every operation, mtime when the contents do.
fn touch_times(inode: &Inode, contents: bool) {
    let now = current_time();
    let mut m = inode.meta.lock();
    m.atime = now;
    m.ctime = now;
    if contents {
        m.mtime = now;
    }
}

/// The open queue behind `fd`: EBADF for anything else.
fn mq_fdget(fd: u64) -> KResult<FileRef> {
    let file = fdget(fd as i32 as u64)?;
    mq_info(&file.inode).ok_or(EBADF)?;
    Ok(file)
}

fn info_of(file: &File) -> &MqueueInfo {
    mq_info(&file.inode).expect("checked by mq_fdget")
}

fn read_attr(addr: u64) -> KResult<MqAttr> {
    let mut b = [0u8; MQ_ATTR_SIZE];
    copy_from_user(&mut b, addr)?;
    Ok(MqAttr::from_user(&b))
}

/// A queue name as `lookup_one_len` takes it: one non-empty component other than `.` and
/// `..` (EACCES), at most NAME_MAX bytes (ENAMETOOLONG).
fn check_name(name: &str) -> KResult<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(EACCES);
    }
    if name.len() > NAME_MAX {
        return Err(ENAMETOOLONG);
    }
    Ok(())
}

pub fn sys_mq_open(u_name: u64, oflag: u64, mode: u64, u_attr: u64) -> KResult<i64> {
    let attr = if u_attr != 0 {
        Some(read_attr(u_attr)?)
    } else {
        None
    };
    let name = getname(u_name)?;
    if name.is_empty() {
        return Err(ENOENT); // getname's rule for ""
    }
    check_name(&name)?;
    let oflag = oflag as u32;
    let mnt = mq_mnt();
    let w = walker();
    let (dentry, inode) = {
        let _dir = MQ_DIR_LOCK.lock();
        let dentry = mnt.root.lookup(&name)?;
        let inode = match dentry.inode() {
            Some(_) if oflag & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL => return Err(EEXIST),
            Some(inode) => {
                let mask = match oflag & O_ACCMODE {
                    O_RDONLY => 4,
                    O_WRONLY => 2,
                    O_RDWR => 6,
                    _ => return Err(EINVAL),
                };
                inode.permission(w.fsuid, w.fsgid, mask)?;
                inode
            }
            None if oflag & O_CREAT == 0 => return Err(ENOENT),
            None => {
                if oflag & O_ACCMODE == O_ACCMODE {
                    return Err(EINVAL);
                }
                let dir = mnt.root.positive()?;
                dir.permission(w.fsuid, w.fsgid, 3)?;
                let umask = current().fs().lock().umask;
                let inode = mqueue_get_inode(&mnt.sb, mode as u32 & !umask, attr)?;
                {
                    let mut m = inode.meta.lock();
                    m.uid = w.fsuid;
                    m.gid = w.fsgid;
                }
                dir.touch_mtime();
                dentry.instantiate(inode.clone());
                inode
            }
        };
        (dentry, inode)
    };
    let file = File::new(Path { mnt, dentry }, inode, Arc::new(MqueueFile), oflag);
    // An mq descriptor is always closed on exec (`get_unused_fd_flags(O_CLOEXEC)`).
    let fd = current().files().lock().install(file, true)?;
    Ok(fd as i64)
}

pub fn sys_mq_unlink(u_name: u64) -> KResult<i64> {
    let name = getname(u_name)?;
    if name.is_empty() {
        return Err(ENOENT);
    }
    check_name(&name)?;
    let mnt = mq_mnt();
    let _dir = MQ_DIR_LOCK.lock();
    let last = crate::fs::namei::Last {
        parent: Path {
            dentry: mnt.root.clone(),
            mnt,
        },
        name,
        trailing_slash: false,
    };
    // Open descriptors keep the queue until their last close (`vfs_unlink`).
    walker().unlink(&last)?;
    Ok(0)
}

/// An absolute CLOCK_REALTIME timeout as a deadline in ns since boot (`prepare_timeout`).
fn abs_deadline(u_abs_timeout: u64) -> KResult<Option<u64>> {
    if u_abs_timeout == 0 {
        return Ok(None);
    }
    let ts = crate::kernel::time::read_timespec(u_abs_timeout)?;
    Ok(Some(
        ts.saturating_sub(crate::kernel::time::realtime_offset_ns()),
    ))
}

/// Sleep in our entry of `waiters[kind]` until a partner marks it ready (`wq_sleep`):
/// `ERESTARTSYS` on a signal (restarted under SA_RESTART, the deadline being absolute),
/// `ETIMEDOUT` at the deadline. Returns what the partner left in the entry.
fn wq_sleep(
    info: &MqueueInfo,
    kind: usize,
    deadline: Option<u64>,
    id: u64,
) -> KResult<Option<(u32, Vec<u8>)>> {
    super::sleep_on_entry(deadline, |abort| {
        let mut g = info.inner.lock();
        let q = &mut g.waiters[kind];
        let i = q.iter().position(|w| w.id == id).expect("queued");
        if q[i].ready {
            return Some(Ok(q.remove(i).and_then(|w| w.msg)));
        }
        let e = abort?;
        q.remove(i);
        Some(Err(e))
    })
}

/// The registration to fire now that a message arrived on an empty queue nobody was
/// waiting on (`__do_notify`); it is dropped either way, a notification fires once.
fn take_notification(g: &mut MqInner) -> Option<(TaskRef, KSigInfo)> {
    if g.msgs.len() != 1 {
        return None;
    }
    let n = g.notify.take()?;
    if n.how != SIGEV_SIGNAL || n.signo == 0 {
        return None;
    }
    let task = crate::kernel::tasklist::find_process(n.owner)?;
    let me = current();
    let info = KSigInfo {
        signo: n.signo as u32,
        code: SI_MESGQ,
        pid: me.tgid,
        uid: me.cred.lock().uid,
        addr: n.value,
        ..Default::default()
    };
    Some((task, info))
}

pub fn sys_mq_timedsend(
    mqdes: u64,
    u_msg_ptr: u64,
    msg_len: u64,
    msg_prio: u64,
    u_abs_timeout: u64,
) -> KResult<i64> {
    let deadline = abs_deadline(u_abs_timeout)?;
    let prio = msg_prio as u32;
    if prio >= MQ_PRIO_MAX {
        return Err(EINVAL);
    }
    let file = mq_fdget(mqdes)?;
    let info = info_of(&file);
    if !file.writable() {
        return Err(EBADF);
    }
    if msg_len > info.msgsize as u64 {
        return Err(EMSGSIZE);
    }
    let mut text = vec![0u8; msg_len as usize];
    copy_from_user(&mut text, u_msg_ptr)?;
    let mut g = info.inner.lock();
    if g.msgs.len() >= info.maxmsg {
        if file.nonblocking() {
            return Err(EAGAIN);
        }
        let id = new_waiter_id();
        g.waiters[SEND].push_back(ExtWait {
            id,
            task: current_arc(),
            msg: Some((prio, text)),
            ready: false,
        });
        drop(g);
        wq_sleep(info, SEND, deadline, id)?;
        return Ok(0);
    }
    let mut notify = None;
    if let Some(w) = g.first_waiter(RECV) {
        // `pipelined_send`: straight to the receiver, the queue stays empty.
        w.msg = Some((prio, text));
        w.ready = true;
        crate::sched::wake_up_state(&w.task, TASK_INTERRUPTIBLE);
        drop(g);
    } else {
        g.msgs.insert(prio, text);
        notify = take_notification(&mut g);
        drop(g);
        info.poll_wait.wake_up_all();
    }
    touch_times(&file.inode, true);
    if let Some((task, si)) = notify {
        send_signal(&task, si, true);
    }
    Ok(0)
}

pub fn sys_mq_timedreceive(
    mqdes: u64,
    u_msg_ptr: u64,
    msg_len: u64,
    u_msg_prio: u64,
    u_abs_timeout: u64,
) -> KResult<i64> {
    let deadline = abs_deadline(u_abs_timeout)?;
    let file = mq_fdget(mqdes)?;
    let info = info_of(&file);
    if !file.readable() {
        return Err(EBADF);
    }
    if msg_len < info.msgsize as u64 {
        return Err(EMSGSIZE);
    }
    let mut g = info.inner.lock();
    let (prio, text) = if let Some(msg) = g.msgs.get() {
        // `pipelined_receive`: the first waiting sender's message takes the freed slot.
        if let Some(w) = g.first_waiter(SEND) {
            let (p, t) = w.msg.take().expect("a waiting sender holds its message");
            w.ready = true;
            crate::sched::wake_up_state(&w.task, TASK_INTERRUPTIBLE);
            g.msgs.insert(p, t);
            drop(g);
        } else {
            drop(g);
            info.poll_wait.wake_up_all();
        }
        touch_times(&file.inode, true);
        msg
    } else {
        if file.nonblocking() {
            return Err(EAGAIN);
        }
        let id = new_waiter_id();
        g.waiters[RECV].push_back(ExtWait {
            id,
            task: current_arc(),
            msg: None,
            ready: false,
        });
        drop(g);
        wq_sleep(info, RECV, deadline, id)?.expect("a sender hands over its message")
    };
    // Taken off the queue already: a bad buffer loses the message, as in Linux.
    if u_msg_prio != 0 {
        write_user(u_msg_prio, &prio)?;
    }
    copy_to_user(u_msg_ptr, &text)?;
    Ok(text.len() as i64)
}

pub fn sys_mq_notify(mqdes: u64, u_notification: u64) -> KResult<i64> {
    let notification = if u_notification != 0 {
        // `struct sigevent`: sigev_value, sigev_signo, sigev_notify, then the union.
        let mut b = [0u8; 16];
        copy_from_user(&mut b, u_notification)?;
        let n = Notify {
            owner: current().tgid,
            value: u64::from_le_bytes(b[0..8].try_into().unwrap()),
            signo: i32::from_le_bytes(b[8..12].try_into().unwrap()),
            how: i32::from_le_bytes(b[12..16].try_into().unwrap()),
        };
        match n.how {
            SIGEV_NONE => {}
            SIGEV_SIGNAL if (0..=64).contains(&n.signo) => {}
            // SIGEV_THREAD names a netlink socket to notify through; we have none.
            SIGEV_THREAD => {
                let sock = fdget(n.signo as u32 as u64)?;
                return Err(if sock.inode.file_type() == S_IFSOCK {
                    ECONNREFUSED
                } else {
                    ENOTSOCK
                });
            }
            _ => return Err(EINVAL),
        }
        Some(n)
    } else {
        None
    };
    let file = mq_fdget(mqdes)?;
    let info = info_of(&file);
    let mut g = info.inner.lock();
    let me = current().tgid;
    match notification {
        None => {
            if g.notify.is_some_and(|n| n.owner == me) {
                g.notify = None;
            }
        }
        Some(_) if g.notify.is_some() => return Err(EBUSY),
        Some(n) => g.notify = Some(n),
    }
    drop(g);
    touch_times(&file.inode, false);
    Ok(0)
}

pub fn sys_mq_getsetattr(mqdes: u64, u_mqstat: u64, u_omqstat: u64) -> KResult<i64> {
    let new = if u_mqstat != 0 {
        let a = read_attr(u_mqstat)?;
        if a.flags & !(O_NONBLOCK as i64) != 0 {
            return Err(EINVAL);
        }
        Some(a)
    } else {
        None
    };
    let file = mq_fdget(mqdes)?;
    let old = info_of(&file).attr(file.flags());
    if let Some(a) = new {
        if a.flags & O_NONBLOCK as i64 != 0 {
            file.flags.fetch_or(O_NONBLOCK, Ordering::Relaxed);
        } else {
            file.flags.fetch_and(!O_NONBLOCK, Ordering::Relaxed);
        }
        touch_times(&file.inode, false);
    }
    if u_omqstat != 0 {
        copy_to_user(u_omqstat, &old.to_user())?;
    }
    Ok(0)
}
