//! Waiting for several files at once (Linux's fs/select.c): `poll`, `ppoll`, `select`,
//! `pselect6`.
//!
//! `do_poll` asks each file for its ready mask, registering on the wait queues the file names;
//! if nothing is ready it sleeps until one of those queues, a signal or the timeout wakes it,
//! then asks again.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use super::file::*;
use crate::arch::tsc;
use crate::kernel::errno::*;
use crate::kernel::task::{current, current_arc, TaskRef, TASK_INTERRUPTIBLE, TASK_RUNNING};
use crate::kernel::timer::Hrtimer;
use crate::mm::usercopy::{copy_from_user, copy_to_user, read_user, write_user};
use crate::sched::wait::{new_waiter_id, WaitQueue};

/// What each descriptor asks for and gets.
struct PollFd {
    fd: i32,
    events: u16,
    revents: u16,
}

/// Ready bits of one descriptor, registering its queues in `pt` if given.
fn poll_one(fd: i32, events: u16, pt: Option<&mut PollTable>) -> u16 {
    if fd < 0 {
        return 0;
    }
    // An O_PATH descriptor cannot be polled (`fdget`): POLLNVAL as for a closed one.
    let Ok(file) = super::read_write::fdget(fd as u64) else {
        return POLLNVAL;
    };
    // POLLERR and POLLHUP are reported whether asked for or not.
    file.ops.poll(&file, pt) & (events | POLLERR | POLLHUP)
}

/// A timer that wakes `task` from an interruptible sleep at `deadline` (ns since boot), if
/// there is one still ahead.
pub fn wakeup_timer(task: &TaskRef, deadline: Option<u64>) -> Option<Hrtimer> {
    deadline.filter(|&d| d > tsc::ns_since_boot()).map(|d| {
        let waker = task.clone();
        Hrtimer::start(d, move || {
            crate::sched::wake_up_state(&waker, TASK_INTERRUPTIBLE);
        })
    })
}

/// Poll until something is ready, a signal arrives, or `deadline` (ns since boot) passes.
/// `None` waits for ever; a deadline in the past polls once.
fn do_poll(fds: &mut [PollFd], deadline: Option<u64>) -> KResult<usize> {
    let task = current_arc();
    let timer = wakeup_timer(&task, deadline);
    let id = new_waiter_id();
    let mut queues: Vec<Arc<WaitQueue>> = Vec::new();
    let result = loop {
        let mut pt = PollTable::default();
        // Set the state before asking, so a wake-up after a "not ready" answer is kept.
        task.state.store(TASK_INTERRUPTIBLE, Ordering::SeqCst);
        let mut ready = 0;
        for p in fds.iter_mut() {
            p.revents = poll_one(p.fd, p.events, Some(&mut pt));
            if p.revents != 0 {
                ready += 1;
            }
        }
        for q in pt.queues {
            if !queues.iter().any(|have| Arc::ptr_eq(have, &q)) {
                queues.push(q);
            }
        }
        if ready > 0 {
            break Ok(ready);
        }
        if deadline.is_some_and(|d| tsc::ns_since_boot() >= d) {
            break Ok(0);
        }
        if crate::kernel::signal::signal_pending(&task) {
            break Err(ERESTARTNOHAND);
        }
        for q in &queues {
            q.add_poller(id);
        }
        // Asked again after queueing: a change between the first answer and the queueing
        // would otherwise wake nobody.
        if fds.iter().any(|p| poll_one(p.fd, p.events, None) != 0) {
            continue;
        }
        crate::sched::schedule();
    };
    task.state.store(TASK_RUNNING, Ordering::SeqCst);
    for q in &queues {
        q.remove(id);
    }
    if let Some(t) = timer {
        let _ = t.cancel();
    }
    result
}

fn read_pollfds(ufds: u64, nfds: u64) -> KResult<Vec<PollFd>> {
    if nfds > nofile_limit() as u64 {
        return Err(EINVAL);
    }
    let mut raw = alloc::vec![0u8; nfds as usize * 8];
    copy_from_user(&mut raw, ufds)?;
    Ok(raw
        .chunks(8)
        .map(|c| PollFd {
            fd: i32::from_le_bytes([c[0], c[1], c[2], c[3]]),
            events: u16::from_le_bytes([c[4], c[5]]),
            revents: 0,
        })
        .collect())
}

