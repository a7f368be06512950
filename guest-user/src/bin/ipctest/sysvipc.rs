//! /proc/sysvipc/{msg,sem,shm} in Linux's exact format, and `ipcs` (ours in the guest,
//! util-linux's on a Linux host) printing what they hold.

use guest_user::check::{pass, Check, Fail};
use guest_user::ensure;

use crate::msg::{msgget, msgsnd, MsgBuf};
use crate::sem::semget;
use crate::shm::{shmat, shmctl, shmdt, shmget};
use crate::util::*;

const MSG_HEADER: &str = "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime";
const SEM_HEADER: &str =
    "       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime";
const SHM_HEADER: &str = "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap";

/// The line of /proc/sysvipc/`file` for object `id`, after checking the header.
fn proc_line(file: &str, header: &str, id: i64) -> Result<String, Fail> {
    let text = read(&format!("/proc/sysvipc/{file}"))?;
    let mut lines = text.lines();
    ensure!(
        lines.next() == Some(header),
        "/proc/sysvipc/{file} header:\n{text}"
    );
    lines
        .find(|l| l.split_whitespace().nth(1) == Some(&id.to_string()))
        .map(str::to_string)
        .ok_or_else(|| Fail(format!("/proc/sysvipc/{file} lacks {id}:\n{text}")))
}

pub fn sysvipc_proc_files() -> Check {
    let pid = guest_user::sys::getpid();
    let k = key(30);
    let q = ok(msgget(k, IPC_CREAT | 0o640), "msgget")?;
    ok(msgsnd(q, &MsgBuf::new(1, b"12345"), 5, 0), "msgsnd")?;
    let line = proc_line("msg", MSG_HEADER, q)?;
    let want = format!(
        "{k:10} {q:10}   640           5          1 {pid:5}     0     0     0     0     0 "
    );
    ensure!(
        line.starts_with(&want),
        "msg line {line:?}, want {want:?}..."
    );
    let s = ok(semget(k, 4, IPC_CREAT | 0o600), "semget")?;
    let line = proc_line("sem", SEM_HEADER, s)?;
    let want = format!("{k:10} {s:10}   600          4     0     0     0     0          0 ");
    ensure!(
        line.starts_with(&want),
        "sem line {line:?}, want {want:?}..."
    );
    let m = ok(shmget(k, 5000, IPC_CREAT | 0o600), "shmget")?;
    let addr = ok(shmat(m, 0, 0), "shmat")?;
    let line = proc_line("shm", SHM_HEADER, m)?;
    let want = format!(
        "{k:10} {m:10}   600                  5000 {pid:5} {pid:5}      1     0     0     0     0 "
    );
    ensure!(
        line.starts_with(&want),
        "shm line {line:?}, want {want:?}..."
    );
    ok(shmctl(m, IPC_RMID, std::ptr::null_mut()), "IPC_RMID")?;
    // Removed while attached: key 0 and the SHM_DEST bit in the mode.
    let line = proc_line("shm", SHM_HEADER, m)?;
    let want = format!("{:10} {m:10}  1600 ", 0);
    ensure!(
        line.starts_with(&want),
        "destroyed shm line {line:?}, want {want:?}..."
    );
    let ipcs = std::process::Command::new("ipcs")
        .output()
        .map_err(|e| Fail(format!("ipcs: {e}")))?;
    let out = String::from_utf8_lossy(&ipcs.stdout).into_owned();
    ok(shmdt(addr), "shmdt")?;
    ok(
        crate::msg::msgctl(q, IPC_RMID, std::ptr::null_mut()),
        "msgctl",
    )?;
    ok(crate::sem::semctl(s, 0, IPC_RMID, 0), "semctl")?;
    // Named from /etc/passwd when there is one (a Linux host), else by number.
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let root = if passwd.lines().any(|l| l.starts_with("root:x:0:")) {
        "root"
    } else {
        "0"
    };
    for want in [
        "\n------ Message Queues --------\nkey        msqid      owner      perms      used-bytes   messages    \n".to_string(),
        format!("0x{k:08x} {q:<10} {root:<10} 640        5            1           \n"),
        "\n------ Shared Memory Segments --------\nkey        shmid      owner      perms      bytes      nattch     status      \n".to_string(),
        format!("0x00000000 {m:<10} {root:<10} 600        5000       1          dest         \n"),
        "\n------ Semaphore Arrays --------\nkey        semid      owner      perms      nsems     \n".to_string(),
        format!("0x{k:08x} {s:<10} {root:<10} 600        4         \n"),
    ] {
        ensure!(out.contains(&want), "ipcs lacks {want:?}:\n{out}");
    }
    ensure!(
        out.starts_with("\n------ Message Queues"),
        "ipcs output starts {out:?}"
    );
    pass()
}
