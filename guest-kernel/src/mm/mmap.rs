//! A process address space (`mm_struct`): its page table, its VMAs and its counters; `mmap`,
//! `munmap`, `mprotect`, `brk`, the initial stack, and teardown.
//!
//! Pages are allocated on first touch (`fault.rs`); a VMA records what may be mapped there.
//! Frames mapped here are reference-counted (`page_alloc::get_page`/`put_page`): private
//! pages may be shared copy-on-write with other address spaces after fork (`memory.rs`), so
//! for private mappings a writable VMA does *not* mean writable page-table entries; a page is
//! made writable only while this address space holds the sole reference to it. The shared
//! zero page is mapped read-only and never counted.
//!
//! Locking: the whole structure is guarded by the mm lock (`MmRef`'s mutex, Linux's
//! `mmap_lock`); every method here expects it held. Page faults take it too, so no method may
//! touch user memory through user addresses.

#![deny(unsafe_code)]

use alloc::sync::Arc;
use core::sync::atomic::Ordering::Relaxed;

use super::arch::paging::{PageTable, PTE_NX, PTE_PROTNONE, PTE_USER, PTE_WRITE};
use super::fault::handle_mm_fault;
use super::mem_map::PG_ANON;
use super::page_alloc::{alloc_user_page, is_file_page, is_zero_page, page_count, put_page};
use super::shmem::ShmemFile;
use super::tlb::flush_tlb_range;
use super::vma::{
    FileImage, VmFlags, Vma, VmaTree, MMAP_MIN_ADDR, TASK_SIZE, VM_ACCESS_FLAGS, VM_ACCOUNT,
    VM_EXEC, VM_GROWSDOWN, VM_LOCKED, VM_MAYEXEC, VM_MAYREAD, VM_MAYSHARE, VM_MAYWRITE,
    VM_NORESERVE, VM_READ, VM_SHARED, VM_WRITE,
};
use crate::kernel::errno::*;

pub const PAGE: u64 = 4096;
pub const PROT_READ: u64 = 1;
pub const PROT_WRITE: u64 = 2;
pub const PROT_EXEC: u64 = 4;
pub const PROT_SEM: u64 = 8;
pub const PROT_GROWSDOWN: u64 = 0x0100_0000;
pub const PROT_GROWSUP: u64 = 0x0200_0000;

pub const MAP_SHARED: u64 = 0x01;
pub const MAP_PRIVATE: u64 = 0x02;
pub const MAP_TYPE: u64 = 0x0f;
pub const MAP_FIXED: u64 = 0x10;
pub const MAP_ANONYMOUS: u64 = 0x20;
pub const MAP_32BIT: u64 = 0x40;
pub const MAP_GROWSDOWN: u64 = 0x100;
pub const MAP_LOCKED: u64 = 0x2000;
pub const MAP_NORESERVE: u64 = 0x4000;
pub const MAP_POPULATE: u64 = 0x8000;
pub const MAP_NONBLOCK: u64 = 0x1_0000;
pub const MAP_HUGETLB: u64 = 0x4_0000;
pub const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;

/// Mappings the kernel places are put top-down from here (below the stack).
pub const MMAP_BASE: u64 = 0x7f00_0000_0000;
pub const STACK_TOP: u64 = TASK_SIZE;
/// RLIMIT_STACK's default: how far the main stack may grow.
pub const STACK_SIZE: u64 = 8 << 20;
/// Stack mapped below the initial arguments at exec (Linux's `stack_expand`).
const STACK_EXPAND: u64 = 128 << 10;
/// Windows into MAP_32BIT placement (x86_64: the second GiB).
const MAP_32BIT_LOW: u64 = 0x4000_0000;
const MAP_32BIT_HIGH: u64 = 0x8000_0000;

/// Default flags of private data (heap, data segment): read, write, may-anything.
pub const VM_DATA_DEFAULT_FLAGS: VmFlags =
    VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;

// RSS counters (Linux's `MM_*PAGES`).
pub const MM_FILEPAGES: usize = 0;
pub const MM_ANONPAGES: usize = 1;
pub const MM_SWAPENTS: usize = 2;
pub const MM_SHMEMPAGES: usize = 3;
pub const NR_MM_COUNTERS: usize = 4;

