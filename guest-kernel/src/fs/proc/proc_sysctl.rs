//! /proc/sys (Linux's fs/proc/proc_sysctl.c and kernel/sysctl.c): kernel tunables as files,
//! read as text and written as text, with Linux's range checks (`proc_dointvec_minmax`).

use alloc::boxed::Box;
use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::{String, ToString};
use core::sync::atomic::{AtomicU64, Ordering};

use super::inode::*;
use crate::fs::inode::*;
use crate::kernel::errno::*;
use crate::kernel::hung_task::{SYSCTL_HUNG_TASK_TIMEOUT_SECS, SYSCTL_HUNG_TASK_WARNINGS};
use crate::kernel::pid::{PID_MAX, PID_MAX_LIMIT, RESERVED_PIDS};
use crate::kernel::time::HZ;
use crate::kernel::watchdog::{set_watchdog_thresh, WATCHDOG_THRESH, WATCHDOG_THRESH_MAX};
use crate::mm::vmstat::SYSCTL_STAT_INTERVAL;
use crate::sched::fair::{
    SYSCTL_SCHED_LATENCY, SYSCTL_SCHED_MIN_GRANULARITY, SYSCTL_SCHED_WAKEUP_GRANULARITY,
};

/// One tunable (`struct ctl_table`).
struct CtlTable {
    path: &'static str,
    read: fn() -> String,
    /// `None`: read-only (mode 0444).
    write: Option<fn(&str) -> KResult<()>>,
}

/// Parse one integer in `min..=max` like `proc_dointvec_minmax`: `EINVAL` otherwise.
fn parse_in(text: &str, min: u64, max: u64) -> KResult<u64> {
    let v: u64 = text.trim().parse().map_err(|_| EINVAL)?;
    if v < min || v > max {
        return Err(EINVAL);
    }
    Ok(v)
}

fn ns_knob(knob: &AtomicU64, text: &str) -> KResult<()> {
    // Linux bounds the scheduler's granularities to 0.1 ms ..= 1 s.
    knob.store(parse_in(text, 100_000, 1_000_000_000)?, Ordering::Relaxed);
    Ok(())
}

fn ipc_knob_show(knob: &AtomicU64) -> String {
    format!("{}\n", knob.load(Ordering::Relaxed))
}

fn ipc_knob_store(knob: &AtomicU64, text: &str, max: u64) -> KResult<()> {
    knob.store(parse_in(text, 0, max)?, Ordering::Relaxed);
    Ok(())
}

/// fs.mqueue.* counts of messages and sizes of one (`msg_max`/`msg_default` and
/// `msgsize_max`/`msgsize_default`, with Linux's bounds).
fn mq_count_store(knob: &AtomicU64, text: &str) -> KResult<()> {
    use crate::ipc::mqutil::{HARD_MSGMAX, MIN_MSGMAX};
    knob.store(parse_in(text, MIN_MSGMAX, HARD_MSGMAX)?, Ordering::Relaxed);
    Ok(())
}

fn mq_size_store(knob: &AtomicU64, text: &str) -> KResult<()> {
    use crate::ipc::mqutil::{HARD_MSGSIZEMAX, MIN_MSGSIZEMAX};
    knob.store(
        parse_in(text, MIN_MSGSIZEMAX, HARD_MSGSIZEMAX)?,
        Ordering::Relaxed,
    );
    Ok(())
}

