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
    alloc_user_page, copy_page, fill_page, get_page, is_dirty_page, is_file_page, is_zero_page,
    memcpy_from_page, page_count, put_page, zero_page,
};
use super::rmap::{page_add_file_rmap, page_add_new_anon_rmap, page_remove_rmap};
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
    /// A file mapping's page past the end of the file (VM_FAULT_SIGBUS): SIGBUS, BUS_ADRERR.
    SigBus,
}

pub const SEGV_MAPERR: i32 = 1;
pub const SEGV_ACCERR: i32 = 2;
pub const BUS_ADRERR: i32 = 2;

impl FaultError {
    /// `si_code` of the SIGSEGV this fault raises in user mode.
    pub fn si_code(self) -> Option<i32> {
        match self {
            FaultError::NoVma => Some(SEGV_MAPERR),
            FaultError::Access => Some(SEGV_ACCERR),
            FaultError::NoMemory => None,
            FaultError::SigBus => Some(BUS_ADRERR),
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
    let entry = mm.pgd.lookup(page);
    // What an empty entry is filled from, read while the VMA is at hand (one tree walk per
    // fault); a stack that grows below is looked up again once grown.
    let backing = (entry.is_none() && start <= page)
        .then(|| (vma.image.clone(), vma.file.clone(), vma.pgoff_of(page)));
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
    match entry {
        None => {
            let (image, file, pgoff) = match backing {
                Some(b) => b,
                None => {
                    let v = mm.vmas.vma_lookup(page).ok_or(FaultError::NoVma)?;
                    (v.image.clone(), v.file.clone(), v.pgoff_of(page))
                }
            };
            let shared = flags & VM_SHARED != 0;
            match (image, file) {
                (Some(image), _) if shared => {
                    do_shared_file_fault(mm, page, flags, &image, pgoff, write)
                }
                (Some(image), _) => do_read_file_page(mm, page, flags, &image, pgoff),
                (None, Some(file)) if shared => do_shared_fault(mm, page, flags, &file, pgoff),
                (None, _) if shared => Err(FaultError::NoVma),
                (None, _) => do_anonymous_page(mm, page, flags, write),
            }
        }
        // PROT_NONE left behind on an accessible VMA: put the VMA's rights back.
        Some((phys, pte)) if pte & PTE_PRESENT == 0 => {
            let mut prot = vm_get_page_prot(flags);
            let clean_shared = is_file_page(phys) && !is_dirty_page(phys);
            if flags & VM_SHARED == 0 && !private_page_writable(phys)
                || flags & VM_SHARED != 0 && clean_shared
            {
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
    page_add_new_anon_rmap(phys, page);
    if let Err(e) = map(mm, page, phys, prot) {
        put_page(phys);
        return Err(e);
    }
    mm.add_mm_counter(MM_ANONPAGES, 1);
    Ok(())
}

/// The page-cache page at `pgoff` of a mapped file, with a reference for the caller (Linux's
/// `vmf->vma->vm_ops->fault`): a hole inside the file gets a page, past the end of an mmap'd
/// file is SIGBUS.
fn file_page(image: &FileImage, pgoff: u64) -> Result<u64, FaultError> {
    let inode = &image.inode;
    match inode.ops.get_page(inode, pgoff, true) {
        Ok(Some(phys)) => Ok(phys),
        Ok(None) => Err(FaultError::SigBus),
        Err(crate::kernel::errno::ENOMEM) => Err(FaultError::NoMemory),
        Err(_) => Err(FaultError::SigBus),
    }
}

/// First touch of a private file mapping (an executable's segment, a MAP_PRIVATE mmap): the
/// file's page from its page cache, mapped read-only so that a write copies it (Linux's
/// `do_read_fault`; a write fault then takes `do_wp_page`'s copy).
fn do_read_file_page(
    mm: &mut MmStruct,
    page: u64,
    flags: VmFlags,
    image: &FileImage,
    pgoff: u64,
) -> Result<(), FaultError> {
    // Bytes past `file_end` (the start of `.bss` in the segment's last file page) must read
    // as zeros: such a page is this mapping's own, not the cache's.
    let from = pgoff.saturating_mul(PAGE);
    let past_end = from.saturating_add(PAGE) > image.file_end;
    if past_end && from >= image.file_end {
        // A segment's VMA past its last file page is zero-fill memory (never faults here).
        return do_anonymous_page(mm, page, flags, true);
    }
    let cached = file_page(image, pgoff)?;
    let phys = if past_end {
        let Some(own) = alloc_user_page(PG_ANON, false) else {
            put_page(cached);
            return Err(FaultError::NoMemory);
        };
        page_add_new_anon_rmap(own, page);
        let mut bytes = [0u8; PAGE as usize];
        let n = (image.file_end - from) as usize;
        memcpy_from_page(&mut bytes[..n], cached, 0);
        fill_page(own, 0, &bytes[..n]);
        put_page(cached);
        own
    } else {
        cached
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

/// First touch of a shared file mapping (Linux's `do_shared_fault`): the cache page itself,
/// writable once written (a write fault marks it dirty first), so every mapping and `read`
/// see the same bytes. A read fault maps a clean page read-only: the first write through
/// the mapping then faults again to dirty it (`do_wp_page`).
fn do_shared_file_fault(
    mm: &mut MmStruct,
    page: u64,
    flags: VmFlags,
    image: &FileImage,
    pgoff: u64,
    write: bool,
) -> Result<(), FaultError> {
    let phys = file_page(image, pgoff)?;
    if write {
        image.inode.i_mapping.set_page_dirty(pgoff, phys);
    }
    let mut prot = vm_get_page_prot(flags);
    if !is_dirty_page(phys) {
        prot &= !PTE_WRITE;
    }
    if let Err(e) = map(mm, page, phys, prot) {
        put_page(phys);
        return Err(e);
    }
    page_add_file_rmap(phys);
    mm.add_mm_counter(MM_FILEPAGES, 1);
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
    page_add_file_rmap(phys);
    mm.add_mm_counter(MM_SHMEMPAGES, 1);
    Ok(())
}

/// A write to a present, read-only page of a writable VMA.
fn do_wp_page(mm: &mut MmStruct, page: u64, phys: u64, flags: VmFlags) -> Result<(), FaultError> {
    let prot = vm_get_page_prot(flags);
    if flags & VM_SHARED != 0 {
        // A shared file page written through a mapping for the first time: dirty now.
        if let Some((image, pgoff)) = mm
            .vmas
            .vma_lookup(page)
            .and_then(|v| Some((v.image.clone()?, v.pgoff_of(page))))
        {
            image.inode.i_mapping.set_page_dirty(pgoff, phys);
        }
        return map(mm, page, phys, prot);
    }
    if is_zero_page(phys) {
        let new = alloc_user_page(PG_ANON, true).ok_or(FaultError::NoMemory)?;
        page_add_new_anon_rmap(new, page);
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
    page_add_new_anon_rmap(new, page);
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
