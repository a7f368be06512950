//! The per-task files of /proc/<pid>/ and /proc/<pid>/task/<tid>/, in Linux's formats:
//! `stat` and `status` (Linux's fs/proc/array.c) and `comm`. `cmdline` and `environ` are in
//! `pid_cmdline`, `sched` in `sched::debug`.
//!
//! Each file has a pure renderer over a plain snapshot (host-tested against lines taken from
//! a real Linux), and a kernel-side function that takes the snapshot from a task. The
//! kernel-side functions return the whole file; the caller handles offsets.
//!
//! Where our kernel has no counterpart of a Linux field (no controlling terminals, no major
//! faults, no namespaces, no seccomp, no capabilities beyond "root has all"), the field shows
//! what Linux shows for a task without it.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

/// `USER_HZ`: the unit of the clock-tick fields.
pub const USER_HZ: u64 = 100;

/// The highest capability Linux 6.x knows (CAP_CHECKPOINT_RESTORE): root's sets are all
/// bits up to it.
pub const CAP_LAST_CAP: u32 = 40;
pub const CAP_FULL_SET: u64 = (1 << (CAP_LAST_CAP + 1)) - 1;

/// Linux's `nsec_to_clock_t`.
pub fn nsec_to_clock_t(ns: u64) -> u64 {
    ns / (1_000_000_000 / USER_HZ)
}

// --- State -------------------------------------------------------------------------------

/// What `get_task_state` shows, indexed by `task_state_index`.
pub const TASK_STATE_ARRAY: [&str; 9] = [
    "R (running)",
    "S (sleeping)",
    "D (disk sleep)",
    "T (stopped)",
    "t (tracing stop)",
    "X (dead)",
    "Z (zombie)",
    "P (parked)",
    "I (idle)",
];

/// The states /proc reports (`TASK_REPORT`): running .. parked, and the exit states.
const TASK_REPORT: u32 = 0x7f;
const TASK_REPORT_IDLE: u32 = TASK_REPORT + 1;
const TASK_UNINTERRUPTIBLE: u32 = 0x0002;
const TASK_NOLOAD: u32 = 0x0400;
const TASK_IDLE: u32 = TASK_UNINTERRUPTIBLE | TASK_NOLOAD;

/// Linux's `__task_state_index`: the highest reported state bit, or "idle" for TASK_IDLE
/// (an uninterruptible sleep that doesn't count towards the load).
pub fn task_state_index(state: u32, exit_state: u32) -> usize {
    let mut s = (state | exit_state) & TASK_REPORT;
    if state & TASK_IDLE == TASK_IDLE {
        s = TASK_REPORT_IDLE;
    }
    (u32::BITS - s.leading_zeros()) as usize
}

/// "S (sleeping)" and friends (`get_task_state`).
pub fn get_task_state(state: u32, exit_state: u32) -> &'static str {
    TASK_STATE_ARRAY[task_state_index(state, exit_state)]
}

// --- /proc/<pid>/stat --------------------------------------------------------------------

/// Everything on a /proc/<pid>/stat line (`do_task_stat`), in its order. Times are in
/// clock ticks, sizes in bytes except `rss` (pages).
#[derive(Clone, Debug, Default)]
pub struct TaskStat {
    pub pid: i32,
    pub comm: String,
    pub state: char,
    pub ppid: i32,
    pub pgrp: i32,
    pub session: i32,
    pub tty_nr: i32,
    pub tpgid: i32,
    pub flags: u32,
    pub min_flt: u64,
    pub cmin_flt: u64,
    pub maj_flt: u64,
    pub cmaj_flt: u64,
    pub utime: u64,
    pub stime: u64,
    pub cutime: u64,
    pub cstime: u64,
    pub priority: i64,
    pub nice: i64,
    pub num_threads: i64,
    pub start_time: u64,
    pub vsize: u64,
    pub rss: u64,
    pub rsslim: u64,
    pub start_code: u64,
    pub end_code: u64,
    pub start_stack: u64,
    pub kstkesp: u64,
    pub kstkeip: u64,
    pub signal: u64,
    pub blocked: u64,
    pub sigignore: u64,
    pub sigcatch: u64,
    pub wchan: u64,
    pub exit_signal: i32,
    pub processor: i32,
    pub rt_priority: u32,
    pub policy: u32,
    pub delayacct_blkio_ticks: u64,
    pub guest_time: u64,
    pub cguest_time: u64,
    pub start_data: u64,
    pub end_data: u64,
    pub start_brk: u64,
    pub arg_start: u64,
    pub arg_end: u64,
    pub env_start: u64,
    pub env_end: u64,
    pub exit_code: i32,
}

