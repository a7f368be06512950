//! Signals (Linux's kernel/signal.c): generation (`send_signal`, `kill`, `tgkill`), the
//! pending sets (per thread and per thread group), delivery on the way back to user mode
//! (`get_signal` → default action or a handler frame), group stop and continue.
//!
//! Rules kept from Linux: SIGKILL and SIGSTOP can't be caught, blocked or ignored; a fatal
//! signal kills the whole thread group; SIGCONT clears pending stops and vice versa; PID 1
//! gets only the signals it has a handler for.

use alloc::collections::VecDeque;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use spin::Mutex;

use crate::kernel::errno::*;
use crate::kernel::itimer::{CpuItimer, ItimerReal};
use crate::kernel::task::{
    current, current_arc, Pid, Task, TaskRef, TASK_INTERRUPTIBLE, TASK_STOPPED, TASK_WAKEKILL,
};
use crate::kernel::tasklist;
use crate::sched::wait::WaitQueue;

mod altstack;
mod deliver;
mod syscalls;

pub use altstack::*;
pub use deliver::exit_to_user_mode;
pub use syscalls::*;

pub const SIGHUP: u32 = 1;
pub const SIGQUIT: u32 = 3;
pub const SIGILL: u32 = 4;
pub const SIGTRAP: u32 = 5;
pub const SIGABRT: u32 = 6;
pub const SIGBUS: u32 = 7;
pub const SIGFPE: u32 = 8;
pub const SIGKILL: u32 = 9;
pub const SIGSEGV: u32 = 11;
pub const SIGPIPE: u32 = 13;
pub const SIGALRM: u32 = 14;
pub const SIGCHLD: u32 = 17;
pub const SIGCONT: u32 = 18;
pub const SIGSTOP: u32 = 19;
pub const SIGTSTP: u32 = 20;
pub const SIGTTIN: u32 = 21;
pub const SIGTTOU: u32 = 22;
pub const SIGURG: u32 = 23;
pub const SIGXCPU: u32 = 24;
pub const SIGXFSZ: u32 = 25;
pub const SIGVTALRM: u32 = 26;
pub const SIGPROF: u32 = 27;
pub const SIGWINCH: u32 = 28;
pub const SIGSYS: u32 = 31;
pub const NSIG: usize = 64;

pub const SIG_DFL: u64 = 0;
pub const SIG_IGN: u64 = 1;
pub const SA_NOCLDSTOP: u64 = 0x1;
pub const SA_NOCLDWAIT: u64 = 0x2;
pub const SA_SIGINFO: u64 = 0x4;
pub const SA_RESTORER: u64 = 0x0400_0000;
pub const SA_ONSTACK: u64 = 0x0800_0000;
pub const SA_RESTART: u64 = 0x1000_0000;
pub const SA_NODEFER: u64 = 0x4000_0000;
pub const SA_RESETHAND: u64 = 0x8000_0000;

// si_code values.
pub const SI_USER: i32 = 0;
pub const SI_KERNEL: i32 = 0x80;
pub const SI_TKILL: i32 = -6;
pub const CLD_EXITED: i32 = 1;
pub const CLD_KILLED: i32 = 2;
pub const CLD_DUMPED: i32 = 3;
pub const CLD_STOPPED: i32 = 5;
pub const CLD_CONTINUED: i32 = 6;

pub const fn sigmask(sig: u32) -> u64 {
    1 << (sig - 1)
}

pub(super) const UNBLOCKABLE: u64 = sigmask(SIGKILL) | sigmask(SIGSTOP);
pub(super) const STOP_MASK: u64 =
    sigmask(SIGSTOP) | sigmask(SIGTSTP) | sigmask(SIGTTIN) | sigmask(SIGTTOU);
pub(super) const IGNORE_MASK: u64 =
    sigmask(SIGCHLD) | sigmask(SIGURG) | sigmask(SIGWINCH) | sigmask(SIGCONT);
pub(super) const COREDUMP_MASK: u64 = sigmask(SIGQUIT)
    | sigmask(SIGILL)
    | sigmask(SIGTRAP)
    | sigmask(SIGABRT)
    | sigmask(SIGBUS)
    | sigmask(SIGFPE)
    | sigmask(SIGSEGV)
    | sigmask(SIGXCPU)
    | sigmask(SIGXFSZ)
    | sigmask(SIGSYS);

/// `struct sigaction` as the x86_64 kernel ABI lays it out.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

