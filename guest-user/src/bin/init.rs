//! PID 1. Mounts /proc and /sys (and devtmpfs on /dev unless the kernel did), greets with the
//! kernel's `uname`, then one of two things:
//!
//! - with a program on its command line (the kernel passes everything after `--` to init):
//!   runs it as its child, reaping every orphan re-parented to it meanwhile, and exits with
//!   that program's status, which powers the machine off (what the tests use);
//! - without one: the console session. `/bin/sh` runs on the console as a session leader with
//!   the console as its controlling terminal, and is started again whenever it exits; orphans
//!   are reaped; SIGUSR2 (`poweroff`), SIGTERM (`reboot`) and SIGUSR1 (`halt`) shut the
//!   system down as busybox's init does: SIGTERM to every process, a moment's grace, SIGKILL,
//!   sync, reboot(2).

use std::ffi::{CStr, CString};
use std::process::exit;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

fn uname() -> String {
    // SAFETY: utsname is plain data; uname fills it or fails.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return "unknown".into();
    }
    let field = |f: &[libc::c_char]| {
        // SAFETY: uname NUL-terminates every field.
        unsafe { CStr::from_ptr(f.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    format!(
        "{} {} {} {}",
        field(&u.sysname),
        field(&u.release),
        field(&u.version),
        field(&u.machine)
    )
}

fn cstrings(argv: &[&str]) -> Vec<CString> {
    argv.iter()
        .map(|a| CString::new(*a).unwrap_or_default())
        .collect()
}

/// Fork and exec `argv`, running `setup` in the child first (only async-signal-safe calls);
/// returns the child's PID.
fn spawn(argv: &[&str], env: &[&str], setup: fn()) -> std::io::Result<libc::pid_t> {
    let (cargs, cenv) = (cstrings(argv), cstrings(env));
    let mut ptrs: Vec<*const libc::c_char> = cargs.iter().map(|c| c.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = cenv.iter().map(|c| c.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: fork has no preconditions; the child only calls async-signal-safe functions
    // (the setup's, execve, write, _exit) on data prepared before the fork.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        0 => {
            setup();
            // SAFETY: `ptrs` and `envp` are NUL-terminated arrays of valid C strings.
            unsafe { libc::execve(ptrs[0], ptrs.as_ptr(), envp.as_ptr()) };
            let msg = b"init: exec failed\n";
            // SAFETY: writing a static buffer to stderr, then leaving without unwinding.
            unsafe {
                libc::write(2, msg.as_ptr().cast(), msg.len());
                libc::_exit(127)
            }
        }
        pid => Ok(pid),
    }
}

/// Mount `fstype` at `target` unless something is mounted there already.
fn mount(fstype: &str, target: &str) {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    if mounts.lines().any(|l| l.split(' ').nth(1) == Some(target)) {
        return;
    }
    let _ = std::fs::create_dir(target);
    let (src, tgt, ty) = (
        CString::new(fstype).unwrap_or_default(),
        CString::new(target).unwrap_or_default(),
        CString::new(fstype).unwrap_or_default(),
    );
    // SAFETY: all three are valid C strings; no mount data.
    let r = unsafe { libc::mount(src.as_ptr(), tgt.as_ptr(), ty.as_ptr(), 0, std::ptr::null()) };
    if r != 0 {
        eprintln!(
            "init: mount {fstype} on {target}: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// waitpid(-1), as its raw result: the PID and status, or the errno.
fn wait_any(flags: i32) -> Result<(libc::pid_t, i32), i32> {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer.
    let pid = unsafe { libc::waitpid(-1, &mut status, flags) };
    if pid == -1 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok((pid, status))
    }
}

/// Run `args` and exit with its status, reaping orphans meanwhile.
fn run_program(args: &[String]) -> ! {
    println!("init: running {}", args.join(" "));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    // The program gets init's environment, as the kernel gave it.
    let vars: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
    let env: Vec<&str> = vars.iter().map(String::as_str).collect();
    let child = match spawn(&argv, &env, || {}) {
        Ok(pid) => pid,
        Err(e) => {
            eprintln!("init: cannot run {}: {e}", args[0]);
            exit(127);
        }
    };
    loop {
        match wait_any(0) {
            Ok((pid, status)) if pid == child => {
                let code = if libc::WIFEXITED(status) {
                    libc::WEXITSTATUS(status)
                } else {
                    128 + libc::WTERMSIG(status)
                };
                exit(code);
            }
            Ok(_) | Err(libc::EINTR) => {}
            Err(e) => {
                eprintln!("init: wait: {}", std::io::Error::from_raw_os_error(e));
                exit(1);
            }
        }
    }
}

/// The shutdown a signal asked for (the reboot(2) command), 0 for none.
static SHUTDOWN: AtomicI32 = AtomicI32::new(0);

extern "C" fn request_shutdown(sig: libc::c_int) {
    let cmd = match sig {
        libc::SIGTERM => libc::RB_AUTOBOOT,
        libc::SIGUSR1 => libc::RB_HALT_SYSTEM,
        _ => libc::RB_POWER_OFF,
    };
    SHUTDOWN.store(cmd, Ordering::SeqCst);
}

/// Handle the shutdown signals; without SA_RESTART, so that they end init's waitpid.
fn install_shutdown_handlers() {
    for sig in [libc::SIGUSR1, libc::SIGUSR2, libc::SIGTERM] {
        // SAFETY: sigaction is plain data; the handler only stores to an atomic.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = request_shutdown as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// In the shell's child before exec: a new session with the console as its controlling
/// terminal on fds 0-2, in the foreground.
fn console_session() {
    // SAFETY: setsid, open, ioctl, dup2, close and tcsetpgrp are async-signal-safe and take
    // only the static path and integers.
    unsafe {
        libc::setsid();
        let fd = libc::open(c"/dev/console".as_ptr(), libc::O_RDWR);
        if fd < 0 {
            return;
        }
        libc::ioctl(fd, libc::TIOCSCTTY, 0);
        for target in 0..3 {
            libc::dup2(fd, target);
        }
        if fd > 2 {
            libc::close(fd);
        }
        libc::tcsetpgrp(0, libc::getpid());
    }
}

fn start_shell() -> Option<libc::pid_t> {
    let env = ["PATH=/bin:/sbin", "HOME=/", "TERM=linux", "SHELL=/bin/sh"];
    match spawn(&["/bin/sh"], &env, console_session) {
        Ok(pid) => Some(pid),
        Err(e) => {
            eprintln!("init: cannot start /bin/sh: {e}");
            None
        }
    }
}

/// Reap whatever has exited until `deadline`, or until no child is left.
fn reap_until(deadline: Instant) {
    while Instant::now() < deadline {
        match wait_any(libc::WNOHANG) {
            Err(libc::ECHILD) => return,
            Ok((0, _)) => std::thread::sleep(Duration::from_millis(10)),
            _ => {}
        }
    }
}

/// busybox init's `run_shutdown_and_kill_processes` and `halt_reboot_pwoff`.
fn shutdown(cmd: i32) -> ! {
    println!("\ninit: the system is going down NOW!");
    // SAFETY: kill(-1) signals every process but init; no pointers.
    unsafe { libc::kill(-1, libc::SIGTERM) };
    println!("init: sent SIGTERM to all processes");
    reap_until(Instant::now() + Duration::from_secs(1));
    // SAFETY: as above.
    unsafe { libc::kill(-1, libc::SIGKILL) };
    println!("init: sent SIGKILL to all processes");
    reap_until(Instant::now() + Duration::from_secs(1));
    let what = match cmd {
        libc::RB_AUTOBOOT => "reboot",
        libc::RB_HALT_SYSTEM => "halt",
        _ => "poweroff",
    };
    println!("init: requesting system {what}");
    // SAFETY: sync and reboot take no pointers; reboot returns only on failure.
    unsafe {
        libc::sync();
        libc::reboot(cmd);
    }
    eprintln!("init: reboot: {}", std::io::Error::last_os_error());
    exit(0)
}

/// The console session: the shell, started again when it exits, until a shutdown request.
fn console_loop() -> ! {
    install_shutdown_handlers();
    let mut shell = None;
    let mut started = Instant::now();
    loop {
        let cmd = SHUTDOWN.load(Ordering::SeqCst);
        if cmd != 0 {
            shutdown(cmd);
        }
        if shell.is_none() {
            // A shell that cannot start should not spin.
            if started.elapsed() < Duration::from_secs(1) {
                std::thread::sleep(Duration::from_millis(500));
            }
            started = Instant::now();
            shell = start_shell();
        }
        match wait_any(0) {
            Ok((pid, _)) if Some(pid) == shell => shell = None,
            Ok(_) | Err(libc::EINTR) => {}
            Err(libc::ECHILD) => shell = None,
            Err(e) => {
                eprintln!("init: wait: {}", std::io::Error::from_raw_os_error(e));
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

fn main() {
    // The kernel mounts devtmpfs on /dev; the rest of the standard tree is ours to mount.
    mount("proc", "/proc");
    mount("sysfs", "/sys");
    mount("devtmpfs", "/dev");
    println!("init: hello from user space on {}", uname());
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        console_loop();
    }
    run_program(&args)
}
