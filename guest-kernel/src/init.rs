//! The boot sequence, from the PVH entry to init in user mode (Linux's init/main.c).

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::arch::{self, apic, idt, percpu, pvh, smp, tsc};
use crate::kernel::{cmdline, printk, task, time};
use crate::mm::{memblock, page_alloc};
use crate::{pr_err, pr_info, pr_notice};

extern "C" {
    static __boot_start: u8;
    static __kernel_end: u8;
}

/// Entered from `startup_64` on the boot stack with the PVH start-info physical address.
#[no_mangle]
extern "C" fn x86_64_start_kernel(start_info: u32) -> ! {
    tsc::mark_boot();
    start_kernel(start_info as u64)
}

fn start_kernel(start_info: u64) -> ! {
    // CPU tables and the early console.
    arch::serial::init();
    percpu::init_this_cpu(0, apic::id());
    idt::init();
    idt::load();
    arch::syscall::init_this_cpu();
    let clock = tsc::init();
    pr_notice!(
        "Linux version {} (watchvm) {}",
        crate::kernel::sys::UTS_RELEASE,
        crate::kernel::sys::UTS_VERSION
    );

    // Boot information and the command line.
    let Some(boot) = pvh::parse(start_info) else {
        pr_err!("no PVH start info at {:#x}", start_info);
        arch::power_off(abi::exit::NO_INIT);
    };
    pr_info!("Command line: {}", boot.cmdline);
    pr_info!("tsc: {} MHz ({})", tsc::khz() / 1000, clock);
    // The wall clock, from the machine's persistent clock (CLOCK_REALTIME, btime).
    time::timekeeping_init();

    // The processors, from the firmware's tables, before their memory can be reused.
    smp::find_cpus(&boot);

    // Physical memory: buddy allocator over the memory map minus what boot still uses.
    let usable = setup_memory(&boot);
    page_alloc::init(&usable);
    pr_info!(
        "Memory: {}K/{}K available",
        page_alloc::free_page_count() * 4,
        boot.memmap[..boot.memmap_len]
            .iter()
            .filter(|e| e.2 == memblock::E820_RAM)
            .map(|e| e.1)
            .sum::<u64>()
            / 1024
    );
    cmdline::save_command_line(boot.cmdline);
    let cmdline = cmdline::parse(boot.cmdline);
    if cmdline.quiet {
        printk::set_console_level(printk::Level::Warning);
    }
    if cmdline.test_panic {
        panic!("test.panic requested on the command line");
    }
    if cmdline.test_triple_fault {
        pr_notice!("test.triple_fault: faulting with no IDT");
        idt::triple_fault();
    }
    if let Some(level) = cmdline.loglevel {
        printk::set_console_level(level_from(level));
    }

    // The scheduler: this boot context becomes swapper/0, on the first online CPU.
    crate::sched::init_idle(crate::kernel::fork::new_idle_task(0, 0), 0);
    crate::kernel::cpu::boot_cpu_online(0);

    // Deferred work: softirqs, tasklets, jiffies timers, scheduler balancing.
    crate::kernel::softirq::softirq_init();
    crate::kernel::timer_list::init_timers();
    crate::kernel::softirq::open_softirq(
        crate::kernel::softirq::SCHED_SOFTIRQ,
        crate::sched::migrate::run_rebalance_domains,
    );

    // Interrupts and the tick.
    apic::init_this_cpu();
    apic::timer_setup(time::TICK_NS);
    apic::timer_start_this_cpu(time::TICK_NS);
    pr_info!(
        "APIC: timer in {} mode, HZ={}",
        apic::timer_mode(),
        time::HZ
    );

    // Other CPUs.
    let cpus = smp::smp_init(start_secondary);
    pr_info!(
        "smp: Brought up 1 node, {} CPU{}",
        cpus,
        if cpus == 1 { "" } else { "s" }
    );

    // Workqueues can take items from here on; their workers start in kernel_init.
    crate::kernel::workqueue::workqueue_init_early();

    // Devices.
    crate::drivers::virtio::probe(&cmdline.virtio_mmio);
    if let Some(events) = &cmdline.trace_event {
        crate::trace::enable_boot_events(events);
    }

    // The root filesystem from the initramfs.
    match boot.initrd {
        Some((start, end)) => {
            // SAFETY: the initrd range is reserved from the allocator and never freed.
            let data = unsafe {
                core::slice::from_raw_parts(
                    arch::phys_to_virt(start) as *const u8,
                    (end - start) as usize,
                )
            };
            match crate::fs::unpack_initramfs(data) {
                Ok(s) => pr_info!(
                    "Unpacked initramfs: {} files, {} directories, {} KiB{}",
                    s.files,
                    s.dirs,
                    s.bytes / 1024,
                    if s.errors > 0 {
                        " (some entries skipped)"
                    } else {
                        ""
                    }
                ),
                Err(e) => pr_err!("Initramfs unpacking failed: {:?}", e),
            }
        }
        None => pr_err!("no initramfs"),
    }

    rest_init(cmdline)
}

