//! System V IPC (message queues, semaphores, shared memory, /proc/sysvipc and `ipcs`) and POSIX
//! message queues (with the mqueue filesystem), checked by the guest's `ipctest`
//! program between forked and exec'd processes, with Linux's errno values, on our VMM and
//! under QEMU with TCG.

use std::time::Duration;

use vm_tests::{assert_checks_passed, boot, qemu_boot};

const MSG: &[&str] = &[
    "msg_get_rules",
    "msg_type_selection",
    "msg_limits_and_stat",
    "msg_between_processes",
    "msg_eintr_and_eidrm",
    "msg_unrelated_processes",
];

const SEM: &[&str] = &[
    "sem_ctl_commands",
    "sem_blocking_and_counts",
    "sem_timeout_eintr_eidrm",
    "sem_undo_at_exit",
    "sem_unrelated_processes",
];

const SHM: &[&str] = &[
    "shm_get_attach_detach",
    "shm_shared_across_fork",
    "shm_rmid_destroys_at_last_detach",
    "shm_unrelated_processes",
];

const PROC: &[&str] = &["sysvipc_proc_files"];

const MQ: &[&str] = &[
    "mq_open_rules",
    "mq_priorities_and_errors",
    "mq_between_processes",
    "mq_unrelated_processes",
    "mq_notify_signal",
    "mq_eintr_and_poll",
    "mq_filesystem_and_unlink",
];

fn assert_passed(checks: &[&str], status: Option<i32>, console: &str) {
    assert_checks_passed("ipctest", checks, status, console);
}

fn run_ipctest(checks: &[&str]) -> String {
    let o = boot(&format!("quiet -- /bin/ipctest {}", checks.join(" ")), 2);
    assert_passed(checks, Some(o.status()), &o.console);
    o.console
}

#[test]
fn sysv_message_queues() {
    run_ipctest(MSG);
}

#[test]
fn sysv_semaphores_with_undo() {
    run_ipctest(SEM);
}

#[test]
fn sysv_shared_memory() {
    run_ipctest(SHM);
}

#[test]
fn proc_sysvipc_files_and_ipcs() {
    run_ipctest(PROC);
}

#[test]
fn posix_message_queues() {
    run_ipctest(MQ);
}

#[test]
fn qemu_tcg_runs_every_ipctest_check() {
    let all: Vec<&str> = [MSG, SEM, SHM, PROC, MQ].concat();
    let (status, out) = qemu_boot(
        &format!("console=ttyS0 quiet -- /bin/ipctest {}", all.join(" ")),
        Duration::from_secs(600),
    );
    assert_passed(&all, status, &out);
}
