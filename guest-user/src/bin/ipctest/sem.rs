//! System V semaphores: semget's rules, semctl's commands, semop's blocking (decrement and
//! wait-for-zero) with GETNCNT/GETZCNT, timeouts, EINTR, EIDRM, and SEM_UNDO at exit.

use std::time::{Duration, Instant};

use guest_user::check::{pass, Check};
use guest_user::ensure;

use crate::util::*;

const GETPID: i64 = 11;
const GETVAL: i64 = 12;
const GETALL: i64 = 13;
const GETNCNT: i64 = 14;
const GETZCNT: i64 = 15;
const SETVAL: i64 = 16;
const SETALL: i64 = 17;
const SEM_UNDO: i16 = 0x1000;
const NOWAIT: i16 = 0o4000;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct Sembuf {
    num: u16,
    op: i16,
    flg: i16,
}

pub fn sop(num: u16, op: i16, flg: i16) -> Sembuf {
    Sembuf { num, op, flg }
}

pub fn semget(key: i64, n: i64, flg: i64) -> Sys {
    syscall(libc::SYS_semget, [key, n, flg, 0, 0])
}

pub fn semop(id: i64, ops: &[Sembuf]) -> Sys {
    syscall(
        libc::SYS_semop,
        [id, ops.as_ptr() as i64, ops.len() as i64, 0, 0],
    )
}

fn semtimedop(id: i64, ops: &[Sembuf], t: Duration) -> Sys {
    let ts = guest_user::sys::timespec(t);
    syscall(
        libc::SYS_semtimedop,
        [
            id,
            ops.as_ptr() as i64,
            ops.len() as i64,
            &ts as *const _ as i64,
            0,
        ],
    )
}

pub fn semctl(id: i64, num: i64, cmd: i64, arg: i64) -> Sys {
    syscall(libc::SYS_semctl, [id, num, cmd, arg, 0])
}

fn rmid(id: i64) -> Result<(), guest_user::check::Fail> {
    ok(semctl(id, 0, IPC_RMID, 0), "IPC_RMID").map(|_| ())
}

pub fn sem_ctl_commands() -> Check {
    let k = key(10);
    expect_err(
        semget(k, 0, IPC_CREAT | 0o600),
        libc::EINVAL,
        "creating 0 semaphores",
    )?;
    expect_err(
        semget(k, 32001, IPC_CREAT | 0o600),
        libc::EINVAL,
        "more than SEMMSL",
    )?;
    let id = ok(semget(k, 3, IPC_CREAT | 0o600), "semget")?;
    ensure!(
        semget(k, 2, 0) == Ok(id) && semget(k, 0, 0) == Ok(id),
        "lookup with fewer semaphores"
    );
    expect_err(
        semget(k, 4, 0),
        libc::EINVAL,
        "lookup asking for more semaphores",
    )?;
    expect_err(semget(k, 3, IPC_CREAT | IPC_EXCL), libc::EEXIST, "IPC_EXCL")?;
    ok(semctl(id, 1, SETVAL, 5), "SETVAL")?;
    ensure!(semctl(id, 1, GETVAL, 0) == Ok(5), "GETVAL after SETVAL 5");
    ensure!(
        semctl(id, 1, GETPID, 0) == Ok(guest_user::sys::getpid() as i64),
        "GETPID"
    );
    expect_err(
        semctl(id, 1, SETVAL, 32768),
        libc::ERANGE,
        "SETVAL above SEMVMX",
    )?;
    expect_err(semctl(id, 1, SETVAL, -1), libc::ERANGE, "SETVAL -1")?;
    expect_err(
        semctl(id, 3, GETVAL, 0),
        libc::EINVAL,
        "GETVAL of semaphore 3 of 3",
    )?;
    let all: [u16; 3] = [7, 8, 9];
    ok(semctl(id, 0, SETALL, all.as_ptr() as i64), "SETALL")?;
    let mut got = [0u16; 3];
    ok(semctl(id, 0, GETALL, got.as_mut_ptr() as i64), "GETALL")?;
    ensure!(got == all, "GETALL {got:?}");
    let mut ds = SemidDs::default();
    ok(
        semctl(id, 0, IPC_STAT, &mut ds as *mut _ as i64),
        "IPC_STAT",
    )?;
    ensure!(
        ds.nsems == 3 && ds.perm.mode & 0o777 == 0o600 && ds.perm.key == k as i32,
        "IPC_STAT {ds:?}"
    );
    ds.perm.mode = 0o660;
    ok(semctl(id, 0, IPC_SET, &mut ds as *mut _ as i64), "IPC_SET")?;
    // semop's argument checks.
    expect_err(semop(id, &[sop(3, 1, 0)]), libc::EFBIG, "sem_num 3 of 3")?;
    expect_err(semop(id, &[]), libc::EINVAL, "no operations")?;
    expect_err(
        semop(id, &vec![sop(0, 1, 0); 501]),
        libc::E2BIG,
        "501 operations",
    )?;
    expect_err(
        semop(id, &[sop(0, -8, NOWAIT)]),
        libc::EAGAIN,
        "IPC_NOWAIT would block",
    )?;
    expect_err(semop(id, &[sop(0, 32767, 0)]), libc::ERANGE, "overflow")?;
    ok(semop(id, &[sop(0, -7, 0), sop(2, 1, 0)]), "semop")?;
    ok(semctl(id, 0, GETALL, got.as_mut_ptr() as i64), "GETALL")?;
    ensure!(got == [0, 8, 10], "after semop {got:?}");
    let sem = read("/proc/sys/kernel/sem")?;
    ensure!(
        sem == "32000\t1024000000\t500\t32000\n",
        "/proc/sys/kernel/sem {sem:?}"
    );
    rmid(id)?;
    expect_err(
        semop(id, &[sop(0, 1, 0)]),
        libc::EINVAL,
        "semop on a removed set",
    )?;
    pass()
}

