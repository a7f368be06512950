//! A file's page cache (Linux's `address_space`, `mm/filemap.c`), as far as mappings need it:
//! the frames holding the file's pages, each read in once and then mapped by every private
//! mapping of the file (an executable's segments in every process that runs it), read-only
//! there, so that a write copies it first (copy-on-write). The first process to run a program
//! reads its pages; the next ones find them here.
//!
//! Any change to the file drops the cache (writes to mapped files are rare here); mappings keep
//! the pages they already have, and later faults read the new contents.
//!
//! Lock order: the mm lock, then `pages`, then the file's data.

#![deny(unsafe_code)]

use alloc::collections::BTreeMap;

use spin::Mutex;

use super::page_alloc::{alloc_user_page, get_page, put_page};

#[derive(Default)]
pub struct AddressSpace {
    /// Frame of each cached page, by page offset. The cache holds one reference on each.
    pages: Mutex<BTreeMap<u64, u64>>,
}

impl AddressSpace {
    pub const fn new() -> Self {
        AddressSpace {
            pages: Mutex::new(BTreeMap::new()),
        }
    }

    /// The frame of page `pgoff`, read in by `fill(frame)` if it is not cached yet (Linux's
    /// `filemap_fault`). The caller gets a reference of its own, for the mapping it makes.
    pub fn find_or_read_page(&self, pgoff: u64, fill: impl FnOnce(u64)) -> Option<u64> {
        let mut pages = self.pages.lock();
        let phys = match pages.get(&pgoff) {
            Some(&phys) => phys,
            None => {
                let phys = alloc_user_page(0, false)?;
                fill(phys);
                pages.insert(pgoff, phys);
                phys
            }
        };
        get_page(phys);
        Some(phys)
    }

    /// Pages cached.
    #[cfg(test)]
    pub fn nr_pages(&self) -> usize {
        self.pages.lock().len()
    }

    /// The file changed: forget every cached page (`invalidate_mapping_pages`).
    pub fn invalidate(&self) {
        let gone = core::mem::take(&mut *self.pages.lock());
        gone.into_values().for_each(put_page);
    }
}

impl Drop for AddressSpace {
    fn drop(&mut self) {
        self.invalidate();
    }
}
