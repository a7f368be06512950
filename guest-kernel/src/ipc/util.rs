//! What the System V IPC types share (Linux's ipc/util.c and the ipc namespace's `ipc_ids`):
//! the registry of one type's objects by identifier and key, `ipcget`'s create-or-find rules,
//! the permission checks and the `ipc64_perm` that every `*ctl(IPC_STAT)` returns.
//!
//! An identifier is `seq << 15 | index`, as in Linux: the index is the lowest free slot, the
//! sequence number counts allocations, so a stale identifier of a removed object that reused
//! the slot fails with `EINVAL` instead of reaching the new object.
//!
//! Pure logic, host-tested; the registry is used under its owner's lock (each type keeps one
//! `Mutex<IpcIds<T>>`, Linux's `ids->rwsem`).

#![deny(unsafe_code)]

use alloc::collections::BTreeMap;
use alloc::sync::Arc;

use crate::kernel::errno::*;

pub const IPC_PRIVATE: i32 = 0;
pub const IPC_CREAT: u32 = 0o1000;
pub const IPC_EXCL: u32 = 0o2000;
pub const IPC_NOWAIT: u32 = 0o4000;

pub const IPC_RMID: i32 = 0;
pub const IPC_SET: i32 = 1;
pub const IPC_STAT: i32 = 2;
pub const IPC_INFO: i32 = 3;

/// Slots per type (Linux's `IPCMNI` without `ipcmni_extend`), and the shift of the sequence
/// number in an identifier.
pub const IPCMNI: usize = 32768;
const IPCMNI_SHIFT: u32 = 15;

/// The caller's identity for permission checks (from `current_cred()`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Creds {
    pub euid: u32,
    pub egid: u32,
}

impl Creds {
    /// Root holds CAP_IPC_OWNER and CAP_SYS_ADMIN.
    pub fn privileged(&self) -> bool {
        self.euid == 0
    }
}

/// An object's owner and rights (`kern_ipc_perm`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernIpcPerm {
    pub key: i32,
    pub id: i32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    /// The low nine bits are the rights; shm adds SHM_DEST and SHM_LOCKED above them.
    pub mode: u32,
    pub seq: u16,
}

/// `struct ipc64_perm` as x86_64 lays it out (48 bytes).
pub const IPC64_PERM_SIZE: usize = 48;

impl KernIpcPerm {
    /// The perm of new object `id` of `creds`, with the rights of `flg` (`ipcget_new`).
    pub fn new(key: i32, id: i32, flg: u32, creds: Creds) -> Self {
        KernIpcPerm {
            key,
            id,
            uid: creds.euid,
            gid: creds.egid,
            cuid: creds.euid,
            cgid: creds.egid,
            mode: flg & 0o777,
            seq: ipcid_to_seq(id),
        }
    }

    /// Whether `creds` may access for `flag`'s rights (`ipcperms`): the owner's, the group's
    /// or the others' bits, whichever class the caller is in; CAP_IPC_OWNER overrides.
    pub fn ipcperms(&self, creds: Creds, flag: u32) -> KResult<()> {
        let requested = (flag >> 6) | (flag >> 3) | flag;
        let mut granted = self.mode;
        if creds.euid == self.cuid || creds.euid == self.uid {
            granted >>= 6;
        } else if creds.egid == self.cgid || creds.egid == self.gid {
            granted >>= 3;
        }
        if requested & !granted & 0o7 != 0 && !creds.privileged() {
            return Err(EACCES);
        }
        Ok(())
    }

    /// May `creds` change or remove the object (`ipcctl_obtain_check`): its owner, its
    /// creator or CAP_SYS_ADMIN.
    pub fn may_control(&self, creds: Creds) -> KResult<()> {
        if creds.euid == self.uid || creds.euid == self.cuid || creds.privileged() {
            Ok(())
        } else {
            Err(EPERM)
        }
    }

    /// IPC_SET's part (`ipc_update_perm`): the owner and the rights.
    pub fn update(&mut self, uid: u32, gid: u32, mode: u32) {
        self.uid = uid;
        self.gid = gid;
        self.mode = (self.mode & !0o777) | (mode & 0o777);
    }

