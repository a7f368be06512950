//! Unmodified static Linux programs: Debian's `busybox-static` (glibc, built for Linux) runs
//! on our kernel. `cargo xtask build` puts it in a second initramfs when the host has it
//! (`.ci/run` installs it); the guest's `toolstest` runs its applets (the shell with a
//! pipeline, ls, ps, cat of /proc files, free, uname, mount, dmesg, file applets); the kernel
//! interfaces it needed are checked in tools.rs. On our VMM with 2 CPUs and under QEMU with
//! TCG.

use std::path::PathBuf;
use std::time::Duration;

use vm_tests::{assert_checks_passed, boot_with, guest, qemu_boot_with};

const CHECKS: &[&str] = &[
    "busybox_shell_pipeline",
    "busybox_ls",
    "busybox_ps",
    "busybox_proc_files",
    "busybox_free",
    "busybox_uname_mount_dmesg",
    "busybox_files",
    "busybox_ipcs",
    "busybox_ionice",
];

/// The busybox initramfs, or None (with the reason printed) when this host has no static
/// busybox: the tests then pass vacuously, saying so.
fn busybox_initramfs() -> Option<PathBuf> {
    let path = guest().initramfs.with_file_name("initramfs-busybox.cpio");
    if path.exists() {
        Some(path)
    } else {
        eprintln!(
            "SKIPPED: {} is missing: install Debian's busybox-static (apt-get install \
             busybox-static) and run `cargo xtask build`",
            path.display()
        );
        None
    }
}

/// `busybox_ipcs` may skip (Debian's busybox has no ipcs applet); everything else must pass.
fn assert_busybox_ran(status: Option<i32>, console: &str) {
    let must: Vec<&str> = CHECKS
        .iter()
        .copied()
        .filter(|c| *c != "busybox_ipcs")
        .collect();
    assert_checks_passed("toolstest", &must, status, console);
    assert!(
        console.lines().any(|l| l.starts_with("ok: busybox_ipcs")
            || l == "skip: busybox_ipcs: this busybox has no ipcs applet"),
        "{console}"
    );
    assert!(!console.contains("Kernel panic"), "{console}");
}

#[test]
fn debian_busybox_applets_run_unmodified() {
    let Some(initrd) = busybox_initramfs() else {
        return;
    };
    let o = boot_with(
        &guest().kernel,
        Some(&initrd),
        &format!("quiet -- /bin/toolstest {}", CHECKS.join(" ")),
        2,
    );
    assert_busybox_ran(Some(o.status()), &o.console);
}

#[test]
fn qemu_tcg_debian_busybox_applets_run_unmodified() {
    let Some(initrd) = busybox_initramfs() else {
        return;
    };
    let (status, out) = qemu_boot_with(
        &initrd,
        &format!("console=ttyS0 quiet -- /bin/toolstest {}", CHECKS.join(" ")),
        Duration::from_secs(600),
    );
    assert_busybox_ran(status, &out);
}
