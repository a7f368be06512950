//! epoll (Linux's fs/eventpoll.c): `epoll_create1`, `epoll_ctl`, `epoll_wait`,
//! `epoll_pwait`, `epoll_pwait2`.
//!
//! An epoll file keeps one item (`epitem`) per watched (file, fd) pair. At `EPOLL_CTL_ADD`
//! the item polls its file once with a poll table and hangs `ep_poll_callback` on every wait
//! queue the file names; from then on a wake-up of any of them puts the item on the ready
//! list (`rdllist`) and wakes the epoll's waiters. `epoll_wait` never polls the whole set: it
//! takes the ready list, asks just those files for their current mask (`ep_send_events`),
//! reports what the item asked for, and puts level-triggered items back on the list (an edge-
//! triggered item waits for the next wake-up; a one-shot item is disarmed until
//! `EPOLL_CTL_MOD`).
//!
//! Lock order: a file's wait-queue lock (held while callbacks run), then `EventPoll::inner`,
//! then the epoll's own queues. Nothing takes a wait-queue lock while holding `inner`, and
//! files are polled with `inner` released. An item dies with its file (`eventpoll_release`,
//! from the file's drop) or with its epoll (`release`).

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use spin::Mutex;

use super::anon_inodes::anon_inode_getfile;
use super::file::*;
use super::read_write::fdget;
use crate::arch::tsc;
use crate::kernel::errno::*;
use crate::kernel::task::{current, current_arc, TASK_INTERRUPTIBLE, TASK_RUNNING};
use crate::mm::usercopy::{access_ok, copy_to_user, read_user};
use crate::sched::wait::{new_waiter_id, WaitQueue};

pub const EPOLLIN: u32 = 0x001;
pub const EPOLLOUT: u32 = 0x004;
pub const EPOLLERR: u32 = 0x008;
pub const EPOLLHUP: u32 = 0x010;
pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
pub const EPOLLWAKEUP: u32 = 1 << 29;
pub const EPOLLONESHOT: u32 = 1 << 30;
pub const EPOLLET: u32 = 1 << 31;
/// The bits that steer epoll itself rather than name events.
const EP_PRIVATE_BITS: u32 = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE;
/// What an EPOLLEXCLUSIVE item may also ask for.
const EPOLLEXCLUSIVE_OK_BITS: u32 =
    EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE;

pub const EPOLL_CTL_ADD: u64 = 1;
pub const EPOLL_CTL_DEL: u64 = 2;
pub const EPOLL_CTL_MOD: u64 = 3;
const EPOLL_CLOEXEC: u64 = O_CLOEXEC as u64;
/// How deep epolls may nest inside each other (`EP_MAX_NESTS`).
const EP_MAX_NESTS: usize = 4;
/// `struct epoll_event` is packed on x86_64: a u32 mask and a u64 of user data.
const EVENT_SIZE: u64 = 12;
/// `EP_MAX_EVENTS`: maxevents must fit the event array in an int's worth of bytes.
const EP_MAX_EVENTS: u64 = i32::MAX as u64 / EVENT_SIZE;

/// One watched (file, descriptor) pair (`struct epitem`).
pub struct EpItem {
    /// (the file's address, the descriptor it was added as): the key in the epoll's set.
    key: (usize, i32),
    /// Not a reference: a watched file's last close removes the item (`eventpoll_release`).
    file: FileWeak,
    ep: Weak<EventPoll>,
    /// What the user asked for, private bits included; 0 events once a one-shot fired.
    events: AtomicU32,
    data: AtomicU64,
    /// On the ready list (changed under `EventPoll::inner`).
    ready: AtomicBool,
    /// Removed from its epoll: late callbacks and ready-list entries are ignored.
    dead: AtomicBool,
    /// The wait-queue entry id of the callback on each queue in `queues`.
    wait_id: u64,
    queues: Mutex<Vec<Arc<WaitQueue>>>,
}

struct EpInner {
    items: BTreeMap<(usize, i32), Arc<EpItem>>,
    rdllist: VecDeque<Arc<EpItem>>,
}

/// An epoll instance (`struct eventpoll`).
pub struct EventPoll {
    /// Guards the set and the ready list.
    inner: Mutex<EpInner>,
    /// Tasks in epoll_wait.
    wq: Arc<WaitQueue>,
    /// Pollers of the epoll file itself (poll, select, an enclosing epoll).
    poll_wait: Arc<WaitQueue>,
}

