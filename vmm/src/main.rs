//! The `vmm` command: parses the command line and hands over to the `vmm` library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vmm::{ConsoleConfig, Error, VmConfig, Vmm};

#[derive(Parser)]
#[command(
    name = "vmm",
    version,
    about = "A minimal KVM VMM that boots a PVH kernel"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Boot a kernel and run it until it powers off; exits with the guest's status.
    Run(RunArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    /// Kernel ELF with a PVH entry note.
    #[arg(long)]
    kernel: PathBuf,
    /// Initramfs (cpio newc).
    #[arg(long)]
    initrd: Option<PathBuf>,
    /// Kernel command line (the VMM appends its virtio_mmio.device= entries).
    #[arg(long, allow_hyphen_values = true, default_value = "")]
    cmdline: String,
    /// Guest RAM: bytes or with a K, M or G suffix.
    #[arg(long, default_value = "256M")]
    mem: String,
    /// Number of vCPUs (1 to 32).
    #[arg(long, default_value = "1")]
    cpus: String,
    /// Print the port-0x80 boot codes with their times to stderr after the run.
    #[arg(long)]
    boot_timer: bool,
}

fn run(args: RunArgs) -> Result<i32, Error> {
    let cpus: u32 = args
        .cpus
        .trim()
        .parse()
        .map_err(|_| Error::InvalidCpus(0))?;
    let cpus = u8::try_from(cpus).map_err(|_| Error::InvalidCpus(cpus))?;
    let config = VmConfig {
        kernel: args.kernel,
        initrd: args.initrd,
        cmdline: args.cmdline,
        mem_size: vmm::parse_size(&args.mem)?,
        cpus,
        console: ConsoleConfig::Stdio,
        boot_timer: args.boot_timer,
    };
    Ok(Vmm::new(config)?.run()?.status)
}

fn main() -> ExitCode {
    vmm::process_start();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args),
    };
    match result {
        Ok(status) => ExitCode::from(status as u8),
        Err(e) => {
            eprintln!("error: {}", vmm::error_chain(&e));
            ExitCode::FAILURE
        }
    }
}
