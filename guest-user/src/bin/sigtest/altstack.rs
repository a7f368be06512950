//! `sigaltstack` as Linux defines it, on the raw system call (musl's wrapper checks the size
//! and SS_ONSTACK itself, so it would hide what the kernel does).

use std::hint::black_box;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering::SeqCst};

use guest_user::check::{pass, Check};
use guest_user::sys;
use guest_user::{ensure, fail};

use crate::handler::{kill, Handler};

const SS_ONSTACK: i32 = libc::SS_ONSTACK;
const SS_DISABLE: i32 = libc::SS_DISABLE;
const SS_AUTODISARM: i32 = 1 << 31;
const MINSIGSTKSZ: usize = 2048;

/// `stack_t` with the padding after `ss_flags` spelled out, so that it can hold garbage as in
/// a C program that fills in only the named fields.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct RawStack {
    sp: usize,
    flags: i32,
    pad: u32,
    size: usize,
}

fn raw_sigaltstack(ss: Option<&RawStack>, old: Option<&mut RawStack>) -> Result<(), i32> {
    let ss = ss.map_or(std::ptr::null(), |s| s as *const RawStack);
    let old = old.map_or(std::ptr::null_mut(), |o| o as *mut RawStack);
    // SAFETY: each pointer is null or a valid stack_t-sized buffer.
    let r = unsafe { libc::syscall(libc::SYS_sigaltstack, ss, old) };
    if r == 0 {
        Ok(())
    } else {
        Err(sys::errno())
    }
}

fn query() -> RawStack {
    let mut now = RawStack::default();
    let _ = raw_sigaltstack(None, Some(&mut now));
    now
}

/// The stack the check registers, for the handler to try to register again.
static STACK: [AtomicUsize; 2] = [const { AtomicUsize::new(0) }; 2];
/// What `probe` saw: the address of one of its locals, the `ss_flags` sigaltstack reported
/// there, and the errno of registering [`STACK`] again from inside (0: allowed).
static SEEN_AT: AtomicUsize = AtomicUsize::new(0);
static SEEN_FLAGS: AtomicI64 = AtomicI64::new(-1);
static SEEN_SET_ERRNO: AtomicI64 = AtomicI64::new(-1);

/// An SA_ONSTACK handler (async-signal-safe: atomics and system calls only).
extern "C" fn probe(_sig: i32) {
    let mut local = 0u8;
    SEEN_AT.store(black_box(&mut local) as *mut u8 as usize, SeqCst);
    SEEN_FLAGS.store(query().flags as i64, SeqCst);
    let again = RawStack {
        sp: STACK[0].load(SeqCst),
        flags: 0,
        pad: 0,
        size: STACK[1].load(SeqCst),
    };
    let errno = raw_sigaltstack(Some(&again), None).err().unwrap_or(0);
    SEEN_SET_ERRNO.store(errno as i64, SeqCst);
}

/// Validation (ENOMEM below MINSIGSTKSZ, EINVAL for unknown modes, the padding after
/// `ss_flags` ignored); an SA_ONSTACK handler runs on the stack, sees SS_ONSTACK and gets
/// EPERM changing it; with SS_AUTODISARM the handler sees it disabled and may change it, and
/// rt_sigreturn re-arms it; SS_DISABLE turns it off.
pub(crate) fn sigaltstack() -> Check {
    const SIZE: usize = 64 * 1024;
    let mut stack = vec![0u8; SIZE];
    let base = stack.as_mut_ptr() as usize;
    STACK[0].store(base, SeqCst);
    STACK[1].store(SIZE, SeqCst);
    let result = checks(base, SIZE);
    let off = RawStack {
        flags: SS_DISABLE,
        ..RawStack::default()
    };
    // Off before the memory is freed (a failed check may have left it on).
    let _ = raw_sigaltstack(Some(&off), None);
    drop(stack);
    result
}

fn checks(base: usize, size: usize) -> Check {
    let stack = |flags: i32, size: usize| RawStack {
        sp: base,
        flags,
        pad: 0xdead_beef,
        size,
    };
    for (ss, want, why) in [
        (stack(0, MINSIGSTKSZ - 1), libc::ENOMEM, "a 2047-byte stack"),
        (stack(4, size), libc::EINVAL, "ss_flags 4"),
        (
            stack(SS_AUTODISARM | 4, size),
            libc::EINVAL,
            "ss_flags 4 | SS_AUTODISARM",
        ),
    ] {
        let got = raw_sigaltstack(Some(&ss), None);
        ensure!(
            got == Err(want),
            "sigaltstack({why}): {got:?}, want errno {want}"
        );
    }
    if let Err(e) = raw_sigaltstack(Some(&stack(0, MINSIGSTKSZ)), None) {
        fail!("sigaltstack(MINSIGSTKSZ bytes, garbage padding): errno {e}");
    }
    let mut old = RawStack::default();
    if let Err(e) = raw_sigaltstack(Some(&stack(0, size)), Some(&mut old)) {
        fail!("sigaltstack({size} bytes): errno {e}");
    }
    ensure!(
        (old.sp, old.flags, old.size) == (base, 0, MINSIGSTKSZ),
        "old stack {old:?}, want the {MINSIGSTKSZ}-byte one at {base:#x}"
    );
    for (flags, name) in [(0, "armed"), (SS_AUTODISARM, "SS_AUTODISARM")] {
        if let Err(e) = raw_sigaltstack(Some(&stack(flags, size)), None) {
            fail!("sigaltstack({name}): errno {e}");
        }
        SEEN_AT.store(0, SeqCst);
        let h = Handler::install(libc::SIGUSR2, probe as *const () as usize, libc::SA_ONSTACK)?;
        kill(sys::getpid(), libc::SIGUSR2);
        drop(h);
        let at = SEEN_AT.load(SeqCst);
        ensure!(
            (base..base + size).contains(&at),
            "{name}: handler's stack at {at:#x}, alternate stack is {base:#x}..{:#x}",
            base + size
        );
        let (flags_inside, set_errno) = (SEEN_FLAGS.load(SeqCst), SEEN_SET_ERRNO.load(SeqCst));
        let want = if flags == 0 {
            (SS_ONSTACK, libc::EPERM)
        } else {
            (SS_DISABLE, 0)
        };
        ensure!(
            (flags_inside, set_errno) == (want.0 as i64, want.1 as i64),
            "{name}: inside the handler ss_flags {flags_inside:#x} and changing it gave errno \
             {set_errno}, want {:#x} and {}",
            want.0,
            want.1
        );
        let now = query();
        ensure!(
            (now.sp, now.flags, now.size) == (base, flags, size),
            "{name}: after the handler the stack is {now:?}, want it as set"
        );
    }
    if let Err(e) = raw_sigaltstack(Some(&stack(SS_DISABLE, 0)), None) {
        fail!("sigaltstack(SS_DISABLE): errno {e}");
    }
    let now = query();
    ensure!(
        (now.sp, now.flags, now.size) == (0, SS_DISABLE, 0),
        "after SS_DISABLE: {now:?}"
    );
    pass()
}