impl EventPoll {
    fn new() -> Arc<EventPoll> {
        Arc::new(EventPoll {
            inner: Mutex::new(EpInner {
                items: BTreeMap::new(),
                rdllist: VecDeque::new(),
            }),
            wq: Arc::new(WaitQueue::new()),
            poll_wait: Arc::new(WaitQueue::new()),
        })
    }

    /// Put `item` on the ready list unless it is there or gone, and wake whoever waits.
    fn make_ready(&self, item: &Arc<EpItem>) {
        {
            let mut inner = self.inner.lock();
            if item.dead.load(Ordering::Acquire) || item.ready.load(Ordering::Relaxed) {
                return;
            }
            item.ready.store(true, Ordering::Relaxed);
            inner.rdllist.push_back(item.clone());
        }
        self.wq.wake_up_all();
        self.poll_wait.wake_up_all();
    }

    /// Take `item` out of the set (`ep_remove`): off every queue, off its file's list.
    fn remove(&self, item: &Arc<EpItem>) {
        {
            let mut inner = self.inner.lock();
            item.dead.store(true, Ordering::Release);
            inner.items.remove(&item.key);
            if item.ready.swap(false, Ordering::Relaxed) {
                inner.rdllist.retain(|i| !Arc::ptr_eq(i, item));
            }
        }
        unhook(item);
        if let Some(file) = item.file.upgrade() {
            file.f_ep
                .lock()
                .retain(|w| !core::ptr::eq(w.as_ptr(), Arc::as_ptr(item)));
        }
    }

    /// Report up to `max` ready items (`ep_send_events`): each is asked for its mask now.
    fn send_events(&self, max: usize) -> Vec<(u32, u64)> {
        let txlist = {
            let mut inner = self.inner.lock();
            for item in inner.rdllist.iter() {
                item.ready.store(false, Ordering::Relaxed);
            }
            core::mem::take(&mut inner.rdllist)
        };
        let mut out = Vec::new();
        let mut again = Vec::new();
        let mut left = VecDeque::new();
        let mut items = txlist.into_iter();
        for item in items.by_ref() {
            if out.len() >= max {
                left.push_back(item);
                break;
            }
            let revents = item_poll(&item);
            if revents == 0 {
                continue;
            }
            out.push((revents, item.data.load(Ordering::Relaxed)));
            let events = item.events.load(Ordering::Relaxed);
            if events & EPOLLONESHOT != 0 {
                item.events.fetch_and(EP_PRIVATE_BITS, Ordering::Relaxed);
            } else if events & EPOLLET == 0 {
                again.push(item);
            }
        }
        left.extend(items);
        // Unreported items go back first, in order; level-triggered ones after them.
        let mut inner = self.inner.lock();
        let requeue = |item: &Arc<EpItem>| {
            !item.dead.load(Ordering::Acquire) && !item.ready.swap(true, Ordering::Relaxed)
        };
        for item in left.into_iter().rev() {
            if requeue(&item) {
                inner.rdllist.push_front(item);
            }
        }
        for item in again {
            if requeue(&item) {
                inner.rdllist.push_back(item);
            }
        }
        out
    }

    /// Whether any item on the ready list is ready now (`ep_eventpoll_poll`'s scan).
    fn has_ready(&self) -> bool {
        let list: Vec<Arc<EpItem>> = self.inner.lock().rdllist.iter().cloned().collect();
        list.iter().any(|item| item_poll(item) != 0)
    }
}

/// The events of `item` its file has now (`ep_item_poll` without a poll table).
fn item_poll(item: &EpItem) -> u32 {
    if item.dead.load(Ordering::Acquire) {
        return 0;
    }
    let Some(file) = item.file.upgrade() else {
        return 0;
    };
    let events = item.events.load(Ordering::Relaxed) & !EP_PRIVATE_BITS;
    file.ops.poll(&file, None) as u32 & events
}

/// Take the item's callback off every queue it hangs on.
fn unhook(item: &EpItem) {
    let queues = core::mem::take(&mut *item.queues.lock());
    for q in queues {
        q.remove(item.wait_id);
    }
}

