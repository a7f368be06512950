//! `ttytest`: the console's line discipline and job control, driven by a host that types on
//! the console. Becomes a session leader with the console as its controlling terminal, then,
//! for each check that needs input, prints `READY <check>` and reads what the host types:
//!
//! - `canon`: `abc^?d^Uxyz^Hw\n` reads `xyw\n`; `one two^Wthree\n` reads `one three\n`;
//!   `part^D^D` reads `part`, then end of file;
//! - `vmin`: raw mode, VMIN 3: the host types `ab`, waits, types `cd`; a 3-byte read gets
//!   `abc`; FIONREAD counts the `d`, TCFLSH drops it;
//! - `isig`: `junk^C` raises SIGINT in the foreground group (us) and flushes `junk`;
//! - `ixon`: `^Sstop\n` holds output: a non-blocking write is EAGAIN, poll shows no POLLOUT,
//!   a forked writer waits; we say so with tcflow(TCION), which sends the host a START
//!   character (^Q) even now; the host checks that neither the writer's text nor the echo of
//!   `stop` came out and types `^Qgo\n`, which lets both go and the writer finish.
//!
//! and without input: `vtime` (VMIN 0, VTIME 3 times out with 0 bytes), `sigttin` (a
//! background group's read stops it with SIGTTIN; with SIGTTIN ignored it fails with EIO;
//! an orphaned group's read fails with EIO), `tostop` (with TOSTOP a background write stops
//! with SIGTTOU), `winsz` (TIOCSWINSZ signals SIGWINCH, TIOCGWINSZ reads it back), `hangup`
//! (a session leader exits: its foreground group gets SIGHUP and loses the terminal, and the
//! terminal's files are hung up: read gives end of file, write EIO, poll POLLHUP; a new open
//! works).

use std::sync::atomic::{AtomicI32, Ordering::SeqCst};
use std::time::{Duration, Instant};

use guest_user::check::{pass, pass_with, Check, Fail, NamedCheck, Report};
use guest_user::ensure;
use guest_user::sys::{self, Fork};

fn termios() -> libc::termios {
    // SAFETY: termios is plain data; tcgetattr fills it.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor and pointer.
    unsafe { libc::tcgetattr(0, &mut t) };
    t
}

fn set_termios(t: &libc::termios) {
    // SAFETY: valid descriptor and pointer.
    unsafe { libc::tcsetattr(0, libc::TCSANOW, t) };
}

fn read0(buf: &mut [u8]) -> isize {
    // SAFETY: reading into a valid buffer.
    unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) }
}

fn ready(check: &str) {
    println!("READY {check}");
}

fn read_expect(want: &[u8]) -> Result<(), Fail> {
    let mut buf = [0u8; 64];
    let n = read0(&mut buf);
    ensure!(
        n >= 0 && &buf[..n as usize] == want,
        "read {:?}, want {:?}",
        String::from_utf8_lossy(&buf[..n.max(0) as usize]),
        String::from_utf8_lossy(want)
    );
    Ok(())
}

fn canon() -> Check {
    ready("canon");
    read_expect(b"xyw\n")?;
    read_expect(b"one three\n")?;
    read_expect(b"part")?;
    read_expect(b"")?;
    pass()
}

fn fionread() -> i32 {
    let mut n: libc::c_int = -1;
    // SAFETY: FIONREAD writes one int.
    unsafe { libc::ioctl(0, libc::FIONREAD, &mut n) };
    n
}

fn raw(min: u8, time: u8) -> libc::termios {
    let saved = termios();
    let mut t = saved;
    t.c_lflag &= !(libc::ICANON | libc::ECHO);
    t.c_cc[libc::VMIN] = min;
    t.c_cc[libc::VTIME] = time;
    set_termios(&t);
    saved
}

