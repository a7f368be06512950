//! 4-level page tables for user address spaces.
//!
//! A user PML4 shares the kernel half (entries 256..512) with the master table built at boot,
//! so kernel mappings are identical in every address space. Intermediate tables are allocated
//! on demand and freed with the address space; leaf frames belong to the caller (`mm`).
//!
//! A leaf is either present, or PROT_NONE: not present but carrying the frame and the software
//! bit [`PTE_PROTNONE`] (Linux's `_PAGE_PROTNONE`), so `mprotect(PROT_NONE)` makes pages
//! inaccessible to user mode *and* to the kernel's user copies without losing them. Range walks
//! visit both kinds.
//!
//! TLB policy is not decided here: `map` invalidates the one entry it writes on this CPU; the
//! range operations flush nothing, so the caller can flush once per operation (`mm/tlb.rs`,
//! which also owns shootdowns to other CPUs, with the bookkeeping of `tlb.rs`).
//!
//! Entries are reached through the direct map one at a time ([`entry`]); no function holds a
//! reference to a whole table while another may write into it.

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::tlb::TlbState;
use super::{cpu, phys_to_virt};
use crate::mm::page_alloc::{alloc_zeroed_page, free_page};
use crate::mm::vmstat::{mod_node_page_state, NodeStat};

pub const PTE_PRESENT: u64 = 1 << 0;
pub const PTE_WRITE: u64 = 1 << 1;
pub const PTE_USER: u64 = 1 << 2;
/// Set by the CPU when the entry is used (`_PAGE_ACCESSED`): reclaim's "young".
pub const PTE_ACCESSED: u64 = 1 << 5;
/// Software bit: a PROT_NONE leaf (PTE_PRESENT clear, frame kept).
pub const PTE_PROTNONE: u64 = 1 << 9;
pub const PTE_NX: u64 = 1 << 63;
pub const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
/// Physical memory the direct map covers: the boot page tables (`boot.rs`) map the first
/// 4 GiB with 2 MiB pages (`DirectMap2M` in /proc/meminfo).
pub const DIRECT_MAP_BYTES: u64 = 4 << 30;
/// A leaf that holds a frame.
const LEAF: u64 = PTE_PRESENT | PTE_PROTNONE;

/// Entry `idx` of the page-table page at `phys`.
fn entry(phys: u64, idx: usize) -> &'static mut u64 {
    debug_assert!(idx < 512);
    // SAFETY: page-table pages are only reached through their owning address space, whose
    // owner holds it mutably (the mm lock); the direct map covers them. References are to
    // single entries and callers never hold two to the same entry.
    unsafe { &mut *(phys_to_virt(phys) as *mut u64).add(idx) }
}

fn index(va: u64, level: u32) -> usize {
    ((va >> (12 + 9 * level)) & 0x1ff) as usize
}

/// The leaf entry for `va` under `pml4`, creating intermediate tables if `create` (each one
/// recorded in `tables`).
fn walk(pml4: u64, tables: &mut Vec<u64>, va: u64, create: bool) -> Option<&'static mut u64> {
    let mut phys = pml4;
    for level in (1..4).rev() {
        let e = entry(phys, index(va, level));
        if *e & PTE_PRESENT == 0 {
            if !create || tables.try_reserve(1).is_err() {
                return None;
            }
            let table = alloc_zeroed_page()?;
            tables.push(table);
            *e = table | PTE_PRESENT | PTE_WRITE | PTE_USER;
            mod_node_page_state(NodeStat::PageTables, 1);
        }
        phys = *e & ADDR_MASK;
    }
    Some(entry(phys, index(va, 0)))
}

/// Call `f` on each leaf (present or PROT_NONE) in `[start, end)` until it returns false.
/// Unpopulated tables are skipped whole, so an 8 MiB stack with a few pages in it costs a few
/// steps, not 2048 walks.
fn for_each_leaf(pml4: u64, start: u64, end: u64, mut f: impl FnMut(u64, &mut u64) -> bool) {
    let mut va = start;
    'outer: while va < end {
        let mut phys = pml4;
        for level in (1..4).rev() {
            let e = *entry(phys, index(va, level));
            if e & PTE_PRESENT == 0 {
                let span = 1u64 << (12 + 9 * level);
                va = (va & !(span - 1)) + span;
                continue 'outer;
            }
            phys = e & ADDR_MASK;
        }
        loop {
            let pte = entry(phys, index(va, 0));
            if *pte & LEAF != 0 && !f(va, pte) {
                return;
            }
            va += 4096;
            if va >= end || index(va, 0) == 0 {
                break;
            }
        }
    }
}

pub struct PageTable {
    pml4: u64,
    /// Every table allocated below the PML4 (VmPTE), so teardown frees them without
    /// scanning thousands of empty entries. Tables are only freed with the address space.
    tables: Vec<u64>,
    /// What the CPUs' TLBs hold of this address space; shared with the scheduler, which
    /// switches address spaces without the mm lock.
    tlb: Arc<TlbState>,
}

impl PageTable {
    /// A new address space: empty user half, the kernel's upper half.
    pub fn new_user() -> Option<Self> {
        let pml4 = alloc_zeroed_page()?;
        let kernel = super::boot::init_pml4_phys();
        // SAFETY: both are page-table pages in the direct map; the new one is ours alone and
        // the kernel half of the master table only changes at boot.
        unsafe {
            core::ptr::copy_nonoverlapping(
                (phys_to_virt(kernel) as *const u64).add(256),
                (phys_to_virt(pml4) as *mut u64).add(256),
                256,
            )
        };
        Some(PageTable {
            pml4,
            tables: Vec::new(),
            tlb: Arc::new(TlbState::new(pml4)),
        })
    }

