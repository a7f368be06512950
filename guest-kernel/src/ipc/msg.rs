//! System V message queues (Linux's ipc/msg.c): `msgget`, `msgsnd`, `msgrcv`, `msgctl`.
//!
//! A queue is its perm and counters plus the message list (`msgutil`), all under the queue's
//! lock. A receiver that finds nothing to take queues an entry saying what it wants; a
//! sender hands a matching message straight to the first such receiver and wakes only it
//! (`pipelined_send`), else queues the message. Senders waiting for room sleep on their own
//! wait queue, woken when a message is taken (`ss_wakeup`). Removal wakes everyone (EIDRM).
//! As in Linux, both calls end with EINTR on a signal even under SA_RESTART. Lock order:
//! the registry, then a queue.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use super::msgutil::*;
use super::util::*;
use super::{current_creds, ktime_get_real_seconds, sleep_on_entry, wait_event_deadline};
use crate::kernel::errno::*;
use crate::kernel::task::{current, current_arc, Pid, TaskRef, TASK_INTERRUPTIBLE};
use crate::mm::usercopy::{copy_from_user, copy_to_user, read_user, write_user};
use crate::sched::wait::{new_waiter_id, WaitQueue};

/// `kernel.msgmax`, `kernel.msgmnb`, `kernel.msgmni` (Linux's defaults).
pub static MSG_CTLMAX: AtomicU64 = AtomicU64::new(8192);
pub static MSG_CTLMNB: AtomicU64 = AtomicU64::new(16384);
pub static MSG_CTLMNI: AtomicU64 = AtomicU64::new(32000);

const MSG_STAT: i32 = 11;
const MSG_INFO: i32 = 12;
const MSG_STAT_ANY: i32 = 13;
/// `struct msqid64_ds` on x86_64.
const MSQID64_DS_SIZE: usize = 120;
const MSGSSZ: i32 = 16;

pub struct MsgQueue {
    /// Everything below, under one lock (`q_perm.lock`).
    pub inner: Mutex<MsqInner>,
    /// Senders waiting for room (`q_senders`).
    senders: WaitQueue,
}

/// A receiver waiting for a message (`msg_receiver`): what it takes, and the outcome a
/// sender leaves it.
struct MsgReceiver {
    id: u64,
    task: TaskRef,
    mode: SearchMode,
    bufsz: usize,
    flg: u32,
    r_msg: Option<KResult<Msg>>,
}

pub struct MsqInner {
    pub perm: KernIpcPerm,
    /// Removed by IPC_RMID: waiters leave with EIDRM.
    deleted: bool,
    pub list: MsgList,
    /// Waiting receivers, first come first served (`q_receivers`).
    receivers: VecDeque<MsgReceiver>,
    pub qbytes: u64,
    pub stime: i64,
    pub rtime: i64,
    pub ctime: i64,
    pub lspid: Pid,
    pub lrpid: Pid,
}

impl MsqInner {
    fn to_user(&self) -> [u8; MSQID64_DS_SIZE] {
        let mut b = [0u8; MSQID64_DS_SIZE];
        b[..IPC64_PERM_SIZE].copy_from_slice(&self.perm.to_user());
        let longs = [
            self.stime as u64,
            self.rtime as u64,
            self.ctime as u64,
            self.list.cbytes,
            self.list.qnum(),
            self.qbytes,
        ];
        for (i, v) in longs.iter().enumerate() {
            b[48 + i * 8..56 + i * 8].copy_from_slice(&v.to_le_bytes());
        }
        b[96..100].copy_from_slice(&self.lspid.to_le_bytes());
        b[100..104].copy_from_slice(&self.lrpid.to_le_bytes());
        b
    }
}

pub static MSG_IDS: Mutex<IpcIds<MsgQueue>> = Mutex::new(IpcIds::new());

fn find(msqid: i32) -> KResult<Arc<MsgQueue>> {
    MSG_IDS.lock().find(msqid)
}

pub fn sys_msgget(key: u64, msgflg: u64) -> KResult<i64> {
    let (key, flg) = (key as i32, msgflg as u32);
    let creds = current_creds();
    let mni = MSG_CTLMNI.load(Ordering::Relaxed) as usize;
    let id = MSG_IDS.lock().ipcget(
        key,
        flg,
        mni,
        |q| q.inner.lock().perm.ipcperms(creds, flg),
        |id| {
            let perm = KernIpcPerm::new(key, id, flg, creds);
            Ok(Arc::new(MsgQueue {
                inner: Mutex::new(MsqInner {
                    perm,
                    deleted: false,
                    list: MsgList::default(),
                    receivers: VecDeque::new(),
                    qbytes: MSG_CTLMNB.load(Ordering::Relaxed),
                    stime: 0,
                    rtime: 0,
                    ctime: ktime_get_real_seconds(),
                    lspid: 0,
                    lrpid: 0,
                }),
                senders: WaitQueue::new(),
            }))
        },
    )?;
    Ok(id as i64)
}

