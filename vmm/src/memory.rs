//! Guest physical memory.
//!
//! RAM fills guest physical addresses from 0 up to `abi::layout::MMIO_GAP_START`; whatever is
//! left goes above 4 GiB (`MMIO_GAP_END`), so the 32-bit hole stays free for virtio-mmio, the
//! IOAPIC and the LAPIC. Both regions are anonymous mappings that KVM sees as memory slots.
//!
//! Also here: the 4-level page walk that turns a guest virtual address into a physical one,
//! used to show the instruction bytes at RIP when the guest crashes.

use abi::layout::{MMIO_GAP_END, MMIO_GAP_START};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};

pub type GuestMemory = GuestMemoryMmap;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot allocate {0} bytes of guest memory")]
    Allocate(u64, #[source] vm_memory::mmap::FromRangesError),
}

/// The guest RAM ranges (start, length) for `mem_size` bytes of RAM.
pub fn ram_ranges(mem_size: u64) -> Vec<(u64, u64)> {
    let low = mem_size.min(MMIO_GAP_START);
    let mut ranges = vec![(0, low)];
    if mem_size > low {
        ranges.push((MMIO_GAP_END, mem_size - low));
    }
    ranges
}

/// Allocates guest RAM laid out by [`ram_ranges`].
pub fn create(mem_size: u64) -> Result<GuestMemory, Error> {
    let ranges: Vec<(GuestAddress, usize)> = ram_ranges(mem_size)
        .into_iter()
        .map(|(start, len)| (GuestAddress(start), len as usize))
        .collect();
    GuestMemoryMmap::from_ranges(&ranges).map_err(|e| Error::Allocate(mem_size, e))
}

/// End (exclusive) of the first RAM region, i.e. of RAM below the MMIO gap.
pub fn low_ram_end(mem: &GuestMemory) -> u64 {
    mem.iter()
        .next()
        .map(|r| r.start_addr().0 + r.len())
        .unwrap_or(0)
}

const PTE_PRESENT: u64 = 1;
const PTE_PS: u64 = 1 << 7;
const PTE_ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
const CR0_PG: u64 = 1 << 31;
const EFER_LMA: u64 = 1 << 10;

/// Translates guest virtual address `gva` to a guest physical address the way the CPU would
/// with control registers `cr0`, `cr3` and `efer`: identity with paging off, else a 4-level
/// walk (4 KiB, 2 MiB and 1 GiB pages). `None` when not mapped, or the paging mode is one we
/// don't walk (32-bit paging, PAE without long mode).
pub fn translate_gva(mem: &GuestMemory, cr0: u64, cr3: u64, efer: u64, gva: u64) -> Option<u64> {
    if cr0 & CR0_PG == 0 {
        return Some(gva);
    }
    if efer & EFER_LMA == 0 {
        return None;
    }
    let mut table = cr3 & PTE_ADDR_MASK;
    // Levels: PML4 (shift 39), PDPT (30), PD (21), PT (12).
    for shift in [39u32, 30, 21, 12] {
        let index = (gva >> shift) & 0x1ff;
        let entry: u64 = mem.read_obj(GuestAddress(table + index * 8)).ok()?;
        if entry & PTE_PRESENT == 0 {
            return None;
        }
        let leaf = shift == 12 || ((shift == 30 || shift == 21) && entry & PTE_PS != 0);
        if leaf {
            let page_mask = (1u64 << shift) - 1;
            return Some((entry & PTE_ADDR_MASK & !page_mask) | (gva & page_mask));
        }
        table = entry & PTE_ADDR_MASK;
    }
    None
}

/// Reads up to `len` bytes at guest virtual address `gva`, page by page; stops at the first
/// unmapped byte.
pub fn read_virt(
    mem: &GuestMemory,
    cr0: u64,
    cr3: u64,
    efer: u64,
    gva: u64,
    len: usize,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let va = gva.wrapping_add(out.len() as u64);
        let Some(pa) = translate_gva(mem, cr0, cr3, efer, va) else {
            break;
        };
        let in_page = (0x1000 - (va & 0xfff)) as usize;
        let n = in_page.min(len - out.len());
        let mut buf = vec![0u8; n];
        if mem.read_slice(&mut buf, GuestAddress(pa)).is_err() {
            break;
        }
        out.extend_from_slice(&buf);
    }
    out
}

