//! /sys/kernel (Linux's kernel/ksysfs.c): the kernel's own attributes, and the directories
//! where debugfs and tracefs are mounted on a Linux system.
//!
//! Only attributes whose value is true here: no uevent has been sent (there is no uevent
//! netlink or helper), and no kexec image, normal or crash, can be loaded.

use alloc::boxed::Box;
use alloc::string::String;

use crate::fs::sysfs::{sysfs_create_dirs, sysfs_create_file, sysfs_create_mount_point};
use crate::kernel::errno::KResult;

fn zero() -> KResult<String> {
    Ok("0\n".into())
}

/// Make /sys/kernel's attributes and mount-point directories (`ksysfs_init`).
pub fn ksysfs_init() -> KResult<()> {
    let kernel = sysfs_create_dirs("kernel")?;
    // The uevents sent so far.
    sysfs_create_file(&kernel, "uevent_seqnum", Box::new(zero), None)?;
    sysfs_create_file(&kernel, "kexec_loaded", Box::new(zero), None)?;
    sysfs_create_file(&kernel, "kexec_crash_loaded", Box::new(zero), None)?;
    // Where debugfs and tracefs go (`debugfs_init`, `tracefs_init` make them).
    sysfs_create_mount_point(&kernel, "debug")?;
    sysfs_create_mount_point(&kernel, "tracing")?;
    Ok(())
}
