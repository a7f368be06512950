//! Scheduler system calls (Linux's kernel/sched/syscalls.c): policy and priority, nice,
//! affinity, yield and getcpu.

use core::sync::atomic::Ordering;

use super::{
    Class, SCHED_BATCH, SCHED_DEADLINE, SCHED_FIFO, SCHED_IDLE, SCHED_NORMAL, SCHED_RESET_ON_FORK,
    SCHED_RR,
};
use crate::kernel::errno::*;
use crate::kernel::task::{current, current_arc, Pid, TaskRef, PF_NO_SETAFFINITY};
use crate::kernel::tasklist;
use crate::mm::usercopy::{read_user, write_user};

fn find(pid: u64) -> KResult<TaskRef> {
    match pid as i64 {
        0 => Ok(current_arc()),
        p if p > 0 => tasklist::find_task(p as Pid).ok_or(ESRCH),
        _ => Err(EINVAL),
    }
}

pub fn sys_sched_yield() -> KResult<i64> {
    super::yield_current();
    Ok(0)
}

pub fn sys_sched_getaffinity(pid: u64, len: u64, mask: u64) -> KResult<i64> {
    if len < 8 || !len.is_multiple_of(8) {
        return Err(EINVAL);
    }
    let t = find(pid)?;
    // What the task may use now: its mask, within the active CPUs.
    let bits = t.se.lock().cpus_allowed & crate::kernel::cpu::cpu_active_mask();
    write_user(mask, &bits)?;
    Ok(8)
}

pub fn sys_sched_setaffinity(pid: u64, len: u64, mask: u64) -> KResult<i64> {
    if len < 8 {
        return Err(EINVAL);
    }
    let bits: u64 = read_user(mask)?;
    let t = find(pid)?;
    if t.flags.load(Ordering::Relaxed) & PF_NO_SETAFFINITY != 0 {
        return Err(EINVAL);
    }
    super::set_cpus_allowed(&t, bits).map_err(|()| EINVAL)?;
    Ok(0)
}

pub fn sys_getcpu(cpu: u64, node: u64) -> KResult<i64> {
    let c = crate::arch::percpu::cpu_id() as u32;
    if cpu != 0 {
        write_user(cpu, &c)?;
    }
    if node != 0 {
        write_user(node, &0u32)?;
    }
    Ok(0)
}

fn valid_policy(policy: u32) -> bool {
    matches!(
        policy,
        SCHED_NORMAL | SCHED_FIFO | SCHED_RR | SCHED_BATCH | SCHED_IDLE
    )
}

fn is_rt(policy: u32) -> bool {
    policy == SCHED_FIFO || policy == SCHED_RR
}

/// `__sched_setscheduler`: validate, then change under the run-queue lock. `policy` None
/// keeps the current one (`sched_setparam`).
fn setscheduler(t: &TaskRef, policy: Option<u32>, prio: u32) -> KResult<()> {
    let (policy, reset) = match policy {
        Some(p) => (p & !SCHED_RESET_ON_FORK, p & SCHED_RESET_ON_FORK != 0),
        None => {
            // One guard for both fields: `se` is a spin lock and not reentrant.
            let se = t.se.lock();
            (se.policy, se.reset_on_fork)
        }
    };
    if !valid_policy(policy) {
        return Err(EINVAL);
    }
    if is_rt(policy) && !(1..=99).contains(&prio) || !is_rt(policy) && prio != 0 {
        return Err(EINVAL);
    }
    super::set_sched_attr(t, |se| {
        se.policy = policy;
        se.reset_on_fork = reset;
        se.rt_priority = prio;
        se.update_weight();
    });
    Ok(())
}

pub fn sys_sched_setscheduler(pid: u64, policy: u64, param: u64) -> KResult<i64> {
    if (pid as i64) < 0 || param == 0 {
        return Err(EINVAL);
    }
    let prio: i32 = read_user(param)?;
    let t = find(pid)?;
    setscheduler(&t, Some(policy as u32), prio as u32)?;
    Ok(0)
}

pub fn sys_sched_setparam(pid: u64, param: u64) -> KResult<i64> {
    if (pid as i64) < 0 || param == 0 {
        return Err(EINVAL);
    }
    let prio: i32 = read_user(param)?;
    let t = find(pid)?;
    setscheduler(&t, None, prio as u32)?;
    Ok(0)
}