    /// The `ipc64_perm` user space sees.
    pub fn to_user(self) -> [u8; IPC64_PERM_SIZE] {
        let mut b = [0u8; IPC64_PERM_SIZE];
        let words = [
            self.key as u32,
            self.uid,
            self.gid,
            self.cuid,
            self.cgid,
            self.mode,
        ];
        for (i, w) in words.iter().enumerate() {
            b[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
        }
        b[24..26].copy_from_slice(&self.seq.to_le_bytes());
        b
    }
}

/// The index and sequence number in an identifier.
pub fn ipcid_to_idx(id: i32) -> usize {
    (id as u32 as usize) & (IPCMNI - 1)
}

fn ipcid_to_seq(id: i32) -> u16 {
    ((id as u32) >> IPCMNI_SHIFT) as u16
}

pub fn ipc_buildid(idx: usize, seq: u16) -> i32 {
    ((seq as i32) << IPCMNI_SHIFT) + idx as i32
}

struct Entry<T> {
    key: i32,
    seq: u16,
    obj: Arc<T>,
}

/// One type's objects (`struct ipc_ids`).
pub struct IpcIds<T> {
    entries: BTreeMap<usize, Entry<T>>,
    seq: u16,
}

impl<T> Default for IpcIds<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> IpcIds<T> {
    pub const fn new() -> Self {
        IpcIds {
            entries: BTreeMap::new(),
            seq: 0,
        }
    }

    /// How many objects exist (`in_use`).
    pub fn in_use(&self) -> usize {
        self.entries.len()
    }

    /// The highest index in use, or -1 (what IPC_INFO and MSG_INFO return).
    pub fn max_idx(&self) -> i32 {
        self.entries.keys().next_back().map_or(-1, |&i| i as i32)
    }

    /// `ipcget`: a new object for IPC_PRIVATE or an unknown key with IPC_CREAT, else the
    /// object with `key`, after `check` (the type's `more_checks` and then `ipcperms`).
    /// `create` gets the new identifier; `mni` caps how many objects may exist (ENOSPC).
    pub fn ipcget(
        &mut self,
        key: i32,
        flg: u32,
        mni: usize,
        check: impl FnOnce(&T) -> KResult<()>,
        create: impl FnOnce(i32) -> KResult<Arc<T>>,
    ) -> KResult<i32> {
        if key != IPC_PRIVATE {
            if let Some((&idx, e)) = self.entries.iter().find(|(_, e)| e.key == key) {
                if flg & IPC_CREAT != 0 && flg & IPC_EXCL != 0 {
                    return Err(EEXIST);
                }
                check(&e.obj)?;
                return Ok(ipc_buildid(idx, e.seq));
            }
            if flg & IPC_CREAT == 0 {
                return Err(ENOENT);
            }
        }
        if self.entries.len() >= mni.min(IPCMNI) {
            return Err(ENOSPC);
        }
        // The lowest free index (`idr_alloc` from 0).
        let idx = (0..IPCMNI)
            .zip(self.entries.keys().copied().chain(core::iter::once(IPCMNI)))
            .find(|(want, have)| want != have)
            .map_or(self.entries.len(), |(want, _)| want);
        let seq = self.seq;
        let id = ipc_buildid(idx, seq);
        let obj = create(id)?;
        // Wraps past `IPCID_SEQ_MAX` (INT_MAX >> 15, all of a u16).
        self.seq = seq.wrapping_add(1);
        self.entries.insert(idx, Entry { key, seq, obj });
        Ok(id)
    }

    /// The object `id` names (`ipc_obtain_object_check`): `EINVAL` if none, or if the slot
    /// now holds a later object.
    pub fn find(&self, id: i32) -> KResult<Arc<T>> {
        if id < 0 {
            return Err(EINVAL);
        }
        match self.entries.get(&ipcid_to_idx(id)) {
            Some(e) if e.seq == ipcid_to_seq(id) => Ok(e.obj.clone()),
            _ => Err(EINVAL),
        }
    }

    /// The object in slot `idx` and its identifier (`*_STAT` commands take an index).
    pub fn find_idx(&self, idx: i32) -> KResult<(i32, Arc<T>)> {
        if idx < 0 {
            return Err(EINVAL);
        }
        let e = self.entries.get(&(idx as usize)).ok_or(EINVAL)?;
        Ok((ipc_buildid(idx as usize, e.seq), e.obj.clone()))
    }

    /// Remove `id` from the registry (`ipc_rmid`); the object lives on with its holders.
    pub fn remove(&mut self, id: i32) -> Option<Arc<T>> {
        let idx = ipcid_to_idx(id);
        match self.entries.get(&idx) {
            Some(e) if e.seq == ipcid_to_seq(id) => self.entries.remove(&idx).map(|e| e.obj),
            _ => None,
        }
    }

