//! The shell as scripts use it: `toolstest`'s `sh_*` checks run scripts through `/bin/sh -c`
//! and as files and compare their output with a POSIX shell's — pathname expansion, command
//! substitution and arithmetic, control flow and functions, the built-ins scripts need, and
//! `#!` scripts the kernel runs, here-documents, `printf` and `getopts`; on our VMM with 2 CPUs and under QEMU with TCG.

use std::path::PathBuf;
use std::time::Duration;

use vm_tests::{assert_checks_passed, boot_with, guest, qemu_boot_with};

fn tools_initramfs() -> PathBuf {
    guest().initramfs.with_file_name("initramfs-tools.cpio")
}

const CHECKS: &[&str] = &[
    "sh_glob",
    "sh_subst_arith",
    "sh_control_flow",
    "sh_builtins",
    "sh_scripts",
    "sh_heredoc_printf_getopts",
];

#[test]
fn shell_scripts_print_what_posix_sh_prints() {
    let o = boot_with(
        &guest().kernel,
        Some(&tools_initramfs()),
        &format!("quiet -- /bin/toolstest {}", CHECKS.join(" ")),
        2,
    );
    assert_checks_passed("toolstest", CHECKS, Some(o.status()), &o.console);
}

#[test]
fn qemu_tcg_shell_scripts() {
    let (status, out) = qemu_boot_with(
        &tools_initramfs(),
        &format!("console=ttyS0 quiet -- /bin/toolstest {}", CHECKS.join(" ")),
        Duration::from_secs(600),
    );
    assert_checks_passed("toolstest", CHECKS, status, &out);
}