/// The 52 fields of /proc/<pid>/stat, space separated, newline terminated. The old signal
/// fields show only the first 31 signals, in decimal, as Linux keeps them.
pub fn render_task_stat(s: &TaskStat) -> String {
    const OLD_SIGS: u64 = 0x7fff_ffff;
    let mut out = String::with_capacity(320);
    let _ = write!(
        out,
        "{} ({}) {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} 0 {} {} {} {} ",
        s.pid,
        s.comm,
        s.state,
        s.ppid,
        s.pgrp,
        s.session,
        s.tty_nr,
        s.tpgid,
        s.flags,
        s.min_flt,
        s.cmin_flt,
        s.maj_flt,
        s.cmaj_flt,
        s.utime,
        s.stime,
        s.cutime,
        s.cstime,
        s.priority,
        s.nice,
        s.num_threads,
        s.start_time,
        s.vsize,
        s.rss,
        s.rsslim,
    );
    let _ = writeln!(
        out,
        "{} {} {} {} {} {} {} {} {} {} 0 0 {} {} {} {} {} {} {} {} {} {} {} {} {} {} {}",
        s.start_code,
        s.end_code,
        s.start_stack,
        s.kstkesp,
        s.kstkeip,
        s.signal & OLD_SIGS,
        s.blocked & OLD_SIGS,
        s.sigignore & OLD_SIGS,
        s.sigcatch & OLD_SIGS,
        s.wchan,
        s.exit_signal,
        s.processor,
        s.rt_priority,
        s.policy,
        s.delayacct_blkio_ticks,
        s.guest_time,
        s.cguest_time,
        s.start_data,
        s.end_data,
        s.start_brk,
        s.arg_start,
        s.arg_end,
        s.env_start,
        s.env_end,
        s.exit_code,
    );
    out
}

// --- /proc/<pid>/status ------------------------------------------------------------------

/// The contents of /proc/<pid>/status (`proc_pid_status`).
#[derive(Clone, Debug, Default)]
pub struct TaskStatus {
    pub comm: String,
    pub umask: u32,
    pub state: &'static str,
    pub tgid: i32,
    pub pid: i32,
    pub ppid: i32,
    pub tracer_pid: i32,
    /// Real, effective, saved, filesystem.
    pub uid: [u32; 4],
    pub gid: [u32; 4],
    pub fd_size: usize,
    pub groups: Vec<u32>,
    pub pgid: i32,
    pub sid: i32,
    pub kthread: bool,
    /// The VmPeak .. HugetlbPages lines, for a task with an address space.
    pub vm: Option<String>,
    pub threads: usize,
    /// Queued signals of the user / RLIMIT_SIGPENDING.
    pub sigq: (u64, u64),
    pub sig_pnd: u64,
    pub shd_pnd: u64,
    pub sig_blk: u64,
    pub sig_ign: u64,
    pub sig_cgt: u64,
    pub cap_inh: u64,
    pub cap_prm: u64,
    pub cap_eff: u64,
    pub cap_bnd: u64,
    pub cap_amb: u64,
    pub no_new_privs: bool,
    pub seccomp: u32,
    pub cpus_allowed: u64,
    /// Width of the CPU masks (`nr_cpu_ids`).
    pub nr_cpu_ids: usize,
    pub nvcsw: u64,
    pub nivcsw: u64,
}

/// The command name as the Name: line shows it: newlines and backslashes escaped
/// (`seq_escape_str(.., ESCAPE_SPACE | ESCAPE_SPECIAL, "\n\\")`).
pub fn escape_comm(comm: &str) -> String {
    let mut out = String::with_capacity(comm.len());
    for c in comm.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out
}

/// A CPU mask as `%*pb` prints it: hex in 32-bit chunks, most significant first, separated
/// by commas; the first chunk only as wide as `nr_bits` needs.
pub fn bitmap_string(mask: u64, nr_bits: usize) -> String {
    let mut out = String::new();
    let nr_bits = nr_bits.min(64);
    let mut chunksz = match nr_bits % 32 {
        0 => 32,
        n => n,
    };
    let mut i = nr_bits.div_ceil(32) * 32;
    while i >= 32 {
        i -= 32;
        let val = (mask >> i) & ((1u64 << chunksz) - 1);
        if !out.is_empty() {
            out.push(',');
        }
        let _ = write!(out, "{:0width$x}", val, width = chunksz.div_ceil(4));
        chunksz = 32;
    }
    out
}

