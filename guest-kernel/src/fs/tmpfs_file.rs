//! tmpfs regular files (the file half of Linux's mm/shmem.c): the bytes live in the inode's
//! page cache (`i_mapping`, mm/filemap.rs) and nowhere else, so `read`, `write` and every
//! mapping of the file see the same pages.
//!
//! A file unpacked from the initramfs keeps the archive's bytes as its backing store (the
//! archive stays in memory): a page is read in from it at first use, clean, and reclaim may
//! drop it again. A page written to, or allocated for a hole, is swap-backed and dirty: the
//! only copy of its data. Holes (never written, never in the image) read as zeros and take no
//! page until written or mapped.
//!
//! Invariant: bytes of a cached page past the end of the file are zero, so that growing the
//! file shows zeros there.

use spin::Mutex;

use super::inode::{Inode, InodeRef};
use crate::kernel::errno::*;
use crate::mm::buddy::PAGE_SIZE;
use crate::mm::page_alloc::{fill_page, put_page, zero_page_range};

/// A sleeping lock in the kernel; the host tests have no scheduler to sleep in.
#[cfg(not(test))]
type RwSem = crate::kernel::locking::mutex::SleepingMutex;
#[cfg(test)]
type RwSem = Mutex<()>;

/// Largest file we hold (`s_maxbytes` of a memory filesystem that must stay within RAM).
pub const MAX_FILE_SIZE: u64 = 1 << 30;
const PAGE: usize = PAGE_SIZE as usize;

struct ShmemState {
    /// `i_size`.
    size: u64,
    /// The initramfs bytes behind pages not cached yet (cut short by truncation).
    image: &'static [u8],
}

pub struct TmpfsFile {
    state: Mutex<ShmemState>,
    /// Linux's `i_rwsem`: one write or truncation at a time, held across user copies (which
    /// may fault, and sleep).
    i_rwsem: RwSem,
}

impl Default for TmpfsFile {
    fn default() -> Self {
        TmpfsFile {
            state: Mutex::new(ShmemState {
                size: 0,
                image: &[],
            }),
            i_rwsem: RwSem::default(),
        }
    }
}

/// Let others run between pages of a long transfer (Linux's `cond_resched` in
/// `generic_perform_write`): a 10 MiB write must not hold the CPU for the whole copy.
fn resched() {
    #[cfg(not(test))]
    crate::sched::cond_resched();
}

/// What `shmem_get_page` may do for a hole (Linux's `enum sgp_type`).
#[derive(Clone, Copy)]
enum Sgp {
    /// Nothing: the caller reads zeros.
    Read,
    /// Allocate a page if it lies inside the file (a fault maps it).
    Fault,
    /// Allocate a page (a write fills it, growing the file).
    Write,
}

/// One piece of a transfer: `n` bytes at `offset` in the page, `done` bytes already moved.
pub struct Chunk {
    pub offset: usize,
    pub n: usize,
    pub done: usize,
}

impl TmpfsFile {
    /// The file's bytes are `bytes` of the initramfs image (read in page by page).
    pub fn set_image(&self, bytes: &'static [u8]) {
        let mut s = self.state.lock();
        s.size = bytes.len() as u64;
        s.image = bytes;
    }

    pub fn size(&self) -> u64 {
        self.state.lock().size
    }

    /// Page `pgoff` with a reference for the caller (Linux's `shmem_get_folio`): the cached
    /// page, else read in from the image, else for a hole `None`, or with `create` a new
    /// zeroed page if the page is inside the file (a fault; past the end it is `None`).
    pub fn get_page(&self, inode: &InodeRef, pgoff: u64, create: bool) -> KResult<Option<u64>> {
        let sgp = if create { Sgp::Fault } else { Sgp::Read };
        self.shmem_get_page(inode, pgoff, sgp)
    }

