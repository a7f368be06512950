//! The I/O APIC: routes device interrupt pins to vectors on the boot CPU.

use super::iomem::IoMem;
use super::traps::IRQ_BASE;

const IOREGSEL: u64 = 0x00;
const IOWIN: u64 = 0x10;
const REG_VERSION: u32 = 0x01;
const REG_REDIRECTION: u32 = 0x10;

// SAFETY: the IOAPIC's register window (select + data), inside the direct map.
static IOAPIC: IoMem = unsafe { IoMem::new(abi::layout::IOAPIC_BASE, 0x20) };

/// Registers are indirect: select, then read or write the window.
fn write(reg: u32, value: u32) {
    IOAPIC.writel(IOREGSEL, reg);
    IOAPIC.writel(IOWIN, value);
}

fn read(reg: u32) -> u32 {
    IOAPIC.writel(IOREGSEL, reg);
    IOAPIC.readl(IOWIN)
}

/// Number of input pins.
pub fn pins() -> u32 {
    ((read(REG_VERSION) >> 16) & 0xff) + 1
}

/// Route `pin` to vector `IRQ_BASE + pin` on the CPU with `apic_id`, edge-triggered, unmasked.
/// (virtio-mmio interrupts are edge-style: the device raises, the driver acknowledges.)
pub fn route(pin: u32, apic_id: u32) {
    let vector = IRQ_BASE as u32 + pin;
    write(REG_REDIRECTION + pin * 2 + 1, apic_id << 24);
    write(REG_REDIRECTION + pin * 2, vector);
}
