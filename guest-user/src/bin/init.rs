//! PID 1: greets with the kernel's `uname`, then runs the program named on its command line
//! (the kernel passes everything after `--` to init), exiting with that program's status.
//! With no program, it exits 0 and the machine powers off.

use std::ffi::CStr;
use std::os::unix::process::CommandExt;
use std::process::{exit, Command};

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

fn main() {
    println!("init: hello from user space on {}", uname());
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((program, rest)) = args.split_first() else {
        println!("init: nothing to run, exiting");
        exit(0);
    };
    println!("init: running {}", args.join(" "));
    // No fork yet: the program replaces init and its exit status becomes the guest's.
    let err = Command::new(program).args(rest).exec();
    eprintln!("init: cannot run {program}: {err}");
    exit(127);
}
