//! PID 1: mounts /proc and /sys, greets with the kernel's `uname`, then runs the program named on its command line
//! (the kernel passes everything after `--` to init) as its child, reaping every orphan that
//! is re-parented to it meanwhile, and exits with that program's status (which powers the
//! machine off). With no program, it exits 0.

use std::ffi::{CStr, CString};
use std::process::exit;

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

/// Fork and exec `argv`; returns the child's PID.
fn spawn(argv: &[String]) -> std::io::Result<libc::pid_t> {
    let cargs: Vec<CString> = argv
        .iter()
        .map(|a| CString::new(a.as_str()).unwrap_or_default())
        .collect();
    let mut ptrs: Vec<*const libc::c_char> = cargs.iter().map(|c| c.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: fork has no preconditions; the child only calls async-signal-safe functions
    // (execv, write, _exit) on data prepared before the fork.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        0 => {
            // SAFETY: `ptrs` is a NUL-terminated array of valid C strings.
            unsafe { libc::execv(ptrs[0], ptrs.as_ptr()) };
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

fn main() {
    // The kernel mounted devtmpfs on /dev; the rest of the standard tree is ours to mount.
    let _ = std::fs::create_dir("/proc");
    mount("proc", "/proc");
    let _ = std::fs::create_dir("/sys");
    mount("sysfs", "/sys");
    println!("init: hello from user space on {}", uname());
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        println!("init: nothing to run, exiting");
        exit(0);
    }
    println!("init: running {}", args.join(" "));
    let child = match spawn(&args) {
        Ok(pid) => pid,
        Err(e) => {
            eprintln!("init: cannot run {}: {e}", args[0]);
            exit(127);
        }
    };
    // Reap everything; leave when the program we started is done.
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid == -1 {
            eprintln!("init: wait: {}", std::io::Error::last_os_error());
            exit(1);
        }
        if pid == child {
            let code = if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            };
            exit(code);
        }
    }
}