/// A CPU mask as `%*pbl` prints it: ranges, "0-3,6".
pub fn bitmap_list_string(mask: u64, nr_bits: usize) -> String {
    let mut out = String::new();
    let nr_bits = nr_bits.min(64);
    let set = |b: usize| b < nr_bits && mask & (1 << b) != 0;
    let mut bit = 0;
    while bit < nr_bits {
        if !set(bit) {
            bit += 1;
            continue;
        }
        let start = bit;
        while set(bit + 1) {
            bit += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        let _ = write!(out, "{start}");
        if bit > start {
            let _ = write!(out, "-{bit}");
        }
        bit += 1;
    }
    out
}

/// /proc/<pid>/status, line for line as Linux 6.x prints it for a kernel configured like
/// ours (no cpusets, no LAM, no user shadow stacks: no Mems_allowed, untag_mask or
/// x86_Thread_features lines).
pub fn render_task_status(s: &TaskStatus) -> String {
    let mut out = String::with_capacity(1400);
    let _ = writeln!(out, "Name:\t{}", escape_comm(&s.comm));
    // `%#04o`: 0022, and 0000 for no umask bits.
    let _ = writeln!(out, "Umask:\t{:04o}", s.umask);
    let _ = writeln!(out, "State:\t{}", s.state);
    let _ = writeln!(out, "Tgid:\t{}", s.tgid);
    let _ = writeln!(out, "Ngid:\t0");
    let _ = writeln!(out, "Pid:\t{}", s.pid);
    let _ = writeln!(out, "PPid:\t{}", s.ppid);
    let _ = writeln!(out, "TracerPid:\t{}", s.tracer_pid);
    let [u0, u1, u2, u3] = s.uid;
    let _ = writeln!(out, "Uid:\t{u0}\t{u1}\t{u2}\t{u3}");
    let [g0, g1, g2, g3] = s.gid;
    let _ = writeln!(out, "Gid:\t{g0}\t{g1}\t{g2}\t{g3}");
    let _ = writeln!(out, "FDSize:\t{}", s.fd_size);
    out.push_str("Groups:\t");
    for (i, g) in s.groups.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{g}");
    }
    // Linux keeps a trailing space here ("shouldn't have been added in the first place").
    out.push_str(" \n");
    let _ = writeln!(out, "NStgid:\t{}", s.tgid);
    let _ = writeln!(out, "NSpid:\t{}", s.pid);
    let _ = writeln!(out, "NSpgid:\t{}", s.pgid);
    let _ = writeln!(out, "NSsid:\t{}", s.sid);
    let _ = writeln!(out, "Kthread:\t{}", s.kthread as u8);
    if let Some(vm) = &s.vm {
        out.push_str(vm);
        out.push_str("CoreDumping:\t0\n");
        // No transparent huge pages here.
        out.push_str("THP_enabled:\t0\n");
    }
    let _ = writeln!(out, "Threads:\t{}", s.threads);
    let _ = writeln!(out, "SigQ:\t{}/{}", s.sigq.0, s.sigq.1);
    for (name, set) in [
        ("SigPnd", s.sig_pnd),
        ("ShdPnd", s.shd_pnd),
        ("SigBlk", s.sig_blk),
        ("SigIgn", s.sig_ign),
        ("SigCgt", s.sig_cgt),
        ("CapInh", s.cap_inh),
        ("CapPrm", s.cap_prm),
        ("CapEff", s.cap_eff),
        ("CapBnd", s.cap_bnd),
        ("CapAmb", s.cap_amb),
    ] {
        let _ = writeln!(out, "{name}:\t{set:016x}");
    }
    let _ = writeln!(out, "NoNewPrivs:\t{}", s.no_new_privs as u8);
    let _ = writeln!(out, "Seccomp:\t{}", s.seccomp);
    out.push_str("Seccomp_filters:\t0\n");
    // No mitigations are applied: what Linux says for an affected CPU left unmitigated.
    out.push_str("Speculation_Store_Bypass:\tvulnerable\n");
    out.push_str("SpeculationIndirectBranch:\talways enabled\n");
    let _ = writeln!(
        out,
        "Cpus_allowed:\t{}",
        bitmap_string(s.cpus_allowed, s.nr_cpu_ids)
    );
    let _ = writeln!(
        out,
        "Cpus_allowed_list:\t{}",
        bitmap_list_string(s.cpus_allowed, s.nr_cpu_ids)
    );
    let _ = writeln!(out, "voluntary_ctxt_switches:\t{}", s.nvcsw);
    let _ = writeln!(out, "nonvoluntary_ctxt_switches:\t{}", s.nivcsw);
    out
}

