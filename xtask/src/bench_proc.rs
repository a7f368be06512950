//! The process and scheduler rows of `cargo xtask bench`: `procbench` (guest-user), one static
//! binary, run as init's child
//!
//! - by our kernel and by Debian's Linux, both under QEMU microvm TCG, booted from the same
//!   initramfs (Linux with `rdinit=/sbin/init`): our `init` mounts /proc, runs
//!   `/bin/procbench` and exits, which powers our kernel off and panics Linux into a reboot
//!   that `-no-reboot` turns into QEMU's exit;
//! - by our kernel on our VMM, and directly on the host, for reference.
//!
//! One CPU for both kernels: `ctx_switch` is two processes on one CPU anyway, every row then
//! measures one CPU's kernel path rather than how a busy host schedules two TCG vCPU threads,
//! and with two, Linux 6.1 under TCG finds the vCPUs' TSCs unsynchronized and falls back to
//! jiffies for its clock, which cannot time these rows.
//!
//! procbench prints each row as the median of 5 runs; a cell here is the median of those over
//! the runs of the bench (`--runs`, at most [`MAX_RUNS`]), the sides taking turns so that a
//! change in the host's load falls on all of them. A row that failed in any run is a failed
//! cell with procbench's reason, never a number; a run that hung is left out (at least half
//! must finish).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::bench::run_watched;
use crate::build;

/// procbench's rows, in its order, with their names in the table.
const ROWS: &[(&str, &str)] = &[
    ("null_syscall", "null syscall (`getppid`)"),
    ("fork_exit_wait", "fork + exit + wait"),
    ("fork_exec_wait", "fork + execve + wait"),
    ("ctx_switch", "context switch (2 processes, 1 CPU)"),
    ("thread_create_join", "thread create + join"),
    ("signal_delivery", "signal delivery to a handler"),
    (
        "sysv_msg_round_trip",
        "SysV message round trip (2 processes)",
    ),
    ("pipe_pingpong", "pipe ping-pong, 1 byte (round trip)"),
    ("pipe_bandwidth", "pipe bandwidth (per 64 KiB write)"),
    (
        "unix_pingpong",
        "AF_UNIX stream ping-pong, 1 byte (round trip)",
    ),
    ("tmpfs_write_read", "tmpfs 64 KiB pwrite + pread"),
    ("open_close", "open + close (tmpfs)"),
    ("stat", "stat (tmpfs)"),
    ("futex_wake", "futex wake (round trip between 2 threads)"),
    ("posix_mq_round_trip", "POSIX mq round trip (2 processes)"),
    ("page_fault", "anonymous page fault (write to a fresh page)"),
    (
        "mmap_munmap_1m",
        "mmap + munmap of 1 MiB (anonymous, untouched)",
    ),
    ("fork_64m", "fork + exit + wait with 64 MiB touched"),
];

/// vCPUs of both QEMU guests and of our VMM.
const CPUS: u8 = 1;
/// Runs per side at most: each already takes the median of 5, and a Linux run under TCG lasts
/// ~6 s with its boot, so 5 keeps the section near a minute and a half.
const MAX_RUNS: usize = 5;
/// A run that has not ended by then is killed and counts as hung.
const TIMEOUT: Duration = Duration::from_secs(120);

/// Ours also times kmalloc/kfree pairs at boot (`test.kmalloc_bench`, printed at notice
/// level, which `loglevel=6` lets through `quiet`).
const OURS_APPEND: &str = "console=ttyS0 quiet loglevel=6 test.kmalloc_bench=64 -- /bin/procbench";
/// Linux's, without the TSC rate ([`crate::bench::linux_append`]) and the program for init.
const LINUX_APPEND: &str = "console=ttyS0 quiet panic=-1 rdinit=/sbin/init";

/// What one procbench run said about one row.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Ns(f64),
    Failed(String),
}