fn vmin() -> Check {
    let saved = raw(3, 0);
    ready("vmin");
    // The host types "ab", then "cd": a 3-byte read must wait for the "c".
    let mut buf = [0u8; 3];
    let n = read0(&mut buf);
    ensure!(
        n == 3 && &buf == b"abc",
        "read gave {n} bytes {:?}",
        String::from_utf8_lossy(&buf[..n.max(0) as usize])
    );
    // The "d" is left, and counted.
    sys::wait_until(Duration::from_secs(5), || fionread() == 1);
    let left = fionread();
    ensure!(left == 1, "FIONREAD {left}, want 1");
    // TCFLSH drops it.
    // SAFETY: tcflush takes integers only.
    unsafe { libc::tcflush(0, libc::TCIFLUSH) };
    ensure!(fionread() == 0, "FIONREAD {} after TCIFLUSH", fionread());
    set_termios(&saved);
    pass()
}

fn vtime() -> Check {
    let saved = raw(0, 3);
    let start = Instant::now();
    let n = read0(&mut [0u8; 8]);
    let waited = start.elapsed();
    set_termios(&saved);
    ensure!(n == 0, "read gave {n}, want 0 at the timeout");
    ensure!(
        waited >= Duration::from_millis(250),
        "returned after {waited:?}, before VTIME's 0.3 s"
    );
    pass_with(format_args!("{} ms", waited.as_millis()))
}

static SIGNALS: AtomicI32 = AtomicI32::new(0);

extern "C" fn count(sig: libc::c_int) {
    SIGNALS.fetch_add(sig << 8 | 1, SeqCst);
}

/// Catch `sig` without SA_RESTART, so that a blocked read ends with EINTR.
fn catch(sig: i32) {
    // SAFETY: a zeroed sigaction with a handler that only touches an atomic.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = count as extern "C" fn(libc::c_int) as usize;
        libc::sigaction(sig, &sa, std::ptr::null_mut());
    }
}

fn isig() -> Check {
    SIGNALS.store(0, SeqCst);
    catch(libc::SIGINT);
    ready("isig");
    let n = read0(&mut [0u8; 8]);
    let err = sys::errno();
    ensure!(
        n == -1 && err == libc::EINTR,
        "read gave {n} (errno {err}), want EINTR"
    );
    ensure!(
        SIGNALS.load(SeqCst) == libc::SIGINT << 8 | 1,
        "signals seen: {:#x}",
        SIGNALS.load(SeqCst)
    );
    ensure!(fionread() == 0, "the typed line was not flushed");
    pass()
}

/// A child in a new (background) process group runs `f`; returns its wait status (stopped
/// or exited), killing it if it stopped.
fn in_background(f: impl FnOnce() -> i32) -> Result<i32, Fail> {
    let pid = match sys::fork()? {
        Fork::Child => {
            // SAFETY: setpgid takes integers only.
            unsafe { libc::setpgid(0, 0) };
            sys::exit_now(f())
        }
        Fork::Parent(pid) => pid,
    };
    let (_, status) = sys::waitpid(pid, libc::WUNTRACED)?;
    if libc::WIFSTOPPED(status) {
        sys::kill_and_reap(pid);
    }
    Ok(status)
}

fn read_errno() -> i32 {
    if read0(&mut [0u8; 8]) < 0 {
        sys::errno()
    } else {
        0
    }
}