/// What the kernel knows about one queued signal (becomes a `siginfo_t`).
#[derive(Clone, Copy, Default, Debug)]
pub struct KSigInfo {
    pub signo: u32,
    pub code: i32,
    pub errno: i32,
    pub pid: Pid,
    pub uid: u32,
    /// SIGSEGV/SIGBUS address, or SIGCHLD exit status, or sigqueue value.
    pub addr: u64,
    pub status: i32,
    pub utime: u64,
    pub stime: u64,
}

impl KSigInfo {
    pub fn user(sig: u32, code: i32) -> Self {
        let me = current();
        KSigInfo {
            signo: sig,
            code,
            pid: me.tgid,
            ..Default::default()
        }
    }

    pub fn kernel(sig: u32) -> Self {
        KSigInfo {
            signo: sig,
            code: SI_KERNEL,
            ..Default::default()
        }
    }

    /// The 128-byte `siginfo_t` (x86_64 layout).
    pub fn to_user(self) -> [u8; 128] {
        let mut b = [0u8; 128];
        b[0..4].copy_from_slice(&(self.signo as i32).to_le_bytes());
        b[4..8].copy_from_slice(&self.errno.to_le_bytes());
        b[8..12].copy_from_slice(&self.code.to_le_bytes());
        match self.signo {
            SIGSEGV | SIGBUS | SIGILL | SIGFPE | SIGTRAP if self.code > 0 => {
                b[16..24].copy_from_slice(&self.addr.to_le_bytes());
            }
            SIGCHLD => {
                b[16..20].copy_from_slice(&self.pid.to_le_bytes());
                b[20..24].copy_from_slice(&self.uid.to_le_bytes());
                b[24..28].copy_from_slice(&self.status.to_le_bytes());
                b[32..40].copy_from_slice(&self.utime.to_le_bytes());
                b[40..48].copy_from_slice(&self.stime.to_le_bytes());
            }
            _ => {
                b[16..20].copy_from_slice(&self.pid.to_le_bytes());
                b[20..24].copy_from_slice(&self.uid.to_le_bytes());
                b[24..32].copy_from_slice(&self.addr.to_le_bytes());
            }
        }
        b
    }
}

/// Signal dispositions, shared by threads created with CLONE_SIGHAND.
#[derive(Clone)]
pub struct SigHand {
    pub actions: [SigAction; NSIG],
}

impl Default for SigHand {
    fn default() -> Self {
        SigHand {
            actions: [SigAction::default(); NSIG],
        }
    }
}

/// A pending set: the bits plus the queued details (several for real-time signals).
#[derive(Default)]
pub struct SigPending {
    pub set: u64,
    pub queue: VecDeque<KSigInfo>,
    /// The blocked mask (used in the per-thread instance only).
    pub blocked: u64,
    /// Mask to restore after a handler run by `rt_sigsuspend` / `ppoll`.
    pub saved_mask: Option<u64>,
    /// Signals `rt_sigtimedwait` unblocked only to be woken by them: still not to be ignored
    /// or treated as fatal (`real_blocked`).
    pub real_blocked: u64,
}

impl SigPending {
    pub(super) fn add(&mut self, info: KSigInfo) {
        let sig = info.signo;
        // Standard signals don't queue: one pending instance at most.
        if sig < 32 && self.set & sigmask(sig) != 0 {
            return;
        }
        self.set |= sigmask(sig);
        self.queue.push_back(info);
    }

    pub(super) fn remove_mask(&mut self, mask: u64) {
        self.set &= !mask;
        self.queue.retain(|i| mask & sigmask(i.signo) == 0);
    }

    /// Take the lowest deliverable signal (synchronous fault signals first).
    pub(super) fn dequeue(&mut self, blocked: u64) -> Option<KSigInfo> {
        let ready = self.set & !blocked;
        if ready == 0 {
            return None;
        }
        let sync = ready
            & (sigmask(SIGSEGV)
                | sigmask(SIGBUS)
                | sigmask(SIGILL)
                | sigmask(SIGTRAP)
                | sigmask(SIGFPE)
                | sigmask(SIGSYS));
        let pick = if sync != 0 { sync } else { ready };
        let sig = pick.trailing_zeros() + 1;
        let idx = self.queue.iter().position(|i| i.signo == sig);
        let info = idx
            .and_then(|i| self.queue.remove(i))
            .unwrap_or(KSigInfo::kernel(sig));
        if !self.queue.iter().any(|i| i.signo == sig) {
            self.set &= !sigmask(sig);
        }
        Some(info)
    }
}

