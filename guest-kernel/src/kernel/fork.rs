//! Process and thread creation (Linux's kernel/fork.c): `kernel_clone` → `copy_process`,
//! and the `fork`, `vfork`, `clone` and `clone3` system calls.
//!
//! What the child shares with its parent follows the CLONE_* flags; everything else is
//! copied. The address space is duplicated by `mm::dup_mmap`. The child first runs in
//! `ret_from_fork`, returning 0 to user mode through a copy of the parent's frame.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use spin::Mutex;

use crate::arch::entry::TrapFrame;
use crate::arch::process::{self, FpuState, ThreadStruct};
use crate::kernel::errno::*;
use crate::kernel::signal::{SigPending, SignalStruct, RLIMIT_NPROC, SIGCHLD};
use crate::kernel::task::*;
use crate::kernel::tasklist;
use crate::mm::usercopy::{read_user, write_user};
use crate::sched::completion::Completion;

pub const CSIGNAL: u64 = 0x0000_00ff;
pub const CLONE_VM: u64 = 0x0000_0100;
pub const CLONE_FS: u64 = 0x0000_0200;
pub const CLONE_FILES: u64 = 0x0000_0400;
pub const CLONE_SIGHAND: u64 = 0x0000_0800;
pub const CLONE_PIDFD: u64 = 0x0000_1000;
pub const CLONE_VFORK: u64 = 0x0000_4000;
pub const CLONE_PARENT: u64 = 0x0000_8000;
pub const CLONE_THREAD: u64 = 0x0001_0000;
pub const CLONE_NEWNS: u64 = 0x0002_0000;
pub const CLONE_SETTLS: u64 = 0x0008_0000;
pub const CLONE_PARENT_SETTID: u64 = 0x0010_0000;
pub const CLONE_CHILD_CLEARTID: u64 = 0x0020_0000;
pub const CLONE_DETACHED: u64 = 0x0040_0000;
pub const CLONE_UNTRACED: u64 = 0x0080_0000;
pub const CLONE_CHILD_SETTID: u64 = 0x0100_0000;
/// The namespace flags (CLONE_NEWCGROUP .. CLONE_NEWNET): not supported here.
const CLONE_NEW_ANY: u64 = 0x7e02_0080;
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Tasks created since boot (/proc/stat `processes`).
pub static TOTAL_FORKS: AtomicU64 = AtomicU64::new(0);

/// `struct kernel_clone_args`.
#[derive(Default, Clone, Copy)]
pub struct CloneArgs {
    pub flags: u64,
    pub exit_signal: u32,
    pub stack: u64,
    pub parent_tid: u64,
    pub child_tid: u64,
    pub tls: u64,
}

/// What a kernel thread runs.
pub struct KthreadStart {
    pub entry: extern "C" fn(usize) -> !,
    pub arg: usize,
}

/// The files and fs of kernel threads (`init_files`, `init_fs`).
fn kernel_files() -> Arc<Mutex<crate::fs::file::FdTable>> {
    static FILES: spin::Once<Arc<Mutex<crate::fs::file::FdTable>>> = spin::Once::new();
    FILES
        .call_once(|| Arc::new(Mutex::new(Default::default())))
        .clone()
}

pub fn kernel_fs() -> Arc<Mutex<FsStruct>> {
    static FS: spin::Once<Arc<Mutex<FsStruct>>> = spin::Once::new();
    FS.call_once(|| {
        let root = crate::fs::root();
        Arc::new(Mutex::new(FsStruct {
            pwd: root.clone(),
            root,
            umask: 0o022,
        }))
    })
    .clone()
}

