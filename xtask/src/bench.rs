//! `cargo xtask bench`: the benchmark table. Every figure is a median over `runs` runs, beside a
//! reference measured in the same invocation.
//!
//! Boot: time from process start to the first user instruction and to the exit of a guest
//! whose init (`bootmark`) powers off at once —
//! - our kernel on our VMM (KVM): the VMM timestamps the guest's port-0x80 codes;
//! - our kernel under QEMU microvm TCG, and Debian's Linux kernel the same way, with an
//!   initramfs holding the same `bootmark` binary as /init; "first user instruction" is when
//!   its line appears on the serial console (read through a pipe);
//! - the kernel instructions of that boot path, counted under QEMU (bench_insns.rs).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::build;
use crate::cpio::{self, Member};

struct Sample {
    to_user: Duration,
    to_exit: Duration,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Our VMM: the boot events come from `--boot-timer` on stderr.
fn vmm_once(a: &build::Artifacts) -> Result<(Sample, u64)> {
    let start = Instant::now();
    let out = Command::new(&a.vmm)
        .args(["run", "--boot-timer", "--mem", "128M", "--kernel"])
        .arg(&a.kernel)
        .arg("--initrd")
        .arg(&a.initramfs)
        .args(["--cmdline", "quiet init=/bin/bootmark"])
        .stdin(Stdio::null())
        .output()?;
    let to_exit = start.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let to_user = stderr
        .lines()
        .find(|l| l.contains("0x41"))
        .and_then(|l| l.split(" at ").nth(1))
        .and_then(|t| t.trim_end_matches(" ms").trim().parse::<f64>().ok())
        .with_context(|| format!("no 0x41 boot event from vmm: {stderr}"))?;
    let rss = stderr
        .lines()
        .find_map(|l| l.strip_prefix("vmm: resident memory beyond guest RAM: "))
        .and_then(|v| v.trim_end_matches(" KiB").parse().ok())
        .unwrap_or(0);
    Ok((
        Sample {
            to_user: Duration::from_secs_f64(to_user / 1000.0),
            to_exit,
        },
        rss,
    ))
}

/// The kernel command line `base` for Debian's Linux under QEMU TCG, with the TSC's rate. The
/// guest's TSC is the host's (TCG reads it), and Linux's own calibration against the PIT fails
/// now and then on a busy host ("Unable to calibrate against PIT"; microvm has no HPET or PM
/// timer to fall back on): Linux then marks the TSC unstable and hangs at boot without a
/// clocksource. Our kernel calibrates against the PIT itself. `tsc=reliable` keeps Linux's
/// clocksource watchdog from declaring the TSC unstable when a loaded host delays the guest
/// (it then falls back to jiffies, and every time it measures comes in whole 4 ms ticks:
/// procbench refuses to time rows with such a clock).
pub(crate) fn linux_append(base: &str) -> String {
    format!("{base} tsc_early_khz={} tsc=reliable", host_tsc_khz())
}

/// The host's TSC rate in kHz, measured once against its monotonic clock over 200 ms.
fn host_tsc_khz() -> u64 {
    static KHZ: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *KHZ.get_or_init(|| {
        // The TSC at the middle of a clock read.
        let stamp = || {
            // SAFETY: rdtsc only reads the time-stamp counter.
            let before = unsafe { core::arch::x86_64::_rdtsc() };
            let now = Instant::now();
            // SAFETY: as above.
            let after = unsafe { core::arch::x86_64::_rdtsc() };
            (before + (after - before) / 2, now)
        };
        let (tsc0, t0) = stamp();
        std::thread::sleep(Duration::from_millis(200));
        let (tsc1, t1) = stamp();
        ((tsc1 - tsc0) as f64 / (t1 - t0).as_secs_f64() / 1000.0).round() as u64
    })
}

/// How long a QEMU boot may take before it counts as hung (TCG boots Linux in ~5 s).
const QEMU_TIMEOUT: Duration = Duration::from_secs(60);

/// QEMU microvm with TCG: time to the bootmark line and to exit. A boot that has not powered
/// off after [`QEMU_TIMEOUT`] is killed and reported as hung.
fn qemu_once(kernel: &Path, initrd: &Path, append: &str) -> Result<Sample> {
    let start = Instant::now();
    let mut to_user = None;
    let mut last = String::new();
    let mut cmd = vm_tests::qemu_command(kernel, initrd, append);
    cmd.stderr(Stdio::null());
    run_watched(&mut cmd, QEMU_TIMEOUT, |line| {
        if to_user.is_none() && line.contains("bootmark: user space reached") {
            to_user = Some(start.elapsed());
        }
        if !line.trim().is_empty() {
            last = line.to_string();
        }
    })?;
    Ok(Sample {
        to_user: to_user.with_context(|| {
            format!("the guest never reached user space; its last line: {last}")
        })?,
        to_exit: start.elapsed(),
    })
}

/// Run `cmd` (stdin closed, stdout piped) to its end, handing `on_line` each line of its stdout
/// as it arrives, then each line of its stderr if the caller piped it. A command still running
/// after `timeout` is killed, and that is an error ("hung").
pub(crate) fn run_watched(
    cmd: &mut Command,
    timeout: Duration,
    mut on_line: impl FnMut(&str),
) -> Result<ExitStatus> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| match cmd.get_program().to_string_lossy() {
            p if p.starts_with("qemu") => {
                format!("cannot start {p} (apt-get install qemu-system-x86)")
            }
            p => format!("cannot start {p}"),
        })?;
    let stdout = child.stdout.take().context("no stdout pipe")?;
    let stderr = child.stderr.take().map(|mut e| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = e.read_to_end(&mut text);
            text
        })
    });
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let hung = finished.recv_timeout(timeout).is_err();
        if hung {
            let _ = child.kill();
        }
        (hung, child.wait())
    });
    for line in BufReader::new(stdout).split(b'\n') {
        on_line(String::from_utf8_lossy(&line.unwrap_or_default()).trim_end_matches('\r'));
    }
    let stderr = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    for line in String::from_utf8_lossy(&stderr).lines() {
        on_line(line.trim_end_matches('\r'));
    }
    let _ = done.send(());
    let (hung, status) = watchdog
        .join()
        .map_err(|_| anyhow::anyhow!("the watchdog thread panicked"))?;
    if hung {
        bail!("hung: killed after {} s", timeout.as_secs());
    }
    Ok(status?)
}

