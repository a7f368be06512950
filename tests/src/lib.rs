//! Helpers for the end-to-end tests: locate the guest artifacts (built once by
//! `cargo xtask build`/`test`), boot a VM through the `vmm` library with its console captured,
//! and boot the same kernel under QEMU.

pub mod console;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The CPU hotplug checks of `schedtest`, run on both platforms.
pub const HOTPLUG_CHECKS: [&str; 5] = [
    "cpu_sysfs",
    "cpuhp_threads",
    "hotplug",
    "hotplug_refused",
    "hotplug_cycles",
];

pub struct Guest {
    pub kernel: PathBuf,
    pub initramfs: PathBuf,
    pub vmm: PathBuf,
}

/// The guest artifacts; builds them with `cargo xtask build` if the environment doesn't name
/// them (when the tests are run with plain `cargo test`).
pub fn guest() -> &'static Guest {
    static GUEST: OnceLock<Guest> = OnceLock::new();
    GUEST.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf();
        if std::env::var_os("WATCHVM_KERNEL").is_none() {
            let status = Command::new(env!("CARGO"))
                .args(["xtask", "build"])
                .current_dir(&root)
                .status()
                .expect("cargo xtask build");
            assert!(status.success(), "cargo xtask build failed");
        }
        let var = |name: &str, default: &str| {
            std::env::var_os(name)
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join(default))
        };
        Guest {
            kernel: var("WATCHVM_KERNEL", "target/guest/kernel"),
            initramfs: var("WATCHVM_INITRAMFS", "target/guest/initramfs.cpio"),
            vmm: var("WATCHVM_VMM", "target/x86_64-unknown-linux-gnu/release/vmm"),
        }
    })
}

/// Asserts that a guest test program passed every check named (an `ok:` line each, no `FAIL`)
/// and exited 0.
pub fn assert_checks_passed(prog: &str, checks: &[&str], status: Option<i32>, console: &str) {
    assert!(!console.contains("FAIL"), "{console}");
    for check in checks {
        let passed = console
            .lines()
            .any(|l| l == format!("ok: {check}") || l.starts_with(&format!("ok: {check} (")));
        assert!(passed, "{check} did not pass:\n{console}");
    }
    assert_eq!(status, Some(0), "{prog} failed:\n{console}");
}

/// What a finished VM produced.
#[derive(Debug)]
pub struct Outcome {
    pub result: Result<vmm::ExitReport, String>,
    pub console: String,
}

impl Outcome {
    pub fn status(&self) -> i32 {
        match &self.result {
            Ok(r) => r.status,
            Err(e) => panic!("VM failed: {e}\nconsole:\n{}", self.console),
        }
    }
}

/// Boot our kernel on our VMM with `cmdline`, capturing the console.
pub fn boot(cmdline: &str, cpus: u8) -> Outcome {
    boot_with(&guest().kernel, Some(&guest().initramfs), cmdline, cpus)
}

pub fn boot_with(
    kernel: &std::path::Path,
    initrd: Option<&std::path::Path>,
    cmdline: &str,
    cpus: u8,
) -> Outcome {
    boot_with_input(kernel, initrd, cmdline, cpus, Vec::new())
}

/// Boot with `input` typed on the virtio console.
pub fn boot_with_input(
    kernel: &std::path::Path,
    initrd: Option<&std::path::Path>,
    cmdline: &str,
    cpus: u8,
    input: Vec<u8>,
) -> Outcome {
    boot_config(kernel, initrd, cmdline, cpus, input, 256 << 20)
}

/// Boot our kernel and initramfs with `mem_size` bytes of guest RAM.
pub fn boot_mem(cmdline: &str, cpus: u8, mem_size: u64) -> Outcome {
    let g = guest();
    boot_config(
        &g.kernel,
        Some(&g.initramfs),
        cmdline,
        cpus,
        Vec::new(),
        mem_size,
    )
}

fn boot_config(
    kernel: &std::path::Path,
    initrd: Option<&std::path::Path>,
    cmdline: &str,
    cpus: u8,
    input: Vec<u8>,
    mem_size: u64,
) -> Outcome {
    let output = Arc::new(Mutex::new(Vec::new()));
    let config = vmm::VmConfig {
        kernel: kernel.to_path_buf(),
        initrd: initrd.map(|p| p.to_path_buf()),
        cmdline: cmdline.to_string(),
        mem_size,
        cpus,
        console: vmm::ConsoleConfig::Capture {
            output: output.clone(),
            input,
        },
        boot_timer: false,
        trace: None,
        api_sock: None,
    };
    let result = vmm::Vmm::new(config)
        .and_then(|v| v.run())
        .map_err(|e| vmm::error_chain(&e));
    let console = String::from_utf8_lossy(&output.lock().unwrap()).replace('\r', "");
    Outcome { result, console }
}

/// Run the `vmm` binary with `args`; returns (exit code, stdout, stderr).
pub fn vmm_cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(&guest().vmm)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run vmm");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// `qemu-system-x86_64 -M microvm -accel tcg -smp 2` booting `kernel` through PVH, serial on
/// stdout, with QEMU's isa-debug-exit for power-off (the benchmark uses the same machine).
/// microvm's ACPI tables (on by default) are how the kernel finds the second CPU: its firmware
/// writes no MP table.
pub fn qemu_command(kernel: &Path, initrd: &Path, append: &str) -> Command {
    let mut cmd = qemu_machine(kernel, initrd, append, 2, "tcg");
    cmd.arg("-nographic");
    cmd
}

