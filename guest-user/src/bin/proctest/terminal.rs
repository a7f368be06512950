//! What /proc says of the boot time and of controlling terminals: `btime` in /proc/stat from
//! the wall clock, and `tty_nr`/`tpgid` in /proc/<pid>/stat as sessions acquire, pass on and
//! give up the console (setsid, open without O_NOCTTY, TIOCSCTTY, TIOCSPGRP, TIOCNOTTY, the
//! session leader's exit).

use std::ffi::CStr;
use std::time::Duration;

use guest_user::check::{pass_with, skip, Check, Context, Fail};
use guest_user::procfs::{self, Stat};
use guest_user::sys::{self, MsgBuf, Shared};
use guest_user::{ensure, fail};

/// /proc/stat's `btime` is the wall-clock time of the boot: a real date (a kernel without a
/// clock says 0, 1970), and CLOCK_REALTIME minus the uptime.
pub(crate) fn proc_btime() -> Check {
    let text = std::fs::read_to_string("/proc/stat").ctx("reading /proc/stat")?;
    let Some(btime) = text
        .lines()
        .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<i64>().ok())
    else {
        fail!("no btime line in /proc/stat:\n{text}");
    };
    let now = sys::clock(libc::CLOCK_REALTIME)
        .ctx("clock_gettime")?
        .as_secs_f64();
    let derived = now - procfs::uptime();
    ensure!(
        btime > 1_600_000_000,
        "btime {btime} is before 2020: the kernel did not read a wall clock"
    );
    ensure!(
        (derived - btime as f64).abs() < 2.0,
        "btime {btime}, but CLOCK_REALTIME minus uptime is {derived:.1}"
    );
    pass_with(format_args!("btime {btime}"))
}

/// (tty_nr, tpgid) of /proc/<pid>/stat.
fn tty_of(pid: &str) -> Result<(i32, i32), String> {
    let s =
        Stat::read(format!("/proc/{pid}/stat")).map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    Ok((s.tty_nr, s.tpgid))
}

/// `tty_nr` for a device node: its number in Linux's `new_encode_dev` layout.
fn tty_nr_of(path: &CStr) -> Result<i32, String> {
    // SAFETY: stat is plain data.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a valid out-pointer.
    if unsafe { libc::stat(path.as_ptr(), &mut st) } != 0 {
        return Err(format!("stat {path:?}: errno {}", sys::errno()));
    }
    let (major, minor) = (libc::major(st.st_rdev), libc::minor(st.st_rdev));
    Ok(((minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)) as i32)
}

fn open(path: &CStr, flags: i32) -> Result<i32, i32> {
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { libc::open(path.as_ptr(), flags) };
    if fd < 0 {
        Err(sys::errno())
    } else {
        Ok(fd)
    }
}

/// An ioctl with an int argument; the result or the errno.
fn ioctl_int(fd: i32, req: libc::Ioctl, arg: &mut i32) -> Result<(), i32> {
    // SAFETY: every request used here reads or writes one int at `arg`.
    if unsafe { libc::ioctl(fd, req, arg as *mut i32) } == 0 {
        Ok(())
    } else {
        Err(sys::errno())
    }
}

/// Run `f` in a child process and return its report; its `Err` fails the check.
fn in_child(f: impl FnOnce() -> Result<String, String>) -> Result<String, Fail> {
    let msg = Shared::new(MsgBuf::new()).ctx("mmap")?;
    let pid = sys::fork_child(|| {
        let (code, text) = match f() {
            Ok(t) => (0, t),
            Err(t) => (1, t),
        };
        msg.set(&text);
        code
    })
    .ctx("fork")?;
    let status = sys::wait_status(pid).ctx("waitpid")?;
    match status {
        0 => Ok(msg.get()),
        0x100 => Err(Fail(msg.get())),
        s => Err(Fail(format!("child {}", sys::describe_status(s)))),
    }
}

