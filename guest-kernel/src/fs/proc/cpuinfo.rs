//! `/proc/cpuinfo` (Linux's arch/x86/kernel/cpu/proc.c `show_cpuinfo`), from CPUID.
//!
//! The flags are Linux's names for the CPUID feature words, in Linux's order (the word
//! numbers of cpufeatures.h), less what the kernel left disabled: as in Linux, a feature whose
//! CR4 enable bit is off is not listed (SMEP, SMAP, UMIP, FSGSBASE, PKU, LA57), and without
//! CR4.OSXSAVE neither is XSAVE nor anything that needs it (AVX and up). Of Linux's own
//! synthetic flags only those that follow from CPUID alone are shown (constant_tsc,
//! nonstop_tsc, nopl, xtopology, cpuid, rep_good); no `bugs` are known.
//!
//! All CPUs are taken to be the one we run on (they are vCPUs of one model), except for
//! their APIC ids.

use alloc::string::String;
use core::fmt::Write;

/// A CPUID leaf as EAX, EBX, ECX, EDX.
pub type Cpuid<'a> = &'a dyn Fn(u32, u32) -> [u32; 4];

const EAX: usize = 0;
const EBX: usize = 1;
const ECX: usize = 2;
const EDX: usize = 3;

use super::capflags::*;

// CR4 bits that gate features.
const CR4_UMIP: u64 = 1 << 11;
const CR4_LA57: u64 = 1 << 12;
const CR4_FSGSBASE: u64 = 1 << 16;
const CR4_OSXSAVE: u64 = 1 << 18;
const CR4_SMEP: u64 = 1 << 20;
const CR4_SMAP: u64 = 1 << 21;
const CR4_PKE: u64 = 1 << 22;

/// What one CPU reports of itself, decoded as Linux's `cpuinfo_x86`.
struct CpuInfoX86 {
    cpuid_level: u32,
    extended_cpuid_level: u32,
    vendor_id: String,
    family: u32,
    model: u32,
    stepping: u32,
    model_id: String,
    cache_size_kb: u32,
    tlbsize: u32,
    clflush_size: u32,
    phys_bits: u32,
    virt_bits: u32,
    power: u32,
    flags: String,
}

fn leaf(cpuid: Cpuid, max: u32, l: u32, sub: u32) -> [u32; 4] {
    if l <= max {
        cpuid(l, sub)
    } else {
        [0; 4]
    }
}

