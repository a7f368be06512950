//! `cargo xtask`: builds the VMM, the guest kernel, the guest programs and the initramfs, and
//! runs, tests and benchmarks them. One module per subcommand.

mod bench;
mod bench_insns;
mod bench_kfunc;
mod bench_proc;
mod bench_trace;
mod bench_tracepoint;
mod build;
mod cpio;
mod kallsyms;
mod run;
mod test;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Build, run, test and benchmark the watchvm microVM"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build everything: VMM, guest kernel, guest programs, initramfs.
    Build,
    /// Build everything and boot to the guest's console on this terminal.
    Run {
        /// Number of vCPUs.
        #[arg(long, default_value_t = 1)]
        cpus: u8,
        /// Guest memory (e.g. 256M, 1G).
        #[arg(long, default_value = "256M")]
        mem: String,
        /// Extra kernel command line (arguments after `--` go to init, which runs them instead
        /// of the shell).
        #[arg(long, default_value = "", allow_hyphen_values = true)]
        cmdline: String,
    },
    /// Every test: host unit tests, then VM boot tests (our VMM and QEMU).
    Test,
    /// The benchmark table.
    Bench {
        /// Runs per measurement (the median is reported).
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// Run only this section.
        #[arg(long, value_enum)]
        only: Option<bench::Section>,
    },
    /// Count the kernel's boot-path instructions under QEMU and list the costliest functions.
    BootProfile {
        /// How many functions to list.
        #[arg(long, default_value_t = 30)]
        top: usize,
        /// Count what tracepoints cost instead (disabled sites and enabled hits).
        #[arg(long)]
        tracepoints: bool,
        /// Count what kfunc/kretfunc hits cost instead (NOPs patched into a copy of the kernel).
        #[arg(long)]
        kfunc: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build => build::all().map(|_| ()),
        Command::Run { cpus, mem, cmdline } => run::run(cpus, &mem, &cmdline),
        Command::Test => test::all(),
        Command::Bench { runs, only } => bench::run(runs, only),
        Command::BootProfile {
            tracepoints: true, ..
        } => build::all().and_then(|a| {
            bench_tracepoint::measure(&a.kernel, &a.initramfs).map(|c| bench_tracepoint::print(&c))
        }),
        Command::BootProfile { kfunc: true, .. } => build::all().and_then(|a| {
            bench_kfunc::measure(&a.kernel, &a.initramfs).map(|c| bench_kfunc::print(&c))
        }),
        Command::BootProfile { top, .. } => bench_insns::print(top),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
