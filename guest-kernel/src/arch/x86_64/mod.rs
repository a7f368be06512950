//! x86_64: everything that touches the CPU, its tables and its devices.

pub mod acpi;
pub mod apic;
pub mod boot;
pub mod cpu;
pub mod entry;
pub mod ftrace;
pub mod gdt;
pub mod idt;
pub mod ioapic;
pub mod iomem;
pub mod irq;
pub mod kvmclock;
pub mod mptable;
pub mod paging;
pub mod percpu;
pub mod process;
pub mod pvh;
pub mod rtc;
pub mod serial;
pub mod signal;
pub mod smp;
pub mod stacktrace;
pub mod syscall;
pub mod tlb;
pub mod traps;
pub mod tsc;

/// Base of the direct map of physical memory (the host reads through it too).
pub const PAGE_OFFSET: u64 = abi::trace::DIRECT_MAP_BASE;
/// Base of the kernel image mapping.
pub const KERNEL_VMA: u64 = abi::trace::KERNEL_IMAGE_BASE;
/// End of the user half of the address space.
pub const USER_END: u64 = 0x0000_8000_0000_0000;

pub const fn phys_to_virt(phys: u64) -> u64 {
    phys + PAGE_OFFSET
}

pub fn virt_to_phys(virt: u64) -> u64 {
    if virt >= KERNEL_VMA {
        virt - KERNEL_VMA
    } else {
        virt - PAGE_OFFSET
    }
}

/// Early console output (the UART).
#[inline]
pub fn console_write(bytes: &[u8]) {
    serial::write_bytes(bytes);
}

/// Power off with an exit status (QEMU's isa-debug-exit convention; our VMM exits with it).
pub fn power_off(status: u32) -> ! {
    cpu::outl(abi::ports::DEBUG_EXIT, status);
    // Without a debug-exit device (plain QEMU), stop here.
    cpu::halt_forever()
}

/// Mark boot progress on the debug port.
pub fn boot_progress(code: u8) {
    cpu::outb(abi::ports::DEBUG_PORT, code);
}
