//! The task structure (Linux's `task_struct`) and `current`.
//!
//! Tasks are shared (`TaskRef`) between the run queues, the PID table and whoever looks at
//! them (wait, kill, /proc). Fields are immutable after creation, atomics, or behind the lock
//! named next to them. Family links (parent, children, thread group) live in the task list
//! (`kernel::pid`), under its lock, like Linux's `tasklist_lock`.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use spin::Mutex;

use crate::arch::process::ThreadStruct;
use crate::fs::file::FdTable;
use crate::kernel::signal::{SigHand, SigPending, SignalStruct};
use crate::mm::MmRef;
use crate::sched::SchedEntity;

pub type Pid = i32;

crate::kmem_cache_allocator!(
    /// The `task_struct` cache (Linux's `task_struct_cachep`).
    TaskStructCachep,
    TASK_STRUCT_CACHEP,
    "task_struct",
    crate::mm::slub::SLAB_HWCACHE_ALIGN
);

/// A task as the run queues, the PID table and everyone else hold it.
pub type TaskRef = Arc<Task, TaskStructCachep>;

pub const KERNEL_STACK_ORDER: usize = 2; // 16 KiB
pub const KERNEL_STACK_SIZE: u64 = 4096 << KERNEL_STACK_ORDER;
pub const TASK_COMM_LEN: usize = 16;

// Task states (`__state`), Linux's values.
pub const TASK_RUNNING: u32 = 0x0000;
pub const TASK_INTERRUPTIBLE: u32 = 0x0001;
pub const TASK_UNINTERRUPTIBLE: u32 = 0x0002;
pub const __TASK_STOPPED: u32 = 0x0004;
pub const __TASK_TRACED: u32 = 0x0008;
/// Parked by `kthread_park`: only `kthread_unpark` wakes it.
pub const TASK_PARKED: u32 = 0x0040;
pub const TASK_DEAD: u32 = 0x0080;
pub const TASK_WAKEKILL: u32 = 0x0100;
pub const TASK_NOLOAD: u32 = 0x0400;
pub const TASK_STOPPED: u32 = TASK_WAKEKILL | __TASK_STOPPED;
pub const TASK_IDLE: u32 = TASK_UNINTERRUPTIBLE | TASK_NOLOAD;
pub const TASK_NORMAL: u32 = TASK_INTERRUPTIBLE | TASK_UNINTERRUPTIBLE;
// `exit_state`.
pub const EXIT_ZOMBIE: u32 = 0x0020;
pub const EXIT_DEAD: u32 = 0x0010;

// `flags` (PF_*).
pub const PF_IDLE: u32 = 0x0000_0002;
pub const PF_EXITING: u32 = 0x0000_0004;
/// A workqueue worker (`kworker/*`): the scheduler reports its sleeps and wake-ups to the pool.
pub const PF_WQ_WORKER: u32 = 0x0000_0020;
pub const PF_FORKNOEXEC: u32 = 0x0000_0040;
pub const PF_KTHREAD: u32 = 0x0020_0000;
/// Bound to its CPU by the kernel: `sched_setaffinity` may not move it (`kthread_bind`).
pub const PF_NO_SETAFFINITY: u32 = 0x0400_0000;

/// Per-process filesystem context (`fs_struct`), shared under CLONE_FS.
#[derive(Clone)]
pub struct FsStruct {
    pub root: crate::fs::namespace::Path,
    pub pwd: crate::fs::namespace::Path,
    pub umask: u32,
}

/// Credentials (`cred`): we are all root until the VFS checks permissions.
#[derive(Clone, Copy, Default)]
pub struct Cred {
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
}

/// `comm`, readable without a lock (tracepoints read it from any context, as Linux's do): two
/// words, so a reader racing a rename may see half of each name, as on Linux. The host's
/// tracer reads this type as a string (`abi::trace::COMM_TYPE_NAME`).
pub struct TaskComm([AtomicU64; 2]);

impl TaskComm {
    pub fn new(comm: [u8; TASK_COMM_LEN]) -> TaskComm {
        let word = |i: usize| u64::from_le_bytes(comm[i * 8..i * 8 + 8].try_into().unwrap());
        TaskComm([AtomicU64::new(word(0)), AtomicU64::new(word(1))])
    }

    pub fn get(&self) -> [u8; TASK_COMM_LEN] {
        let mut comm = [0u8; TASK_COMM_LEN];
        comm[..8].copy_from_slice(&self.0[0].load(Ordering::Relaxed).to_le_bytes());
        comm[8..].copy_from_slice(&self.0[1].load(Ordering::Relaxed).to_le_bytes());
        comm
    }

    pub fn set(&self, comm: [u8; TASK_COMM_LEN]) {
        let word = |i: usize| u64::from_le_bytes(comm[i * 8..i * 8 + 8].try_into().unwrap());
        self.0[0].store(word(0), Ordering::Relaxed);
        self.0[1].store(word(1), Ordering::Relaxed);
    }
}