pub struct MmStruct {
    pub pgd: PageTable,
    pub vmas: VmaTree,
    /// Top of the area the kernel picks mapping addresses from.
    pub mmap_base: u64,
    pub start_code: u64,
    pub end_code: u64,
    pub start_data: u64,
    pub end_data: u64,
    pub start_brk: u64,
    pub brk: u64,
    /// The initial stack pointer of the program (what makes a VMA `[stack]`).
    pub start_stack: u64,
    /// Where exec put the argument and environment strings (/proc/<pid>/cmdline, environ).
    pub arg_start: u64,
    pub arg_end: u64,
    pub env_start: u64,
    pub env_end: u64,
    /// The executable this address space runs (`/proc/<pid>/exe`).
    pub exe_file: Option<crate::fs::namespace::Path>,
    /// RSS counters, readable without the mm lock (the OOM killer's view).
    pub counters: Arc<MmCounters>,
    /// Highest RSS seen (VmHWM).
    pub hiwater_rss: u64,
    /// The OOM reaper has taken this address space's private memory (Linux's MMF_UNSTABLE):
    /// faults fail instead of bringing in new pages for a process that is dying.
    pub oom_reaped: bool,
}

/// What the OOM killer reads of an address space without its lock: the RSS counters
/// (`rss_stat`), and the size and page tables as of the last change to the counters.
#[derive(Default)]
pub struct MmCounters {
    pub rss: [core::sync::atomic::AtomicU64; NR_MM_COUNTERS],
    pub total_vm: core::sync::atomic::AtomicU64,
    pub pgtables: core::sync::atomic::AtomicU64,
    /// The OOM reaper is done with it (Linux's MMF_OOM_SKIP): no longer a candidate.
    reaped: core::sync::atomic::AtomicBool,
}

impl MmCounters {
    pub fn reaped(&self) -> bool {
        self.reaped.load(Relaxed)
    }

    pub fn set_reaped(&self) {
        self.reaped.store(true, Relaxed)
    }
}

pub fn page_align_up(x: u64) -> Option<u64> {
    x.checked_add(PAGE - 1).map(|v| v & !(PAGE - 1))
}

/// PTE flags for a VMA's pages (Linux's `vm_get_page_prot`). PROT_NONE pages keep their frame
/// but are not present, so neither user mode nor the kernel's user copies reach them.
pub fn vm_get_page_prot(flags: VmFlags) -> u64 {
    if flags & VM_ACCESS_FLAGS == 0 {
        return PTE_PROTNONE;
    }
    let mut f = PTE_USER;
    if flags & VM_WRITE != 0 {
        f |= PTE_WRITE;
    }
    if flags & VM_EXEC == 0 {
        f |= PTE_NX;
    }
    f
}

/// `PROT_*` to `VM_*` (Linux's `calc_vm_prot_bits`).
pub fn calc_vm_prot_bits(prot: u64) -> VmFlags {
    prot & (PROT_READ | PROT_WRITE | PROT_EXEC)
}

/// May a private page at `phys` be mapped writable here? Only if nobody else holds it and it
/// is not a file's page.
pub fn private_page_writable(phys: u64) -> bool {
    !is_zero_page(phys) && page_count(phys) == 1 && !is_file_page(phys)
}

/// Which RSS counter a VMA's pages count in.
pub fn rss_member(flags: VmFlags) -> usize {
    if flags & VM_SHARED != 0 {
        MM_SHMEMPAGES
    } else {
        MM_ANONPAGES
    }
}

impl MmStruct {
    pub fn new() -> KResult<Self> {
        Ok(MmStruct {
            pgd: PageTable::new_user().ok_or(ENOMEM)?,
            vmas: VmaTree::new(),
            mmap_base: MMAP_BASE,
            start_code: 0,
            end_code: 0,
            start_data: 0,
            end_data: 0,
            start_brk: 0,
            brk: 0,
            start_stack: 0,
            arg_start: 0,
            arg_end: 0,
            env_start: 0,
            env_end: 0,
            exe_file: None,
            counters: Arc::new(MmCounters::default()),
            hiwater_rss: 0,
            oom_reaped: false,
        })
    }

