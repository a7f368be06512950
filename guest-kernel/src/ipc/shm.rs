//! System V shared memory (Linux's ipc/shm.c): `shmget`, `shmat`, `shmdt`, `shmctl`.
//!
//! A segment's memory is a shmem file (mm/shmem.rs) named `/SYSV<key>` whose inode number is
//! the segment's id; `shmat` maps it shared like `mmap(MAP_SHARED)` of that file, so fork
//! shares it and faults in any process find the same pages. The registry holds the file until
//! IPC_RMID; each VMA mapping it holds it too, so the number of attaches (`shm_nattch`) is
//! the number of references beyond the registry's, counted per VMA as Linux counts them. A
//! segment removed while attached keeps its slot, marked SHM_DEST with its key made private,
//! until its last VMA goes (detach, munmap, exit or exec); the pages go with the file.
//! Lock order: the registry, a segment, an mm.

use alloc::sync::{Arc, Weak};
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use super::util::*;
use super::{current_creds, ktime_get_real_seconds};
use crate::kernel::errno::*;
use crate::kernel::task::{current, Pid};
use crate::mm::mmap::{
    calc_vm_prot_bits, page_align_up, MAP_FIXED, PAGE, PROT_EXEC, PROT_READ, PROT_WRITE,
};
use crate::mm::shmem::ShmemFile;
use crate::mm::usercopy::{copy_from_user, copy_to_user};
use crate::mm::vma::{Vma, VM_MAYEXEC, VM_MAYREAD, VM_MAYSHARE, VM_MAYWRITE, VM_SHARED};

/// `kernel.shmmax`, `kernel.shmall` (pages), `kernel.shmmni` (Linux's defaults).
pub static SHM_CTLMAX: AtomicU64 = AtomicU64::new(u64::MAX - (1 << 24));
pub static SHM_CTLALL: AtomicU64 = AtomicU64::new(u64::MAX - (1 << 24));
pub static SHM_CTLMNI: AtomicU64 = AtomicU64::new(4096);

pub const SHM_RDONLY: u32 = 0o10000;
pub const SHM_RND: u32 = 0o20000;
pub const SHM_REMAP: u32 = 0o40000;
pub const SHM_EXEC: u32 = 0o100000;
/// Mode bits: removed while attached, and locked in memory.
pub const SHM_DEST: u32 = 0o1000;
pub const SHM_LOCKED: u32 = 0o2000;

const SHM_LOCK: i32 = 11;
const SHM_UNLOCK: i32 = 12;
const SHM_STAT: i32 = 13;
const SHM_INFO: i32 = 14;
const SHM_STAT_ANY: i32 = 15;
const SHMLBA: u64 = PAGE;
/// `struct shmid64_ds` on x86_64.
const SHMID64_DS_SIZE: usize = 112;

pub struct ShmSegment {
    pub inner: Mutex<ShmInner>,
    /// The file, whoever holds it; its strong count is the registry's reference (until
    /// IPC_RMID) plus one per VMA.
    file: Weak<ShmemFile>,
}

pub struct ShmInner {
    pub perm: KernIpcPerm,
    pub segsz: u64,
    pub atime: i64,
    pub dtime: i64,
    pub ctime: i64,
    pub cpid: Pid,
    pub lpid: Pid,
    /// The registry's reference; dropped by IPC_RMID.
    held: Option<Arc<ShmemFile>>,
}

impl ShmSegment {
    /// Attaches (VMAs mapping the segment).
    pub fn nattch(&self, g: &ShmInner) -> u64 {
        (self.file.strong_count() - g.held.is_some() as usize) as u64
    }

    /// Removed and no longer attached anywhere: its slot can go.
    fn is_dead(&self) -> bool {
        self.file.strong_count() == 0
    }

    /// Resident pages.
    pub fn rss_pages(&self) -> u64 {
        self.file.upgrade().map_or(0, |f| f.nr_pages())
    }

    fn to_user(&self, g: &ShmInner) -> [u8; SHMID64_DS_SIZE] {
        let mut b = [0u8; SHMID64_DS_SIZE];
        b[..IPC64_PERM_SIZE].copy_from_slice(&g.perm.to_user());
        for (i, v) in [g.segsz, g.atime as u64, g.dtime as u64, g.ctime as u64]
            .iter()
            .enumerate()
        {
            b[48 + i * 8..56 + i * 8].copy_from_slice(&v.to_le_bytes());
        }
        b[80..84].copy_from_slice(&g.cpid.to_le_bytes());
        b[84..88].copy_from_slice(&g.lpid.to_le_bytes());
        b[88..96].copy_from_slice(&self.nattch(g).to_le_bytes());
        b
    }
}

static SHM_IDS: Mutex<IpcIds<ShmSegment>> = Mutex::new(IpcIds::new());

