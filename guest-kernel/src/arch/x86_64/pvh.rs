//! The PVH boot information (`hvm_start_info`, xen/include/public/arch-x86/hvm/start_info.h).

use super::phys_to_virt;

const XEN_HVM_START_MAGIC: u32 = 0x336e_c578;

#[repr(C)]
#[derive(Clone, Copy)]
struct StartInfo {
    magic: u32,
    version: u32,
    flags: u32,
    nr_modules: u32,
    modlist_paddr: u64,
    cmdline_paddr: u64,
    rsdp_paddr: u64,
    memmap_paddr: u64,
    memmap_entries: u32,
    reserved: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct ModEntry {
    paddr: u64,
    size: u64,
    cmdline_paddr: u64,
    reserved: u64,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct MemmapEntry {
    addr: u64,
    size: u64,
    kind: u32,
    reserved: u32,
}

pub const MAX_MEMMAP: usize = 64;

pub struct BootInfo {
    pub cmdline: &'static str,
    pub memmap: [(u64, u64, u32); MAX_MEMMAP],
    pub memmap_len: usize,
    /// The initramfs, as a physical range.
    pub initrd: Option<(u64, u64)>,
    /// Physical address of the ACPI RSDP, 0 if the loader gave none.
    pub rsdp: u64,
}

fn read<T: Copy>(phys: u64) -> T {
    // SAFETY: boot structures lie in low RAM, mapped by the direct map; T is plain data.
    unsafe { (phys_to_virt(phys) as *const T).read_unaligned() }
}

/// Read the start-of-day information the VMM left at `start_info` (physical).
pub fn parse(start_info: u64) -> Option<BootInfo> {
    let si: StartInfo = read(start_info);
    if si.magic != XEN_HVM_START_MAGIC {
        return None;
    }
    let cmdline = if si.cmdline_paddr != 0 {
        let base = phys_to_virt(si.cmdline_paddr) as *const u8;
        let mut len = 0;
        // SAFETY: the command line is NUL-terminated within 4 KiB in low memory.
        while len < abi::layout::CMDLINE_MAX_SIZE && unsafe { *base.add(len) } != 0 {
            len += 1;
        }
        // SAFETY: `len` bytes were just read from the same buffer.
        core::str::from_utf8(unsafe { core::slice::from_raw_parts(base, len) }).unwrap_or("")
    } else {
        ""
    };
    let mut info = BootInfo {
        cmdline,
        memmap: [(0, 0, 0); MAX_MEMMAP],
        memmap_len: 0,
        initrd: None,
        rsdp: si.rsdp_paddr,
    };
    if si.version >= 1 && si.memmap_paddr != 0 {
        for i in 0..(si.memmap_entries as usize).min(MAX_MEMMAP) {
            let e: MemmapEntry = read(si.memmap_paddr + (i * 24) as u64);
            info.memmap[i] = (e.addr, e.size, e.kind);
            info.memmap_len += 1;
        }
    }
    if si.nr_modules > 0 && si.modlist_paddr != 0 {
        let m: ModEntry = read(si.modlist_paddr);
        if m.size > 0 {
            info.initrd = Some((m.paddr, m.paddr + m.size));
        }
    }
    Some(info)
}
