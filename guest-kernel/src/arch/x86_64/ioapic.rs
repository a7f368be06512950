//! The I/O APICs: route device interrupt lines (GSIs) to vectors on a CPU.
//!
//! Each I/O APIC serves a range of global system interrupts starting at its GSI base. The ACPI
//! MADT lists them (QEMU's microvm has two: GSIs 0-23 and, for its virtio-mmio slots, 24-47);
//! without a MADT (our VMM, which writes an MP table) there is the one at the architectural
//! address serving GSIs from 0.

use spin::Mutex;

use super::iomem::IoMem;
use super::traps::IRQ_BASE;

const IOREGSEL: u64 = 0x00;
const IOWIN: u64 = 0x10;
const REG_VERSION: u32 = 0x01;
const REG_REDIRECTION: u32 = 0x10;
/// The register window: select + data.
const WINDOW: u64 = 0x20;
/// How many I/O APICs the kernel drives.
const MAX_IO_APICS: usize = 4;

#[derive(Clone, Copy)]
struct IoApic {
    regs: IoMem,
    gsi_base: u32,
    /// Number of input pins, from the version register.
    pins: u32,
}

impl IoApic {
    /// Registers are indirect: select, then read or write the window.
    fn write(&self, reg: u32, value: u32) {
        self.regs.writel(IOREGSEL, reg);
        self.regs.writel(IOWIN, value);
    }

    fn read(&self, reg: u32) -> u32 {
        self.regs.writel(IOREGSEL, reg);
        self.regs.readl(IOWIN)
    }

    fn serves(&self, gsi: u32) -> bool {
        gsi.checked_sub(self.gsi_base)
            .is_some_and(|pin| pin < self.pins)
    }
}

/// The registered I/O APICs; empty until the MADT names one (or the first use picks the default).
static IO_APICS: Mutex<([Option<IoApic>; MAX_IO_APICS], usize)> =
    Mutex::new(([None; MAX_IO_APICS], 0));

/// Register the I/O APIC whose registers are at `phys`, serving GSIs from `gsi_base` (Linux's
/// `mp_register_ioapic`). Returns its version and pin count for the boot log, or `None` when
/// the table is full or `phys` cannot hold device registers.
pub fn register(phys: u64, gsi_base: u32) -> Option<(u32, u32)> {
    let mut table = IO_APICS.lock();
    let (apics, count) = &mut *table;
    if *count == MAX_IO_APICS || !is_mmio_window(phys) {
        return None;
    }
    // SAFETY: `phys` is a firmware-described I/O APIC register window: 4-byte aligned, in the
    // MMIO hole below 4 GiB (checked above), so inside the direct map and not RAM.
    let regs = unsafe { IoMem::new(phys, WINDOW) };
    let mut apic = IoApic {
        regs,
        gsi_base,
        pins: 0,
    };
    let version = apic.read(REG_VERSION);
    apic.pins = ((version >> 16) & 0xff) + 1;
    apics[*count] = Some(apic);
    *count += 1;
    Some((version & 0xff, apic.pins))
}

/// Where an I/O APIC's registers may be: the 32-bit MMIO hole, aligned.
fn is_mmio_window(phys: u64) -> bool {
    phys.is_multiple_of(WINDOW) && (abi::layout::MMIO_GAP_START..1 << 32).contains(&phys)
}

/// The I/O APIC serving `gsi`, registering the architectural one first if none is known.
fn for_gsi(gsi: u32) -> Option<IoApic> {
    if IO_APICS.lock().1 == 0 {
        register(abi::layout::IOAPIC_BASE, 0);
    }
    let table = IO_APICS.lock();
    table.0.iter().flatten().find(|a| a.serves(gsi)).copied()
}

/// Whether some I/O APIC has an input for `gsi`.
pub fn has_gsi(gsi: u32) -> bool {
    for_gsi(gsi).is_some()
}

/// Route `gsi` to vector `IRQ_BASE + gsi` on the CPU with `apic_id`, edge-triggered, unmasked.
/// (virtio-mmio interrupts are edge-style: the device raises, the driver acknowledges.)
pub fn route(gsi: u32, apic_id: u32) {
    let Some(apic) = for_gsi(gsi) else { return };
    let pin = gsi - apic.gsi_base;
    let vector = IRQ_BASE as u32 + gsi;
    apic.write(REG_REDIRECTION + pin * 2 + 1, apic_id << 24);
    apic.write(REG_REDIRECTION + pin * 2, vector);
}
