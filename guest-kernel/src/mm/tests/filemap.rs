//! File mappings through a file's page cache (`mm/filemap.rs`): read in at the first touch,
//! shared between processes; private ones copied on write, shared ones written in place;
//! truncation takes the pages past the end away (SIGBUS).

use alloc::sync::Arc;

use super::*;
use crate::fs::inode::{Inode, InodeRef, SuperBlock, S_IFREG};
use crate::fs::tmpfs::TmpfsFile;
use crate::mm::page_alloc::{memcpy_from_page, memcpy_to_page};
use crate::mm::vma::{FileImage, WHOLE_FILE};
use crate::mm::vmstat::{node_page_state, vm_event, NodeStat, VmEvent};

/// Free pages once the slab caches gave back their empty slabs (`mm_struct` is one).
fn free_pages_settled() -> u64 {
    crate::mm::slub::shrink_slab();
    free_page_count()
}

fn tmpfs_file() -> InodeRef {
    let sb = SuperBlock::new_anon("tmpfs", 0x0102_1994);
    crate::fs::tmpfs::new_inode(&sb, S_IFREG | 0o755, 0).unwrap()
}

fn tf(inode: &Inode) -> &TmpfsFile {
    inode.ops.as_any().downcast_ref().unwrap()
}

/// A file whose bytes are `bytes`, clean pages read in from them (as from the initramfs).
pub(super) fn image_file(bytes: Vec<u8>) -> InodeRef {
    let inode = tmpfs_file();
    tf(&inode).set_image(alloc::boxed::Box::leak(bytes.into_boxed_slice()));
    inode
}

/// `write(2)` into the file's pages.
fn write_file(inode: &InodeRef, pos: u64, data: &[u8]) {
    tf(inode)
        .perform_write(inode, pos, false, data.len(), |phys, c| {
            memcpy_to_page(phys, c.offset, &data[c.done..c.done + c.n]);
            Ok(())
        })
        .unwrap();
}

/// `read(2)` of one byte.
fn read_file(inode: &InodeRef, pos: u64) -> u8 {
    let mut b = [0u8];
    tf(inode)
        .read_iter(inode, pos, 1, |page, c| {
            if let Some(p) = page {
                memcpy_from_page(&mut b, p, c.offset);
            }
            Ok(())
        })
        .unwrap();
    b[0]
}