/// IPC_NOWAIT is an error, else a wait interrupted by a signal is EINTR (`ERESTARTNOHAND`:
/// restarted only when no handler runs).
fn no_restart(e: Errno) -> Errno {
    if e == ERESTARTSYS {
        ERESTARTNOHAND
    } else {
        e
    }
}

pub fn sys_msgsnd(msqid: u64, msgp: u64, msgsz: u64, msgflg: u64) -> KResult<i64> {
    let (msqid, flg) = (msqid as i32, msgflg as u32);
    if msgsz > MSG_CTLMAX.load(Ordering::Relaxed) || msqid < 0 {
        return Err(EINVAL);
    }
    let mtype: i64 = read_user(msgp)?;
    if mtype < 1 {
        return Err(EINVAL);
    }
    let mut text = vec![0u8; msgsz as usize];
    copy_from_user(&mut text, msgp.wrapping_add(8))?;
    let q = find(msqid)?;
    q.inner.lock().perm.ipcperms(current_creds(), 0o222)?;
    let len = text.len();
    let mut msg = Some(Msg { mtype, text });
    let mut result = Ok(());
    wait_event_deadline(&q.senders, None, || {
        let mut g = q.inner.lock();
        if g.deleted {
            result = Err(EIDRM);
        } else if g.list.fits(len, g.qbytes) {
            let me = current().tgid;
            g.lspid = me;
            g.stime = ktime_get_real_seconds();
            if let Some(m) = pipelined_send(&mut g, msg.take().expect("sent once")) {
                g.list.push(m);
            }
        } else if flg & IPC_NOWAIT != 0 {
            result = Err(EAGAIN);
        } else {
            return false;
        }
        true
    })
    .map_err(no_restart)?;
    result.map(|_| 0)
}

/// Give `msg` to the first waiting receiver that takes its type (`pipelined_send`); a
/// receiver whose buffer is too small without MSG_NOERROR gets E2BIG instead and the next
/// one is tried. Returns the message if nobody took it.
fn pipelined_send(g: &mut MsqInner, mut msg: Msg) -> Option<Msg> {
    for r in g.receivers.iter_mut() {
        if r.r_msg.is_some() || !r.mode.matches(msg.mtype) {
            continue;
        }
        crate::sched::wake_up_state(&r.task, TASK_INTERRUPTIBLE);
        if msg.text.len() > r.bufsz && r.flg & MSG_NOERROR == 0 {
            r.r_msg = Some(Err(E2BIG));
            continue;
        }
        msg.text.truncate(r.bufsz);
        g.lrpid = r.task.tgid;
        g.rtime = ktime_get_real_seconds();
        r.r_msg = Some(Ok(msg));
        return None;
    }
    Some(msg)
}

pub fn sys_msgrcv(msqid: u64, msgp: u64, msgsz: u64, msgtyp: u64, msgflg: u64) -> KResult<i64> {
    let (msqid, flg) = (msqid as i32, msgflg as u32);
    if msqid < 0 || (msgsz as i64) < 0 {
        return Err(EINVAL);
    }
    if flg & MSG_COPY != 0 && (flg & MSG_EXCEPT != 0 || flg & IPC_NOWAIT == 0) {
        return Err(EINVAL);
    }
    let mode = convert_mode(msgtyp as i64, flg);
    let q = find(msqid)?;
    q.inner.lock().perm.ipcperms(current_creds(), 0o444)?;
    let msg = {
        let mut g = q.inner.lock();
        if g.deleted {
            return Err(EIDRM);
        }
        match g.list.take(mode, msgsz as usize, flg) {
            Ok(m) => {
                g.lrpid = current().tgid;
                g.rtime = ktime_get_real_seconds();
                drop(g);
                q.senders.wake_up_all();
                m
            }
            Err(ENOMSG) if flg & IPC_NOWAIT == 0 => {
                let id = new_waiter_id();
                g.receivers.push_back(MsgReceiver {
                    id,
                    task: current_arc(),
                    mode,
                    bufsz: msgsz as usize,
                    flg,
                    r_msg: None,
                });
                drop(g);
                sleep_on_entry(None, |abort| {
                    let mut g = q.inner.lock();
                    let i = g.receivers.iter().position(|r| r.id == id)?;
                    if let Some(r) = g.receivers[i].r_msg.take() {
                        g.receivers.remove(i);
                        return Some(r);
                    }
                    if g.deleted {
                        g.receivers.remove(i);
                        return Some(Err(EIDRM));
                    }
                    let e = abort?;
                    g.receivers.remove(i);
                    Some(Err(e))
                })
                .map_err(no_restart)?
            }
            Err(e) => return Err(e),
        }
    };
    // Taken off the queue already: a bad buffer loses the message, as in Linux.
    write_user(msgp, &msg.mtype)?;
    copy_to_user(msgp.wrapping_add(8), &msg.text)?;
    Ok(msg.text.len() as i64)
}

