//! Private file mappings through a file's page cache (`mm/filemap.rs`): read in at the first
//! touch, shared between processes, copied on write, dropped when the file changes.

use alloc::sync::Arc;

use super::*;
use crate::fs::inode::{SuperBlock, S_IFREG};
use crate::mm::vma::FileImage;
use crate::mm::vmstat::{node_page_state, vm_event, NodeStat, VmEvent};

/// Free pages once the slab caches gave back their empty slabs (`mm_struct` is one).
fn free_pages_settled() -> u64 {
    crate::mm::slub::shrink_slab();
    free_page_count()
}

#[test]
fn file_image_pages_are_read_in_at_first_touch_and_private() {
    let _m = machine();
    let sb = SuperBlock::new_anon("tmpfs", 0x0102_1994);
    let inode = crate::fs::tmpfs::new_inode(&sb, S_IFREG | 0o755, 0).unwrap();
    // Two pages and a bit of "file": page 0 is 'a's, page 1 'b's, then "cc".
    let mut bytes = alloc::vec![b'a'; P as usize];
    bytes.extend(core::iter::repeat_n(b'b', P as usize));
    bytes.extend(b"cc");
    inode
        .ops
        .file_data()
        .unwrap()
        .lock()
        .write_at(0, &bytes)
        .unwrap();
    let free = free_pages_settled();
    let mut mm = MmStruct::new().unwrap();
    // A segment at 0x40_1000 from file page 1, its bytes ending one byte into page 2, with
    // .bss after: three pages of VMA.
    let image = Arc::new(FileImage {
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
        inode: image.inode.clone(),
        file_end: image.file_end,
    });
    let mut other = MmStruct::new().unwrap();
    other.insert_file_vma(0x40_1000, 0x40_4000, RW, 1, image2);
    assert_eq!(read(&mut other, 0x40_1000).unwrap(), b'b');
    let (shared, writable) = frame(&mut mm, 0x40_1000).unwrap();
    assert_eq!(frame(&mut other, 0x40_1000).unwrap().0, shared);
    assert!(!writable);
    assert_eq!(image.inode.i_mapping.nr_pages(), 1);
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
    // A write to the file drops its cached pages: later faults read the new bytes.
    image.inode.touch_mtime();
    assert_eq!(image.inode.i_mapping.nr_pages(), 0);
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
    let sb = SuperBlock::new_anon("tmpfs", 0x0102_1994);
    let inode = crate::fs::tmpfs::new_inode(&sb, S_IFREG | 0o644, 0).unwrap();
    let bytes: Vec<u8> = (0..4 * P).map(|i| (i / P) as u8 + b'0').collect();
    let data = inode.ops.file_data().unwrap();
    data.lock().write_at(0, &bytes).unwrap();
    let free = free_pages_settled();
    let files = node_page_state(NodeStat::FilePages);
    let mapped = node_page_state(NodeStat::FileMapped);
    // Known to the reverse map, as every process's address space is.
    let mm = crate::mm::Mm::new(MmStruct::new().unwrap());
    let image = Arc::new(FileImage {
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
    drop(mm);
    drop(image);
    drop(inode);
    assert_eq!(node_page_state(NodeStat::FilePages), files);
    assert_eq!(free_pages_settled(), free, "every page comes back");
}
