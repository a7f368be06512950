//! `vmm`: a minimal KVM virtual machine monitor that boots our guest kernel through Xen PVH.
//!
//! Shape (Firecracker-like, one file per concern):
//! - [`memory`]: guest RAM (below the 32-bit MMIO gap, the rest above 4 GiB) and page walks;
//! - [`loader`]: kernel ELF (PVH note), initrd, command line and `hvm_start_info`;
//! - [`arch`]: x86_64 registers, CPUID and the MP table;
//! - [`vm`]: the KVM VM, its irqchip, devices and the run loop that owns the vCPU threads;
//! - [`vcpu`]: one thread per vCPU, exit decoding (a pure function) and crash reports;
//! - [`devices`]: COM1, the port-0x80 / 0xf4 debug ports and virtio-mmio devices;
//! - [`terminal`]: raw mode for an interactive stdin, restored on every exit path.
//!
//! The guest is untrusted: every value it hands us is checked, and a bad one is logged and
//! ignored, never a panic.

pub mod api;
pub mod arch;
pub mod cputime;
pub mod devices;
pub mod loader;
pub mod memory;
pub mod stop_machine;
pub mod symbols;
pub mod terminal;
pub mod trace;
pub mod vcpu;
pub mod vm;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use vm::Vmm;

/// Most vCPUs a VM may have (the MP table fits 32 processor entries in the EBDA).
pub const MAX_CPUS: u8 = 32;
/// Default guest RAM size.
pub const DEFAULT_MEM_SIZE: u64 = 256 << 20;
/// Smallest guest RAM we accept.
pub const MIN_MEM_SIZE: u64 = 8 << 20;

/// What to boot and how.
#[derive(Debug, Clone)]
pub struct VmConfig {
    /// Kernel ELF with a PVH entry note.
    pub kernel: PathBuf,
    /// Optional initramfs (cpio newc), handed over as the PVH module.
    pub initrd: Option<PathBuf>,
    /// The user's kernel command line; the VMM appends its `virtio_mmio.device=` entries.
    pub cmdline: String,
    /// Guest RAM in bytes.
    pub mem_size: u64,
    /// Number of vCPUs, 1..=[`MAX_CPUS`].
    pub cpus: u8,
    /// Where the console goes.
    pub console: ConsoleConfig,
    /// Print the port-0x80 boot codes with their timestamps to stderr after the run.
    pub boot_timer: bool,
    /// A trace program to run from boot (`vmm run --trace`); also creates the trace device.
    pub trace: Option<TraceConfig>,
    /// Listen for `vmm trace` clients here (`--api-sock`); also creates the trace device.
    pub api_sock: Option<PathBuf>,
}

/// A trace program attached from boot.
#[derive(Debug, Clone)]
pub struct TraceConfig {
    pub program: trace::AttachedProgram,
    /// Where its output (printf, maps) goes.
    pub output: devices::ConsoleSink,
    /// Where lost-event and corrupt-record reports go.
    pub diag: devices::ConsoleSink,
    pub filter: trace::session::GuestFilter,
    /// How often the rings are drained ([`trace::session::POLL_INTERVAL`] normally).
    pub poll_interval: Duration,
    /// Also write the scheduling timeline here (Chrome trace-event JSON).
    pub timeline: Option<PathBuf>,
    /// Print the maps at the end, as bpftrace does (off when only a timeline was asked for).
    pub print_maps: bool,
    /// bpftrace's text or its JSON lines.
    pub format: trace::OutputFormat,
}

/// Where guest console output (COM1 and virtio-console) goes and where its input comes from.
#[derive(Debug, Clone)]
pub enum ConsoleConfig {
    /// Output to stdout; input from stdin (raw mode when stdin is a terminal).
    Stdio,
    /// Output appended to `output`; `input` fed to the virtio-console as if typed.
    Capture {
        output: Arc<Mutex<Vec<u8>>>,
        input: Vec<u8>,
    },
}

/// How a clean run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitReport {
    /// The status the guest wrote to the debug-exit port.
    pub status: i32,
    /// Port-0x80 boot-progress codes in the order they were written.
    pub boot_events: Vec<BootEvent>,
    /// What the `--trace` program saw, if there was one.
    pub trace: Option<trace::session::TraceStats>,
}

/// One write to the port-0x80 boot-progress port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootEvent {
    pub code: u8,
    /// Time since [`process_start`].
    pub since_start: Duration,
}

