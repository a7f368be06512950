//! x86_64: boot registers and MSRs ([`regs`]), CPUID ([`cpuid`]) and the MP table
//! ([`mptable`]) through which the guest finds its CPUs and the IOAPIC.

pub mod cpuid;
pub mod mptable;
pub mod regs;