pub fn sem_blocking_and_counts() -> Check {
    let id = ok(semget(libc::IPC_PRIVATE as i64, 2, 0o600), "semget")?;
    // One child waits to decrement semaphore 0, one waits for semaphore 1 to be zero.
    let p = child(|| {
        if semop(id, &[sop(0, -1, 0)]).is_ok() {
            0
        } else {
            1
        }
    })?;
    ok(semctl(id, 1, SETVAL, 1), "SETVAL")?;
    let z = child(|| {
        if semop(id, &[sop(1, 0, 0)]).is_ok() {
            0
        } else {
            1
        }
    })?;
    ensure!(
        wait_for(|| semctl(id, 0, GETNCNT, 0) == Ok(1)),
        "GETNCNT never 1"
    );
    ensure!(
        wait_for(|| semctl(id, 1, GETZCNT, 0) == Ok(1)),
        "GETZCNT never 1"
    );
    ensure!(semctl(id, 1, GETNCNT, 0) == Ok(0), "GETNCNT of semaphore 1");
    ok(semop(id, &[sop(0, 1, 0)]), "V")?;
    reap_ok(p, "the decrement")?;
    ok(semop(id, &[sop(1, -1, 0)]), "to zero")?;
    reap_ok(z, "the wait for zero")?;
    ensure!(
        semctl(id, 0, GETNCNT, 0) == Ok(0) && semctl(id, 1, GETZCNT, 0) == Ok(0),
        "counts not back to 0"
    );
    ensure!(
        semctl(id, 0, GETVAL, 0) == Ok(0),
        "the child's decrement is missing"
    );
    rmid(id)?;
    pass()
}

pub fn sem_timeout_eintr_eidrm() -> Check {
    let id = ok(semget(libc::IPC_PRIVATE as i64, 1, 0o600), "semget")?;
    let t0 = Instant::now();
    expect_err(
        semtimedop(id, &[sop(0, -1, 0)], Duration::from_millis(100)),
        libc::EAGAIN,
        "semtimedop timeout",
    )?;
    ensure!(
        t0.elapsed() >= Duration::from_millis(100),
        "timed out after {:?}",
        t0.elapsed()
    );
    expect_err(
        syscall(
            libc::SYS_semtimedop,
            [id, [sop(0, -1, 0)].as_ptr() as i64, 1, 8, 0],
        ),
        libc::EFAULT,
        "semtimedop with a bad timeout pointer",
    )?;
    let pid = child(|| {
        catch_sigusr1(true);
        if semop(id, &[sop(0, -1, 0)]) != Err(libc::EINTR) {
            return 1;
        }
        if semop(id, &[sop(0, -1, 0)]) != Err(libc::EIDRM) {
            return 2;
        }
        0
    })?;
    ensure!(
        wait_for(|| semctl(id, 0, GETNCNT, 0) == Ok(1)),
        "the child never waited"
    );
    kill(pid, libc::SIGUSR1);
    std::thread::sleep(std::time::Duration::from_millis(50));
    ensure!(
        wait_for(|| semctl(id, 0, GETNCNT, 0) == Ok(1)),
        "the child never waited again"
    );
    rmid(id)?;
    reap_ok(pid, "EINTR then EIDRM")?;
    pass()
}

