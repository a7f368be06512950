//! The virtual machine: KVM set-up in [`Vmm::new`], the vCPU threads and devices in
//! [`Vmm::run`].
//!
//! `new` does everything that can fail before the guest runs, in order: check the config,
//! open KVM, create the VM with the in-kernel IOAPIC/LAPIC/PIC (no PIT), allocate and register
//! guest RAM, load the kernel and initrd, write the command line, PVH start info, memory map
//! and MP table, create the devices (COM1, debug ports, virtio-console with its ioeventfds and
//! irqfd) and the vCPUs (CPUID, MSRs, LAPIC LINTs; registers for the BSP only — APs wait for
//! the guest's INIT/SIPI inside KVM).
//!
//! `run` starts the device thread and one thread per vCPU and waits for the first of them to
//! power off or fail; then it stops the others (stop flag + SIGRTMIN kick), stops the device
//! thread, restores the terminal and returns.

use std::os::unix::thread::JoinHandleExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use abi::layout::{PVH_INFO_START, VIRTIO_MMIO_BASE, VIRTIO_MMIO_FIRST_IRQ, VIRTIO_MMIO_SIZE};
use kvm_bindings::{kvm_userspace_memory_region, CpuId, KVM_MAX_CPUID_ENTRIES};
use kvm_ioctls::{Cap, IoEventAddress, Kvm, VcpuFd, VmFd};
use vm_memory::{GuestMemoryBackend, GuestMemoryRegion};
use vmm_sys_util::eventfd::EventFd;

use crate::api::ApiServer;
use crate::arch::x86_64::{cpuid, mptable, regs};
use crate::devices::debug_port::DebugPort;
use crate::devices::event_loop::{self, ConsoleTransport};
use crate::devices::serial::{SerialDevice, COM1_IRQ};
use crate::devices::virtio::console::Console;
use crate::devices::virtio::mmio::{MmioTransport, REG_QUEUE_NOTIFY};
use crate::devices::virtio::trace::TraceDevice;
use crate::devices::virtio::Interrupt;
use crate::devices::{ConsoleSink, Devices, MmioBus};
use crate::loader::{self, MmioDeviceInfo};
use crate::memory::{self, GuestMemory};
use crate::stop_machine::StopMachine;
use crate::symbols::SymbolTable;
use crate::terminal::RawModeGuard;
use crate::trace::channel::ftrace::KernelText;
use crate::trace::channel::TraceChannel;
use crate::trace::session::{self, TraceStats, Tracer};
use crate::vcpu::{self, Outcome, VcpuContext};
use crate::{process_start, ConsoleConfig, ExitReport, VmConfig, MAX_CPUS, MIN_MEM_SIZE};