    pub fn get_mm_counter(&self, member: usize) -> u64 {
        self.counters.rss[member].load(Relaxed)
    }

    pub fn add_mm_counter(&mut self, member: usize, delta: i64) {
        let c = &self.counters;
        let v = c.rss[member].load(Relaxed).saturating_add_signed(delta);
        c.rss[member].store(v, Relaxed);
        c.total_vm.store(self.vmas.total_vm, Relaxed);
        c.pgtables.store(self.pgd.nr_pgtables(), Relaxed);
        if delta > 0 {
            self.hiwater_rss = self.hiwater_rss.max(self.get_mm_rss());
        }
    }

    /// Resident pages (Linux's `get_mm_rss`).
    pub fn get_mm_rss(&self) -> u64 {
        let c = |m: usize| self.get_mm_counter(m);
        c(MM_FILEPAGES) + c(MM_ANONPAGES) + c(MM_SHMEMPAGES)
    }

    /// A fresh copy of the scalar fields for fork (the VMAs and pages are `dup_mmap`'s job).
    pub(super) fn dup_fields(&self) -> KResult<MmStruct> {
        let mut mm = MmStruct::new()?;
        mm.mmap_base = self.mmap_base;
        mm.start_code = self.start_code;
        mm.end_code = self.end_code;
        mm.start_data = self.start_data;
        mm.end_data = self.end_data;
        mm.start_brk = self.start_brk;
        mm.brk = self.brk;
        mm.start_stack = self.start_stack;
        mm.arg_start = self.arg_start;
        mm.arg_end = self.arg_end;
        mm.env_start = self.env_start;
        mm.env_end = self.env_end;
        mm.exe_file = self.exe_file.clone();
        Ok(mm)
    }

    /// Private anonymous memory over `[start, end)` with `prot`, replacing whatever was
    /// mapped there: the tests' stand-in for an executable's segments.
    #[cfg(test)]
    pub fn insert_vma(&mut self, start: u64, end: u64, prot: u64) {
        self.insert_private(start, end, prot, None);
    }

    /// Map `[start, end)` privately from `image`, the page at `start` being the file's page
    /// `pgoff`; read in at fault time (exec's segments).
    pub fn insert_file_vma(
        &mut self,
        start: u64,
        end: u64,
        prot: u64,
        pgoff: u64,
        image: Arc<FileImage>,
    ) {
        self.insert_private(start, end, prot, Some((pgoff, image)));
    }

    /// A private mapping at a fixed place, replacing whatever was mapped there; anonymous or
    /// from a file image at a page offset. An empty or misplaced range maps nothing.
    fn insert_private(
        &mut self,
        start: u64,
        end: u64,
        prot: u64,
        image: Option<(u64, Arc<FileImage>)>,
    ) {
        if start >= end || end > TASK_SIZE || !start.is_multiple_of(PAGE) {
            return;
        }
        self.unmap_region(start, end);
        let mut flags = calc_vm_prot_bits(prot) | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
        if flags & VM_WRITE != 0 {
            flags |= VM_ACCOUNT;
        }
        let mut vma = Vma::anon(start, end, flags);
        if let Some((pgoff, image)) = image {
            vma.pgoff = pgoff;
            vma.image = Some(image);
        }
        self.vmas.insert(vma);
    }

    /// Linux's `do_mmap` for anonymous memory; the flags have been validated by the syscall.
    pub fn do_mmap(&mut self, addr: u64, len: u64, prot: u64, flags: u64) -> KResult<u64> {
        self.mmap_region(addr, len, prot, flags, None, 0)
    }