/// `runs` QEMU boots, summarized over the ones that finished; a boot that hangs or fails is
/// reported on stderr and left out (at least half must finish).
fn qemu_runs(runs: usize, boot: impl Fn() -> Result<Sample>) -> Result<(Sample, usize)> {
    let mut samples = Vec::new();
    let mut failed = 0;
    for i in 0..runs {
        match boot() {
            Ok(s) => samples.push(s),
            Err(e) => {
                eprintln!("bench: run {} left out: {e:#}", i + 1);
                failed += 1;
            }
        }
    }
    if samples.len() * 2 < runs.max(1) {
        bail!("{failed} of {runs} QEMU boots failed");
    }
    Ok((summarize(samples), failed))
}

/// Debian's Linux kernel (`linux-image-amd64`), the newest in /boot.
pub(crate) fn linux_kernel() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/boot")
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .collect();
    found.sort();
    found.pop()
}

fn linux_initramfs(bin_dir: &Path) -> Result<PathBuf> {
    let init = std::fs::read(bin_dir.join("bootmark"))?;
    let archive = cpio::archive(&[
        Member::Dir("dev"),
        Member::CharDev {
            path: "dev/console",
            major: 5,
            minor: 1,
        },
        Member::File {
            path: "init",
            mode: 0o755,
            data: &init,
        },
    ]);
    let path = build::guest_dir().join("linux-bootmark.cpio");
    std::fs::write(&path, archive)?;
    Ok(path)
}

/// The sections of the benchmark, which `--only` picks from.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Section {
    /// Boot times, boot-path instructions and VMM memory.
    Boot,
    /// The process and scheduler rows (`procbench`): ours and Linux under QEMU TCG.
    Proc,
    /// The tracing rows on our VMM, then the instruction counts under QEMU TCG.
    Trace,
    /// Only the tracing instruction counts (tracepoints, kfunc) under QEMU TCG.
    TraceInsns,
}