/// Start PID 1 and PID 2, then become the idle task (Linux's `rest_init`).
fn rest_init(cmdline: cmdline::Cmdline) -> ! {
    let arg = Box::into_raw(Box::new(cmdline)) as usize;
    if let Err(e) = crate::kernel::fork::kernel_thread(kernel_init, arg, 0) {
        panic!("cannot create init: error -{e}");
    }
    match crate::kernel::fork::kernel_thread(crate::kernel::kthread::kthreadd, 0, 0) {
        Ok(t) => crate::kernel::kthread::set_kthreadd(t),
        Err(e) => panic!("cannot create kthreadd: error -{e}"),
    }
    crate::sched::cpu_idle_loop()
}

/// PID 1 in the kernel: start the per-CPU kernel threads, then exec user-space init.
extern "C" fn kernel_init(arg: usize) -> ! {
    // SAFETY: `arg` is the Box leaked by rest_init for this thread alone.
    let cmdline = unsafe { Box::from_raw(arg as *mut cmdline::Cmdline) };
    task::current().set_comm("swapper/0");
    // Created by the boot CPU's idle task, we inherited its pinning: init may run anywhere.
    let _ = crate::sched::set_cpus_allowed(&task::current_arc(), u64::MAX);
    crate::kernel::workqueue::workqueue_init();
    crate::mm::vmstat::init_mm_internals();
    // Per-CPU threads that follow their CPU through hotplug: the stoppers (migration/N),
    // then the hotplug threads (cpuhp/N).
    crate::sched::stop_task::cpu_stop_init();
    crate::kernel::cpu::cpuhp_threads_init();
    if cmdline.test_workqueue {
        // After the stoppers: moving a running worker between CPUs needs them.
        crate::kernel::test_workqueue::test_workqueue();
    }
    if let Some(secs) = cmdline.watchdog_thresh {
        crate::kernel::watchdog::set_watchdog_thresh(secs);
    }
    crate::kernel::watchdog::lockup_detector_init();
    if let Some(size) = cmdline.test_kmalloc_bench {
        crate::mm::slab::kmalloc_bench(size);
    }
    if let Some(secs) = cmdline.test_softlockup {
        crate::kernel::watchdog::test_softlockup(secs);
    }
    crate::kernel::softirq::spawn_ksoftirqd();
    crate::kernel::hung_task::hung_task_init();
    crate::mm::vmscan::kswapd_init();
    crate::mm::compaction::kcompactd_init();
    crate::mm::oom_kill::oom_init();
    crate::fs::devtmpfs::devtmpfs_init();
    devtmpfs_mount();
    // The device model's sysfs tree: /sys/devices/system/cpu (`driver_init`).
    crate::fs::sysfs::sysfs_init();
    if let Err(e) = crate::kernel::ksysfs::ksysfs_init() {
        pr_err!("ksysfs: unable to make /sys/kernel (error -{})", e);
    }
    crate::drivers::base::cpu::cpu_dev_init();
    run_init(&cmdline)
}

/// Mount devtmpfs on `/dev` of the root (`devtmpfs_mount`, as CONFIG_DEVTMPFS_MOUNT does).
fn devtmpfs_mount() {
    let w = crate::fs::kernel_walker();
    let at = match w.lookup(&w.cwd, "/dev", true) {
        Ok(at) => Ok(at),
        Err(_) => w
            .parent(&w.cwd, "/dev")
            .and_then(|last| w.create(&last, crate::fs::inode::S_IFDIR | 0o755, 0)),
    };
    let mounted = at.and_then(|at| {
        let (sb, root) = crate::fs::devtmpfs::devtmpfs_mount("devtmpfs")?;
        crate::fs::namespace::do_add_mount(&at, sb, root, "devtmpfs", 0)
    });
    match mounted {
        Ok(_) => pr_info!("devtmpfs: mounted"),
        Err(e) => pr_err!("devtmpfs: error mounting -{}", e),
    }
}