fn sigttin() -> Check {
    let st = in_background(read_errno)?;
    ensure!(
        libc::WIFSTOPPED(st) && libc::WSTOPSIG(st) == libc::SIGTTIN,
        "background read: {}",
        sys::describe_status(st)
    );
    let st = in_background(|| {
        // SAFETY: ignoring a signal.
        unsafe { libc::signal(libc::SIGTTIN, libc::SIG_IGN) };
        read_errno()
    })?;
    ensure!(
        libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == libc::EIO,
        "background read with SIGTTIN ignored: {} (want exit EIO)",
        sys::describe_status(st)
    );
    // A grandchild whose parent has gone is an orphaned group: EIO, not a stop nobody
    // would end. It reports through a pipe (init reaps it).
    let mut fds = [0; 2];
    // SAFETY: a valid two-int array.
    unsafe { libc::pipe(fds.as_mut_ptr()) };
    let st = in_background(|| {
        if let Ok(Fork::Child) = sys::fork() {
            sys::wait_until(Duration::from_secs(10), orphaned);
            let e = read_errno() as u8;
            // SAFETY: writing one byte to the pipe.
            unsafe { libc::write(fds[1], (&e as *const u8).cast(), 1) };
            sys::exit_now(0);
        }
        0
    })?;
    ensure!(
        libc::WIFEXITED(st),
        "middle child: {}",
        sys::describe_status(st)
    );
    let mut e = 0u8;
    // SAFETY: reading one byte from the pipe; the write end is closed first so a missing
    // report reads end of file instead of hanging.
    let n = unsafe {
        libc::close(fds[1]);
        libc::read(fds[0], (&mut e as *mut u8).cast(), 1)
    };
    ensure!(
        n == 1 && e as i32 == libc::EIO,
        "orphaned group's read: errno {e} (n {n})"
    );
    pass()
}

/// Our parent is gone (re-parented to init): our group has no link into the session.
fn orphaned() -> bool {
    sys::getppid() == 1
}

fn tostop() -> Check {
    let saved = termios();
    let mut t = saved;
    t.c_lflag |= libc::TOSTOP;
    set_termios(&t);
    let st = in_background(|| {
        // SAFETY: writing a static buffer to stdout.
        unsafe { libc::write(1, b"x\n".as_ptr().cast(), 2) };
        0
    });
    set_termios(&saved);
    let st = st?;
    ensure!(
        libc::WIFSTOPPED(st) && libc::WSTOPSIG(st) == libc::SIGTTOU,
        "background write with TOSTOP: {}",
        sys::describe_status(st)
    );
    // Without TOSTOP it just writes.
    let st = in_background(|| 0)?;
    ensure!(libc::WIFEXITED(st), "{}", sys::describe_status(st));
    pass()
}

fn winsz() -> Check {
    SIGNALS.store(0, SeqCst);
    catch(libc::SIGWINCH);
    let ws = libc::winsize {
        ws_row: 50,
        ws_col: 132,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize.
    unsafe { libc::ioctl(0, libc::TIOCSWINSZ, &ws) };
    // SAFETY: a zeroed winsize for TIOCGWINSZ to fill.
    let mut got: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes a winsize.
    unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut got) };
    ensure!(
        (got.ws_row, got.ws_col) == (50, 132),
        "TIOCGWINSZ {}x{}",
        got.ws_row,
        got.ws_col
    );
    ensure!(
        SIGNALS.load(SeqCst) == libc::SIGWINCH << 8 | 1,
        "SIGWINCH not delivered ({:#x})",
        SIGNALS.load(SeqCst)
    );
    pass()
}

fn ixon() -> Check {
    ready("ixon");
    read_expect(b"stop\n")?;
    // SAFETY: open, write and poll on a static path and local buffers.
    let (w, err, revents) = unsafe {
        let fd = libc::open(
            c"/dev/console".as_ptr(),
            libc::O_WRONLY | libc::O_NONBLOCK | libc::O_NOCTTY,
        );
        ensure!(fd >= 0, "open /dev/console: errno {}", sys::errno());
        let w = libc::write(fd, b"x".as_ptr().cast(), 1);
        let err = sys::errno();
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        libc::poll(&mut p, 1, 0);
        libc::close(fd);
        (w, err, p.revents)
    };
    ensure!(
        w == -1 && err == libc::EAGAIN,
        "non-blocking write while stopped: {w} (errno {err}), want EAGAIN"
    );
    ensure!(revents & libc::POLLOUT == 0, "POLLOUT while stopped");
    let pid = sys::fork_child(|| {
        // SAFETY: writing a static buffer to stdout.
        let n = unsafe { libc::write(1, b"HELD-OUTPUT\n".as_ptr().cast(), 12) };
        (n != 12) as i32
    })?;
    let blocked = sys::wait_until(Duration::from_secs(20), || {
        guest_user::procfs::Stat::of(pid).is_ok_and(|st| st.state == 'S')
    });
    let early = sys::waitpid(pid, libc::WNOHANG)?.0 == pid;
    ensure!(
        blocked && !early,
        "the writer did not wait while output was stopped"
    );
    // Tell the host through TCION: it sends the START character, held output or not.
    // SAFETY: tcflow on a descriptor.
    let r = unsafe { libc::tcflow(0, libc::TCION) };
    ensure!(r == 0, "tcflow(TCION): errno {}", sys::errno());
    read_expect(b"go\n")?;
    let st = sys::wait_status(pid)?;
    ensure!(st == 0, "writer: {}", sys::describe_status(st));
    pass()
}