    fn shmem_get_page(&self, inode: &InodeRef, pgoff: u64, sgp: Sgp) -> KResult<Option<u64>> {
        if let Some(phys) = inode.i_mapping.find_get_page(pgoff) {
            return Ok(Some(phys));
        }
        // Held across the fill: truncation cannot cut the image or the size under it.
        let s = self.state.lock();
        let from = usize::try_from(pgoff.saturating_mul(PAGE_SIZE)).unwrap_or(usize::MAX);
        let create = match sgp {
            Sgp::Read => false,
            Sgp::Fault => (from as u64) < s.size,
            Sgp::Write => true,
        };
        let page = if from < s.image.len() {
            let bytes = &s.image[from..s.image.len().min(from + PAGE)];
            inode
                .i_mapping
                .find_or_create_page(inode, pgoff, false, |phys| fill_page(phys, 0, bytes))
        } else if create {
            inode
                .i_mapping
                .find_or_create_page(inode, pgoff, true, |phys| fill_page(phys, 0, &[]))
        } else {
            return Ok(None);
        };
        page.map(Some).ok_or(ENOMEM)
    }

    /// Read up to `len` bytes at `pos` (Linux's `shmem_file_read_iter`): `copy(page, chunk)`
    /// moves each piece out, `page` being `None` for a hole (zeros). Stops at the end of the
    /// file; a failed copy ends the transfer (its error if nothing moved).
    pub fn read_iter(
        &self,
        inode: &InodeRef,
        pos: u64,
        len: usize,
        mut copy: impl FnMut(Option<u64>, Chunk) -> KResult<()>,
    ) -> KResult<usize> {
        let size = self.size();
        let len = len.min(size.saturating_sub(pos) as usize);
        let mut done = 0;
        while done < len {
            let at = pos + done as u64;
            let offset = (at % PAGE_SIZE) as usize;
            let n = (PAGE - offset).min(len - done);
            resched();
            let page = self.get_page(inode, at / PAGE_SIZE, false);
            let r = page.and_then(|page| {
                let r = copy(page, Chunk { offset, n, done });
                if let Some(phys) = page {
                    put_page(phys);
                }
                r
            });
            match r {
                Ok(()) => done += n,
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(done)
    }

    /// Write `len` bytes at `pos`, or at the end with `append` (Linux's
    /// `generic_perform_write` with `shmem_write_begin`): `copy(page, chunk)` moves each
    /// piece in. Returns where the write started and how much went in; the file grows to
    /// cover it and the pages written are dirty.
    pub fn perform_write(
        &self,
        inode: &InodeRef,
        pos: u64,
        append: bool,
        len: usize,
        mut copy: impl FnMut(u64, Chunk) -> KResult<()>,
    ) -> KResult<(u64, usize)> {
        let _rwsem = self.i_rwsem.lock();
        let old_size = self.size();
        let pos = if append { old_size } else { pos };
        if pos >= MAX_FILE_SIZE && len > 0 {
            return Err(EFBIG);
        }
        let len = len.min((MAX_FILE_SIZE - pos) as usize);
        if pos > old_size {
            self.zero_tail(inode, old_size);
        }
        let mut done = 0;
        while done < len {
            let at = pos + done as u64;
            let (pgoff, offset) = (at / PAGE_SIZE, (at % PAGE_SIZE) as usize);
            let n = (PAGE - offset).min(len - done);
            resched();
            let phys = match self.shmem_get_page(inode, pgoff, Sgp::Write) {
                Ok(Some(phys)) => phys,
                Ok(None) | Err(_) if done > 0 => break,
                Ok(None) | Err(_) => return Err(ENOSPC),
            };
            let r = copy(phys, Chunk { offset, n, done });
            if r.is_ok() {
                inode.i_mapping.set_page_dirty(pgoff, phys);
            }
            put_page(phys);
            match r {
                Ok(()) => done += n,
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            }
            let mut s = self.state.lock();
            s.size = s.size.max(pos + done as u64);
        }
        Ok((pos, done))
    }

    /// Change the size (Linux's `shmem_setattr` → `truncate_setsize`): the pages past a new,
    /// smaller end leave every mapping and the cache; the last page's bytes past it are zeroed.
    pub fn truncate(&self, inode: &Inode, size: u64) -> KResult<()> {
        if size > MAX_FILE_SIZE {
            return Err(EFBIG);
        }
        let _rwsem = self.i_rwsem.lock();
        let old = {
            let mut s = self.state.lock();
            let old = s.size;
            s.size = size;
            let keep = s.image.len().min(size as usize);
            s.image = &s.image[..keep];
            old
        };
        self.zero_tail(inode, old.min(size));
        if size < old {
            inode
                .i_mapping
                .truncate_inode_pages(size.div_ceil(PAGE_SIZE));
        }
        Ok(())
    }

    /// Zero the bytes of the page holding offset `end` from there on, if it is cached (a
    /// shared mapping may have written past the end of the file).
    fn zero_tail(&self, inode: &Inode, end: u64) {
        let offset = (end % PAGE_SIZE) as usize;
        if offset != 0 {
            if let Some(phys) = inode.i_mapping.find_get_page(end / PAGE_SIZE) {
                zero_page_range(phys, offset, PAGE - offset);
                put_page(phys);
            }
        }
    }

    /// `lseek`'s SEEK_DATA (`data`) or SEEK_HOLE from `pos` (Linux's `shmem_file_llseek`):
    /// the next offset in data (the image or a cached page), or in a hole (the end of the
    /// file counts as one); ENXIO at or past the end.
    pub fn seek_data_hole(&self, inode: &Inode, pos: u64, data: bool) -> KResult<u64> {
        let (size, image) = {
            let s = self.state.lock();
            (s.size, s.image.len() as u64)
        };
        if pos >= size {
            return Err(ENXIO);
        }
        if data {
            if pos < image {
                return Ok(pos);
            }
            return match inode.i_mapping.next_cached_index(pos / PAGE_SIZE) {
                Some(i) if i * PAGE_SIZE < size => Ok(pos.max(i * PAGE_SIZE)),
                _ => Err(ENXIO),
            };
        }
        let mut pgoff = pos / PAGE_SIZE;
        while pgoff * PAGE_SIZE < size {
            let cached = inode.i_mapping.next_cached_index(pgoff) == Some(pgoff);
            if pgoff * PAGE_SIZE >= image && !cached {
                return Ok(pos.max(pgoff * PAGE_SIZE));
            }
            pgoff += 1;
        }
        Ok(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::inode::{SuperBlock, S_IFREG};
    use crate::mm::page_alloc::{free_page_count, memcpy_from_page, memcpy_to_page};
    use crate::mm::vmstat::{node_page_state, NodeStat};

    fn file() -> InodeRef {
        let sb = SuperBlock::new_anon("tmpfs", super::super::tmpfs::TMPFS_MAGIC);
        super::super::tmpfs::new_inode(&sb, S_IFREG | 0o644, 0).unwrap()
    }

    fn tf(inode: &Inode) -> &TmpfsFile {
        inode.ops.as_any().downcast_ref::<TmpfsFile>().unwrap()
    }

    fn write(inode: &InodeRef, pos: u64, data: &[u8]) -> usize {
        tf(inode)
            .perform_write(inode, pos, false, data.len(), |phys, c| {
                memcpy_to_page(phys, c.offset, &data[c.done..c.done + c.n]);
                Ok(())
            })
            .unwrap()
            .1
    }

    fn read(inode: &InodeRef, pos: u64, len: usize) -> alloc::vec::Vec<u8> {
        let mut out = alloc::vec![0xAAu8; len];
        let n = tf(inode)
            .read_iter(inode, pos, len, |page, c| {
                let dst = &mut out[c.done..c.done + c.n];
                match page {
                    Some(phys) => memcpy_from_page(dst, phys, c.offset),
                    None => dst.fill(0),
                }
                Ok(())
            })
            .unwrap();
        out.truncate(n);
        out
    }

    #[test]
    fn writes_land_in_cache_pages_and_holes_take_none() {
        let _m = crate::mm::emu::machine();
        let free = free_page_count();
        let shmem = node_page_state(NodeStat::Shmem);
        let inode = file();
        // A sparse file: a byte at 3 pages and a bit, nothing before.
        assert_eq!(write(&inode, 3 * PAGE_SIZE + 10, b"xyz"), 3);
        assert_eq!(inode.size(), 3 * PAGE_SIZE + 13);
        assert_eq!(inode.i_mapping.nr_pages(), 1);
        assert_eq!(node_page_state(NodeStat::Shmem), shmem + 1);
        let all = read(&inode, 0, 4 * PAGE);
        assert_eq!(all.len(), 3 * PAGE + 13);
        assert!(all[..3 * PAGE + 10].iter().all(|&b| b == 0));
        assert_eq!(&all[3 * PAGE + 10..], b"xyz");
        // Reading the holes allocated nothing.
        assert_eq!(inode.i_mapping.nr_pages(), 1);
        // A write across a page boundary.
        let data: alloc::vec::Vec<u8> = (0..PAGE + 100).map(|i| i as u8).collect();
        assert_eq!(write(&inode, PAGE_SIZE - 50, &data), data.len());
        assert_eq!(read(&inode, PAGE_SIZE - 50, data.len()), data);
        assert_eq!(inode.i_mapping.nr_pages(), 4);
        // Pages 0..4 hold data, then a hole to the end.
        let f = tf(&inode);
        f.truncate(&inode, 10 * PAGE_SIZE).unwrap();
        assert_eq!(f.seek_data_hole(&inode, 100, true), Ok(100));
        assert_eq!(f.seek_data_hole(&inode, 100, false), Ok(4 * PAGE_SIZE));
        assert_eq!(f.seek_data_hole(&inode, 5 * PAGE_SIZE, true), Err(ENXIO));
        assert_eq!(f.seek_data_hole(&inode, 10 * PAGE_SIZE, false), Err(ENXIO));
        assert_eq!(read(&inode, 10 * PAGE_SIZE, 5), b"");
        drop(inode);
        assert_eq!(node_page_state(NodeStat::Shmem), shmem);
        assert_eq!(free_page_count(), free, "every page comes back");
    }

    #[test]
    fn truncate_drops_pages_and_zeroes_the_tail() {
        let _m = crate::mm::emu::machine();
        let free = free_page_count();
        let inode = file();
        write(&inode, 0, &[7u8; 3 * PAGE]);
        assert_eq!(inode.i_mapping.nr_pages(), 3);
        tf(&inode).truncate(&inode, PAGE_SIZE + 5).unwrap();
        assert_eq!(inode.i_mapping.nr_pages(), 2);
        // Growing again shows zeros past the old end, not the old bytes.
        tf(&inode).truncate(&inode, 3 * PAGE_SIZE).unwrap();
        let all = read(&inode, 0, 3 * PAGE);
        assert!(all[..PAGE + 5].iter().all(|&b| b == 7));
        assert!(all[PAGE + 5..].iter().all(|&b| b == 0));
        assert_eq!(inode.i_mapping.nr_pages(), 2);
        assert_eq!(tf(&inode).truncate(&inode, MAX_FILE_SIZE + 1), Err(EFBIG));
        assert_eq!(
            tf(&inode).perform_write(&inode, MAX_FILE_SIZE, false, 1, |_, _| Ok(())),
            Err(EFBIG)
        );
        drop(inode);
        assert_eq!(free_page_count(), free, "every page comes back");
    }

    #[test]
    fn image_pages_are_clean_until_written() {
        static IMAGE: [u8; 5000] = [b'i'; 5000];
        let _m = crate::mm::emu::machine();
        let (files, shmem) = (
            node_page_state(NodeStat::FilePages),
            node_page_state(NodeStat::Shmem),
        );
        let inode = file();
        tf(&inode).set_image(&IMAGE);
        assert_eq!(inode.i_mapping.nr_pages(), 0);
        let back = read(&inode, 4090, 20);
        assert_eq!(back, [b'i'; 20]);
        assert_eq!(node_page_state(NodeStat::FilePages), files + 2);
        write(&inode, 4095, b"W");
        assert_eq!(node_page_state(NodeStat::FilePages), files + 1);
        assert_eq!(node_page_state(NodeStat::Shmem), shmem + 1);
        assert_eq!(read(&inode, 4094, 3), b"iWi");
        // The image is cut by truncation: growing back reads zeros.
        tf(&inode).truncate(&inode, 10).unwrap();
        tf(&inode).truncate(&inode, 5000).unwrap();
        assert_eq!(read(&inode, 8, 4), b"ii\0\0");
        assert_eq!(read(&inode, 4096, 2), b"\0\0");
        drop(inode);
        assert_eq!(node_page_state(NodeStat::FilePages), files);
        assert_eq!(node_page_state(NodeStat::Shmem), shmem);
    }
}
