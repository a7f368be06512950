//! Passes bad pointers to system calls and checks the kernel answers EFAULT instead of
//! crashing. Prints one line per check and exits non-zero if any failed.

use std::process::exit;

fn check(name: &str, ret: isize, want_errno: i32) -> bool {
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    let ok = ret == -1 && errno == want_errno;
    println!(
        "efault: {name}: ret={ret} errno={errno} {}",
        if ok { "ok" } else { "FAILED" }
    );
    ok
}

fn main() {
    let mut ok = true;
    // SAFETY: deliberately invalid pointers; the kernel must reject them without touching them.
    unsafe {
        ok &= check(
            "write(NULL)",
            libc::write(1, std::ptr::null(), 10),
            libc::EFAULT,
        );
        ok &= check(
            "write(kernel address)",
            libc::write(1, 0xffff_8000_0000_0000usize as *const _, 10),
            libc::EFAULT,
        );
        ok &= check(
            "write(unmapped)",
            libc::write(1, 0x1000 as *const _, 10),
            libc::EFAULT,
        );
        let fd = libc::open(c"/sbin/init".as_ptr(), libc::O_RDONLY);
        ok &= check(
            "read(NULL)",
            libc::read(fd, std::ptr::null_mut(), 10),
            libc::EFAULT,
        );
        ok &= check(
            "read(bad fd)",
            libc::read(999, std::ptr::null_mut(), 10),
            libc::EBADF,
        );
        ok &= check(
            "uname(NULL)",
            libc::uname(std::ptr::null_mut()) as isize,
            libc::EFAULT,
        );
        ok &= check(
            "clock_gettime(bad)",
            libc::clock_gettime(libc::CLOCK_MONOTONIC, std::ptr::without_provenance_mut(8))
                as isize,
            libc::EFAULT,
        );
        ok &= check(
            "open(bad path)",
            libc::open(0x10 as *const _, 0) as isize,
            libc::EFAULT,
        );
        ok &= check(
            "bad syscall number",
            libc::syscall(9999) as isize,
            libc::ENOSYS,
        );
    }
    println!(
        "efault: {}",
        if ok {
            "all checks passed"
        } else {
            "some checks FAILED"
        }
    );
    exit(if ok { 0 } else { 1 });
}
