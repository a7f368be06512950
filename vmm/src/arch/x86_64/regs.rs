//! Boot-time vCPU state for the PVH protocol, and register dumps for crash reports.
//!
//! PVH starts the BSP in 32-bit protected mode with paging off: flat 32-bit code in CS
//! (selector 0x10), flat data in DS/ES/FS/GS/SS (0x18), a valid busy 32-bit TSS in TR (0x20;
//! KVM refuses to enter with an invalid TR), CR0 = PE | ET, CR4 = EFER = 0, RFLAGS = 0x2,
//! RIP = the PVH entry, RBX = the `hvm_start_info` address. The matching GDT is also written to
//! guest memory at [`BOOT_GDT_START`] (the guest loads its own). Application processors get
//! only MSRs and LAPIC LINTs: they wait in KVM for the guest's INIT/SIPI.

use kvm_bindings::{kvm_fpu, kvm_msr_entry, kvm_regs, kvm_segment, kvm_sregs, Msrs};
use kvm_ioctls::VcpuFd;
use vm_memory::{Bytes, GuestAddress};

use crate::memory::GuestMemory;

/// Where the boot GDT goes (free low memory, below the PVH structures).
pub const BOOT_GDT_START: u64 = 0x500;
/// An empty IDT right after it.
pub const BOOT_IDT_START: u64 = 0x520;
pub const CODE_SELECTOR: u16 = 0x10;
pub const DATA_SELECTOR: u16 = 0x18;
pub const TSS_SELECTOR: u16 = 0x20;
const X86_CR0_PE: u64 = 0x1;
const X86_CR0_ET: u64 = 0x10;

const MSR_IA32_TSC: u32 = 0x10;
const MSR_IA32_SYSENTER_CS: u32 = 0x174;
const MSR_IA32_SYSENTER_ESP: u32 = 0x175;
const MSR_IA32_SYSENTER_EIP: u32 = 0x176;
const MSR_IA32_MISC_ENABLE: u32 = 0x1a0;
const MSR_IA32_MISC_ENABLE_FAST_STRING: u64 = 0x1;
const MSR_MTRR_DEF_TYPE: u32 = 0x2ff;
const MSR_STAR: u32 = 0xc000_0081;
const MSR_LSTAR: u32 = 0xc000_0082;
const MSR_CSTAR: u32 = 0xc000_0083;
const MSR_SYSCALL_MASK: u32 = 0xc000_0084;
const MSR_KERNEL_GS_BASE: u32 = 0xc000_0102;