/// A task that is nobody's copy: the idle tasks (`init_task` and each CPU's `swapper/N`).
pub fn new_idle_task(cpu: usize, stack_base: u64) -> TaskRef {
    let t = Arc::new_in(
        Task {
            pid: 0,
            tgid: 0,
            state: AtomicU32::new(TASK_RUNNING),
            exit_state: AtomicU32::new(0),
            flags: AtomicU32::new(PF_KTHREAD | PF_IDLE),
            worker_private: AtomicUsize::new(0),
            kthread: spin::Once::new(),
            pi_lock: Mutex::new(()),
            on_cpu: AtomicBool::new(true),
            on_rq: AtomicBool::new(false),
            cpu: AtomicUsize::new(cpu),
            need_resched: AtomicBool::new(false),
            se: Mutex::new(crate::sched::SchedEntity::new_fair(0)),
            comm: TaskComm::new([0; TASK_COMM_LEN]),
            cred: Mutex::new(Cred::default()),
            uid: AtomicU32::new(0),
            ppid: AtomicI32::new(0),
            real_parent: core::sync::atomic::AtomicPtr::new(core::ptr::null_mut()),
            described_in: crate::trace::DescribedIn::new(),
            prio: PidPrio::new(0, crate::sched::DEFAULT_PRIO),
            mm: Mutex::new(None),
            files: Mutex::new(kernel_files()),
            fs: Mutex::new(kernel_fs()),
            sighand: Mutex::new(Arc::new(Mutex::new(Default::default()))),
            signal: Arc::new(SignalStruct::new(SignalStruct::default_rlimits())),
            sigpending: AtomicBool::new(false),
            pending: Mutex::new(SigPending::default()),
            altstack: Mutex::new([0, 2, 0]),
            exit_code: AtomicI32::new(0),
            exit_signal: 0,
            clear_child_tid: AtomicU64::new(0),
            robust_list: AtomicU64::new(0),
            ioprio: AtomicU32::new(crate::block::ioprio::IOPRIO_DEFAULT),
            set_child_tid: AtomicU64::new(0),
            vfork_done: Mutex::new(None),
            thread: ThreadStruct::new(FpuState::init(), 0),
            stack_base,
            start_time_ns: 0,
            nvcsw: AtomicU64::new(0),
            nivcsw: AtomicU64::new(0),
            last_switch_count: AtomicU64::new(0),
            last_switch_time: AtomicU64::new(0),
            utime_ns: AtomicU64::new(0),
            stime_ns: AtomicU64::new(0),
            prev_cputime: Mutex::new(Default::default()),
            min_flt: AtomicU64::new(0),
            ret_stack: crate::trace::ftrace::RetStack::new(),
        },
        TaskStructCachep,
    );
    t.set_comm(&alloc::format!("swapper/{cpu}"));
    t
}

/// Check the flag combinations Linux rejects (`copy_process`).
pub fn check_clone_flags(flags: u64, parent: &Task) -> KResult<()> {
    if flags & CLONE_NEW_ANY != 0 || flags & CLONE_INTO_CGROUP != 0 {
        return Err(EINVAL);
    }
    if flags & (CLONE_NEWNS | CLONE_FS) == (CLONE_NEWNS | CLONE_FS) {
        return Err(EINVAL);
    }
    if flags & CLONE_THREAD != 0 && flags & CLONE_SIGHAND == 0 {
        return Err(EINVAL);
    }
    if flags & CLONE_SIGHAND != 0 && flags & CLONE_VM == 0 {
        return Err(EINVAL);
    }
    // Siblings of init would be orphans nobody can reap.
    if flags & CLONE_PARENT != 0 && parent.signal.unkillable.load(Ordering::Relaxed) {
        return Err(EINVAL);
    }
    if flags & CLONE_PIDFD != 0 && flags & CLONE_DETACHED != 0 {
        return Err(EINVAL);
    }
    Ok(())
}