/// A task's `prio` kept beside its pid in one word, `pid | prio << 32`: the scheduler
/// tracepoints copy both fields (Linux's `pid`, `prio` pairs) with one load and one store.
pub struct PidPrio(AtomicU64);

impl PidPrio {
    pub const fn new(pid: Pid, prio: i32) -> Self {
        PidPrio(AtomicU64::new(Self::word(pid, prio)))
    }

    const fn word(pid: Pid, prio: i32) -> u64 {
        pid as u32 as u64 | (prio as u32 as u64) << 32
    }

    pub fn load(&self, order: Ordering) -> i32 {
        (self.0.load(order) >> 32) as i32
    }

    /// Only the prio changes (the pid is the task's for life).
    pub fn store(&self, prio: i32, order: Ordering) {
        let pid = self.0.load(Ordering::Relaxed) as u32 as Pid;
        self.0.store(Self::word(pid, prio), order);
    }

    /// Both, as the word `pid | prio << 32`.
    #[inline(always)]
    pub fn pair(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

pub struct Task {
    pub pid: Pid,
    /// Thread-group id: the leader's pid.
    pub tgid: Pid,
    /// `__state` (TASK_*); written by the task itself or by a waker holding `pi_lock`.
    pub state: AtomicU32,
    /// EXIT_ZOMBIE / EXIT_DEAD once exiting (written under the task-list lock).
    pub exit_state: AtomicU32,
    /// PF_* flags.
    pub flags: AtomicU32,
    /// The workqueue worker this task is, when PF_WQ_WORKER (Linux reaches it through
    /// `kthread_data`): an encoded pool and worker ID, 0 for none.
    pub worker_private: AtomicUsize,
    /// A kernel thread's `struct kthread` (park, stop, its CPU), set as it starts.
    pub kthread: spin::Once<Arc<crate::kernel::kthread::Kthread>>,
    /// Serializes wake-ups of this task (`pi_lock`).
    pub pi_lock: Mutex<()>,
    /// Set while a CPU runs this task or is still switching away from it.
    pub on_cpu: AtomicBool,
    /// Queued on a run queue (changed under that run queue's lock).
    pub on_rq: AtomicBool,
    /// The CPU whose run queue holds (or last held) this task.
    pub cpu: AtomicUsize,
    /// Set when the task should call `schedule()` at the next opportunity.
    pub need_resched: AtomicBool,
    /// Scheduling state; guarded by the lock of the run queue on `cpu`.
    pub se: Mutex<SchedEntity>,
    pub comm: TaskComm,
    pub cred: Mutex<Cred>,
    /// `cred.uid`, readable without the lock (tracepoint records carry it); written with it.
    pub uid: AtomicU32,
    /// The parent process's id (`real_parent->pid`), kept in step with the task list's entry
    /// (written under its lock) for readers that can't take it: the tracer.
    pub ppid: AtomicI32,
    /// The parent process's leader (Linux's `real_parent`), kept in step with `ppid`: only
    /// the tracer reads it, by address (`curtask->real_parent->comm`, range-checked reads), so
    /// it holds no reference and the kernel never follows it.
    pub real_parent: core::sync::atomic::AtomicPtr<Task>,
    /// Which CPUs' trace rings have described this task to the host's current session (a
    /// context switch to it then needs no `TaskInfo` record).
    pub described_in: crate::trace::DescribedIn,
    /// `se.prio()` (Linux's `prio`), kept in step by whoever changes the scheduling policy or
    /// nice value, for readers that can't take `se`'s lock: tracepoints.
    pub prio: PidPrio,
    /// The address space, holding one of its `mm_users` (given back by `mmput` at exit and
    /// exec); none for kernel threads.
    pub mm: Mutex<Option<MmRef>>,
    pub files: Mutex<Arc<Mutex<FdTable>>>,
    pub fs: Mutex<Arc<Mutex<FsStruct>>>,
    /// Signal dispositions, shared under CLONE_SIGHAND.
    pub sighand: Mutex<Arc<Mutex<SigHand>>>,
    /// Thread-group-wide signal state (shared pending set, group exit, rlimits, ...).
    pub signal: Arc<SignalStruct>,
    /// Set when a signal may need delivering (`TIF_SIGPENDING`); recomputed on delivery.
    pub sigpending: AtomicBool,
    /// This thread's pending signals and blocked mask.
    pub pending: Mutex<SigPending>,
    /// `sigaltstack`: [ss_sp, ss_flags, ss_size].
    pub altstack: Mutex<[u64; 3]>,
    pub exit_code: AtomicI32,
    /// Signal sent to the parent when this process exits (SIGCHLD, or 0 for threads).
    pub exit_signal: u32,
    pub clear_child_tid: AtomicU64,
    /// The user address of the thread's robust futex list head (`set_robust_list`), or 0.
    pub robust_list: AtomicU64,
    /// The I/O priority (`ioprio_set`; block/ioprio.rs), inherited by children.
    pub ioprio: AtomicU32,
    pub set_child_tid: AtomicU64,
    /// vfork: the parent waits on this until the child execs or exits.
    pub vfork_done: Mutex<Option<Arc<crate::sched::completion::Completion>>>,
    pub thread: ThreadStruct,
    /// Base of the kernel stack (2^KERNEL_STACK_ORDER pages from the buddy allocator).
    pub stack_base: u64,
    /// Boot-time and fork-time facts for /proc.
    pub start_time_ns: u64,
    /// Voluntary / involuntary context switches.
    pub nvcsw: AtomicU64,
    pub nivcsw: AtomicU64,
    /// What khungtaskd saw at its last look: the switch count and when it last changed.
    pub last_switch_count: AtomicU64,
    pub last_switch_time: AtomicU64,
    /// CPU time in user and system mode, in nanoseconds, as the tick charged it (each tick
    /// charges the runtime since the last to the mode it finds; `sched::scheduler_tick`).
    pub utime_ns: AtomicU64,
    pub stime_ns: AtomicU64,
    /// The utime/stime last reported for this thread (`sched::cputime`).
    pub prev_cputime: Mutex<crate::sched::cputime::PrevCputime>,
    /// Minor faults.
    pub min_flt: AtomicU64,
    /// Returns hooked by `kretfunc:` probes, innermost last.
    pub ret_stack: crate::trace::ftrace::RetStack,
}

impl Task {
    pub fn stack_top(&self) -> u64 {
        self.stack_base + KERNEL_STACK_SIZE
    }

    pub fn is_kthread(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & PF_KTHREAD != 0
    }

    pub fn is_idle(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & PF_IDLE != 0
    }

    pub fn is_group_leader(&self) -> bool {
        self.pid == self.tgid
    }

    pub fn set_comm(&self, name: &str) {
        let mut comm = [0u8; TASK_COMM_LEN];
        let bytes = name.as_bytes();
        let n = bytes.len().min(TASK_COMM_LEN - 1);
        comm[..n].copy_from_slice(&bytes[..n]);
        crate::trace::trace_task_rename(self, &comm);
        self.comm.set(comm);
        crate::trace::forget_task(self);
    }

    /// The command name (owned: it may change under us).
    pub fn comm(&self) -> alloc::string::String {
        let comm = self.comm.get();
        let end = comm.iter().position(|&b| b == 0).unwrap_or(TASK_COMM_LEN);
        alloc::string::String::from_utf8_lossy(&comm[..end]).into_owned()
    }

    pub fn state(&self) -> u32 {
        self.state.load(Ordering::Acquire)
    }

    /// The address space, as a reference that keeps the structure (`mm_count`), not its
    /// mappings: they go when the last user lets go, whoever else still looks.
    pub fn mm(&self) -> Option<MmRef> {
        self.mm.lock().clone()
    }

    /// The address space with a user reference (Linux's `get_task_mm`), for reading another
    /// task's memory: its mappings stay until the reference is dropped. None for kernel
    /// threads and once the task has let go of it (exit).
    pub fn get_task_mm(&self) -> Option<crate::mm::MmUser> {
        let mm = self.mm.lock();
        // Under the lock, the task's own user reference keeps `mm_users` above zero.
        mm.clone().map(crate::mm::MmUser::get)
    }

    pub fn files(&self) -> Arc<Mutex<FdTable>> {
        self.files.lock().clone()
    }

    pub fn fs(&self) -> Arc<Mutex<FsStruct>> {
        self.fs.lock().clone()
    }

    pub fn sighand(&self) -> Arc<Mutex<SigHand>> {
        self.sighand.lock().clone()
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        // Idle tasks run on their CPU's boot stack (and are never dropped anyway).
        if self.stack_base == 0 || self.is_idle() {
            return;
        }
        crate::trace::trace_sched_process_free(self);
        crate::mm::page_alloc::free_pages(
            crate::arch::virt_to_phys(self.stack_base),
            KERNEL_STACK_ORDER,
        );
    }
}

/// The running task on this CPU.
pub fn current() -> &'static Task {
    try_current().expect("no current task")
}

/// The running task, if the scheduler is up on this CPU.
#[inline]
pub fn try_current() -> Option<&'static Task> {
    let ptr = crate::arch::percpu::current_task() as *const Task;
    // SAFETY: the per-CPU current pointer is set by the scheduler to a task that its run queue
    // keeps alive until after the CPU has switched away from it; a `&'static` handed out here
    // is only used while this task runs on this CPU.
    unsafe { ptr.as_ref() }
}

/// `current` as an owned reference, for storing.
pub fn current_arc() -> TaskRef {
    let t = current();
    // SAFETY: every running task was created as a `TaskRef` and is kept alive by the run
    // queue (see try_current); incrementing the count and rebuilding the Arc from the same
    // pointer and allocator yields a new owned reference.
    unsafe {
        Arc::increment_strong_count_in(t as *const Task, TaskStructCachep);
        Arc::from_raw_in(t as *const Task, TaskStructCachep)
    }
}
