//! The report format of the test programs, which the VM boot tests read:
//!
//! ```text
//! ok: fork_wait (status 42)
//! FAIL: zombie_state: /proc/12/stat says S, want Z
//! skip: rlimit_nproc: not permitted to setuid
//! proctest: 20 passed, 1 failed, 1 skipped
//! ```
//!
//! One line per check, then a summary; the program exits 0 only if no check failed. Each check
//! runs under a watchdog (`alarm`): a check that hangs prints `FAIL: <name>: timed out` and the
//! program exits 3, so a missing kernel feature shows up by name instead of as a silent hang.

use std::fmt::Display;
use std::io::{self, Write};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use crate::sys::{self, MsgBuf, Shared};

/// How a check that did not fail ended.
pub enum Done {
    /// Passed; the text (maybe empty) is a measurement worth printing.
    Pass(String),
    /// Not applicable here (the reason is printed).
    Skip(String),
}

/// Why a check failed.
#[derive(Debug)]
pub struct Fail(pub String);

impl From<io::Error> for Fail {
    fn from(err: io::Error) -> Self {
        Fail(err.to_string())
    }
}

pub type Check = Result<Done, Fail>;

/// A named check, as listed in a program's table of checks.
pub type NamedCheck = (&'static str, fn() -> Check);

/// A passing check without remarks.
pub fn pass() -> Check {
    Ok(Done::Pass(String::new()))
}

/// A passing check with a measurement to print.
pub fn pass_with(detail: impl Display) -> Check {
    Ok(Done::Pass(detail.to_string()))
}

/// A check that does not apply here.
pub fn skip(why: impl Display) -> Check {
    Ok(Done::Skip(why.to_string()))
}

/// Adds what was being done to an I/O error: `fork: Resource temporarily unavailable`.
pub trait Context<T> {
    fn ctx(self, what: &str) -> Result<T, Fail>;
}

impl<T> Context<T> for io::Result<T> {
    fn ctx(self, what: &str) -> Result<T, Fail> {
        self.map_err(|e| Fail(format!("{what}: {e}")))
    }
}

/// Fails the check with a formatted message unless the condition holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err($crate::check::Fail(format!($($fmt)+)));
        }
    };
}

/// Fails the check with a formatted message.
#[macro_export]
macro_rules! fail {
    ($($fmt:tt)+) => {
        return Err($crate::check::Fail(format!($($fmt)+)))
    };
}

/// Seconds a single check may take before the watchdog fails it.
pub const WATCHDOG_SECS: u32 = 60;

static CURRENT: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static CURRENT_LEN: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_watchdog(_: libc::c_int) {
    let name = CURRENT.load(Ordering::Relaxed);
    let len = CURRENT_LEN.load(Ordering::Relaxed);
    let write = |b: &[u8]| {
        // SAFETY: writes a valid buffer to stdout; write is async-signal-safe.
        unsafe { libc::write(1, b.as_ptr().cast(), b.len()) };
    };
    write(b"FAIL: ");
    if !name.is_null() {
        // SAFETY: CURRENT always points at a &'static str of CURRENT_LEN bytes.
        write(unsafe { std::slice::from_raw_parts(name, len) });
    }
    write(b": timed out (watchdog)\n");
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(3) };
}

/// `alarm(secs)` as the system call itself: musl's `alarm()` is built on `setitimer`, which
/// a kernel may lack while it has `alarm`, and a watchdog that silently never fires would turn
/// a hung check into a hung program.
fn set_alarm(secs: u32) {
    // SAFETY: alarm has no memory arguments.
    unsafe { libc::syscall(libc::SYS_alarm, secs as libc::c_long) };
}

/// Counts the outcomes of the checks and prints them.
pub struct Report {
    prog: &'static str,
    passed: u32,
    failed: u32,
    skipped: u32,
}

