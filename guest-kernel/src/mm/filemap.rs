//! A file's page cache (Linux's `address_space`, `mm/filemap.c`): the frames holding the
//! file's pages, by page offset, shared by read/write and by every mapping of the file.
//!
//! For tmpfs the cache is where the file's bytes live (`fs/tmpfs.rs`): `read` and `write`
//! copy between user memory and these pages, shared mappings map them writable, private ones
//! read-only until a write copies them. A page read in from the initramfs image is clean and
//! reclaim may drop it (the image still has the bytes); a page written to, or allocated for a
//! hole, is the only copy of its data: swap-backed and dirty (PG_SWAPBACKED, PG_DIRTY), counted
//! in Shmem, on the anon lists, and never dropped (there is no swap).
//!
//! Each page records its cache (`Page::mapping`, an id registered in `MAPPINGS` with the inode)
//! and its index, which is the reverse map: reclaim and truncation find the inode, and through
//! the mappings of the inode in each address space (`rmap.rs`), the page-table entries that
//! map the page.
//!
//! Lock order: the mm lock, then the file's state (tmpfs), then `pages`.

#![deny(unsafe_code)]

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use spin::Mutex;

use super::buddy::PAGE_SIZE;
use super::mem_map::{PG_DIRTY, PG_FILE, PG_SWAPBACKED};
use super::page_alloc::{account, alloc_user_page, get_page, pfn_to_page, put_page};
use super::swap::{lru_set_flags, mark_page_accessed};
use super::vmstat::{mod_node_page_state, NodeStat};
use crate::fs::inode::{InodeRef, InodeWeak};
use crate::kernel::errno::KResult;

#[derive(Default)]
pub struct AddressSpace {
    /// Frame of each cached page, by page offset. The cache holds one reference on each.
    pages: Mutex<BTreeMap<u64, u64>>,
    /// This cache's id in `MAPPINGS` (0 until its first page).
    id: AtomicU32,
}

/// Read `buf.len()` bytes at `pos` of a page-cached file into a kernel buffer, holes as
/// zeros, stopping at its end (Linux's `kernel_read`: exec reads a program's headers so).
pub fn kernel_read(inode: &InodeRef, pos: u64, buf: &mut [u8]) -> KResult<usize> {
    let len = buf.len().min(inode.size().saturating_sub(pos) as usize);
    let mut done = 0;
    while done < len {
        let at = pos + done as u64;
        let offset = (at % PAGE_SIZE) as usize;
        let n = (PAGE_SIZE as usize - offset).min(len - done);
        let dst = &mut buf[done..done + n];
        match inode.ops.get_page(inode, at / PAGE_SIZE, false)? {
            Some(phys) => {
                super::page_alloc::memcpy_from_page(dst, phys, offset);
                put_page(phys);
            }
            None => dst.fill(0),
        }
        done += n;
    }
    Ok(done)
}

/// The caches that hold pages, by id: how reclaim gets from a page to its file.
static MAPPINGS: Mutex<BTreeMap<u32, InodeWeak>> = Mutex::new(BTreeMap::new());
static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// The inode whose cache has id `id`, if it is still there.
pub fn mapping_inode(id: u32) -> Option<InodeRef> {
    MAPPINGS.lock().get(&id)?.upgrade()
}

impl AddressSpace {
    pub const fn new() -> Self {
        AddressSpace {
            pages: Mutex::new(BTreeMap::new()),
            id: AtomicU32::new(0),
        }
    }

    /// This cache's id, registering it for `inode` (whose `i_mapping` it is) on first use.
    fn id_for(&self, inode: &InodeRef) -> u32 {
        let id = self.id.load(Relaxed);
        if id != 0 {
            return id;
        }
        let id = NEXT_ID.fetch_add(1, Relaxed);
        MAPPINGS.lock().insert(id, Arc::downgrade(inode));
        self.id.store(id, Relaxed);
        id
    }

    /// Whether a page's recorded cache is this one.
    pub fn is(&self, id: u32) -> bool {
        id != 0 && self.id.load(Relaxed) == id
    }

    /// The frame of page `pgoff` with a reference for the caller, if cached (Linux's
    /// `find_get_page`).
    pub fn find_get_page(&self, pgoff: u64) -> Option<u64> {
        let phys = *self.pages.lock().get(&pgoff)?;
        mark_page_accessed(phys);
        get_page(phys);
        Some(phys)
    }

