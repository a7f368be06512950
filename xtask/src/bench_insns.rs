//! Kernel instructions on the boot path, counted rather than estimated from time.
//!
//! QEMU's TCG translates one guest instruction per block (`-singlestep`; `one-insn-per-tb`
//! from QEMU 8.1) and, with `-d exec,nochain`, logs every block it executes, so each log
//! line is one executed instruction (a `rep` string instruction counts once per iteration,
//! as an emulator pays for it). The count runs from the kernel's ELF entry point to the
//! first instruction outside the kernel's segments, which is init's first user instruction.
//! One CPU, so the stream is the boot CPU's alone and the count repeats from run to run.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use object::{Object, ObjectSegment};
use vmm::symbols::SymbolTable;

pub struct BootProfile {
    /// Kernel instructions executed from entry to the first user instruction.
    pub instructions: u64,
    /// The same instructions by the function they fall in, most first.
    pub functions: Vec<(String, u64)>,
}

/// The kernel ELF's entry point and the address ranges of its segments.
fn kernel_segments(kernel: &Path) -> Result<(u64, Vec<(u64, u64)>)> {
    let elf = std::fs::read(kernel).with_context(|| format!("cannot read {}", kernel.display()))?;
    let file = object::File::parse(&*elf).context("kernel is not a valid ELF file")?;
    let segments = file
        .segments()
        .map(|s| (s.address(), s.address() + s.size()))
        .filter(|(start, end)| start < end)
        .collect();
    Ok((file.entry(), segments))
}

/// Boot `kernel` under QEMU TCG with one CPU and count its instructions to user space.
pub fn boot_profile(kernel: &Path, initrd: &Path, append: &str) -> Result<BootProfile> {
    let (entry, segments) = kernel_segments(kernel)?;
    let in_kernel = |pc: u64| segments.iter().any(|&(s, e)| (s..e).contains(&pc));
    let symbols = SymbolTable::from_elf(kernel).unwrap_or_default();

    let mut instructions = 0u64;
    let mut by_function: HashMap<u64, u64> = HashMap::new();
    each_instruction(kernel, initrd, append, entry, in_kernel, |pc, _| {
        instructions += 1;
        let func = symbols.lookup(pc).map_or(0, |(s, _)| s.addr);
        *by_function.entry(func).or_default() += 1;
    })?;

    let mut functions: Vec<(String, u64)> = by_function
        .into_iter()
        .map(|(addr, n)| {
            let name = symbols
                .lookup(addr)
                .filter(|_| addr != 0)
                .map_or_else(|| "(no symbol)".to_string(), |(s, _)| s.name.clone());
            (name, n)
        })
        .collect();
    functions.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(BootProfile {
        instructions,
        functions,
    })
}

/// Runs the boot with `append` and calls `step(pc, prev_pc)` for each kernel instruction up to
/// the first user instruction.
pub fn each_instruction(
    kernel: &Path,
    initrd: &Path,
    append: &str,
    entry: u64,
    in_kernel: impl Fn(u64) -> bool,
    step: impl FnMut(u64, u64),
) -> Result<()> {
    run_logged(kernel, initrd, append, &[], entry, in_kernel, true, step)
}

/// Kernel and user instructions of a whole run (QEMU exits when the guest powers off), from
/// the kernel's entry: `(kernel, all)`. The guest's clock counts instructions (`-icount`), so
/// that timer ticks, and all the run, come out the same every time.
pub fn count_run(kernel: &Path, initrd: &Path, append: &str) -> Result<(u64, u64)> {
    let (entry, segments) = kernel_segments(kernel)?;
    let in_kernel = |pc: u64| segments.iter().any(|&(s, e)| (s..e).contains(&pc));
    let (mut kernel_insns, mut all) = (0u64, 0u64);
    run_logged(
        kernel,
        initrd,
        append,
        &["-icount", "shift=3"],
        entry,
        in_kernel,
        false,
        |pc, _| {
            all += 1;
            kernel_insns += u64::from(in_kernel(pc));
        },
    )?;
    Ok((kernel_insns, all))
}

