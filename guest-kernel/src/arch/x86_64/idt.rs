//! The interrupt descriptor table: one interrupt gate per vector, all pointing at the stubs in
//! `entry.rs` (the NMI at its own). Faults that may come from a broken stack use an IST stack.

use core::arch::asm;

use super::entry::{asm_exc_nmi, trap_stubs};
use super::gdt::{IST_FAULT, KERNEL_CS};

#[repr(C, align(16))]
struct Idt([[u64; 2]; 256]);

static mut IDT: Idt = Idt([[0; 2]; 256]);

fn gate(handler: u64, ist: u8) -> [u64; 2] {
    let low = (handler & 0xffff)
        | (KERNEL_CS as u64) << 16
        | (ist as u64) << 32
        | 0x8e << 40 // present, DPL 0, 64-bit interrupt gate
        | ((handler >> 16) & 0xffff) << 48;
    [low, handler >> 32]
}

/// Fill the IDT (boot CPU, once).
pub fn init() {
    let base = trap_stubs as *const () as u64;
    for vector in 0..256 {
        let ist = match vector {
            2 | 8 | 18 => IST_FAULT,
            _ => 0,
        };
        let handler = match vector {
            2 => asm_exc_nmi as *const () as u64,
            _ => base + 16 * vector as u64,
        };
        // SAFETY: runs once on the boot CPU before any other CPU or interrupt uses the IDT.
        unsafe { (*core::ptr::addr_of_mut!(IDT)).0[vector] = gate(handler, ist) };
    }
}

/// Load the IDT on this CPU.
pub fn load() {
    #[repr(C, packed)]
    struct Pointer {
        limit: u16,
        base: u64,
    }
    let ptr = Pointer {
        limit: (256 * 16 - 1) as u16,
        base: core::ptr::addr_of!(IDT) as u64,
    };
    // SAFETY: the IDT is static and filled by `init`.
    unsafe { asm!("lidt [{}]", in(reg) &ptr, options(nostack)) };
}

/// Load an empty IDT and fault: the CPU shuts down (triple fault). For testing the VMM.
pub fn triple_fault() -> ! {
    #[repr(C, packed)]
    struct Pointer {
        limit: u16,
        base: u64,
    }
    let ptr = Pointer { limit: 0, base: 0 };
    // SAFETY: deliberately fatal; nothing runs afterwards.
    unsafe { asm!("lidt [{}]", "ud2", in(reg) &ptr, options(noreturn)) }
}