/// Create a task as a copy of the current one (`copy_process`).
fn copy_process(
    args: &CloneArgs,
    frame: Option<&TrapFrame>,
    kthread: Option<KthreadStart>,
) -> KResult<TaskRef> {
    let flags = args.flags;
    let parent = current();
    check_clone_flags(flags, parent)?;

    // RLIMIT_NPROC, as Linux checks it: per user, root exempt.
    let cred = *parent.cred.lock();
    if cred.uid != 0 && kthread.is_none() {
        let limit = parent.signal.rlim.lock()[RLIMIT_NPROC][0];
        if tasklist::lock().nr_tasks_of_uid(cred.uid) as u64 >= limit {
            return Err(EAGAIN);
        }
    }

    let stack_phys =
        crate::mm::page_alloc::alloc_pages(crate::mm::gfp::GFP_KERNEL, KERNEL_STACK_ORDER)
            .ok_or(ENOMEM)?;
    let stack_base = crate::arch::phys_to_virt(stack_phys);

    let mm = if kthread.is_some() {
        None
    } else if flags & CLONE_VM != 0 {
        parent.mm()
    } else {
        match parent.mm() {
            Some(mm) => {
                let copy = mm.lock().dup_mmap();
                match copy {
                    Ok(m) => Some(crate::mm::Mm::new(m)),
                    Err(e) => {
                        crate::mm::page_alloc::free_pages(stack_phys, KERNEL_STACK_ORDER);
                        return Err(e);
                    }
                }
            }
            None => None,
        }
    };
    let files = if flags & CLONE_FILES != 0 {
        parent.files()
    } else {
        Arc::new(Mutex::new(parent.files().lock().clone()))
    };
    let fs = if flags & CLONE_FS != 0 {
        parent.fs()
    } else {
        let copy = parent.fs().lock().clone();
        Arc::new(Mutex::new(copy))
    };
    let sighand = if flags & CLONE_SIGHAND != 0 {
        parent.sighand()
    } else {
        Arc::new(Mutex::new(parent.sighand().lock().clone()))
    };
    let signal = if flags & CLONE_THREAD != 0 {
        parent.signal.live.fetch_add(1, Ordering::AcqRel);
        parent.signal.clone()
    } else {
        let signal = SignalStruct::new(*parent.signal.rlim.lock());
        let tty = parent.signal.tty.load(Ordering::Acquire);
        signal.tty.store(tty, Ordering::Relaxed);
        let adj = parent.signal.oom_score_adj.load(Ordering::Relaxed);
        signal.oom_score_adj.store(adj, Ordering::Relaxed);
        Arc::new(signal)
    };
    let mut se = parent.se.lock().clone();
    se.stop = false;
    se.fair.sum_exec_runtime = 0;
    se.fair.prev_sum_exec_runtime = 0;
    se.tick_charged = 0;
    se.nr_migrations = 0;
    se.run_delay = 0;
    se.pcount = 0;
    if se.reset_on_fork {
        se.policy = crate::sched::SCHED_NORMAL;
        se.rt_priority = 0;
        if se.nice() < 0 {
            se.set_nice(0);
        }
        se.reset_on_fork = false;
        se.update_weight();
    }
    let altstack = if flags & CLONE_VM != 0 && flags & CLONE_VFORK == 0 {
        [0, 2, 0]
    } else {
        *parent.altstack.lock()
    };
    let fs_base = if flags & CLONE_SETTLS != 0 {
        args.tls
    } else {
        parent.thread.fs_base.load(Ordering::Relaxed)
    };
    let fpu = if kthread.is_some() {
        FpuState::init()
    } else {
        parent.thread.fpu_snapshot_current()
    };

    let pid = {
        let mut tl = tasklist::lock();
        match tl.alloc_pid() {
            Some(p) => p,
            None => {
                drop(tl);
                crate::mm::page_alloc::free_pages(stack_phys, KERNEL_STACK_ORDER);
                return Err(EAGAIN);
            }
        }
    };
    let tgid = if flags & CLONE_THREAD != 0 {
        parent.tgid
    } else {
        pid
    };
    let mut pflags = PF_FORKNOEXEC;
    if kthread.is_some() {
        pflags |= PF_KTHREAD;
    }
    // Past the last failure: a CLONE_VM child becomes a user of the shared address space
    // (a copied one was made with its user).
    if let Some(mm) = mm.as_ref().filter(|_| flags & CLONE_VM != 0) {
        crate::mm::mmget(mm);
    }
    let child = Arc::new_in(
        Task {
            pid,
            tgid,
            state: AtomicU32::new(TASK_UNINTERRUPTIBLE | TASK_NOLOAD),
            exit_state: AtomicU32::new(0),
            flags: AtomicU32::new(pflags),
            worker_private: AtomicUsize::new(0),
            kthread: spin::Once::new(),
            pi_lock: Mutex::new(()),
            on_cpu: AtomicBool::new(false),
            on_rq: AtomicBool::new(false),
            cpu: AtomicUsize::new(crate::arch::percpu::cpu_id()),
            need_resched: AtomicBool::new(false),
            prio: PidPrio::new(pid, se.prio()),
            se: Mutex::new(se),
            comm: TaskComm::new(parent.comm.get()),
            cred: Mutex::new(cred),
            uid: AtomicU32::new(cred.uid),
            ppid: AtomicI32::new(0),
            real_parent: core::sync::atomic::AtomicPtr::new(core::ptr::null_mut()),
            described_in: crate::trace::DescribedIn::new(),
            mm: Mutex::new(mm),
            files: Mutex::new(files),
            fs: Mutex::new(fs),
            sighand: Mutex::new(sighand),
            signal,
            sigpending: AtomicBool::new(false),
            pending: Mutex::new(SigPending {
                blocked: parent.pending.lock().blocked,
                ..Default::default()
            }),
            altstack: Mutex::new(altstack),
            exit_code: AtomicI32::new(0),
            exit_signal: if flags & CLONE_THREAD != 0 {
                0
            } else {
                args.exit_signal
            },
            robust_list: AtomicU64::new(0),
            ioprio: AtomicU32::new(parent.ioprio.load(Ordering::Relaxed)),
            clear_child_tid: AtomicU64::new(if flags & CLONE_CHILD_CLEARTID != 0 {
                args.child_tid
            } else {
                0
            }),
            set_child_tid: AtomicU64::new(if flags & CLONE_CHILD_SETTID != 0 {
                args.child_tid
            } else {
                0
            }),
            vfork_done: Mutex::new(None),
            thread: ThreadStruct::new(fpu, fs_base),
            stack_base,
            start_time_ns: crate::arch::tsc::ns_since_boot(),
            nvcsw: AtomicU64::new(0),
            nivcsw: AtomicU64::new(0),
            last_switch_count: AtomicU64::new(0),
            last_switch_time: AtomicU64::new(0),
            utime_ns: AtomicU64::new(0),
            stime_ns: AtomicU64::new(0),
            prev_cputime: Mutex::new(Default::default()),
            min_flt: AtomicU64::new(0),
            ret_stack: crate::trace::ftrace::RetStack::new(),
        },
        TaskStructCachep,
    );

    let is_kthread = kthread.is_some();
    match kthread {
        Some(k) => {
            process::copy_thread(&child.thread, child.stack_top(), None, Some(k.entry), k.arg)
        }
        None => {
            let mut f = frame.cloned().unwrap_or_default();
            f.rax = 0;
            if args.stack != 0 {
                f.rsp = args.stack;
            }
            process::copy_thread(&child.thread, child.stack_top(), Some(&f), None, 0);
        }
    }

    // Link into the task list: threads join the group, processes become children.
    {
        let mut tl = tasklist::lock();
        if flags & CLONE_THREAD != 0 {
            tl.attach_thread(child.clone());
        } else {
            let me = tl.leader(parent.tgid);
            let (pparent, pgid, sid) = me.map_or((0, 0, 0), |e| (e.parent, e.pgid, e.sid));
            let parent_pid = if flags & CLONE_PARENT != 0 {
                pparent
            } else {
                parent.tgid
            };
            let (pgid, sid) = if is_kthread && parent.pid == 0 {
                (0, 0)
            } else {
                (pgid, sid)
            };
            tl.attach_process(child.clone(), parent_pid, pgid, sid);
        }
        TOTAL_FORKS.fetch_add(1, Ordering::Relaxed);
    }
    crate::trace::trace_task_newtask(&child, args.flags);
    Ok(child)
}