/// The registry, with the slots of destroyed segments whose last attach is gone freed.
pub fn shm_ids() -> spin::MutexGuard<'static, IpcIds<ShmSegment>> {
    let mut ids = SHM_IDS.lock();
    ids.retain(|s| !s.is_dead());
    ids
}

pub fn sys_shmget(key: u64, size: u64, shmflg: u64) -> KResult<i64> {
    let (key, flg) = (key as i32, shmflg as u32);
    let creds = current_creds();
    let mni = SHM_CTLMNI.load(Ordering::Relaxed) as usize;
    let mut ids = shm_ids();
    let total: u64 = ids
        .iter()
        .map(|(_, s)| s.inner.lock().segsz.div_ceil(PAGE))
        .sum();
    let id = ids.ipcget(
        key,
        flg,
        mni,
        |s| {
            let g = s.inner.lock();
            if g.segsz < size {
                return Err(EINVAL);
            }
            g.perm.ipcperms(creds, flg)
        },
        |id| {
            if size < 1 || size > SHM_CTLMAX.load(Ordering::Relaxed) {
                return Err(EINVAL);
            }
            let pages = size.div_ceil(PAGE);
            if total.saturating_add(pages) > SHM_CTLALL.load(Ordering::Relaxed) {
                return Err(ENOSPC);
            }
            let perm = KernIpcPerm::new(key, id, flg, creds);
            let file = ShmemFile::new_sysv(id, key, size);
            Ok(Arc::new(ShmSegment {
                file: Arc::downgrade(&file),
                inner: Mutex::new(ShmInner {
                    perm,
                    segsz: size,
                    atime: 0,
                    dtime: 0,
                    ctime: ktime_get_real_seconds(),
                    cpid: current().tgid,
                    lpid: 0,
                    held: Some(file),
                }),
            }))
        },
    )?;
    Ok(id as i64)
}

pub fn sys_shmat(shmid: u64, shmaddr: u64, shmflg: u64) -> KResult<i64> {
    let (shmid, flg) = (shmid as i32, shmflg as u32);
    if shmid < 0 {
        return Err(EINVAL);
    }
    let mut addr = shmaddr;
    if addr & (SHMLBA - 1) != 0 {
        if flg & SHM_RND == 0 {
            return Err(EINVAL);
        }
        addr &= !(SHMLBA - 1);
        if addr == 0 && flg & SHM_REMAP != 0 {
            return Err(EINVAL);
        }
    }
    let (mut prot, mut acc) = if flg & SHM_RDONLY != 0 {
        (PROT_READ, 0o444)
    } else {
        (PROT_READ | PROT_WRITE, 0o666)
    };
    if flg & SHM_EXEC != 0 {
        prot |= PROT_EXEC;
        acc |= 0o111;
    }
    let seg = shm_ids().find(shmid)?;
    let (file, size) = {
        let g = seg.inner.lock();
        g.perm.ipcperms(current_creds(), acc)?;
        (seg.file.upgrade().ok_or(EIDRM)?, g.segsz)
    };
    let len = page_align_up(size).ok_or(EINVAL)?;
    let mm = current().mm().ok_or(EINVAL)?;
    let start = {
        let mut mm = mm.lock();
        let end = addr.checked_add(len).ok_or(EINVAL)?;
        if addr != 0 && flg & SHM_REMAP == 0 && !mm.vmas.is_free(addr, end) {
            return Err(EINVAL);
        }
        let start = mm.get_unmapped_area(addr, len, if addr != 0 { MAP_FIXED } else { 0 })?;
        if !mm
            .vmas
            .has_room_for(1 + usize::from(mm.vmas.splits_one(start, start + len)))
        {
            return Err(ENOMEM);
        }
        mm.unmap_region(start, start + len);
        let mut flags = calc_vm_prot_bits(prot) | VM_MAYREAD | VM_MAYEXEC | VM_SHARED | VM_MAYSHARE;
        if flg & SHM_RDONLY == 0 {
            flags |= VM_MAYWRITE;
        }
        mm.vmas.insert(Vma {
            start,
            end: start + len,
            flags,
            pgoff: 0,
            file: Some(file),
            image: None,
        });
        start
    };
    let mut g = seg.inner.lock();
    g.atime = ktime_get_real_seconds();
    g.lpid = current().tgid;
    Ok(start as i64)
}

