//! The Intel MultiProcessor Specification 1.4 table, as Firecracker writes it.
//!
//! Layout at `abi::layout::EBDA_START`: the 16-byte MP floating pointer, then the
//! configuration table header followed by its entries: one processor per vCPU (APIC id = index,
//! the BSP flagged on 0), the ISA bus, the IOAPIC (id = number of vCPUs), an interrupt entry
//! routing each ISA/GSI line 0..=23 to the IOAPIC pin of the same number, and the two local
//! interrupt entries (ExtINT on LINT0, NMI on LINT1). Both structures carry a checksum that
//! makes their bytes sum to zero. 32 vCPUs take 924 bytes, within the 1 KiB EBDA.

use abi::layout::{EBDA_START, IOAPIC_BASE, LAPIC_BASE, LOW_RAM_END};
use vm_memory::{Bytes, GuestAddress};

use crate::memory::GuestMemory;

const MPF_SIZE: usize = 16;
const MPC_HEADER_SIZE: usize = 44;
const MPC_CPU_SIZE: usize = 20;
const MPC_ENTRY_SIZE: usize = 8;
const MP_PROCESSOR: u8 = 0;
const MP_BUS: u8 = 1;
const MP_IOAPIC: u8 = 2;
const MP_INTSRC: u8 = 3;
const MP_LINTSRC: u8 = 4;
const MP_INT: u8 = 0;
const MP_NMI: u8 = 1;
const MP_EXTINT: u8 = 3;
const CPU_ENABLED: u8 = 1;
const CPU_BOOTPROCESSOR: u8 = 2;
const APIC_VERSION: u8 = 0x14;
const CPU_STEPPING: u32 = 0x600;
const CPU_FEATURE_APIC: u32 = 0x200;
const CPU_FEATURE_FPU: u32 = 0x001;
const MPC_APIC_USABLE: u8 = 1;
const SPEC_REV: u8 = 4;
/// GSIs the IOAPIC handles (KVM's IOAPIC has 24 pins).
pub const IOAPIC_PINS: u8 = 24;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the MP table for {0} vCPUs does not fit below {LOW_RAM_END:#x}")]
    TooBig(u8),
    #[error("cannot write the MP table to guest memory")]
    Write(#[source] vm_memory::GuestMemoryError),
}

/// Size in bytes of the floating pointer plus the table for `cpus` vCPUs.
pub fn mptable_size(cpus: u8) -> usize {
    MPF_SIZE
        + MPC_HEADER_SIZE
        + MPC_CPU_SIZE * cpus as usize
        + MPC_ENTRY_SIZE * (2 + IOAPIC_PINS as usize + 2)
}

fn checksum(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0u8, |acc, b| acc.wrapping_add(*b))
        .wrapping_neg()
}

/// Builds the floating pointer and configuration table for `cpus` vCPUs, to be placed at
/// guest physical address `base`.
pub fn build_mptable(base: u64, cpus: u8) -> Vec<u8> {
    let ioapic_id = cpus;
    let table_base = base + MPF_SIZE as u64;

    let mut table = vec![0u8; MPC_HEADER_SIZE];
    let mut entries = 0u16;
    for cpu in 0..cpus {
        let flags = CPU_ENABLED | if cpu == 0 { CPU_BOOTPROCESSOR } else { 0 };
        table.extend_from_slice(&[MP_PROCESSOR, cpu, APIC_VERSION, flags]);
        table.extend_from_slice(&CPU_STEPPING.to_le_bytes());
        table.extend_from_slice(&(CPU_FEATURE_APIC | CPU_FEATURE_FPU).to_le_bytes());
        table.extend_from_slice(&[0; 8]);
        entries += 1;
    }
    table.extend_from_slice(&[MP_BUS, 0]);
    table.extend_from_slice(b"ISA   ");
    table.extend_from_slice(&[MP_IOAPIC, ioapic_id, APIC_VERSION, MPC_APIC_USABLE]);
    table.extend_from_slice(&(IOAPIC_BASE as u32).to_le_bytes());
    entries += 2;
    for irq in 0..IOAPIC_PINS {
        // type, irqtype, irqflag (u16: conforming polarity/trigger), srcbus, srcbusirq,
        // dstapic, dstirq
        table.extend_from_slice(&[MP_INTSRC, MP_INT, 0, 0, 0, irq, ioapic_id, irq]);
        entries += 1;
    }
    // Local interrupts: ExtINT to LINT0 of the BSP, NMI to LINT1 of every CPU.
    table.extend_from_slice(&[MP_LINTSRC, MP_EXTINT, 0, 0, 0, 0, 0, 0]);
    table.extend_from_slice(&[MP_LINTSRC, MP_NMI, 0, 0, 0, 0, 0xff, 1]);
    entries += 2;

    let len = table.len() as u16;
    table[0..4].copy_from_slice(b"PCMP");
    table[4..6].copy_from_slice(&len.to_le_bytes());
    table[6] = SPEC_REV;
    table[8..16].copy_from_slice(b"WATCHVM ");
    table[16..28].copy_from_slice(b"000000000000");
    // 28..32 OEM table pointer, 32..34 OEM table size: none.
    table[34..36].copy_from_slice(&entries.to_le_bytes());
    table[36..40].copy_from_slice(&(LAPIC_BASE as u32).to_le_bytes());
    // 40..42 extended table length, 42 its checksum, 43 reserved: none.
    table[7] = checksum(&table);

    let mut mpf = vec![0u8; MPF_SIZE];
    mpf[0..4].copy_from_slice(b"_MP_");
    mpf[4..8].copy_from_slice(&(table_base as u32).to_le_bytes());
    mpf[8] = 1; // length in 16-byte units
    mpf[9] = SPEC_REV;
    mpf[10] = checksum(&mpf);

    mpf.extend_from_slice(&table);
    mpf
}

