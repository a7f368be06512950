//! The I/O APIC: routes device interrupt pins to vectors on the boot CPU.

use super::phys_to_virt;
use super::traps::IRQ_BASE;

const IOREGSEL: u64 = 0x00;
const IOWIN: u64 = 0x10;
const REG_VERSION: u32 = 0x01;
const REG_REDIRECTION: u32 = 0x10;

fn write(reg: u32, value: u32) {
    let base = phys_to_virt(abi::layout::IOAPIC_BASE);
    // SAFETY: the IOAPIC window is mapped by the direct map; select then write, as specified.
    unsafe {
        ((base + IOREGSEL) as *mut u32).write_volatile(reg);
        ((base + IOWIN) as *mut u32).write_volatile(value);
    }
}

fn read(reg: u32) -> u32 {
    let base = phys_to_virt(abi::layout::IOAPIC_BASE);
    // SAFETY: as for `write`.
    unsafe {
        ((base + IOREGSEL) as *mut u32).write_volatile(reg);
        ((base + IOWIN) as *const u32).read_volatile()
    }
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