    /// The frame of page `pgoff` of `inode` (whose cache this is), created if it is not cached
    /// yet, swap-backed or clean, and filled by `fill(frame)` (Linux's `filemap_fault` reading
    /// a page in, or `shmem_get_folio` allocating one). The caller gets a reference of its
    /// own; `None` if memory ran out.
    pub fn find_or_create_page(
        &self,
        inode: &InodeRef,
        pgoff: u64,
        swapbacked: bool,
        fill: impl FnOnce(u64),
    ) -> Option<u64> {
        let index = u32::try_from(pgoff).ok()?;
        let mut pages = self.pages.lock();
        let phys = match pages.get(&pgoff) {
            Some(&phys) => {
                mark_page_accessed(phys);
                phys
            }
            None => {
                let id = self.id_for(inode);
                let kind = if swapbacked {
                    PG_FILE | PG_SWAPBACKED
                } else {
                    PG_FILE
                };
                let phys = alloc_user_page(kind, false)?;
                if let Some(p) = pfn_to_page(phys / PAGE_SIZE) {
                    p.index.store(index, Relaxed);
                    p.mapping.store(id, Relaxed);
                }
                fill(phys);
                pages.insert(pgoff, phys);
                if !swapbacked {
                    mod_node_page_state(NodeStat::FilePages, 1);
                }
                phys
            }
        };
        get_page(phys);
        Some(phys)
    }

    /// Page `pgoff` (the frame `phys`, which the caller holds) was written: dirty, and so the
    /// only copy of its data from now on (Linux's `folio_mark_dirty` on a shmem folio). A
    /// clean page read from an image moves from Cached to Shmem and to the anon lists.
    pub fn set_page_dirty(&self, pgoff: u64, phys: u64) {
        let pages = self.pages.lock();
        let Some(p) = pfn_to_page(phys / PAGE_SIZE) else {
            return;
        };
        if p.has(PG_DIRTY) || pages.get(&pgoff) != Some(&phys) {
            return;
        }
        if !p.has(PG_SWAPBACKED) {
            mod_node_page_state(NodeStat::FilePages, -1);
            account(PG_SWAPBACKED, 1);
        }
        lru_set_flags(phys, PG_SWAPBACKED | PG_DIRTY);
    }

    /// The cache's pages, if nobody is using them now: migration replaces a page in it.
    pub(super) fn try_lock_pages(&self) -> Option<spin::MutexGuard<'_, BTreeMap<u64, u64>>> {
        self.pages.try_lock()
    }

    /// The first cached page at or after `pgoff` (SEEK_DATA's search).
    pub fn next_cached_index(&self, pgoff: u64) -> Option<u64> {
        self.pages.lock().range(pgoff..).next().map(|(&k, _)| k)
    }

    /// Drop every page from `pgoff` on, taking each out of the page tables that map it first
    /// (Linux's `truncate_inode_pages_range` after `unmap_mapping_range`): the file shrank.
    /// Waits for busy address spaces; call with no mm lock held.
    pub fn truncate_inode_pages(&self, pgoff: u64) {
        let gone = self.pages.lock().split_off(&pgoff);
        if gone.is_empty() {
            return;
        }
        // After the pages left the cache: a fault that found one first has mapped it by the
        // time its address space is unlocked for the walk; later faults find the file shorter.
        super::rmap::unmap_mapping_range(self.id.load(Relaxed), pgoff);
        gone.into_values().for_each(delete_from_page_cache);
    }

    /// Pages cached.
    #[cfg(test)]
    pub fn nr_pages(&self) -> usize {
        self.pages.lock().len()
    }

    /// Drop page `pgoff` if it is still `phys` and nobody but the cache and `extra` other
    /// references hold it (reclaim's `__remove_mapping`, which holds an isolation reference).
    /// Never waits: a busy cache keeps its page this time.
    pub fn remove_page_if_unused(&self, pgoff: u64, phys: u64, extra: u32) -> bool {
        let Some(mut pages) = self.pages.try_lock() else {
            return false;
        };
        // A swap-backed page is the only copy of its data: never dropped.
        let swapbacked = pfn_to_page(phys / PAGE_SIZE).is_none_or(|p| p.has(PG_SWAPBACKED));
        if swapbacked
            || pages.get(&pgoff) != Some(&phys)
            || super::page_alloc::page_count(phys) != 1 + extra
        {
            return false;
        }
        pages.remove(&pgoff);
        drop(pages);
        delete_from_page_cache(phys);
        true
    }

    /// Forget every cached page (the file is going).
    fn invalidate(&self) {
        let gone = core::mem::take(&mut *self.pages.lock());
        gone.into_values().for_each(delete_from_page_cache);
    }
}

/// The cache lets go of a page: it no longer belongs to the file (mappings may still hold
/// it) and the cache's reference goes.
fn delete_from_page_cache(phys: u64) {
    if let Some(p) = pfn_to_page(phys / PAGE_SIZE) {
        p.mapping.store(0, Relaxed);
        // Swap-backed pages count in Shmem until they are freed.
        if !p.has(PG_SWAPBACKED) {
            mod_node_page_state(NodeStat::FilePages, -1);
        }
    }
    put_page(phys);
}

impl Drop for AddressSpace {
    fn drop(&mut self) {
        self.invalidate();
        let id = self.id.load(Relaxed);
        if id != 0 {
            MAPPINGS.lock().remove(&id);
        }
    }
}
