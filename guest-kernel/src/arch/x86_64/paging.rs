//! 4-level page tables for user address spaces.
//!
//! A user PML4 shares the kernel half (entries 256..512) with the master table built at boot,
//! so kernel mappings are identical in every address space. Intermediate tables are allocated
//! on demand and freed with the address space; leaf frames belong to the caller (`mm`).

use super::{cpu, phys_to_virt};
use crate::mm::page_alloc::{alloc_zeroed_page, free_page};

pub const PTE_PRESENT: u64 = 1 << 0;
pub const PTE_WRITE: u64 = 1 << 1;
pub const PTE_USER: u64 = 1 << 2;
pub const PTE_HUGE: u64 = 1 << 7;
pub const PTE_NX: u64 = 1 << 63;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

fn table(phys: u64) -> &'static mut [u64; 512] {
    // SAFETY: page-table pages are only reached through their owning address space, which is
    // used by one CPU at a time here; the direct map covers them.
    unsafe { &mut *(phys_to_virt(phys) as *mut [u64; 512]) }
}

fn index(va: u64, level: u32) -> usize {
    ((va >> (12 + 9 * level)) & 0x1ff) as usize
}

pub struct PageTable {
    pml4: u64,
}

impl PageTable {
    /// A new address space: empty user half, the kernel's upper half.
    pub fn new_user() -> Option<Self> {
        let pml4 = alloc_zeroed_page()?;
        let kernel = table(super::boot::init_pml4_phys());
        table(pml4)[256..].copy_from_slice(&kernel[256..]);
        Some(PageTable { pml4 })
    }

    pub fn root(&self) -> u64 {
        self.pml4
    }

    /// Make this address space current on this CPU.
    pub fn activate(&self) {
        // SAFETY: the table maps the kernel half identically to every other address space.
        unsafe { cpu::write_cr3(self.pml4) }
    }

    /// Map the 4 KiB page at `va` to `phys`; returns false if out of memory.
    pub fn map(&mut self, va: u64, phys: u64, flags: u64) -> bool {
        let Some(pte) = self.walk(va, true) else {
            return false;
        };
        *pte = (phys & ADDR_MASK) | flags | PTE_PRESENT;
        cpu::invlpg(va);
        true
    }

    /// Remove every mapping in `[start, end)`, handing each frame to `release`.
    pub fn unmap_range(&mut self, start: u64, end: u64, mut release: impl FnMut(u64)) {
        self.for_each_leaf(start, end, |va, pte| {
            release(*pte & ADDR_MASK);
            *pte = 0;
            cpu::invlpg(va);
        });
    }

    /// Give every mapping in `[start, end)` new flags.
    pub fn protect_range(&mut self, start: u64, end: u64, flags: u64) {
        self.for_each_leaf(start, end, |va, pte| {
            *pte = (*pte & ADDR_MASK) | flags | PTE_PRESENT;
            cpu::invlpg(va);
        });
    }

    /// Call `f` on each present 4 KiB entry in `[start, end)`. Unpopulated tables are skipped
    /// whole, so an 8 MiB stack with a few pages in it costs a few steps, not 2048 walks.
    fn for_each_leaf(&mut self, start: u64, end: u64, mut f: impl FnMut(u64, &mut u64)) {
        let mut va = start;
        'outer: while va < end {
            let mut phys = self.pml4;
            for level in (1..4).rev() {
                let entry = table(phys)[index(va, level)];
                if entry & PTE_PRESENT == 0 {
                    let span = 1u64 << (12 + 9 * level);
                    va = (va & !(span - 1)) + span;
                    continue 'outer;
                }
                phys = entry & ADDR_MASK;
            }
            let pt = table(phys);
            loop {
                let pte = &mut pt[index(va, 0)];
                if *pte & PTE_PRESENT != 0 {
                    f(va, pte);
                }
                va += 4096;
                if va >= end || index(va, 0) == 0 {
                    break;
                }
            }
        }
    }

    /// The frame and flags mapped at `va`.
    pub fn lookup(&mut self, va: u64) -> Option<(u64, u64)> {
        let pte = self.walk(va, false)?;
        (*pte & PTE_PRESENT != 0).then(|| (*pte & ADDR_MASK, *pte & !ADDR_MASK))
    }

    fn walk(&mut self, va: u64, create: bool) -> Option<&'static mut u64> {
        let mut phys = self.pml4;
        for level in (1..4).rev() {
            let entry = &mut table(phys)[index(va, level)];
            if *entry & PTE_PRESENT == 0 {
                if !create {
                    return None;
                }
                *entry = alloc_zeroed_page()? | PTE_PRESENT | PTE_WRITE | PTE_USER;
            }
            phys = *entry & ADDR_MASK;
        }
        Some(&mut table(phys)[index(va, 0)])
    }
}

impl Drop for PageTable {
    /// Free the user half's intermediate tables (leaf frames were released by `mm`).
    fn drop(&mut self) {
        fn free_level(phys: u64, level: u32) {
            if level > 0 {
                for &entry in table(phys).iter() {
                    if entry & PTE_PRESENT != 0 {
                        free_level(entry & ADDR_MASK, level - 1);
                    }
                }
            }
            free_page(phys);
        }
        for &entry in table(self.pml4)[..256].iter() {
            if entry & PTE_PRESENT != 0 {
                free_level(entry & ADDR_MASK, 2);
            }
        }
        free_page(self.pml4);
    }
}