/// `struct msginfo` for IPC_INFO (the limits) and MSG_INFO (the limits with current use in
/// msgpool, msgmap and msgtql); returns the highest index in use.
fn msgctl_info(cmd: i32, buf: u64) -> KResult<i64> {
    let mnb = MSG_CTLMNB.load(Ordering::Relaxed) as i32;
    let mni = MSG_CTLMNI.load(Ordering::Relaxed) as i32;
    let pool = mni.saturating_mul(mnb) / 1024;
    let (mut msgpool, mut msgmap, mut msgtql) = (pool, mnb, mnb);
    let ids = MSG_IDS.lock();
    if cmd == MSG_INFO {
        msgpool = ids.in_use() as i32;
        let (mut msgs, mut bytes) = (0u64, 0u64);
        for (_, q) in ids.iter() {
            let g = q.inner.lock();
            msgs += g.list.qnum();
            bytes += g.list.cbytes;
        }
        (msgmap, msgtql) = (msgs as i32, bytes as i32);
    }
    let max_idx = ids.max_idx().max(0);
    drop(ids);
    let ints = [
        msgpool,
        msgmap,
        MSG_CTLMAX.load(Ordering::Relaxed) as i32,
        mnb,
        mni,
        MSGSSZ,
        msgtql,
    ];
    let mut b = [0u8; 32];
    for (i, v) in ints.iter().enumerate() {
        b[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
    }
    let msgseg = ((pool as i64 * 1024) / MSGSSZ as i64).min(0xffff) as u16;
    b[28..30].copy_from_slice(&msgseg.to_le_bytes());
    copy_to_user(buf, &b)?;
    Ok(max_idx as i64)
}

pub fn sys_msgctl(msqid: u64, cmd: u64, buf: u64) -> KResult<i64> {
    let (msqid, cmd) = (msqid as i32, cmd as i32);
    if msqid < 0 || cmd < 0 {
        return Err(EINVAL);
    }
    let creds = current_creds();
    match cmd {
        IPC_INFO | MSG_INFO => msgctl_info(cmd, buf),
        MSG_STAT | MSG_STAT_ANY | IPC_STAT => {
            let (id, q) = if cmd == IPC_STAT {
                (msqid, find(msqid)?)
            } else {
                MSG_IDS.lock().find_idx(msqid)?
            };
            let ds = {
                let g = q.inner.lock();
                if cmd != MSG_STAT_ANY {
                    g.perm.ipcperms(creds, 0o444)?;
                }
                g.to_user()
            };
            copy_to_user(buf, &ds)?;
            Ok(if cmd == IPC_STAT { 0 } else { id as i64 })
        }
        IPC_SET => {
            let mut ds = [0u8; MSQID64_DS_SIZE];
            copy_from_user(&mut ds, buf)?;
            let word = |o: usize| u32::from_le_bytes(ds[o..o + 4].try_into().unwrap());
            let qbytes = u64::from_le_bytes(ds[88..96].try_into().unwrap());
            let q = find(msqid)?;
            {
                let mut g = q.inner.lock();
                g.perm.may_control(creds)?;
                if qbytes > MSG_CTLMNB.load(Ordering::Relaxed) && !creds.privileged() {
                    return Err(EPERM);
                }
                g.qbytes = qbytes;
                g.perm.update(word(4), word(8), word(20));
                g.ctime = ktime_get_real_seconds();
            }
            // A larger queue may take waiting senders' messages now.
            q.senders.wake_up_all();
            Ok(0)
        }
        IPC_RMID => {
            let mut ids = MSG_IDS.lock();
            let q = ids.find(msqid)?;
            let mut g = q.inner.lock();
            g.perm.may_control(creds)?;
            ids.remove(msqid);
            g.deleted = true;
            g.list.clear();
            for r in g.receivers.iter() {
                crate::sched::wake_up_state(&r.task, TASK_INTERRUPTIBLE);
            }
            drop(g);
            drop(ids);
            q.senders.wake_up_all();
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}