impl BootEvent {
    /// What the code means, for the codes `abi::boot_codes` defines.
    pub fn name(&self) -> Option<&'static str> {
        match self.code {
            abi::boot_codes::KERNEL_ENTRY => Some("kernel entry"),
            abi::boot_codes::FIRST_USER_INSTRUCTION => Some("first user instruction"),
            _ => None,
        }
    }
}

impl std::fmt::Display for BootEvent {
    /// `boot: 0x40 kernel entry at 12.345 ms`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.since_start.as_secs_f64() * 1000.0;
        match self.name() {
            Some(name) => write!(f, "boot: {:#04x} {name} at {ms:.3} ms", self.code),
            None => write!(f, "boot: {:#04x} at {ms:.3} ms", self.code),
        }
    }
}

/// The instant the process started (as early as `main` could capture it; lazily otherwise).
pub fn process_start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// Every way building or running a VM can fail. Each renders as one line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("--cpus must be between 1 and {MAX_CPUS}")]
    InvalidCpus(u32),
    #[error("invalid memory size \"{0}\"")]
    InvalidMemSize(String),
    #[error("memory size {0} is too small (the minimum is 8M)")]
    MemTooSmall(u64),
    #[error("memory size {0} is not a multiple of 4K")]
    MemNotAligned(u64),
    #[error(transparent)]
    Memory(#[from] memory::Error),
    #[error(transparent)]
    Loader(#[from] loader::Error),
    #[error(transparent)]
    Vm(#[from] vm::Error),
    #[error(transparent)]
    Vcpu(#[from] vcpu::Error),
    #[error("trace program failed")]
    Trace(#[from] trace::EngineError),
    #[error(transparent)]
    Api(#[from] api::Error),
}

/// Parses a memory size: plain bytes, or a number with a `K`, `M`, `G` or `T` suffix (binary
/// units, case-insensitive, an optional trailing `B` or `iB`).
pub fn parse_size(text: &str) -> Result<u64, Error> {
    let bad = || Error::InvalidMemSize(text.to_string());
    let t = text.trim();
    let upper = t.to_ascii_uppercase();
    let body = upper
        .strip_suffix("IB")
        .or_else(|| upper.strip_suffix('B'))
        .unwrap_or(&upper);
    let (digits, shift) = match body.as_bytes().last() {
        Some(b'K') => (&body[..body.len() - 1], 10),
        Some(b'M') => (&body[..body.len() - 1], 20),
        Some(b'G') => (&body[..body.len() - 1], 30),
        Some(b'T') => (&body[..body.len() - 1], 40),
        _ => (body, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    n.checked_mul(1u64 << shift).ok_or_else(bad)
}

/// Renders an error and its sources on one line, `a: b: c`, dropping the ` (os error N)` that
/// `std::io::Error` appends.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut parts = Vec::new();
    let mut cur: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = cur {
        let text = strip_os_error(&e.to_string());
        if !text.is_empty() && parts.last() != Some(&text) {
            parts.push(text);
        }
        cur = e.source();
    }
    parts.join(": ")
}

fn strip_os_error(text: &str) -> String {
    if let Some(i) = text.rfind(" (os error ") {
        if text.ends_with(')') {
            return text[..i].to_string();
        }
    }
    text.to_string()
}

/// Prints a VMM diagnostic to stderr, `vmm: warning: ...`.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { eprintln!("vmm: warning: {}", format_args!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("1024K").unwrap(), 1 << 20);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_size("16MB").unwrap(), 16 << 20);
        for bad in [
            "12Q",
            "",
            "M",
            "-1M",
            "1.5G",
            "0x100",
            "99999999999999999999",
            "20000000T",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_size("12Q").unwrap_err().to_string(),
            "invalid memory size \"12Q\""
        );
    }

    #[test]
    fn error_chain_is_one_line() {
        let io = std::io::Error::from_raw_os_error(libc::ENOENT);
        let e = loader::Error::KernelOpen("/x/y".into(), io);
        assert_eq!(
            error_chain(&Error::from(e)),
            "kernel file /x/y: No such file or directory"
        );
    }

    #[test]
    fn boot_event_display() {
        let e = BootEvent {
            code: 0x40,
            since_start: Duration::from_micros(12345),
        };
        assert_eq!(e.to_string(), "boot: 0x40 kernel entry at 12.345 ms");
    }
}
