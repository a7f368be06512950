//! The tracing rows of `cargo xtask bench`, on our VMM (QEMU has no trace device):
//!
//! - cost of an enabled tracepoint hit: `procbench null_syscall` (one `getppid` = one
//!   `raw_syscalls:sys_enter` hit) traced and untraced, the difference per call;
//! - cost of a `kfunc` hit: the same loop with `kfunc:sys_getppid` (a host-patched call at the
//!   function's entry, through the trampoline into the ring);
//! - slowdown of a context-switch-heavy workload (`procbench ctx_switch`) with every `sched:`
//!   tracepoint on;
//! - the host's drain rate: records drained, decoded and run through a program per second
//!   (`vmm::trace::session::measure_drain_rate`), with a ring refilled to the brim each round;
//! - the same hit cost and slowdown under QEMU TCG (the platform the ns figures are
//!   for: every guest instruction costs about the same there, where kvm-pvm's emulator charges
//!   more for memory operands, which a record is made of), with `trace_event=`.

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::build;

/// Where `procbench ROW` runs: our VMM, optionally with a `--trace` program; or QEMU TCG
/// with one CPU, optionally with `trace_event=EVENTS` (the guest records into rings it
/// allocated itself, which no host drains: the runs are sized so that they do not fill).
#[derive(Clone, Copy)]
enum On<'a> {
    Vmm(Option<&'a str>),
    Tcg(Option<&'a str>),
}

/// `procbench ARGS`'s row (its last word): ns per operation.
fn procbench(a: &build::Artifacts, args: &str, on: On) -> Result<f64> {
    let row = args
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .to_string();
    let mut cmd = match on {
        On::Vmm(trace) => {
            let mut cmd = Command::new(&a.vmm);
            cmd.args(["run", "--cpus", "2", "--kernel"])
                .arg(&a.kernel)
                .arg("--initrd")
                .arg(&a.initramfs)
                .args(["--cmdline", &format!("quiet -- /bin/procbench {args}")]);
            if let Some(program) = trace {
                cmd.args(["--trace", program]);
            }
            cmd
        }
        On::Tcg(events) => {
            let params = events.map_or(String::new(), |e| format!("trace_event={e}"));
            let append = format!("console=ttyS0 quiet {params} -- /bin/procbench {args}");
            let mut cmd = vm_tests::qemu_machine(&a.kernel, &a.initramfs, &append, 1, "tcg");
            cmd.arg("-nographic");
            cmd
        }
    };
    let out = cmd.stdin(Stdio::null()).output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("bench: {row} ")))
        .and_then(|v| v.trim_end_matches(" ns").trim().parse().ok())
        .with_context(|| format!("no `bench: {row}` line from procbench: {stdout}"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn run(a: &build::Artifacts, runs: usize) -> Result<()> {
    eprintln!("bench: tracing rows on our VMM ({runs} runs)");
    // Untraced and traced runs taking turns, so that a change in load falls on both.
    let pair = |args: &str, plain_on: On, traced_on: On| -> Result<(f64, f64)> {
        let mut plain = Vec::new();
        let mut traced = Vec::new();
        for _ in 0..runs {
            plain.push(procbench(a, args, plain_on)?);
            traced.push(procbench(a, args, traced_on)?);
        }
        Ok((median(plain), median(traced)))
    };
    let on_vmm = |program| (On::Vmm(None), On::Vmm(Some(program)));
    let on_tcg = |events| (On::Tcg(None), On::Tcg(Some(events)));
    let (sys_plain, sys_traced) = {
        let (p, t) = on_vmm("tracepoint:raw_syscalls:sys_enter { @ = count(); }");
        pair("--iters 2000 null_syscall", p, t)?
    };
    let (kfunc_plain, kfunc_traced) = {
        let (p, t) = on_vmm("kfunc:sys_getppid { @ = count(); }");
        pair("--iters 2000 null_syscall", p, t)?
    };
    let (ctx_plain, ctx_traced) = {
        let (p, t) = on_vmm("tracepoint:sched:* { @[probe] = count(); }");
        pair("--iters 50 ctx_switch", p, t)?
    };
    let (tcg_sys_plain, tcg_sys_traced) = {
        let (p, t) = on_tcg("raw_syscalls:sys_enter");
        pair("--iters 400 null_syscall", p, t)?
    };
    let (tcg_ctx_plain, tcg_ctx_traced) = {
        let (p, t) = on_tcg("sched");
        pair("--iters 50 ctx_switch", p, t)?
    };
    let (events, spent) = vmm::trace::session::measure_drain_rate(200);
    let rate = events as f64 / spent.max(Duration::from_nanos(1)).as_secs_f64();

    println!();
    println!("| tracing (our VMM, median of {runs}) | untraced | traced | cost |");
    println!("|---|---|---|---|");
    println!(
        "| enabled tracepoint hit (`getppid` + `raw_syscalls:sys_enter`) | {sys_plain:.0} ns | {sys_traced:.0} ns | {:.0} ns per hit |",
        sys_traced - sys_plain
    );
    println!(
        "| `kfunc` hit (`getppid` + `kfunc:sys_getppid`) | {kfunc_plain:.0} ns | {kfunc_traced:.0} ns | {:.0} ns per hit |",
        kfunc_traced - kfunc_plain
    );
    println!(
        "| `ctx_switch` with all `sched:` tracepoints on | {ctx_plain:.0} ns | {ctx_traced:.0} ns | {:+.1} % (target < 5 %) |",
        (ctx_traced / ctx_plain - 1.0) * 100.0
    );
    println!(
        "| host drain + decode + `count()` | | | {:.1} M events/s (target >= 10) |",
        rate / 1e6
    );
    println!();
    println!("| tracing (QEMU TCG, 1 CPU, guest rings without a host, median of {runs}) | untraced | traced | cost |");
    println!("|---|---|---|---|");
    println!(
        "| enabled tracepoint hit (`getppid` + `raw_syscalls:sys_enter`) | {tcg_sys_plain:.1} ns | {tcg_sys_traced:.1} ns | {:.1} ns per hit |",
        tcg_sys_traced - tcg_sys_plain
    );
    println!(
        "| `ctx_switch` with all `sched:` tracepoints on | {tcg_ctx_plain:.0} ns | {tcg_ctx_traced:.0} ns | {:+.1} % (target < 5 %) |",
        (tcg_ctx_traced / tcg_ctx_plain - 1.0) * 100.0
    );
    Ok(())
}
