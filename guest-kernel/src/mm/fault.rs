//! Page faults on user addresses: `handle_mm_fault` and the handlers of Linux's mm/memory.c.
//!
//! - Not present, private VMA: a read maps the shared zero page read-only, a write gets a
//!   fresh zeroed page (`do_anonymous_page`).
//! - Not present, shared VMA: the page at that offset of the VMA's shmem file, allocated on
//!   first touch by whichever process touches it first (`do_shared_fault`).
//! - Present, write, writable private VMA: copy-on-write (`do_wp_page`). The zero page is
//!   replaced by a fresh page; a page this address space holds the last reference to is just
//!   made writable; any other page is copied and one reference dropped.
//! - Below a grows-down VMA: the stack grows (`expand_downwards`), within RLIMIT_STACK and
//!   clear of the guard gap above the next mapping down.
//!
//! Called with the mm lock held: by the page-fault handler (for user-mode faults and for the
//! kernel's user copies alike) and by populate.

#![deny(unsafe_code)]

use super::arch::paging::{PTE_PRESENT, PTE_WRITE};
use super::mem_map::PG_ANON;
use super::mmap::{
    private_page_writable, vm_get_page_prot, MmStruct, MM_ANONPAGES, MM_FILEPAGES, MM_SHMEMPAGES,
    PAGE, STACK_SIZE,
};
use super::page_alloc::{
    alloc_user_page, copy_page, fill_page, get_page, is_file_page, is_zero_page, page_count,
    put_page, zero_page,
};
use super::rmap::{page_add_file_rmap, page_remove_rmap};
use super::tlb::flush_tlb_page;
use super::vma::{
    FileImage, VmFile, VmFlags, TASK_SIZE, VM_ACCESS_FLAGS, VM_GROWSDOWN, VM_SHARED, VM_WRITE,
};
use super::vmstat::{count_vm_event, VmEvent};

/// Why a fault could not be resolved; the signal it becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultError {
    /// No mapping there: SIGSEGV with SEGV_MAPERR.
    NoVma,
    /// The mapping forbids the access: SIGSEGV with SEGV_ACCERR.
    Access,
    /// Out of memory (Linux's VM_FAULT_OOM): the OOM path, not a signal code.
    NoMemory,
}

pub const SEGV_MAPERR: i32 = 1;
pub const SEGV_ACCERR: i32 = 2;

impl FaultError {
    /// `si_code` of the SIGSEGV this fault raises in user mode.
    pub fn si_code(self) -> Option<i32> {
        match self {
            FaultError::NoVma => Some(SEGV_MAPERR),
            FaultError::Access => Some(SEGV_ACCERR),
            FaultError::NoMemory => None,
        }
    }
}

/// Resolve a fault at `addr`; `present` means the page was mapped (a protection fault), as
/// the error code said.
pub fn handle_mm_fault(
    mm: &mut MmStruct,
    addr: u64,
    write: bool,
    present: bool,
) -> Result<(), FaultError> {
    count_vm_event(VmEvent::PgFault);
    if mm.oom_reaped {
        return Err(FaultError::NoMemory);
    }
    if addr >= TASK_SIZE {
        return Err(FaultError::NoVma);
    }
    let page = addr & !(PAGE - 1);
    let vma = mm.vmas.find_vma(addr).ok_or(FaultError::NoVma)?;
    let (start, flags) = (vma.start, vma.flags);
    if start > addr {
        if flags & VM_GROWSDOWN == 0 {
            return Err(FaultError::NoVma);
        }
        mm.vmas
            .expand_downwards(start, addr, STACK_SIZE)
            .ok_or(FaultError::NoVma)?;
    }
    // Linux's `access_error`: a read that faulted on a present page hit a right it lacks.
    let allowed = if write {
        flags & VM_WRITE != 0
    } else {
        !present && flags & VM_ACCESS_FLAGS != 0
    };
    if !allowed {
        return Err(FaultError::Access);
    }
    match mm.pgd.lookup(page) {
        None if flags & VM_SHARED != 0 => {
            let Some(v) = mm.vmas.vma_lookup(page) else {
                return Err(FaultError::NoVma);
            };
            let (file, pgoff) = (v.file.clone(), v.pgoff_of(page));
            let file = file.ok_or(FaultError::NoVma)?;
            do_shared_fault(mm, page, flags, &file, pgoff)
        }
        None => match mm.vmas.vma_lookup(page).and_then(|v| {
            let image = v.image.clone()?;
            Some((image, v.pgoff_of(page)))
        }) {
            Some((image, pgoff)) => do_read_file_page(mm, page, flags, &image, pgoff),
            None => do_anonymous_page(mm, page, flags, write),
        },
        // PROT_NONE left behind on an accessible VMA: put the VMA's rights back.
        Some((phys, pte)) if pte & PTE_PRESENT == 0 => {
            let mut prot = vm_get_page_prot(flags);
            if flags & VM_SHARED == 0 && !private_page_writable(phys) {
                prot &= !PTE_WRITE;
            }
            map(mm, page, phys, prot)
        }
        // Another thread got here first.
        Some((_, pte)) if !write || pte & PTE_WRITE != 0 => Ok(()),
        Some((phys, _)) => do_wp_page(mm, page, phys, flags),
    }
}