fn level_from(n: u8) -> printk::Level {
    use printk::Level::*;
    [Emerg, Alert, Crit, Err, Warning, Notice, Info, Debug][(n as usize).min(7)]
}

/// RAM minus the low 1 MiB, the kernel image, and the initramfs.
fn setup_memory(boot: &pvh::BootInfo) -> memblock::RegionSet {
    let (kstart, kend) = (
        core::ptr::addr_of!(__boot_start) as u64,
        arch::virt_to_phys(core::ptr::addr_of!(__kernel_end) as u64),
    );
    let mut reserved = [(0u64, 0x10_0000u64), (kstart, kend), (0, 0)];
    if let Some((s, e)) = boot.initrd {
        reserved[2] = (s, e);
    }
    memblock::usable_ram(&boot.memmap[..boot.memmap_len], &reserved)
}

/// Entry of application processors, on their own stack.
extern "C" fn start_secondary(cpu: usize) -> ! {
    percpu::init_this_cpu(cpu, apic::id());
    idt::load();
    arch::syscall::init_this_cpu();
    apic::init_this_cpu();
    apic::timer_start_this_cpu(time::TICK_NS);
    crate::sched::init_idle(crate::kernel::fork::new_idle_task(cpu, 0), cpu);
    crate::kernel::cpu::boot_cpu_online(cpu);
    smp::ap_started();
    crate::sched::cpu_idle_loop()
}

/// Open `/dev/console` as fds 0, 1 and 2 (`console_on_rootfs`).
fn console_on_rootfs(me: &task::Task) {
    use crate::fs::file::{FdTable, O_RDWR};
    let w = crate::fs::kernel_walker();
    let mut files = FdTable::default();
    match crate::fs::open::do_filp_open(&w, &w.cwd, "/dev/console", O_RDWR, 0) {
        Ok(console) => {
            for _ in 0..3 {
                let _ = files.install(console.clone(), false);
            }
        }
        Err(e) => pr_err!("Warning: unable to open an initial console (error -{}).", e),
    }
    *me.files.lock() = alloc::sync::Arc::new(spin::Mutex::new(files));
}

/// Exec `/sbin/init` (or `init=`) in this thread, like `kernel_init` does.
fn run_init(cmdline: &cmdline::Cmdline) -> ! {
    let me = task::current();
    me.signal
        .unkillable
        .store(true, core::sync::atomic::Ordering::Relaxed);
    console_on_rootfs(me);

    let candidates: Vec<String> = match &cmdline.init {
        Some(path) => alloc::vec![path.clone()],
        None => ["/sbin/init", "/etc/init", "/bin/init", "/init"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    let envp = [
        "HOME=/".to_string(),
        "TERM=linux".to_string(),
        "PATH=/sbin:/bin:/usr/sbin:/usr/bin".to_string(),
    ];
    for path in &candidates {
        let mut argv = alloc::vec![path.clone()];
        argv.extend(cmdline.init_args.iter().cloned());
        match crate::fs::exec::load(path, &argv, &envp) {
            Ok(image) => {
                pr_info!("Run {} as init process", path);
                let frame_ptr = arch::process::task_pt_regs(me.stack_top());
                // SAFETY: the frame slot at the top of our own kernel stack is unused by a
                // kernel thread; from here on it holds init's user context.
                let frame = unsafe { &mut *frame_ptr };
                crate::fs::exec::commit(me, image, path, frame);
                arch::boot_progress(abi::boot_codes::FIRST_USER_INSTRUCTION);
                // SAFETY: the frame describes init's user context at the top of its stack.
                unsafe { arch::entry::return_to_user(frame_ptr) }
            }
            Err(e) => pr_err!("Failed to execute {} (error -{})", path, e),
        }
    }
    pr_err!(
        "Kernel panic - not syncing: No working init found. Try passing init= option to kernel."
    );
    arch::power_off(abi::exit::NO_INIT)
}
