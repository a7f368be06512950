//! The boot sequence, from the PVH entry to init in user mode (Linux's init/main.c).

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::arch::{self, apic, cpu, idt, percpu, pvh, smp, tsc};
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
    percpu::init_this_cpu(0, 0);
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

    // Devices.
    crate::drivers::virtio::probe(&cmdline.virtio_mmio);

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

    cpu::interrupts_enable();
    run_init(&cmdline)
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
    smp::ap_started();
    // The idle loop (Linux's do_idle): halt until an interrupt.
    loop {
        cpu::wait_for_interrupt();
    }
}

/// Start `/sbin/init` (or `init=`) as PID 1 in user mode, like `kernel_init` does.
fn run_init(cmdline: &cmdline::Cmdline) -> ! {
    let stack = page_alloc::alloc_pages(task::KERNEL_STACK_ORDER)
        .expect("no memory for init's kernel stack");
    let stack_top = arch::phys_to_virt(stack) + (4096 << task::KERNEL_STACK_ORDER);
    let mut init = Box::new(task::Task {
        pid: 1,
        comm: [0; 16],
        mm: None,
        files: Default::default(),
        sighand: Default::default(),
        fs_base: 0,
        clear_child_tid: 0,
        kernel_stack_top: stack_top,
        cwd: "/".to_string(),
    });
    // fds 0, 1, 2: the console.
    for _ in 0..3 {
        let _ = init.files.install(
            crate::fs::file::File::new(crate::fs::file::FileKind::Console, 2),
            false,
        );
    }
    init.set_comm("init");
    task::set_current(init);
    percpu::set_kernel_stack(stack_top);

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
                let frame_ptr = (stack_top - core::mem::size_of::<arch::entry::TrapFrame>() as u64)
                    as *mut arch::entry::TrapFrame;
                // SAFETY: the frame sits at the top of init's fresh kernel stack.
                let frame = unsafe { &mut *frame_ptr };
                crate::fs::exec::commit(task::current(), image, path, frame);
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