pub fn sys_sched_getscheduler(pid: u64) -> KResult<i64> {
    if (pid as i64) < 0 {
        return Err(EINVAL);
    }
    let t = find(pid)?;
    let se = t.se.lock();
    let reset = if se.reset_on_fork {
        SCHED_RESET_ON_FORK
    } else {
        0
    };
    Ok((se.policy | reset) as i64)
}

pub fn sys_sched_getparam(pid: u64, param: u64) -> KResult<i64> {
    if (pid as i64) < 0 || param == 0 {
        return Err(EINVAL);
    }
    let t = find(pid)?;
    let prio = t.se.lock().rt_priority as i32;
    write_user(param, &prio)?;
    Ok(0)
}

pub fn sys_sched_get_priority_max(policy: u64) -> KResult<i64> {
    match policy as u32 {
        SCHED_FIFO | SCHED_RR => Ok(99),
        SCHED_NORMAL | SCHED_BATCH | SCHED_IDLE | SCHED_DEADLINE => Ok(0),
        _ => Err(EINVAL),
    }
}

pub fn sys_sched_get_priority_min(policy: u64) -> KResult<i64> {
    match policy as u32 {
        SCHED_FIFO | SCHED_RR => Ok(1),
        SCHED_NORMAL | SCHED_BATCH | SCHED_IDLE | SCHED_DEADLINE => Ok(0),
        _ => Err(EINVAL),
    }
}

pub fn sys_sched_rr_get_interval(pid: u64, ts: u64) -> KResult<i64> {
    let t = find(pid)?;
    let se = t.se.lock();
    let ns = match (se.policy, se.class()) {
        (SCHED_RR, _) => super::rt::RR_TIMESLICE_NS,
        (_, Class::Fair) => {
            let n = super::nr_running_on(t.cpu.load(Ordering::Relaxed)).max(1) as u64;
            super::fair::sched_period(n) / n
        }
        _ => 0,
    };
    drop(se);
    write_user(ts, &[ns / 1_000_000_000, ns % 1_000_000_000])?;
    Ok(0)
}

const PRIO_PROCESS: u64 = 0;
const PRIO_PGRP: u64 = 1;
const PRIO_USER: u64 = 2;

fn prio_targets(which: u64, who: u64) -> KResult<alloc::vec::Vec<TaskRef>> {
    let me = current();
    let v = match which {
        PRIO_PROCESS => alloc::vec![find(who)?],
        PRIO_PGRP => {
            let g = if who == 0 {
                tasklist::pgid_of(me.tgid)
            } else {
                who as Pid
            };
            tasklist::process_group(g)
        }
        PRIO_USER => {
            let uid = if who == 0 {
                me.cred.lock().uid
            } else {
                who as u32
            };
            tasklist::all_processes()
                .into_iter()
                .filter(|t| t.cred.lock().uid == uid && !t.is_kthread())
                .collect()
        }
        _ => return Err(EINVAL),
    };
    if v.is_empty() {
        return Err(ESRCH);
    }
    Ok(v)
}

/// `set_one_prio`: lowering nice needs privilege (we are root, but keep the rule for others).
fn set_one_prio(t: &TaskRef, nice: i32) -> KResult<()> {
    let cur = t.se.lock().nice();
    if nice < cur && current().cred.lock().euid != 0 {
        return Err(EACCES);
    }
    super::set_user_nice(t, nice);
    Ok(())
}

pub fn sys_setpriority(which: u64, who: u64, nice: u64) -> KResult<i64> {
    // `int niceval`: only the low 32 bits count.
    let nice = (nice as i32).clamp(-20, 19);
    for t in prio_targets(which, who)? {
        set_one_prio(&t, nice)?;
    }
    Ok(0)
}

/// Returns 20 - nice (1..40), as the raw system call does.
pub fn sys_getpriority(which: u64, who: u64) -> KResult<i64> {
    let best = prio_targets(which, who)?
        .iter()
        .map(|t| t.se.lock().nice())
        .min()
        .unwrap_or(0);
    Ok((20 - best) as i64)
}