macro_rules! check {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// A process started on /dev/console has no controlling terminal (0, -1), nor has a kernel
/// thread. A session leader that opens /dev/hvc0 acquires it: tty_nr is hvc0's number, tpgid
/// its group, which TIOCSPGRP changes for the whole session and a child inherits; TIOCNOTTY
/// gives it up. TIOCSCTTY on the console acquires the device behind /dev/console; it is
/// refused to a process that is not a session leader, and free again once the session leader
/// that held it has exited.
pub(crate) fn ctty_stat() -> Check {
    if !std::path::Path::new("/dev/hvc0").exists() {
        return skip("no /dev/hvc0");
    }
    if sys::getpid() != 1 {
        // Run by init, as in the guest: no terminal. (On a host, a shell may have given us one.)
        let t = tty_of("self").map_err(Fail)?;
        ensure!(
            t == (0, -1),
            "/proc/self/stat tty_nr, tpgid = {t:?}, want (0, -1)"
        );
    }
    let t = tty_of("2").map_err(Fail)?;
    ensure!(
        t == (0, -1),
        "kthreadd's tty_nr, tpgid = {t:?}, want (0, -1)"
    );
    let hvc0 = tty_nr_of(c"/dev/hvc0").map_err(Fail)?;
    let ttys0 = tty_nr_of(c"/dev/ttyS0").map_err(Fail)?;
    let opened = in_child(|| {
        let me = sys::getpid();
        // SAFETY: setsid has no arguments.
        check!(unsafe { libc::setsid() } == me, "setsid failed");
        check!(tty_of("self")? == (0, -1), "a new session has a terminal");
        check!(
            open(c"/dev/tty", libc::O_RDWR) == Err(libc::ENXIO),
            "opening /dev/tty without a controlling terminal: want ENXIO"
        );
        let noctty =
            open(c"/dev/hvc0", libc::O_RDWR | libc::O_NOCTTY).map_err(|e| e.to_string())?;
        check!(
            tty_of("self")? == (0, -1),
            "opening /dev/hvc0 with O_NOCTTY acquired it"
        );
        let fd = open(c"/dev/hvc0", libc::O_RDWR).map_err(|e| format!("open /dev/hvc0: {e}"))?;
        let t = tty_of("self")?;
        check!(
            t == (hvc0, me),
            "after opening /dev/hvc0: tty_nr, tpgid {t:?}, want ({hvc0}, {me})"
        );
        let (mut pgrp, mut sid) = (0, 0);
        check!(
            ioctl_int(fd, libc::TIOCGPGRP, &mut pgrp).is_ok()
                && ioctl_int(noctty, libc::TIOCGSID, &mut sid).is_ok()
                && (pgrp, sid) == (me, me),
            "TIOCGPGRP/TIOCGSID: {pgrp}/{sid}, want {me}/{me}"
        );
        check!(
            open(c"/dev/tty", libc::O_RDWR).is_ok(),
            "/dev/tty did not open"
        );
        // A child in a group of its own, put in the foreground.
        let child = sys::fork_child(|| {
            // SAFETY: setpgid on ourselves.
            unsafe { libc::setpgid(0, 0) };
            sys::sleep(Duration::from_secs(30));
            0
        })
        .map_err(|e| e.to_string())?;
        // SAFETY: getpgid has no memory arguments.
        sys::wait_until(
            Duration::from_secs(5),
            || unsafe { libc::getpgid(child) } == child,
        );
        let mut fg = child;
        let set = ioctl_int(fd, libc::TIOCSPGRP, &mut fg);
        let seen = (tty_of(&child.to_string()), tty_of("self"));
        sys::kill_and_reap(child);
        check!(set.is_ok(), "TIOCSPGRP({child}): {set:?}");
        check!(
            matches!(seen, (Ok(a), Ok(b)) if a == (hvc0, child) && b == (hvc0, child)),
            "after TIOCSPGRP({child}): the child's and our tty_nr, tpgid are {seen:?}, want \
             ({hvc0}, {child}) for both"
        );
        // In the background now: TIOCSPGRP would stop us with SIGTTOU unless ignored.
        // SAFETY: ignoring signals.
        unsafe {
            libc::signal(libc::SIGTTOU, libc::SIG_IGN);
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
        }
        let mut back = me;
        check!(
            ioctl_int(fd, libc::TIOCSPGRP, &mut back).is_ok(),
            "TIOCSPGRP back failed"
        );
        let mut zero = 0;
        check!(
            ioctl_int(fd, libc::TIOCNOTTY, &mut zero).is_ok(),
            "TIOCNOTTY failed"
        );
        let t = tty_of("self")?;
        check!(
            t == (0, -1),
            "after TIOCNOTTY: tty_nr, tpgid {t:?}, want (0, -1)"
        );
        check!(
            open(c"/dev/tty", libc::O_RDWR) == Err(libc::ENXIO),
            "/dev/tty opened after TIOCNOTTY"
        );
        Ok(format!("hvc0 tty_nr {hvc0} tpgid {me}"))
    })?;
    let console = in_child(|| {
        let mut zero = 0;
        check!(
            ioctl_int(0, libc::TIOCSCTTY, &mut zero) == Err(libc::EPERM),
            "TIOCSCTTY by a process that is no session leader: want EPERM"
        );
        let me = sys::getpid();
        // SAFETY: setsid has no arguments.
        check!(unsafe { libc::setsid() } == me, "setsid failed");
        let r = ioctl_int(0, libc::TIOCSCTTY, &mut zero);
        check!(r.is_ok(), "TIOCSCTTY on the console: {r:?}");
        let t = tty_of("self")?;
        check!(
            (t.0 == hvc0 || t.0 == ttys0) && t.1 == me,
            "after TIOCSCTTY on the console: tty_nr, tpgid {t:?}, want hvc0's {hvc0} or \
             ttyS0's {ttys0}, and {me}"
        );
        // Exiting as session leader frees the terminal for the next session.
        Ok(format!("console tty_nr {}", t.0))
    })?;
    let again = in_child(|| {
        let me = sys::getpid();
        // SAFETY: setsid has no arguments.
        check!(unsafe { libc::setsid() } == me, "setsid failed");
        let mut zero = 0;
        let r = ioctl_int(0, libc::TIOCSCTTY, &mut zero);
        check!(
            r.is_ok(),
            "TIOCSCTTY after the last holder exited: {r:?}, want it free"
        );
        Ok(String::new())
    });
    again?;
    pass_with(format_args!("{opened}; {console}"))
}
