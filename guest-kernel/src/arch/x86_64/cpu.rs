//! Thin wrappers over the privileged instructions the kernel uses.
//!
//! Only instructions KVM's instruction emulator handles belong here (see DESIGN.md: no `int3`,
//! `cmpxchg16b`, `xsave`/`xrstor`, `rdrand`).

use core::arch::asm;

/// Model-specific registers the kernel touches.
pub mod msr {
    pub const IA32_APIC_BASE: u32 = 0x1b;
    pub const IA32_TSC_DEADLINE: u32 = 0x6e0;
    pub const IA32_STAR: u32 = 0xc000_0081;
    pub const IA32_LSTAR: u32 = 0xc000_0082;
    pub const IA32_FMASK: u32 = 0xc000_0084;
    pub const IA32_FS_BASE: u32 = 0xc000_0100;
    pub const IA32_GS_BASE: u32 = 0xc000_0101;
    pub const IA32_KERNEL_GS_BASE: u32 = 0xc000_0102;
}

pub fn outb(port: u16, value: u8) {
    // SAFETY: port I/O has no memory-safety effect; callers own the device semantics.
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
    }
}

pub fn outl(port: u16, value: u32) {
    // SAFETY: as for `outb`.
    unsafe {
        asm!("out dx, eax", in("dx") port, in("eax") value, options(nomem, nostack, preserves_flags))
    }
}

pub fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: as for `outb`.
    unsafe {
        asm!("in al, dx", out("al") value, in("dx") port, options(nomem, nostack, preserves_flags))
    }
    value
}

pub fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: the kernel only reads MSRs that exist on every x86_64 CPU it supports.
    unsafe {
        asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    }
    (hi as u64) << 32 | lo as u64
}

/// # Safety
/// Writing an MSR can change how the CPU addresses memory or enters the kernel; the caller
/// must write a value that keeps the kernel's invariants.
pub unsafe fn wrmsr(msr: u32, value: u64) {
    // SAFETY: delegated to the caller.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32,
             options(nostack, preserves_flags))
    }
}

pub struct CpuidResult {
    pub eax: u32,
    pub ebx: u32,
    pub ecx: u32,
    pub edx: u32,
}

pub fn cpuid(leaf: u32, subleaf: u32) -> CpuidResult {
    let r = core::arch::x86_64::__cpuid_count(leaf, subleaf);
    CpuidResult {
        eax: r.eax,
        ebx: r.ebx,
        ecx: r.ecx,
        edx: r.edx,
    }
}

/// The hypervisor's signature in its CPUID leaf (zeros, or whatever the CPU says, on bare
/// metal).
pub fn hypervisor_signature() -> [u8; 12] {
    let leaf = cpuid(abi::cpuid::HYPERVISOR_LEAF, 0);
    let mut sig = [0u8; 12];
    sig[0..4].copy_from_slice(&leaf.ebx.to_le_bytes());
    sig[4..8].copy_from_slice(&leaf.ecx.to_le_bytes());
    sig[8..12].copy_from_slice(&leaf.edx.to_le_bytes());
    sig
}

/// Whether we run on our own VMM (its hypervisor CPUID leaf carries our signature).
pub fn on_watchvm() -> bool {
    hypervisor_signature() == abi::cpuid::SIGNATURE
}

pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no side effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The TSC as its low and high halves, as `rdtsc` leaves them (storing them as two u32s saves
/// combining them: the trace fast path).
#[inline(always)]
pub fn rdtsc_halves() -> (u32, u32) {
    let (lo, hi): (u32, u32);
    // SAFETY: rdtsc has no side effects.
    unsafe {
        asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    };
    (lo, hi)
}

pub fn read_cr2() -> u64 {
    let v: u64;
    // SAFETY: reading CR2 has no side effects.
    unsafe { asm!("mov {}, cr2", out(reg) v, options(nomem, nostack, preserves_flags)) }
    v
}

pub fn read_cr3() -> u64 {
    let v: u64;
    // SAFETY: reading CR3 has no side effects.
    unsafe { asm!("mov {}, cr3", out(reg) v, options(nomem, nostack, preserves_flags)) }
    v
}

pub fn read_cr4() -> u64 {
    let v: u64;
    // SAFETY: reading CR4 has no side effects.
    unsafe { asm!("mov {}, cr4", out(reg) v, options(nomem, nostack, preserves_flags)) }
    v
}

/// # Safety
/// `pml4` must be the physical address of a page table that maps the kernel.
pub unsafe fn write_cr3(pml4: u64) {
    // SAFETY: delegated to the caller.
    unsafe { asm!("mov cr3, {}", in(reg) pml4, options(nostack, preserves_flags)) }
}

/// Invalidate the TLB entry for one virtual address.
pub fn invlpg(addr: u64) {
    // SAFETY: dropping a TLB entry is always safe.
    unsafe { asm!("invlpg [{}]", in(reg) addr, options(nostack, preserves_flags)) }
}

pub fn interrupts_enable() {
    // SAFETY: the IDT is loaded before anyone enables interrupts.
    unsafe { asm!("sti", options(nomem, nostack)) }
}

pub fn interrupts_disable() {
    // SAFETY: disabling interrupts is always safe.
    unsafe { asm!("cli", options(nomem, nostack)) }
}

pub fn interrupts_enabled() -> bool {
    let flags: u64;
    // SAFETY: reading RFLAGS has no side effects.
    unsafe { asm!("pushfq; pop {}", out(reg) flags, options(nomem, preserves_flags)) }
    flags & (1 << 9) != 0
}

/// Enable interrupts and halt until the next one, atomically (`sti; hlt`).
pub fn wait_for_interrupt() {
    // SAFETY: `sti` takes effect after the next instruction, so no wake-up is lost.
    unsafe { asm!("sti; hlt", options(nomem, nostack)) }
}

/// `sti; hlt`: wait for an interrupt with no window for a lost wake-up (`safe_halt`).
pub fn safe_halt() {
    wait_for_interrupt()
}

/// Halt with interrupts off, forever.
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: halting is always safe.
        unsafe { asm!("cli; hlt", options(nomem, nostack)) }
    }
}

/// Run `f` with interrupts disabled, restoring the previous state after.
pub fn without_interrupts<R>(f: impl FnOnce() -> R) -> R {
    let were_enabled = interrupts_enabled();
    interrupts_disable();
    let r = f();
    if were_enabled {
        interrupts_enable();
    }
    r
}
