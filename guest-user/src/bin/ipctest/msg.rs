//! System V message queues: msgget's create/find rules, msgrcv's type selection, the limits
//! and errors, blocking with EINTR and EIDRM, and queues between forked and unrelated
//! processes.

use guest_user::check::{pass, Check};
use guest_user::{ensure, fail};

use crate::util::*;

const MSG_NOERROR: i64 = 0o10000;
const MSG_EXCEPT: i64 = 0o20000;

/// A message buffer: `mtype` and up to 256 bytes of text.
#[repr(C)]
pub struct MsgBuf {
    pub mtype: i64,
    pub text: [u8; 256],
}

impl MsgBuf {
    pub fn new(mtype: i64, text: &[u8]) -> Self {
        let mut b = MsgBuf {
            mtype,
            text: [0; 256],
        };
        b.text[..text.len()].copy_from_slice(text);
        b
    }
}

pub fn msgget(key: i64, flg: i64) -> Sys {
    syscall(libc::SYS_msgget, [key, flg, 0, 0, 0])
}

pub fn msgsnd(id: i64, m: &MsgBuf, len: usize, flg: i64) -> Sys {
    syscall(
        libc::SYS_msgsnd,
        [id, m as *const _ as i64, len as i64, flg, 0],
    )
}

pub fn msgrcv(id: i64, m: &mut MsgBuf, len: usize, typ: i64, flg: i64) -> Sys {
    syscall(
        libc::SYS_msgrcv,
        [id, m as *mut _ as i64, len as i64, typ, flg],
    )
}

pub fn msgctl(id: i64, cmd: i64, ds: *mut MsqidDs) -> Sys {
    syscall(libc::SYS_msgctl, [id, cmd, ds as i64, 0, 0])
}

pub fn msg_stat(id: i64) -> Result<MsqidDs, guest_user::check::Fail> {
    let mut ds = MsqidDs::default();
    msgctl(id, IPC_STAT, &mut ds).map_err(fail_errno("IPC_STAT"))?;
    Ok(ds)
}

pub fn msg_get_rules() -> Check {
    let k = key(1);
    expect_err(msgget(k, 0o600), libc::ENOENT, "msgget of an unknown key")?;
    let id = ok(msgget(k, IPC_CREAT | 0o640), "msgget IPC_CREAT")?;
    ensure!(
        ok(msgget(k, 0), "msgget(key, 0)")? == id,
        "same key, other id"
    );
    ensure!(
        ok(msgget(k, IPC_CREAT | 0o600), "msgget again")? == id,
        "IPC_CREAT of an existing key made a new queue"
    );
    expect_err(
        msgget(k, IPC_CREAT | IPC_EXCL | 0o600),
        libc::EEXIST,
        "IPC_EXCL on an existing key",
    )?;
    let a = ok(msgget(libc::IPC_PRIVATE as i64, 0o600), "IPC_PRIVATE")?;
    let b = ok(msgget(libc::IPC_PRIVATE as i64, 0o600), "IPC_PRIVATE")?;
    ensure!(
        a != b && a != id,
        "IPC_PRIVATE ids {a} {b} {id} not distinct"
    );
    let ds = msg_stat(id)?;
    ensure!(
        ds.perm.mode & 0o777 == 0o640,
        "mode {:o}, want 640",
        ds.perm.mode
    );
    ensure!(
        ds.perm.key == k as i32,
        "key {:#x}, want {k:#x}",
        ds.perm.key
    );
    ensure!(ds.qbytes == 16384, "msg_qbytes {}, want 16384", ds.qbytes);
    // Another user: read-only for the group, nothing for others.
    let pid = child(|| {
        // SAFETY: setgid/setuid take no pointers.
        unsafe {
            libc::setgid(1000);
            libc::setuid(1000);
        }
        let m = MsgBuf::new(1, b"x");
        let denied = msgget(k, 0o400) == Err(libc::EACCES)
            && msgsnd(id, &m, 1, IPC_NOWAIT) == Err(libc::EACCES)
            && msgctl(id, IPC_RMID, std::ptr::null_mut()) == Err(libc::EPERM)
            && msgget(k, 0) == Ok(id);
        if denied {
            0
        } else {
            1
        }
    })?;
    reap_ok(pid, "uid 1000 gets EACCES and EPERM")?;
    for q in [id, a, b] {
        ok(msgctl(q, IPC_RMID, std::ptr::null_mut()), "IPC_RMID")?;
    }
    expect_err(
        msgctl(id, IPC_STAT, &mut MsqidDs::default()),
        libc::EINVAL,
        "IPC_STAT of a removed queue",
    )?;
    expect_err(msgget(k, 0), libc::ENOENT, "msgget of a removed key")?;
    pass()
}

