//! Small system calls about the process and the system: uname, ids, arch_prctl, futex,
//! affinity, resource limits.

use crate::arch::cpu::{msr, wrmsr};
use crate::kernel::errno::*;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::kernel::task::{current, Pid};
use crate::kernel::tasklist;
use crate::mm::usercopy::{copy_to_user, read_user, write_user};
use crate::mm::vma::PAGE_SIZE;
use crate::mm::MmRef;
use crate::sched::cputime::{task_cputime_adjusted, thread_group_cputime_adjusted};

pub const UTS_SYSNAME: &str = "Linux";
pub const UTS_RELEASE: &str = "6.1.0-watchvm";
pub const UTS_VERSION: &str = "#1 SMP PREEMPT watchvm 0.1.0";

pub fn sys_getpid() -> KResult<i64> {
    Ok(current().tgid as i64)
}

pub fn sys_gettid() -> KResult<i64> {
    Ok(current().pid as i64)
}

pub fn sys_getppid() -> KResult<i64> {
    Ok(tasklist::parent_of(current().tgid) as i64)
}

fn target_process(pid: u64) -> KResult<Pid> {
    match pid as i64 {
        0 => Ok(current().tgid),
        p if p > 0 => tasklist::find_process(p as Pid)
            .map(|t| t.tgid)
            .ok_or(ESRCH),
        _ => Err(EINVAL),
    }
}

pub fn sys_getpgid(pid: u64) -> KResult<i64> {
    Ok(tasklist::pgid_of(target_process(pid)?) as i64)
}

pub fn sys_getsid(pid: u64) -> KResult<i64> {
    Ok(tasklist::sid_of(target_process(pid)?) as i64)
}

/// `setpgid`: move a process (ourselves or a child) into a process group of our session.
pub fn sys_setpgid(pid: u64, pgid: u64) -> KResult<i64> {
    if (pgid as i64) < 0 {
        return Err(EINVAL);
    }
    let me = current().tgid;
    let pid = if pid == 0 { me } else { pid as Pid };
    let pgid = if pgid == 0 { pid } else { pgid as Pid };
    let mut tl = tasklist::lock();
    let my_sid = tl.leader(me).map_or(0, |e| e.sid);
    let target = tl.leader(pid).ok_or(ESRCH)?;
    if pid != me && target.parent != me {
        return Err(ESRCH);
    }
    if target.sid != my_sid {
        return Err(EPERM);
    }
    if target.sid == pid {
        return Err(EPERM); // a session leader can't move
    }
    if pgid != pid
        && !tl
            .entries
            .values()
            .any(|e| e.task.is_group_leader() && e.pgid == pgid && e.sid == my_sid)
    {
        return Err(EPERM);
    }
    if let Some(e) = tl.entries.get_mut(&pid) {
        e.pgid = pgid;
    }
    Ok(0)
}

pub fn sys_setsid() -> KResult<i64> {
    let me = current().tgid;
    let mut tl = tasklist::lock();
    if tl
        .entries
        .values()
        .any(|e| e.task.is_group_leader() && e.pgid == me)
    {
        return Err(EPERM);
    }
    if let Some(e) = tl.entries.get_mut(&me) {
        e.pgid = me;
        e.sid = me;
    }
    // A new session starts without a controlling terminal.
    crate::drivers::tty::tty_jobctrl::proc_clear_tty(current());
    Ok(me as i64)
}

pub fn sys_getuid() -> KResult<i64> {
    Ok(current().cred.lock().uid as i64)
}

pub fn sys_geteuid() -> KResult<i64> {
    Ok(current().cred.lock().euid as i64)
}

pub fn sys_getgid() -> KResult<i64> {
    Ok(current().cred.lock().gid as i64)
}

pub fn sys_getegid() -> KResult<i64> {
    Ok(current().cred.lock().egid as i64)
}

/// `setuid`: root may become anyone; others only their real uid.
pub fn sys_setuid(uid: u64) -> KResult<i64> {
    let uid = uid as u32;
    let me = current();
    let mut c = me.cred.lock();
    if c.euid == 0 {
        c.uid = uid;
        c.euid = uid;
        me.uid.store(uid, Ordering::Relaxed);
        crate::trace::forget_task(me);
    } else if uid == c.uid {
        c.euid = uid;
    } else {
        return Err(EPERM);
    }
    Ok(0)
}

