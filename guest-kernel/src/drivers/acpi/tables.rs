//! The ACPI tables the kernel reads at boot, parsed from byte slices: the RSDP, the root table
//! (XSDT, or RSDT for ACPI 1.0), any table's header, and the MADT's processor entries.
//!
//! Linux does the same in drivers/acpi/acpica/tbxfroot.c (finding and validating the RSDP),
//! tbutils.c (walking the root table), drivers/acpi/tables.c (the MADT entries) and
//! arch/x86/kernel/acpi/boot.c (which entries are processors). Nothing here touches memory
//! directly: tables are read through a `read(phys, len)` function that says which physical
//! ranges may be read, so every length and checksum is checked before a byte is trusted, and
//! the whole walk is unit-tested on the host over fake memory.

/// "RSD PTR ", found on a 16-byte boundary.
pub const RSDP_SIGNATURE: [u8; 8] = *b"RSD PTR ";
pub const XSDT_SIGNATURE: [u8; 4] = *b"XSDT";
pub const RSDT_SIGNATURE: [u8; 4] = *b"RSDT";
/// The MADT ("Multiple APIC Description Table") is signed "APIC".
pub const MADT_SIGNATURE: [u8; 4] = *b"APIC";

/// Bytes the RSDP's first checksum covers (the ACPI 1.0 structure).
pub const RSDP_V1_LEN: usize = 20;
/// Bytes the extended checksum covers (ACPI 2.0+; Linux's ACPI_RSDP_XCHECKSUM_LENGTH).
pub const RSDP_V2_LEN: usize = 36;
/// The header every system description table starts with.
pub const SDT_HEADER_LEN: usize = 36;
/// The MADT's fixed part: the header, the local APIC address and the flags.
const MADT_FIXED_LEN: usize = SDT_HEADER_LEN + 8;
/// No table we read is anywhere near this long; a larger length is a corrupt header.
pub const MAX_TABLE_LEN: u32 = 1 << 20;

/// MADT entry types we look at.
pub const MADT_LOCAL_APIC: u8 = 0;
pub const MADT_IO_APIC: u8 = 1;
pub const MADT_LOCAL_X2APIC: u8 = 9;
/// Local APIC flags: the processor is usable now...
pub const MADT_ENABLED: u32 = 1 << 0;
/// ...or it may be enabled later (ACPI 6.3).
pub const MADT_ONLINE_CAPABLE: u32 = 1 << 1;

/// Why the tables could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// No "RSD PTR " structure with a valid checksum.
    NoRsdp,
    /// The RSDP at this address has a bad signature or checksum.
    BadRsdp(u64),
    /// The range at `phys` is outside the memory the kernel may read.
    Unreadable { phys: u64, len: usize },
    /// A table's signature is not the one its pointer promised.
    BadSignature { phys: u64, expected: [u8; 4] },
    /// A table's length is shorter than its fixed part or absurdly long.
    BadLength { signature: [u8; 4], length: u32 },
    /// A table's bytes do not sum to zero.
    BadChecksum { signature: [u8; 4] },
    /// The root table lists no table with this signature.
    NotFound([u8; 4]),
    /// A MADT entry is shorter than its type needs or runs past the table.
    BadMadtEntry { offset: usize, kind: u8, len: u8 },
    /// The MADT lists no usable processor.
    NoProcessors,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        fn sig(s: &[u8; 4]) -> &str {
            core::str::from_utf8(s).unwrap_or("????")
        }
        match self {
            Error::NoRsdp => write!(f, "no RSDP"),
            Error::BadRsdp(phys) => write!(f, "invalid RSDP at {phys:#x}"),
            Error::Unreadable { phys, len } => {
                write!(f, "table at {phys:#x} (+{len:#x}) is outside memory")
            }
            Error::BadSignature { phys, expected } => {
                write!(f, "no {} signature at {phys:#x}", sig(expected))
            }
            Error::BadLength { signature, length } => {
                write!(f, "{} has a bad length {length:#x}", sig(signature))
            }
            Error::BadChecksum { signature } => write!(f, "{} has a bad checksum", sig(signature)),
            Error::NotFound(s) => write!(f, "no {} table", sig(s)),
            Error::BadMadtEntry { offset, kind, len } => {
                write!(
                    f,
                    "bad MADT entry at {offset:#x} (type {kind}, length {len})"
                )
            }
            Error::NoProcessors => write!(f, "MADT lists no usable processor"),
        }
    }
}