fn regs_to_string(regs: &[u32]) -> String {
    let bytes: alloc::vec::Vec<u8> = regs.iter().flat_map(|r| r.to_le_bytes()).collect();
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// `x86_cache_size`: Intel's from the deterministic cache leaf (L3, else L2, else L1);
/// others' L2 from the AMD leaves (`cpu_detect_cache_sizes`), which also give the TLB size.
fn cache_sizes(cpuid: Cpuid, c: &CpuInfoX86) -> (u32, u32) {
    if c.vendor_id == "GenuineIntel" && c.cpuid_level >= 4 {
        let (mut l1, mut l2, mut l3) = (0, 0, 0);
        for sub in 0..16 {
            let [a, b, cx, _] = cpuid(4, sub);
            if a & 0x1f == 0 {
                break;
            }
            let ways = (b >> 22) + 1;
            let partitions = ((b >> 12) & 0x3ff) + 1;
            let line = (b & 0xfff) + 1;
            let sets = cx + 1;
            let kb = ways * partitions * line * sets / 1024;
            match (a >> 5) & 7 {
                1 => l1 += kb,
                2 => l2 = kb,
                3 => l3 = kb,
                _ => {}
            }
        }
        let size = if l3 != 0 {
            l3
        } else if l2 != 0 {
            l2
        } else {
            l1
        };
        return (size, 0);
    }
    let ext = c.extended_cpuid_level;
    let (mut size, mut tlb) = (0, 0);
    if ext >= 0x8000_0005 {
        let r = cpuid(0x8000_0005, 0);
        size = (r[ECX] >> 24) + (r[EDX] >> 24);
    }
    if ext >= 0x8000_0006 {
        let r = cpuid(0x8000_0006, 0);
        tlb = ((r[EBX] >> 16) & 0xfff) + (r[EBX] & 0xfff);
        size = r[ECX] >> 16;
    }
    (size, tlb)
}

/// The flags line's names, in Linux's order.
fn flags(cpuid: Cpuid, c: &CpuInfoX86, cr4: u64) -> String {
    let max = c.cpuid_level;
    let ext = c.extended_cpuid_level;
    let l1 = leaf(cpuid, max, 1, 0);
    let l7 = leaf(cpuid, max, 7, 0);
    let l71 = if l7[EAX] >= 1 {
        leaf(cpuid, max, 7, 1)
    } else {
        [0; 4]
    };
    let ext_leaf = |l: u32| if ext >= l { cpuid(l, 0) } else { [0; 4] };
    let e1 = ext_leaf(0x8000_0001);
    let e7 = ext_leaf(0x8000_0007);
    let e8 = ext_leaf(0x8000_0008);

    // Linux-defined word 3, from what CPUID says.
    let vendor = c.vendor_id.as_str();
    let invariant_tsc = e7[EDX] & (1 << 8) != 0;
    let xtopology = max >= 0xb && cpuid(0xb, 0)[EBX] != 0;
    let rep_good = match vendor {
        "AuthenticAMD" | "HygonGenuine" => c.family >= 0x10,
        "GenuineIntel" => c.family > 6 || (c.family == 6 && c.model >= 0xd),
        _ => false,
    };
    let mut w3: Names = [None; 32];
    let mut w3_bits = 0u32;
    for (bit, name, on) in [
        (8, "constant_tsc", invariant_tsc),
        (16, "rep_good", rep_good),
        (20, "nopl", true),
        (22, "xtopology", xtopology),
        (24, "nonstop_tsc", invariant_tsc),
        (25, "cpuid", true),
    ] {
        w3[bit] = Some(name);
        if on {
            w3_bits |= 1 << bit;
        }
    }

    let mut words: [(u32, &Names); 13] = [
        (l1[EDX], &W0_1_EDX),
        (e1[EDX], &W1_80000001_EDX),
        (w3_bits, &w3),
        (l1[ECX], &W4_1_ECX),
        (e1[ECX], &W6_80000001_ECX),
        (l7[EBX], &W9_7_EBX),
        (leaf(cpuid, max, 0xd, 1)[EAX], &W10_D1_EAX),
        (l71[EAX], &W12_71_EAX),
        (e8[EBX], &W13_80000008_EBX),
        (leaf(cpuid, max, 6, 0)[EAX], &W14_6_EAX),
        (l7[ECX], &W16_7_ECX),
        (e7[EBX], &W17_80000007_EBX),
        (l7[EDX], &W18_7_EDX),
    ];
    // Features the kernel did not turn on (Linux clears them when it doesn't).
    let off = |bit: u64| cr4 & bit == 0;
    if off(CR4_FSGSBASE) {
        words[5].0 &= !(1 << 0);
    }
    if off(CR4_SMEP) {
        words[5].0 &= !(1 << 7);
    }
    if off(CR4_SMAP) {
        words[5].0 &= !(1 << 20);
    }
    if off(CR4_UMIP) {
        words[10].0 &= !(1 << 2);
    }
    if off(CR4_PKE) {
        words[10].0 &= !(1 << 3 | 1 << 4);
    }
    if off(CR4_LA57) {
        words[10].0 &= !(1 << 16);
    }
    if off(CR4_OSXSAVE) || l1[ECX] & (1 << 27) == 0 {
        // `cpuid_deps`: XSAVE and everything built on the state it manages (AVX and its
        // successors, AVX-512, AMX, PKU, MPX).
        let clear = |w: &mut u32, bits: &[u32]| bits.iter().for_each(|b| *w &= !(1 << b));
        clear(&mut words[3].0, &[12, 26, 28]);
        clear(&mut words[5].0, &[5, 14, 16, 17, 21, 26, 27, 28, 30, 31]);
        words[6].0 = 0;
        words[7].0 = 0;
        clear(&mut words[10].0, &[1, 3, 6, 9, 10, 11, 12, 14]);
        clear(&mut words[12].0, &[2, 3, 8, 22, 23, 24, 25]);
    }
    let mut out = String::new();
    for (bits, names) in words {
        for (bit, name) in names.iter().enumerate() {
            if let Some(name) = name {
                if bits & (1 << bit) != 0 {
                    out.push(' ');
                    out.push_str(name);
                }
            }
        }
    }
    out
}

fn identify(cpuid: Cpuid, cr4: u64) -> CpuInfoX86 {
    let l0 = cpuid(0, 0);
    let max = l0[EAX];
    let vendor_id = regs_to_string(&[l0[EBX], l0[EDX], l0[ECX]]);
    let ext_max = cpuid(0x8000_0000, 0)[EAX];
    let extended_cpuid_level = if ext_max & 0xffff_0000 == 0x8000_0000 {
        ext_max
    } else {
        0
    };
    let l1 = leaf(cpuid, max, 1, 0);
    let tfms = l1[EAX];
    let mut family = (tfms >> 8) & 0xf;
    if family == 0xf {
        family += (tfms >> 20) & 0xff;
    }
    let mut model = (tfms >> 4) & 0xf;
    if family >= 6 {
        model += ((tfms >> 16) & 0xf) << 4;
    }
    let model_id = if extended_cpuid_level >= 0x8000_0004 {
        let mut regs = [0u32; 12];
        for (i, l) in (0x8000_0002..=0x8000_0004).enumerate() {
            regs[i * 4..i * 4 + 4].copy_from_slice(&cpuid(l, 0));
        }
        String::from(regs_to_string(&regs).trim())
    } else {
        String::new()
    };
    let clflush_size = if l1[EDX] & (1 << 19) != 0 {
        ((l1[EBX] >> 8) & 0xff) * 8
    } else {
        64
    };
    let (phys_bits, virt_bits) = if extended_cpuid_level >= 0x8000_0008 {
        let a = cpuid(0x8000_0008, 0)[EAX];
        (a & 0xff, (a >> 8) & 0xff)
    } else {
        (36, 48)
    };
    let power = if extended_cpuid_level >= 0x8000_0007 {
        cpuid(0x8000_0007, 0)[EDX]
    } else {
        0
    };
    let mut c = CpuInfoX86 {
        cpuid_level: max,
        extended_cpuid_level,
        vendor_id,
        family,
        model,
        stepping: tfms & 0xf,
        model_id,
        cache_size_kb: 0,
        tlbsize: 0,
        clflush_size,
        phys_bits,
        virt_bits,
        power,
        flags: String::new(),
    };
    (c.cache_size_kb, c.tlbsize) = cache_sizes(cpuid, &c);
    c.flags = flags(cpuid, &c, cr4);
    c
}

/// The whole file for the online CPUs, as (CPU number, APIC id) in CPU order: CPUID as seen
/// on this CPU, CR4 as this kernel set it, the TSC rate in kHz and the tick rate.
pub fn render_cpuinfo(
    cpuid: Cpuid,
    cr4: u64,
    cpus: &[(usize, u32)],
    tsc_khz: u64,
    hz: u64,
) -> String {
    let c = identify(cpuid, cr4);
    let nr = cpus.len();
    // With a TSC-based delay loop, loops_per_jiffy is the TSC rate per tick.
    let lpj = tsc_khz * 1000 / hz;
    let mut out = String::with_capacity(nr * 1500);
    for &(cpu, apicid) in cpus {
        let unknown = |s: &str| {
            if s.is_empty() {
                String::from("unknown")
            } else {
                s.into()
            }
        };
        let _ = write!(
            out,
            "processor\t: {cpu}\nvendor_id\t: {}\ncpu family\t: {}\nmodel\t\t: {}\n\
             model name\t: {}\nstepping\t: {}\n",
            unknown(&c.vendor_id),
            c.family,
            c.model,
            unknown(&c.model_id),
            c.stepping
        );
        let _ = writeln!(out, "cpu MHz\t\t: {}.{:03}", tsc_khz / 1000, tsc_khz % 1000);
        if c.cache_size_kb != 0 {
            let _ = writeln!(out, "cache size\t: {} KB", c.cache_size_kb);
        }
        let _ = write!(
            out,
            "physical id\t: 0\nsiblings\t: {nr}\ncore id\t\t: {apicid}\ncpu cores\t: {nr}\n\
             apicid\t\t: {apicid}\ninitial apicid\t: {apicid}\n"
        );
        let _ = write!(
            out,
            "fpu\t\t: yes\nfpu_exception\t: yes\ncpuid level\t: {}\nwp\t\t: yes\n",
            c.cpuid_level
        );
        let _ = writeln!(out, "flags\t\t:{}", c.flags);
        out.push_str("bugs\t\t:\n");
        let _ = writeln!(
            out,
            "bogomips\t: {}.{:02}",
            lpj / (500_000 / hz),
            (lpj / (5000 / hz)) % 100
        );
        if c.tlbsize > 0 {
            let _ = writeln!(out, "TLB size\t: {} 4K pages", c.tlbsize);
        }
        let _ = write!(
            out,
            "clflush size\t: {0}\ncache_alignment\t: {0}\n\
             address sizes\t: {1} bits physical, {2} bits virtual\n",
            c.clflush_size, c.phys_bits, c.virt_bits
        );
        out.push_str("power management:");
        for i in 0..32 {
            if c.power & (1 << i) == 0 {
                continue;
            }
            match POWER_FLAGS.get(i) {
                Some(&"") => {}
                Some(name) => {
                    let _ = write!(out, " {name}");
                }
                None => {
                    let _ = write!(out, " [{i}]");
                }
            }
        }
        out.push_str("\n\n");
    }
    out
}

/// `/proc/cpuinfo`: one block per online CPU.
#[cfg(not(test))]
pub fn cpuinfo_proc_show() -> String {
    use crate::arch::{cpu, percpu, tsc};
    let cpuid = |l: u32, s: u32| {
        let r = cpu::cpuid(l, s);
        [r.eax, r.ebx, r.ecx, r.edx]
    };
    let online = crate::kernel::cpu::cpu_online_mask();
    let cpus: alloc::vec::Vec<(usize, u32)> = crate::kernel::cpumask::for_each_cpu(online)
        .map(|cpu| (cpu, percpu::apic_id_of(cpu)))
        .collect();
    render_cpuinfo(
        &cpuid,
        cpu::read_cr4(),
        &cpus,
        tsc::khz(),
        crate::kernel::time::HZ,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;

    /// CPUID of a KVM guest on an AMD EPYC (family 0x19) host, as read there.
    fn epyc() -> BTreeMap<(u32, u32), [u32; 4]> {
        let mut m = BTreeMap::new();
        m.insert((0x0, 0), [0x0000001c, 0x68747541, 0x444d4163, 0x69746e65]);
        m.insert((0x1, 0), [0x00a10f11, 0x00020800, 0xfffa3203, 0x178bfbff]);
        m.insert((0x6, 0), [0x00000004, 0x00000000, 0x00000000, 0x00000000]);
        m.insert((0x7, 0), [0x00000001, 0xf1bf07ab, 0x00405fc6, 0x00000010]);
        m.insert((0x7, 1), [0x00000020, 0x00000000, 0x00000000, 0x00000000]);
        m.insert((0xb, 0), [0x00000000, 0x00000001, 0x00000100, 0x00000000]);
        m.insert((0xb, 1), [0x00000005, 0x00000002, 0x00000201, 0x00000000]);
        m.insert((0xd, 0), [0x000000e7, 0x00000980, 0x00000980, 0x00000000]);
        m.insert((0xd, 1), [0x0000000f, 0x000009a8, 0x00001800, 0x00000000]);
        m.insert(
            (0x80000000, 0),
            [0x80000021, 0x68747541, 0x444d4163, 0x69746e65],
        );
        m.insert(
            (0x80000001, 0),
            [0x00a10f11, 0x40000000, 0x004003f3, 0x2fd3fbff],
        );
        m.insert(
            (0x80000002, 0),
            [0x20444d41, 0x43595045, 0x00000000, 0x00000000],
        );
        m.insert((0x80000003, 0), [0; 4]);
        m.insert((0x80000004, 0), [0; 4]);
        m.insert(
            (0x80000005, 0),
            [0xff48ff40, 0xff48ff40, 0x20080140, 0x20080140],
        );
        m.insert(
            (0x80000006, 0),
            [0x5c002200, 0x6c004200, 0x04006140, 0x0a009140],
        );
        m.insert(
            (0x80000007, 0),
            [0x00000000, 0x00000000, 0x00000000, 0x00000100],
        );
        m.insert(
            (0x80000008, 0),
            [0x00303030, 0x50020005, 0x00007001, 0x00000000],
        );
        m
    }

    fn cpuid_of(m: &BTreeMap<(u32, u32), [u32; 4]>) -> impl Fn(u32, u32) -> [u32; 4] + '_ {
        move |l, s| m.get(&(l, s)).copied().unwrap_or([0; 4])
    }

    const ALL_CR4: u64 = u64::MAX;

    #[test]
    fn block_layout_matches_linux() {
        let m = epyc();
        let out = render_cpuinfo(&cpuid_of(&m), ALL_CR4, &[(0, 0), (1, 1)], 2_596_134, 100);
        let blocks: alloc::vec::Vec<&str> = out.split("\n\n").collect();
        assert_eq!(blocks.len(), 3, "two blocks, each ending in a blank line");
        let lines: alloc::vec::Vec<&str> = blocks[1].lines().collect();
        let keys: alloc::vec::Vec<&str> =
            lines.iter().map(|l| l.split(':').next().unwrap()).collect();
        assert_eq!(
            keys,
            [
                "processor\t",
                "vendor_id\t",
                "cpu family\t",
                "model\t\t",
                "model name\t",
                "stepping\t",
                "cpu MHz\t\t",
                "cache size\t",
                "physical id\t",
                "siblings\t",
                "core id\t\t",
                "cpu cores\t",
                "apicid\t\t",
                "initial apicid\t",
                "fpu\t\t",
                "fpu_exception\t",
                "cpuid level\t",
                "wp\t\t",
                "flags\t\t",
                "bugs\t\t",
                "bogomips\t",
                "TLB size\t",
                "clflush size\t",
                "cache_alignment\t",
                "address sizes\t",
                "power management",
            ]
        );
        let want_head = "processor\t: 1\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\n\
                         model\t\t: 17\nmodel name\t: AMD EPYC\nstepping\t: 1\n\
                         cpu MHz\t\t: 2596.134\ncache size\t: 1024 KB\nphysical id\t: 0\n\
                         siblings\t: 2\ncore id\t\t: 1\ncpu cores\t: 2\napicid\t\t: 1\n\
                         initial apicid\t: 1\nfpu\t\t: yes\nfpu_exception\t: yes\n\
                         cpuid level\t: 28\nwp\t\t: yes\n";
        assert!(blocks[1].starts_with(want_head), "{}", blocks[1]);
        let want_tail = "bugs\t\t:\nbogomips\t: 5192.26\nTLB size\t: 3584 4K pages\n\
                         clflush size\t: 64\ncache_alignment\t: 64\n\
                         address sizes\t: 48 bits physical, 48 bits virtual\n\
                         power management:";
        assert!(blocks[1].ends_with(want_tail), "{}", blocks[1]);
    }

    #[test]
    fn flags_in_linux_order() {
        let m = epyc();
        let out = render_cpuinfo(&cpuid_of(&m), ALL_CR4, &[(0, 0)], 2_596_134, 100);
        let flags = out.lines().find(|l| l.starts_with("flags")).unwrap();
        // Linux 6.18 on this CPU, less the flags its kernel synthesizes from its own
        // setup (extd_apicid, tsc_known_freq, vmmcall).
        assert_eq!(
            flags,
            "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat \
             pse36 clflush mmx fxsr sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm \
             constant_tsc rep_good nopl xtopology nonstop_tsc cpuid pni pclmulqdq ssse3 fma \
             cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx \
             f16c rdrand hypervisor lahf_lm cmp_legacy cr8_legacy abm sse4a misalignsse \
             3dnowprefetch osvw topoext fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid \
             avx512f avx512dq rdseed adx smap avx512ifma clflushopt clwb avx512cd sha_ni \
             avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves avx512_bf16 clzero xsaveerptr \
             arat avx512vbmi umip avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni \
             avx512_bitalg avx512_vpopcntdq rdpid fsrm"
        );
    }

    #[test]
    fn features_the_kernel_left_off_are_not_listed() {
        let m = epyc();
        // Our boot CR4: PAE, PGE, OSFXSR, OSXMMEXCPT; CPUID's OSXSAVE follows CR4.
        let mut m2 = m.clone();
        m2.get_mut(&(1, 0)).unwrap()[ECX] &= !(1 << 27);
        let out = render_cpuinfo(&cpuid_of(&m2), 0x6a0, &[(0, 0)], 1_000_000, 100);
        let flags = out.lines().find(|l| l.starts_with("flags")).unwrap();
        for gone in [
            " xsave",
            " avx",
            " avx2",
            " fma",
            " avx512f",
            " xsaveopt",
            " fsgsbase",
            " smep",
            " smap",
            " umip",
            " avx512_bf16",
            " vaes",
            " vpclmulqdq",
        ] {
            assert!(
                !flags.contains(&alloc::format!("{gone} ")),
                "{gone} in {flags}"
            );
        }
        // F16C needs only SSE2 in Linux's dependency table.
        assert!(
            flags.contains(" sse4_2 ") && flags.contains(" f16c "),
            "{flags}"
        );
        assert!(out.contains("\ncpu MHz\t\t: 1000.000\n"));
        assert!(out.contains("\nbogomips\t: 2000.00\n"));
    }

    #[test]
    fn minimal_cpu_without_extended_leaves() {
        let mut m = BTreeMap::new();
        m.insert((0, 0), [1, 0x756e_6547, 0x6c65_746e, 0x4965_6e69]); // GenuineIntel
        m.insert((1, 0), [0x0006_0663, 0, 0, 0x0000_0001]);
        let out = render_cpuinfo(&cpuid_of(&m), 0, &[(0, 0)], 2_000_000, 100);
        assert!(out.contains("model name\t: unknown\n"), "{out}");
        assert!(out.contains("cpu family\t: 6\nmodel\t\t: 102\n"), "{out}");
        assert!(!out.contains("cache size") && !out.contains("TLB size"));
        assert!(
            out.contains("\nflags\t\t: fpu rep_good nopl cpuid\n"),
            "{out}"
        );
        assert!(out.contains("address sizes\t: 36 bits physical, 48 bits virtual\n"));
    }
}