/// Give up the console (TIOCNOTTY hangs up our own foreground group: SIGHUP is ignored
/// meanwhile), let a new session take it by opening /dev/ttyS0 as its fds 0-2, put a child in
/// a foreground group of its own and exit; the child reports through a pipe whether it got
/// SIGHUP, lost /dev/tty and finds its inherited descriptors hung up. Our own (from
/// /dev/console) are not, and a fresh open of the terminal works; then we take the console
/// back.
fn hangup() -> Check {
    let mut fds = [0; 2];
    // SAFETY: signal, ioctl and pipe on integers and a local array.
    unsafe {
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        ensure!(
            libc::ioctl(0, libc::TIOCNOTTY) == 0,
            "TIOCNOTTY: errno {}",
            sys::errno()
        );
        libc::pipe(fds.as_mut_ptr());
    }
    let leader = sys::fork_child(move || {
        let mut ready = [0; 2];
        // SAFETY: setsid, open, dup2, ioctl, pipe on integers, a static path and a local
        // array.
        unsafe {
            libc::setsid();
            // A session leader without a terminal opening it gets it as its controlling one.
            let fd = libc::open(c"/dev/ttyS0".as_ptr(), libc::O_RDWR);
            if fd < 0 {
                return 13;
            }
            for target in 0..3 {
                libc::dup2(fd, target);
            }
            libc::close(fd);
            if libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                return 10;
            }
            libc::pipe(ready.as_mut_ptr());
        }
        let Ok(child) = sys::fork_child(move || {
            // SAFETY: setpgid on integers; one byte to the pipe.
            unsafe {
                libc::setpgid(0, 0);
                SIGNALS.store(0, SeqCst);
                catch(libc::SIGHUP);
                libc::write(ready[1], b"r".as_ptr().cast(), 1);
            }
            let hup = sys::wait_until(Duration::from_secs(20), || SIGNALS.load(SeqCst) != 0);
            // SAFETY: open on a static path; read, write and poll on fds 0 and 1 with local
            // buffers.
            let report = unsafe {
                let tty = libc::open(c"/dev/tty".as_ptr(), libc::O_RDWR);
                let no_tty = tty < 0 && sys::errno() == libc::ENXIO;
                let mut buf = [0u8; 8];
                let eof = libc::read(0, buf.as_mut_ptr().cast(), buf.len()) == 0;
                let eio = libc::write(1, b"x".as_ptr().cast(), 1) < 0 && sys::errno() == libc::EIO;
                let mut p = libc::pollfd {
                    fd: 0,
                    events: libc::POLLIN,
                    revents: 0,
                };
                let pollhup = libc::poll(&mut p, 1, 0) == 1 && p.revents & libc::POLLHUP != 0;
                match (hup, no_tty, eof, eio, pollhup) {
                    (false, ..) => b'N',
                    (_, false, ..) => b'T',
                    (_, _, false, ..) => b'R',
                    (_, _, _, false, _) => b'W',
                    (_, _, _, _, false) => b'P',
                    _ => b'H',
                }
            };
            // SAFETY: one byte to the pipe.
            unsafe { libc::write(fds[1], (&report as *const u8).cast(), 1) };
            0
        }) else {
            return 11;
        };
        let mut b = 0u8;
        // SAFETY: integers and a one-byte local buffer.
        unsafe {
            libc::setpgid(child, child);
            libc::read(ready[0], (&mut b as *mut u8).cast(), 1);
            if libc::tcsetpgrp(0, child) != 0 {
                return 12;
            }
        }
        // Exiting hangs up the terminal for the session.
        0
    })?;
    let st = sys::wait_status(leader)?;
    let mut report = 0u8;
    // SAFETY: one byte from the pipe, the write end closed first so a missing report reads
    // end of file; then taking the console back.
    let n = unsafe {
        libc::close(fds[1]);
        let n = libc::read(fds[0], (&mut report as *mut u8).cast(), 1);
        libc::close(fds[0]);
        libc::ioctl(0, libc::TIOCSCTTY, 0);
        libc::signal(libc::SIGHUP, libc::SIG_DFL);
        n
    };
    ensure!(st == 0, "session leader: {}", sys::describe_status(st));
    ensure!(
        n == 1 && report == b'H',
        "foreground child after its session leader exited: {}",
        match report {
            b'T' => "got SIGHUP but still has /dev/tty",
            b'N' => "no SIGHUP",
            b'R' => "read of its inherited fd 0 did not give end of file",
            b'W' => "write to its inherited fd 1 did not fail with EIO",
            b'P' => "poll of its inherited fd 0 did not report POLLHUP",
            _ => "no report",
        }
    );
    fresh_open_works()
}