pub fn sem_undo_at_exit() -> Check {
    let id = ok(semget(libc::IPC_PRIVATE as i64, 2, 0o600), "semget")?;
    ok(semctl(id, 0, SETVAL, 1), "SETVAL")?;
    // The holder takes the lock (semaphore 0) and adds 2 to semaphore 1, both undoable,
    // then exits without releasing anything.
    let holder = child(|| {
        let r = semop(id, &[sop(0, -1, SEM_UNDO), sop(1, 2, SEM_UNDO)]);
        if r.is_ok() {
            0
        } else {
            1
        }
    })?;
    reap_ok(holder, "the holder")?;
    ensure!(
        semctl(id, 0, GETVAL, 0) == Ok(1),
        "the lock was not released at exit: {:?}",
        semctl(id, 0, GETVAL, 0)
    );
    ensure!(
        semctl(id, 1, GETVAL, 0) == Ok(0),
        "semaphore 1 not undone: {:?}",
        semctl(id, 1, GETVAL, 0)
    );
    // A waiter blocked on the lock gets it when the holder exits.
    let holder = child(|| {
        if semop(id, &[sop(0, -1, SEM_UNDO)]).is_err() {
            return 1;
        }
        std::thread::sleep(Duration::from_millis(100));
        0
    })?;
    ensure!(
        wait_for(|| semctl(id, 0, GETVAL, 0) == Ok(0)),
        "the holder never took the lock"
    );
    let t0 = Instant::now();
    ok(semop(id, &[sop(0, -1, 0)]), "waiting for the holder's exit")?;
    ensure!(
        t0.elapsed() >= Duration::from_millis(20),
        "got the lock while it was held"
    );
    reap_ok(holder, "the second holder")?;
    // SETVAL forgets adjustments: the undo of an exiting holder no longer applies.
    ok(semctl(id, 1, SETVAL, 5), "SETVAL")?;
    let p = child(|| {
        if semop(id, &[sop(1, -1, SEM_UNDO)]).is_err() {
            return 1;
        }
        if semctl(id, 1, SETVAL, 3).is_err() {
            2
        } else {
            0
        }
    })?;
    reap_ok(p, "SETVAL in the holder")?;
    ensure!(
        semctl(id, 1, GETVAL, 0) == Ok(3),
        "undo applied after SETVAL: {:?}",
        semctl(id, 1, GETVAL, 0)
    );
    rmid(id)?;
    pass()
}

pub fn sem_unrelated_processes() -> Check {
    let k = key(14);
    let id = ok(semget(k, 1, IPC_CREAT | 0o600), "semget")?;
    // The helper waits for the semaphore to reach 1, then takes it and adds 5.
    let helper = std::thread::spawn(move || run_helper(&["--sem-take", &k.to_string()]));
    ensure!(
        wait_for(|| semctl(id, 0, GETNCNT, 0) == Ok(1)),
        "the helper never waited"
    );
    ok(semop(id, &[sop(0, 1, 0)]), "V")?;
    let status = helper
        .join()
        .map_err(|_| guest_user::check::Fail("helper thread".into()))??;
    ensure!(status == 0, "helper exited {status}");
    ensure!(
        semctl(id, 0, GETVAL, 0) == Ok(5),
        "value {:?}",
        semctl(id, 0, GETVAL, 0)
    );
    rmid(id)?;
    pass()
}

/// The helper of `sem_unrelated_processes`.
pub fn sem_take(key: i64) -> i32 {
    let Ok(id) = semget(key, 0, 0) else { return 1 };
    if semop(id, &[sop(0, -1, 0), sop(0, 5, 0)]).is_err() {
        return 2;
    }
    0
}
