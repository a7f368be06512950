//! The user tools (the `coreutils` multi-call binary linked in /bin) run as init's child by
//! the guest's `toolstest`, which fork+execs them and checks their output, messages and exit
//! statuses against GNU's, and the kernel interfaces unmodified Linux programs turned out to
//! need (robust futexes, sync, fallocate, statfs, sysctls, sysinfo, syslog, ioprio); on our VMM with
//! 2 CPUs and under QEMU with TCG.

use std::time::Duration;

use std::path::PathBuf;

use vm_tests::{assert_checks_passed, boot_with, guest, qemu_boot_with};

/// The default initramfs plus `toolstest` (`cargo xtask build` writes both).
fn tools_initramfs() -> PathBuf {
    guest().initramfs.with_file_name("initramfs-tools.cpio")
}

/// toolstest's checks of the coreutils tools (its busybox checks skip in this initramfs).
const TOOLS: &[&str] = &[
    "applets_linked",
    "ls_long_dev_null",
    "ls_listing",
    "ls_errors",
    "mkdir_touch_mv_cp_rm",
    "cp_recursive",
    "rm_rmdir_errors",
    "ln_and_mkfifo",
    "touch_times",
    "stat_fields",
    "cat_head_tail",
    "wc_counts",
    "grep_matching",
    "echo_forms",
    "free_matches_meminfo",
    "uptime_line",
    "dmesg_kernel_log",
    "uname_hostname",
    "id_env_true_false",
    "mount_umount",
    "sleep_kill",
    "robust_futex_owner_died",
    "sync_and_fallocate",
    "statfs_pseudo_filesystems",
    "hostname_sysctl_and_sysinfo",
    "syslog_rules",
    "ioprio_classes",
];

fn assert_passed(checks: &[&str], status: Option<i32>, console: &str) {
    assert_checks_passed("toolstest", checks, status, console);
}

#[test]
fn coreutils_tools_print_what_gnu_prints() {
    let o = boot_with(
        &guest().kernel,
        Some(&tools_initramfs()),
        &format!("quiet -- /bin/toolstest {}", TOOLS.join(" ")),
        2,
    );
    assert_passed(TOOLS, Some(o.status()), &o.console);
    assert!(
        o.console
            .contains("ok: ls_long_dev_null (crw-rw-rw- 1 root root 1, 3 "),
        "{}",
        o.console
    );
}

#[test]
fn qemu_tcg_coreutils_tools() {
    let (status, out) = qemu_boot_with(
        &tools_initramfs(),
        &format!("console=ttyS0 quiet -- /bin/toolstest {}", TOOLS.join(" ")),
        Duration::from_secs(600),
    );
    assert_passed(TOOLS, status, &out);
}