fn map(mm: &mut MmStruct, page: u64, phys: u64, prot: u64) -> Result<(), FaultError> {
    if mm.pgd.map(page, phys, prot) {
        Ok(())
    } else {
        Err(FaultError::NoMemory)
    }
}

/// First touch of private anonymous memory.
fn do_anonymous_page(
    mm: &mut MmStruct,
    page: u64,
    flags: VmFlags,
    write: bool,
) -> Result<(), FaultError> {
    let prot = vm_get_page_prot(flags);
    if !write {
        return map(mm, page, zero_page(), prot & !PTE_WRITE);
    }
    let phys = alloc_user_page(PG_ANON, true).ok_or(FaultError::NoMemory)?;
    if let Err(e) = map(mm, page, phys, prot) {
        put_page(phys);
        return Err(e);
    }
    mm.add_mm_counter(MM_ANONPAGES, 1);
    Ok(())
}

/// First touch of a private file mapping (an executable's segment): the file's page from its
/// page cache, read in if it is not there yet, mapped read-only so that a write copies it
/// (Linux's `do_read_fault`; a write fault then takes `do_wp_page`'s copy).
fn do_read_file_page(
    mm: &mut MmStruct,
    page: u64,
    flags: VmFlags,
    image: &FileImage,
    pgoff: u64,
) -> Result<(), FaultError> {
    let inode = &image.inode;
    // Bytes past `file_end` (the start of `.bss` in the segment's last file page) must read
    // as zeros: such a page is this mapping's own, not the cache's.
    let from = pgoff.saturating_mul(PAGE);
    let past_end = from.saturating_add(PAGE) > image.file_end;
    let read = |phys: u64| {
        let data = inode.ops.file_data().map(|d| d.lock());
        let bytes = data.as_ref().map_or(&[][..], |d| d.bytes());
        // A file shorter than its program headers say reads as zeros where it ends.
        let clamp = |x: u64| usize::try_from(x).unwrap_or(usize::MAX).min(bytes.len());
        let start = clamp(from);
        let to = from.saturating_add(PAGE).min(image.file_end);
        fill_page(phys, 0, &bytes[start..clamp(to).max(start)]);
    };
    let phys = if past_end {
        let phys = alloc_user_page(PG_ANON, false).ok_or(FaultError::NoMemory)?;
        read(phys);
        phys
    } else {
        inode
            .i_mapping
            .find_or_read_page(inode, pgoff, read)
            .ok_or(FaultError::NoMemory)?
    };
    let mut prot = vm_get_page_prot(flags);
    if !past_end {
        prot &= !PTE_WRITE;
    }
    if let Err(e) = map(mm, page, phys, prot) {
        put_page(phys);
        return Err(e);
    }
    if past_end {
        mm.add_mm_counter(MM_ANONPAGES, 1);
    } else {
        page_add_file_rmap(phys);
        mm.add_mm_counter(MM_FILEPAGES, 1);
    }
    Ok(())
}

/// First touch of a shared mapping in this address space.
fn do_shared_fault(
    mm: &mut MmStruct,
    page: u64,
    flags: VmFlags,
    file: &VmFile,
    pgoff: u64,
) -> Result<(), FaultError> {
    let phys = file.get_page(pgoff).ok_or(FaultError::NoMemory)?;
    get_page(phys);
    if let Err(e) = map(mm, page, phys, vm_get_page_prot(flags)) {
        put_page(phys);
        return Err(e);
    }
    mm.add_mm_counter(MM_SHMEMPAGES, 1);
    Ok(())
}

/// A write to a present, read-only page of a writable VMA.
fn do_wp_page(mm: &mut MmStruct, page: u64, phys: u64, flags: VmFlags) -> Result<(), FaultError> {
    let prot = vm_get_page_prot(flags);
    if flags & VM_SHARED != 0 {
        return map(mm, page, phys, prot);
    }
    if is_zero_page(phys) {
        let new = alloc_user_page(PG_ANON, true).ok_or(FaultError::NoMemory)?;
        map(mm, page, new, prot)?;
        mm.add_mm_counter(MM_ANONPAGES, 1);
        flush_tlb_page(mm, page);
        return Ok(());
    }
    // A page of a file's cache is always copied (Linux reuses only anonymous pages).
    let file = is_file_page(phys);
    if !file && page_count(phys) == 1 {
        count_vm_event(VmEvent::PgReuse);
        return map(mm, page, phys, prot);
    }
    let new = alloc_user_page(PG_ANON, false).ok_or(FaultError::NoMemory)?;
    copy_page(new, phys);
    map(mm, page, new, prot)?;
    flush_tlb_page(mm, page);
    if file {
        page_remove_rmap(phys);
        mm.add_mm_counter(MM_FILEPAGES, -1);
        mm.add_mm_counter(MM_ANONPAGES, 1);
    }
    put_page(phys);
    count_vm_event(VmEvent::CowFault);
    Ok(())
}