#[test]
fn file_image_pages_are_read_in_at_first_touch_and_private() {
    let _m = machine();
    // Two pages and a bit of "file": page 0 is 'a's, page 1 'b's, then "cc".
    let mut bytes = alloc::vec![b'a'; P as usize];
    bytes.extend(core::iter::repeat_n(b'b', P as usize));
    bytes.extend(b"cc");
    let inode = image_file(bytes);
    let free = free_pages_settled();
    let mut mm = MmStruct::new().unwrap();
    // A segment at 0x40_1000 from file page 1, its bytes ending one byte into page 2, with
    // .bss after: three pages of VMA.
    let image = Arc::new(FileImage {
        path: None,
        inode,
        file_end: 2 * P + 1,
    });
    mm.insert_file_vma(0x40_1000, 0x40_4000, RW, 1, image.clone());
    // Nothing is read in until touched.
    assert_eq!(mm.get_mm_rss(), 0);
    assert_eq!(read(&mut mm, 0x40_1000 + 5).unwrap(), b'b');
    assert_eq!(mm.get_mm_rss(), 1);
    // The last file page: its one byte, then zeros (the file's second 'c' is past file_end).
    assert_eq!(read(&mut mm, 0x40_2000).unwrap(), b'c');
    assert_eq!(read(&mut mm, 0x40_2001).unwrap(), 0);
    // Past the file: zeros.
    assert_eq!(read(&mut mm, 0x40_3000 + 9).unwrap(), 0);
    assert_eq!(mm.get_mm_rss(), 3);
    // Another process running the same file maps the same cached frame (read-only: shared),
    // except for the page that ends the file's bytes, which is each mapping's own.
    let image2 = Arc::new(FileImage {
        path: None,
        inode: image.inode.clone(),
        file_end: image.file_end,
    });
    let mut other = MmStruct::new().unwrap();
    other.insert_file_vma(0x40_1000, 0x40_4000, RW, 1, image2);
    assert_eq!(read(&mut other, 0x40_1000).unwrap(), b'b');
    let (shared, writable) = frame(&mut mm, 0x40_1000).unwrap();
    assert_eq!(frame(&mut other, 0x40_1000).unwrap().0, shared);
    assert!(!writable);
    // Pages 1 and 2 (copied from for the segment's last page).
    assert_eq!(image.inode.i_mapping.nr_pages(), 2);
    drop(other);
    // Private: a write changes this copy only, and a fork shares it copy-on-write.
    write(&mut mm, 0x40_1000, b'X').unwrap();
    let mut child = mm.dup_mmap().unwrap();
    assert_eq!(read(&mut child, 0x40_1000).unwrap(), b'X');
    write(&mut child, 0x40_1000, b'Y').unwrap();
    assert_eq!(read(&mut mm, 0x40_1000).unwrap(), b'X');
    // MADV_DONTNEED drops the private copy: the next touch reads the file again.
    mm.madvise(0x40_1000, P, MADV_DONTNEED).unwrap();
    assert_eq!(read(&mut mm, 0x40_1000).unwrap(), b'b');
    // A write to the file shows at once in a mapping not copied yet (the same page).
    write_file(&image.inode, P + 1, b"Z");
    assert_eq!(read(&mut mm, 0x40_1001).unwrap(), b'Z');
    drop(child);
    drop(mm);
    drop(image);
    assert_eq!(free_pages_settled(), free, "every page comes back");
}

#[test]
fn reclaim_drops_idle_cache_pages_from_page_tables_and_cache() {
    use crate::mm::swap::{nr_lru_pages, LruList};
    use crate::mm::vmscan::try_to_free_pages;
    let _m = machine();
    let bytes: Vec<u8> = (0..4 * P).map(|i| (i / P) as u8 + b'0').collect();
    let inode = image_file(bytes);
    let free = free_pages_settled();
    let files = node_page_state(NodeStat::FilePages);
    let mapped = node_page_state(NodeStat::FileMapped);
    // Known to the reverse map, as every process's address space is.
    let mm = crate::mm::Mm::new(MmStruct::new().unwrap());
    let image = Arc::new(FileImage {
        path: None,
        inode: inode.clone(),
        file_end: 4 * P,
    });
    mm.lock()
        .insert_file_vma(0x40_0000, 0x40_4000, PROT_READ, 0, image.clone());
    for i in 0..4 {
        assert_eq!(
            read(&mut mm.lock(), 0x40_0000 + i * P).unwrap(),
            b'0' + i as u8
        );
    }
    assert_eq!(mm.lock().get_mm_counter(MM_FILEPAGES), 4);
    assert_eq!(node_page_state(NodeStat::FilePages), files + 4);
    assert_eq!(node_page_state(NodeStat::FileMapped), mapped + 4);
    assert!(nr_lru_pages(LruList::InactiveFile) >= 4);
    // Unused since they were mapped (no accessed bits): reclaim takes them out of the page
    // table and the cache, and frees them.
    let scan = vm_event(VmEvent::PgScanDirect);
    let reclaimed = try_to_free_pages(super::super::gfp::GFP_KERNEL, 0);
    assert_eq!(reclaimed, 4);
    assert!(vm_event(VmEvent::PgScanDirect) >= scan + 4);
    assert_eq!(mm.lock().get_mm_counter(MM_FILEPAGES), 0);
    assert_eq!(image.inode.i_mapping.nr_pages(), 0);
    assert_eq!(node_page_state(NodeStat::FileMapped), mapped);
    assert!(frame(&mut mm.lock(), 0x40_0000).is_none());
    // The next touch reads the file again.
    assert_eq!(read(&mut mm.lock(), 0x40_3000 + 7).unwrap(), b'3');
    // A page written to is the only copy of its bytes: reclaim keeps it.
    write_file(&inode, 3 * P, b"w");
    assert_eq!(try_to_free_pages(super::super::gfp::GFP_KERNEL, 0), 0);
    assert_eq!(read(&mut mm.lock(), 0x40_3000).unwrap(), b'w');
    drop(mm);
    drop(image);
    drop(inode);
    assert_eq!(node_page_state(NodeStat::FilePages), files);
    assert_eq!(free_pages_settled(), free, "every page comes back");
}