fn write_revents(ufds: u64, fds: &[PollFd]) -> KResult<()> {
    for (i, p) in fds.iter().enumerate() {
        write_user(ufds + i as u64 * 8 + 6, &p.revents)?;
    }
    Ok(())
}

/// A relative timeout in ns to an absolute deadline.
fn deadline_after(ns: u64) -> u64 {
    tsc::ns_since_boot().saturating_add(ns)
}

/// A timeout passed by pointer: a `timespec`, or for `select` a `timeval`.
pub(super) struct UserTimeout {
    addr: u64,
    timeval: bool,
    /// The timeout itself in ns (0: look once and return).
    ns: u64,
    /// When it ends, in ns since boot.
    pub(super) deadline: u64,
}

impl UserTimeout {
    /// Read the timeout at `addr` (none for a null pointer): `EINVAL` if it is negative or a
    /// timespec's nanoseconds are out of range (a timeval's microseconds may pass a second:
    /// select normalizes them); a huge one is as good as none.
    pub(super) fn read(addr: u64, timeval: bool) -> KResult<Option<UserTimeout>> {
        if addr == 0 {
            return Ok(None);
        }
        let t: [i64; 2] = read_user(addr)?;
        let ns_per_unit: u64 = if timeval { 1000 } else { 1 };
        if t[0] < 0 || t[1] < 0 || (!timeval && t[1] >= 1_000_000_000) {
            return Err(EINVAL);
        }
        let ns = (t[0] as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add((t[1] as u64).saturating_mul(ns_per_unit));
        Ok(Some(UserTimeout {
            addr,
            timeval,
            ns,
            deadline: deadline_after(ns),
        }))
    }

    /// Tell the caller how much of the timeout was not slept, as Linux does for select,
    /// pselect6 and ppoll (`poll_select_finish`): not for a zero timeout, and a timeout in
    /// read-only memory is left as it is.
    fn write_remaining(&self) {
        if self.ns == 0 {
            return;
        }
        let left = self.deadline.saturating_sub(tsc::ns_since_boot());
        let frac = (left % 1_000_000_000) as i64;
        let t = [
            (left / 1_000_000_000) as i64,
            if self.timeval { frac / 1000 } else { frac },
        ];
        let _ = write_user(self.addr, &t);
    }
}

pub fn sys_poll(ufds: u64, nfds: u64, timeout_ms: i64) -> KResult<i64> {
    let mut fds = read_pollfds(ufds, nfds)?;
    // The timeout is a C int: only the low 32 bits count, and a negative one waits for ever.
    let timeout_ms = timeout_ms as i32;
    let deadline = (timeout_ms >= 0).then(|| deadline_after(timeout_ms as u64 * 1_000_000));
    // Interrupted, poll is EINTR if a handler runs and is restarted if not (a stop and
    // continue), like select. Linux restarts it with what is left of the timeout through a
    // restart block; without one a restarted poll waits its whole timeout again.
    let n = do_poll(&mut fds, deadline)?;
    write_revents(ufds, &fds)?;
    Ok(n as i64)
}

/// Install `sigmask` for the duration of the call (`set_user_sigmask`); the old mask comes
/// back on return unless a signal handler must run with it (`restore_saved_sigmask`).
fn with_sigmask<T>(sigmask: u64, f: impl FnOnce() -> KResult<T>) -> KResult<T> {
    if sigmask == 0 {
        return f();
    }
    let mask: u64 = read_user(sigmask)?;
    crate::kernel::signal::set_temporary_mask(mask);
    let r = f();
    crate::kernel::signal::restore_temporary_mask(matches!(r, Err(ERESTARTNOHAND)));
    r
}

pub fn sys_ppoll(ufds: u64, nfds: u64, tsp: u64, sigmask: u64, sigsetsize: u64) -> KResult<i64> {
    if sigmask != 0 && sigsetsize != 8 {
        return Err(EINVAL);
    }
    let mut fds = read_pollfds(ufds, nfds)?;
    let timeout = UserTimeout::read(tsp, false)?;
    let deadline = timeout.as_ref().map(|t| t.deadline);
    let r = with_sigmask(sigmask, || do_poll(&mut fds, deadline));
    if let Some(t) = &timeout {
        t.write_remaining();
    }
    let n = r?;
    write_revents(ufds, &fds)?;
    Ok(n as i64)
}

/// `select` on top of `do_poll`: bit sets in, bit sets out.
fn do_select(n: u64, inp: u64, outp: u64, exp: u64, deadline: Option<u64>) -> KResult<i64> {
    // `n` is a C int; bits past the end of the descriptor table are ignored, not an error
    // (`core_sys_select`), so a program may pass more than FD_SETSIZE.
    let n = n as i32;
    if n < 0 {
        return Err(EINVAL);
    }
    let n = (n as u64).min(current().files().lock().max_fds() as u64);
    let bytes = n.div_ceil(64) as usize * 8;
    let read_set = |addr: u64| -> KResult<Vec<u8>> {
        let mut v = alloc::vec![0u8; bytes];
        if addr != 0 {
            copy_from_user(&mut v, addr)?;
        }
        Ok(v)
    };
    let sets = [read_set(inp)?, read_set(outp)?, read_set(exp)?];
    let bit = |set: &[u8], fd: u64| set[(fd / 8) as usize] & (1 << (fd % 8)) != 0;
    const IN: u16 = POLLIN | POLLRDNORM | POLLHUP | POLLERR;
    const OUT: u16 = POLLOUT | POLLWRNORM | POLLERR;
    const EX: u16 = POLLPRI;
    let mut fds = Vec::new();
    for fd in 0..n {
        let mut events = 0;
        if bit(&sets[0], fd) {
            events |= IN;
        }
        if bit(&sets[1], fd) {
            events |= OUT;
        }
        if bit(&sets[2], fd) {
            events |= EX;
        }
        if events != 0 {
            super::read_write::fdget(fd)?;
            fds.push(PollFd {
                fd: fd as i32,
                events,
                revents: 0,
            });
        }
    }
    do_poll(&mut fds, deadline)?;
    let mut out = [
        alloc::vec![0u8; bytes],
        alloc::vec![0u8; bytes],
        alloc::vec![0u8; bytes],
    ];
    let mut count = 0;
    for p in &fds {
        let fd = p.fd as usize;
        for (i, mask) in [IN, OUT, EX].iter().enumerate() {
            if p.events & mask != 0 && p.revents & mask != 0 {
                out[i][fd / 8] |= 1 << (fd % 8);
                count += 1;
            }
        }
    }
    for (addr, set) in [inp, outp, exp].iter().zip(&out) {
        if *addr != 0 {
            copy_to_user(*addr, set)?;
        }
    }
    Ok(count)
}

pub fn sys_select(n: u64, inp: u64, outp: u64, exp: u64, tvp: u64) -> KResult<i64> {
    let timeout = UserTimeout::read(tvp, true)?;
    let r = do_select(n, inp, outp, exp, timeout.as_ref().map(|t| t.deadline));
    if let Some(t) = &timeout {
        t.write_remaining();
    }
    r
}

pub fn sys_pselect6(n: u64, inp: u64, outp: u64, exp: u64, tsp: u64, sig: u64) -> KResult<i64> {
    let timeout = UserTimeout::read(tsp, false)?;
    // The sixth argument points at { const sigset_t *ss; size_t ss_len; }.
    let sigmask = if sig != 0 {
        let pair: [u64; 2] = read_user(sig)?;
        if pair[0] != 0 && pair[1] != 8 {
            return Err(EINVAL);
        }
        pair[0]
    } else {
        0
    };
    let deadline = timeout.as_ref().map(|t| t.deadline);
    let r = with_sigmask(sigmask, || do_select(n, inp, outp, exp, deadline));
    if let Some(t) = &timeout {
        t.write_remaining();
    }
    r
}