    /// `do_mmap` of a file: the file's page `pgoff` at the mapping's start, found in the
    /// file's page cache at fault time; privately, copied on write; shared, the cache's page
    /// itself. A shared mapping of a file not open for writing can never be written: it is
    /// private, read-only for good (`VM_MAYSHARE` without `VM_SHARED` or `VM_MAYWRITE`).
    pub fn do_mmap_file(
        &mut self,
        addr: u64,
        len: u64,
        prot: u64,
        flags: u64,
        (pgoff, image): (u64, Arc<FileImage>),
        may_write: bool,
    ) -> KResult<u64> {
        let shared = flags & MAP_TYPE == MAP_SHARED;
        if shared && prot & PROT_WRITE != 0 && !may_write {
            return Err(EACCES);
        }
        let drop = if shared && !may_write {
            VM_SHARED | VM_MAYWRITE
        } else {
            0
        };
        self.mmap_region(addr, len, prot, flags, Some((pgoff, image)), drop)
    }

    fn mmap_region(
        &mut self,
        addr: u64,
        len: u64,
        prot: u64,
        flags: u64,
        image: Option<(u64, Arc<FileImage>)>,
        drop_flags: VmFlags,
    ) -> KResult<u64> {
        if len == 0 {
            return Err(EINVAL);
        }
        let len = page_align_up(len).ok_or(ENOMEM)?;
        let flags = if flags & MAP_FIXED_NOREPLACE != 0 {
            flags | MAP_FIXED
        } else {
            flags
        };
        let mut vm_flags = calc_vm_prot_bits(prot) | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
        if flags & MAP_GROWSDOWN != 0 {
            vm_flags |= VM_GROWSDOWN;
        }
        if flags & MAP_LOCKED != 0 {
            vm_flags |= VM_LOCKED;
        }
        if flags & MAP_NORESERVE != 0 {
            vm_flags |= VM_NORESERVE;
        }
        match flags & MAP_TYPE {
            MAP_SHARED if vm_flags & VM_GROWSDOWN != 0 => return Err(EINVAL),
            MAP_SHARED => vm_flags |= VM_SHARED | VM_MAYSHARE,
            MAP_PRIVATE => {}
            _ => return Err(EINVAL),
        }
        vm_flags &= !drop_flags;
        if flags & MAP_HUGETLB != 0 {
            // No huge pages are reserved (vm.nr_hugepages = 0).
            return Err(ENOMEM);
        }
        let addr = self.get_unmapped_area(addr, len, flags)?;
        let end = addr + len;
        if flags & MAP_FIXED_NOREPLACE != 0 && !self.vmas.is_free(addr, end) {
            return Err(EEXIST);
        }
        // Linux's `accountable_mapping`: private writable memory is charged to Committed_AS.
        if vm_flags & (VM_NORESERVE | VM_SHARED | VM_WRITE) == VM_WRITE {
            vm_flags |= VM_ACCOUNT;
        }
        let split = flags & MAP_FIXED != 0 && self.vmas.splits_one(addr, end);
        if !self.vmas.has_room_for(1 + usize::from(split)) {
            return Err(ENOMEM);
        }
        if flags & MAP_FIXED != 0 {
            self.unmap_region(addr, end);
        }
        let vma = if let Some((pgoff, image)) = image {
            Vma {
                pgoff,
                image: Some(image),
                ..Vma::anon(addr, end, vm_flags)
            }
        } else if vm_flags & VM_SHARED != 0 {
            Vma {
                start: addr,
                end,
                flags: vm_flags,
                pgoff: 0,
                file: Some(ShmemFile::new()),
                image: None,
            }
        } else {
            Vma::anon(addr, end, vm_flags)
        };
        self.vmas.insert(vma);
        if vm_flags & VM_LOCKED != 0 || flags & (MAP_POPULATE | MAP_NONBLOCK) == MAP_POPULATE {
            self.populate(addr, end);
        }
        Ok(addr)
    }