impl Report {
    /// Starts a report and installs the watchdog's SIGALRM handler.
    pub fn new(prog: &'static str) -> Self {
        // SAFETY: a zeroed sigaction is valid; the handler is async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_watchdog as *const () as usize;
            libc::sigaction(libc::SIGALRM, &sa, std::ptr::null_mut());
        }
        Report {
            prog,
            passed: 0,
            failed: 0,
            skipped: 0,
        }
    }

    /// Runs one check under the watchdog and prints its outcome.
    pub fn run(&mut self, name: &'static str, f: impl FnOnce() -> Check) {
        CURRENT.store(name.as_ptr() as *mut u8, Ordering::Relaxed);
        CURRENT_LEN.store(name.len(), Ordering::Relaxed);
        set_alarm(WATCHDOG_SECS);
        let outcome = f();
        set_alarm(0); // cancels the watchdog
        self.record(name, outcome);
    }

    /// Runs the checks of `table` named in `args`, or all of them if `args` is empty; an
    /// unknown name is a usage error (exit 2).
    pub fn run_table(&mut self, table: &[NamedCheck], args: &[String]) {
        if let Some(bad) = args.iter().find(|a| !table.iter().any(|(n, _)| n == a)) {
            let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
            eprintln!(
                "{}: unknown check '{bad}' (known: {})",
                self.prog,
                names.join(" ")
            );
            sys::exit_now(2);
        }
        for &(name, f) in table {
            if args.is_empty() || args.iter().any(|a| a == name) {
                self.run(name, f);
            }
        }
    }

    /// Records a check that does not apply.
    pub fn skip(&mut self, name: &str, why: impl Display) {
        self.record(name, skip(why));
    }

    fn record(&mut self, name: &str, outcome: Check) {
        match outcome {
            Ok(Done::Pass(d)) if d.is_empty() => {
                self.passed += 1;
                println!("ok: {name}");
            }
            Ok(Done::Pass(d)) => {
                self.passed += 1;
                println!("ok: {name} ({d})");
            }
            Ok(Done::Skip(why)) => {
                self.skipped += 1;
                println!("skip: {name}: {why}");
            }
            Err(Fail(why)) => {
                self.failed += 1;
                println!("FAIL: {name}: {why}");
            }
        }
        let _ = io::stdout().flush();
    }

    /// Prints the summary and exits: 0 if nothing failed, 1 otherwise.
    pub fn finish(self) -> ! {
        println!(
            "{}: {} passed, {} failed, {} skipped",
            self.prog, self.passed, self.failed, self.skipped
        );
        sys::exit_now(if self.failed == 0 { 0 } else { 1 })
    }
}

/// Runs `f` in a forked child (for checks that change process-wide state: ids, limits,
/// signal dispositions) and brings its outcome back through shared memory. A child that dies
/// instead of returning fails the check with its wait status.
pub fn in_child(f: impl FnOnce() -> Check) -> Check {
    let msg = Shared::new(MsgBuf::new()).ctx("mmap")?;
    let pid = sys::fork_child(|| {
        sys::die_with_parent();
        let (code, text) = match f() {
            Ok(Done::Pass(d)) => (0, d),
            Ok(Done::Skip(s)) => (1, s),
            Err(Fail(e)) => (2, e),
        };
        msg.set(&text);
        code
    })
    .ctx("fork")?;
    let status = sys::wait_status(pid).ctx("waitpid")?;
    match (libc::WIFEXITED(status), libc::WEXITSTATUS(status)) {
        (true, 0) => Ok(Done::Pass(msg.get())),
        (true, 1) => Ok(Done::Skip(msg.get())),
        (true, 2) => Err(Fail(msg.get())),
        _ => Err(Fail(format!("test child {}", sys::describe_status(status)))),
    }
}

/// Yes/no checks of a single-scenario program (oomtest, compacttest), printed as
/// `PROG: NAME: ok|FAILED DETAIL`, and a last line the VM tests look for: `PROG: all checks
/// passed` (exit 0) or `PROG: some checks FAILED` (exit 1).
pub struct Verdicts {
    prog: &'static str,
    ok: bool,
}

impl Verdicts {
    pub fn new(prog: &'static str) -> Self {
        Self { prog, ok: true }
    }

    pub fn check(&mut self, name: &str, good: bool, detail: String) {
        let verdict = if good { "ok" } else { "FAILED" };
        println!("{}: {name}: {verdict} {detail}", self.prog);
        self.ok &= good;
    }

    pub fn finish(self) -> ! {
        if self.ok {
            println!("{}: all checks passed", self.prog);
            std::process::exit(0)
        }
        println!("{}: some checks FAILED", self.prog);
        std::process::exit(1)
    }
}
