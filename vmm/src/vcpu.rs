//! vCPU threads.
//!
//! Each vCPU runs on its own named thread (`vcpu0`, `vcpu1`, …) in a loop of KVM_RUN and
//! [`decode_exit`], a pure function from a `VcpuExit` to a [`VcpuAction`] that dispatches I/O
//! through the [`ExitHandler`] trait (implemented by `devices::Devices`, faked in tests).
//!
//! States: running → (power-off | crash | stopped). The first vCPU to power off or crash
//! reports on the run channel; `vm.rs` then sets the shared stop flag and kicks every vCPU
//! thread with SIGRTMIN. The signal handler sets `immediate_exit` in the thread's `kvm_run`
//! (found through a thread-local pointer), so a vCPU is never left blocked in KVM_RUN whether
//! the signal lands inside the ioctl (EINTR) or just before it (immediate exit).
//!
//! A crash prints the registers, the instruction bytes at RIP (through a guest page walk) and
//! the kernel function containing RIP to stderr, and becomes a one-line [`Error::GuestCrash`].

use std::cell::Cell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;

use kvm_bindings::{kvm_run, KVM_INTERNAL_ERROR_EMULATION, KVM_SYSTEM_EVENT_SHUTDOWN};
use kvm_ioctls::{VcpuExit, VcpuFd};

use crate::arch::x86_64::regs;
use crate::devices::Devices;
use crate::memory::{self, GuestMemory};
use crate::symbols::SymbolTable;

/// Port and MMIO dispatch, as seen from an exit.
pub trait ExitHandler {
    fn pio_read(&self, port: u16, data: &mut [u8]);
    /// Returns `Some(status)` when the write powers the VM off.
    fn pio_write(&self, port: u16, data: &[u8]) -> Option<i32>;
    fn mmio_read(&self, addr: u64, data: &mut [u8]);
    fn mmio_write(&self, addr: u64, data: &[u8]);
}

/// Why a guest died.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrashKind {
    TripleFault,
    InternalError,
    /// KVM_EXIT_INTERNAL_ERROR with suberror KVM_INTERNAL_ERROR_EMULATION.
    EmulationFailure,
    FailEntry(u64),
    Reset,
    Unhandled(String),
}

impl std::fmt::Display for CrashKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CrashKind::TripleFault => write!(f, "guest triple fault (KVM_EXIT_SHUTDOWN)"),
            CrashKind::InternalError => write!(f, "KVM internal error (KVM_EXIT_INTERNAL_ERROR)"),
            CrashKind::EmulationFailure => {
                write!(f, "instruction emulation failure (KVM_EXIT_INTERNAL_ERROR)")
            }
            CrashKind::FailEntry(r) => {
                write!(f, "VM entry failed (KVM_EXIT_FAIL_ENTRY, reason {r:#x})")
            }
            CrashKind::Reset => write!(f, "guest requested a reset"),
            CrashKind::Unhandled(what) => write!(f, "unhandled VM exit {what}"),
        }
    }
}

/// What the run loop does after an exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VcpuAction {
    Continue,
    PowerOff(i32),
    Crash(CrashKind),
}