/// Create and start a task (`kernel_clone`); returns the child's PID.
pub fn kernel_clone(args: &CloneArgs, frame: Option<&TrapFrame>) -> KResult<Pid> {
    let child = copy_process(args, frame, None)?;
    crate::trace::trace_sched_process_fork(current(), &child);
    start_child(args, child)
}

/// Start a kernel thread running `entry(arg)` (`kernel_thread`).
pub fn kernel_thread(entry: extern "C" fn(usize) -> !, arg: usize, flags: u64) -> KResult<TaskRef> {
    // Kernel threads have no mm; sharing files and fs with the kernel's saves copies.
    let args = CloneArgs {
        flags: flags | CLONE_FS | CLONE_FILES | CLONE_UNTRACED,
        exit_signal: SIGCHLD,
        ..Default::default()
    };
    let child = copy_process(&args, None, Some(KthreadStart { entry, arg }))?;
    crate::trace::trace_sched_process_fork(current(), &child);
    crate::sched::wake_up_new_task(&child);
    Ok(child)
}

fn start_child(args: &CloneArgs, child: TaskRef) -> KResult<Pid> {
    let pid = child.pid;
    if args.flags & CLONE_PARENT_SETTID != 0 {
        // Linux writes it before the child can run; a bad pointer is ignored there too.
        let _ = write_user(args.parent_tid, &pid);
    }
    let vfork = if args.flags & CLONE_VFORK != 0 {
        let c = Arc::new(Completion::new());
        *child.vfork_done.lock() = Some(c.clone());
        Some(c)
    } else {
        None
    };
    crate::sched::wake_up_new_task(&child);
    if let Some(done) = vfork {
        done.wait_for_completion();
    }
    Ok(pid)
}

