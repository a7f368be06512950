//! ACPI at boot (Linux's arch/x86/kernel/acpi/boot.c): find the RSDP, walk the root table to
//! the MADT, and take the processors from it. QEMU's firmware writes these tables; our VMM
//! writes an MP table instead (see `mptable.rs`).
//!
//! The tables are only read, through the direct map, and only where reading is known to be
//! harmless: the low 1 MiB, or ranges the memory map lists, below the end of the direct map.
//! This runs before the page allocator exists, so nothing can have reused the tables' memory.

use core::fmt;

use super::paging::DIRECT_MAP_BYTES;
use super::phys_to_virt;
use super::pvh::BootInfo;
use crate::drivers::acpi::madt;
use crate::drivers::acpi::tables::{self, Error, Rsdp, SdtHeader};

pub type CpuList = madt::CpuList<{ super::percpu::MAX_CPUS }>;

/// Below 1 MiB every address is RAM or ROM on a PC, whatever the memory map says.
const LOW_MEMORY_END: u64 = 0x10_0000;
/// The BIOS read-only area the RSDP may be in.
const BIOS_AREA: (u64, u64) = (0xe0000, 0x10_0000);
/// The BIOS data area word holding the EBDA's segment.
const BDA_EBDA_SEGMENT: u64 = 0x40e;
/// Highest APIC id an xAPIC-mode IPI can name (0xff is the broadcast id).
const MAX_XAPIC_ID: u32 = 0xfe;

/// Whether every byte of `[phys, phys + len)` is memory the memory map lists (or low memory).
fn readable(boot: &BootInfo, phys: u64, len: usize) -> bool {
    let Some(end) = phys.checked_add(len as u64) else {
        return false;
    };
    if end > DIRECT_MAP_BYTES {
        return false;
    }
    // Bytes below 1 MiB need no entry.
    let mut at = phys.max(LOW_MEMORY_END);
    while at < end {
        let Some(&(start, size, _)) = boot.memmap[..boot.memmap_len]
            .iter()
            .find(|&&(start, size, _)| start <= at && at < start.saturating_add(size))
        else {
            return false;
        };
        at = start.saturating_add(size);
    }
    true
}

/// `len` bytes of physical memory, when they may be read.
fn read(boot: &BootInfo, phys: u64, len: usize) -> Option<&'static [u8]> {
    // SAFETY: the range is inside the direct map and is RAM, ROM or firmware-reserved memory
    // (checked just above), which the kernel never writes during boot.
    readable(boot, phys, len)
        .then(|| unsafe { core::slice::from_raw_parts(phys_to_virt(phys) as *const u8, len) })
}

/// Find the RSDP (Linux's `acpi_os_get_root_pointer`): the address the PVH start info gives,
/// else a scan of the first KiB of the EBDA and of the BIOS area (`acpi_find_root_pointer`).
/// Not on our own VMM, which passes the RSDP in the start info if it has ACPI tables (see
/// `abi::layout`): there the scan would cost ~30 ms of emulated kernel time on kvm-pvm, for
/// nothing.
fn find_rsdp(boot: &BootInfo) -> Result<(u64, Rsdp), Error> {
    let at = |phys: u64| {
        read(boot, phys, tables::RSDP_V2_LEN)
            .or_else(|| read(boot, phys, tables::RSDP_V1_LEN))
            .and_then(tables::parse_rsdp)
    };
    if boot.rsdp != 0 {
        return at(boot.rsdp)
            .map(|r| (boot.rsdp, r))
            .ok_or(Error::BadRsdp(boot.rsdp));
    }
    if super::cpu::on_watchvm() {
        return Err(Error::NoRsdp);
    }
    let ebda = read(boot, BDA_EBDA_SEGMENT, 2)
        .map(|b| (u16::from_le_bytes([b[0], b[1]]) as u64) << 4)
        .unwrap_or(0);
    let mut areas = [(0, 0), (BIOS_AREA.0, BIOS_AREA.1 - BIOS_AREA.0)];
    if ebda > 0x400 && ebda < BIOS_AREA.0 {
        areas[0] = (ebda, 1024);
    }
    for (start, len) in areas {
        let Some(area) = read(boot, start, len as usize) else {
            continue;
        };
        if let Some(off) = tables::scan_rsdp(area) {
            let phys = start + off as u64;
            return at(phys).map(|r| (phys, r)).ok_or(Error::BadRsdp(phys));
        }
    }
    Err(Error::NoRsdp)
}

