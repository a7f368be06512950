//! System V semaphores (Linux's ipc/sem.c): `semget`, `semop`/`semtimedop`, `semctl`, and the
//! SEM_UNDO adjustments applied when a process exits (`exit_sem`).
//!
//! A set's values, pids and sleepers' blocking operations sit under the set's lock. A
//! sleeper retries its whole call each time the set changes (`semutil` decides); while it
//! sleeps it is listed as waiting on the semaphore its call blocks on, which GETNCNT and
//! GETZCNT count. Undo adjustments are kept per process (thread group), by set identifier,
//! like Linux's `sem_undo_list` shared under CLONE_SYSVSEM; fork starts the child without
//! any, execve keeps them. Lock order: the registry, a set, the undo lists.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use super::semutil::*;
use super::util::*;
use super::{current_creds, ktime_get_real_seconds, now_ns, read_timespec, wait_event_deadline};
use crate::kernel::errno::*;
use crate::kernel::task::{current, Pid};
use crate::mm::usercopy::{copy_from_user, copy_to_user};
use crate::sched::wait::{new_waiter_id, WaitQueue};

/// `kernel.sem`: SEMMSL, SEMMNS, SEMOPM, SEMMNI (Linux's defaults).
pub static SEM_CTLS: [AtomicU64; 4] = [
    AtomicU64::new(32000),
    AtomicU64::new(1_024_000_000),
    AtomicU64::new(500),
    AtomicU64::new(32000),
];

const GETPID: i32 = 11;
const GETVAL: i32 = 12;
const GETALL: i32 = 13;
const GETNCNT: i32 = 14;
const GETZCNT: i32 = 15;
const SETVAL: i32 = 16;
const SETALL: i32 = 17;
const SEM_STAT: i32 = 18;
const SEM_INFO: i32 = 19;
const SEM_STAT_ANY: i32 = 20;
/// `struct semid64_ds` on x86_64.
const SEMID64_DS_SIZE: usize = 104;

fn semmsl() -> usize {
    SEM_CTLS[0].load(Ordering::Relaxed) as usize
}

pub struct SemArray {
    pub inner: Mutex<SemInner>,
    wait: WaitQueue,
}

pub struct SemInner {
    pub perm: KernIpcPerm,
    deleted: bool,
    pub vals: Vec<i32>,
    /// The process of the last operation on each semaphore (`sempid`).
    pids: Vec<Pid>,
    pub otime: i64,
    pub ctime: i64,
    /// What each sleeper waits for: (its waiter id, the semaphore, wait-for-zero).
    sleepers: Vec<(u64, Blocked)>,
}

impl SemInner {
    fn to_user(&self) -> [u8; SEMID64_DS_SIZE] {
        let mut b = [0u8; SEMID64_DS_SIZE];
        b[..IPC64_PERM_SIZE].copy_from_slice(&self.perm.to_user());
        b[48..56].copy_from_slice(&self.otime.to_le_bytes());
        b[64..72].copy_from_slice(&self.ctime.to_le_bytes());
        b[80..88].copy_from_slice(&(self.vals.len() as u64).to_le_bytes());
        b
    }

    /// GETNCNT / GETZCNT (`count_semcnt`).
    fn count(&self, num: u16, zero: bool) -> usize {
        self.sleepers
            .iter()
            .filter(|(_, b)| b.num == num && b.zero == zero)
            .count()
    }
}

pub static SEM_IDS: Mutex<IpcIds<SemArray>> = Mutex::new(IpcIds::new());

/// Each process's undo adjustments: by thread-group id, then by set identifier.
static UNDO: Mutex<BTreeMap<Pid, BTreeMap<i32, Vec<i32>>>> = Mutex::new(BTreeMap::new());

fn find(semid: i32) -> KResult<Arc<SemArray>> {
    SEM_IDS.lock().find(semid)
}

pub fn sys_semget(key: u64, nsems: u64, semflg: u64) -> KResult<i64> {
    let (key, nsems, flg) = (key as i32, nsems as i32, semflg as u32);
    if nsems < 0 || nsems as usize > semmsl() {
        return Err(EINVAL);
    }
    let creds = current_creds();
    let mni = SEM_CTLS[3].load(Ordering::Relaxed) as usize;
    let id = SEM_IDS.lock().ipcget(
        key,
        flg,
        mni,
        |s| {
            let g = s.inner.lock();
            if (nsems as usize) > g.vals.len() {
                return Err(EINVAL);
            }
            g.perm.ipcperms(creds, flg)
        },
        |id| {
            if nsems == 0 {
                return Err(EINVAL);
            }
            let perm = KernIpcPerm::new(key, id, flg, creds);
            Ok(Arc::new(SemArray {
                inner: Mutex::new(SemInner {
                    perm,
                    deleted: false,
                    vals: vec![0; nsems as usize],
                    pids: vec![0; nsems as usize],
                    otime: 0,
                    ctime: ktime_get_real_seconds(),
                    sleepers: Vec::new(),
                }),
                wait: WaitQueue::new(),
            }))
        },
    )?;
    Ok(id as i64)
}