    /// Where a new mapping of `len` bytes goes (Linux's `get_unmapped_area` with the x86_64
    /// top-down policy): `addr` itself for MAP_FIXED, the hint if it fits, else the highest
    /// hole below `mmap_base`, else any hole.
    pub fn get_unmapped_area(&self, addr: u64, len: u64, flags: u64) -> KResult<u64> {
        if len > TASK_SIZE - MMAP_MIN_ADDR {
            return Err(ENOMEM);
        }
        if flags & MAP_FIXED != 0 {
            if !addr.is_multiple_of(PAGE) {
                return Err(EINVAL);
            }
            if addr > TASK_SIZE - len {
                return Err(ENOMEM);
            }
            return Ok(addr);
        }
        if flags & MAP_32BIT != 0 {
            return self
                .vmas
                .get_unmapped_area(len, MAP_32BIT_LOW, MAP_32BIT_HIGH)
                .ok_or(ENOMEM);
        }
        if addr != 0 {
            if let Some(hint) = page_align_up(addr).filter(|&h| self.vmas.range_fits(h, len)) {
                return Ok(hint);
            }
        }
        self.vmas
            .get_unmapped_area(len, MMAP_MIN_ADDR, self.mmap_base)
            .or_else(|| self.vmas.get_unmapped_area(len, MMAP_MIN_ADDR, TASK_SIZE))
            .ok_or(ENOMEM)
    }

    /// Fault in `[start, end)` now (MAP_POPULATE, MAP_LOCKED): writes for private writable
    /// memory, so no page is left on the zero page. Stops quietly at the first failure.
    pub fn populate(&mut self, start: u64, end: u64) {
        let mut va = start;
        while va < end {
            let Some(v) = self.vmas.vma_lookup(va) else {
                return;
            };
            let (write, vend) = (v.flags & (VM_WRITE | VM_SHARED) == VM_WRITE, v.end);
            while va < end.min(vend) {
                if handle_mm_fault(self, va, write, false).is_err() {
                    return;
                }
                va += PAGE;
            }
        }
    }

    /// `munmap`.
    pub fn munmap(&mut self, addr: u64, len: u64) -> KResult<()> {
        if !addr.is_multiple_of(PAGE) || addr > TASK_SIZE || len > TASK_SIZE - addr {
            return Err(EINVAL);
        }
        let len = page_align_up(len).ok_or(EINVAL)?;
        if len == 0 {
            return Err(EINVAL);
        }
        if self.vmas.splits_one(addr, addr + len) && !self.vmas.has_room_for(1) {
            return Err(ENOMEM);
        }
        self.unmap_region(addr, addr + len);
        Ok(())
    }

    /// `mprotect` (Linux's `do_mprotect_pkey`). All-or-nothing: a hole in the range fails it
    /// before anything changes.
    pub fn mprotect(&mut self, addr: u64, len: u64, prot: u64) -> KResult<()> {
        let grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
        let prot = prot & !grows;
        if grows == PROT_GROWSDOWN | PROT_GROWSUP || !addr.is_multiple_of(PAGE) {
            return Err(EINVAL);
        }
        if len == 0 {
            return Ok(());
        }
        let len = page_align_up(len).ok_or(ENOMEM)?;
        let end = addr.checked_add(len).ok_or(ENOMEM)?;
        if prot & !(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM) != 0 {
            return Err(EINVAL);
        }
        let first = self.vmas.find_vma(addr).ok_or(ENOMEM)?;
        let mut start = addr;
        if grows & PROT_GROWSUP != 0 {
            return Err(EINVAL);
        }
        if grows & PROT_GROWSDOWN != 0 {
            if first.start >= end {
                return Err(ENOMEM);
            }
            if first.flags & VM_GROWSDOWN == 0 {
                return Err(EINVAL);
            }
            start = first.start;
        } else if first.start > start {
            return Err(ENOMEM);
        }
        if !self.vmas.covers(start, end) {
            return Err(ENOMEM);
        }
        let bits = calc_vm_prot_bits(prot);
        for v in self.vmas.overlapping(start, end) {
            let new = (v.flags & !VM_ACCESS_FLAGS) | bits;
            // VM_MAY* sit four bits above the rights they allow.
            if new & !(new >> 4) & VM_ACCESS_FLAGS != 0 {
                return Err(EACCES);
            }
        }
        if !self.vmas.has_room_for(self.vmas.edge_cuts(start, end)) {
            return Err(ENOMEM);
        }
        let pieces = self.vmas.change_flags(start, end, |v| {
            let mut new = (v.flags & !VM_ACCESS_FLAGS) | bits;
            if new & VM_WRITE != 0
                && v.flags & (VM_ACCOUNT | VM_WRITE | VM_SHARED | VM_NORESERVE) == 0
            {
                new |= VM_ACCOUNT;
            }
            new
        });
        for p in pieces {
            let shared = p.is_shared();
            let prot = vm_get_page_prot(p.flags);
            self.pgd.protect_range(p.start, p.end, prot, |phys| {
                shared || private_page_writable(phys)
            });
        }
        flush_tlb_range(self, start, end);
        Ok(())
    }