/// Writes the MP table for `cpus` vCPUs at `EBDA_START`.
pub fn setup_mptable(mem: &GuestMemory, cpus: u8) -> Result<(), Error> {
    let bytes = build_mptable(EBDA_START, cpus);
    if EBDA_START + bytes.len() as u64 > LOW_RAM_END {
        return Err(Error::TooBig(cpus));
    }
    mem.write_slice(&bytes, GuestAddress(EBDA_START))
        .map_err(Error::Write)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(bytes: &[u8]) -> u8 {
        bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b))
    }

    #[test]
    fn checksums_and_layout() {
        for cpus in [1u8, 2, 7, 32] {
            let t = build_mptable(EBDA_START, cpus);
            assert_eq!(t.len(), mptable_size(cpus));
            let (mpf, table) = t.split_at(MPF_SIZE);
            assert_eq!(&mpf[0..4], b"_MP_");
            assert_eq!(sum(mpf), 0);
            let ptr = u32::from_le_bytes(mpf[4..8].try_into().unwrap()) as u64;
            assert_eq!(ptr, EBDA_START + 16);
            assert_eq!(&table[0..4], b"PCMP");
            assert_eq!(
                u16::from_le_bytes([table[4], table[5]]) as usize,
                table.len()
            );
            assert_eq!(sum(table), 0);
            let count = u16::from_le_bytes([table[34], table[35]]);
            assert_eq!(count as usize, cpus as usize + 2 + 24 + 2);
            // Walk the entries.
            let mut off = MPC_HEADER_SIZE;
            let mut seen = [0usize; 5];
            while off < table.len() {
                let kind = table[off];
                seen[kind as usize] += 1;
                match kind {
                    MP_PROCESSOR => {
                        let idx = seen[0] - 1;
                        assert_eq!(table[off + 1] as usize, idx);
                        assert_eq!(table[off + 3] & CPU_BOOTPROCESSOR != 0, idx == 0);
                        off += MPC_CPU_SIZE;
                    }
                    MP_IOAPIC => {
                        assert_eq!(table[off + 1], cpus);
                        let addr = u32::from_le_bytes(table[off + 4..off + 8].try_into().unwrap());
                        assert_eq!(addr as u64, IOAPIC_BASE);
                        off += MPC_ENTRY_SIZE;
                    }
                    MP_INTSRC => {
                        assert_eq!(table[off + 5], table[off + 7]);
                        assert_eq!(table[off + 6], cpus);
                        off += MPC_ENTRY_SIZE;
                    }
                    _ => off += MPC_ENTRY_SIZE,
                }
            }
            assert_eq!(off, table.len());
            assert_eq!(seen, [cpus as usize, 1, 1, 24, 2]);
        }
        assert!(EBDA_START + mptable_size(32) as u64 <= LOW_RAM_END);
    }

    #[test]
    fn written_to_the_ebda() {
        let mem = crate::memory::create(16 << 20).unwrap();
        setup_mptable(&mem, 2).unwrap();
        let mut sig = [0u8; 4];
        mem.read_slice(&mut sig, GuestAddress(EBDA_START)).unwrap();
        assert_eq!(&sig, b"_MP_");
    }
}