    /// Make `id` unreachable by key (`ipc_set_key_private`: a shm segment marked for
    /// destruction while attached).
    pub fn set_key_private(&mut self, id: i32) {
        if let Some(e) = self.entries.get_mut(&ipcid_to_idx(id)) {
            e.key = IPC_PRIVATE;
        }
    }

    /// Drop every entry for which `keep` says no.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.entries.retain(|_, e| keep(&e.obj));
    }

    /// The objects in index order, with their identifiers.
    pub fn iter(&self) -> impl Iterator<Item = (i32, &Arc<T>)> {
        self.entries
            .iter()
            .map(|(&idx, e)| (ipc_buildid(idx, e.seq), &e.obj))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(euid: u32, egid: u32) -> Creds {
        Creds { euid, egid }
    }

    fn get(ids: &mut IpcIds<u32>, key: i32, flg: u32) -> KResult<i32> {
        ids.ipcget(key, flg, 16, |_| Ok(()), |id| Ok(Arc::new(id as u32)))
    }

    #[test]
    fn private_keys_always_create_and_ids_carry_a_sequence_number() {
        let mut ids = IpcIds::new();
        assert_eq!(get(&mut ids, IPC_PRIVATE, 0), Ok(0));
        assert_eq!(get(&mut ids, IPC_PRIVATE, 0), Ok(32768 + 1));
        assert_eq!(ids.in_use(), 2);
        assert!(ids.remove(0).is_some());
        // Slot 0 is reused with the next sequence number; the old id no longer reaches it.
        assert_eq!(get(&mut ids, IPC_PRIVATE, 0), Ok(2 * 32768));
        assert_eq!(ids.find(0).err(), Some(EINVAL));
        assert_eq!(*ids.find(2 * 32768).unwrap(), 2 * 32768);
        assert_eq!(ids.find(-1).err(), Some(EINVAL));
        assert_eq!(ids.max_idx(), 1);
    }

    #[test]
    fn keys_find_create_and_exclude_as_linux_does() {
        let mut ids = IpcIds::new();
        assert_eq!(get(&mut ids, 42, 0), Err(ENOENT));
        let id = get(&mut ids, 42, IPC_CREAT | 0o600).unwrap();
        assert_eq!(get(&mut ids, 42, 0), Ok(id));
        assert_eq!(get(&mut ids, 42, IPC_CREAT), Ok(id));
        assert_eq!(get(&mut ids, 42, IPC_CREAT | IPC_EXCL), Err(EEXIST));
        // The type's checks run on an existing object.
        assert_eq!(
            ids.ipcget(42, 0, 16, |_| Err(EINVAL), |_| unreachable!()),
            Err(EINVAL)
        );
        ids.set_key_private(id);
        assert_eq!(get(&mut ids, 42, 0), Err(ENOENT));
    }

    #[test]
    fn the_limit_on_objects_gives_enospc() {
        let mut ids = IpcIds::new();
        for _ in 0..16 {
            get(&mut ids, IPC_PRIVATE, 0).unwrap();
        }
        assert_eq!(get(&mut ids, IPC_PRIVATE, 0), Err(ENOSPC));
    }

    #[test]
    fn permissions_follow_the_owner_group_other_classes() {
        let mut p = KernIpcPerm::new(1, 0, 0o640, creds(1000, 100));
        assert_eq!(p.ipcperms(creds(1000, 5), 0o600), Ok(()));
        assert_eq!(p.ipcperms(creds(2000, 100), 0o400), Ok(()));
        assert_eq!(p.ipcperms(creds(2000, 100), 0o200), Err(EACCES));
        assert_eq!(p.ipcperms(creds(2000, 7), 0o400), Err(EACCES));
        assert_eq!(p.ipcperms(creds(0, 0), 0o666), Ok(()));
        // A flag of 0 asks for nothing (msgget(key, 0) on any queue).
        assert_eq!(p.ipcperms(creds(2000, 7), 0), Ok(()));
        assert_eq!(p.may_control(creds(2000, 100)), Err(EPERM));
        assert_eq!(p.may_control(creds(1000, 1)), Ok(()));
        p.update(2000, 7, 0o1604);
        assert_eq!(p.mode, 0o604);
        assert_eq!(p.may_control(creds(2000, 100)), Ok(()));
        let u = p.to_user();
        assert_eq!(&u[0..4], &1i32.to_le_bytes());
        assert_eq!(&u[4..8], &2000u32.to_le_bytes());
        assert_eq!(&u[12..16], &1000u32.to_le_bytes());
        assert_eq!(&u[20..24], &0o604u32.to_le_bytes());
    }
}