const TABLE: &[CtlTable] = &[
    CtlTable {
        path: "fs/mqueue/msg_default",
        read: || ipc_knob_show(&crate::ipc::mqueue::MQ_MSG_DEFAULT),
        write: Some(|t| mq_count_store(&crate::ipc::mqueue::MQ_MSG_DEFAULT, t)),
    },
    CtlTable {
        path: "fs/mqueue/msg_max",
        read: || ipc_knob_show(&crate::ipc::mqueue::MQ_MSG_MAX),
        write: Some(|t| mq_count_store(&crate::ipc::mqueue::MQ_MSG_MAX, t)),
    },
    CtlTable {
        path: "fs/mqueue/msgsize_default",
        read: || ipc_knob_show(&crate::ipc::mqueue::MQ_MSGSIZE_DEFAULT),
        write: Some(|t| mq_size_store(&crate::ipc::mqueue::MQ_MSGSIZE_DEFAULT, t)),
    },
    CtlTable {
        path: "fs/mqueue/msgsize_max",
        read: || ipc_knob_show(&crate::ipc::mqueue::MQ_MSGSIZE_MAX),
        write: Some(|t| mq_size_store(&crate::ipc::mqueue::MQ_MSGSIZE_MAX, t)),
    },
    CtlTable {
        path: "fs/mqueue/queues_max",
        read: || ipc_knob_show(&crate::ipc::mqueue::MQ_QUEUES_MAX),
        write: Some(|t| ipc_knob_store(&crate::ipc::mqueue::MQ_QUEUES_MAX, t, i32::MAX as u64)),
    },
    CtlTable {
        path: "fs/pipe-max-size",
        read: || format!("{}\n", crate::fs::pipe_ring::PIPE_MAX_SIZE),
        write: None,
    },
    CtlTable {
        path: "kernel/domainname",
        read: || format!("{}\n", crate::kernel::utsname::domainname()),
        write: Some(|t| crate::kernel::utsname::set_domainname(t.trim_end_matches('\n'))),
    },
    CtlTable {
        path: "kernel/hostname",
        read: || format!("{}\n", crate::kernel::utsname::nodename()),
        write: Some(|t| crate::kernel::utsname::set_nodename(t.trim_end_matches('\n'))),
    },
    CtlTable {
        path: "kernel/hung_task_timeout_secs",
        read: || {
            format!(
                "{}\n",
                SYSCTL_HUNG_TASK_TIMEOUT_SECS.load(Ordering::Relaxed)
            )
        },
        write: Some(|t| {
            // Linux caps it at LONG_MAX / HZ.
            let v = parse_in(t, 0, i64::MAX as u64 / crate::kernel::time::HZ)?;
            SYSCTL_HUNG_TASK_TIMEOUT_SECS.store(v, Ordering::Relaxed);
            crate::kernel::hung_task::timeout_changed();
            Ok(())
        }),
    },
    CtlTable {
        path: "kernel/hung_task_warnings",
        read: || format!("{}\n", SYSCTL_HUNG_TASK_WARNINGS.load(Ordering::Relaxed)),
        write: Some(|t| {
            SYSCTL_HUNG_TASK_WARNINGS.store(parse_in(t, 0, u32::MAX as u64)?, Ordering::Relaxed);
            Ok(())
        }),
    },
    CtlTable {
        path: "kernel/msgmax",
        read: || ipc_knob_show(&crate::ipc::msg::MSG_CTLMAX),
        write: Some(|t| ipc_knob_store(&crate::ipc::msg::MSG_CTLMAX, t, i32::MAX as u64)),
    },
    CtlTable {
        path: "kernel/msgmnb",
        read: || ipc_knob_show(&crate::ipc::msg::MSG_CTLMNB),
        write: Some(|t| ipc_knob_store(&crate::ipc::msg::MSG_CTLMNB, t, i32::MAX as u64)),
    },
    CtlTable {
        path: "kernel/msgmni",
        read: || ipc_knob_show(&crate::ipc::msg::MSG_CTLMNI),
        write: Some(|t| ipc_knob_store(&crate::ipc::msg::MSG_CTLMNI, t, 32768)),
    },
    CtlTable {
        path: "kernel/osrelease",
        read: || format!("{}\n", crate::kernel::sys::UTS_RELEASE),
        write: None,
    },
    CtlTable {
        path: "kernel/ostype",
        read: || "Linux\n".to_string(),
        write: None,
    },
    CtlTable {
        path: "kernel/pid_max",
        read: || format!("{}\n", PID_MAX.load(Ordering::Relaxed)),
        write: Some(|t| {
            let v = parse_in(t, RESERVED_PIDS as u64 + 1, PID_MAX_LIMIT as u64)?;
            PID_MAX.store(v as u32, Ordering::Relaxed);
            Ok(())
        }),
    },
    CtlTable {
        path: "kernel/sched_latency_ns",
        read: || format!("{}\n", SYSCTL_SCHED_LATENCY.load(Ordering::Relaxed)),
        write: Some(|t| ns_knob(&SYSCTL_SCHED_LATENCY, t)),
    },
    CtlTable {
        path: "kernel/sched_min_granularity_ns",
        read: || format!("{}\n", SYSCTL_SCHED_MIN_GRANULARITY.load(Ordering::Relaxed)),
        write: Some(|t| ns_knob(&SYSCTL_SCHED_MIN_GRANULARITY, t)),
    },
    CtlTable {
        path: "kernel/sched_rr_timeslice_ms",
        read: || format!("{}\n", crate::sched::rt::RR_TIMESLICE_NS / 1_000_000),
        write: None,
    },
    CtlTable {
        path: "kernel/sched_wakeup_granularity_ns",
        read: || {
            format!(
                "{}\n",
                SYSCTL_SCHED_WAKEUP_GRANULARITY.load(Ordering::Relaxed)
            )
        },
        write: Some(|t| ns_knob(&SYSCTL_SCHED_WAKEUP_GRANULARITY, t)),
    },
    CtlTable {
        // SEMMSL SEMMNS SEMOPM SEMMNI, tab-separated.
        path: "kernel/sem",
        read: || {
            let v = crate::ipc::sem::SEM_CTLS
                .each_ref()
                .map(|k| k.load(Ordering::Relaxed));
            format!("{}\t{}\t{}\t{}\n", v[0], v[1], v[2], v[3])
        },
        write: None,
    },
    CtlTable {
        path: "kernel/shmall",
        read: || ipc_knob_show(&crate::ipc::shm::SHM_CTLALL),
        write: Some(|t| ipc_knob_store(&crate::ipc::shm::SHM_CTLALL, t, u64::MAX)),
    },
    CtlTable {
        path: "kernel/shmmax",
        read: || ipc_knob_show(&crate::ipc::shm::SHM_CTLMAX),
        write: Some(|t| ipc_knob_store(&crate::ipc::shm::SHM_CTLMAX, t, u64::MAX)),
    },
    CtlTable {
        path: "kernel/shmmni",
        read: || ipc_knob_show(&crate::ipc::shm::SHM_CTLMNI),
        write: Some(|t| ipc_knob_store(&crate::ipc::shm::SHM_CTLMNI, t, 32768)),
    },
    CtlTable {
        path: "kernel/version",
        read: || format!("{}\n", crate::kernel::sys::UTS_VERSION),
        write: None,
    },
    CtlTable {
        path: "kernel/watchdog_thresh",
        read: || format!("{}\n", WATCHDOG_THRESH.load(Ordering::Relaxed)),
        write: Some(|t| {
            set_watchdog_thresh(parse_in(t, 0, WATCHDOG_THRESH_MAX)?);
            Ok(())
        }),
    },
    CtlTable {
        // Writing 1 compacts every zone now (`sysctl_compaction_handler`; other values are
        // EINVAL); Linux's file is write-only, here it reads as empty.
        path: "vm/compact_memory",
        read: String::new,
        write: Some(|t| {
            parse_in(t, 1, 1)?;
            crate::mm::compaction::sysctl_compaction_handler();
            Ok(())
        }),
    },
    CtlTable {
        path: "vm/max_map_count",
        read: || {
            format!(
                "{}\n",
                crate::mm::vma::MAX_MAP_COUNT.load(Ordering::Relaxed)
            )
        },
        write: Some(|t| {
            let v = parse_in(t, 0, i32::MAX as u64)?;
            crate::mm::vma::MAX_MAP_COUNT.store(v as usize, Ordering::Relaxed);
            Ok(())
        }),
    },
    CtlTable {
        // Writing sets every zone's watermarks anew (`min_free_kbytes_sysctl_handler`).
        path: "vm/min_free_kbytes",
        read: || format!("{}\n", crate::mm::page_alloc::min_free_kbytes()),
        write: Some(|t| {
            crate::mm::page_alloc::set_min_free_kbytes(parse_in(t, 0, i32::MAX as u64)?);
            Ok(())
        }),
    },
    CtlTable {
        // Seconds, kept in jiffies (`proc_dointvec_jiffies`).
        path: "vm/stat_interval",
        read: || format!("{}\n", SYSCTL_STAT_INTERVAL.load(Ordering::Relaxed) / HZ),
        write: Some(|t| {
            let v = parse_in(t, 0, i32::MAX as u64 / HZ)?;
            SYSCTL_STAT_INTERVAL.store(v * HZ, Ordering::Relaxed);
            Ok(())
        }),
    },
    CtlTable {
        // Reading or writing folds every CPU's counter differences at once.
        path: "vm/stat_refresh",
        read: || {
            crate::mm::vmstat::vmstat_refresh();
            String::new()
        },
        write: Some(|_| {
            crate::mm::vmstat::vmstat_refresh();
            Ok(())
        }),
    },
];