pub fn sys_semop(semid: u64, tsops: u64, nsops: u64) -> KResult<i64> {
    sys_semtimedop(semid, tsops, nsops, 0)
}

pub fn sys_semtimedop(semid: u64, tsops: u64, nsops: u64, timeout: u64) -> KResult<i64> {
    let semid = semid as i32;
    if semid < 0 || nsops < 1 {
        return Err(EINVAL);
    }
    if nsops > SEM_CTLS[2].load(Ordering::Relaxed) {
        return Err(E2BIG);
    }
    let mut raw = vec![0u8; nsops as usize * 6];
    copy_from_user(&mut raw, tsops)?;
    let sops: Vec<Sembuf> = raw
        .chunks_exact(6)
        .map(|c| Sembuf {
            num: u16::from_le_bytes([c[0], c[1]]),
            op: i16::from_le_bytes([c[2], c[3]]),
            flg: i16::from_le_bytes([c[4], c[5]]),
        })
        .collect();
    let deadline = match timeout {
        0 => None,
        t => Some(now_ns().saturating_add(read_timespec(t)?)),
    };
    let undo = sops.iter().any(|s| s.flg & SEM_UNDO != 0);
    let alter = sops.iter().any(|s| s.op != 0);
    let max_num = sops.iter().map(|s| s.num).max().unwrap_or(0);
    let sma = find(semid)?;
    {
        let g = sma.inner.lock();
        if max_num as usize >= g.vals.len() {
            return Err(EFBIG);
        }
        g.perm
            .ipcperms(current_creds(), if alter { 0o222 } else { 0o444 })?;
    }
    let tgid = current().tgid;
    let me = new_waiter_id();
    let mut result = Ok(());
    let waited = wait_event_deadline(&sma.wait, deadline, || {
        let mut g = sma.inner.lock();
        g.sleepers.retain(|(id, _)| *id != me);
        if g.deleted {
            result = Err(EIDRM);
            return true;
        }
        let mut lists = UNDO.lock();
        let adj = undo.then(|| {
            let n = g.vals.len();
            lists
                .entry(tgid)
                .or_default()
                .entry(semid)
                .or_insert_with(|| vec![0; n])
                .as_mut_slice()
        });
        match perform_atomic_semop(&mut g.vals, &sops, adj) {
            Ok(SemopOutcome::Done) => {
                for s in &sops {
                    g.pids[s.num as usize] = tgid;
                }
                g.otime = ktime_get_real_seconds();
                result = Ok(());
                true
            }
            Ok(SemopOutcome::Blocked(b)) => {
                g.sleepers.push((me, b));
                false
            }
            Err(e) => {
                result = Err(e);
                true
            }
        }
    });
    if waited.is_err() {
        sma.inner.lock().sleepers.retain(|(id, _)| *id != me);
    }
    match waited {
        Ok(()) => {}
        // semop is never restarted; a timeout is EAGAIN.
        Err(ERESTARTSYS) => return Err(EINTR),
        Err(ETIMEDOUT) => return Err(EAGAIN),
        Err(e) => return Err(e),
    }
    result?;
    if alter {
        sma.wait.wake_up_all();
    }
    Ok(0)
}

/// Forget every process's adjustments of semaphore `num` of `semid` (all of them for None),
/// as SETVAL and SETALL do.
fn clear_undo(semid: i32, num: Option<usize>) {
    for sets in UNDO.lock().values_mut() {
        if let Some(adj) = sets.get_mut(&semid) {
            match num {
                Some(n) => adj[n] = 0,
                None => adj.fill(0),
            }
        }
    }
}

/// Apply the exiting process's SEM_UNDO adjustments (`exit_sem`), once its last thread is
/// gone; sets removed since are skipped.
pub fn exit_sem(tgid: Pid) {
    let Some(sets) = UNDO.lock().remove(&tgid) else {
        return;
    };
    for (semid, adj) in sets {
        let Ok(sma) = find(semid) else {
            continue;
        };
        {
            let mut g = sma.inner.lock();
            if g.deleted {
                continue;
            }
            apply_undo(&mut g.vals, &adj);
            for (pid, a) in g.pids.iter_mut().zip(&adj) {
                if *a != 0 {
                    *pid = tgid;
                }
            }
        }
        sma.wait.wake_up_all();
    }
}

