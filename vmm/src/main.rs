//! The `vmm` command: parses the command line and hands over to the `vmm` library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Parser, Subcommand};
use vmm::devices::ConsoleSink;
use vmm::trace::channel::ftrace::KernelText;
use vmm::trace::session::GuestFilter;
use vmm::trace::{OutputFormat, Program};
use vmm::{ConsoleConfig, Error, TraceConfig, VmConfig, Vmm};

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
    /// Trace a running VM (started with --api-sock) with a bpftrace program; Ctrl-C detaches.
    Trace(TraceArgs),
}

#[derive(clap::Args)]
struct TraceArgs {
    /// The VM's control socket (`vmm run --api-sock PATH`).
    #[arg(long, value_name = "PATH", required_unless_present = "list")]
    sock: Option<PathBuf>,
    /// The program text.
    #[arg(short = 'e', value_name = "PROGRAM", conflicts_with = "script")]
    program: Option<String>,
    /// List the probes matching PATTERN (all without one) and exit: those of the VM at
    /// --sock (its tracepoints and kernel functions), else the tracepoints and --kernel's
    /// functions.
    #[arg(short = 'l', value_name = "PATTERN", num_args = 0..=1, default_missing_value = "*")]
    list: Option<String>,
    /// Write the guest's scheduling timeline (Chrome trace-event JSON, for ui.perfetto.dev).
    #[arg(long, value_name = "PATH")]
    timeline: Option<PathBuf>,
    /// The guest's kernel ELF: programs are checked against its functions before attaching
    /// (and `-l` reads them from it instead of asking the VM).
    #[arg(long, value_name = "PATH")]
    kernel: Option<PathBuf>,
    /// Output format: text (bpftrace's) or json (one object per line, as `bpftrace -f json`).
    #[arg(short = 'f', long, value_name = "FORMAT", default_value = "text")]
    format: OutputFormat,
    /// A file holding the program.
    script: Option<PathBuf>,
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
    /// Trace the guest from boot with a bpftrace program, e.g.
    /// 'tracepoint:sched:sched_process_fork { @ = count(); }'.
    #[arg(long, value_name = "PROGRAM", conflicts_with = "trace_file")]
    trace: Option<String>,
    /// Like --trace, with the program read from a file.
    #[arg(long, value_name = "PATH")]
    trace_file: Option<PathBuf>,
    /// Listen on this Unix socket for `vmm trace` clients.
    #[arg(long, value_name = "PATH")]
    api_sock: Option<PathBuf>,
    /// Write the guest's scheduling timeline (Chrome trace-event JSON, for ui.perfetto.dev).
    #[arg(long, value_name = "PATH")]
    timeline: Option<PathBuf>,
    /// Output format of --trace: text (bpftrace's) or json (one object per line).
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    trace_format: OutputFormat,
}

/// How `vmm` ends.
enum Failure {
    /// One line on stderr, exit 1.
    Vm(Error),
    /// A trace program that doesn't compile: its diagnostics, exit 2 (as bpftrace).
    Program(String),
    /// A file we could not read.
    Read(PathBuf, std::io::Error),
    /// A command line clap accepts but we don't.
    Usage(&'static str),
    /// `--kernel` that offers no functions to trace.
    KernelText(vmm::trace::channel::ftrace::FtraceError),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Vm(e)
    }
}

/// The program run when only `--timeline` is given.
const TIMELINE_ONLY: &str = "END { }";

/// Parses and binds the `--trace` program before anything boots.
fn trace_config(args: &RunArgs) -> Result<Option<TraceConfig>, Failure> {
    let (source, name) = match (&args.trace, &args.trace_file, &args.timeline) {
        (Some(text), _, _) => (text.clone(), "stdin".to_string()),
        (None, Some(path), _) => (
            std::fs::read_to_string(path).map_err(|e| Failure::Read(path.clone(), e))?,
            path.display().to_string(),
        ),
        // Only a timeline: a program with nothing to say.
        (None, None, Some(_)) => (TIMELINE_ONLY.to_string(), "stdin".to_string()),
        (None, None, None) => return Ok(None),
    };
    // The kernel's functions, for kfunc: probes (a kernel without patch sites has none).
    let text = KernelText::from_elf(&args.kernel).ok();
    let catalog = vmm::trace::channel::catalog::probe_catalog(text.as_ref());
    let program = Program::parse(&source, &name)
        .and_then(|p| p.attach(&catalog))
        .map_err(|d| Failure::Program(d.to_string()))?;
    let print_maps = source != TIMELINE_ONLY;
    if print_maps {
        match program.banner(args.trace_format) {
            (text, true) => print!("{text}"),
            (text, false) => eprint!("{text}"),
        }
    }
    Ok(Some(TraceConfig {
        program,
        output: ConsoleSink::Stdout,
        diag: ConsoleSink::Stderr,
        filter: GuestFilter::default(),
        poll_interval: vmm::trace::session::POLL_INTERVAL,
        timeline: args.timeline.clone(),
        print_maps,
        format: args.trace_format,
    }))
}

