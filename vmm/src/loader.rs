//! Boot loading through the Xen PVH protocol.
//!
//! The kernel is an ELF whose `PT_LOAD` segments are copied to their physical addresses by
//! `linux-loader`; it must carry a `XEN_ELFNOTE_PHYS32_ENTRY` note, the 32-bit entry point we
//! start the BSP at. The boot information goes where `abi::layout` says:
//! `hvm_start_info` at `PVH_INFO_START` (its address is handed over in RBX), the module list
//! (the initrd) at `PVH_MODLIST_START`, the E820-style memory map at `PVH_MEMMAP_START` and the
//! NUL-terminated command line at `CMDLINE_START`. The initrd sits page-aligned at the top of
//! RAM below the MMIO gap.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use abi::layout::{
    CMDLINE_MAX_SIZE, CMDLINE_START, EBDA_START, HIGH_RAM_START, PVH_INFO_START,
    PVH_MEMMAP_MAX_ENTRIES, PVH_MEMMAP_START, PVH_MODLIST_START,
};
use linux_loader::loader::elf::start_info::{
    hvm_memmap_table_entry, hvm_modlist_entry, hvm_start_info,
};
use linux_loader::loader::elf::{Elf, PvhBootCapability};
use linux_loader::loader::KernelLoader;
use object::read::elf::{ElfFile64, ProgramHeader};
use object::ReadCache;
use vm_memory::{Bytes, GuestAddress};

use crate::memory::{self, GuestMemory};