/// `struct seminfo` (IPC_INFO: the limits; SEM_INFO: with the sets and semaphores in use in
/// semusz and semaem); returns the highest index in use.
fn semctl_info(cmd: i32, buf: u64) -> KResult<i64> {
    let c = |i: usize| SEM_CTLS[i].load(Ordering::Relaxed) as i32;
    let ids = SEM_IDS.lock();
    let (semusz, semaem) = if cmd == SEM_INFO {
        let total: usize = ids.iter().map(|(_, s)| s.inner.lock().vals.len()).sum();
        (ids.in_use() as i32, total as i32)
    } else {
        (20, SEMAEM)
    };
    let max_idx = ids.max_idx().max(0);
    drop(ids);
    // semmap, semmni, semmns, semmnu, semmsl, semopm, semume, semusz, semvmx, semaem.
    let ints = [
        c(1),
        c(3),
        c(1),
        c(1),
        c(0),
        c(2),
        c(2),
        semusz,
        SEMVMX,
        semaem,
    ];
    let b: Vec<u8> = ints.iter().flat_map(|v| v.to_le_bytes()).collect();
    copy_to_user(buf, &b)?;
    Ok(max_idx as i64)
}

pub fn sys_semctl(semid: u64, semnum: u64, cmd: u64, arg: u64) -> KResult<i64> {
    let (semid, semnum, cmd) = (semid as i32, semnum as i32, cmd as i32);
    if semid < 0 {
        return Err(EINVAL);
    }
    let creds = current_creds();
    match cmd {
        IPC_INFO | SEM_INFO => return semctl_info(cmd, arg),
        SEM_STAT | SEM_STAT_ANY => {
            let (id, sma) = SEM_IDS.lock().find_idx(semid)?;
            let ds = {
                let g = sma.inner.lock();
                if cmd == SEM_STAT {
                    g.perm.ipcperms(creds, 0o444)?;
                }
                g.to_user()
            };
            copy_to_user(arg, &ds)?;
            return Ok(id as i64);
        }
        IPC_RMID => {
            let mut ids = SEM_IDS.lock();
            let sma = ids.find(semid)?;
            let mut g = sma.inner.lock();
            g.perm.may_control(creds)?;
            ids.remove(semid);
            g.deleted = true;
            drop(g);
            drop(ids);
            for sets in UNDO.lock().values_mut() {
                sets.remove(&semid);
            }
            sma.wait.wake_up_all();
            return Ok(0);
        }
        _ => {}
    }
    let sma = find(semid)?;
    let mut g = sma.inner.lock();
    let nsems = g.vals.len();
    let num = || {
        usize::try_from(semnum)
            .ok()
            .filter(|&n| n < nsems)
            .ok_or(EINVAL)
    };
    let r = match cmd {
        IPC_STAT => {
            g.perm.ipcperms(creds, 0o444)?;
            let ds = g.to_user();
            drop(g);
            copy_to_user(arg, &ds)?;
            0
        }
        IPC_SET => {
            drop(g);
            let mut ds = [0u8; SEMID64_DS_SIZE];
            copy_from_user(&mut ds, arg)?;
            let word = |o: usize| u32::from_le_bytes(ds[o..o + 4].try_into().unwrap());
            let mut g = sma.inner.lock();
            g.perm.may_control(creds)?;
            g.perm.update(word(4), word(8), word(20));
            g.ctime = ktime_get_real_seconds();
            0
        }
        GETVAL | GETPID | GETNCNT | GETZCNT => {
            let n = num()?;
            g.perm.ipcperms(creds, 0o444)?;
            match cmd {
                GETVAL => g.vals[n] as i64,
                GETPID => g.pids[n] as i64,
                GETNCNT => g.count(n as u16, false) as i64,
                _ => g.count(n as u16, true) as i64,
            }
        }
        GETALL => {
            g.perm.ipcperms(creds, 0o444)?;
            let b: Vec<u8> = g
                .vals
                .iter()
                .flat_map(|&v| (v as u16).to_le_bytes())
                .collect();
            drop(g);
            copy_to_user(arg, &b)?;
            0
        }
        SETVAL => {
            let n = num()?;
            let val = arg as i32;
            if !(0..=SEMVMX).contains(&val) {
                return Err(ERANGE);
            }
            g.perm.ipcperms(creds, 0o222)?;
            g.vals[n] = val;
            g.pids[n] = current().tgid;
            g.ctime = ktime_get_real_seconds();
            drop(g);
            clear_undo(semid, Some(n));
            sma.wait.wake_up_all();
            0
        }
        SETALL => {
            drop(g);
            let mut b = vec![0u8; nsems * 2];
            copy_from_user(&mut b, arg)?;
            let vals: Vec<i32> = b
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]) as i32)
                .collect();
            if vals.iter().any(|&v| v > SEMVMX) {
                return Err(ERANGE);
            }
            let mut g = sma.inner.lock();
            g.perm.ipcperms(creds, 0o222)?;
            if g.deleted {
                return Err(EIDRM);
            }
            g.vals.copy_from_slice(&vals);
            let tgid = current().tgid;
            g.pids.fill(tgid);
            g.ctime = ktime_get_real_seconds();
            drop(g);
            clear_undo(semid, None);
            sma.wait.wake_up_all();
            0
        }
        _ => return Err(EINVAL),
    };
    Ok(r)
}
