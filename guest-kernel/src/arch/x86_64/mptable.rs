//! CPU discovery from the Intel MultiProcessor tables (our VMM writes them in the EBDA,
//! SeaBIOS in the BIOS area; QEMU's microvm firmware has only ACPI tables, see `acpi.rs`).

use super::acpi::CpuList;
use super::phys_to_virt;
use crate::drivers::acpi::tables::checksum_ok;

fn bytes(phys: u64, len: usize) -> &'static [u8] {
    // SAFETY: low memory (below 1 MiB) is mapped by the direct map and never reused.
    unsafe { core::slice::from_raw_parts(phys_to_virt(phys) as *const u8, len) }
}

fn find_floating_pointer() -> Option<u64> {
    let ebda = abi::layout::EBDA_START;
    for (start, len) in [(ebda, 1024u64), (0xf0000, 0x10000)] {
        let area = bytes(start, len as usize);
        for off in (0..area.len() - 16).step_by(16) {
            if &area[off..off + 4] == b"_MP_" && checksum_ok(&area[off..off + 16]) {
                return Some(start + off as u64);
            }
        }
    }
    None
}

/// APIC ids of the enabled processors, boot CPU first. None without an MP table.
pub fn cpus() -> Option<CpuList> {
    let fp = bytes(find_floating_pointer()?, 16);
    let table_phys = u32::from_le_bytes(fp[4..8].try_into().ok()?) as u64;
    if table_phys == 0 || table_phys >= 0x10_0000 {
        return None;
    }
    let header = bytes(table_phys, 44);
    if &header[0..4] != b"PCMP" {
        return None;
    }
    let length = u16::from_le_bytes([header[4], header[5]]) as usize;
    let entries = u16::from_le_bytes([header[34], header[35]]) as usize;
    let table = bytes(table_phys, length.min(0x10000));
    let mut list = CpuList::new();
    let mut off = 44;
    for _ in 0..entries {
        let Some(&kind) = table.get(off) else { break };
        let size = if kind == 0 { 20 } else { 8 };
        if off + size > table.len() {
            break;
        }
        if kind == 0 {
            // Flags: bit 0 enabled, bit 1 the boot processor (which goes first).
            let (apic_id, flags) = (table[off + 1] as u32, table[off + 3]);
            if flags & 1 != 0 {
                list.add(apic_id, flags & 2 != 0);
            }
        }
        off += size;
    }
    (!list.apic_ids().is_empty()).then_some(list)
}