/// Runs QEMU with its exec log and calls `step(pc, previous pc)` for each instruction from
/// the kernel's entry on, while `in_kernel(pc)`, with `qemu_args` added; `to_user`: stop at
/// the first instruction outside it (else every instruction, until QEMU exits).
#[allow(clippy::too_many_arguments)]
fn run_logged(
    kernel: &Path,
    initrd: &Path,
    append: &str,
    qemu_args: &[&str],
    entry: u64,
    in_kernel: impl Fn(u64) -> bool,
    to_user: bool,
    mut step: impl FnMut(u64, u64),
) -> Result<()> {
    let mut child = qemu(kernel, initrd, append)?
        .args(qemu_args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start qemu-system-x86_64 (apt-get install qemu-system-x86)")?;
    let log = BufReader::new(child.stderr.take().context("no QEMU log pipe")?);
    let (mut started, mut reached_user, mut prev) = (false, false, 0u64);
    for line in log.lines() {
        let Some(pc) = line.ok().as_deref().and_then(exec_pc) else {
            continue;
        };
        started |= pc == entry;
        if !started {
            continue;
        }
        if !in_kernel(pc) {
            reached_user = true;
            if to_user {
                break;
            }
        }
        step(pc, prev);
        prev = pc;
    }
    let _ = child.kill();
    let _ = child.wait();
    if !started {
        bail!("QEMU's exec log never reached the kernel entry {entry:#x}");
    }
    if !reached_user {
        bail!("the guest never reached user space under QEMU (append: {append})");
    }
    Ok(())
}

/// The `BOOT_APPEND` boot, counted: the bench's boot path.
pub const BOOT_APPEND: &str = "console=ttyS0 quiet init=/bin/bootmark";

/// `cargo xtask boot-profile`: the count and the `top` costliest functions.
pub fn print(top: usize) -> Result<()> {
    let a = crate::build::all()?;
    let profile = boot_profile(&a.kernel, &a.initramfs, BOOT_APPEND)?;
    println!(
        "kernel instructions from entry to the first user instruction: {}",
        profile.instructions
    );
    for (name, n) in profile.functions.iter().take(top) {
        let name: String = name.chars().take(100).collect();
        println!("{n:>9}  {name}");
    }
    Ok(())
}

/// The guest PC of an exec-log line: `Trace 0: 0x7f.. [cs_base/pc/flags/cflags] symbol`.
pub fn exec_pc(line: &str) -> Option<u64> {
    let fields = line.strip_prefix("Trace ")?.split_once('[')?.1;
    let pc = fields.split('/').nth(1)?;
    u64::from_str_radix(pc, 16).ok()
}

/// QEMU microvm, as the bench and tests run it but with one CPU, one instruction per
/// translation block, and every executed block logged to stderr.
pub fn qemu(kernel: &Path, initrd: &Path, append: &str) -> Result<Command> {
    let one_insn_per_tb = qemu_has_one_insn_per_tb()?;
    let accel = if one_insn_per_tb {
        "tcg,one-insn-per-tb=on"
    } else {
        "tcg"
    };
    let mut cmd = vm_tests::qemu_machine(kernel, initrd, append, 1, accel);
    cmd.args(["-nographic", "-d", "exec,nochain"]);
    if !one_insn_per_tb {
        cmd.arg("-singlestep");
    }
    Ok(cmd)
}

/// QEMU 8.1 renamed `-singlestep` to the accelerator property `one-insn-per-tb`.
fn qemu_has_one_insn_per_tb() -> Result<bool> {
    let out = Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .context("cannot start qemu-system-x86_64 (apt-get install qemu-system-x86)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text
        .split_whitespace()
        .skip_while(|w| *w != "version")
        .nth(1)
        .context("cannot read QEMU's version")?;
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    Ok((major, minor) >= (8, 1))
}

#[cfg(test)]
mod tests {
    use super::exec_pc;

    #[test]
    fn exec_log_lines_give_the_guest_pc() {
        // QEMU 7.2 and 8.x layouts.
        let v7 = "Trace 0: 0x7f8bd0000100 [00000000ffff0000/00000000fffffff0/00000040/ff000201] ";
        assert_eq!(exec_pc(v7), Some(0xffff_fff0));
        let v8 = "Trace 0: 0x7f00 [00000000/ffffffff80123456/0040c0b3/ff000201] start_kernel";
        assert_eq!(exec_pc(v8), Some(0xffff_ffff_8012_3456));
        assert_eq!(exec_pc("Linking TBs 0x1 [ffffffff]"), None);
        assert_eq!(exec_pc("Trace 0: 0x1 [zz/qq/00]"), None);
    }
}