/// The microvm QEMU runs our kernel in (the tests', the bench's and the instruction
/// counter's), with `cpus` CPUs and accelerator `accel` (`tcg`, or `tcg,PROPERTY=...`), without
/// a console: the caller says where the serial port and any other device go.
pub fn qemu_machine(kernel: &Path, initrd: &Path, append: &str, cpus: u8, accel: &str) -> Command {
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args([
        "-M",
        "microvm,acpi=on",
        "-accel",
        accel,
        "-cpu",
        "max",
        "-m",
        "256M",
    ])
    .arg("-smp")
    .arg(cpus.to_string())
    .arg("-no-reboot")
    .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=4"])
    .arg("-kernel")
    .arg(kernel)
    .arg("-initrd")
    .arg(initrd)
    .args(["-append", append]);
    cmd
}

/// Boot under `qemu-system-x86_64 -M microvm -accel tcg`; returns (guest status, serial output).
/// QEMU's isa-debug-exit makes QEMU exit with `(status << 1) | 1`.
pub fn qemu_boot(cmdline: &str, timeout: Duration) -> (Option<i32>, String) {
    qemu_boot_with(&guest().initramfs, cmdline, timeout)
}

/// [`qemu_boot`] with another initramfs.
pub fn qemu_boot_with(initrd: &Path, cmdline: &str, timeout: Duration) -> (Option<i32>, String) {
    let child = qemu_command(&guest().kernel, initrd, cmdline)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)");
    wait_with_timeout(child, timeout)
}

/// Wait for a QEMU child (killed after `timeout`); returns the guest's status from QEMU's
/// isa-debug-exit code (`(status << 1) | 1`) and its stdout, without carriage returns.
pub fn wait_with_timeout(mut child: Child, timeout: Duration) -> (Option<i32>, String) {
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code().map(|c| c >> 1);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    use std::io::Read;
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    (status, out.replace('\r', ""))
}

/// What a traced boot produced: the VM's outcome, the trace program's output and its
/// lost/corrupt reports.
pub struct Traced {
    pub outcome: Outcome,
    pub output: String,
    pub diag: String,
}

/// Boot with `program` attached from boot (`vmm run --trace`), draining every `poll`.
pub fn boot_traced(cmdline: &str, cpus: u8, program: &str, poll: Duration) -> Traced {
    boot_traced_mem(cmdline, cpus, program, poll, 256 << 20)
}

/// [`boot_traced`] with `mem_size` bytes of guest RAM.
pub fn boot_traced_mem(
    cmdline: &str,
    cpus: u8,
    program: &str,
    poll: Duration,
    mem_size: u64,
) -> Traced {
    let text = vmm::trace::channel::ftrace::KernelText::from_elf(&guest().kernel).ok();
    let catalog = vmm::trace::channel::catalog::probe_catalog(text.as_ref());
    let program = vmm::trace::Program::parse(program, "stdin")
        .and_then(|p| p.attach(&catalog))
        .unwrap_or_else(|d| panic!("{d}"));
    let (console, output, diag) = (
        Arc::new(Mutex::new(Vec::new())),
        Arc::new(Mutex::new(Vec::new())),
        Arc::new(Mutex::new(Vec::new())),
    );
    let config = vmm::VmConfig {
        kernel: guest().kernel.clone(),
        initrd: Some(guest().initramfs.clone()),
        cmdline: cmdline.to_string(),
        mem_size,
        cpus,
        console: vmm::ConsoleConfig::Capture {
            output: console.clone(),
            input: Vec::new(),
        },
        boot_timer: false,
        trace: Some(vmm::TraceConfig {
            program,
            output: vmm::devices::ConsoleSink::Capture(output.clone()),
            diag: vmm::devices::ConsoleSink::Capture(diag.clone()),
            filter: Default::default(),
            poll_interval: poll,
            timeline: None,
            print_maps: true,
            format: Default::default(),
        }),
        api_sock: None,
    };
    let result = vmm::Vmm::new(config)
        .and_then(|v| v.run())
        .map_err(|e| vmm::error_chain(&e));
    let text =
        |b: &Arc<Mutex<Vec<u8>>>| String::from_utf8_lossy(&b.lock().unwrap()).replace('\r', "");
    Traced {
        outcome: Outcome {
            result,
            console: text(&console),
        },
        output: text(&output),
        diag: text(&diag),
    }
}

/// Seconds since the epoch on the host.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The `btime N` that proctest's `proc_btime` check reports must be the host's time of the
/// boot, which happened between `before` and `after` (seconds since the epoch): the guest
/// read a wall clock. A few seconds of slack: the clocks tick in whole seconds, and our VMM's
/// KVM clock starts when the VM is created, a little before the kernel boots.
pub fn assert_btime_is_boot_time(console: &str, before: u64, after: u64) {
    let btime: u64 = console
        .split("(btime ")
        .nth(1)
        .and_then(|rest| rest.split(')').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no btime reported:\n{console}"));
    assert!(
        before.saturating_sub(5) <= btime && btime <= after + 1,
        "btime {btime} is not between the host's {before} and {after}:\n{console}"
    );
}