/// Decodes one exit and performs its I/O.
pub fn decode_exit(exit: VcpuExit<'_>, io: &impl ExitHandler) -> VcpuAction {
    match exit {
        VcpuExit::IoIn(port, data) => {
            io.pio_read(port, data);
            VcpuAction::Continue
        }
        VcpuExit::IoOut(port, data) => match io.pio_write(port, data) {
            Some(status) => VcpuAction::PowerOff(status),
            None => VcpuAction::Continue,
        },
        VcpuExit::MmioRead(addr, data) => {
            io.mmio_read(addr, data);
            VcpuAction::Continue
        }
        VcpuExit::MmioWrite(addr, data) => {
            io.mmio_write(addr, data);
            VcpuAction::Continue
        }
        // With the in-kernel irqchip HLT is handled by KVM; if one reaches us, just resume.
        VcpuExit::Hlt | VcpuExit::IrqWindowOpen | VcpuExit::Intr => VcpuAction::Continue,
        VcpuExit::Shutdown => VcpuAction::Crash(CrashKind::TripleFault),
        VcpuExit::InternalError => VcpuAction::Crash(CrashKind::InternalError),
        VcpuExit::FailEntry(reason, _cpu) => VcpuAction::Crash(CrashKind::FailEntry(reason)),
        VcpuExit::SystemEvent(kind, _) if kind == KVM_SYSTEM_EVENT_SHUTDOWN => {
            VcpuAction::PowerOff(0)
        }
        VcpuExit::SystemEvent(..) => VcpuAction::Crash(CrashKind::Reset),
        other => VcpuAction::Crash(CrashKind::Unhandled(exit_name(&other))),
    }
}

fn exit_name(exit: &VcpuExit<'_>) -> String {
    match exit {
        VcpuExit::Unsupported(reason) => format!("reason {reason}"),
        other => {
            let dbg = format!("{other:?}");
            dbg.split(['(', ' ', '{']).next().unwrap_or("?").to_string()
        }
    }
}

/// Where a crashed vCPU was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrashSite {
    pub rip: u64,
    /// `function+0xoff` when the kernel's symbols name it.
    pub function: Option<String>,
}