/// After a hang-up: our /dev/console descriptor and a new open of /dev/ttyS0 both work.
fn fresh_open_works() -> Check {
    // SAFETY: open on a static path; poll and ioctl with locals; close.
    unsafe {
        let fd = libc::open(c"/dev/ttyS0".as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
        ensure!(
            fd >= 0,
            "open /dev/ttyS0 after the hang-up: errno {}",
            sys::errno()
        );
        for fd in [fd, 0] {
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLOUT,
                revents: 0,
            };
            let mut t: libc::termios = std::mem::zeroed();
            let polled = libc::poll(&mut p, 1, 0);
            let got = libc::tcgetattr(fd, &mut t);
            ensure!(
                polled == 1 && p.revents == libc::POLLOUT && got == 0,
                "fd {fd} after the hang-up: poll revents {:#x}, tcgetattr {got}",
                p.revents
            );
        }
        libc::close(fd);
    }
    pass()
}

/// A session of our own with the console as its controlling terminal on fds 0-2.
fn take_console() -> Result<(), Fail> {
    // SAFETY: setsid, open, ioctl and dup2 on integers and a static path.
    unsafe {
        libc::setsid();
        let fd = libc::open(c"/dev/console".as_ptr(), libc::O_RDWR);
        ensure!(fd >= 0, "open /dev/console: errno {}", sys::errno());
        ensure!(
            libc::ioctl(fd, libc::TIOCSCTTY, 0) == 0,
            "TIOCSCTTY: errno {}",
            sys::errno()
        );
        for target in 0..3 {
            libc::dup2(fd, target);
        }
    }
    Ok(())
}

fn main() {
    let mut report = Report::new("ttytest");
    if let Err(Fail(e)) = take_console() {
        println!("FAIL: setup: {e}");
        sys::exit_now(1);
    }
    let checks: &[NamedCheck] = &[
        ("canon", canon),
        ("vmin", vmin),
        ("vtime", vtime),
        ("isig", isig),
        ("sigttin", sigttin),
        ("tostop", tostop),
        ("winsz", winsz),
        ("ixon", ixon),
        ("hangup", hangup),
    ];
    let args: Vec<String> = std::env::args().skip(1).collect();
    report.run_table(checks, &args);
    report.finish()
}