    /// Page-table pages this address space uses below its root.
    pub fn nr_pgtables(&self) -> u64 {
        self.tables.len() as u64
    }

    /// This address space's TLB bookkeeping.
    pub fn tlb(&self) -> &Arc<TlbState> {
        &self.tlb
    }

    /// Map the 4 KiB page at `va` to `phys` with `flags` (PTE_PRESENT is added unless the
    /// flags say PROT_NONE); returns false if out of memory.
    pub fn map(&mut self, va: u64, phys: u64, flags: u64) -> bool {
        let Some(pte) = walk(self.pml4, &mut self.tables, va, true) else {
            return false;
        };
        let present = if flags & PTE_PROTNONE == 0 {
            PTE_PRESENT
        } else {
            0
        };
        *pte = (phys & ADDR_MASK) | flags | present;
        cpu::invlpg(va);
        true
    }

    /// Remove every mapping in `[start, end)`, handing each frame to `release`. No TLB flush.
    pub fn unmap_range(&mut self, start: u64, end: u64, mut release: impl FnMut(u64)) {
        for_each_leaf(self.pml4, start, end, |_, pte| {
            release(*pte & ADDR_MASK);
            *pte = 0;
            true
        });
    }

    /// Give every mapping in `[start, end)` new flags; the write bit (if in `flags`) only where
    /// `may_write(frame)` agrees, so copy-on-write pages stay read-only. No TLB flush.
    pub fn protect_range(
        &mut self,
        start: u64,
        end: u64,
        flags: u64,
        mut may_write: impl FnMut(u64) -> bool,
    ) {
        let present = if flags & PTE_PROTNONE == 0 {
            PTE_PRESENT
        } else {
            0
        };
        for_each_leaf(self.pml4, start, end, |_, pte| {
            let phys = *pte & ADDR_MASK;
            let mut f = flags | present;
            if f & PTE_WRITE != 0 && !may_write(phys) {
                f &= !PTE_WRITE;
            }
            *pte = phys | f;
            true
        });
    }

    /// Call `f(va, pte)` for each mapping in `[start, end)`.
    pub fn for_each_present(&mut self, start: u64, end: u64, mut f: impl FnMut(u64, u64)) {
        for_each_leaf(self.pml4, start, end, |va, pte| {
            f(va, *pte);
            true
        });
    }

    /// fork's copy: for each mapping in `[start, end)`, `f(pte)` returns the entry to keep here
    /// and the entry for `dst` at the same address. Returns false if `dst` ran out of memory for
    /// a table; `f` has then been called exactly for the entries that were copied. No TLB flush.
    pub fn copy_range(
        &mut self,
        dst: &mut PageTable,
        start: u64,
        end: u64,
        mut f: impl FnMut(u64) -> (u64, u64),
    ) -> bool {
        let mut ok = true;
        let (dst_root, dst_tables) = (dst.pml4, &mut dst.tables);
        for_each_leaf(self.pml4, start, end, |va, pte| {
            match walk(dst_root, dst_tables, va, true) {
                Some(d) => {
                    let (keep, copy) = f(*pte);
                    *pte = keep;
                    *d = copy;
                }
                None => ok = false,
            }
            ok
        });
        ok
    }

    /// mremap's move: the mappings of `[from, from + len)` move to `to` (which must not
    /// overlap and must hold no mappings). Tables are allocated first, so on false (out of
    /// memory) nothing has moved. No TLB flush.
    pub fn move_range(&mut self, from: u64, to: u64, len: u64) -> bool {
        let root = self.pml4;
        let tables = &mut self.tables;
        let mut ok = true;
        for_each_leaf(root, from, from + len, |va, _| {
            ok = walk(root, tables, va - from + to, true).is_some();
            ok
        });
        if !ok {
            return false;
        }
        for_each_leaf(root, from, from + len, |va, pte| {
            if let Some(d) = walk(root, tables, va - from + to, false) {
                *d = *pte;
                *pte = 0;
            }
            true
        });
        true
    }

    /// Clear the accessed bit of the entry at `va`; whether it was set
    /// (`ptep_test_and_clear_young`). No TLB flush, as on x86 in Linux: a stale entry only
    /// makes the page look idle a little longer.
    pub fn test_and_clear_young(&mut self, va: u64) -> bool {
        let Some(pte) = walk(self.pml4, &mut self.tables, va, false) else {
            return false;
        };
        let young = *pte & PTE_ACCESSED != 0;
        *pte &= !PTE_ACCESSED;
        young
    }

    /// The frame and flags mapped at `va` (present or PROT_NONE).
    pub fn lookup(&mut self, va: u64) -> Option<(u64, u64)> {
        let pte = walk(self.pml4, &mut self.tables, va, false)?;
        (*pte & LEAF != 0).then_some((*pte & ADDR_MASK, *pte & !ADDR_MASK))
    }
}

/// Run on the kernel's master page table (Linux's `switch_mm` to `init_mm`): what a CPU
/// must do before the address space it runs on goes away.
pub fn load_kernel_page_table() {
    // SAFETY: the master table maps the kernel half like every address space does.
    unsafe { cpu::write_cr3(super::boot::init_pml4_phys()) }
}

impl Drop for PageTable {
    /// Free the user half's tables (leaf frames were released by `mm`). If this CPU still
    /// runs on the table, it moves to the kernel's master table first.
    fn drop(&mut self) {
        if self.tlb.is_active() {
            load_kernel_page_table();
        }
        mod_node_page_state(NodeStat::PageTables, -(self.tables.len() as i64));
        for &table in &self.tables {
            free_page(table);
        }
        free_page(self.pml4);
    }
}