/// A watched file's queue was woken (`ep_poll_callback`).
fn ep_poll_callback(item: &Weak<EpItem>) {
    let Some(item) = item.upgrade() else {
        return;
    };
    // A fired one-shot item is disarmed until EPOLL_CTL_MOD.
    if item.events.load(Ordering::Relaxed) & !EP_PRIVATE_BITS == 0 {
        return;
    }
    if let Some(ep) = item.ep.upgrade() {
        ep.make_ready(&item);
    }
}

/// The files watching list of a file that is going away (`eventpoll_release`).
pub fn eventpoll_release(items: Vec<Weak<EpItem>>) {
    for item in items.iter().filter_map(Weak::upgrade) {
        if let Some(ep) = item.ep.upgrade() {
            ep.remove(&item);
        } else {
            unhook(&item);
        }
    }
}

/// The open epoll file (`eventpoll_fops`).
struct EpollFile {
    ep: Arc<EventPoll>,
}

impl FileOps for EpollFile {
    fn seekable(&self) -> bool {
        false
    }

    fn poll(&self, _file: &File, pt: Option<&mut PollTable>) -> u16 {
        if let Some(pt) = pt {
            pt.poll_wait(&self.ep.poll_wait);
        }
        if self.ep.has_ready() {
            POLLIN | POLLRDNORM
        } else {
            0
        }
    }

    fn read(&self, _file: &File, _buf: &mut [u8], _pos: &mut u64) -> KResult<usize> {
        Err(EINVAL)
    }

    /// The epoll's last close frees the set (`ep_free`).
    fn release(&self, _file: &File) {
        let items: Vec<Arc<EpItem>> = {
            let mut inner = self.ep.inner.lock();
            inner.rdllist.clear();
            core::mem::take(&mut inner.items).into_values().collect()
        };
        for item in &items {
            item.dead.store(true, Ordering::Release);
            unhook(item);
            if let Some(file) = item.file.upgrade() {
                file.f_ep
                    .lock()
                    .retain(|w| !core::ptr::eq(w.as_ptr(), Arc::as_ptr(item)));
            }
        }
    }

    fn as_any(&self) -> Option<&dyn core::any::Any> {
        Some(self)
    }
}

fn as_epoll(file: &File) -> Option<&Arc<EventPoll>> {
    Some(&file.ops.as_any()?.downcast_ref::<EpollFile>()?.ep)
}

pub fn sys_epoll_create1(flags: u64) -> KResult<i64> {
    if flags & !EPOLL_CLOEXEC != 0 {
        return Err(EINVAL);
    }
    let file = anon_inode_getfile(
        "eventpoll",
        Arc::new(EpollFile {
            ep: EventPoll::new(),
        }),
        O_RDWR,
    );
    let fd = current()
        .files()
        .lock()
        .install(file, flags & EPOLL_CLOEXEC != 0)?;
    Ok(fd as i64)
}

pub fn sys_epoll_create(size: u64) -> KResult<i64> {
    if size as i32 <= 0 {
        return Err(EINVAL);
    }
    sys_epoll_create1(0)
}

/// Whether adding epoll `to` into `ep` would close a loop or nest too deep
/// (`ep_loop_check_proc`): walks the epolls inside `to`.
fn ep_loop_check(ep: &EventPoll, to: &EventPoll, depth: usize) -> bool {
    if core::ptr::eq(ep, to) || depth > EP_MAX_NESTS {
        return true;
    }
    let inner: Vec<FileRef> = to
        .inner
        .lock()
        .items
        .values()
        .filter_map(|i| i.file.upgrade())
        .collect();
    inner
        .iter()
        .filter_map(|f| as_epoll(f))
        .any(|sub| ep_loop_check(ep, sub, depth + 1))
}

/// Add `file` as `fd` to the set (`ep_insert`).
fn ep_insert(ep: &Arc<EventPoll>, file: &FileRef, fd: i32, events: u32, data: u64) {
    let item = Arc::new(EpItem {
        key: (Arc::as_ptr(file) as usize, fd),
        file: Arc::downgrade(file),
        ep: Arc::downgrade(ep),
        events: AtomicU32::new(events),
        data: AtomicU64::new(data),
        ready: AtomicBool::new(false),
        dead: AtomicBool::new(false),
        wait_id: new_waiter_id(),
        queues: Mutex::new(Vec::new()),
    });
    ep.inner.lock().items.insert(item.key, item.clone());
    file.f_ep.lock().push(Arc::downgrade(&item));
    // Poll once with a table to learn the queues, then hang the callback on each.
    let mut pt = PollTable::default();
    let revents = file.ops.poll(file, Some(&mut pt)) as u32;
    let weak = Arc::downgrade(&item);
    let cb: Arc<dyn Fn() + Send + Sync> = Arc::new(move || ep_poll_callback(&weak));
    for q in &pt.queues {
        q.add_callback(item.wait_id, cb.clone());
    }
    *item.queues.lock() = pt.queues;
    if revents & events & !EP_PRIVATE_BITS != 0 {
        ep.make_ready(&item);
    }
}