const APIC_LVT0: usize = 0x350;
const APIC_LVT1: usize = 0x360;
const APIC_MODE_NMI: u32 = 0x4;
const APIC_MODE_EXTINT: u32 = 0x7;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot set vCPU registers")]
    Regs(#[source] kvm_ioctls::Error),
    #[error("cannot get or set vCPU special registers")]
    Sregs(#[source] kvm_ioctls::Error),
    #[error("cannot set vCPU FPU state")]
    Fpu(#[source] kvm_ioctls::Error),
    #[error("cannot set vCPU MSRs")]
    Msrs(#[source] kvm_ioctls::Error),
    #[error("cannot build the MSR list")]
    MsrList(#[source] vmm_sys_util::fam::Error),
    #[error("cannot get or set the local APIC")]
    Lapic(#[source] kvm_ioctls::Error),
    #[error("cannot write the boot GDT")]
    Gdt(#[source] vm_memory::GuestMemoryError),
}

/// A GDT descriptor from access/flags bits (`0xF0FF` layout: flags in the top nibble of the
/// high byte, access byte low), base and limit.
pub fn gdt_entry(flags: u16, base: u32, limit: u32) -> u64 {
    let (flags, base, limit) = (flags as u64, base as u64, limit as u64);
    ((base & 0xff00_0000) << 32)
        | ((flags & 0xf0ff) << 40)
        | ((limit & 0x000f_0000) << 32)
        | ((base & 0x00ff_ffff) << 16)
        | (limit & 0xffff)
}

/// The KVM view of descriptor `entry` loaded with `selector`.
pub fn segment_from_gdt(entry: u64, selector: u16) -> kvm_segment {
    let limit = ((entry & 0xffff) | ((entry >> 32) & 0xf_0000)) as u32;
    let g = ((entry >> 55) & 1) as u8;
    kvm_segment {
        base: ((entry >> 16) & 0xff_ffff) | ((entry >> 32) & 0xff00_0000),
        limit: if g == 1 { (limit << 12) | 0xfff } else { limit },
        selector,
        type_: ((entry >> 40) & 0xf) as u8,
        present: ((entry >> 47) & 1) as u8,
        dpl: ((entry >> 45) & 3) as u8,
        db: ((entry >> 54) & 1) as u8,
        s: ((entry >> 44) & 1) as u8,
        l: ((entry >> 53) & 1) as u8,
        g,
        avl: ((entry >> 52) & 1) as u8,
        unusable: if (entry >> 47) & 1 == 1 { 0 } else { 1 },
        padding: 0,
    }
}

/// The boot GDT: null, null, 32-bit code, data, 32-bit busy TSS.
pub fn boot_gdt() -> [u64; 5] {
    [
        0,
        0,
        gdt_entry(0xc09b, 0, 0xfffff),
        gdt_entry(0xc093, 0, 0xfffff),
        gdt_entry(0x008b, 0, 0x67),
    ]
}

/// Fills `sregs` with the PVH entry state.
pub fn pvh_sregs(sregs: &mut kvm_sregs) {
    let gdt = boot_gdt();
    let code = segment_from_gdt(gdt[2], CODE_SELECTOR);
    let data = segment_from_gdt(gdt[3], DATA_SELECTOR);
    let tss = segment_from_gdt(gdt[4], TSS_SELECTOR);
    sregs.cs = code;
    sregs.ds = data;
    sregs.es = data;
    sregs.fs = data;
    sregs.gs = data;
    sregs.ss = data;
    sregs.tr = tss;
    sregs.gdt.base = BOOT_GDT_START;
    sregs.gdt.limit = (std::mem::size_of_val(&gdt) - 1) as u16;
    sregs.idt.base = BOOT_IDT_START;
    sregs.idt.limit = 7;
    sregs.cr0 = X86_CR0_PE | X86_CR0_ET;
    sregs.cr3 = 0;
    sregs.cr4 = 0;
    sregs.efer = 0;
}

/// Sets up the BSP to start at the PVH `entry` with RBX = `start_info`.
pub fn setup_bsp(
    vcpu: &VcpuFd,
    mem: &GuestMemory,
    entry: u64,
    start_info: u64,
) -> Result<(), Error> {
    for (i, desc) in boot_gdt().iter().enumerate() {
        mem.write_obj(*desc, GuestAddress(BOOT_GDT_START + i as u64 * 8))
            .map_err(Error::Gdt)?;
    }
    mem.write_obj(0u64, GuestAddress(BOOT_IDT_START))
        .map_err(Error::Gdt)?;

    let mut sregs = vcpu.get_sregs().map_err(Error::Sregs)?;
    pvh_sregs(&mut sregs);
    vcpu.set_sregs(&sregs).map_err(Error::Sregs)?;

    let regs = kvm_regs {
        rflags: 0x2,
        rip: entry,
        rbx: start_info,
        ..Default::default()
    };
    vcpu.set_regs(&regs).map_err(Error::Regs)?;

    let fpu = kvm_fpu {
        fcw: 0x37f,
        mxcsr: 0x1f80,
        ..Default::default()
    };
    vcpu.set_fpu(&fpu).map_err(Error::Fpu)
}

/// The MSR values every vCPU boots with (Firecracker's defaults).
pub fn boot_msrs() -> Vec<kvm_msr_entry> {
    [
        (MSR_IA32_SYSENTER_CS, 0),
        (MSR_IA32_SYSENTER_ESP, 0),
        (MSR_IA32_SYSENTER_EIP, 0),
        (MSR_STAR, 0),
        (MSR_CSTAR, 0),
        (MSR_KERNEL_GS_BASE, 0),
        (MSR_SYSCALL_MASK, 0),
        (MSR_LSTAR, 0),
        (MSR_IA32_TSC, 0),
        (MSR_IA32_MISC_ENABLE, MSR_IA32_MISC_ENABLE_FAST_STRING),
        // MTRRs enabled, default type write-back.
        (MSR_MTRR_DEF_TYPE, (1 << 11) | 6),
    ]
    .into_iter()
    .map(|(index, data)| kvm_msr_entry {
        index,
        data,
        ..Default::default()
    })
    .collect()
}

/// Sets the boot MSRs. Returns how many KVM refused (the caller warns; some nested KVMs refuse
/// some MSRs and the guest boots regardless).
pub fn setup_msrs(vcpu: &VcpuFd) -> Result<usize, Error> {
    let entries = boot_msrs();
    let msrs = Msrs::from_entries(&entries).map_err(Error::MsrList)?;
    let set = vcpu.set_msrs(&msrs).map_err(Error::Msrs)?;
    Ok(entries.len() - set)
}

fn set_apic_delivery_mode(reg: u32, mode: u32) -> u32 {
    (reg & !0x700) | (mode << 8)
}

/// Configures LAPIC LINT0 as ExtINT and LINT1 as NMI (Firecracker's `set_lint`).
pub fn set_lint(vcpu: &VcpuFd) -> Result<(), Error> {
    let mut lapic = vcpu.get_lapic().map_err(Error::Lapic)?;
    for (offset, mode) in [(APIC_LVT0, APIC_MODE_EXTINT), (APIC_LVT1, APIC_MODE_NMI)] {
        let bytes: [u8; 4] = std::array::from_fn(|i| lapic.regs[offset + i] as u8);
        let value = set_apic_delivery_mode(u32::from_le_bytes(bytes), mode);
        for (i, b) in value.to_le_bytes().iter().enumerate() {
            lapic.regs[offset + i] = *b as _;
        }
    }
    vcpu.set_lapic(&lapic).map_err(Error::Lapic)
}

fn fmt_segment(name: &str, s: &kvm_segment) -> String {
    format!(
        "{name:<3}={:04x} base={:016x} limit={:08x} type={:x} dpl={} db={} l={} p={}",
        s.selector, s.base, s.limit, s.type_, s.dpl, s.db, s.l, s.present
    )
}

/// A multi-line register dump for crash reports.
pub fn format_registers(regs: &kvm_regs, sregs: &kvm_sregs) -> String {
    let r = regs;
    let mut out = format!(
        "rax={:016x} rbx={:016x} rcx={:016x} rdx={:016x}\n\
         rsi={:016x} rdi={:016x} rbp={:016x} rsp={:016x}\n\
         r8 ={:016x} r9 ={:016x} r10={:016x} r11={:016x}\n\
         r12={:016x} r13={:016x} r14={:016x} r15={:016x}\n\
         rip={:016x} rflags={:08x}\n\
         cr0={:016x} cr2={:016x} cr3={:016x} cr4={:016x} efer={:x}\n",
        r.rax,
        r.rbx,
        r.rcx,
        r.rdx,
        r.rsi,
        r.rdi,
        r.rbp,
        r.rsp,
        r.r8,
        r.r9,
        r.r10,
        r.r11,
        r.r12,
        r.r13,
        r.r14,
        r.r15,
        r.rip,
        r.rflags,
        sregs.cr0,
        sregs.cr2,
        sregs.cr3,
        sregs.cr4,
        sregs.efer,
    );
    for (name, seg) in [
        ("cs", &sregs.cs),
        ("ss", &sregs.ss),
        ("ds", &sregs.ds),
        ("es", &sregs.es),
        ("fs", &sregs.fs),
        ("gs", &sregs.gs),
        ("tr", &sregs.tr),
    ] {
        out.push_str(&fmt_segment(name, seg));
        out.push('\n');
    }
    out.push_str(&format!(
        "gdt={:016x}/{:x} idt={:016x}/{:x}",
        sregs.gdt.base, sregs.gdt.limit, sregs.idt.base, sregs.idt.limit
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gdt_round_trip() {
        let gdt = boot_gdt();
        assert_eq!(gdt[2], 0x00cf_9b00_0000_ffff);
        assert_eq!(gdt[3], 0x00cf_9300_0000_ffff);
        assert_eq!(gdt[4], 0x0000_8b00_0000_0067);
        let cs = segment_from_gdt(gdt[2], CODE_SELECTOR);
        assert_eq!(
            (cs.base, cs.limit, cs.type_, cs.db, cs.g, cs.s),
            (0, 0xffff_ffff, 0xb, 1, 1, 1)
        );
        assert_eq!((cs.present, cs.l, cs.unusable), (1, 0, 0));
        let ds = segment_from_gdt(gdt[3], DATA_SELECTOR);
        assert_eq!((ds.type_, ds.limit, ds.selector), (0x3, 0xffff_ffff, 0x18));
        let tr = segment_from_gdt(gdt[4], TSS_SELECTOR);
        assert_eq!(
            (tr.type_, tr.limit, tr.s, tr.g, tr.present),
            (0xb, 0x67, 0, 0, 1)
        );
    }

    #[test]
    fn pvh_entry_state() {
        let mut sregs = kvm_sregs::default();
        pvh_sregs(&mut sregs);
        assert_eq!(sregs.cr0, 0x11);
        assert_eq!((sregs.cr4, sregs.efer), (0, 0));
        assert_eq!(sregs.cs.selector, 0x10);
        assert_eq!(sregs.ss.selector, 0x18);
        assert_eq!(sregs.tr.selector, 0x20);
        assert_eq!(sregs.gdt.limit, 39);
    }

    #[test]
    fn apic_delivery_mode() {
        assert_eq!(
            set_apic_delivery_mode(0x0001_0000, APIC_MODE_EXTINT),
            0x0001_0700
        );
        assert_eq!(
            set_apic_delivery_mode(0x0000_0700, APIC_MODE_NMI),
            0x0000_0400
        );
    }

    #[test]
    fn register_dump_mentions_everything() {
        let regs = kvm_regs {
            rip: 0xffff_ffff_8000_1234,
            ..Default::default()
        };
        let dump = format_registers(&regs, &kvm_sregs::default());
        for needle in [
            "rip=ffffffff80001234",
            "rflags=",
            "cr3=",
            "efer=",
            "cs =",
            "tr =",
        ] {
            assert!(dump.contains(needle), "{needle} in {dump}");
        }
    }
}
