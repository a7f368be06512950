//! The signal-handler plumbing the checks share: a recording SA_SIGINFO handler that stores
//! what it saw in atomics (async-signal-safe), a disposition guard that restores the previous
//! action when dropped, and signal-set helpers.

use std::mem::zeroed;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering::SeqCst};

use guest_user::check::Fail;
use guest_user::sys;
/// What the recording handler saw: hits, nesting, and the last siginfo.
pub(crate) static HITS: AtomicU32 = AtomicU32::new(0);
pub(crate) static DEPTH: AtomicU32 = AtomicU32::new(0);
pub(crate) static MAX_DEPTH: AtomicU32 = AtomicU32::new(0);
pub(crate) static BLOCKED_INSIDE: AtomicBool = AtomicBool::new(false);
pub(crate) static SIGNO: AtomicI64 = AtomicI64::new(0);
pub(crate) static CODE: AtomicI64 = AtomicI64::new(0);
pub(crate) static PID: AtomicI64 = AtomicI64::new(0);
pub(crate) static UID: AtomicI64 = AtomicI64::new(0);
pub(crate) static VALUE: AtomicI64 = AtomicI64::new(0);
pub(crate) static VALUES: [AtomicI64; 8] = [const { AtomicI64::new(0) }; 8];
/// When set, the handler raises its signal once more from inside (SA_NODEFER check).
pub(crate) static RERAISE: AtomicBool = AtomicBool::new(false);

pub(crate) fn reset() {
    for a in [&SIGNO, &CODE, &PID, &UID, &VALUE] {
        a.store(0, SeqCst);
    }
    for v in &VALUES {
        v.store(0, SeqCst);
    }
    for a in [&HITS, &DEPTH, &MAX_DEPTH] {
        a.store(0, SeqCst);
    }
    RERAISE.store(false, SeqCst);
}

/// Records the siginfo of every delivery (async-signal-safe: atomics and syscalls only).
pub(crate) extern "C" fn record(sig: i32, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    let depth = DEPTH.fetch_add(1, SeqCst) + 1;
    MAX_DEPTH.fetch_max(depth, SeqCst);
    let n = HITS.fetch_add(1, SeqCst);
    // SAFETY: with SA_SIGINFO the kernel passes a valid siginfo; the union fields read are
    // those of kill/sigqueue (pid, uid, value).
    unsafe {
        let info = &*info;
        SIGNO.store(info.si_signo as i64, SeqCst);
        CODE.store(info.si_code as i64, SeqCst);
        PID.store(info.si_pid() as i64, SeqCst);
        UID.store(info.si_uid() as i64, SeqCst);
        let value = info.si_value().sival_ptr as i64;
        VALUE.store(value, SeqCst);
        if let Some(slot) = VALUES.get(n as usize) {
            slot.store(value, SeqCst);
        }
    }
    // SAFETY: querying the mask writes only into our local.
    unsafe {
        let mut mask: libc::sigset_t = zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask);
        BLOCKED_INSIDE.store(libc::sigismember(&mask, sig) == 1, SeqCst);
        if RERAISE.swap(false, SeqCst) {
            libc::kill(libc::getpid(), sig);
        }
    }
    DEPTH.fetch_sub(1, SeqCst);
}

/// A signal disposition installed for one check and restored when dropped.
pub(crate) struct Handler {
    sig: i32,
    old: libc::sigaction,
}

impl Handler {
    pub(crate) fn install(sig: i32, action: usize, flags: i32) -> Result<Handler, Fail> {
        // SAFETY: zeroed sigaction is valid (empty mask); the handler is async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = zeroed();
            sa.sa_sigaction = action;
            sa.sa_flags = flags;
            let mut old: libc::sigaction = zeroed();
            if libc::sigaction(sig, &sa, &mut old) != 0 {
                return Err(Fail(format!("sigaction({sig}): errno {}", sys::errno())));
            }
            Ok(Handler { sig, old })
        }
    }

    pub(crate) fn recording(sig: i32, flags: i32) -> Result<Handler, Fail> {
        Handler::install(sig, record as *const () as usize, flags | libc::SA_SIGINFO)
    }
}

impl Drop for Handler {
    fn drop(&mut self) {
        // SAFETY: restores the disposition saved by `install`.
        unsafe { libc::sigaction(self.sig, &self.old, std::ptr::null_mut()) };
    }
}

pub(crate) fn sigset(sigs: &[i32]) -> libc::sigset_t {
    // SAFETY: sigemptyset initializes the set; sigaddset only sets bits.
    unsafe {
        let mut set: libc::sigset_t = zeroed();
        libc::sigemptyset(&mut set);
        for &s in sigs {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Changes the signal mask; returns the previous one.
pub(crate) fn mask(how: i32, sigs: &[i32]) -> libc::sigset_t {
    let set = sigset(sigs);
    // SAFETY: both sets are valid.
    unsafe {
        let mut old: libc::sigset_t = zeroed();
        libc::pthread_sigmask(how, &set, &mut old);
        old
    }
}

pub(crate) fn set_mask(set: &libc::sigset_t) {
    // SAFETY: `set` is a valid sigset.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, set, std::ptr::null_mut()) };
}

pub(crate) fn is_member(set: &libc::sigset_t, sig: i32) -> bool {
    // SAFETY: `set` is a valid sigset.
    unsafe { libc::sigismember(set, sig) == 1 }
}

pub(crate) fn kill(pid: i32, sig: i32) -> i32 {
    // SAFETY: kill has no memory arguments.
    unsafe { libc::kill(pid, sig) }
}

pub(crate) fn getuid() -> i64 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() as i64 }
}
