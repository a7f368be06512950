//! The ACPI tables the kernel reads at boot, parsed from byte slices: the RSDP, the root table
//! (XSDT, or RSDT for ACPI 1.0) and any table's header; the MADT's entries are in `madt.rs`,
//! the tests of the whole walk in `tests.rs`.
//!
//! Linux does the same in drivers/acpi/acpica/tbxfroot.c (finding and validating the RSDP) and
//! tbutils.c (walking the root table). Nothing here touches memory
//! directly: tables are read through a `read(phys, len)` function that says which physical
//! ranges may be read, so every length and checksum is checked before a byte is trusted, and
//! the whole walk is unit-tested on the host over fake memory.

/// "RSD PTR ", found on a 16-byte boundary.
pub const RSDP_SIGNATURE: [u8; 8] = *b"RSD PTR ";
pub const XSDT_SIGNATURE: [u8; 4] = *b"XSDT";
pub const RSDT_SIGNATURE: [u8; 4] = *b"RSDT";

/// Bytes the RSDP's first checksum covers (the ACPI 1.0 structure).
pub const RSDP_V1_LEN: usize = 20;
/// Bytes the extended checksum covers (ACPI 2.0+; Linux's ACPI_RSDP_XCHECKSUM_LENGTH).
pub const RSDP_V2_LEN: usize = 36;
/// The header every system description table starts with.
pub const SDT_HEADER_LEN: usize = 36;
/// No table we read is anywhere near this long; a larger length is a corrupt header.
pub const MAX_TABLE_LEN: u32 = 1 << 20;

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

pub(super) fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

pub(super) fn u64_at(b: &[u8], off: usize) -> u64 {
    u32_at(b, off) as u64 | (u32_at(b, off + 4) as u64) << 32
}

pub(super) fn array<const N: usize>(b: &[u8], off: usize) -> [u8; N] {
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