#[test]
fn shared_file_mappings_are_the_cache_pages_and_truncation_unmaps_them() {
    let _m = machine();
    let free = free_pages_settled();
    let shmem = node_page_state(NodeStat::Shmem);
    let inode = tmpfs_file();
    write_file(&inode, 0, &alloc::vec![b'f'; 2 * P as usize]);
    let image = || {
        Arc::new(FileImage {
            path: None,
            inode: inode.clone(),
            file_end: WHOLE_FILE,
        })
    };
    let shared = MAP_SHARED;
    let a = crate::mm::Mm::new(MmStruct::new().unwrap());
    let b = crate::mm::Mm::new(MmStruct::new().unwrap());
    // Three pages of mapping over two pages of file.
    let va = a
        .lock()
        .do_mmap_file(0, 3 * P, RW, shared, (0, image()), true)
        .unwrap();
    let vb = b
        .lock()
        .do_mmap_file(0, 3 * P, RW, shared, (0, image()), true)
        .unwrap();
    // A write through one mapping: the file and the other mapping see it (one frame).
    write(&mut a.lock(), va + 5, b'A').unwrap();
    assert_eq!(read_file(&inode, 5), b'A');
    assert_eq!(read(&mut b.lock(), vb + 5).unwrap(), b'A');
    assert_eq!(
        frame(&mut a.lock(), va).unwrap().0,
        frame(&mut b.lock(), vb).unwrap().0
    );
    // A write to the file shows in both.
    write_file(&inode, P + 9, b"W");
    assert_eq!(read(&mut a.lock(), va + P + 9).unwrap(), b'W');
    // A read fault maps a clean page read-only; the file's pages here are dirty (written).
    assert!(frame(&mut b.lock(), vb).unwrap().1);
    // Past the end of the file: SIGBUS.
    assert_eq!(read(&mut a.lock(), va + 2 * P), Err(FaultError::SigBus));
    // Truncation takes page 1 out of both address spaces; touching it is SIGBUS now.
    read(&mut b.lock(), vb + P).unwrap();
    tf(&inode).truncate(&inode, 100).unwrap();
    assert!(frame(&mut a.lock(), va + P).is_none());
    assert!(frame(&mut b.lock(), vb + P).is_none());
    assert_eq!(read(&mut b.lock(), vb + P), Err(FaultError::SigBus));
    assert_eq!(read(&mut a.lock(), va + 5).unwrap(), b'A');
    assert_eq!(inode.i_mapping.nr_pages(), 1);
    assert_eq!(node_page_state(NodeStat::Shmem), shmem + 1);
    // Not open for writing: PROT_WRITE is EACCES; read-only, it maps and can't be upgraded.
    let mut c = MmStruct::new().unwrap();
    assert_eq!(
        c.do_mmap_file(0, P, RW, shared, (0, image()), false),
        Err(EACCES)
    );
    let vc = c
        .do_mmap_file(0, P, PROT_READ, shared, (0, image()), false)
        .unwrap();
    assert_eq!(read(&mut c, vc + 5).unwrap(), b'A');
    assert_eq!(c.mprotect(vc, P, RW), Err(EACCES));
    drop((a, b, c));
    drop(inode);
    assert_eq!(node_page_state(NodeStat::Shmem), shmem);
    assert_eq!(free_pages_settled(), free, "every page comes back");
}
