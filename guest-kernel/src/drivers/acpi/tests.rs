//! The ACPI walk end to end over fake physical memory laid out as QEMU lays it out: the RSDP,
//! the root tables and the MADT, well-formed and broken.

use super::madt::*;
use super::tables::*;
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
