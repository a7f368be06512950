//! Per-CPU GDT and TSS.
//!
//! Selector layout is Linux's (arch/x86/include/asm/segment.h), which `syscall`/`sysret`
//! require (STAR) and which kvm-pvm expects: __KERNEL_CS = 0x10, __KERNEL_DS = 0x18,
//! __USER32_CS = 0x23, __USER_DS = 0x2b, __USER_CS = 0x33, the TSS at 0x40.

use core::arch::asm;
use core::mem::size_of;

pub const KERNEL_CS: u16 = 0x10;
pub const KERNEL_DS: u16 = 0x18;
pub const USER32_CS: u16 = 0x20 | 3;
pub const USER_DS: u16 = 0x28 | 3;
pub const USER_CS: u16 = 0x30 | 3;
const TSS_SELECTOR: u16 = 0x40;

/// IST slot for exceptions that must not run on a possibly broken stack (#DF, NMI, #MC).
pub const IST_FAULT: u8 = 1;
const FAULT_STACK_SIZE: usize = 16 * 1024;

/// The 64-bit task-state segment: just stack pointers in long mode.
#[repr(C, packed(4))]
#[derive(Default)]
pub struct Tss {
    _reserved0: u32,
    pub rsp: [u64; 3],
    _reserved1: u64,
    pub ist: [u64; 7],
    _reserved2: u64,
    _reserved3: u16,
    pub iomap_base: u16,
}

const _: () = assert!(size_of::<Tss>() == 104);

#[repr(C, align(16))]
pub struct CpuTables {
    gdt: [u64; 10],
    pub tss: Tss,
    fault_stack: [u8; FAULT_STACK_SIZE],
}

impl CpuTables {
    pub const fn new() -> Self {
        CpuTables {
            gdt: [0; 10],
            tss: Tss {
                _reserved0: 0,
                rsp: [0; 3],
                _reserved1: 0,
                ist: [0; 7],
                _reserved2: 0,
                _reserved3: 0,
                iomap_base: size_of::<Tss>() as u16,
            },
            fault_stack: [0; FAULT_STACK_SIZE],
        }
    }

    /// Fill in and load this CPU's GDT and TSS, and reload every segment register.
    pub fn load(&'static mut self) {
        let fault_top = self.fault_stack.as_ptr() as u64 + FAULT_STACK_SIZE as u64;
        self.tss.ist[(IST_FAULT - 1) as usize] = fault_top;
        let tss_base = core::ptr::addr_of!(self.tss) as u64;
        let tss_limit = size_of::<Tss>() as u64 - 1;
        self.gdt = [
            0,
            0x00cf_9a00_0000_ffff, // 0x08: kernel code, 32-bit
            0x00af_9a00_0000_ffff, // 0x10: kernel code, 64-bit
            0x00cf_9200_0000_ffff, // 0x18: kernel data
            0x00cf_fa00_0000_ffff, // 0x20: user code, 32-bit
            0x00cf_f200_0000_ffff, // 0x28: user data
            0x00af_fa00_0000_ffff, // 0x30: user code, 64-bit
            0,                     // 0x38: unused (Linux: TLS)
            // 64-bit available TSS (type 9), present; base split across the descriptor.
            tss_limit | (tss_base & 0xff_ffff) << 16 | 0x89 << 40 | ((tss_base >> 24) & 0xff) << 56,
            tss_base >> 32,
        ];
        #[repr(C, packed)]
        struct Pointer {
            limit: u16,
            base: u64,
        }
        let ptr = Pointer {
            limit: (size_of::<[u64; 10]>() - 1) as u16,
            base: self.gdt.as_ptr() as u64,
        };
        // SAFETY: the GDT lives in a static per-CPU area and has the selectors used below; the
        // far return reloads CS with the same kernel code selector.
        unsafe {
            asm!(
                "lgdt [{ptr}]",
                "mov ds, {ds:x}",
                "mov es, {ds:x}",
                "mov ss, {ds:x}",
                "push {cs}",
                "lea {tmp}, [rip + 2f]",
                "push {tmp}",
                "retfq",
                "2:",
                "ltr {tss:x}",
                ptr = in(reg) &ptr,
                ds = in(reg) KERNEL_DS as u64,
                cs = in(reg) KERNEL_CS as u64,
                tss = in(reg) TSS_SELECTOR as u64,
                tmp = out(reg) _,
            );
        }
    }
}