impl std::fmt::Display for CrashSite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rip {:#x}", self.rip)?;
        if let Some(func) = &self.function {
            write!(f, " in {func}")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("vcpu{cpu}: {kind} at {site}")]
    GuestCrash {
        cpu: u8,
        kind: CrashKind,
        site: CrashSite,
    },
    #[error("vcpu{0}: KVM_RUN failed")]
    Run(u8, #[source] kvm_ioctls::Error),
    #[error("cannot create vcpu{0}")]
    Create(u8, #[source] kvm_ioctls::Error),
    #[error("cannot set up vcpu{0}")]
    Setup(u8, #[source] regs::Error),
    #[error("cannot set the CPUID of vcpu{0}")]
    Cpuid(u8, #[source] kvm_ioctls::Error),
    #[error("cannot build the CPUID of vcpu{0}")]
    CpuidBuild(u8, #[source] crate::arch::x86_64::cpuid::Error),
    #[error("cannot start the vcpu{0} thread")]
    Spawn(u8, #[source] std::io::Error),
}

/// How a vCPU thread ended.
#[derive(Debug)]
pub enum Outcome {
    PowerOff(i32),
    Stopped,
    Failed(Error),
}

/// Everything a vCPU thread shares with the rest of the VM.
#[derive(Clone)]
pub struct VcpuContext {
    pub devices: Arc<Devices>,
    pub mem: GuestMemory,
    pub kernel: PathBuf,
    pub stop: Arc<AtomicBool>,
    /// Holds this vCPU outside the guest while the host patches kernel text.
    pub stop_machine: Arc<crate::stop_machine::StopMachine>,
}

thread_local! {
    /// This thread's `kvm_run`, for the kick signal handler.
    static KVM_RUN: Cell<*mut kvm_run> = const { Cell::new(std::ptr::null_mut()) };
}

/// SIGRTMIN handler: make the current (or next) KVM_RUN of this thread return at once.
pub extern "C" fn kick_handler(
    _sig: libc::c_int,
    _info: *mut libc::siginfo_t,
    _ctx: *mut libc::c_void,
) {
    let run = KVM_RUN.with(Cell::get);
    if !run.is_null() {
        // SAFETY: the pointer is this thread's live kvm_run mapping, set by `run_vcpu` while
        // the VcpuFd is alive and cleared before it is dropped.
        unsafe { std::ptr::addr_of_mut!((*run).immediate_exit).write_volatile(1) };
    }
}

/// The vCPU thread body: runs `vcpu` until power-off, crash or stop.
pub fn run_vcpu(id: u8, mut vcpu: VcpuFd, ctx: VcpuContext, report: Sender<(u8, Outcome)>) {
    KVM_RUN.with(|p| p.set(vcpu.get_kvm_run() as *mut kvm_run));
    let member = ctx.stop_machine.join();
    let outcome = run_loop(id, &mut vcpu, &ctx);
    drop(member);
    KVM_RUN.with(|p| p.set(std::ptr::null_mut()));
    let _ = report.send((id, outcome));
}

fn run_loop(id: u8, vcpu: &mut VcpuFd, ctx: &VcpuContext) -> Outcome {
    loop {
        if ctx.stop.load(Ordering::SeqCst) {
            return Outcome::Stopped;
        }
        ctx.stop_machine.park_if_requested();
        let action = match vcpu.run() {
            Ok(exit) => decode_exit(exit, &*ctx.devices),
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => {
                vcpu.set_kvm_immediate_exit(0);
                continue;
            }
            Err(e) => return Outcome::Failed(Error::Run(id, e)),
        };
        match action {
            VcpuAction::Continue => {}
            VcpuAction::PowerOff(status) => return Outcome::PowerOff(status),
            VcpuAction::Crash(kind) => {
                let (kind, site) = crash_report(id, vcpu, ctx, kind);
                return Outcome::Failed(Error::GuestCrash {
                    cpu: id,
                    kind,
                    site,
                });
            }
        }
    }
}

/// Prints the crash details to stderr; returns the (refined) kind and where the vCPU was.
fn crash_report(
    id: u8,
    vcpu: &mut VcpuFd,
    ctx: &VcpuContext,
    mut kind: CrashKind,
) -> (CrashKind, CrashSite) {
    let mut text = String::new();
    if kind == CrashKind::InternalError {
        let run = vcpu.get_kvm_run();
        // SAFETY: the exit reason is KVM_EXIT_INTERNAL_ERROR, so `internal` is the active
        // member of the exit union.
        let internal = unsafe { run.__bindgen_anon_1.internal };
        if internal.suberror == KVM_INTERNAL_ERROR_EMULATION {
            kind = CrashKind::EmulationFailure;
        }
        let n = (internal.ndata as usize).min(internal.data.len());
        text.push_str(&format!(
            "vmm: vcpu{id}: {kind}: suberror {}, data {:x?}\n",
            internal.suberror,
            &internal.data[..n]
        ));
    } else {
        text.push_str(&format!("vmm: vcpu{id}: {kind}\n"));
    }
    let (regs, sregs) = match (vcpu.get_regs(), vcpu.get_sregs()) {
        (Ok(r), Ok(s)) => (r, s),
        _ => {
            eprintln!("{text}vmm: cannot read the registers");
            let site = CrashSite {
                rip: 0,
                function: None,
            };
            return (kind, site);
        }
    };
    text.push_str(&regs::format_registers(&regs, &sregs));
    text.push('\n');
    let bytes = memory::read_virt(&ctx.mem, sregs.cr0, sregs.cr3, sregs.efer, regs.rip, 16);
    if bytes.is_empty() {
        text.push_str("code: <rip not mapped>\n");
    } else {
        let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
        text.push_str(&format!("code: {}\n", hex.join(" ")));
    }
    let function = SymbolTable::from_elf(&ctx.kernel).and_then(|t| {
        t.lookup(regs.rip)
            .map(|(s, off)| format!("{}+{off:#x}", s.name))
    });
    if let Some(f) = &function {
        text.push_str(&format!("function: {f}\n"));
    }
    eprint!("{text}");
    let site = CrashSite {
        rip: regs.rip,
        function,
    };
    (kind, site)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    #[derive(Default)]
    struct FakeIo {
        log: RefCell<Vec<String>>,
    }

    impl ExitHandler for FakeIo {
        fn pio_read(&self, port: u16, data: &mut [u8]) {
            data.fill(0xab);
            self.log.borrow_mut().push(format!("in {port:#x}"));
        }
        fn pio_write(&self, port: u16, data: &[u8]) -> Option<i32> {
            self.log
                .borrow_mut()
                .push(format!("out {port:#x} {data:?}"));
            (port == 0xf4).then(|| data[0] as i32)
        }
        fn mmio_read(&self, addr: u64, data: &mut [u8]) {
            data.fill(0xcd);
            self.log.borrow_mut().push(format!("mmio read {addr:#x}"));
        }
        fn mmio_write(&self, addr: u64, data: &[u8]) {
            self.log
                .borrow_mut()
                .push(format!("mmio write {addr:#x} {data:?}"));
        }
    }

    #[test]
    fn io_exits() {
        let io = FakeIo::default();
        let mut buf = [0u8; 2];
        assert_eq!(
            decode_exit(VcpuExit::IoIn(0x61, &mut buf), &io),
            VcpuAction::Continue
        );
        assert_eq!(buf, [0xab, 0xab]);
        assert_eq!(
            decode_exit(VcpuExit::IoOut(0x80, &[0x40]), &io),
            VcpuAction::Continue
        );
        assert_eq!(
            decode_exit(VcpuExit::IoOut(0xf4, &[7, 0, 0, 0]), &io),
            VcpuAction::PowerOff(7)
        );
        let mut m = [0u8; 4];
        assert_eq!(
            decode_exit(VcpuExit::MmioRead(0xd000_0000, &mut m), &io),
            VcpuAction::Continue
        );
        assert_eq!(m, [0xcd; 4]);
        decode_exit(VcpuExit::MmioWrite(0xd000_0070, &[1, 0, 0, 0]), &io);
        assert_eq!(
            io.log.borrow().as_slice(),
            [
                "in 0x61",
                "out 0x80 [64]",
                "out 0xf4 [7, 0, 0, 0]",
                "mmio read 0xd0000000",
                "mmio write 0xd0000070 [1, 0, 0, 0]"
            ]
        );
    }

    #[test]
    fn fatal_exits() {
        let io = FakeIo::default();
        assert_eq!(
            decode_exit(VcpuExit::Shutdown, &io),
            VcpuAction::Crash(CrashKind::TripleFault)
        );
        assert_eq!(
            decode_exit(VcpuExit::InternalError, &io),
            VcpuAction::Crash(CrashKind::InternalError)
        );
        assert_eq!(
            decode_exit(VcpuExit::FailEntry(0x80000021, 0), &io),
            VcpuAction::Crash(CrashKind::FailEntry(0x80000021))
        );
        assert_eq!(
            decode_exit(VcpuExit::Unsupported(99), &io),
            VcpuAction::Crash(CrashKind::Unhandled("reason 99".into()))
        );
        assert_eq!(
            decode_exit(VcpuExit::Exception, &io),
            VcpuAction::Crash(CrashKind::Unhandled("Exception".into()))
        );
        assert_eq!(
            decode_exit(VcpuExit::SystemEvent(KVM_SYSTEM_EVENT_SHUTDOWN, &[]), &io),
            VcpuAction::PowerOff(0)
        );
        assert_eq!(
            decode_exit(VcpuExit::SystemEvent(2, &[]), &io),
            VcpuAction::Crash(CrashKind::Reset)
        );
        assert_eq!(decode_exit(VcpuExit::Hlt, &io), VcpuAction::Continue);
        assert!(io.log.borrow().is_empty());
    }

    #[test]
    fn crash_message_is_one_line() {
        let e = Error::GuestCrash {
            cpu: 1,
            kind: CrashKind::InternalError,
            site: CrashSite {
                rip: 0xffff_ffff_8000_1000,
                function: Some("copy_process+0x10".into()),
            },
        };
        assert_eq!(
            e.to_string(),
            "vcpu1: KVM internal error (KVM_EXIT_INTERNAL_ERROR) at rip 0xffffffff80001000 \
             in copy_process+0x10"
        );
    }
}