/// Firmware strings as Linux prints them: unprintable bytes become '?'.
struct Id<'a>(&'a [u8]);

impl fmt::Display for Id<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let mut buf = [b'?'; 8];
        for (d, &c) in buf.iter_mut().zip(self.0) {
            if c.is_ascii_graphic() || c == b' ' {
                *d = c;
            }
        }
        let s = core::str::from_utf8(&buf[..self.0.len().min(8)]).unwrap_or("");
        f.pad(s)
    }
}

/// `ACPI: APIC 0x000000000FFE190E 000078 (v01 BOCHS  BXPC     00000001 BXPC 00000001)`, as
/// Linux's `acpi_tb_print_table_header` prints a table.
fn print_table(phys: u64, h: &SdtHeader) {
    crate::pr_info!(
        "ACPI: {} {:#018X} {:06X} (v{:02} {:<6} {:<8} {:08X} {:<4} {:08X})",
        Id(&h.signature),
        phys,
        h.length,
        h.revision,
        Id(&h.oem_id),
        Id(&h.oem_table_id),
        h.oem_revision,
        Id(&h.creator_id),
        h.creator_revision
    );
}

/// Register the MADT's I/O APICs (Linux's `acpi_parse_ioapic`), logging each as Linux does:
/// `IOAPIC[0]: apic_id 0, version 32, address 0xfec00000, GSI 0-23`.
fn register_io_apics(madt: &madt::Madt) {
    let mut index = 0;
    for entry in madt.entries().flatten() {
        let madt::MadtEntry::IoApic {
            id,
            address,
            gsi_base,
        } = entry
        else {
            continue;
        };
        match super::ioapic::register(address as u64, gsi_base) {
            Some((version, pins)) => {
                crate::pr_info!(
                    "IOAPIC[{}]: apic_id {}, version {}, address {:#x}, GSI {}-{}",
                    index,
                    id,
                    version,
                    address,
                    gsi_base,
                    gsi_base + pins - 1
                );
                index += 1;
            }
            None => crate::pr_warn!("ACPI: I/O APIC at {:#x} ignored", address),
        }
    }
}

/// The processors the MADT lists, boot CPU first (Linux's `acpi_boot_init` as far as
/// `acpi_parse_madt_lapic_entries`). Logs the tables it used; the caller logs why it fails.
pub fn acpi_boot_init(boot: &BootInfo, boot_apic_id: u32) -> Result<CpuList, Error> {
    let reader = |phys, len| read(boot, phys, len);
    let (rsdp_phys, rsdp) = find_rsdp(boot)?;
    crate::pr_info!(
        "ACPI: RSDP {:#018X} {:06X} (v{:02} {:<6})",
        rsdp_phys,
        rsdp.len(),
        rsdp.revision,
        Id(&rsdp.oem_id)
    );
    let found = tables::read_root(&reader, &rsdp)?;
    if let Some(e) = found.xsdt_error {
        crate::pr_warn!("ACPI: {e}, using the RSDT");
    }
    let root = found.root;
    print_table(root.table.phys, &root.table.header);
    let madt = madt::find_madt(&reader, &root)?;
    print_table(madt.table.phys, &madt.table.header);
    if madt.local_apic_address as u64 != abi::layout::LAPIC_BASE {
        // The kernel drives the local APIC at its architectural address only.
        crate::pr_warn!(
            "ACPI: Local APIC address {:#x} ignored",
            madt.local_apic_address
        );
    }
    let cpus = madt::madt_cpus(&madt, boot_apic_id, MAX_XAPIC_ID)?;
    register_io_apics(&madt);
    crate::pr_info!("ACPI: Using ACPI (MADT) for SMP configuration information");
    if cpus.ignored > 0 {
        crate::pr_warn!(
            "ACPI: {} processor entries ignored (more than {} CPUs or APIC id above {:#x})",
            cpus.ignored,
            super::percpu::MAX_CPUS,
            MAX_XAPIC_ID
        );
    }
    Ok(cpus)
}