/// One side's runs: each the outcome of every row (in [`ROWS`] order), or why the run as a
/// whole gave nothing (it hung, or did not start).
type Runs = Vec<Result<Vec<Outcome>, String>>;

/// One column of the table: per row, the median over the runs, or the cell's text.
type Column = Vec<Result<f64, String>>;

fn row_index(name: &str) -> Option<usize> {
    ROWS.iter().position(|(n, _)| *n == name)
}

/// The rows in procbench's output (a console's, other lines among them): `bench: <row> <ns>
/// ns`, or `procbench: <row>: <error>` for a row that could not run. A row with neither
/// failed with "no result"; a malformed `bench:` line or an unknown row is an error.
fn parse(output: &str) -> Result<Vec<Outcome>> {
    let mut rows: Vec<Option<Outcome>> = vec![None; ROWS.len()];
    for line in output.lines().map(|l| l.trim_end_matches('\r')) {
        let (name, outcome) = if let Some(rest) = line.strip_prefix("bench: ") {
            let words: Vec<&str> = rest.split(' ').collect();
            let ns = words.get(1).and_then(|v| v.parse::<f64>().ok());
            match (words.as_slice(), ns) {
                ([name, _, "ns"], Some(ns)) if ns.is_finite() && ns >= 0.0 => {
                    (*name, Outcome::Ns(ns))
                }
                _ => bail!(
                    "malformed procbench line {line:?} (expected `bench: <row> <ns-per-op> ns`)"
                ),
            }
        } else if let Some((name, error)) = line
            .strip_prefix("procbench: ")
            .and_then(|r| r.split_once(": "))
            .filter(|(name, _)| row_index(name).is_some())
        {
            (name, Outcome::Failed(error.to_string()))
        } else {
            continue;
        };
        let i = row_index(name)
            .with_context(|| format!("procbench printed an unknown row: {line:?}"))?;
        if rows[i].is_some() {
            bail!("procbench printed row {name} twice");
        }
        rows[i] = Some(outcome);
    }
    Ok(rows
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Outcome::Failed("no result".into())))
        .collect())
}

