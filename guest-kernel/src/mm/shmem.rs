//! Shared anonymous memory (`MAP_SHARED | MAP_ANONYMOUS`).
//!
//! Linux backs such a mapping with an unlinked shmem file ("/dev/zero (deleted)" in
//! /proc/<pid>/maps) and so do we, minus the file system: a [`ShmemFile`] is the page cache of
//! one mapping, its pages by offset, shared by every VMA that maps it: in this process (split,
//! mremap) and, after fork, in the children. A fault in any of them finds or adds the page
//! here, so all of them see the same memory. The file holds one reference on each of its pages
//! and each page-table entry mapping one holds another; the file, and its pages, go away with
//! the last VMA that refers to it.
//!
//! Lock order: the mm lock, then `pages`.

#![deny(unsafe_code)]

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use super::mem_map::PG_SHMEM;
use super::page_alloc::{alloc_user_page, put_page};

/// Inode numbers of shmem files, as /proc/<pid>/maps shows them.
static NEXT_INO: AtomicU64 = AtomicU64::new(1000);

pub struct ShmemFile {
    pub ino: u64,
    /// A System V segment's key and size in bytes (ipc/shm.rs); `None` for shared anonymous
    /// memory.
    pub sysv: Option<(i32, u64)>,
    /// Frame of each page present, by page offset.
    pages: Mutex<BTreeMap<u64, u64>>,
}

impl core::fmt::Debug for ShmemFile {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        write!(f, "shmem:{}", self.ino)
    }
}

impl ShmemFile {
    pub fn new() -> Arc<Self> {
        Arc::new(ShmemFile {
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
            sysv: None,
            pages: Mutex::new(BTreeMap::new()),
        })
    }

    /// The file of a System V segment: its inode number is the segment's id, as in Linux.
    pub fn new_sysv(shmid: i32, key: i32, size: u64) -> Arc<Self> {
        Arc::new(ShmemFile {
            ino: shmid as u32 as u64,
            sysv: Some((key, size)),
            pages: Mutex::new(BTreeMap::new()),
        })
    }

    /// The name /proc/<pid>/maps shows: both kinds are unlinked files of the internal shm
    /// mount.
    pub fn name(&self) -> alloc::string::String {
        match self.sysv {
            Some((key, _)) => alloc::format!("/SYSV{:08x} (deleted)", key as u32),
            None => "/dev/zero (deleted)".into(),
        }
    }

    /// Pages present (SHM_INFO's and /proc/sysvipc/shm's resident size).
    pub fn nr_pages(&self) -> u64 {
        self.pages.lock().len() as u64
    }

    /// The page at `pgoff`, allocated zero-filled on first use (Linux's `shmem_get_folio`).
    /// The file keeps its own reference; a caller that maps the page takes another.
    pub fn get_page(&self, pgoff: u64) -> Option<u64> {
        let mut pages = self.pages.lock();
        if let Some(&phys) = pages.get(&pgoff) {
            return Some(phys);
        }
        let phys = alloc_user_page(PG_SHMEM, true)?;
        pages.insert(pgoff, phys);
        Some(phys)
    }

    /// The page at `pgoff` if it exists (mincore).
    pub fn find_page(&self, pgoff: u64) -> Option<u64> {
        self.pages.lock().get(&pgoff).copied()
    }

    /// Drop the file's pages in `[from, to)` (page offsets; `MADV_REMOVE`). Mappings of them
    /// must have been zapped first; later faults get fresh zeroed pages.
    pub fn punch_hole(&self, from: u64, to: u64) {
        let gone: alloc::vec::Vec<u64> = {
            let mut pages = self.pages.lock();
            let keys: alloc::vec::Vec<u64> = pages.range(from..to).map(|(k, _)| *k).collect();
            keys.iter().filter_map(|k| pages.remove(k)).collect()
        };
        gone.into_iter().for_each(put_page);
    }
}

impl Drop for ShmemFile {
    fn drop(&mut self) {
        for (_, phys) in core::mem::take(self.pages.get_mut()) {
            put_page(phys);
        }
    }
}