fn sysctl_ino(path: &str) -> u64 {
    // FNV-1a of the path: stable and distinct enough for a few dozen names.
    let h = path.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    0x2_0000_0000 | (h & 0xffff_ffff)
}

/// The names directly under directory `prefix` ("" for /proc/sys): (name, is_dir).
fn children(prefix: &str) -> BTreeSet<(String, bool)> {
    TABLE
        .iter()
        .filter_map(|t| {
            let rest = if prefix.is_empty() {
                t.path
            } else {
                t.path.strip_prefix(prefix)?.strip_prefix('/')?
            };
            Some(match rest.split_once('/') {
                Some((dir, _)) => (dir.to_string(), true),
                None => (rest.to_string(), false),
            })
        })
        .collect()
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

fn sysctl_dir(prefix: String, ino: u64) -> InodeRef {
    let p2 = prefix.clone();
    proc_dir(
        ino,
        0o555,
        (0, 0),
        Box::new(move |name| {
            let path = join(&prefix, name);
            if let Some(t) = TABLE.iter().find(|t| t.path == path) {
                let store = t.write.map(|w| -> Store {
                    Box::new(move |data: &[u8]| w(core::str::from_utf8(data).map_err(|_| EINVAL)?))
                });
                let read = t.read;
                let perm = if t.write.is_some() { 0o644 } else { 0o444 };
                return Ok(Some(proc_file(
                    sysctl_ino(&path),
                    perm,
                    (0, 0),
                    Box::new(move || Ok(read().into_bytes())),
                    store,
                )));
            }
            if children(&prefix).iter().any(|(n, dir)| *dir && n == name) {
                let ino = sysctl_ino(&path);
                return Ok(Some(sysctl_dir(path, ino)));
            }
            Ok(None)
        }),
        Box::new(move || {
            Ok(children(&p2)
                .into_iter()
                .map(|(name, dir)| {
                    let ino = sysctl_ino(&join(&p2, &name));
                    entry(name, ino, if dir { S_IFDIR } else { S_IFREG })
                })
                .collect())
        }),
    )
}

/// /proc/sys.
pub fn sys_dir(ino: u64) -> InodeRef {
    sysctl_dir(String::new(), ino)
}