    /// Linux's `brk`: returns the new break, or the old one if the request can't be met.
    pub fn set_brk(&mut self, brk: u64) -> u64 {
        let orig = self.brk;
        if brk < self.start_brk {
            return orig;
        }
        let (Some(newbrk), Some(oldbrk)) = (page_align_up(brk), page_align_up(self.brk)) else {
            return orig;
        };
        if newbrk > TASK_SIZE {
            return orig;
        }
        if newbrk == oldbrk {
            self.brk = brk;
            return brk;
        }
        if brk <= self.brk {
            self.brk = brk;
            self.unmap_region(newbrk, oldbrk);
            return brk;
        }
        if !self.vmas.has_room_for(1) {
            return orig;
        }
        // Keep a page, and any stack guard gap, free above the heap.
        if let Some(next) = self.vmas.find_vma(oldbrk) {
            if newbrk + PAGE > next.start_gap() {
                return orig;
            }
        }
        self.vmas.insert(Vma::anon(
            oldbrk,
            newbrk,
            VM_DATA_DEFAULT_FLAGS | VM_ACCOUNT,
        ));
        self.brk = brk;
        brk
    }

    /// The stack of a new program (Linux's `setup_arg_pages`): a grows-down VMA from 128 KiB
    /// below the page holding `sp` up to `stack_top`; it grows on faults below it, up to
    /// `STACK_SIZE`. `sp` becomes `start_stack`. `executable` (the program's PT_GNU_STACK asks
    /// for it) makes the stack VM_EXEC, as EXSTACK_ENABLE_X does.
    pub fn setup_stack(&mut self, stack_top: u64, sp: u64, executable: bool) -> KResult<()> {
        let lowest = stack_top.checked_sub(STACK_SIZE).ok_or(EINVAL)?;
        if sp >= stack_top || sp < lowest {
            return Err(E2BIG);
        }
        let base = (sp & !(PAGE - 1)).saturating_sub(STACK_EXPAND).max(lowest);
        if !self.vmas.is_free(base, stack_top) {
            return Err(ENOMEM);
        }
        let mut flags = VM_DATA_DEFAULT_FLAGS | VM_GROWSDOWN | VM_ACCOUNT;
        if executable {
            flags |= VM_EXEC;
        }
        self.vmas.insert(Vma::anon(base, stack_top, flags));
        self.start_stack = sp;
        Ok(())
    }

    /// The frame behind the private page at `va`, for the kernel to fill through the direct
    /// map (exec writes the program image this way): the page already there, or a new one,
    /// *not* zeroed (`true`: the caller must write all of it). Only for an address space that
    /// has never been shared (exec's, before it runs).
    pub fn fault_in_page(&mut self, va: u64) -> KResult<(u64, bool)> {
        let v = self.vmas.vma_lookup(va).ok_or(EFAULT)?;
        if v.is_shared() {
            return Err(EINVAL);
        }
        let prot = vm_get_page_prot(v.flags);
        if let Some((phys, _)) = self.pgd.lookup(va) {
            if !is_zero_page(phys) {
                debug_assert_eq!(page_count(phys), 1);
                return Ok((phys, false));
            }
        }
        let phys = alloc_user_page(PG_ANON, false).ok_or(ENOMEM)?;
        super::rmap::page_add_new_anon_rmap(phys, va);
        if !self.pgd.map(va, phys, prot) {
            put_page(phys);
            return Err(ENOMEM);
        }
        self.add_mm_counter(MM_ANONPAGES, 1);
        Ok((phys, true))
    }
}

impl Drop for MmStruct {
    fn drop(&mut self) {
        self.exit_mmap();
    }
}