/// `hvm_start_info.magic`.
pub const XEN_HVM_START_MAGIC_VALUE: u32 = 0x336e_c578;
/// ELF note type of the PVH 32-bit entry point.
pub const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;
const E820_RAM: u32 = 1;
const E820_RESERVED: u32 = 2;
const PAGE_SIZE: u64 = 0x1000;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kernel file {0}")]
    KernelOpen(PathBuf, #[source] std::io::Error),
    #[error("{0} is not an ELF file")]
    NotElf(PathBuf),
    #[error("{0} is not a 64-bit ELF file")]
    NotElf64(PathBuf),
    #[error("kernel has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)")]
    NoPvhNote,
    #[error("cannot load kernel {0}")]
    KernelLoad(PathBuf, #[source] linux_loader::loader::Error),
    #[error("kernel ends at {end:#x}, beyond low RAM ({ram_end:#x})")]
    KernelTooBig { end: u64, ram_end: u64 },
    #[error("initrd file {0}")]
    InitrdOpen(PathBuf, #[source] std::io::Error),
    #[error("initrd {path} ({size} bytes) does not fit in guest memory above the kernel")]
    InitrdTooBig { path: PathBuf, size: u64 },
    #[error("cannot read initrd {0} into guest memory")]
    InitrdRead(PathBuf, #[source] vm_memory::GuestMemoryError),
    #[error("kernel command line contains a NUL byte")]
    CmdlineNul,
    #[error("kernel command line is {len} bytes, longer than the {max} allowed")]
    CmdlineTooLong { len: usize, max: usize },
    #[error("too many memory map entries ({0})")]
    TooManyMemmapEntries(usize),
    #[error("cannot write boot information to guest memory")]
    WriteBootInfo(#[source] vm_memory::GuestMemoryError),
}

/// Where a loaded kernel starts and ends.
#[derive(Debug, Clone, Copy)]
pub struct LoadedKernel {
    /// The PVH 32-bit entry point (physical).
    pub entry: u64,
    /// First byte after the highest loaded segment.
    pub end: u64,
}

/// A virtio-mmio device as the command line announces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmioDeviceInfo {
    pub base: u64,
    pub size: u64,
    pub irq: u32,
}

/// Checks the ELF magic and the PVH note, then loads the kernel's segments.
pub fn load_kernel(mem: &GuestMemory, path: &Path) -> Result<LoadedKernel, Error> {
    let mut file = File::open(path).map_err(|e| Error::KernelOpen(path.into(), e))?;
    let mut magic = [0u8; 4];
    if file.read_exact(&mut magic).is_err() || magic != *b"\x7fELF" {
        return Err(Error::NotElf(path.into()));
    }
    let pvh_entry = find_pvh_entry(&file, path)?;

    let ram_end = memory::low_ram_end(mem);
    let result = Elf::load(mem, None, &mut file, Some(GuestAddress(HIGH_RAM_START)))
        .map_err(|e| Error::KernelLoad(path.into(), e))?;
    let entry = match result.pvh_boot_cap {
        PvhBootCapability::PvhEntryPresent(addr) => addr.0,
        _ => pvh_entry.ok_or(Error::NoPvhNote)?,
    };
    if result.kernel_end > ram_end {
        return Err(Error::KernelTooBig {
            end: result.kernel_end,
            ram_end,
        });
    }
    Ok(LoadedKernel {
        entry,
        end: result.kernel_end,
    })
}

/// Finds the `XEN_ELFNOTE_PHYS32_ENTRY` note; reads only the headers and notes of the file.
fn find_pvh_entry(file: &File, path: &Path) -> Result<Option<u64>, Error> {
    let cache = ReadCache::new(file);
    let elf = ElfFile64::<object::Endianness, _>::parse(&cache)
        .map_err(|_| Error::NotElf64(path.into()))?;
    let endian = elf.endian();
    for phdr in elf.elf_program_headers() {
        let Ok(Some(mut notes)) = phdr.notes(endian, elf.data()) else {
            continue;
        };
        while let Ok(Some(note)) = notes.next() {
            if note.name() == b"Xen" && note.n_type(endian).0 == XEN_ELFNOTE_PHYS32_ENTRY {
                let desc = note.desc();
                let entry = if desc.len() >= 8 {
                    u64::from_le_bytes(desc[..8].try_into().unwrap_or_default())
                } else if desc.len() >= 4 {
                    u32::from_le_bytes(desc[..4].try_into().unwrap_or_default()) as u64
                } else {
                    continue;
                };
                return Ok(Some(entry));
            }
        }
    }
    Err(Error::NoPvhNote)
}

/// Loads the initrd page-aligned at the top of low RAM, above `kernel_end`. Returns its
/// (address, size).
pub fn load_initrd(mem: &GuestMemory, path: &Path, kernel_end: u64) -> Result<(u64, u64), Error> {
    let mut file = File::open(path).map_err(|e| Error::InitrdOpen(path.into(), e))?;
    let size = file
        .metadata()
        .map_err(|e| Error::InitrdOpen(path.into(), e))?
        .len();
    let too_big = || Error::InitrdTooBig {
        path: path.into(),
        size,
    };
    let addr = initrd_address(memory::low_ram_end(mem), kernel_end, size).ok_or_else(too_big)?;
    mem.read_exact_volatile_from(GuestAddress(addr), &mut file, size as usize)
        .map_err(|e| Error::InitrdRead(path.into(), e))?;
    Ok((addr, size))
}

/// Page-aligned address for an initrd of `size` bytes at the top of RAM ending at `ram_end`,
/// or `None` if it would overlap the kernel.
pub fn initrd_address(ram_end: u64, kernel_end: u64, size: u64) -> Option<u64> {
    let addr = ram_end.checked_sub(size)? & !(PAGE_SIZE - 1);
    (addr >= kernel_end.max(HIGH_RAM_START)).then_some(addr)
}

/// Formats a size the way Linux's `memparse` reads it (`4K`, `1M`, `4096`).
pub fn memparse_size(size: u64) -> String {
    for (shift, suffix) in [(30, 'G'), (20, 'M'), (10, 'K')] {
        if size != 0 && size.is_multiple_of(1 << shift) {
            return format!("{}{suffix}", size >> shift);
        }
    }
    size.to_string()
}

/// The user's command line plus one `virtio_mmio.device=<size>@<base>:<irq>` per device,
/// NUL-terminated and checked against `CMDLINE_MAX_SIZE`.
pub fn build_cmdline(user: &str, devices: &[MmioDeviceInfo]) -> Result<Vec<u8>, Error> {
    if user.contains('\0') {
        return Err(Error::CmdlineNul);
    }
    // Kernel parameters go before a lone `--`; what follows it belongs to init.
    let user = user.trim();
    let (kernel_part, init_part) = if user == "--" || user.starts_with("-- ") {
        ("", Some(user[2..].trim_start()))
    } else {
        match user.find(" -- ") {
            Some(i) => (&user[..i], Some(user[i + 4..].trim_start())),
            None if user.ends_with(" --") => (&user[..user.len() - 3], Some("")),
            None => (user, None),
        }
    };
    let mut line = kernel_part.trim().to_string();
    for dev in devices {
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&format!(
            "virtio_mmio.device={}@{:#x}:{}",
            memparse_size(dev.size),
            dev.base,
            dev.irq
        ));
    }
    if let Some(init) = init_part {
        line.push_str(if line.is_empty() { "--" } else { " --" });
        if !init.is_empty() {
            line.push(' ');
            line.push_str(init);
        }
    }
    let mut bytes = line.into_bytes();
    bytes.push(0);
    if bytes.len() > CMDLINE_MAX_SIZE {
        return Err(Error::CmdlineTooLong {
            len: bytes.len(),
            max: CMDLINE_MAX_SIZE,
        });
    }
    Ok(bytes)
}

fn memmap_entry(addr: u64, size: u64, type_: u32) -> hvm_memmap_table_entry {
    hvm_memmap_table_entry {
        addr,
        size,
        type_,
        reserved: 0,
    }
}

/// The E820 memory map for RAM `ranges` (as [`memory::ram_ranges`] returns them): low RAM up to
/// the EBDA, the EBDA and BIOS area reserved, RAM from 1 MiB, and any RAM above 4 GiB.
pub fn memory_map(ranges: &[(u64, u64)]) -> Vec<hvm_memmap_table_entry> {
    let mut map = Vec::new();
    for &(start, len) in ranges {
        let end = start + len;
        if start < HIGH_RAM_START {
            map.push(memmap_entry(start, EBDA_START - start, E820_RAM));
            map.push(memmap_entry(
                EBDA_START,
                HIGH_RAM_START - EBDA_START,
                E820_RESERVED,
            ));
            if end > HIGH_RAM_START {
                map.push(memmap_entry(HIGH_RAM_START, end - HIGH_RAM_START, E820_RAM));
            }
        } else {
            map.push(memmap_entry(start, len, E820_RAM));
        }
    }
    map
}

/// Writes the command line, the module list, the memory map and `hvm_start_info`.
pub fn write_boot_info(
    mem: &GuestMemory,
    cmdline: &[u8],
    initrd: Option<(u64, u64)>,
    memmap: &[hvm_memmap_table_entry],
) -> Result<(), Error> {
    if memmap.len() as u64 > PVH_MEMMAP_MAX_ENTRIES {
        return Err(Error::TooManyMemmapEntries(memmap.len()));
    }
    mem.write_slice(cmdline, GuestAddress(CMDLINE_START))
        .map_err(Error::WriteBootInfo)?;
    for (i, entry) in memmap.iter().enumerate() {
        let addr = PVH_MEMMAP_START + (i * std::mem::size_of::<hvm_memmap_table_entry>()) as u64;
        mem.write_obj(*entry, GuestAddress(addr))
            .map_err(Error::WriteBootInfo)?;
    }
    let mut info = hvm_start_info {
        magic: XEN_HVM_START_MAGIC_VALUE,
        version: 1,
        cmdline_paddr: CMDLINE_START,
        memmap_paddr: PVH_MEMMAP_START,
        memmap_entries: memmap.len() as u32,
        ..Default::default()
    };
    if let Some((paddr, size)) = initrd {
        let module = hvm_modlist_entry {
            paddr,
            size,
            ..Default::default()
        };
        mem.write_obj(module, GuestAddress(PVH_MODLIST_START))
            .map_err(Error::WriteBootInfo)?;
        info.nr_modules = 1;
        info.modlist_paddr = PVH_MODLIST_START;
    }
    mem.write_obj(info, GuestAddress(PVH_INFO_START))
        .map_err(Error::WriteBootInfo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::layout::{MMIO_GAP_END, MMIO_GAP_START, VIRTIO_MMIO_BASE, VIRTIO_MMIO_SIZE};

    const CONSOLE: MmioDeviceInfo = MmioDeviceInfo {
        base: VIRTIO_MMIO_BASE,
        size: VIRTIO_MMIO_SIZE,
        irq: 5,
    };

    #[test]
    fn cmdline() {
        assert_eq!(
            build_cmdline("console=hvc0 quiet", &[CONSOLE]).unwrap(),
            b"console=hvc0 quiet virtio_mmio.device=4K@0xd0000000:5\0"
        );
        assert_eq!(
            build_cmdline("", &[CONSOLE]).unwrap(),
            b"virtio_mmio.device=4K@0xd0000000:5\0"
        );
        let dev = [CONSOLE];
        assert_eq!(
            build_cmdline("quiet -- /bin/x 1", &dev).unwrap(),
            b"quiet virtio_mmio.device=4K@0xd0000000:5 -- /bin/x 1\0"
        );
        assert_eq!(
            build_cmdline("-- /bin/x", &dev).unwrap(),
            b"virtio_mmio.device=4K@0xd0000000:5 -- /bin/x\0"
        );
        assert_eq!(build_cmdline("a", &[]).unwrap(), b"a\0");
        assert!(matches!(build_cmdline("a\0b", &[]), Err(Error::CmdlineNul)));
        let long = "x".repeat(CMDLINE_MAX_SIZE - 1);
        assert!(build_cmdline(&long, &[]).is_ok());
        assert!(matches!(
            build_cmdline(&long, &[CONSOLE]),
            Err(Error::CmdlineTooLong { .. })
        ));
        assert!(matches!(
            build_cmdline(&"x".repeat(CMDLINE_MAX_SIZE), &[]),
            Err(Error::CmdlineTooLong {
                len: 4097,
                max: 4096
            })
        ));
    }

    #[test]
    fn memparse() {
        assert_eq!(memparse_size(0x1000), "4K");
        assert_eq!(memparse_size(0x20_0000), "2M");
        assert_eq!(memparse_size(1 << 30), "1G");
        assert_eq!(memparse_size(100), "100");
    }

    #[test]
    fn e820() {
        let map = memory_map(&memory::ram_ranges(256 << 20));
        let got: Vec<_> = map.iter().map(|e| (e.addr, e.size, e.type_)).collect();
        assert_eq!(
            got,
            vec![
                (0, 0x9fc00, E820_RAM),
                (0x9fc00, 0x100000 - 0x9fc00, E820_RESERVED),
                (0x100000, (256 << 20) - 0x100000, E820_RAM),
            ]
        );
        let map = memory_map(&memory::ram_ranges(4 << 30));
        assert_eq!(map.len(), 4);
        assert_eq!(map[2].addr + map[2].size, MMIO_GAP_START);
        assert_eq!(
            (map[3].addr, map[3].size, map[3].type_),
            (MMIO_GAP_END, (4 << 30) - MMIO_GAP_START, E820_RAM)
        );
    }

    #[test]
    fn initrd_placement() {
        assert_eq!(
            initrd_address(0x1000_0000, 0x20_0000, 0x1800),
            Some(0x0fff_e000)
        );
        assert_eq!(initrd_address(0x1000_0000, 0x0fff_f000, 0x1800), None);
        assert_eq!(initrd_address(0x1000, 0, 0x2000), None);
    }

    #[test]
    fn boot_info_layout() {
        let mem = memory::create(16 << 20).unwrap();
        let map = memory_map(&memory::ram_ranges(16 << 20));
        write_boot_info(&mem, b"quiet\0", Some((0xf0_0000, 0x1234)), &map).unwrap();
        let info: hvm_start_info = mem.read_obj(GuestAddress(PVH_INFO_START)).unwrap();
        assert_eq!(info.magic, XEN_HVM_START_MAGIC_VALUE);
        assert_eq!(info.version, 1);
        assert_eq!(
            (info.nr_modules, info.modlist_paddr),
            (1, PVH_MODLIST_START)
        );
        assert_eq!(
            (info.memmap_paddr, info.memmap_entries),
            (PVH_MEMMAP_START, 3)
        );
        let m: hvm_modlist_entry = mem.read_obj(GuestAddress(PVH_MODLIST_START)).unwrap();
        assert_eq!((m.paddr, m.size), (0xf0_0000, 0x1234));
        let mut line = [0u8; 6];
        mem.read_slice(&mut line, GuestAddress(CMDLINE_START))
            .unwrap();
        assert_eq!(&line, b"quiet\0");
    }

    #[test]
    fn rejects_non_elf_and_missing_files() {
        let mem = memory::create(16 << 20).unwrap();
        let err = load_kernel(&mem, Path::new("/nonexistent/kernel")).unwrap_err();
        assert!(matches!(err, Error::KernelOpen(..)));
        let dir = std::env::temp_dir().join(format!("vmm-loader-test-{}", std::process::id()));
        std::fs::write(&dir, b"#!/bin/sh\necho not an elf\n").unwrap();
        let err = load_kernel(&mem, &dir).unwrap_err();
        let _ = std::fs::remove_file(&dir);
        assert_eq!(
            err.to_string(),
            format!("{} is not an ELF file", dir.display())
        );
        // The test binary itself is an ELF without a PVH note.
        let exe = std::env::current_exe().unwrap();
        assert!(matches!(load_kernel(&mem, &exe), Err(Error::NoPvhNote)));
    }
}