/// Bytes of guest RAM currently resident in this process (`mincore` over every region).
pub fn guest_resident_bytes(mem: &GuestMemory) -> u64 {
    let page = 4096usize;
    let mut total = 0u64;
    for region in mem.iter() {
        let len = region.len() as usize;
        let Ok(host) = region.get_host_address(vm_memory::MemoryRegionAddress(0)) else {
            continue;
        };
        let mut vec = vec![0u8; len.div_ceil(page)];
        // SAFETY: `host..host+len` is this region's live mapping; `vec` has one byte per page.
        let r = unsafe { libc::mincore(host as *mut libc::c_void, len, vec.as_mut_ptr()) };
        if r == 0 {
            total += vec.iter().filter(|&&b| b & 1 != 0).count() as u64 * page as u64;
        }
    }
    total
}

/// This process's resident set size, from /proc/self/status.
pub fn process_resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_split_at_the_gap() {
        assert_eq!(ram_ranges(256 << 20), vec![(0, 256 << 20)]);
        assert_eq!(ram_ranges(MMIO_GAP_START), vec![(0, MMIO_GAP_START)]);
        assert_eq!(
            ram_ranges(4 << 30),
            vec![
                (0, MMIO_GAP_START),
                (MMIO_GAP_END, (4 << 30) - MMIO_GAP_START)
            ]
        );
    }

    fn write(mem: &GuestMemory, addr: u64, val: u64) {
        mem.write_obj(val, GuestAddress(addr)).unwrap();
    }

    #[test]
    fn page_walk() {
        let mem = create(16 << 20).unwrap();
        low_ram_end(&mem);
        let (pml4, pdpt, pd, pt) = (0x1000u64, 0x2000u64, 0x3000u64, 0x4000u64);
        // Higher-half kernel address 0xffff_ffff_8000_0000 + ...
        let va: u64 = 0xffff_ffff_8020_1234;
        let (i4, i3, i2, i1) = (
            (va >> 39) & 511,
            (va >> 30) & 511,
            (va >> 21) & 511,
            (va >> 12) & 511,
        );
        write(&mem, pml4 + i4 * 8, pdpt | 3);
        write(&mem, pdpt + i3 * 8, pd | 3);
        write(&mem, pd + i2 * 8, pt | 3);
        write(&mem, pt + i1 * 8, 0x50_0000 | 3);
        let cr0 = CR0_PG | 1;
        let efer = EFER_LMA | (1 << 8);
        assert_eq!(translate_gva(&mem, cr0, pml4, efer, va), Some(0x50_0234));
        // A 2 MiB page.
        let va2: u64 = 0xffff_ffff_8040_0000 + 0x12345;
        write(&mem, pd + ((va2 >> 21) & 511) * 8, 0x60_0000 | PTE_PS | 3);
        assert_eq!(translate_gva(&mem, cr0, pml4, efer, va2), Some(0x61_2345));
        // A 1 GiB page (identity map of the first GiB at index 0 of PML4 slot 0).
        write(&mem, pml4, 0x5000 | 3);
        write(&mem, 0x5000, PTE_PS | 3);
        assert_eq!(
            translate_gva(&mem, cr0, pml4, efer, 0x3456_789a),
            Some(0x3456_789a)
        );
        // Not present.
        assert_eq!(
            translate_gva(&mem, cr0, pml4, efer, 0x0000_7000_0000_0000),
            None
        );
        // Paging off: identity; 32-bit paging: not walked.
        assert_eq!(translate_gva(&mem, 1, 0, 0, 0x1234), Some(0x1234));
        assert_eq!(translate_gva(&mem, cr0, pml4, 0, 0x1234), None);
        // Reading across a page boundary into an unmapped page stops there.
        mem.write_slice(&[0x90; 16], GuestAddress(0x50_0ff8))
            .unwrap();
        let bytes = read_virt(&mem, cr0, pml4, efer, va - 0x234 + 0xff8, 16);
        assert_eq!(bytes, vec![0x90; 8]);
        // Page table pointing outside guest memory: no translation, no panic.
        write(&mem, pt + i1 * 8, 0xf_0000_0000 | 3);
        assert_eq!(
            translate_gva(&mem, cr0, pml4, efer, va),
            Some(0xf_0000_0234)
        );
        assert!(read_virt(&mem, cr0, pml4, efer, va, 16).is_empty());
    }
}