/// The child's first steps in its own context, before returning to user mode.
pub fn schedule_tail_user() {
    let t = current();
    if t.is_kthread() {
        return;
    }
    let tid_ptr = t.set_child_tid.swap(0, Ordering::Relaxed);
    if tid_ptr != 0 {
        let _ = write_user(tid_ptr, &t.pid);
    }
}

#[no_mangle]
extern "C" fn ret_from_fork_user(frame: &mut TrapFrame) {
    // The child returns from the parent's fork/clone: its side of `sys_exit`, as on Linux.
    if frame.vector == crate::arch::entry::SYSCALL_VECTOR {
        crate::trace::trace_sys_exit(frame.error_code, frame.rax as i64);
    }
    crate::kernel::signal::exit_to_user_mode(frame);
}

// ---------------------------------------------------------------------------------------------
// System calls.

pub fn sys_fork(frame: &TrapFrame) -> KResult<i64> {
    let args = CloneArgs {
        exit_signal: SIGCHLD,
        ..Default::default()
    };
    kernel_clone(&args, Some(frame)).map(|p| p as i64)
}

pub fn sys_vfork(frame: &TrapFrame) -> KResult<i64> {
    let args = CloneArgs {
        flags: CLONE_VFORK | CLONE_VM,
        exit_signal: SIGCHLD,
        ..Default::default()
    };
    kernel_clone(&args, Some(frame)).map(|p| p as i64)
}

/// x86_64 argument order: flags, newsp, parent_tid, child_tid, tls.
pub fn sys_clone(
    frame: &TrapFrame,
    flags: u64,
    newsp: u64,
    parent_tid: u64,
    child_tid: u64,
    tls: u64,
) -> KResult<i64> {
    let args = CloneArgs {
        flags: flags & !CSIGNAL,
        exit_signal: (flags & CSIGNAL) as u32,
        stack: newsp,
        parent_tid,
        child_tid,
        tls,
    };
    if args.exit_signal as usize > crate::kernel::signal::NSIG {
        return Err(EINVAL);
    }
    kernel_clone(&args, Some(frame)).map(|p| p as i64)
}

/// `clone3(struct clone_args *, size)`.
pub fn sys_clone3(frame: &TrapFrame, uargs: u64, size: u64) -> KResult<i64> {
    const CLONE_ARGS_SIZE_VER0: u64 = 64;
    if !(CLONE_ARGS_SIZE_VER0..=4096).contains(&size) {
        return Err(EINVAL);
    }
    let raw: [u64; 8] = read_user(uargs)?;
    // Fields beyond what we know must be zero (set_tid, cgroup).
    let mut extra = size.min(88) / 8;
    while extra > 8 {
        extra -= 1;
        let v: u64 = read_user(uargs + extra * 8)?;
        if v != 0 {
            return Err(EINVAL);
        }
    }
    let [flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls] = raw;
    if flags & CSIGNAL != 0 || exit_signal > 64 || flags & CLONE_PIDFD != 0 && pidfd == 0 {
        return Err(EINVAL);
    }
    if flags & CLONE_PIDFD != 0 {
        // No pidfds yet.
        return Err(EINVAL);
    }
    if (stack == 0) != (stack_size == 0) {
        return Err(EINVAL);
    }
    let args = CloneArgs {
        flags,
        exit_signal: exit_signal as u32,
        stack: if stack != 0 { stack + stack_size } else { 0 },
        parent_tid,
        child_tid,
        tls,
    };
    kernel_clone(&args, Some(frame)).map(|p| p as i64)
}
