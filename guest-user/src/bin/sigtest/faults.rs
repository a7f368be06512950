//! Deaths and faults: default actions as wait reports them (the core-dump bit included) and
//! CPU exceptions turned into SIGSEGV / SIGILL / SIGFPE with the si_code and si_addr Linux
//! gives, each in a child process so that the test program survives.

use std::arch::asm;
use std::sync::atomic::{AtomicI64, AtomicPtr, Ordering::SeqCst};

use guest_user::check::{pass, Check, Context, Fail};
use guest_user::ensure;
use guest_user::sys::{self, Shared};

use crate::handler::Handler;

const SEGV_MAPERR: i32 = 1;
const SEGV_ACCERR: i32 = 2;
const ILL_ILLOPN: i32 = 2;
const FPE_INTDIV: i32 = 1;

fn default_action_child(sig: i32, before: impl FnOnce()) -> Result<i32, Fail> {
    let pid = sys::fork_child(|| {
        // SAFETY: resets the disposition in this throwaway child, then raises the signal.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            before();
            libc::raise(sig);
        }
        100
    })
    .ctx("fork")?;
    sys::wait_status(pid).ctx("waitpid")
}

/// SIGTERM's default action kills the child: WIFSIGNALED, WTERMSIG, no core-dump bit.
pub(crate) fn death_by_signal() -> Check {
    let st = default_action_child(libc::SIGTERM, || {})?;
    ensure!(
        libc::WIFSIGNALED(st) && libc::WTERMSIG(st) == libc::SIGTERM,
        "child {}, want killed by SIGTERM",
        sys::describe_status(st)
    );
    ensure!(
        st & 0x80 == 0,
        "core-dump bit set for SIGTERM (status {st:#x})"
    );
    pass()
}

/// A handler installed with the raw rt_sigaction and no SA_RESTORER has nowhere to return
/// to: on x86-64 the kernel cannot build its frame and sends SIGSEGV instead (Linux's
/// `__setup_rt_frame` and `force_sigsegv`), which kills a task without a SIGSEGV handler.
/// libc always sets SA_RESTORER; this bypasses it.
pub(crate) fn no_restorer() -> Check {
    extern "C" fn handler(_: i32) {}
    /// The kernel's `struct sigaction` on x86-64.
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let pid = sys::fork_child(|| {
        let act = KernelSigaction {
            handler: handler as *const () as usize,
            flags: 0,
            restorer: 0,
            mask: 0,
        };
        // SAFETY: `act` is a valid kernel sigaction; no old action is asked for. SIGSEGV goes
        // back to its default action (std installs a handler that would take it and return).
        // The child then raises SIGUSR1 and is expected to die of SIGSEGV.
        unsafe {
            libc::signal(libc::SIGSEGV, libc::SIG_DFL);
            if libc::syscall(libc::SYS_rt_sigaction, libc::SIGUSR1, &act, 0usize, 8usize) != 0 {
                return 101;
            }
            libc::raise(libc::SIGUSR1);
        }
        100
    })
    .ctx("fork")?;
    let st = sys::wait_status(pid).ctx("waitpid")?;
    ensure!(
        libc::WIFSIGNALED(st) && libc::WTERMSIG(st) == libc::SIGSEGV,
        "child {}, want killed by SIGSEGV",
        sys::describe_status(st)
    );
    pass()
}