/// KVM's TSS (three pages) and identity-map page, inside the MMIO gap (Firecracker's values).
const KVM_TSS_ADDRESS: usize = 0xfffb_d000;
const KVM_IDENTITY_MAP_ADDRESS: u64 = 0xfffb_c000;
const VCPU_STACK_SIZE: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open /dev/kvm")]
    OpenKvm(#[source] kvm_ioctls::Error),
    #[error("cannot create the VM")]
    CreateVm(#[source] kvm_ioctls::Error),
    #[error("cannot set up the VM ({0})")]
    Setup(&'static str, #[source] kvm_ioctls::Error),
    #[error("cannot get the supported CPUID")]
    SupportedCpuid(#[source] kvm_ioctls::Error),
    #[error("cannot create device {0}")]
    Device(&'static str, #[source] std::io::Error),
    #[error("cannot place device {0}")]
    Bus(&'static str, #[source] crate::devices::OverlapError),
    #[error(transparent)]
    MpTable(#[from] mptable::Error),
    #[error("a vCPU thread ended without reporting")]
    VcpuVanished,
}

/// A VM ready to run.
pub struct Vmm {
    config: VmConfig,
    // Field order is drop order: vCPUs before the VM, the VM before KVM.
    vcpus: Vec<VcpuFd>,
    _vm: VmFd,
    _kvm: Kvm,
    mem: GuestMemory,
    devices: Arc<Devices>,
    console: ConsoleTransport,
    trace: Option<Arc<TraceChannel>>,
    stop_machine: Arc<StopMachine>,
}

impl Vmm {
    /// Builds the VM described by `config`; the guest doesn't run until [`Vmm::run`].
    pub fn new(config: VmConfig) -> Result<Vmm, crate::Error> {
        process_start();
        validate(&config)?;

        let kvm = Kvm::new().map_err(Error::OpenKvm)?;
        let vm = kvm.create_vm().map_err(Error::CreateVm)?;
        vm.set_tss_address(KVM_TSS_ADDRESS)
            .map_err(|e| Error::Setup("TSS address", e))?;
        vm.set_identity_map_address(KVM_IDENTITY_MAP_ADDRESS)
            .map_err(|e| Error::Setup("identity map address", e))?;
        vm.create_irq_chip()
            .map_err(|e| Error::Setup("irqchip", e))?;

        let mem = memory::create(config.mem_size)?;
        register_memory(&vm, &mem)?;

        // Devices first: the command line announces them.
        let sink = match &config.console {
            ConsoleConfig::Stdio => ConsoleSink::Stdout,
            ConsoleConfig::Capture { output, .. } => ConsoleSink::Capture(output.clone()),
        };
        let stop_machine = Arc::new(StopMachine::default());
        let trace = (config.trace.is_some() || config.api_sock.is_some()).then(|| {
            // Without patch sites the kernel offers tracepoints only.
            let text = KernelText::from_elf(&config.kernel).ok().map(Arc::new);
            TraceChannel::new(mem.clone(), stop_machine.clone(), text)
        });
        let (devices, console, mmio_devices) = create_devices(&vm, &mem, sink, trace.as_ref())?;
        if let ConsoleConfig::Capture { input, .. } = &config.console {
            crate::devices::lock(&console)
                .device_mut()
                .push_input(input);
        }

        let cmdline = loader::build_cmdline(&config.cmdline, &mmio_devices)?;
        let kernel = loader::load_kernel(&mem, &config.kernel)?;
        let initrd = match &config.initrd {
            Some(path) => Some(loader::load_initrd(&mem, path, kernel.end)?),
            None => None,
        };
        let memmap = loader::memory_map(&memory::ram_ranges(config.mem_size));
        loader::write_boot_info(&mem, &cmdline, initrd, &memmap)?;
        mptable::setup_mptable(&mem, config.cpus).map_err(Error::MpTable)?;

        let supported = kvm
            .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
            .map_err(Error::SupportedCpuid)?;
        let tsc_deadline = kvm.check_extension(Cap::TscDeadlineTimer);
        let mut vcpus = Vec::with_capacity(config.cpus as usize);
        for id in 0..config.cpus {
            let vcpu = create_vcpu(&vm, &supported, id, config.cpus, tsc_deadline)?;
            if id == 0 {
                regs::setup_bsp(&vcpu, &mem, kernel.entry, PVH_INFO_START)
                    .map_err(|e| vcpu::Error::Setup(id, e))?;
            }
            vcpus.push(vcpu);
        }

        Ok(Vmm {
            config,
            vcpus,
            _vm: vm,
            _kvm: kvm,
            mem,
            devices,
            console,
            trace,
            stop_machine,
        })
    }

    /// The guest's RAM (shared: it stays valid while the VM runs), for inspection.
    pub fn guest_memory(&self) -> GuestMemory {
        self.mem.clone()
    }

    /// Runs the guest until it powers off (the report carries its status) or crashes.
    pub fn run(mut self) -> Result<ExitReport, crate::Error> {
        install_kick_handler();
        let stdio = matches!(self.config.console, ConsoleConfig::Stdio);
        let _raw = if stdio { RawModeGuard::new() } else { None };
        let devices_thread = event_loop::spawn(self.console.clone(), stdio)
            .map_err(|e| Error::Device("event loop", e))?;

        let stop = Arc::new(AtomicBool::new(false));
        let ctx = VcpuContext {
            devices: self.devices.clone(),
            mem: self.mem.clone(),
            kernel: self.config.kernel.clone(),
            stop: stop.clone(),
            stop_machine: self.stop_machine.clone(),
        };
        let tracer = self.start_tracer()?;
        let api = match (&self.config.api_sock, &self.trace) {
            (Some(path), Some(channel)) => Some(ApiServer::start(
                path,
                channel.clone(),
                self.config.kernel.clone(),
            )?),
            _ => None,
        };
        let (tx, rx) = mpsc::channel();
        let mut threads = Vec::new();
        let mut first = None;
        for (id, vcpu) in std::mem::take(&mut self.vcpus).into_iter().enumerate() {
            let id = id as u8;
            let (ctx, tx) = (ctx.clone(), tx.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("vcpu{id}"))
                .stack_size(VCPU_STACK_SIZE)
                .spawn(move || vcpu::run_vcpu(id, vcpu, ctx, tx));
            match spawned {
                Ok(handle) => threads.push(handle),
                Err(e) => {
                    first = Some(Outcome::Failed(vcpu::Error::Spawn(id, e)));
                    break;
                }
            }
        }
        drop(tx);

        let first = match first {
            Some(outcome) => outcome,
            // All senders gone without a report: the vCPU threads died.
            None => rx.recv().map_or(Outcome::Stopped, |(_, o)| o),
        };

        // Stop every other vCPU: flag, then kick until each thread has ended.
        stop.store(true, Ordering::SeqCst);
        while threads.iter().any(|t| !t.is_finished()) {
            for t in threads.iter().filter(|t| !t.is_finished()) {
                // SAFETY: the thread is alive (not finished, not joined); SIGRTMIN has our
                // handler installed, so the signal only interrupts KVM_RUN.
                unsafe { libc::pthread_kill(t.as_pthread_t(), vmm_sys_util::signal::SIGRTMIN()) };
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        for t in threads {
            let _ = t.join();
        }
        devices_thread.stop();
        drop(_raw);
        if let Some(api) = api {
            api.stop();
        }
        let trace = match tracer {
            Some((stop, thread)) => {
                stop.store(true, Ordering::Release);
                match thread.join() {
                    Ok(Ok(stats)) => Some(stats),
                    Ok(Err(e)) => return Err(e.into()),
                    Err(_) => None,
                }
            }
            None => None,
        };

        let boot_events = self.devices.debug_port.events();
        if self.config.boot_timer {
            for event in &boot_events {
                eprintln!("{event}");
            }
            let overhead = crate::memory::process_resident_bytes()
                .saturating_sub(crate::memory::guest_resident_bytes(&self.mem));
            eprintln!(
                "vmm: resident memory beyond guest RAM: {} KiB",
                overhead / 1024
            );
        }

        match first {
            Outcome::PowerOff(status) => Ok(ExitReport {
                status,
                boot_events,
                trace,
            }),
            Outcome::Failed(e) => Err(e.into()),
            Outcome::Stopped => Err(Error::VcpuVanished.into()),
        }
    }
}

type TracerThread = std::thread::JoinHandle<Result<TraceStats, crate::trace::EngineError>>;

impl Vmm {
    /// Starts the `--trace` program's thread: it waits for the guest's trace area, then drains
    /// the rings until told to stop.
    fn start_tracer(&self) -> Result<Option<(Arc<AtomicBool>, TracerThread)>, Error> {
        let (Some(cfg), Some(channel)) = (self.config.trace.clone(), self.trace.clone()) else {
            return Ok(None);
        };
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let start = process_start();
        let kernel = self.config.kernel.clone();
        let thread = std::thread::Builder::new()
            .name("trace".into())
            .spawn(move || {
                let _claim = channel.claim();
                let mut tracer =
                    Tracer::new(cfg.program, cfg.output, cfg.filter, Box::new(cfg.diag));
                if let Some(symbols) = SymbolTable::from_elf(&kernel) {
                    tracer = tracer.with_symbolizer(Box::new(Arc::new(symbols)));
                }
                if cfg.timeline.is_some() {
                    tracer = tracer.with_timeline();
                }
                tracer.engine().set_print_maps_on_exit(cfg.print_maps);
                tracer.engine().set_format(cfg.format);
                let stop = || stop2.load(Ordering::Acquire);
                let stats = session::run(&channel, &mut tracer, stop, start, cfg.poll_interval);
                if let (Some(path), Some(json)) = (&cfg.timeline, tracer.take_timeline()) {
                    if let Err(e) = std::fs::write(path, json) {
                        crate::warn!("cannot write the timeline to {}: {e}", path.display());
                    }
                }
                stats
            })
            .map_err(|e| Error::Device("trace", e))?;
        Ok(Some((stop, thread)))
    }
}

fn validate(config: &VmConfig) -> Result<(), crate::Error> {
    if config.cpus == 0 || config.cpus > MAX_CPUS {
        return Err(crate::Error::InvalidCpus(config.cpus as u32));
    }
    if config.mem_size < MIN_MEM_SIZE {
        return Err(crate::Error::MemTooSmall(config.mem_size));
    }
    if !config.mem_size.is_multiple_of(4096) {
        return Err(crate::Error::MemNotAligned(config.mem_size));
    }
    Ok(())
}

fn register_memory(vm: &VmFd, mem: &GuestMemory) -> Result<(), Error> {
    for (slot, region) in mem.iter().enumerate() {
        let host = mem
            .get_host_address(region.start_addr())
            .map_err(|_| Error::Setup("memory", kvm_ioctls::Error::new(libc::EFAULT)))?;
        let region = kvm_userspace_memory_region {
            slot: slot as u32,
            flags: 0,
            guest_phys_addr: region.start_addr().0,
            memory_size: region.len(),
            userspace_addr: host as u64,
        };
        // SAFETY: the host range is a live mapping of exactly `memory_size` bytes owned by
        // `mem`, which the Vmm keeps alive for as long as the VM exists.
        unsafe { vm.set_user_memory_region(region) }.map_err(|e| Error::Setup("memory", e))?;
    }
    Ok(())
}

fn create_devices(
    vm: &VmFd,
    mem: &GuestMemory,
    sink: ConsoleSink,
    trace: Option<&Arc<TraceChannel>>,
) -> Result<(Arc<Devices>, ConsoleTransport, Vec<MmioDeviceInfo>), Error> {
    let evt = || EventFd::new(libc::EFD_NONBLOCK);

    let serial_irq = evt().map_err(|e| Error::Device("serial", e))?;
    vm.register_irqfd(&serial_irq, COM1_IRQ)
        .map_err(|e| Error::Setup("serial irqfd", e))?;
    let serial = SerialDevice::new(serial_irq, sink.clone());

    let mut bus = MmioBus::default();
    let console_info = MmioDeviceInfo {
        base: VIRTIO_MMIO_BASE,
        size: VIRTIO_MMIO_SIZE,
        irq: VIRTIO_MMIO_FIRST_IRQ,
    };
    let irqfd = evt().map_err(|e| Error::Device("virtio-console", e))?;
    vm.register_irqfd(&irqfd, console_info.irq)
        .map_err(|e| Error::Setup("virtio-console irqfd", e))?;
    let transport = MmioTransport::new(
        "virtio-console",
        Console::new(sink),
        mem.clone(),
        Interrupt::new(irqfd),
    )
    .map_err(|e| Error::Device("virtio-console", e))?;
    for (i, qevt) in transport.queue_evts().iter().enumerate() {
        let addr = IoEventAddress::Mmio(console_info.base + REG_QUEUE_NOTIFY);
        vm.register_ioevent(qevt, &addr, i as u32)
            .map_err(|e| Error::Setup("virtio-console ioeventfd", e))?;
    }
    let console = Arc::new(Mutex::new(transport));
    bus.insert(console_info.base, console_info.size, console.clone())
        .map_err(|e| Error::Bus("virtio-console", e))?;
    let mut infos = vec![console_info];

    if let Some(channel) = trace {
        let info = MmioDeviceInfo {
            base: console_info.base + VIRTIO_MMIO_SIZE,
            size: VIRTIO_MMIO_SIZE,
            irq: console_info.irq + 1,
        };
        let irqfd = evt().map_err(|e| Error::Device("virtio-trace", e))?;
        vm.register_irqfd(&irqfd, info.irq)
            .map_err(|e| Error::Setup("virtio-trace irqfd", e))?;
        let transport = MmioTransport::new(
            "virtio-trace",
            TraceDevice::new(channel.clone()),
            mem.clone(),
            Interrupt::new(irqfd),
        )
        .map_err(|e| Error::Device("virtio-trace", e))?;
        bus.insert(info.base, info.size, Arc::new(Mutex::new(transport)))
            .map_err(|e| Error::Bus("virtio-trace", e))?;
        infos.push(info);
    }

    let devices = Devices {
        serial: Mutex::new(serial),
        debug_port: DebugPort::new(process_start()),
        mmio: bus,
    };
    Ok((Arc::new(devices), console, infos))
}

fn create_vcpu(
    vm: &VmFd,
    supported: &CpuId,
    id: u8,
    cpus: u8,
    tsc_deadline: bool,
) -> Result<VcpuFd, vcpu::Error> {
    let vcpu = vm
        .create_vcpu(id as u64)
        .map_err(|e| vcpu::Error::Create(id, e))?;
    // KVM knows the guest TSC rate exactly; tell the guest so it needn't calibrate.
    let tsc_khz = vcpu.get_tsc_khz().unwrap_or(0);
    let cpuid = cpuid::vcpu_cpuid(supported, id, cpus, tsc_deadline, tsc_khz)
        .map_err(|e| vcpu::Error::CpuidBuild(id, e))?;
    vcpu.set_cpuid2(&cpuid)
        .map_err(|e| vcpu::Error::Cpuid(id, e))?;
    let refused = regs::setup_msrs(&vcpu).map_err(|e| vcpu::Error::Setup(id, e))?;
    if refused > 0 && id == 0 {
        crate::warn!("KVM refused {refused} of the boot MSRs");
    }
    regs::set_lint(&vcpu).map_err(|e| vcpu::Error::Setup(id, e))?;
    Ok(vcpu)
}

fn install_kick_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let sig = vmm_sys_util::signal::SIGRTMIN();
        if let Err(e) = vmm_sys_util::signal::register_signal_handler(sig, vcpu::kick_handler) {
            crate::warn!("cannot install the vCPU kick handler: {e}");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(cpus: u8, mem_size: u64) -> VmConfig {
        VmConfig {
            kernel: "/nonexistent".into(),
            initrd: None,
            cmdline: String::new(),
            mem_size,
            cpus,
            console: ConsoleConfig::Stdio,
            boot_timer: false,
            trace: None,
            api_sock: None,
        }
    }

    #[test]
    fn config_validation() {
        assert!(validate(&config(1, 256 << 20)).is_ok());
        assert!(validate(&config(32, 256 << 20)).is_ok());
        assert_eq!(
            validate(&config(0, 256 << 20)).unwrap_err().to_string(),
            "--cpus must be between 1 and 32"
        );
        assert!(validate(&config(33, 256 << 20)).is_err());
        assert!(validate(&config(1, 1 << 20)).is_err());
        assert!(validate(&config(1, (256 << 20) + 1)).is_err());
    }
}