pub fn msg_type_selection() -> Check {
    let id = ok(msgget(libc::IPC_PRIVATE as i64, 0o600), "msgget")?;
    for (t, text) in [(3, &b"three"[..]), (1, b"one"), (2, b"two"), (1, b"uno")] {
        ok(msgsnd(id, &MsgBuf::new(t, text), text.len(), 0), "msgsnd")?;
    }
    let mut m = MsgBuf::new(0, b"");
    let mut recv = |typ: i64, flg: i64| -> Sys {
        let n = msgrcv(id, &mut m, 256, typ, flg | IPC_NOWAIT)?;
        Ok(m.mtype * 1000 + n)
    };
    ensure!(recv(1, 0) == Ok(1003), "type 1: first of type 1 (one)");
    ensure!(recv(-2, 0) == Ok(1003), "type -2: lowest type ≤ 2 (uno)");
    ensure!(recv(3, MSG_EXCEPT) == Ok(2003), "MSG_EXCEPT 3 takes type 2");
    expect_err(
        recv(5, 0),
        libc::ENOMSG,
        "no message of type 5 with IPC_NOWAIT",
    )?;
    ensure!(recv(0, 0) == Ok(3005), "type 0 takes the first");
    expect_err(recv(0, 0), libc::ENOMSG, "empty queue with IPC_NOWAIT")?;
    // Too long for the buffer: E2BIG and the message stays, unless MSG_NOERROR truncates.
    ok(msgsnd(id, &MsgBuf::new(7, b"abcdef"), 6, 0), "msgsnd")?;
    expect_err(
        msgrcv(id, &mut m, 3, 0, IPC_NOWAIT),
        libc::E2BIG,
        "msgrcv into a short buffer",
    )?;
    ensure!(
        msgrcv(id, &mut m, 3, 0, IPC_NOWAIT | MSG_NOERROR) == Ok(3),
        "MSG_NOERROR truncates to 3"
    );
    ensure!(
        &m.text[..3] == b"abc" && m.mtype == 7,
        "truncated message {:?}",
        &m.text[..3]
    );
    // Bad arguments.
    expect_err(
        msgsnd(id, &MsgBuf::new(0, b"x"), 1, 0),
        libc::EINVAL,
        "mtype 0",
    )?;
    expect_err(
        msgsnd(id, &MsgBuf::new(1, b"x"), 8193, 0),
        libc::EINVAL,
        "msgsz above msgmax",
    )?;
    expect_err(
        msgrcv(id, &mut m, usize::MAX, 0, 0),
        libc::EINVAL,
        "negative msgsz",
    )?;
    expect_err(
        syscall(libc::SYS_msgsnd, [id, 16, 1, 0, 0]),
        libc::EFAULT,
        "msgsnd of a bad pointer",
    )?;
    expect_err(
        msgsnd(-1, &MsgBuf::new(1, b"x"), 1, 0),
        libc::EINVAL,
        "msgsnd to id -1",
    )?;
    expect_err(
        msgctl(id, 99, std::ptr::null_mut()),
        libc::EINVAL,
        "msgctl command 99",
    )?;
    ok(msgctl(id, IPC_RMID, std::ptr::null_mut()), "IPC_RMID")?;
    pass()
}

pub fn msg_limits_and_stat() -> Check {
    for (name, want) in [("msgmax", "8192"), ("msgmnb", "16384"), ("msgmni", "32000")] {
        let v = read(&format!("/proc/sys/kernel/{name}"))?;
        ensure!(
            v.trim() == want,
            "/proc/sys/kernel/{name} is {v:?}, want {want}"
        );
    }
    let id = ok(msgget(libc::IPC_PRIVATE as i64, 0o600), "msgget")?;
    let mut ds = msg_stat(id)?;
    ds.qbytes = 100;
    ds.perm.mode = 0o644;
    ok(msgctl(id, IPC_SET, &mut ds), "IPC_SET")?;
    let m = MsgBuf::new(1, &[7; 60]);
    ok(msgsnd(id, &m, 60, 0), "first 60 bytes")?;
    expect_err(
        msgsnd(id, &m, 60, IPC_NOWAIT),
        libc::EAGAIN,
        "msgsnd to a full queue with IPC_NOWAIT",
    )?;
    let ds = msg_stat(id)?;
    ensure!(
        ds.qbytes == 100 && ds.perm.mode & 0o777 == 0o644,
        "IPC_SET did not take"
    );
    ensure!(
        ds.cbytes == 60 && ds.qnum == 1,
        "cbytes {} qnum {}",
        ds.cbytes,
        ds.qnum
    );
    ensure!(ds.lspid == guest_user::sys::getpid(), "lspid {}", ds.lspid);
    ensure!(
        ds.stime > 0 && ds.rtime == 0,
        "stime {} rtime {}",
        ds.stime,
        ds.rtime
    );
    ok(msgctl(id, IPC_RMID, std::ptr::null_mut()), "IPC_RMID")?;
    pass()
}

