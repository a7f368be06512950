//! `toolstest [CHECK...]`: runs the user tools (the `coreutils` multi-call binary's links in
//! /bin, and busybox when the initramfs has it) as a user would, fork+exec'ing them and checking
//! their output, error messages and exit statuses against what GNU coreutils, procps,
//! util-linux and busybox print on Linux.
//!
//! Prints `ok:` / `FAIL:` / `skip:` per check (see `guest_user::check`) and exits 0 only if
//! none failed. Each check works in its own directory under /tmp.

mod abi;
mod busybox;
mod files;
mod shell;
mod system;

use std::process::{Command, Stdio};

use guest_user::check::{Fail, NamedCheck, Report};

/// What a tool printed and how it ended.
pub struct Output {
    pub code: i32,
    pub out: String,
    pub err: String,
}

/// Runs `argv` (its first word a path) with stdin from `input`, and collects its output.
pub fn run_with_input(argv: &[&str], input: &str) -> Result<Output, Fail> {
    use std::io::Write;
    let mut child = Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Fail(format!("cannot run {}: {e}", argv[0])))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin
        .write_all(input.as_bytes())
        .map_err(|e| Fail(format!("writing to {}: {e}", argv[0])))?;
    drop(stdin);
    let o = child
        .wait_with_output()
        .map_err(|e| Fail(format!("waiting for {}: {e}", argv[0])))?;
    let code = o.status.code().unwrap_or_else(|| {
        use std::os::unix::process::ExitStatusExt;
        128 + o.status.signal().unwrap_or(0)
    });
    Ok(Output {
        code,
        out: String::from_utf8_lossy(&o.stdout).into_owned(),
        err: String::from_utf8_lossy(&o.stderr).into_owned(),
    })
}

/// Runs `argv` with empty stdin.
pub fn run(argv: &[&str]) -> Result<Output, Fail> {
    run_with_input(argv, "")
}

/// Runs `argv` and fails unless it exits 0; returns its stdout.
pub fn run_ok(argv: &[&str]) -> Result<String, Fail> {
    let o = run(argv)?;
    if o.code != 0 {
        return Err(Fail(format!(
            "{argv:?} exited {}: {}",
            o.code,
            o.err.trim_end()
        )));
    }
    Ok(o.out)
}

/// Runs `argv` and fails unless it exits `code` with exactly `err` on stderr.
pub fn expect_error(argv: &[&str], code: i32, err: &str) -> Result<(), Fail> {
    let o = run(argv)?;
    if o.code != code || o.err != err {
        return Err(Fail(format!(
            "{argv:?}: exit {} with {:?}, want exit {code} with {err:?}",
            o.code, o.err
        )));
    }
    Ok(())
}

/// A fresh, empty directory for one check.
pub fn scratch(name: &str) -> Result<String, Fail> {
    let dir = format!("/tmp/toolstest-{name}");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| Fail(format!("mkdir {dir}: {e}")))?;
    Ok(dir)
}

const CHECKS: &[NamedCheck] = &[
    ("applets_linked", files::applets_linked),
    ("ls_long_dev_null", files::ls_long_dev_null),
    ("ls_listing", files::ls_listing),
    ("ls_errors", files::ls_errors),
    ("mkdir_touch_mv_cp_rm", files::mkdir_touch_mv_cp_rm),
    ("cp_recursive", files::cp_recursive),
    ("rm_rmdir_errors", files::rm_rmdir_errors),
    ("ln_and_mkfifo", files::ln_and_mkfifo),
    ("touch_times", files::touch_times),
    ("stat_fields", files::stat_fields),
    ("cat_head_tail", files::cat_head_tail),
    ("wc_counts", files::wc_counts),
    ("grep_matching", files::grep_matching),
    ("echo_forms", system::echo_forms),
    ("free_matches_meminfo", system::free_matches_meminfo),
    ("uptime_line", system::uptime_line),
    ("dmesg_kernel_log", system::dmesg_kernel_log),
    ("uname_hostname", system::uname_hostname),
    ("id_env_true_false", system::id_env_true_false),
    ("mount_umount", system::mount_umount),
    ("sleep_kill", system::sleep_kill),
    ("robust_futex_owner_died", abi::robust_futex_owner_died),
    ("sync_and_fallocate", abi::sync_and_fallocate),
    ("statfs_pseudo_filesystems", abi::statfs_pseudo_filesystems),
    (
        "hostname_sysctl_and_sysinfo",
        abi::hostname_sysctl_and_sysinfo,
    ),
    ("syslog_rules", abi::syslog_rules),
    ("ioprio_classes", abi::ioprio_classes),
    ("sh_glob", shell::glob),
    ("sh_subst_arith", shell::subst_arith),
    ("sh_control_flow", shell::control_flow),
    ("sh_builtins", shell::builtins),
    ("sh_scripts", shell::scripts),
    ("sh_heredoc_printf_getopts", shell::heredoc_printf_getopts),
    ("busybox_shell_pipeline", busybox::shell_pipeline),
    ("busybox_ls", busybox::ls),
    ("busybox_ps", busybox::ps),
    ("busybox_proc_files", busybox::proc_files),
    ("busybox_free", busybox::free),
    ("busybox_uname_mount_dmesg", busybox::uname_mount_dmesg),
    ("busybox_files", busybox::files),
    ("busybox_ipcs", busybox::ipcs),
    ("busybox_ionice", busybox::ionice),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut report = Report::new("toolstest");
    report.run_table(CHECKS, &args);
    report.finish();
}