/// Group stop and continue bookkeeping, also read by `wait`.
#[derive(Default)]
pub struct GroupStop {
    pub stopped: bool,
    pub stop_sig: u32,
    /// For the parent's wait: a stop or continue not yet reported.
    pub report_stopped: bool,
    pub report_continued: bool,
}

/// Thread-group-wide state (Linux's `signal_struct`).
pub struct SignalStruct {
    pub shared_pending: Mutex<SigPending>,
    /// Set once the group is dying (`SIGNAL_GROUP_EXIT`), with the wait status to report.
    pub group_exit: Mutex<Option<i32>>,
    pub group_stop: Mutex<GroupStop>,
    /// Parent processes sleep here in `wait4`, until `chld_events` moves.
    pub wait_chldexit: WaitQueue,
    pub chld_events: AtomicU64,
    /// Threads not yet exited.
    pub live: AtomicUsize,
    pub rlim: Mutex<[[u64; 2]; 16]>,
    pub is_child_subreaper: AtomicBool,
    /// CPU time of reaped children (ns), for times() and getrusage(RUSAGE_CHILDREN).
    pub cutime: AtomicU64,
    pub cstime: AtomicU64,
    /// Peak RSS in pages of this group's address spaces once released (`maxrss`), and the
    /// largest of its reaped children's (`cmaxrss`), for getrusage's ru_maxrss.
    pub maxrss: AtomicU64,
    pub cmaxrss: AtomicU64,
    /// CPU time of exited threads of this group (ns).
    pub dead_utime: AtomicU64,
    pub dead_stime: AtomicU64,
    /// Exact runtime of exited threads (ns, `sum_sched_runtime`), and the group's last
    /// reported utime/stime (`sched::cputime`).
    pub sum_sched_runtime: AtomicU64,
    pub prev_cputime: Mutex<crate::sched::cputime::PrevCputime>,
    /// PID 1: default actions don't apply (SIGNAL_UNKILLABLE).
    pub unkillable: AtomicBool,
    /// `/proc/<pid>/oom_score_adj`: -1000 (never chosen) ..= 1000; inherited by fork.
    pub oom_score_adj: core::sync::atomic::AtomicI32,
    /// An execve is killing the other threads (`group_exec_task`).
    pub group_exec: AtomicBool,
    /// ITIMER_REAL (`real_timer`, `it_real_incr`).
    pub real_timer: Mutex<ItimerReal>,
    /// ITIMER_PROF and ITIMER_VIRTUAL (`it[CPUCLOCK_PROF]`, `it[CPUCLOCK_VIRT]`), and whether
    /// either is armed, so that the tick looks no further for most processes.
    pub it: Mutex<[CpuItimer; 2]>,
    pub it_cpu_armed: AtomicBool,
    /// The console is this process's controlling terminal (Linux's `signal->tty`; there is
    /// one terminal). Inherited by fork, dropped by setsid (`drivers::tty::tty_jobctrl`).
    pub tty: AtomicBool,
}

pub const RLIM_INFINITY: u64 = u64::MAX;
pub const RLIMIT_STACK: usize = 3;
pub const RLIMIT_NPROC: usize = 6;
pub const RLIMIT_NOFILE: usize = 7;

impl SignalStruct {
    pub fn new(rlim: [[u64; 2]; 16]) -> Self {
        SignalStruct {
            shared_pending: Mutex::new(SigPending::default()),
            group_exit: Mutex::new(None),
            group_stop: Mutex::new(GroupStop::default()),
            wait_chldexit: WaitQueue::new(),
            chld_events: AtomicU64::new(0),
            live: AtomicUsize::new(1),
            rlim: Mutex::new(rlim),
            is_child_subreaper: AtomicBool::new(false),
            cutime: AtomicU64::new(0),
            cstime: AtomicU64::new(0),
            maxrss: AtomicU64::new(0),
            cmaxrss: AtomicU64::new(0),
            dead_utime: AtomicU64::new(0),
            dead_stime: AtomicU64::new(0),
            sum_sched_runtime: AtomicU64::new(0),
            prev_cputime: Mutex::new(Default::default()),
            unkillable: AtomicBool::new(false),
            oom_score_adj: core::sync::atomic::AtomicI32::new(0),
            group_exec: AtomicBool::new(false),
            real_timer: Mutex::new(ItimerReal::default()),
            it: Mutex::new([CpuItimer::default(); 2]),
            it_cpu_armed: AtomicBool::new(false),
            tty: AtomicBool::new(false),
        }
    }