/// Change what an item asks for (`ep_modify`), and report it at once if it is ready.
fn ep_modify(ep: &EventPoll, item: &Arc<EpItem>, events: u32, data: u64) {
    item.data.store(data, Ordering::Relaxed);
    item.events.store(events, Ordering::Release);
    if item_poll(item) != 0 {
        ep.make_ready(item);
    }
}

pub fn sys_epoll_ctl(epfd: u64, op: u64, fd: u64, event: u64) -> KResult<i64> {
    let (mut events, data) = if op != EPOLL_CTL_DEL {
        let raw: [u8; 12] = read_user(event)?;
        (
            u32::from_ne_bytes(raw[..4].try_into().expect("4 bytes")),
            u64::from_ne_bytes(raw[4..].try_into().expect("8 bytes")),
        )
    } else {
        (0, 0)
    };
    let epf = fdget(epfd)?;
    let tf = fdget(fd)?;
    // Regular files and directories are always ready and have no poll (`file_can_poll`).
    if tf.inode.is_reg() || tf.inode.is_dir() {
        return Err(EPERM);
    }
    if Arc::ptr_eq(&epf, &tf) {
        return Err(EINVAL);
    }
    let ep = as_epoll(&epf).ok_or(EINVAL)?.clone();
    let target_ep = as_epoll(&tf);
    if op != EPOLL_CTL_DEL && events & EPOLLEXCLUSIVE != 0 {
        let bad_add = target_ep.is_some() || events & !EPOLLEXCLUSIVE_OK_BITS != 0;
        if op == EPOLL_CTL_MOD || (op == EPOLL_CTL_ADD && bad_add) {
            return Err(EINVAL);
        }
    }
    // Only root may keep the system awake (CAP_BLOCK_SUSPEND); others lose the bit quietly.
    if current().cred.lock().euid != 0 {
        events &= !EPOLLWAKEUP;
    }
    if op == EPOLL_CTL_ADD {
        if let Some(to) = target_ep {
            if ep_loop_check(&ep, to, 1) {
                return Err(ELOOP);
            }
        }
    }
    let key = (Arc::as_ptr(&tf) as usize, fd as i32);
    let found = ep.inner.lock().items.get(&key).cloned();
    match (op, found) {
        (EPOLL_CTL_ADD, Some(_)) => Err(EEXIST),
        (EPOLL_CTL_ADD, None) => {
            ep_insert(&ep, &tf, fd as i32, events | EPOLLERR | EPOLLHUP, data);
            Ok(0)
        }
        (EPOLL_CTL_DEL, Some(item)) => {
            ep.remove(&item);
            Ok(0)
        }
        (EPOLL_CTL_MOD, Some(item)) => {
            if item.events.load(Ordering::Relaxed) & EPOLLEXCLUSIVE != 0 {
                return Err(EINVAL);
            }
            ep_modify(&ep, &item, events | EPOLLERR | EPOLLHUP, data);
            Ok(0)
        }
        (EPOLL_CTL_DEL | EPOLL_CTL_MOD, None) => Err(ENOENT),
        _ => Err(EINVAL),
    }
}