fn run(args: RunArgs) -> Result<i32, Failure> {
    let trace = trace_config(&args)?;
    let cpus: u32 = args
        .cpus
        .trim()
        .parse()
        .map_err(|_| Error::InvalidCpus(0))?;
    let cpus = u8::try_from(cpus).map_err(|_| Error::InvalidCpus(cpus))?;
    let mem_size = vmm::parse_size(&args.mem)?;
    let config = VmConfig {
        kernel: args.kernel,
        initrd: args.initrd,
        cmdline: args.cmdline,
        mem_size,
        cpus,
        console: ConsoleConfig::Stdio,
        boot_timer: args.boot_timer,
        trace,
        api_sock: args.api_sock,
    };
    Ok(Vmm::new(config)?.run()?.status)
}

/// Set by SIGINT: detach from the VM (the VM itself keeps running).
static DETACH: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    DETACH.store(true, Ordering::Release);
}

fn trace(args: TraceArgs) -> Result<i32, Failure> {
    let text = match &args.kernel {
        Some(path) => Some(KernelText::from_elf(path).map_err(Failure::KernelText)?),
        None => None,
    };
    let catalog = vmm::trace::channel::catalog::probe_catalog(text.as_ref());
    if let Some(pattern) = &args.list {
        // The running VM knows its kernel's functions; without one, the tracepoints are all
        // we know (plus the functions of --kernel).
        if let (Some(sock), None) = (&args.sock, &text) {
            return vmm::api::list_probes(
                sock,
                pattern,
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            )
            .map_err(|e| Failure::Vm(e.into()));
        }
        for name in vmm::trace::probe::list(&catalog, pattern) {
            println!("{name}");
        }
        return Ok(0);
    }
    let (source, name) = match (&args.program, &args.script) {
        (Some(text), _) => (text.clone(), "stdin".to_string()),
        (None, Some(path)) => (
            std::fs::read_to_string(path).map_err(|e| Failure::Read(path.clone(), e))?,
            path.display().to_string(),
        ),
        (None, None) if args.timeline.is_some() => (TIMELINE_ONLY.to_string(), "stdin".into()),
        (None, None) => {
            return Err(Failure::Usage(
                "give a program with -e, a script file or --timeline",
            ))
        }
    };
    // Errors in the program are found here first: no VM needed to report them. Probe names
    // are checked here only with --kernel (else the VM checks them).
    Program::parse(&source, &name)
        .and_then(|p| match text {
            Some(_) => p.attach(&catalog).map(drop),
            None => Ok(()),
        })
        .map_err(|d| Failure::Program(d.to_string()))?;
    if let Err(e) = vmm_sys_util::signal::register_signal_handler(libc::SIGINT, on_sigint) {
        eprintln!("vmm trace: cannot catch Ctrl-C: {e}");
    }
    let sock = args.sock.expect("clap requires --sock");
    let req = vmm::api::ClientRequest {
        sock: &sock,
        file_name: &name,
        program: &source,
        timeline: args.timeline.as_deref(),
        format: args.format,
    };
    let status = vmm::api::run_client(
        &req,
        &DETACH,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    )
    .map_err(|e| Failure::Vm(e.into()))?;
    Ok(status)
}

fn main() -> ExitCode {
    vmm::process_start();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Trace(args) => trace(args),
    };
    match result {
        Ok(status) => ExitCode::from(status as u8),
        Err(Failure::Vm(e)) => {
            eprintln!("error: {}", vmm::error_chain(&e));
            ExitCode::FAILURE
        }
        Err(Failure::KernelText(e)) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
        Err(Failure::Read(path, e)) => {
            eprintln!(
                "error: cannot read {}: {}",
                path.display(),
                vmm::error_chain(&e)
            );
            ExitCode::FAILURE
        }
        Err(Failure::Usage(what)) => {
            eprintln!("error: {what}");
            ExitCode::from(2)
        }
        Err(Failure::Program(diagnostics)) => {
            eprint!("{diagnostics}");
            ExitCode::from(2)
        }
    }
}
