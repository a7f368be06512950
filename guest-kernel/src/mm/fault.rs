//! Page faults on user addresses: demand-zero pages for anonymous VMAs (`handle_mm_fault`).

use crate::mm::mmap::{MmStruct, PAGE, PROT_EXEC, PROT_READ, PROT_WRITE};
use crate::mm::page_alloc::alloc_zeroed_page;

pub enum FaultError {
    NoVma,
    Access,
    NoMemory,
}

/// Resolve a fault at `addr`; `present` means the page was mapped (a protection fault).
pub fn handle_mm_fault(
    mm: &mut MmStruct,
    addr: u64,
    write: bool,
    present: bool,
) -> Result<(), FaultError> {
    let vma = mm.find_vma(addr).ok_or(FaultError::NoVma)?;
    if present
        || (write && vma.prot & PROT_WRITE == 0)
        || vma.prot & (PROT_READ | PROT_WRITE | PROT_EXEC) == 0
    {
        return Err(FaultError::Access);
    }
    let page = addr & !(PAGE - 1);
    let phys = alloc_zeroed_page().ok_or(FaultError::NoMemory)?;
    if !mm.pgd.map(page, phys, vma.pte_flags()) {
        crate::mm::page_alloc::free_page(phys);
        return Err(FaultError::NoMemory);
    }
    Ok(())
}