/// The kernel's `kmalloc: N pairs/s (size S), X ns per pair` line: X.
fn parse_kmalloc(output: &str) -> Option<f64> {
    output.lines().find_map(|l| {
        let rest = l.trim_end().split_once("kmalloc: ")?.1;
        let (_, per) = rest.split_once("), ")?;
        per.strip_suffix(" ns per pair")?.trim().parse().ok()
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A side's column: the median of each row over the finished runs; a failed cell if the row
/// failed in any of them, or if fewer than half of the runs finished.
fn column(runs: &Runs) -> Column {
    let finished: Vec<&Vec<Outcome>> = runs.iter().filter_map(|r| r.as_ref().ok()).collect();
    if finished.is_empty() || finished.len() * 2 < runs.len() {
        let why = runs.iter().find_map(|r| r.as_ref().err());
        let why = why.map_or("no runs", String::as_str);
        let cell = format!(
            "failed: {} of {} runs: {why}",
            runs.len() - finished.len(),
            runs.len()
        );
        return vec![Err(cell); ROWS.len()];
    }
    (0..ROWS.len())
        .map(|i| {
            let mut ns = Vec::new();
            for run in &finished {
                match &run[i] {
                    Outcome::Ns(v) => ns.push(*v),
                    Outcome::Failed(e) => return Err(format!("failed: {e}")),
                }
            }
            Ok(median(ns))
        })
        .collect()
}

/// A time per operation in the unit that keeps it readable.
fn fmt_ns(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.1} ns")
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

fn cell(c: &Result<f64, String>) -> String {
    match c {
        Ok(ns) => fmt_ns(*ns),
        // A cell's text must not end the markdown cell early.
        Err(text) => text.replace('|', "/").chars().take(80).collect(),
    }
}

/// The markdown table: a row per procbench row, with ours/Linux when both have a number.
fn table(runs: usize, ours: &Column, linux: &Column, vmm: &Column, host: &Column) -> String {
    let mut out = format!(
        "| process rows (time per op, median of {runs} runs × 5) | ours, QEMU TCG | \
         Linux, QEMU TCG | ours/Linux | ours, our VMM | host |\n|---|---|---|---|---|---|\n"
    );
    for (i, (_, label)) in ROWS.iter().enumerate() {
        let ratio = match (&ours[i], &linux[i]) {
            (Ok(o), Ok(l)) if *l > 0.0 => format!("{:.2}", o / l),
            _ => String::new(),
        };
        out += &format!(
            "| {label} | {} | {} | {ratio} | {} | {} |\n",
            cell(&ours[i]),
            cell(&linux[i]),
            cell(&vmm[i]),
            cell(&host[i])
        );
    }
    out
}

/// One procbench run by `cmd`; a run that hung or did not start is `Ok(Err(why))`, left out.
/// A `kmalloc:` line in the output (ours, with `test.kmalloc_bench`) adds to `kmalloc_ns`.
fn one_run(
    what: &str,
    cmd: &mut Command,
    kmalloc_ns: &mut Vec<f64>,
) -> Result<Result<Vec<Outcome>, String>> {
    let mut out = String::new();
    let ran = run_watched(cmd.stderr(Stdio::piped()), TIMEOUT, |line| {
        out.push_str(line);
        out.push('\n');
    });
    let status = match ran {
        Ok(status) => status,
        Err(e) => {
            eprintln!("bench: procbench on {what}: run left out: {e:#}");
            return Ok(Err(format!("{e:#}")));
        }
    };
    let rows = parse(&out).with_context(|| format!("procbench on {what}"))?;
    kmalloc_ns.extend(parse_kmalloc(&out));
    if rows.iter().any(|r| matches!(r, Outcome::Failed(_))) {
        let lines: Vec<&str> = out.lines().collect();
        let tail = lines[lines.len().saturating_sub(10)..].join("\n  ");
        eprintln!(
            "bench: procbench on {what} had failed rows ({status}); its output ended:\n  {tail}"
        );
    }
    Ok(Ok(rows))
}

fn qemu(kernel: &Path, initrd: &Path, append: &str) -> Command {
    let mut cmd = vm_tests::qemu_machine(kernel, initrd, append, CPUS, "tcg");
    cmd.arg("-nographic");
    cmd
}

pub fn run(a: &build::Artifacts, runs: usize) -> Result<()> {
    let runs = runs.clamp(1, MAX_RUNS);
    let host_bin = build::user_programs()?.join("procbench");
    let linux = crate::bench::linux_kernel();
    let linux_append = crate::bench::linux_append(LINUX_APPEND) + " -- /bin/procbench";
    eprintln!(
        "bench: procbench, {runs} runs each: ours and Linux under QEMU TCG ({CPUS} CPU), \
         ours on our VMM, the host"
    );
    if linux.is_none() {
        eprintln!(
            "bench: no /boot/vmlinuz-* (apt-get install linux-image-amd64): Linux column skipped"
        );
    }
    let (mut ours, mut theirs, mut vmm, mut host) =
        (Runs::new(), Runs::new(), Runs::new(), Runs::new());
    let mut kmalloc_ns = Vec::new();
    for _ in 0..runs {
        ours.push(one_run(
            "our kernel, QEMU TCG",
            &mut qemu(&a.kernel, &a.initramfs, OURS_APPEND),
            &mut kmalloc_ns,
        )?);
        if let Some(k) = &linux {
            theirs.push(one_run(
                "Linux, QEMU TCG",
                &mut qemu(k, &a.initramfs, &linux_append),
                &mut Vec::new(),
            )?);
        }
        let mut on_vmm = Command::new(&a.vmm);
        on_vmm
            .args([
                "run",
                "--mem",
                "256M",
                "--cpus",
                &CPUS.to_string(),
                "--kernel",
            ])
            .arg(&a.kernel)
            .arg("--initrd")
            .arg(&a.initramfs)
            .args(["--cmdline", "quiet -- /bin/procbench"]);
        vmm.push(one_run(
            "our kernel, our VMM",
            &mut on_vmm,
            &mut Vec::new(),
        )?);
        host.push(one_run(
            "the host",
            &mut Command::new(&host_bin),
            &mut Vec::new(),
        )?);
    }
    let linux_column = match linux {
        Some(_) => column(&theirs),
        None => vec![Err("skipped: no Linux kernel".to_string()); ROWS.len()],
    };
    println!();
    print!(
        "{}",
        table(
            runs,
            &column(&ours),
            &linux_column,
            &column(&vmm),
            &column(&host)
        )
    );
    match kmalloc_ns.is_empty() {
        true => println!("kmalloc/kfree pair (64 bytes, in-kernel, ours, QEMU TCG): no result"),
        false => println!(
            "kmalloc/kfree pair (64 bytes, in-kernel, ours, QEMU TCG, median of {}): {} \
             (Linux has no equivalent row)",
            kmalloc_ns.len(),
            fmt_ns(median(kmalloc_ns))
        ),
    }
    println!(
        "Target: every ours/Linux ratio ≤ 1.0. Both kernels run the same procbench from the \
         same initramfs under qemu-system-x86_64 -M microvm -accel tcg -smp {CPUS}."
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(v: &[f64]) -> Vec<Outcome> {
        v.iter().map(|&n| Outcome::Ns(n)).collect()
    }

    /// `v`, then its last value again for the rest of the rows.
    fn padded(v: &[f64]) -> Vec<Outcome> {
        let last = *v.last().unwrap();
        ns(&[v, &vec![last; ROWS.len() - v.len()][..]].concat())
    }

    /// A column of `v` padded with `Ok(1.0)` to every row.
    fn padded_column(mut v: Column) -> Column {
        v.resize(ROWS.len(), Ok(1.0));
        v
    }

    #[test]
    fn parse_reads_rows_failures_and_missing_rows() {
        let console = "[    0.011] tsc: 2596 MHz\r\ninit: running /bin/procbench\r\n\
            bench: null_syscall 314.4 ns\r\nbench: fork_exit_wait 112845.2 ns\n\
            procbench: fork_exec_wait: exec of \"/bin/procbench\" exited with status 127\n\
            procbench: unknown row or option 'x'\n\
            bench: ctx_switch 15565.1 ns\nbench: signal_delivery 8489.7 ns\n\
            [    2.6] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\n";
        let rows = parse(console).unwrap();
        assert_eq!(
            rows,
            vec![
                Outcome::Ns(314.4),
                Outcome::Ns(112845.2),
                Outcome::Failed("exec of \"/bin/procbench\" exited with status 127".into()),
                Outcome::Ns(15565.1),
                Outcome::Failed("no result".into()),
                Outcome::Ns(8489.7),
            ]
            .into_iter()
            .chain(std::iter::repeat(Outcome::Failed("no result".into())))
            .take(ROWS.len())
            .collect::<Vec<_>>()
        );
    }

    #[test]
    fn parse_rejects_malformed_lines_unknown_rows_and_repeats() {
        for bad in [
            "bench: null_syscall fast ns",
            "bench: null_syscall 12.5 us",
            "bench: null_syscall 12.5",
            "bench: null_syscall -3 ns",
            "bench: null_syscall NaN ns",
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains("malformed procbench line"), "{bad}: {e}");
        }
        let e = parse("bench: no_such_row 3.0 ns").unwrap_err().to_string();
        assert!(e.contains("unknown row"), "{e}");
        let twice = "bench: ctx_switch 1.0 ns\nbench: ctx_switch 2.0 ns";
        assert!(parse(twice).unwrap_err().to_string().contains("twice"));
    }

    #[test]
    fn column_takes_medians_and_fails_a_row_that_failed_once() {
        let mut failed_once = padded(&[10.0, 20.0, 30.0, 40.0, 50.0, 60.0]);
        failed_once[1] = Outcome::Failed("fork: EAGAIN".into());
        let runs: Runs = vec![
            Ok(padded(&[3.0, 20.0, 30.0, 40.0, 50.0, 60.0])),
            Ok(padded(&[1.0, 22.0, 30.0, 40.0, 50.0, 60.0])),
            Ok(failed_once),
            Err("hung: killed after 120 s".into()),
        ];
        let c = column(&runs);
        assert_eq!(c[0], Ok(3.0));
        assert_eq!(c[1], Err("failed: fork: EAGAIN".into()));
        assert_eq!(c[5], Ok(60.0));
    }

    #[test]
    fn column_fails_every_row_when_most_runs_hung() {
        let runs: Runs = vec![
            Ok(padded(&[1.0])),
            Err("hung: killed after 120 s".into()),
            Err("hung: killed after 120 s".into()),
        ];
        let c = column(&runs);
        assert!(c
            .iter()
            .all(|r| *r == Err("failed: 2 of 3 runs: hung: killed after 120 s".into())));
        assert!(column(&Runs::new()).iter().all(Result::is_err));
    }

    #[test]
    fn parse_kmalloc_reads_the_kernels_line() {
        let console = "[    1.7] kmalloc: 1780 pairs/s (size 64), 561 ns per pair\r\nbench: x";
        assert_eq!(parse_kmalloc(console), Some(561.0));
        assert_eq!(parse_kmalloc("bench: null_syscall 3.0 ns"), None);
    }

    #[test]
    fn times_keep_a_readable_unit() {
        assert_eq!(fmt_ns(314.44), "314.4 ns");
        assert_eq!(fmt_ns(112_845.2), "112.8 µs");
        assert_eq!(fmt_ns(7_554_528.2), "7.55 ms");
    }

    #[test]
    fn table_has_ratios_only_where_both_kernels_have_numbers() {
        let ours: Column = padded_column(vec![
            Ok(300.0),
            Ok(2e5),
            Err("failed: a|b".into()),
            Ok(1.0),
            Ok(1.0),
            Ok(1.0),
        ]);
        let linux: Column = padded_column(vec![
            Ok(600.0),
            Ok(1e5),
            Ok(7e6),
            Err("failed: x".into()),
            Ok(1.0),
            Ok(1.0),
        ]);
        let vmm: Column = vec![Ok(2.6e5); ROWS.len()];
        let host: Column = vec![Ok(250.0); ROWS.len()];
        let t = table(3, &ours, &linux, &vmm, &host);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2 + ROWS.len());
        assert!(lines[0].starts_with("| process rows (time per op, median of 3 runs × 5) |"));
        assert_eq!(
            lines[2],
            "| null syscall (`getppid`) | 300.0 ns | 600.0 ns | 0.50 | 260.0 µs | 250.0 ns |"
        );
        assert_eq!(
            lines[3],
            "| fork + exit + wait | 200.0 µs | 100.0 µs | 2.00 | 260.0 µs | 250.0 ns |"
        );
        assert_eq!(
            lines[4],
            "| fork + execve + wait | failed: a/b | 7.00 ms |  | 260.0 µs | 250.0 ns |"
        );
        assert!(lines[5].contains("| failed: x |  |"));
        assert!(lines.iter().all(|l| l.matches('|').count() == 7));
    }

    /// The rows here are procbench's, in its order.
    #[test]
    fn rows_are_procbenchs() {
        let src = include_str!("../../guest-user/src/bin/procbench/main.rs");
        let table = src
            .split_once("const ROWS: &[(&str, Row)] = &[")
            .and_then(|(_, rest)| rest.split_once("];"))
            .expect("procbench's ROWS table")
            .0;
        let names: Vec<&str> = table
            .lines()
            .filter_map(|l| l.trim().strip_prefix("(\"")?.split('"').next())
            .collect();
        let ours: Vec<&str> = ROWS.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ours);
    }
}
