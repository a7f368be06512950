//! CPUID for each vCPU: what KVM supports, patched with the vCPU's APIC id and topology, the
//! hypervisor bit, and our own hypervisor leaves (`abi::cpuid`) in place of KVM's.
//!
//! The patching works on a plain list of entries so it can be tested without KVM.

use abi::cpuid::{FEATURES_LEAF, HYPERVISOR_LEAF, SIGNATURE};
use kvm_bindings::{kvm_cpuid_entry2, CpuId, KVM_CPUID_FLAG_SIGNIFCANT_INDEX};

const LEAF1_ECX_TSC_DEADLINE: u32 = 1 << 24;
const LEAF1_ECX_HYPERVISOR: u32 = 1 << 31;
const LEAF1_EDX_HTT: u32 = 1 << 28;
const TOPOLOGY_LEVEL_SMT: u32 = 1;
const TOPOLOGY_LEVEL_CORE: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot build the CPUID table")]
    Fam(#[source] vmm_sys_util::fam::Error),
}

/// The CPUID table for vCPU `cpu` of `cpus`, from KVM's supported CPUID.
pub fn vcpu_cpuid(
    supported: &CpuId,
    cpu: u8,
    cpus: u8,
    tsc_deadline: bool,
    tsc_khz: u32,
) -> Result<CpuId, Error> {
    let mut entries = supported.as_slice().to_vec();
    patch_cpuid(&mut entries, cpu, cpus, tsc_deadline);
    if let Some(e) = entries.iter_mut().find(|e| e.function == FEATURES_LEAF) {
        e.ebx = tsc_khz;
    }
    CpuId::from_entries(&entries).map_err(Error::Fam)
}

fn entry(function: u32, index: u32, regs: [u32; 4], flags: u32) -> kvm_cpuid_entry2 {
    kvm_cpuid_entry2 {
        function,
        index,
        flags,
        eax: regs[0],
        ebx: regs[1],
        ecx: regs[2],
        edx: regs[3],
        ..Default::default()
    }
}

/// Bits needed to number `n` things: ceil(log2(n)).
fn id_bits(n: u32) -> u32 {
    if n <= 1 {
        0
    } else {
        32 - (n - 1).leading_zeros()
    }
}