pub type Result<T> = core::result::Result<T, Error>;

/// Whether the bytes sum to zero (mod 256), as every ACPI checksum requires.
pub fn checksum_ok(b: &[u8]) -> bool {
    b.iter().fold(0u8, |a, &x| a.wrapping_add(x)) == 0
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u32_at(b, off) as u64 | (u32_at(b, off + 4) as u64) << 32
}

fn array<const N: usize>(b: &[u8], off: usize) -> [u8; N] {
    let mut a = [0; N];
    a.copy_from_slice(&b[off..off + N]);
    a
}

/// The Root System Description Pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rsdp {
    pub revision: u8,
    pub oem_id: [u8; 6],
    pub rsdt: u32,
    /// The XSDT's address (ACPI 2.0+; 0 in a revision 0 RSDP).
    pub xsdt: u64,
}

impl Rsdp {
    /// Bytes its checksums cover (what Linux prints as its length).
    pub fn len(&self) -> usize {
        if self.revision >= 2 {
            RSDP_V2_LEN
        } else {
            RSDP_V1_LEN
        }
    }
}

/// Check an RSDP the way Linux's `acpi_tb_validate_rsdp` does: the signature, the checksum of
/// the first 20 bytes, and for revision 2 and later the extended checksum of 36 bytes. `b` may
/// be longer than the structure.
pub fn parse_rsdp(b: &[u8]) -> Option<Rsdp> {
    if b.len() < RSDP_V1_LEN || b[..8] != RSDP_SIGNATURE || !checksum_ok(&b[..RSDP_V1_LEN]) {
        return None;
    }
    let revision = b[15];
    let mut rsdp = Rsdp {
        revision,
        oem_id: array(b, 9),
        rsdt: u32_at(b, 16),
        xsdt: 0,
    };
    if revision >= 2 {
        if b.len() < RSDP_V2_LEN || !checksum_ok(&b[..RSDP_V2_LEN]) {
            return None;
        }
        rsdp.xsdt = u64_at(b, 24);
    }
    Some(rsdp)
}

/// The offset of the first valid RSDP on a 16-byte boundary of `area` (which starts on one),
/// like Linux's `acpi_tb_scan_memory_for_rsdp`.
pub fn scan_rsdp(area: &[u8]) -> Option<usize> {
    // Compare the signature as one word per paragraph: this loop runs 8192 times over the BIOS
    // area, and on our development machines kernel instructions are emulated.
    let sig = u64::from_le_bytes(RSDP_SIGNATURE);
    area.chunks_exact(16).enumerate().find_map(|(i, p)| {
        (u64_at(p, 0) == sig && parse_rsdp(&area[i * 16..]).is_some()).then_some(i * 16)
    })
}

/// A system description table header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdtHeader {
    pub signature: [u8; 4],
    pub length: u32,
    pub revision: u8,
    pub oem_id: [u8; 6],
    pub oem_table_id: [u8; 8],
    pub oem_revision: u32,
    pub creator_id: [u8; 4],
    pub creator_revision: u32,
}

/// Parse a table header; None if `b` is shorter than one.
pub fn parse_header(b: &[u8]) -> Option<SdtHeader> {
    (b.len() >= SDT_HEADER_LEN).then(|| SdtHeader {
        signature: array(b, 0),
        length: u32_at(b, 4),
        revision: b[8],
        oem_id: array(b, 10),
        oem_table_id: array(b, 16),
        oem_revision: u32_at(b, 24),
        creator_id: array(b, 28),
        creator_revision: u32_at(b, 32),
    })
}