pub fn run(runs: usize, only: Option<Section>) -> Result<()> {
    let runs = runs.max(1);
    let a = build::all()?;
    let wanted = |s: Section| only.is_none_or(|o| o == s);
    if wanted(Section::Boot) {
        boot(&a, runs)?;
    }
    if wanted(Section::Proc) {
        crate::bench_proc::run(&a, runs)?;
    }
    if wanted(Section::Trace) {
        crate::bench_trace::run(&a, runs)?;
    }
    if wanted(Section::Trace) || only == Some(Section::TraceInsns) {
        crate::bench_tracepoint::print(&crate::bench_tracepoint::measure(&a.kernel, &a.initramfs)?);
        crate::bench_tracepoint::print_ctx_switch(&crate::bench_tracepoint::measure_ctx_switch(
            &a.kernel,
            &a.initramfs,
        )?);
        crate::bench_kfunc::print(&crate::bench_kfunc::measure(&a.kernel, &a.initramfs)?);
    }
    Ok(())
}

/// The boot table, the boot path's instructions and the VMM's resident memory.
fn boot(a: &build::Artifacts, runs: usize) -> Result<()> {
    let bin_dir = build::user_programs()?;
    let mut rows: Vec<(String, Sample)> = Vec::new();

    eprintln!("bench: our kernel on our VMM ({runs} runs)");
    let mut samples = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..runs {
        let (s, r) = vmm_once(a)?;
        samples.push(s);
        rss.push(r);
    }
    rows.push(("ours, our VMM (KVM)".into(), summarize(samples)));

    eprintln!("bench: our kernel under QEMU TCG ({runs} runs)");
    let (ours_tcg, ours_failed) = qemu_runs(runs, || {
        qemu_once(
            &a.kernel,
            &a.initramfs,
            "console=ttyS0 quiet init=/bin/bootmark",
        )
    })?;

    let linux = match linux_kernel() {
        Some(k) => {
            eprintln!("bench: Linux {} under QEMU TCG ({runs} runs)", k.display());
            let initrd = linux_initramfs(&bin_dir)?;
            Some(qemu_runs(runs, || {
                qemu_once(&k, &initrd, &linux_append("console=ttyS0 quiet panic=-1"))
            })?)
        }
        None => {
            eprintln!("bench: no /boot/vmlinuz-* (apt-get install linux-image-amd64): Linux column skipped");
            None
        }
    };

    println!();
    println!(
        "| boot (median of {runs}) | to first user instruction | to exit | ours/Linux (to user) |"
    );
    println!("|---|---|---|---|");
    for (name, s) in &rows {
        println!("| {name} | {} | {} | |", ms(s.to_user), ms(s.to_exit));
    }
    let ratio = |ours: Duration, theirs: Duration| {
        format!(
            "{:.3} ({:.1}x faster)",
            ours.as_secs_f64() / theirs.as_secs_f64(),
            theirs.as_secs_f64() / ours.as_secs_f64()
        )
    };
    let left_out = |failed: usize| match failed {
        0 => String::new(),
        n => format!(" ({n} failed or hung, left out)"),
    };
    match &linux {
        Some((l, linux_failed)) => {
            println!(
                "| ours, QEMU TCG{} | {} | {} | {} |",
                left_out(ours_failed),
                ms(ours_tcg.to_user),
                ms(ours_tcg.to_exit),
                ratio(ours_tcg.to_user, l.to_user)
            );
            println!(
                "| Linux, QEMU TCG{} | {} | {} | 1 |",
                left_out(*linux_failed),
                ms(l.to_user),
                ms(l.to_exit)
            );
        }
        None => println!(
            "| ours, QEMU TCG{} | {} | {} | (no Linux) |",
            left_out(ours_failed),
            ms(ours_tcg.to_user),
            ms(ours_tcg.to_exit)
        ),
    }
    let profile =
        crate::bench_insns::boot_profile(&a.kernel, &a.initramfs, crate::bench_insns::BOOT_APPEND)?;
    println!();
    println!(
        "Kernel instructions from entry to the first user instruction (QEMU TCG, 1 CPU, \
         counted): {}; the most expensive functions:",
        profile.instructions
    );
    for (name, n) in profile.functions.iter().take(12) {
        let name: String = name.chars().take(90).collect();
        println!("  {n:>8}  {name}");
    }
    rss.sort();
    println!();
    println!(
        "VMM resident memory beyond guest RAM (median): {} KiB (target < 3072 KiB)",
        rss[rss.len() / 2]
    );
    Ok(())
}

fn summarize(samples: Vec<Sample>) -> Sample {
    Sample {
        to_user: median(samples.iter().map(|s| s.to_user).collect()),
        to_exit: median(samples.iter().map(|s| s.to_exit).collect()),
    }
}
