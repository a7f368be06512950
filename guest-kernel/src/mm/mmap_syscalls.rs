//! The memory-management system calls on the current task's address space: mmap, munmap,
//! mprotect, brk, mremap, madvise, mincore, msync. Argument decoding and user copies live
//! here; the work is `MmStruct`'s. The mm lock is never held across a user copy.
//!
//! x86_64 numbers: mmap 9, mprotect 10, munmap 11, brk 12, mremap 25, msync 26, mincore 27,
//! madvise 28.

use alloc::sync::Arc;
use alloc::vec;

use super::mmap::{MAP_ANONYMOUS, PAGE};
use super::usercopy::{access_ok, copy_to_user};
use super::vma::{FileImage, WHOLE_FILE};
use crate::kernel::errno::*;
use crate::kernel::task::current;

fn mm() -> KResult<super::MmRef> {
    current().mm().ok_or(EINVAL)
}

pub fn sys_mmap(addr: u64, len: u64, prot: u64, flags: u64, fd: i64, offset: u64) -> KResult<i64> {
    if !offset.is_multiple_of(PAGE) {
        return Err(EINVAL);
    }
    // For anonymous memory Linux ignores `fd` and `offset`.
    if flags & MAP_ANONYMOUS != 0 {
        let mm = mm()?;
        let addr = mm.lock().do_mmap(addr, len, prot, flags)?;
        return Ok(addr as i64);
    }
    // A file: through its page cache (private: copied on write; shared: the cache's pages).
    let file = current()
        .files()
        .lock()
        .get(u64::try_from(fd).map_err(|_| EBADF)?)?;
    if !file.readable() {
        return Err(EACCES);
    }
    let inode = file.inode.clone();
    if !inode.is_reg() || !inode.ops.has_page_cache() {
        return Err(ENODEV);
    }
    // Past the end of the file (as it is when touched) an access is SIGBUS.
    let image = Arc::new(FileImage {
        file_end: WHOLE_FILE,
        inode,
        path: Some(file.path.clone()),
    });
    let mm = mm()?;
    let addr = mm.lock().do_mmap_file(
        addr,
        len,
        prot,
        flags,
        (offset / PAGE, image),
        file.writable(),
    )?;
    Ok(addr as i64)
}

pub fn sys_munmap(addr: u64, len: u64) -> KResult<i64> {
    mm()?.lock().munmap(addr, len)?;
    Ok(0)
}

pub fn sys_mprotect(addr: u64, len: u64, prot: u64) -> KResult<i64> {
    mm()?.lock().mprotect(addr, len, prot)?;
    Ok(0)
}

pub fn sys_brk(addr: u64) -> KResult<i64> {
    let mm = mm()?;
    let mut mm = mm.lock();
    Ok(mm.set_brk(addr) as i64)
}

/// `mremap(old_address, old_size, new_size, flags, new_address)`.
pub fn sys_mremap(
    addr: u64,
    old_len: u64,
    new_len: u64,
    flags: u64,
    new_addr: u64,
) -> KResult<i64> {
    let mm = mm()?;
    let addr = mm.lock().mremap(addr, old_len, new_len, flags, new_addr)?;
    Ok(addr as i64)
}

/// `madvise(addr, length, advice)`.
pub fn sys_madvise(start: u64, len: u64, advice: u64) -> KResult<i64> {
    mm()?.lock().madvise(start, len, advice as i32)?;
    Ok(0)
}

/// `msync(addr, length, flags)`.
pub fn sys_msync(start: u64, len: u64, flags: u64) -> KResult<i64> {
    mm()?.lock().msync(start, len, flags as i32)?;
    Ok(0)
}

/// `mincore(addr, length, vec)`: one byte per page, in chunks of up to 4096 pages so the
/// mm lock is dropped around each copy to user memory.
pub fn sys_mincore(start: u64, len: u64, vec: u64) -> KResult<i64> {
    if !start.is_multiple_of(PAGE) {
        return Err(EINVAL);
    }
    if !access_ok(start, len as usize) {
        return Err(ENOMEM);
    }
    let mut pages = len / PAGE + u64::from(!len.is_multiple_of(PAGE));
    if !access_ok(vec, pages as usize) {
        return Err(EFAULT);
    }
    let mm = mm()?;
    let mut buf = vec![0u8; pages.min(4096) as usize];
    let (mut start, mut vec) = (start, vec);
    while pages > 0 {
        let n = (pages as usize).min(buf.len());
        let done = mm.lock().do_mincore(start, &mut buf[..n])?;
        copy_to_user(vec, &buf[..done])?;
        pages -= done as u64;
        vec += done as u64;
        start += done as u64 * PAGE;
    }
    Ok(0)
}