    /// Linux's boot-time limits (init_task's rlimits).
    pub fn default_rlimits() -> [[u64; 2]; 16] {
        let mut r = [[RLIM_INFINITY; 2]; 16];
        r[RLIMIT_STACK] = [8 << 20, RLIM_INFINITY];
        r[RLIMIT_NOFILE] = [1024, 4096];
        r[RLIMIT_NPROC] = [7823, 7823];
        r[8] = [8 << 20, 8 << 20]; // MEMLOCK
        r[11] = [7823, 7823]; // SIGPENDING
        r[12] = [819200, 819200]; // MSGQUEUE
        r[13] = [0, 0]; // NICE
        r[14] = [0, 0]; // RTPRIO
        r[4] = [0, RLIM_INFINITY]; // CORE
        r
    }

    /// A child stopped, continued or exited: wake `wait4` sleepers.
    pub fn child_event(&self) {
        self.chld_events.fetch_add(1, Ordering::AcqRel);
        self.wait_chldexit.wake_up_all();
    }

    pub fn group_exiting(&self) -> bool {
        self.group_exit.lock().is_some()
    }
}

pub(super) fn default_ignored(sig: u32) -> bool {
    IGNORE_MASK & sigmask(sig) != 0
}

/// Is `sig` going to be dropped by `t` right now (`sig_ignored`)?
fn sig_ignored(t: &Task, sig: u32) -> bool {
    let p = t.pending.lock();
    if (p.blocked | p.real_blocked) & sigmask(sig) != 0 {
        return false;
    }
    drop(p);
    let handler = t.sighand().lock().actions[sig as usize - 1].handler;
    handler == SIG_IGN
        || (handler == SIG_DFL && default_ignored(sig))
        // PID 1 gets only the signals it handles, SIGKILL included (SIGNAL_UNKILLABLE).
        || (handler == SIG_DFL && t.signal.unkillable.load(Ordering::Relaxed))
}

/// Whether `t` has a signal it should act on (`signal_pending`).
pub fn signal_pending(t: &Task) -> bool {
    t.sigpending.load(Ordering::Acquire)
}

/// Whether a sleep in `state` should be interrupted (`signal_pending_state`).
pub fn signal_pending_state(state: u32, t: &Task) -> bool {
    if state & (TASK_INTERRUPTIBLE | TASK_WAKEKILL) == 0 || !signal_pending(t) {
        return false;
    }
    state & TASK_INTERRUPTIBLE != 0 || fatal_signal_pending(t)
}

pub fn fatal_signal_pending(t: &Task) -> bool {
    t.pending.lock().set & sigmask(SIGKILL) != 0
}

/// Recompute `t`'s pending hint (`recalc_sigpending`).
pub fn recalc_sigpending(t: &Task) {
    let p = t.pending.lock();
    let shared = t.signal.shared_pending.lock().set;
    let stop = t.signal.group_stop.lock().stopped;
    let on = (p.set | shared) & !p.blocked != 0 || (stop && !t.is_kthread());
    t.sigpending.store(on, Ordering::Release);
}

/// Tell `t` it has a signal: set the hint and wake it from an interruptible sleep (or any
/// killable sleep / stop if `fatal`), or kick its CPU so it notices on the way to user mode.
pub(super) fn signal_wake_up(t: &TaskRef, fatal: bool) {
    t.sigpending.store(true, Ordering::Release);
    let mask = if fatal {
        TASK_INTERRUPTIBLE | TASK_WAKEKILL | TASK_STOPPED
    } else {
        TASK_INTERRUPTIBLE
    };
    if !crate::sched::try_to_wake_up(t, mask) {
        crate::sched::kick_process(t);
    }
}

/// Kill one thread without taking down its group (execve's `zap_other_threads`).
pub fn zap_thread(t: &TaskRef) {
    t.pending.lock().add(KSigInfo::kernel(SIGKILL));
    signal_wake_up(t, true);
}

