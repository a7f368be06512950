//! The contract between our VMM and our guest kernel.
//!
//! Everything both sides must agree on lives here and nowhere else: the guest physical memory
//! map, the I/O ports with a meaning, the boot-progress codes, and the hypervisor CPUID leaf.
//! The kernel must also boot on QEMU's `microvm`, so nothing here may be *required* by the
//! kernel: QEMU-compatible conventions (isa-debug-exit, port 0x80 codes, MP tables,
//! `virtio_mmio.device=`) carry the information, and our VMM simply follows them.
#![no_std]

pub mod trace;

/// Version of this contract; bump on any incompatible change.
pub const ABI_VERSION: u32 = 1;

/// Guest physical memory map as laid out by our VMM.
pub mod layout {
    /// Where the VMM writes the PVH `hvm_start_info`.
    pub const PVH_INFO_START: u64 = 0x6000;
    /// The PVH module list (one entry: the initramfs).
    pub const PVH_MODLIST_START: u64 = 0x6040;
    /// The PVH memory map (E820-style entries).
    pub const PVH_MEMMAP_START: u64 = 0x7000;
    /// Most memory-map entries the VMM writes.
    pub const PVH_MEMMAP_MAX_ENTRIES: u64 = 16;
    /// Real-mode trampoline page the kernel copies its AP start-up code to (SIPI vector 0x08).
    pub const AP_TRAMPOLINE: u64 = 0x8000;
    /// The kernel command line.
    pub const CMDLINE_START: u64 = 0x20000;
    /// Longest command line the VMM accepts, including the terminating NUL.
    pub const CMDLINE_MAX_SIZE: usize = 4096;
    /// Start of the EBDA, where the MP floating pointer and table go. The VMM describes its
    /// CPUs with the MP table only: it writes no ACPI tables, and would pass their RSDP in
    /// `hvm_start_info.rsdp_paddr` if it did (the kernel does not scan for one on our VMM).
    pub const EBDA_START: u64 = 0x9fc00;
    /// End of conventional low memory; from here to 1 MiB is reserved (VGA/BIOS hole).
    pub const LOW_RAM_END: u64 = 0xa0000;
    /// The kernel is loaded from here (its ELF physical addresses).
    pub const HIGH_RAM_START: u64 = 0x10_0000;
    /// Start of the 32-bit MMIO hole: RAM above it is relocated above 4 GiB.
    pub const MMIO_GAP_START: u64 = 0xc000_0000;
    /// End of the 32-bit MMIO hole.
    pub const MMIO_GAP_END: u64 = 0x1_0000_0000;
    /// First virtio-mmio device window; each device takes [`VIRTIO_MMIO_SIZE`].
    pub const VIRTIO_MMIO_BASE: u64 = 0xd000_0000;
    /// Size of one virtio-mmio window.
    pub const VIRTIO_MMIO_SIZE: u64 = 0x1000;
    /// IOAPIC pin of the first virtio-mmio device; later devices take the following pins.
    pub const VIRTIO_MMIO_FIRST_IRQ: u32 = 5;
    /// The IOAPIC.
    pub const IOAPIC_BASE: u64 = 0xfec0_0000;
    /// The local APIC.
    pub const LAPIC_BASE: u64 = 0xfee0_0000;
}

/// I/O ports with a meaning to the VMM.
pub mod ports {
    /// 16550 UART, COM1: early and panic output.
    pub const COM1: u16 = 0x3f8;
    /// Number of COM1 registers.
    pub const COM1_LEN: u16 = 8;
    /// Boot-progress codes (cloud-hypervisor's debug port, the PC POST port).
    pub const DEBUG_PORT: u16 = 0x80;
    /// Power off with a status: QEMU's `isa-debug-exit` convention, 4 bytes wide.
    /// QEMU exits with `(value << 1) | 1`; our VMM exits with `value`.
    pub const DEBUG_EXIT: u16 = 0xf4;
    /// Width of the debug-exit port.
    pub const DEBUG_EXIT_LEN: u16 = 4;
}

/// Codes the guest writes to [`ports::DEBUG_PORT`] to mark boot progress.
pub mod boot_codes {
    /// First instruction of the kernel (cloud-hypervisor: `0x40` kernel entry).
    pub const KERNEL_ENTRY: u8 = 0x40;
    /// First user-space instruction is about to run.
    pub const FIRST_USER_INSTRUCTION: u8 = 0x41;
}

/// Our hypervisor CPUID leaves (0x4000_0000 range, like KVM's).
pub mod cpuid {
    /// Leaf returning the maximum hypervisor leaf in EAX and the signature in EBX, ECX, EDX.
    pub const HYPERVISOR_LEAF: u32 = 0x4000_0000;
    /// Feature leaf: EAX = [`super::ABI_VERSION`], EBX = TSC frequency in kHz (0 if unknown).
    pub const FEATURES_LEAF: u32 = 0x4000_0001;
    /// Signature: "WatchVMWatch" read as EBX, ECX, EDX.
    pub const SIGNATURE: [u8; 12] = *b"WatchVMWatch";
}

/// Exit statuses the kernel reports through the debug-exit port.
pub mod exit {
    /// The kernel panicked or took a fatal exception.
    pub const KERNEL_PANIC: u32 = 101;
    /// Init could not be started.
    pub const NO_INIT: u32 = 102;
}

#[cfg(test)]
mod tests {
    use super::layout::*;

    #[test]
    fn boot_structures_do_not_overlap() {
        const {
            assert!(PVH_MODLIST_START >= PVH_INFO_START + 0x38);
            assert!(PVH_MEMMAP_START >= PVH_MODLIST_START + 0x20);
            assert!(PVH_MEMMAP_START + PVH_MEMMAP_MAX_ENTRIES * 24 <= AP_TRAMPOLINE);
            assert!(AP_TRAMPOLINE + 0x1000 <= CMDLINE_START);
            assert!(CMDLINE_START + CMDLINE_MAX_SIZE as u64 <= EBDA_START);
            assert!(VIRTIO_MMIO_BASE >= MMIO_GAP_START && VIRTIO_MMIO_BASE < IOAPIC_BASE);
        }
    }
}
