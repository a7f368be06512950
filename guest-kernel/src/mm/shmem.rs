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
            pages: Mutex::new(BTreeMap::new()),
        })
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
