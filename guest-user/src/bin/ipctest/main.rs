//! `ipctest [CHECK...]`: tests System V IPC (message queues, semaphores, shared memory), the
//! /proc/sysvipc files and POSIX message queues as Linux defines them, errno for errno,
//! between forked processes and between unrelated ones (this program exec'd again as a
//! helper).
//!
//! Prints `ok:` / `FAIL:` / `skip:` per check (see `guest_user::check`) and exits 0 only if
//! none failed. Runs in the guest and on a Linux host alike.
//!
//! Helper modes: `--msg-echo KEY`, `--sem-take KEY`, `--shm-write KEY`, `--mq-echo NAME`.

mod mqueue;
mod mqueue_fs;
mod msg;
mod sem;
mod shm;
mod sysvipc;
mod util;

use guest_user::check::{NamedCheck, Report};
use guest_user::sys;

const CHECKS: &[NamedCheck] = &[
    ("msg_get_rules", msg::msg_get_rules),
    ("msg_type_selection", msg::msg_type_selection),
    ("msg_limits_and_stat", msg::msg_limits_and_stat),
    ("msg_between_processes", msg::msg_between_processes),
    ("msg_eintr_and_eidrm", msg::msg_eintr_and_eidrm),
    ("msg_unrelated_processes", msg::msg_unrelated_processes),
    ("sem_ctl_commands", sem::sem_ctl_commands),
    ("sem_blocking_and_counts", sem::sem_blocking_and_counts),
    ("sem_timeout_eintr_eidrm", sem::sem_timeout_eintr_eidrm),
    ("sem_undo_at_exit", sem::sem_undo_at_exit),
    ("sem_unrelated_processes", sem::sem_unrelated_processes),
    ("shm_get_attach_detach", shm::shm_get_attach_detach),
    ("shm_shared_across_fork", shm::shm_shared_across_fork),
    (
        "shm_rmid_destroys_at_last_detach",
        shm::shm_rmid_destroys_at_last_detach,
    ),
    ("shm_unrelated_processes", shm::shm_unrelated_processes),
    ("sysvipc_proc_files", sysvipc::sysvipc_proc_files),
    ("mq_open_rules", mqueue::mq_open_rules),
    ("mq_priorities_and_errors", mqueue::mq_priorities_and_errors),
    ("mq_between_processes", mqueue::mq_between_processes),
    ("mq_unrelated_processes", mqueue::mq_unrelated_processes),
    ("mq_notify_signal", mqueue::mq_notify_signal),
    ("mq_eintr_and_poll", mqueue::mq_eintr_and_poll),
    (
        "mq_filesystem_and_unlink",
        mqueue_fs::mq_filesystem_and_unlink,
    ),
];

/// The modes in which a check runs this program as its helper; `None` for a normal run.
fn helper(args: &[String]) -> Option<i32> {
    let key = || args.get(1).and_then(|k| k.parse::<i64>().ok());
    match args.first()?.as_str() {
        "--msg-echo" => Some(msg::msg_echo(key()?)),
        "--sem-take" => Some(sem::sem_take(key()?)),
        "--shm-write" => Some(shm::shm_write(key()?)),
        "--mq-echo" => Some(mqueue::mq_echo(args.get(1)?)),
        _ => None,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(code) = helper(&args) {
        sys::exit_now(code);
    }
    let mut report = Report::new("ipctest");
    report.run_table(CHECKS, &args);
    report.finish();
}