pub fn msg_between_processes() -> Check {
    let id = ok(msgget(libc::IPC_PRIVATE as i64, 0o600), "msgget")?;
    // The child echoes type 1 messages back as type 2, adding one to the first byte.
    let pid = child(|| {
        let mut m = MsgBuf::new(0, b"");
        for _ in 0..50 {
            if msgrcv(id, &mut m, 256, 1, 0) != Ok(1) {
                return 1;
            }
            m.mtype = 2;
            m.text[0] += 1;
            if msgsnd(id, &m, 1, 0).is_err() {
                return 2;
            }
        }
        0
    })?;
    let mut m = MsgBuf::new(0, b"");
    for i in 0..50u8 {
        ok(msgsnd(id, &MsgBuf::new(1, &[i]), 1, 0), "msgsnd")?;
        ok(msgrcv(id, &mut m, 256, 2, 0), "msgrcv")?;
        ensure!(
            m.mtype == 2 && m.text[0] == i + 1,
            "reply {} to {i}",
            m.text[0]
        );
    }
    reap_ok(pid, "echo")?;
    let ds = msg_stat(id)?;
    ensure!(ds.lrpid == guest_user::sys::getpid(), "lrpid {}", ds.lrpid);
    ok(msgctl(id, IPC_RMID, std::ptr::null_mut()), "IPC_RMID")?;
    pass()
}

pub fn msg_eintr_and_eidrm() -> Check {
    let id = ok(msgget(libc::IPC_PRIVATE as i64, 0o600), "msgget")?;
    let pid = child(|| {
        // Even with SA_RESTART, msgrcv ends with EINTR.
        catch_sigusr1(true);
        let mut m = MsgBuf::new(0, b"");
        if msgrcv(id, &mut m, 256, 0, 0) != Err(libc::EINTR) {
            return 1;
        }
        if msgrcv(id, &mut m, 256, 0, 0) != Err(libc::EIDRM) {
            return 2;
        }
        0
    })?;
    // Wait until the child sleeps, interrupt it, let it sleep again, remove the queue.
    let sleeping = || state_of(pid) == 'S';
    ensure!(wait_for(sleeping), "the receiver never slept");
    kill(pid, libc::SIGUSR1);
    std::thread::sleep(std::time::Duration::from_millis(50));
    ensure!(wait_for(sleeping), "the receiver never slept again");
    ok(msgctl(id, IPC_RMID, std::ptr::null_mut()), "IPC_RMID")?;
    reap_ok(pid, "EINTR then EIDRM")?;
    pass()
}

pub fn msg_unrelated_processes() -> Check {
    let k = key(6);
    let id = ok(msgget(k, IPC_CREAT | 0o600), "msgget")?;
    ok(msgsnd(id, &MsgBuf::new(5, b"ping"), 4, 0), "msgsnd")?;
    let status = run_helper(&["--msg-echo", &k.to_string()])?;
    ensure!(status == 0, "helper exited {status}");
    let mut m = MsgBuf::new(0, b"");
    let n = ok(
        msgrcv(id, &mut m, 256, 6, IPC_NOWAIT),
        "msgrcv of the reply",
    )?;
    if &m.text[..n as usize] != b"pong" {
        fail!("reply {:?}", &m.text[..n as usize]);
    }
    ok(msgctl(id, IPC_RMID, std::ptr::null_mut()), "IPC_RMID")?;
    pass()
}

/// The helper: take the type 5 message from queue KEY and answer "pong" as type 6.
pub fn msg_echo(key: i64) -> i32 {
    let Ok(id) = msgget(key, 0) else { return 1 };
    let mut m = MsgBuf::new(0, b"");
    if msgrcv(id, &mut m, 256, 5, 0) != Ok(4) || &m.text[..4] != b"ping" {
        return 2;
    }
    if msgsnd(id, &MsgBuf::new(6, b"pong"), 4, 0).is_err() {
        return 3;
    }
    0
}