/// Stop-signal and SIGCONT side effects at generation time (`prepare_signal`).
fn prepare_signal(t: &Task, sig: u32, threads: &[TaskRef]) {
    if STOP_MASK & sigmask(sig) != 0 {
        t.signal.shared_pending.lock().remove_mask(sigmask(SIGCONT));
        for th in threads {
            th.pending.lock().remove_mask(sigmask(SIGCONT));
        }
    } else if sig == SIGCONT {
        t.signal.shared_pending.lock().remove_mask(STOP_MASK);
        for th in threads {
            th.pending.lock().remove_mask(STOP_MASK);
        }
        let was_stopped = {
            let mut gs = t.signal.group_stop.lock();
            let was = gs.stopped;
            if was {
                gs.stopped = false;
                gs.report_continued = true;
                gs.report_stopped = false;
            }
            was
        };
        for th in threads {
            crate::sched::try_to_wake_up(th, TASK_STOPPED);
        }
        if was_stopped {
            // Tell the parent, like do_notify_parent_cldstop(CLD_CONTINUED).
            if let Some(leader) = threads.first() {
                tasklist::notify_parent_cldstop(leader, CLD_CONTINUED, SIGCONT);
            }
        }
    }
}

/// Generate `info.signo` for `t`: the whole thread group when `group`, else the thread only.
pub fn send_signal(t: &TaskRef, info: KSigInfo, group: bool) {
    let sig = info.signo;
    if sig == 0 || sig as usize > NSIG {
        return;
    }
    let threads = tasklist::thread_group(t);
    prepare_signal(t, sig, &threads);
    let ignored = sig_ignored(t, sig);
    // Linux's TRACE_SIGNAL_DELIVERED (0) and TRACE_SIGNAL_IGNORED (1).
    crate::trace::trace_signal_generate(sig, info.errno, info.code, t, group, ignored as i32);
    if ignored {
        return;
    }
    if group {
        t.signal.shared_pending.lock().add(info);
    } else {
        t.pending.lock().add(info);
    }
    // A fatal signal takes down the whole group at once (complete_signal).
    let handler = t.sighand().lock().actions[sig as usize - 1].handler;
    let blocked = {
        let p = t.pending.lock();
        (p.blocked | p.real_blocked) & sigmask(sig) != 0
    };
    let fatal = sig == SIGKILL
        || (handler == SIG_DFL
            && !blocked
            && !default_ignored(sig)
            && STOP_MASK & sigmask(sig) == 0
            && !t.signal.unkillable.load(Ordering::Relaxed));
    if fatal {
        {
            let mut ge = t.signal.group_exit.lock();
            if ge.is_none() {
                let core = if COREDUMP_MASK & sigmask(sig) != 0 {
                    0x80
                } else {
                    0
                };
                *ge = Some(sig as i32 | core);
            }
        }
        for th in &threads {
            th.pending.lock().add(KSigInfo::kernel(SIGKILL));
            signal_wake_up(th, true);
        }
        return;
    }
    if group {
        // Wake a thread that doesn't block it; the target if it can take it.
        let pick = core::iter::once(t)
            .chain(threads.iter())
            .find(|th| th.pending.lock().blocked & sigmask(sig) == 0);
        for th in &threads {
            recalc_sigpending(th);
        }
        if let Some(th) = pick {
            signal_wake_up(th, sig == SIGKILL);
        }
    } else {
        recalc_sigpending(t);
        if t.sigpending.load(Ordering::Acquire) {
            signal_wake_up(t, false);
        }
    }
}

/// Take the next signal not in `blocked`, the thread's own before the group's
/// (`dequeue_signal`). A SIGALRM starts an interval ITIMER_REAL again.
pub(super) fn dequeue_signal(t: &Task, blocked: u64) -> Option<KSigInfo> {
    let info = {
        let mut p = t.pending.lock();
        p.dequeue(blocked)
            .or_else(|| t.signal.shared_pending.lock().dequeue(blocked))
    };
    if info.is_some_and(|i| i.signo == SIGALRM) {
        crate::kernel::itimer::it_real_rearm(t);
    }
    info
}

/// A synchronous fault signal for the current thread (`force_sig_fault`): it can't be
/// ignored or blocked; if it is, the default action applies.
pub fn force_sig_fault(sig: u32, code: i32, addr: u64) {
    let t = current_arc();
    {
        let sh = t.sighand();
        let mut sh = sh.lock();
        let blocked = t.pending.lock().blocked & sigmask(sig) != 0;
        let a = &mut sh.actions[sig as usize - 1];
        if a.handler == SIG_IGN || blocked {
            a.handler = SIG_DFL;
        }
        t.pending.lock().blocked &= !sigmask(sig);
    }
    // Even PID 1 dies of a fault it can't handle.
    t.signal.unkillable.store(false, Ordering::Relaxed);
    let info = KSigInfo {
        signo: sig,
        code,
        addr,
        ..Default::default()
    };
    t.pending.lock().add(info);
    recalc_sigpending(&t);
}
