//! `poweroff`, like busybox's: ask init to shut down — SIGUSR2 to power off, SIGTERM to
//! reboot, SIGUSR1 to halt, the signals busybox's init takes — or, with `-f`, sync and call
//! reboot(2) at once. Run under the name `reboot` or `halt` (a link), or with `--reboot` or
//! `--halt` (as systemd's `poweroff` takes them), it does those instead.
//!
//! ```text
//! poweroff [-f] [--reboot | --halt]
//! ```

use guest_user::cli;

const USAGE: &str = "poweroff [-f] [--reboot | --halt]";

fn main() {
    let argv0 = std::env::args().next().unwrap_or_default();
    let prog = argv0.rsplit('/').next().unwrap_or("poweroff").to_string();
    let mut what = prog.clone();
    let mut force = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "-f" | "--force" => force = true,
            "--reboot" => what = "reboot".into(),
            "--halt" => what = "halt".into(),
            "--poweroff" => what = "poweroff".into(),
            _ => cli::usage_error(&prog, format_args!("unknown option {arg}"), USAGE, 1),
        }
    }
    let (signal, cmd) = match what.as_str() {
        "reboot" => (libc::SIGTERM, libc::RB_AUTOBOOT),
        "halt" => (libc::SIGUSR1, libc::RB_HALT_SYSTEM),
        _ => (libc::SIGUSR2, libc::RB_POWER_OFF),
    };
    // SAFETY: kill takes no pointers.
    if !force && unsafe { libc::kill(1, signal) } == 0 {
        return;
    }
    // SAFETY: sync and reboot take no pointers; reboot returns only on failure.
    unsafe {
        libc::sync();
        libc::reboot(cmd);
    }
    cli::die(&prog, cli::errmsg(&std::io::Error::last_os_error()), 1);
}