pub fn sys_setgid(gid: u64) -> KResult<i64> {
    let gid = gid as u32;
    let mut c = current().cred.lock();
    if c.euid == 0 {
        c.gid = gid;
        c.egid = gid;
    } else if gid == c.gid {
        c.egid = gid;
    } else {
        return Err(EPERM);
    }
    Ok(0)
}

pub fn sys_uname(buf: u64) -> KResult<i64> {
    let mut uts = [0u8; 65 * 6];
    let (node, domain) = (super::utsname::nodename(), super::utsname::domainname());
    let fields = [
        UTS_SYSNAME,
        &node,
        UTS_RELEASE,
        UTS_VERSION,
        "x86_64",
        &domain,
    ];
    for (i, f) in fields.iter().enumerate() {
        uts[i * 65..i * 65 + f.len()].copy_from_slice(f.as_bytes());
    }
    copy_to_user(buf, &uts)?;
    Ok(0)
}

pub fn sys_arch_prctl(code: u64, addr: u64) -> KResult<i64> {
    const ARCH_SET_FS: u64 = 0x1002;
    const ARCH_GET_FS: u64 = 0x1003;
    let task = current();
    match code {
        ARCH_SET_FS => {
            if addr >= crate::arch::USER_END {
                return Err(EPERM);
            }
            task.thread.fs_base.store(addr, Ordering::Relaxed);
            // SAFETY: a user-half FS base only affects user-mode %fs accesses.
            unsafe { wrmsr(msr::IA32_FS_BASE, addr) };
            Ok(0)
        }
        ARCH_GET_FS => {
            write_user(addr, &task.thread.fs_base.load(Ordering::Relaxed))?;
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}

pub fn sys_set_tid_address(addr: u64) -> KResult<i64> {
    let task = current();
    task.clear_child_tid.store(addr, Ordering::Relaxed);
    Ok(task.pid as i64)
}

pub fn sys_prlimit64(pid: u64, resource: u64, new: u64, old: u64) -> KResult<i64> {
    if resource >= 16 {
        return Err(EINVAL);
    }
    let task = if pid == 0 {
        crate::kernel::task::current_arc()
    } else {
        tasklist::find_process(pid as Pid).ok_or(ESRCH)?
    };
    let new: Option<[u64; 2]> = if new != 0 {
        Some(read_user(new)?)
    } else {
        None
    };
    if let Some([cur, max]) = new {
        if cur > max {
            return Err(EINVAL);
        }
    }
    let mut rlim = task.signal.rlim.lock();
    let prev = rlim[resource as usize];
    if let Some(n) = new {
        // Raising the hard limit needs privilege.
        if n[1] > prev[1] && current().cred.lock().euid != 0 {
            return Err(EPERM);
        }
        rlim[resource as usize] = n;
    }
    drop(rlim);
    if old != 0 {
        write_user(old, &prev)?;
    }
    Ok(0)
}

pub fn sys_getrlimit(resource: u64, rlim: u64) -> KResult<i64> {
    sys_prlimit64(0, resource, 0, rlim)
}

pub fn sys_setrlimit(resource: u64, rlim: u64) -> KResult<i64> {
    sys_prlimit64(0, resource, rlim, 0)
}

/// What `struct rusage` reports: CPU times in ns, the peak RSS in pages, fault and switch
/// counts (Linux's `struct rusage`, before the unit conversions of `put_user`).
#[derive(Clone, Copy, Default)]
pub struct Rusage {
    pub utime: u64,
    pub stime: u64,
    pub maxrss: u64,
    pub minflt: u64,
    pub nvcsw: u64,
    pub nivcsw: u64,
}

impl Rusage {
    /// Write the x86_64 `struct rusage`: timevals, then longs; ru_maxrss in KiB.
    pub fn write_to_user(&self, addr: u64) -> KResult<()> {
        let mut r = [0u64; 18];
        r[0] = self.utime / 1_000_000_000;
        r[1] = (self.utime % 1_000_000_000) / 1000;
        r[2] = self.stime / 1_000_000_000;
        r[3] = (self.stime % 1_000_000_000) / 1000;
        r[4] = self.maxrss * (PAGE_SIZE / 1024);
        r[8] = self.minflt;
        r[16] = self.nvcsw;
        r[17] = self.nivcsw;
        write_user(addr, &r)
    }
}

/// The peak RSS of `mm` in pages (`get_mm_hiwater_rss`).
pub fn get_mm_hiwater_rss(mm: &MmRef) -> u64 {
    let mm = mm.lock();
    mm.hiwater_rss.max(mm.get_mm_rss())
}

/// Raise `maxrss` to the peak RSS of `mm` (`setmax_mm_hiwater_rss`).
pub fn setmax_mm_hiwater_rss(maxrss: &AtomicU64, mm: &MmRef) {
    maxrss.fetch_max(get_mm_hiwater_rss(mm), Ordering::Relaxed);
}

pub fn sys_getrusage(who: u64, ru: u64) -> KResult<i64> {
    const RUSAGE_SELF: i64 = 0;
    const RUSAGE_CHILDREN: i64 = -1;
    const RUSAGE_THREAD: i64 = 1;
    let t = current();
    let who = who as i64;
    let (utime, stime, mut maxrss) = match who {
        RUSAGE_SELF => {
            let (u, s) = thread_group_cputime_adjusted(t);
            (u, s, t.signal.maxrss.load(Ordering::Relaxed))
        }
        RUSAGE_CHILDREN => (
            t.signal.cutime.load(Ordering::Relaxed),
            t.signal.cstime.load(Ordering::Relaxed),
            t.signal.cmaxrss.load(Ordering::Relaxed),
        ),
        RUSAGE_THREAD => {
            let (u, s) = task_cputime_adjusted(t);
            (u, s, 0)
        }
        _ => return Err(EINVAL),
    };
    // The address space in use now counts for the process and the thread.
    if who != RUSAGE_CHILDREN {
        if let Some(mm) = t.mm() {
            maxrss = maxrss.max(get_mm_hiwater_rss(&mm));
        }
    }
    Rusage {
        utime,
        stime,
        maxrss,
        minflt: t.min_flt.load(Ordering::Relaxed),
        nvcsw: t.nvcsw.load(Ordering::Relaxed),
        nivcsw: t.nivcsw.load(Ordering::Relaxed),
    }
    .write_to_user(ru)?;
    Ok(0)
}

/// `times`: clock ticks (USER_HZ = 100).
pub fn sys_times(buf: u64) -> KResult<i64> {
    let t = current();
    let (u, s) = thread_group_cputime_adjusted(t);
    let tick = 10_000_000;
    if buf != 0 {
        write_user(
            buf,
            &[
                u / tick,
                s / tick,
                t.signal.cutime.load(Ordering::Relaxed) / tick,
                t.signal.cstime.load(Ordering::Relaxed) / tick,
            ],
        )?;
    }
    Ok(crate::kernel::time::jiffies() as i64 + 1)
}

pub fn sys_prctl(option: u64, arg2: u64) -> KResult<i64> {
    const PR_SET_PDEATHSIG: u64 = 1;
    const PR_GET_PDEATHSIG: u64 = 2;
    const PR_SET_NAME: u64 = 15;
    const PR_GET_NAME: u64 = 16;
    const PR_SET_CHILD_SUBREAPER: u64 = 36;
    const PR_GET_CHILD_SUBREAPER: u64 = 37;
    let t = current();
    match option {
        PR_SET_NAME => {
            let mut name = [0u8; 16];
            // The name may be shorter than 16 bytes and end near a page boundary: copy up
            // to the NUL.
            let s = crate::mm::usercopy::strncpy_from_user(arg2, 16).or_else(|_| {
                crate::mm::usercopy::copy_from_user(&mut name, arg2)?;
                let end = name.iter().position(|&b| b == 0).unwrap_or(15).min(15);
                Ok::<_, i64>(alloc::string::String::from_utf8_lossy(&name[..end]).into_owned())
            })?;
            t.set_comm(&s);
            Ok(0)
        }
        PR_GET_NAME => {
            copy_to_user(arg2, &t.comm.get())?;
            Ok(0)
        }
        PR_SET_CHILD_SUBREAPER => {
            t.signal
                .is_child_subreaper
                .store(arg2 != 0, Ordering::Relaxed);
            Ok(0)
        }
        PR_GET_CHILD_SUBREAPER => {
            let v = t.signal.is_child_subreaper.load(Ordering::Relaxed) as i32;
            write_user(arg2, &v)?;
            Ok(0)
        }
        PR_SET_PDEATHSIG | PR_GET_PDEATHSIG => {
            if option == PR_GET_PDEATHSIG {
                write_user(arg2, &0i32)?;
            }
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}
