//! Linux's names for the CPUID feature bits (arch/x86/kernel/cpu/capflags.c, generated there
//! from cpufeatures.h), one table per feature word in Linux's word order, for /proc/cpuinfo.

pub type Names = [Option<&'static str>; 32];

/// Word 0: CPUID 1, EDX.
pub const W0_1_EDX: Names = [
    Some("fpu"),
    Some("vme"),
    Some("de"),
    Some("pse"),
    Some("tsc"),
    Some("msr"),
    Some("pae"),
    Some("mce"),
    Some("cx8"),
    Some("apic"),
    None,
    Some("sep"),
    Some("mtrr"),
    Some("pge"),
    Some("mca"),
    Some("cmov"),
    Some("pat"),
    Some("pse36"),
    Some("pn"),
    Some("clflush"),
    None,
    Some("dts"),
    Some("acpi"),
    Some("mmx"),
    Some("fxsr"),
    Some("sse"),
    Some("sse2"),
    Some("ss"),
    Some("ht"),
    Some("tm"),
    Some("ia64"),
    Some("pbe"),
];

/// Word 1: CPUID 0x80000001, EDX (only the bits not already in word 0).
pub const W1_80000001_EDX: Names = {
    let mut n: Names = [None; 32];
    n[11] = Some("syscall");
    n[19] = Some("mp");
    n[20] = Some("nx");
    n[22] = Some("mmxext");
    n[25] = Some("fxsr_opt");
    n[26] = Some("pdpe1gb");
    n[27] = Some("rdtscp");
    n[29] = Some("lm");
    n[30] = Some("3dnowext");
    n[31] = Some("3dnow");
    n
};

/// Word 4: CPUID 1, ECX (OSXSAVE, bit 27, is not shown).
pub const W4_1_ECX: Names = [
    Some("pni"),
    Some("pclmulqdq"),
    Some("dtes64"),
    Some("monitor"),
    Some("ds_cpl"),
    Some("vmx"),
    Some("smx"),
    Some("est"),
    Some("tm2"),
    Some("ssse3"),
    Some("cid"),
    Some("sdbg"),
    Some("fma"),
    Some("cx16"),
    Some("xtpr"),
    Some("pdcm"),
    None,
    Some("pcid"),
    Some("dca"),
    Some("sse4_1"),
    Some("sse4_2"),
    Some("x2apic"),
    Some("movbe"),
    Some("popcnt"),
    Some("tsc_deadline_timer"),
    Some("aes"),
    Some("xsave"),
    None,
    Some("avx"),
    Some("f16c"),
    Some("rdrand"),
    Some("hypervisor"),
];

/// Word 6: CPUID 0x80000001, ECX.
pub const W6_80000001_ECX: Names = {
    let mut n: Names = [None; 32];
    n[0] = Some("lahf_lm");
    n[1] = Some("cmp_legacy");
    n[2] = Some("svm");
    n[3] = Some("extapic");
    n[4] = Some("cr8_legacy");
    n[5] = Some("abm");
    n[6] = Some("sse4a");
    n[7] = Some("misalignsse");
    n[8] = Some("3dnowprefetch");
    n[9] = Some("osvw");
    n[10] = Some("ibs");
    n[11] = Some("xop");
    n[12] = Some("skinit");
    n[13] = Some("wdt");
    n[15] = Some("lwp");
    n[16] = Some("fma4");
    n[17] = Some("tce");
    n[19] = Some("nodeid_msr");
    n[21] = Some("tbm");
    n[22] = Some("topoext");
    n[23] = Some("perfctr_core");
    n[24] = Some("perfctr_nb");
    n[26] = Some("bpext");
    n[27] = Some("ptsc");
    n[28] = Some("perfctr_llc");
    n[29] = Some("mwaitx");
    n
};

/// Word 9: CPUID 7.0, EBX.
pub const W9_7_EBX: Names = {
    let mut n: Names = [None; 32];
    n[0] = Some("fsgsbase");
    n[1] = Some("tsc_adjust");
    n[2] = Some("sgx");
    n[3] = Some("bmi1");
    n[4] = Some("hle");
    n[5] = Some("avx2");
    n[7] = Some("smep");
    n[8] = Some("bmi2");
    n[9] = Some("erms");
    n[10] = Some("invpcid");
    n[11] = Some("rtm");
    n[12] = Some("cqm");
    n[14] = Some("mpx");
    n[15] = Some("rdt_a");
    n[16] = Some("avx512f");
    n[17] = Some("avx512dq");
    n[18] = Some("rdseed");
    n[19] = Some("adx");
    n[20] = Some("smap");
    n[21] = Some("avx512ifma");
    n[23] = Some("clflushopt");
    n[24] = Some("clwb");
    n[25] = Some("intel_pt");
    n[26] = Some("avx512pf");
    n[27] = Some("avx512er");
    n[28] = Some("avx512cd");
    n[29] = Some("sha_ni");
    n[30] = Some("avx512bw");
    n[31] = Some("avx512vl");
    n
};

/// Word 10: CPUID 0xd.1, EAX.
pub const W10_D1_EAX: Names = {
    let mut n: Names = [None; 32];
    n[0] = Some("xsaveopt");
    n[1] = Some("xsavec");
    n[2] = Some("xgetbv1");
    n[3] = Some("xsaves");
    n[4] = Some("xfd");
    n
};

/// Word 12: CPUID 7.1, EAX.
pub const W12_71_EAX: Names = {
    let mut n: Names = [None; 32];
    n[4] = Some("avx_vnni");
    n[5] = Some("avx512_bf16");
    n
};

/// Word 13: CPUID 0x80000008, EBX.
pub const W13_80000008_EBX: Names = {
    let mut n: Names = [None; 32];
    n[0] = Some("clzero");
    n[1] = Some("irperf");
    n[2] = Some("xsaveerptr");
    n[4] = Some("rdpru");
    n[9] = Some("wbnoinvd");
    n[23] = Some("amd_ppin");
    n[25] = Some("virt_ssbd");
    n[27] = Some("cppc");
    n[31] = Some("brs");
    n
};

/// Word 14: CPUID 6, EAX (thermal and power).
pub const W14_6_EAX: Names = {
    let mut n: Names = [None; 32];
    n[0] = Some("dtherm");
    n[1] = Some("ida");
    n[2] = Some("arat");
    n[4] = Some("pln");
    n[6] = Some("pts");
    n[7] = Some("hwp");
    n[8] = Some("hwp_notify");
    n[9] = Some("hwp_act_window");
    n[10] = Some("hwp_epp");
    n[11] = Some("hwp_pkg_req");
    n[19] = Some("hfi");
    n
};

/// Word 16: CPUID 7.0, ECX.
pub const W16_7_ECX: Names = {
    let mut n: Names = [None; 32];
    n[1] = Some("avx512vbmi");
    n[2] = Some("umip");
    n[3] = Some("pku");
    n[4] = Some("ospke");
    n[5] = Some("waitpkg");
    n[6] = Some("avx512_vbmi2");
    n[8] = Some("gfni");
    n[9] = Some("vaes");
    n[10] = Some("vpclmulqdq");
    n[11] = Some("avx512_vnni");
    n[12] = Some("avx512_bitalg");
    n[13] = Some("tme");
    n[14] = Some("avx512_vpopcntdq");
    n[16] = Some("la57");
    n[22] = Some("rdpid");
    n[24] = Some("bus_lock_detect");
    n[25] = Some("cldemote");
    n[27] = Some("movdiri");
    n[28] = Some("movdir64b");
    n[29] = Some("enqcmd");
    n[30] = Some("sgx_lc");
    n
};

/// Word 17: CPUID 0x80000007, EBX.
pub const W17_80000007_EBX: Names = {
    let mut n: Names = [None; 32];
    n[0] = Some("overflow_recov");
    n[1] = Some("succor");
    n[3] = Some("smca");
    n
};

/// Word 18: CPUID 7.0, EDX.
pub const W18_7_EDX: Names = {
    let mut n: Names = [None; 32];
    n[2] = Some("avx512_4vnniw");
    n[3] = Some("avx512_4fmaps");
    n[4] = Some("fsrm");
    n[8] = Some("avx512_vp2intersect");
    n[10] = Some("md_clear");
    n[14] = Some("serialize");
    n[16] = Some("tsxldtrk");
    n[18] = Some("pconfig");
    n[19] = Some("arch_lbr");
    n[20] = Some("ibt");
    n[22] = Some("amx_bf16");
    n[23] = Some("avx512_fp16");
    n[24] = Some("amx_tile");
    n[25] = Some("amx_int8");
    n[28] = Some("flush_l1d");
    n[29] = Some("arch_capabilities");
    n
};

/// `x86_power_flags`: CPUID 0x80000007 EDX.
pub const POWER_FLAGS: [&str; 13] = [
    "ts",
    "fid",
    "vid",
    "ttp",
    "tm",
    "stc",
    "100mhzsteps",
    "hwpstate",
    "",
    "cpb",
    "eff_freq_ro",
    "proc_feedback",
    "acc_power",
];