/// Wait for events on `ep` and copy up to `maxevents` of them to `uevents` (`ep_poll`):
/// until one is ready, a signal arrives (EINTR, never restarted) or `deadline` passes.
fn ep_poll(ep: &EventPoll, uevents: u64, maxevents: usize, deadline: Option<u64>) -> KResult<i64> {
    let task = current_arc();
    let timer = super::select::wakeup_timer(&task, deadline);
    let id = new_waiter_id();
    let result = loop {
        if !ep.inner.lock().rdllist.is_empty() {
            let events = ep.send_events(maxevents);
            if !events.is_empty() {
                break copy_events(uevents, &events);
            }
        }
        if deadline.is_some_and(|d| tsc::ns_since_boot() >= d) {
            break Ok(0);
        }
        if crate::kernel::signal::signal_pending(&task) {
            break Err(EINTR);
        }
        // Queued and asleep before the last look, so a callback in between wakes us.
        task.state.store(TASK_INTERRUPTIBLE, Ordering::SeqCst);
        ep.wq.add_poller(id);
        let idle = ep.inner.lock().rdllist.is_empty()
            && !crate::kernel::signal::signal_pending(&task)
            && !deadline.is_some_and(|d| tsc::ns_since_boot() >= d);
        if idle {
            crate::sched::schedule();
        }
        task.state.store(TASK_RUNNING, Ordering::SeqCst);
    };
    ep.wq.remove(id);
    if let Some(t) = timer {
        let _ = t.cancel();
    }
    result
}

/// Write `struct epoll_event`s: what fits before a fault counts, EFAULT if none did.
fn copy_events(uevents: u64, events: &[(u32, u64)]) -> KResult<i64> {
    for (i, (mask, data)) in events.iter().enumerate() {
        let mut raw = [0u8; 12];
        raw[..4].copy_from_slice(&mask.to_ne_bytes());
        raw[4..].copy_from_slice(&data.to_ne_bytes());
        if let Err(e) = copy_to_user(uevents + i as u64 * EVENT_SIZE, &raw) {
            return if i == 0 { Err(e) } else { Ok(i as i64) };
        }
    }
    Ok(events.len() as i64)
}

/// The checks every epoll_wait variant makes (`do_epoll_wait`), then the wait.
fn do_epoll_wait(epfd: u64, uevents: u64, maxevents: u64, deadline: Option<u64>) -> KResult<i64> {
    let maxevents = maxevents as i32;
    if maxevents <= 0 || maxevents as u64 > EP_MAX_EVENTS {
        return Err(EINVAL);
    }
    if !access_ok(uevents, maxevents as usize * EVENT_SIZE as usize) {
        return Err(EFAULT);
    }
    let file = fdget(epfd)?;
    let ep = as_epoll(&file).ok_or(EINVAL)?;
    ep_poll(ep, uevents, maxevents as usize, deadline)
}

/// A timeout in milliseconds (negative: none) as a deadline.
fn ms_deadline(timeout: u64) -> Option<u64> {
    let ms = timeout as i32;
    (ms >= 0).then(|| tsc::ns_since_boot().saturating_add(ms as u64 * 1_000_000))
}

pub fn sys_epoll_wait(epfd: u64, events: u64, maxevents: u64, timeout: u64) -> KResult<i64> {
    do_epoll_wait(epfd, events, maxevents, ms_deadline(timeout))
}

/// Run `f` with `sigmask` installed, as epoll_pwait does: the old mask comes back on return
/// unless EINTR lets a handler run with the temporary one first.
fn with_sigmask(sigmask: u64, sigsetsize: u64, f: impl FnOnce() -> KResult<i64>) -> KResult<i64> {
    if sigmask == 0 {
        return f();
    }
    if sigsetsize != 8 {
        return Err(EINVAL);
    }
    let mask: u64 = read_user(sigmask)?;
    crate::kernel::signal::set_temporary_mask(mask);
    let r = f();
    crate::kernel::signal::restore_temporary_mask(r == Err(EINTR));
    r
}

pub fn sys_epoll_pwait(
    epfd: u64,
    events: u64,
    maxevents: u64,
    timeout: u64,
    sigmask: u64,
    sigsetsize: u64,
) -> KResult<i64> {
    with_sigmask(sigmask, sigsetsize, || {
        do_epoll_wait(epfd, events, maxevents, ms_deadline(timeout))
    })
}

/// epoll_pwait with a `timespec` timeout (NULL: none).
pub fn sys_epoll_pwait2(
    epfd: u64,
    events: u64,
    maxevents: u64,
    timeout: u64,
    sigmask: u64,
    sigsetsize: u64,
) -> KResult<i64> {
    let deadline = super::select::UserTimeout::read(timeout, false)?.map(|t| t.deadline);
    with_sigmask(sigmask, sigsetsize, || {
        do_epoll_wait(epfd, events, maxevents, deadline)
    })
}