/// A table read whole and checked.
#[derive(Debug, Clone, Copy)]
pub struct Table<'a> {
    pub phys: u64,
    pub header: SdtHeader,
    /// All `header.length` bytes, header included.
    pub bytes: &'a [u8],
}

/// Read the table at `phys`: its header, then `length` bytes, checking the signature (if
/// `expected` is given), that the length covers at least `min_len` bytes and is sane, and the
/// checksum.
pub fn read_table<'a>(
    read: &impl Fn(u64, usize) -> Option<&'a [u8]>,
    phys: u64,
    expected: Option<[u8; 4]>,
    min_len: usize,
) -> Result<Table<'a>> {
    let unreadable = |len| Error::Unreadable { phys, len };
    let header = read(phys, SDT_HEADER_LEN)
        .and_then(parse_header)
        .ok_or(unreadable(SDT_HEADER_LEN))?;
    if let Some(expected) = expected {
        if header.signature != expected {
            return Err(Error::BadSignature { phys, expected });
        }
    }
    let signature = header.signature;
    if (header.length as usize) < min_len.max(SDT_HEADER_LEN) || header.length > MAX_TABLE_LEN {
        return Err(Error::BadLength {
            signature,
            length: header.length,
        });
    }
    let len = header.length as usize;
    let bytes = read(phys, len)
        .filter(|b| b.len() >= len)
        .ok_or(unreadable(len))?;
    let bytes = &bytes[..len];
    if !checksum_ok(bytes) {
        return Err(Error::BadChecksum { signature });
    }
    Ok(Table {
        phys,
        header,
        bytes,
    })
}

/// The root table: the XSDT (64-bit entries) or the RSDT (32-bit entries).
#[derive(Debug, Clone, Copy)]
pub struct Root<'a> {
    pub table: Table<'a>,
    entry_size: usize,
}

impl<'a> Root<'a> {
    /// The physical addresses it lists (null entries skipped).
    pub fn entries(&self) -> impl Iterator<Item = u64> + 'a {
        let (body, size) = (&self.table.bytes[SDT_HEADER_LEN..], self.entry_size);
        body.chunks_exact(size)
            .map(move |e| {
                if size == 8 {
                    u64_at(e, 0)
                } else {
                    u32_at(e, 0) as u64
                }
            })
            .filter(|&a| a != 0)
    }
}

/// What [`read_root`] found: the root table, and why the XSDT was passed over if the RSDT had to
/// stand in for it.
pub struct RootResult<'a> {
    pub root: Root<'a>,
    pub xsdt_error: Option<Error>,
}