// --- Taking the snapshots from a task (kernel only) ----------------------------------------

#[cfg(not(test))]
pub use self::task::*;

#[cfg(not(test))]
mod task;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_letters_follow_linux() {
        assert_eq!(get_task_state(0, 0), "R (running)");
        assert_eq!(get_task_state(0x1, 0), "S (sleeping)");
        assert_eq!(get_task_state(0x2, 0), "D (disk sleep)");
        // TASK_KILLABLE is still D; TASK_IDLE is I.
        assert_eq!(get_task_state(0x102, 0), "D (disk sleep)");
        assert_eq!(get_task_state(0x402, 0), "I (idle)");
        // TASK_STOPPED (with WAKEKILL) is T, traced t.
        assert_eq!(get_task_state(0x104, 0), "T (stopped)");
        assert_eq!(get_task_state(0x8, 0), "t (tracing stop)");
        assert_eq!(get_task_state(0x40, 0), "P (parked)");
        // TASK_DEAD with an exit state: Z or X.
        assert_eq!(get_task_state(0x80, 0x20), "Z (zombie)");
        assert_eq!(get_task_state(0x80, 0x10), "X (dead)");
    }

    /// A line from Linux 6.18's /proc/self/stat (`cat`), rebuilt from its fields.
    #[test]
    fn stat_line_matches_linux() {
        let s = TaskStat {
            pid: 32637,
            comm: "cat".into(),
            state: 'R',
            ppid: 32634,
            pgrp: 32634,
            session: 31740,
            tty_nr: 0,
            tpgid: -1,
            flags: 4194304,
            min_flt: 101,
            priority: 20,
            nice: 0,
            num_threads: 1,
            start_time: 956801,
            vsize: 3133440,
            rss: 384,
            rsslim: u64::MAX,
            start_code: 94712397533184,
            end_code: 94712397553065,
            start_stack: 140722947200752,
            exit_signal: 17,
            start_data: 94712397569072,
            end_data: 94712397570688,
            start_brk: 94713459855360,
            arg_start: 140722947201761,
            arg_end: 140722947201781,
            env_start: 140722947201781,
            env_end: 140722947203051,
            ..Default::default()
        };
        let want = "32637 (cat) R 32634 32634 31740 0 -1 4194304 101 0 0 0 0 0 0 0 20 0 1 0 \
                    956801 3133440 384 18446744073709551615 94712397533184 94712397553065 \
                    140722947200752 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 94712397569072 \
                    94712397570688 94713459855360 140722947201761 140722947201781 \
                    140722947201781 140722947203051 0\n";
        let got = render_task_stat(&s);
        assert_eq!(got, want);
        assert_eq!(got.split(' ').count(), 52);
    }

    #[test]
    fn stat_keeps_comm_raw_and_signals_decimal() {
        let s = TaskStat {
            pid: 7,
            comm: "a b) c".into(),
            state: 'S',
            signal: 1 << 40 | 1 << 1,
            sigcatch: 0xffff_ffff,
            exit_signal: -1,
            ..Default::default()
        };
        let line = render_task_stat(&s);
        assert!(line.starts_with("7 (a b) c) S "), "{line}");
        let f: Vec<&str> = line
            .trim_end()
            .rsplit(") ")
            .next()
            .unwrap()
            .split(' ')
            .collect();
        // Fields 31..34 (signal, blocked, sigignore, sigcatch), counted from `state` = 3.
        assert_eq!(&f[31 - 3..35 - 3], ["2", "0", "0", "2147483647"]);
        assert_eq!(f[38 - 3], "-1");
    }

    #[test]
    fn cpu_masks_print_like_linux() {
        assert_eq!(bitmap_string(0b11, 2), "3");
        assert_eq!(bitmap_string(u64::MAX, 4), "f");
        assert_eq!(bitmap_string(u64::MAX, 5), "1f");
        assert_eq!(bitmap_string(0x1, 32), "00000001");
        assert_eq!(bitmap_string(u64::MAX, 40), "ff,ffffffff");
        assert_eq!(bitmap_string(0x5, 36), "0,00000005");
        assert_eq!(bitmap_list_string(0b11, 2), "0-1");
        assert_eq!(bitmap_list_string(0b1011_0001, 8), "0,4-5,7");
        assert_eq!(bitmap_list_string(u64::MAX, 1), "0");
        assert_eq!(bitmap_list_string(0, 4), "");
    }

    /// Linux 6.18's /proc/self/status for `cat`, less the lines our configuration leaves out
    /// (untag_mask, Mems_allowed, Mems_allowed_list).
    #[test]
    fn status_matches_linux() {
        let vm = "VmPeak:\t    3060 kB\nVmSize:\t    3060 kB\nVmLck:\t       0 kB\n\
                  VmPin:\t       0 kB\nVmHWM:\t    1768 kB\nVmRSS:\t    1768 kB\n\
                  RssAnon:\t     112 kB\nRssFile:\t    1656 kB\nRssShmem:\t       0 kB\n\
                  VmData:\t     360 kB\nVmStk:\t     132 kB\nVmExe:\t      20 kB\n\
                  VmLib:\t    1528 kB\nVmPTE:\t      48 kB\nVmSwap:\t       0 kB\n\
                  HugetlbPages:\t       0 kB\n";
        let s = TaskStatus {
            comm: "cat".into(),
            umask: 0o022,
            state: "R (running)",
            tgid: 32638,
            pid: 32638,
            ppid: 32634,
            fd_size: 256,
            pgid: 32634,
            sid: 31740,
            vm: Some(vm.into()),
            threads: 1,
            sigq: (1, 96365),
            cap_prm: 0x1fffeffffff,
            cap_eff: 0x1fffeffffff,
            cap_bnd: 0x1fffeffffff,
            cpus_allowed: u64::MAX,
            nr_cpu_ids: 2,
            ..Default::default()
        };
        let want = alloc::format!(
            "Name:\tcat\nUmask:\t0022\nState:\tR (running)\nTgid:\t32638\nNgid:\t0\n\
             Pid:\t32638\nPPid:\t32634\nTracerPid:\t0\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n\
             FDSize:\t256\nGroups:\t \nNStgid:\t32638\nNSpid:\t32638\nNSpgid:\t32634\n\
             NSsid:\t31740\nKthread:\t0\n{vm}CoreDumping:\t0\nTHP_enabled:\t0\n\
             Threads:\t1\nSigQ:\t1/96365\nSigPnd:\t0000000000000000\n\
             ShdPnd:\t0000000000000000\nSigBlk:\t0000000000000000\n\
             SigIgn:\t0000000000000000\nSigCgt:\t0000000000000000\n\
             CapInh:\t0000000000000000\nCapPrm:\t000001fffeffffff\n\
             CapEff:\t000001fffeffffff\nCapBnd:\t000001fffeffffff\n\
             CapAmb:\t0000000000000000\nNoNewPrivs:\t0\nSeccomp:\t0\nSeccomp_filters:\t0\n\
             Speculation_Store_Bypass:\tvulnerable\n\
             SpeculationIndirectBranch:\talways enabled\nCpus_allowed:\t3\n\
             Cpus_allowed_list:\t0-1\nvoluntary_ctxt_switches:\t0\n\
             nonvoluntary_ctxt_switches:\t0\n"
        );
        assert_eq!(render_task_status(&s), want);
    }

    #[test]
    fn status_of_a_kernel_thread_has_no_memory_lines() {
        let s = TaskStatus {
            comm: "kworker/0:1\\x\n".into(),
            umask: 0,
            state: "I (idle)",
            kthread: true,
            groups: alloc::vec![0, 10],
            nr_cpu_ids: 1,
            cpus_allowed: 1,
            ..Default::default()
        };
        let out = render_task_status(&s);
        assert!(out.starts_with("Name:\tkworker/0:1\\\\x\\n\nUmask:\t0000\nState:\tI (idle)\n"));
        assert!(out.contains("\nGroups:\t0 10 \n"));
        assert!(out.contains("\nKthread:\t1\nThreads:\t0\n"), "{out}");
        assert!(!out.contains("Vm") && !out.contains("THP"));
    }
}