/// Patches KVM's supported CPUID for vCPU `cpu` of `cpus` (APIC id = `cpu`, all vCPUs cores
/// of one package, one thread per core).
pub fn patch_cpuid(entries: &mut Vec<kvm_cpuid_entry2>, cpu: u8, cpus: u8, tsc_deadline: bool) {
    let apic_id = cpu as u32;
    let max_basic = entries
        .iter()
        .find(|e| e.function == 0)
        .map(|e| e.eax)
        .unwrap_or(0);
    let had_0x1f = entries.iter().any(|e| e.function == 0x1f);

    for e in entries.iter_mut() {
        if e.function == 1 {
            e.ebx = (e.ebx & 0x0000_ffff) | (apic_id << 24) | ((cpus as u32) << 16);
            e.ecx |= LEAF1_ECX_HYPERVISOR;
            if tsc_deadline {
                e.ecx |= LEAF1_ECX_TSC_DEADLINE;
            }
            if cpus > 1 {
                e.edx |= LEAF1_EDX_HTT;
            } else {
                e.edx &= !LEAF1_EDX_HTT;
            }
        }
    }

    // Replace the extended topology leaves and any hypervisor leaves (KVM's own) with ours.
    entries.retain(|e| {
        e.function != 0xb
            && e.function != 0x1f
            && !(0x4000_0000..=0x4000_00ff).contains(&e.function)
    });
    let core_bits = id_bits(cpus as u32);
    let mut topology = |function: u32| {
        let flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
        let smt = [0, 1, TOPOLOGY_LEVEL_SMT << 8, apic_id];
        let core = [
            core_bits,
            cpus as u32,
            (TOPOLOGY_LEVEL_CORE << 8) | 1,
            apic_id,
        ];
        let end = [0, 0, 2, apic_id];
        entries.push(entry(function, 0, smt, flags));
        entries.push(entry(function, 1, core, flags));
        entries.push(entry(function, 2, end, flags));
    };
    if max_basic >= 0xb {
        topology(0xb);
    }
    if had_0x1f && max_basic >= 0x1f {
        topology(0x1f);
    }

    let sig =
        |i: usize| u32::from_le_bytes(SIGNATURE[i * 4..i * 4 + 4].try_into().unwrap_or_default());
    entries.push(entry(
        HYPERVISOR_LEAF,
        0,
        [FEATURES_LEAF, sig(0), sig(1), sig(2)],
        0,
    ));
    entries.push(entry(FEATURES_LEAF, 0, [abi::ABI_VERSION, 0, 0, 0], 0));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(entries: &[kvm_cpuid_entry2], function: u32, index: u32) -> kvm_cpuid_entry2 {
        *entries
            .iter()
            .find(|e| e.function == function && e.index == index)
            .unwrap()
    }

    fn supported() -> Vec<kvm_cpuid_entry2> {
        vec![
            entry(0, 0, [0x1f, 0x756e_6547, 0x6c65_746e, 0x4965_6e69], 0),
            entry(1, 0, [0x906ea, 0x0010_0800, 0x7ffa_f3bf, 0xbfeb_fbff], 0),
            entry(0xb, 0, [1, 2, 0x100, 7], 1),
            entry(0xb, 1, [4, 16, 0x201, 7], 1),
            entry(0x1f, 0, [1, 2, 0x100, 7], 1),
            entry(
                0x4000_0000,
                0,
                [0x4000_0001, 0x4b4d_564b, 0x564b_4d56, 0x4d],
                0,
            ),
            entry(0x4000_0001, 0, [0x1234, 0, 0, 0], 0),
        ]
    }

    #[test]
    fn leaf1_apic_id_and_flags() {
        let mut e = supported();
        patch_cpuid(&mut e, 3, 4, true);
        let l1 = find(&e, 1, 0);
        assert_eq!(l1.ebx >> 24, 3);
        assert_eq!((l1.ebx >> 16) & 0xff, 4);
        assert_eq!(l1.ebx & 0xffff, 0x0800);
        assert_ne!(l1.ecx & LEAF1_ECX_HYPERVISOR, 0);
        assert_ne!(l1.ecx & LEAF1_ECX_TSC_DEADLINE, 0);
        assert_ne!(l1.edx & LEAF1_EDX_HTT, 0);
    }

    #[test]
    fn topology_leaves() {
        let mut e = supported();
        patch_cpuid(&mut e, 5, 6, false);
        for f in [0xb, 0x1f] {
            let smt = find(&e, f, 0);
            let core = find(&e, f, 1);
            assert_eq!((smt.ebx, smt.ecx, smt.edx), (1, 0x100, 5));
            assert_eq!((core.eax, core.ebx, core.ecx, core.edx), (3, 6, 0x201, 5));
            assert_eq!(find(&e, f, 2).edx, 5);
            assert_eq!(e.iter().filter(|x| x.function == f).count(), 3);
        }
        assert_eq!(id_bits(1), 0);
        assert_eq!(id_bits(2), 1);
        assert_eq!(id_bits(32), 5);
    }

    #[test]
    fn our_hypervisor_leaves_replace_kvms() {
        let mut e = supported();
        patch_cpuid(&mut e, 0, 1, false);
        let h = find(&e, HYPERVISOR_LEAF, 0);
        assert_eq!(h.eax, FEATURES_LEAF);
        let mut sig = Vec::new();
        for r in [h.ebx, h.ecx, h.edx] {
            sig.extend_from_slice(&r.to_le_bytes());
        }
        assert_eq!(sig, SIGNATURE);
        assert_eq!(find(&e, FEATURES_LEAF, 0).eax, abi::ABI_VERSION);
        assert_eq!(e.iter().filter(|x| x.function >= 0x4000_0000).count(), 2);
        assert_eq!(find(&e, 1, 0).edx & LEAF1_EDX_HTT, 0);
    }
}