/// The root table the RSDP points to: the XSDT for revision 2 and later when it has one,
/// else the RSDT. A broken XSDT falls back to the RSDT when there is one (Linux falls back the
/// same way from an XSDT with null entries).
pub fn read_root<'a>(
    read: &impl Fn(u64, usize) -> Option<&'a [u8]>,
    rsdp: &Rsdp,
) -> Result<RootResult<'a>> {
    let mut xsdt_error = None;
    if rsdp.revision >= 2 && rsdp.xsdt != 0 {
        match read_table(read, rsdp.xsdt, Some(XSDT_SIGNATURE), SDT_HEADER_LEN) {
            Ok(table) => {
                return Ok(RootResult {
                    root: Root {
                        table,
                        entry_size: 8,
                    },
                    xsdt_error,
                })
            }
            Err(e) if rsdp.rsdt != 0 => xsdt_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    let table = read_table(read, rsdp.rsdt as u64, Some(RSDT_SIGNATURE), SDT_HEADER_LEN)?;
    Ok(RootResult {
        root: Root {
            table,
            entry_size: 4,
        },
        xsdt_error,
    })
}

/// The first table with `signature` that the root lists, read whole and checked. Entries whose
/// header cannot be read are passed over; a matching table that fails its checks is an error.
pub fn find_table<'a>(
    read: &impl Fn(u64, usize) -> Option<&'a [u8]>,
    root: &Root<'a>,
    signature: [u8; 4],
    min_len: usize,
) -> Result<Table<'a>> {
    for phys in root.entries() {
        let Some(header) = read(phys, SDT_HEADER_LEN).and_then(parse_header) else {
            continue;
        };
        if header.signature == signature {
            return read_table(read, phys, Some(signature), min_len);
        }
    }
    Err(Error::NotFound(signature))
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    /// Fake physical memory: `size` bytes from address 0.
    struct Mem(Vec<u8>);

    impl Mem {
        fn new(size: usize) -> Self {
            Mem(vec![0; size])
        }

        fn put(&mut self, phys: u64, bytes: &[u8]) {
            self.0[phys as usize..phys as usize + bytes.len()].copy_from_slice(bytes);
        }

        fn reader<'a>(&'a self) -> impl Fn(u64, usize) -> Option<&'a [u8]> + 'a {
            move |phys, len| {
                let end = (phys as usize).checked_add(len)?;
                self.0.get(phys as usize..end)
            }
        }
    }

    fn fix_checksum(b: &mut [u8], at: usize) {
        b[at] = 0;
        let sum = b.iter().fold(0u8, |a, &x| a.wrapping_add(x));
        b[at] = 0u8.wrapping_sub(sum);
    }

    fn rsdp(revision: u8, rsdt: u32, xsdt: u64) -> Vec<u8> {
        let mut b = vec![0u8; if revision >= 2 { 36 } else { 20 }];
        b[..8].copy_from_slice(&RSDP_SIGNATURE);
        b[9..15].copy_from_slice(b"BOCHS ");
        b[15] = revision;
        b[16..20].copy_from_slice(&rsdt.to_le_bytes());
        fix_checksum(&mut b[..20], 8);
        if revision >= 2 {
            b[20..24].copy_from_slice(&36u32.to_le_bytes());
            b[24..32].copy_from_slice(&xsdt.to_le_bytes());
            fix_checksum(&mut b, 32);
        }
        b
    }

    fn table(signature: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; SDT_HEADER_LEN];
        b[..4].copy_from_slice(signature);
        b[4..8].copy_from_slice(&((SDT_HEADER_LEN + body.len()) as u32).to_le_bytes());
        b[8] = 1;
        b[10..16].copy_from_slice(b"BOCHS ");
        b[16..24].copy_from_slice(b"BXPC    ");
        b[24..28].copy_from_slice(&1u32.to_le_bytes());
        b[28..32].copy_from_slice(b"BXPC");
        b[32..36].copy_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(body);
        fix_checksum(&mut b, 9);
        b
    }

    fn lapic(processor_id: u8, apic_id: u8, flags: u32) -> Vec<u8> {
        let mut e = vec![MADT_LOCAL_APIC, 8, processor_id, apic_id];
        e.extend_from_slice(&flags.to_le_bytes());
        e
    }

    fn x2apic(uid: u32, apic_id: u32, flags: u32) -> Vec<u8> {
        let mut e = vec![MADT_LOCAL_X2APIC, 16, 0, 0];
        e.extend_from_slice(&apic_id.to_le_bytes());
        e.extend_from_slice(&flags.to_le_bytes());
        e.extend_from_slice(&uid.to_le_bytes());
        e
    }

    fn ioapic() -> Vec<u8> {
        let mut e = vec![MADT_IO_APIC, 12, 0, 0];
        e.extend_from_slice(&0xfec0_0000u32.to_le_bytes());
        e.extend_from_slice(&0u32.to_le_bytes());
        e
    }

    fn madt(entries: &[Vec<u8>]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&0xfee0_0000u32.to_le_bytes());
        body.extend_from_slice(&1u32.to_le_bytes());
        for e in entries {
            body.extend_from_slice(e);
        }
        table(&MADT_SIGNATURE, &body)
    }

    const RSDP_AT: u64 = 0xf5a10;
    const RSDT_AT: u64 = 0x1000;
    const XSDT_AT: u64 = 0x2000;
    const FACP_AT: u64 = 0x3000;
    const MADT_AT: u64 = 0x4000;

    /// Memory as QEMU lays it out: RSDP in the BIOS area, an RSDT (and an XSDT for revision 2)
    /// listing a FACP and the MADT.
    fn machine(revision: u8, madt_bytes: &[u8]) -> Mem {
        let mut m = Mem::new(0x10_0000);
        let xsdt = if revision >= 2 { XSDT_AT } else { 0 };
        m.put(RSDP_AT, &rsdp(revision, RSDT_AT as u32, xsdt));
        let mut rsdt_body = Vec::new();
        let mut xsdt_body = Vec::new();
        for a in [FACP_AT, MADT_AT] {
            rsdt_body.extend_from_slice(&(a as u32).to_le_bytes());
            xsdt_body.extend_from_slice(&a.to_le_bytes());
        }
        m.put(RSDT_AT, &table(&RSDT_SIGNATURE, &rsdt_body));
        if revision >= 2 {
            m.put(XSDT_AT, &table(&XSDT_SIGNATURE, &xsdt_body));
        }
        m.put(FACP_AT, &table(b"FACP", &[0; 20]));
        m.put(MADT_AT, madt_bytes);
        m
    }

    fn qemu_madt() -> Vec<u8> {
        madt(&[lapic(0, 0, 1), lapic(1, 1, 1), ioapic()])
    }

    fn cpus_of(m: &Mem, boot: u32) -> Result<CpuList<4>> {
        let read = m.reader();
        let off = scan_rsdp(&m.0[0xe0000..]).ok_or(Error::NoRsdp)?;
        let rsdp = parse_rsdp(&m.0[0xe0000 + off..]).ok_or(Error::BadRsdp(0))?;
        let root = read_root(&read, &rsdp)?.root;
        let madt = find_madt(&read, &root)?;
        madt_cpus(&madt, boot, 0xfe)
    }

    #[test]
    fn rsdp_revisions_and_checksums() {
        let v0 = parse_rsdp(&rsdp(0, 0x1234, 0)).unwrap();
        assert_eq!(
            (v0.revision, v0.rsdt, v0.xsdt, v0.len()),
            (0, 0x1234, 0, 20)
        );
        assert_eq!(&v0.oem_id, b"BOCHS ");
        let v2 = parse_rsdp(&rsdp(2, 0x1234, 0x1_0000_2000)).unwrap();
        assert_eq!((v2.xsdt, v2.len()), (0x1_0000_2000, 36));

        let mut bad = rsdp(0, 0x1234, 0);
        bad[16] ^= 1;
        assert_eq!(parse_rsdp(&bad), None);
        // Revision 2 with a good first checksum but a bad extended one.
        let mut bad = rsdp(2, 0x1234, 0x2000);
        bad[30] ^= 1;
        assert_eq!(parse_rsdp(&bad), None);
        // Truncated: a revision 2 RSDP cut at 20 bytes, and shorter than 20.
        assert_eq!(parse_rsdp(&rsdp(2, 0x1234, 0x2000)[..20]), None);
        assert_eq!(parse_rsdp(&rsdp(0, 0x1234, 0)[..19]), None);
        let mut bad = rsdp(0, 0x1234, 0);
        bad[0] = b'X';
        assert_eq!(parse_rsdp(&bad), None);
    }

    #[test]
    fn scan_finds_only_aligned_valid_rsdps() {
        let mut area = vec![0u8; 0x400];
        // A signature with a bad checksum, one off the 16-byte grid, then the real one.
        let mut bad = rsdp(0, 1, 0);
        bad[16] ^= 0xff;
        area[0x40..0x40 + 20].copy_from_slice(&bad);
        area[0x88..0x88 + 20].copy_from_slice(&rsdp(0, 1, 0));
        assert_eq!(scan_rsdp(&area), None);
        area[0x100..0x100 + 36].copy_from_slice(&rsdp(2, 1, 2));
        assert_eq!(scan_rsdp(&area), Some(0x100));
        // A revision 2 RSDP cut off by the end of the area is not valid.
        let mut area = vec![0u8; 0x30];
        area[0x20..0x30].copy_from_slice(&rsdp(2, 1, 2)[..16]);
        assert_eq!(scan_rsdp(&area), None);
        assert_eq!(scan_rsdp(&[]), None);
    }

    #[test]
    fn qemu_like_tables_give_both_cpus_boot_first() {
        for revision in [0, 2] {
            let m = machine(revision, &qemu_madt());
            let cpus = cpus_of(&m, 0).unwrap();
            assert_eq!(cpus.apic_ids(), &[0, 1]);
            assert_eq!((cpus.hotplug, cpus.ignored), (0, 0));
            // Booting on APIC id 1 puts it first.
            assert_eq!(cpus_of(&m, 1).unwrap().apic_ids(), &[1, 0]);
        }
    }

    #[test]
    fn root_table_choice_and_fallback() {
        let m = machine(2, &qemu_madt());
        let read = m.reader();
        let rsdp = parse_rsdp(&m.0[RSDP_AT as usize..]).unwrap();
        let r = read_root(&read, &rsdp).unwrap();
        assert_eq!(r.root.table.header.signature, XSDT_SIGNATURE);
        assert!(r.xsdt_error.is_none());
        assert_eq!(r.root.entries().collect::<Vec<_>>(), [FACP_AT, MADT_AT]);

        // A corrupt XSDT falls back to the RSDT, saying why.
        let mut m = machine(2, &qemu_madt());
        m.0[XSDT_AT as usize + 40] ^= 0x55;
        let read = m.reader();
        let r = read_root(&read, &rsdp).unwrap();
        assert_eq!(r.root.table.header.signature, RSDT_SIGNATURE);
        assert_eq!(
            r.xsdt_error,
            Some(Error::BadChecksum {
                signature: XSDT_SIGNATURE
            })
        );
        assert_eq!(find_madt(&read, &r.root).unwrap().table.phys, MADT_AT);

        // Revision 0: the RSDT, whatever the (absent) XSDT field says.
        let m = machine(0, &qemu_madt());
        let read = m.reader();
        let rsdp = parse_rsdp(&m.0[RSDP_AT as usize..]).unwrap();
        let r = read_root(&read, &rsdp).unwrap();
        assert_eq!(r.root.table.header.signature, RSDT_SIGNATURE);
        assert_eq!(r.root.entries().collect::<Vec<_>>(), [FACP_AT, MADT_AT]);
    }

    #[test]
    fn rsdt_pointing_at_the_wrong_thing() {
        let mut m = machine(0, &qemu_madt());
        // The RSDP's RSDT address holds a FACP.
        m.put(RSDP_AT, &rsdp(0, FACP_AT as u32, 0));
        assert_eq!(
            cpus_of(&m, 0).unwrap_err(),
            Error::BadSignature {
                phys: FACP_AT,
                expected: RSDT_SIGNATURE
            }
        );
        // An RSDT beyond the end of memory.
        let mut m = machine(0, &qemu_madt());
        m.put(RSDP_AT, &rsdp(0, 0x20_0000, 0));
        assert_eq!(
            cpus_of(&m, 0).unwrap_err(),
            Error::Unreadable {
                phys: 0x20_0000,
                len: SDT_HEADER_LEN
            }
        );
    }

    #[test]
    fn bad_madt_checksum_and_lengths_are_rejected() {
        let mut bytes = qemu_madt();
        bytes[50] ^= 1;
        assert_eq!(
            cpus_of(&machine(2, &bytes), 0).unwrap_err(),
            Error::BadChecksum {
                signature: MADT_SIGNATURE
            }
        );

        // A length shorter than the MADT's fixed part.
        let mut short = table(&MADT_SIGNATURE, &[0; 4]);
        fix_checksum(&mut short, 9);
        assert!(matches!(
            cpus_of(&machine(2, &short), 0).unwrap_err(),
            Error::BadLength { length: 40, .. }
        ));

        // A length running past the end of memory: the table sits in the last bytes of RAM.
        let mut m = machine(2, &qemu_madt());
        let mut long = qemu_madt();
        long[4..8].copy_from_slice(&0x8000u32.to_le_bytes());
        let at = (m.0.len() - long.len()) as u64;
        m.put(at, &long);
        m.put(RSDT_AT, &table(&RSDT_SIGNATURE, &(at as u32).to_le_bytes()));
        m.put(RSDP_AT, &rsdp(0, RSDT_AT as u32, 0));
        assert_eq!(
            cpus_of(&m, 0).unwrap_err(),
            Error::Unreadable {
                phys: at,
                len: 0x8000
            }
        );

        // An absurd length.
        let mut huge = qemu_madt();
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        fix_checksum(&mut huge, 9);
        assert!(matches!(
            cpus_of(&machine(2, &huge), 0).unwrap_err(),
            Error::BadLength {
                length: u32::MAX,
                ..
            }
        ));
    }

    #[test]
    fn truncated_and_malformed_madt_entries() {
        // The last entry claims 8 bytes but the table ends after 4.
        let mut bytes = qemu_madt();
        bytes.extend_from_slice(&[MADT_LOCAL_APIC, 8, 2, 2]);
        let len = bytes.len() as u32;
        bytes[4..8].copy_from_slice(&len.to_le_bytes());
        fix_checksum(&mut bytes, 9);
        assert!(matches!(
            cpus_of(&machine(2, &bytes), 0).unwrap_err(),
            Error::BadMadtEntry {
                kind: MADT_LOCAL_APIC,
                len: 8,
                ..
            }
        ));

        // Zero-length entries would loop forever; they end the walk with an error.
        let zero = madt(&[lapic(0, 0, 1), vec![0x7f, 0]]);
        assert!(matches!(
            cpus_of(&machine(2, &zero), 0).unwrap_err(),
            Error::BadMadtEntry { len: 0, .. }
        ));
        // A local APIC entry too short for its type.
        let short = madt(&[lapic(0, 0, 1), vec![MADT_LOCAL_APIC, 6, 1, 1, 1, 0]]);
        assert!(matches!(
            cpus_of(&machine(2, &short), 0).unwrap_err(),
            Error::BadMadtEntry { len: 6, .. }
        ));
        // A lone type byte at the very end.
        let mut tail = qemu_madt();
        tail.push(MADT_LOCAL_APIC);
        let len = tail.len() as u32;
        tail[4..8].copy_from_slice(&len.to_le_bytes());
        fix_checksum(&mut tail, 9);
        assert!(matches!(
            cpus_of(&machine(2, &tail), 0).unwrap_err(),
            Error::BadMadtEntry { len: 0, .. }
        ));
        // Unknown entry types with sane lengths are stepped over.
        let other = vec![0x42, 6, 0, 0, 0, 0];
        let ok = madt(&[other, lapic(0, 0, 1), lapic(1, 3, 1)]);
        assert_eq!(cpus_of(&machine(2, &ok), 0).unwrap().apic_ids(), &[0, 3]);
    }

    #[test]
    fn processor_flags_x2apic_and_limits() {
        let entries = [
            lapic(0, 2, 1),
            lapic(1, 0, 1),         // the boot CPU, listed second
            lapic(2, 5, 0),         // disabled, not online-capable: not there
            lapic(3, 6, 2),         // online-capable: a hotplug CPU
            lapic(4, 0xff, 1),      // invalid id
            x2apic(5, 7, 1),        // x2APIC entry, reachable id
            x2apic(6, 2, 1),        // the same CPU as the first entry
            x2apic(7, 0x100, 1),    // not addressable in xAPIC mode
            x2apic(8, u32::MAX, 1), // invalid id
            lapic(9, 9, 1 | 2 | 4), // reserved bits do not matter
        ];
        let m = machine(2, &madt(&entries));
        let cpus = cpus_of(&m, 0).unwrap();
        assert_eq!(cpus.apic_ids(), &[0, 2, 7, 9]);
        assert_eq!(cpus.hotplug, 1);
        assert_eq!(cpus.ignored, 3);

        // More CPUs than the list holds.
        let many: Vec<_> = (0..6).map(|i| lapic(i, i, 1)).collect();
        let cpus = cpus_of(&machine(2, &madt(&many)), 0).unwrap();
        assert_eq!(cpus.apic_ids(), &[0, 1, 2, 3]);
        assert_eq!(cpus.ignored, 2);

        // Only disabled processors: nothing usable.
        let none = madt(&[lapic(0, 0, 0), ioapic()]);
        assert_eq!(
            cpus_of(&machine(2, &none), 0).unwrap_err(),
            Error::NoProcessors
        );
    }

    #[test]
    fn madt_fields_and_entries() {
        let m = machine(2, &qemu_madt());
        let read = m.reader();
        let rsdp = parse_rsdp(&m.0[RSDP_AT as usize..]).unwrap();
        let madt = find_madt(&read, &read_root(&read, &rsdp).unwrap().root).unwrap();
        assert_eq!(madt.local_apic_address, 0xfee0_0000);
        assert_eq!(madt.table.header.oem_table_id, *b"BXPC    ");
        let entries: Vec<_> = madt.entries().map(|e| e.unwrap()).collect();
        assert_eq!(
            entries,
            [
                MadtEntry::LocalApic {
                    processor_id: 0,
                    apic_id: 0,
                    flags: 1
                },
                MadtEntry::LocalApic {
                    processor_id: 1,
                    apic_id: 1,
                    flags: 1
                },
                MadtEntry::IoApic {
                    id: 0,
                    address: 0xfec0_0000,
                    gsi_base: 0
                },
            ]
        );
    }

    #[test]
    fn missing_madt_and_unreadable_entries() {
        // The root lists an unreadable address before the MADT: passed over.
        let mut m = machine(0, &qemu_madt());
        let mut body = Vec::new();
        for a in [0x7fff_0000u32, MADT_AT as u32] {
            body.extend_from_slice(&a.to_le_bytes());
        }
        m.put(RSDT_AT, &table(&RSDT_SIGNATURE, &body));
        assert_eq!(cpus_of(&m, 0).unwrap().apic_ids(), &[0, 1]);
        // No MADT at all.
        let mut m = machine(0, &qemu_madt());
        m.put(
            RSDT_AT,
            &table(&RSDT_SIGNATURE, &(FACP_AT as u32).to_le_bytes()),
        );
        assert_eq!(cpus_of(&m, 0).unwrap_err(), Error::NotFound(MADT_SIGNATURE));
    }

    #[test]
    fn cpu_list_for_mp_tables() {
        let mut l = CpuList::<2>::new();
        l.add(3, false);
        l.add(1, true);
        l.add(3, false);
        l.add(4, false);
        assert_eq!(l.apic_ids(), &[1, 3]);
        assert_eq!(l.ignored, 1);
    }
}
