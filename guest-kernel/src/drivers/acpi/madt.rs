//! The MADT (Multiple APIC Description Table): its processor entries, and the list of CPUs to
//! start (Linux's drivers/acpi/tables.c walks the entries, arch/x86/kernel/acpi/boot.c decides
//! which are processors). Parsed from byte slices, like the rest of `tables`.

use super::tables::*;

/// The MADT ("Multiple APIC Description Table") is signed "APIC".
pub const MADT_SIGNATURE: [u8; 4] = *b"APIC";

/// The MADT's fixed part: the header, the local APIC address and the flags.
const MADT_FIXED_LEN: usize = SDT_HEADER_LEN + 8;

/// MADT entry types we look at.
pub const MADT_LOCAL_APIC: u8 = 0;
pub const MADT_IO_APIC: u8 = 1;
pub const MADT_LOCAL_X2APIC: u8 = 9;
/// Local APIC flags: the processor is usable now...
pub const MADT_ENABLED: u32 = 1 << 0;
/// ...or it may be enabled later (ACPI 6.3).
pub const MADT_ONLINE_CAPABLE: u32 = 1 << 1;

/// The Multiple APIC Description Table.
#[derive(Debug, Clone, Copy)]
pub struct Madt<'a> {
    pub table: Table<'a>,
    /// Where the local APICs' registers are (before any override entry).
    pub local_apic_address: u32,
}

/// One MADT entry (the ones the kernel uses; the rest as their type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MadtEntry {
    LocalApic {
        processor_id: u8,
        apic_id: u8,
        flags: u32,
    },
    IoApic {
        id: u8,
        address: u32,
        gsi_base: u32,
    },
    LocalX2Apic {
        uid: u32,
        apic_id: u32,
        flags: u32,
    },
    Other {
        kind: u8,
    },
}

/// Find the MADT through the root table.
pub fn find_madt<'a>(
    read: &impl Fn(u64, usize) -> Option<&'a [u8]>,
    root: &Root<'a>,
) -> Result<Madt<'a>> {
    let table = find_table(read, root, MADT_SIGNATURE, MADT_FIXED_LEN)?;
    Ok(Madt {
        local_apic_address: u32_at(table.bytes, SDT_HEADER_LEN),
        table,
    })
}

impl<'a> Madt<'a> {
    /// The entries, in table order. A malformed entry (shorter than its type needs, or running
    /// past the end of the table) ends the walk with an error, as in Linux's
    /// `acpi_parse_entries_array`.
    pub fn entries(&self) -> MadtEntries<'a> {
        MadtEntries {
            bytes: self.table.bytes,
            offset: MADT_FIXED_LEN,
        }
    }
}

pub struct MadtEntries<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl Iterator for MadtEntries<'_> {
    type Item = Result<MadtEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.bytes.get(self.offset..).filter(|r| !r.is_empty())?;
        let offset = self.offset;
        let kind = rest[0];
        let len = rest.get(1).copied().unwrap_or(0);
        let need = match kind {
            MADT_LOCAL_APIC => 8,
            MADT_IO_APIC => 12,
            MADT_LOCAL_X2APIC => 16,
            _ => 2,
        };
        if (len as usize) < need || len as usize > rest.len() {
            // Stop here: nothing after a bad entry can be trusted to be an entry.
            self.offset = self.bytes.len();
            return Some(Err(Error::BadMadtEntry { offset, kind, len }));
        }
        self.offset += len as usize;
        Some(Ok(match kind {
            MADT_LOCAL_APIC => MadtEntry::LocalApic {
                processor_id: rest[2],
                apic_id: rest[3],
                flags: u32_at(rest, 4),
            },
            MADT_IO_APIC => MadtEntry::IoApic {
                id: rest[2],
                address: u32_at(rest, 4),
                gsi_base: u32_at(rest, 8),
            },
            MADT_LOCAL_X2APIC => MadtEntry::LocalX2Apic {
                apic_id: u32_at(rest, 4),
                flags: u32_at(rest, 8),
                uid: u32_at(rest, 12),
            },
            kind => MadtEntry::Other { kind },
        }))
    }
}

/// The processors the firmware describes (from the MADT or the MP table), by local APIC id:
/// the boot CPU first, then the others in table order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList<const N: usize> {
    apic_ids: [u32; N],
    count: usize,
    /// Processors that are not enabled but online-capable: possible CPUs for a later hotplug,
    /// not started at boot.
    pub hotplug: usize,
    /// Usable entries left out: beyond `N` CPUs, or with an APIC id the kernel cannot address.
    pub ignored: usize,
}

impl<const N: usize> Default for CpuList<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> CpuList<N> {
    pub const fn new() -> Self {
        CpuList {
            apic_ids: [0; N],
            count: 0,
            hotplug: 0,
            ignored: 0,
        }
    }

    /// The APIC ids of the processors present now, boot CPU first.
    pub fn apic_ids(&self) -> &[u32] {
        &self.apic_ids[..self.count]
    }

    /// Add a present processor; `boot` puts it first. A repeated APIC id is ignored (the same
    /// CPU may be listed by a local APIC entry and an x2APIC entry).
    pub fn add(&mut self, apic_id: u32, boot: bool) {
        if self.apic_ids().contains(&apic_id) {
            return;
        }
        if self.count == N {
            self.ignored += 1;
            return;
        }
        if boot {
            self.apic_ids.copy_within(0..self.count, 1);
            self.apic_ids[0] = apic_id;
        } else {
            self.apic_ids[self.count] = apic_id;
        }
        self.count += 1;
    }
}

/// The processors a MADT lists: local APIC (type 0) and local x2APIC (type 9) entries that are
/// enabled, or online-capable (counted as hotplug CPUs). The one with `boot_apic_id` goes
/// first. APIC ids above `max_apic_id` cannot be sent an IPI by this kernel and are counted as
/// ignored, as are Linux's "invalid" ids (0xff for local APIC entries, 0xffffffff for x2APIC).
/// Any malformed entry rejects the whole table, as does a table without a usable processor.
pub fn madt_cpus<const N: usize>(
    madt: &Madt,
    boot_apic_id: u32,
    max_apic_id: u32,
) -> Result<CpuList<N>> {
    let mut list = CpuList::new();
    for entry in madt.entries() {
        let (apic_id, flags, invalid) = match entry? {
            MadtEntry::LocalApic { apic_id, flags, .. } => (apic_id as u32, flags, 0xff),
            MadtEntry::LocalX2Apic { apic_id, flags, .. } => (apic_id, flags, u32::MAX),
            _ => continue,
        };
        if flags & (MADT_ENABLED | MADT_ONLINE_CAPABLE) == 0 {
            continue;
        }
        if apic_id == invalid || apic_id > max_apic_id {
            list.ignored += 1;
        } else if flags & MADT_ENABLED == 0 {
            list.hotplug += 1;
        } else {
            list.add(apic_id, apic_id == boot_apic_id);
        }
    }
    if list.count == 0 {
        return Err(Error::NoProcessors);
    }
    Ok(list)
}
