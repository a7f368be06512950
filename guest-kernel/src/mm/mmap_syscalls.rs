//! mmap, munmap, mprotect and brk on the current task's address space.

use super::mmap::PAGE;
use crate::kernel::errno::*;
use crate::kernel::task::current;

const MAP_SHARED: u64 = 0x01;
const MAP_PRIVATE: u64 = 0x02;
const MAP_FIXED: u64 = 0x10;
const MAP_ANONYMOUS: u64 = 0x20;
const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;

fn mm() -> KResult<super::MmRef> {
    current().mm().ok_or(EINVAL)
}

pub fn sys_mmap(addr: u64, len: u64, prot: u64, flags: u64, fd: i64, offset: u64) -> KResult<i64> {
    if flags & (MAP_SHARED | MAP_PRIVATE) == 0 || offset % PAGE != 0 || prot & !7 != 0 {
        return Err(EINVAL);
    }
    // File mappings arrive with the page cache; for anonymous ones Linux ignores `fd`.
    let _ = fd;
    if flags & MAP_ANONYMOUS == 0 {
        return Err(ENODEV);
    }
    let mm = mm()?;
    let mut mm = mm.lock();
    let fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
    if flags & MAP_FIXED_NOREPLACE != 0 && mm.find_vma(addr).is_some() {
        return Err(EEXIST);
    }
    Ok(mm.mmap_anon(addr, len, prot, fixed)? as i64)
}

pub fn sys_munmap(addr: u64, len: u64) -> KResult<i64> {
    mm()?.lock().munmap(addr, len)?;
    Ok(0)
}

pub fn sys_mprotect(addr: u64, len: u64, prot: u64) -> KResult<i64> {
    if prot & !7 != 0 {
        return Err(EINVAL);
    }
    mm()?.lock().mprotect(addr, len, prot)?;
    Ok(0)
}

pub fn sys_brk(addr: u64) -> KResult<i64> {
    let mm = mm()?;
    let mut mm = mm.lock();
    if addr == 0 {
        return Ok(mm.brk as i64);
    }
    Ok(mm.set_brk(addr) as i64)
}
