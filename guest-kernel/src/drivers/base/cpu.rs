//! The CPU devices (Linux's drivers/base/cpu.c): `/sys/devices/system/cpu` with the masks
//! as CPU lists (`online`, `possible`, `present`, `offline`, and `kernel_max`), and a
//! `cpuN` directory per present CPU whose `online` file takes CPU hotplug requests: write
//! 0 to take the CPU offline, 1 to bring it back (`kstrtobool`: anything else is EINVAL).
//! CPU 0 has no `online` file: it cannot go offline, as on x86 without CPU 0 hotplug.
//! `/sys/bus/cpu/devices/cpuN` link to them.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;

use crate::arch::percpu::MAX_CPUS;
use crate::fs::sysfs::{sysfs_create_dirs, sysfs_create_file, sysfs_create_link, StoreFn};
use crate::kernel::cpu::*;
use crate::kernel::cpumask::{cpumap_print_list, for_each_cpu, kstrtobool};
use crate::kernel::errno::*;

/// A CPU list attribute's text: the list and a newline (`cpumap_print_to_pagebuf`).
fn cpu_list(mask: u64) -> KResult<String> {
    Ok(format!("{}\n", cpumap_print_list(mask)))
}

/// `cpuN/online`: 1 or 0 (`online_show`); a write takes the CPU down or up
/// (`online_store`, `cpu_subsys_online` / `cpu_subsys_offline`).
fn online_store(cpu: usize) -> StoreFn {
    Box::new(move |buf: &[u8]| match kstrtobool(buf).ok_or(EINVAL)? {
        true => cpu_device_up(cpu),
        false => cpu_device_down(cpu),
    })
}

/// Register CPU `cpu`'s device: `cpuN` and its attributes (`register_cpu`).
fn register_cpu(cpu: usize) -> KResult<()> {
    let dir = sysfs_create_dirs(&format!("devices/system/cpu/cpu{cpu}"))?;
    if cpu != 0 {
        sysfs_create_file(
            &dir,
            "online",
            Box::new(move || Ok(format!("{}\n", cpu_online(cpu) as u8))),
            Some(online_store(cpu)),
        )?;
    }
    cpuhp_sysfs_register_cpu(cpu)?;
    let bus = sysfs_create_dirs("bus/cpu/devices")?;
    sysfs_create_link(
        &bus,
        &format!("cpu{cpu}"),
        format!("../../../devices/system/cpu/cpu{cpu}"),
    )
}

/// `/sys/devices/system/cpu` (`cpu_dev_init`, `cpu_dev_register_generic`).
pub fn cpu_dev_init() {
    let made = (|| -> KResult<()> {
        let dir = sysfs_create_dirs("devices/system/cpu")?;
        sysfs_create_file(
            &dir,
            "online",
            Box::new(|| cpu_list(cpu_online_mask())),
            None,
        )?;
        sysfs_create_file(
            &dir,
            "possible",
            Box::new(|| cpu_list(cpu_possible_mask())),
            None,
        )?;
        sysfs_create_file(
            &dir,
            "present",
            Box::new(|| cpu_list(cpu_present_mask())),
            None,
        )?;
        sysfs_create_file(
            &dir,
            "offline",
            Box::new(|| cpu_list(cpu_possible_mask() & !cpu_online_mask())),
            None,
        )?;
        sysfs_create_file(
            &dir,
            "kernel_max",
            Box::new(|| Ok(format!("{}\n", MAX_CPUS - 1))),
            None,
        )?;
        cpuhp_sysfs_init()?;
        for cpu in for_each_cpu(cpu_present_mask()) {
            register_cpu(cpu)?;
        }
        Ok(())
    })();
    if let Err(e) = made {
        crate::pr_err!("cpu: cannot register the CPU devices: error -{}", e);
    }
}