pub fn sys_shmdt(shmaddr: u64) -> KResult<i64> {
    if shmaddr & (PAGE - 1) != 0 {
        return Err(EINVAL);
    }
    let mm = current().mm().ok_or(EINVAL)?;
    let shmid = {
        let mut mm = mm.lock();
        // The segment attached at `shmaddr`: a System V file mapped there from its start.
        let v = mm.vmas.find_vma(shmaddr).ok_or(EINVAL)?;
        let file = match &v.file {
            Some(f) if f.sysv.is_some() && v.start == shmaddr && v.pgoff == 0 => f.clone(),
            _ => return Err(EINVAL),
        };
        let end = shmaddr.saturating_add(page_align_up(file.sysv.map_or(0, |s| s.1)).unwrap_or(0));
        // Every piece of it (mprotect may have split it), and nothing else.
        let pieces: alloc::vec::Vec<(u64, u64)> = mm
            .vmas
            .overlapping(shmaddr, end)
            .filter(|v| v.file.as_ref().is_some_and(|f| Arc::ptr_eq(f, &file)))
            .map(|v| (v.start, v.end))
            .collect();
        for (s, e) in pieces {
            mm.unmap_region(s, e);
        }
        file.ino as i32
    };
    if let Ok(seg) = shm_ids().find(shmid) {
        let mut g = seg.inner.lock();
        g.dtime = ktime_get_real_seconds();
        g.lpid = current().tgid;
    }
    Ok(0)
}

/// IPC_INFO (`struct shminfo64`: the limits) and SHM_INFO (`struct shm_info`: what is in
/// use); both return the highest index in use.
fn shmctl_info(cmd: i32, buf: u64) -> KResult<i64> {
    let ids = shm_ids();
    let max_idx = ids.max_idx().max(0) as i64;
    let mut b = alloc::vec::Vec::new();
    if cmd == IPC_INFO {
        let mni = SHM_CTLMNI.load(Ordering::Relaxed);
        // shmmax, shmmin, shmmni, shmseg, shmall, four unused.
        for v in [
            SHM_CTLMAX.load(Ordering::Relaxed),
            1,
            mni,
            mni,
            SHM_CTLALL.load(Ordering::Relaxed),
            0,
            0,
            0,
            0,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
    } else {
        let (mut tot, mut rss) = (0u64, 0u64);
        for (_, s) in ids.iter() {
            tot += s.inner.lock().segsz.div_ceil(PAGE);
            rss += s.rss_pages();
        }
        b.extend_from_slice(&(ids.in_use() as u64).to_le_bytes());
        // shm_tot, shm_rss, shm_swp, swap_attempts, swap_successes.
        for v in [tot, rss, 0, 0, 0] {
            b.extend_from_slice(&v.to_le_bytes());
        }
    }
    drop(ids);
    copy_to_user(buf, &b)?;
    Ok(max_idx)
}

pub fn sys_shmctl(shmid: u64, cmd: u64, buf: u64) -> KResult<i64> {
    let (shmid, cmd) = (shmid as i32, cmd as i32);
    if shmid < 0 || cmd < 0 {
        return Err(EINVAL);
    }
    let creds = current_creds();
    match cmd {
        IPC_INFO | SHM_INFO => shmctl_info(cmd, buf),
        SHM_STAT | SHM_STAT_ANY | IPC_STAT => {
            let (id, seg) = if cmd == IPC_STAT {
                (shmid, shm_ids().find(shmid)?)
            } else {
                shm_ids().find_idx(shmid)?
            };
            let ds = {
                let g = seg.inner.lock();
                if cmd != SHM_STAT_ANY {
                    g.perm.ipcperms(creds, 0o444)?;
                }
                seg.to_user(&g)
            };
            copy_to_user(buf, &ds)?;
            Ok(if cmd == IPC_STAT { 0 } else { id as i64 })
        }
        IPC_SET => {
            let mut ds = [0u8; SHMID64_DS_SIZE];
            copy_from_user(&mut ds, buf)?;
            let word = |o: usize| u32::from_le_bytes(ds[o..o + 4].try_into().unwrap());
            let seg = shm_ids().find(shmid)?;
            let mut g = seg.inner.lock();
            g.perm.may_control(creds)?;
            g.perm.update(word(4), word(8), word(20));
            g.ctime = ktime_get_real_seconds();
            Ok(0)
        }
        IPC_RMID => {
            let mut ids = shm_ids();
            let seg = ids.find(shmid)?;
            let mut g = seg.inner.lock();
            g.perm.may_control(creds)?;
            let attached = seg.nattch(&g) != 0;
            let held = g.held.take();
            if !attached {
                drop(g);
                ids.remove(shmid);
            } else {
                // Attached: it lives on under a private key until the last detach.
                g.perm.mode |= SHM_DEST;
                g.perm.key = IPC_PRIVATE;
                g.ctime = ktime_get_real_seconds();
                drop(g);
                ids.set_key_private(shmid);
            }
            drop(ids);
            drop(held);
            Ok(0)
        }
        SHM_LOCK | SHM_UNLOCK => {
            let seg = shm_ids().find(shmid)?;
            let mut g = seg.inner.lock();
            g.perm.may_control(creds)?;
            // Nothing is ever swapped out: locking only sets the flag.
            if cmd == SHM_LOCK {
                g.perm.mode |= SHM_LOCKED;
            } else {
                g.perm.mode &= !SHM_LOCKED;
            }
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}