/// SIGQUIT's and SIGSEGV's default action is a core dump: the raw status has bit 0x80 set.
/// (The child lifts RLIMIT_CORE and works in a scratch directory, which is removed after.)
pub(crate) fn core_dump_bit() -> Check {
    let dir = std::env::temp_dir().join(format!("sigtest-core-{}", sys::getpid()));
    let have_dir = std::fs::create_dir_all(&dir).is_ok();
    let cdir = std::ffi::CString::new(dir.to_string_lossy().as_bytes()).unwrap();
    let prepare = || {
        let lim = libc::rlimit {
            rlim_cur: libc::RLIM_INFINITY,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: valid arguments; failures leave the defaults, which the check then reports.
        unsafe {
            libc::setrlimit(libc::RLIMIT_CORE, &lim);
            if have_dir {
                libc::chdir(cdir.as_ptr());
            }
        }
    };
    let quit = default_action_child(libc::SIGQUIT, prepare);
    let segv = default_action_child(libc::SIGSEGV, prepare);
    if have_dir {
        let _ = std::fs::remove_dir_all(&dir);
    }
    for (sig, st, name) in [
        (libc::SIGQUIT, quit?, "SIGQUIT"),
        (libc::SIGSEGV, segv?, "SIGSEGV"),
    ] {
        ensure!(
            libc::WIFSIGNALED(st) && libc::WTERMSIG(st) == sig,
            "child {}, want killed by {name}",
            sys::describe_status(st)
        );
        ensure!(
            st & 0x80 != 0,
            "{name}: core-dump bit 0x80 not set (status {st:#x})"
        );
    }
    pass()
}

/// Where a faulting child's SIGSEGV/SIGILL/SIGFPE handler leaves the siginfo (shared memory).
static FAULT_INFO: AtomicPtr<[AtomicI64; 3]> = AtomicPtr::new(std::ptr::null_mut());

extern "C" fn on_fault(_sig: i32, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    let slot = FAULT_INFO.load(SeqCst);
    // SAFETY: the kernel passes a valid siginfo; FAULT_INFO points at live shared memory.
    unsafe {
        let info = &*info;
        if let Some(s) = slot.as_ref() {
            s[0].store(info.si_signo as i64, SeqCst);
            s[1].store(info.si_code as i64, SeqCst);
            s[2].store(info.si_addr() as i64, SeqCst);
        }
        libc::_exit(42);
    }
}

#[derive(Clone, Copy)]
enum Fault {
    NullRead,
    WriteReadOnly(usize),
    Ud2,
    DivZero,
}

/// Runs a fault in a child with `on_fault` installed; returns (signo, code, addr).
fn fault_in_child(fault: Fault) -> Result<[i64; 3], Fail> {
    let info =
        Shared::new([AtomicI64::new(0), AtomicI64::new(0), AtomicI64::new(0)]).ctx("mmap")?;
    FAULT_INFO.store(&*info as *const _ as *mut _, SeqCst);
    let pid = sys::fork_child(|| {
        let flags = libc::SA_SIGINFO;
        for sig in [libc::SIGSEGV, libc::SIGILL, libc::SIGFPE, libc::SIGBUS] {
            std::mem::forget(Handler::install(sig, on_fault as *const () as usize, flags));
        }
        // SAFETY: each arm faults on purpose; the handler exits the child.
        unsafe {
            match fault {
                Fault::NullRead => asm!("mov {x}, qword ptr [{p}]", p = in(reg) 0usize, x = out(reg) _),
                Fault::WriteReadOnly(addr) => asm!("mov qword ptr [{p}], 1", p = in(reg) addr),
                Fault::Ud2 => asm!("ud2"),
                Fault::DivZero => asm!("div {d}", d = in(reg) 0u64, inout("rax") 1u64 => _, inout("rdx") 0u64 => _),
            }
        }
        1
    })
    .ctx("fork")?;
    let st = sys::wait_status(pid).ctx("waitpid")?;
    FAULT_INFO.store(std::ptr::null_mut(), SeqCst);
    ensure!(
        st == 42 << 8,
        "faulting child {} (42: handler ran)",
        sys::describe_status(st)
    );
    Ok([
        info[0].load(SeqCst),
        info[1].load(SeqCst),
        info[2].load(SeqCst),
    ])
}

/// Faults become signals with the right si_code and si_addr: a NULL read (SIGSEGV,
/// SEGV_MAPERR, address 0), a write to a read-only page (SEGV_ACCERR, that address), ud2
/// (SIGILL, ILL_ILLOPN) and a division by zero (SIGFPE, FPE_INTDIV); the handler runs.
pub(crate) fn fault_signals() -> Check {
    let [sig, code, addr] = fault_in_child(Fault::NullRead)?;
    ensure!(
        sig == libc::SIGSEGV as i64 && code == SEGV_MAPERR as i64 && addr == 0,
        "NULL read: signo {sig} code {code} addr {addr:#x}, want SIGSEGV SEGV_MAPERR 0"
    );
    // SAFETY: a fresh read-only anonymous page, unmapped below.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    ensure!(page != libc::MAP_FAILED, "mmap: errno {}", sys::errno());
    let r = fault_in_child(Fault::WriteReadOnly(page as usize));
    // SAFETY: unmapping the page mapped above.
    unsafe { libc::munmap(page, 4096) };
    let [sig, code, addr] = r?;
    ensure!(sig == libc::SIGSEGV as i64 && code == SEGV_ACCERR as i64 && addr == page as i64, "write to read-only page {page:?}: signo {sig} code {code} addr {addr:#x}, want SIGSEGV SEGV_ACCERR");
    let [sig, code, _] = fault_in_child(Fault::Ud2)?;
    ensure!(
        sig == libc::SIGILL as i64 && code == ILL_ILLOPN as i64,
        "ud2: signo {sig} code {code}, want SIGILL ILL_ILLOPN"
    );
    let [sig, code, _] = fault_in_child(Fault::DivZero)?;
    ensure!(
        sig == libc::SIGFPE as i64 && code == FPE_INTDIV as i64,
        "div by 0: signo {sig} code {code}, want SIGFPE FPE_INTDIV"
    );
    pass()
}
