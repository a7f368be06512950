//! Holding every vCPU outside the guest for a moment (Linux's `stop_machine`): the host rewrites
//! guest kernel text (the function tracer's patch sites) only while no vCPU can be executing it.
//!
//! Each vCPU thread joins while it runs and checks [`StopMachine::park_if_requested`] between
//! two `KVM_RUN`s. [`StopMachine::run`] raises the request, kicks the threads out of `KVM_RUN`
//! with the same signal the VMM uses to stop them, waits until every one is parked, runs the
//! caller's function, and lets them go. Re-entering the guest after that is serializing, so a
//! vCPU sees the new instructions.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long [`StopMachine::run`] waits for the vCPUs before giving up.
const PARK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the vCPUs did not stop within {0:?}")]
pub struct StopTimeout(pub Duration);

#[derive(Default)]
struct State {
    /// The vCPU threads running the guest.
    threads: Vec<libc::pthread_t>,
    /// How many of them are parked.
    parked: usize,
}

#[derive(Default)]
pub struct StopMachine {
    requested: AtomicBool,
    state: Mutex<State>,
    changed: Condvar,
    /// One stop at a time.
    serial: Mutex<()>,
}

/// A vCPU thread's membership; leaving (on drop) lets a pending stop go ahead without it.
pub struct Member<'a> {
    machine: &'a StopMachine,
    thread: libc::pthread_t,
}

impl Drop for Member<'_> {
    fn drop(&mut self) {
        let mut s = self.machine.lock();
        s.threads.retain(|&t| t != self.thread);
        self.machine.changed.notify_all();
    }
}

impl StopMachine {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called by a vCPU thread before its first `KVM_RUN`.
    pub fn join(&self) -> Member<'_> {
        // SAFETY: pthread_self has no preconditions.
        let thread = unsafe { libc::pthread_self() };
        self.lock().threads.push(thread);
        Member {
            machine: self,
            thread,
        }
    }

    /// Called by a vCPU thread between two `KVM_RUN`s: waits while a stop is in progress.
    pub fn park_if_requested(&self) {
        if !self.requested.load(Ordering::SeqCst) {
            return;
        }
        let mut s = self.lock();
        s.parked += 1;
        self.changed.notify_all();
        while self.requested.load(Ordering::SeqCst) {
            s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        s.parked -= 1;
    }

    /// Runs `f` while every vCPU is parked outside the guest.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> Result<R, StopTimeout> {
        let _serial = self.serial.lock().unwrap_or_else(|e| e.into_inner());
        self.requested.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + PARK_TIMEOUT;
        let mut s = self.lock();
        while s.parked < s.threads.len() {
            if Instant::now() >= deadline {
                drop(s);
                self.release();
                return Err(StopTimeout(PARK_TIMEOUT));
            }
            for &t in &s.threads {
                // SAFETY: a registered thread is alive: it leaves (under this lock, which we
                // hold) before it ends. SIGRTMIN has the VMM's kick handler installed, which
                // only makes KVM_RUN return; a parked thread ignores it.
                unsafe { libc::pthread_kill(t, vmm_sys_util::signal::SIGRTMIN()) };
            }
            s = self
                .changed
                .wait_timeout(s, Duration::from_millis(1))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        drop(s);
        let r = f();
        self.release();
        Ok(r)
    }

    fn release(&self) {
        let _s = self.lock();
        self.requested.store(false, Ordering::SeqCst);
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    #[test]
    fn run_waits_until_every_member_is_parked() {
        let machine = Arc::new(StopMachine::default());
        let inside = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (m, inside, done, tx) =
                    (machine.clone(), inside.clone(), done.clone(), tx.clone());
                std::thread::spawn(move || {
                    let _member = m.join();
                    tx.send(()).unwrap();
                    // A stand-in for the vCPU loop: "run the guest", then check.
                    while !done.load(Ordering::SeqCst) {
                        inside.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_micros(50));
                        inside.fetch_sub(1, Ordering::SeqCst);
                        m.park_if_requested();
                    }
                })
            })
            .collect();
        rx.recv().unwrap();
        rx.recv().unwrap();
        // The kick signal needs a handler, as the VMM installs one.
        extern "C" fn ignore(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {}
        let _ =
            vmm_sys_util::signal::register_signal_handler(vmm_sys_util::signal::SIGRTMIN(), ignore);
        for _ in 0..20 {
            let seen = machine.run(|| inside.load(Ordering::SeqCst)).unwrap();
            assert_eq!(seen, 0, "a member was still running during the stop");
        }
        done.store(true, Ordering::SeqCst);
        for t in threads {
            t.join().unwrap();
        }
        // No members: a stop succeeds at once.
        assert_eq!(machine.run(|| 7), Ok(7));
    }
}
