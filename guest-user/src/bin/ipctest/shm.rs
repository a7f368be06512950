//! System V shared memory: shmget's rules, shmat's address and SHM_RDONLY handling, shmdt,
//! shm_nattch across fork and detach, the /SYSV name in /proc/<pid>/maps, and IPC_RMID
//! destroying the segment at the last detach.

use guest_user::check::{pass, Check};
use guest_user::{ensure, fail};

use crate::util::*;

const SHM_RDONLY: i64 = 0o10000;
const SHM_RND: i64 = 0o20000;
const SHM_DEST: u32 = 0o1000;
const SHM_LOCKED: u32 = 0o2000;
const SHM_LOCK: i64 = 11;

pub fn shmget(key: i64, size: i64, flg: i64) -> Sys {
    syscall(libc::SYS_shmget, [key, size, flg, 0, 0])
}

pub fn shmat(id: i64, addr: i64, flg: i64) -> Sys {
    syscall(libc::SYS_shmat, [id, addr, flg, 0, 0])
}

pub fn shmdt(addr: i64) -> Sys {
    syscall(libc::SYS_shmdt, [addr, 0, 0, 0, 0])
}

pub fn shmctl(id: i64, cmd: i64, ds: *mut ShmidDs) -> Sys {
    syscall(libc::SYS_shmctl, [id, cmd, ds as i64, 0, 0])
}

pub fn shm_stat(id: i64) -> Result<ShmidDs, guest_user::check::Fail> {
    let mut ds = ShmidDs::default();
    shmctl(id, IPC_STAT, &mut ds).map_err(fail_errno("IPC_STAT"))?;
    Ok(ds)
}

/// The word at `addr`, inside an attached segment.
fn peek(addr: i64) -> u32 {
    // SAFETY: the callers pass addresses inside a live attach of theirs.
    unsafe { std::ptr::read_volatile(addr as *const u32) }
}

/// Writes the word at `addr`, inside an attached segment.
fn poke(addr: i64, v: u32) {
    // SAFETY: as for `peek`, on a writable attach.
    unsafe { std::ptr::write_volatile(addr as *mut u32, v) }
}

fn nattch(id: i64) -> u64 {
    shm_stat(id).map_or(u64::MAX, |d| d.nattch)
}

/// The /proc/self/maps line of the mapping at `addr`.
fn maps_line(addr: i64) -> Option<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let want = format!("{addr:08x}-");
    maps.lines()
        .find(|l| l.starts_with(&want))
        .map(str::to_string)
}

pub fn shm_get_attach_detach() -> Check {
    let k = key(20);
    expect_err(shmget(k, 0, IPC_CREAT | 0o600), libc::EINVAL, "size 0")?;
    let id = ok(shmget(k, 10000, IPC_CREAT | 0o600), "shmget")?;
    expect_err(
        shmget(k, 20000, 0),
        libc::EINVAL,
        "lookup asking for more than the size",
    )?;
    ensure!(shmget(k, 5000, 0) == Ok(id), "lookup with a smaller size");
    let ds = shm_stat(id)?;
    ensure!(
        ds.segsz == 10000 && ds.nattch == 0 && ds.cpid == guest_user::sys::getpid(),
        "IPC_STAT {ds:?}"
    );
    let addr = ok(shmat(id, 0, 0), "shmat")?;
    ensure!(nattch(id) == 1, "nattch {} after shmat", nattch(id));
    for off in (0..10000).step_by(4) {
        poke(addr + off, 0x5a5a_5a5a);
    }
    ensure!(peek(addr + 12284) == 0, "bytes past the size are not zero");
    let line = maps_line(addr).unwrap_or_default();
    let name = format!("/SYSV{:08x} (deleted)", k);
    ensure!(
        line.ends_with(&name) && line.contains(" rw-s 00000000 "),
        "maps line {line:?}, want {name}"
    );
    ensure!(
        line.contains(&format!(" {id} ")),
        "maps line {line:?} lacks inode {id}"
    );
    // A second attach, read-only, sees the same bytes; writing it faults.
    let ro = ok(shmat(id, 0, SHM_RDONLY), "shmat SHM_RDONLY")?;
    ensure!(nattch(id) == 2, "nattch {} with two attaches", nattch(id));
    ensure!(
        peek(ro + 9996) == 0x5a5a_5a5a,
        "the read-only attach differs"
    );
    let pid = child(|| {
        // Writes a read-only attach: the child must die of SIGSEGV.
        poke(ro, 1);
        0
    })?;
    let st =
        guest_user::sys::wait_status(pid).map_err(|e| guest_user::check::Fail(e.to_string()))?;
    ensure!(
        libc::WIFSIGNALED(st) && libc::WTERMSIG(st) == libc::SIGSEGV,
        "write to SHM_RDONLY: {}",
        guest_user::sys::describe_status(st)
    );
    expect_err(
        syscall(
            libc::SYS_mprotect,
            [ro, 4096, (libc::PROT_READ | libc::PROT_WRITE) as i64, 0, 0],
        ),
        libc::EACCES,
        "mprotect of a read-only attach to writable",
    )?;
    ok(shmdt(ro), "shmdt")?;
    // Addresses: unaligned needs SHM_RND; a taken place is EINVAL; a free one is used.
    expect_err(shmat(id, addr + 1, 0), libc::EINVAL, "unaligned address")?;
    expect_err(shmat(id, addr, 0), libc::EINVAL, "address already mapped")?;
    let want = 0x5000_0000i64;
    ensure!(
        shmat(id, want + 123, SHM_RND) == Ok(want),
        "SHM_RND did not round down"
    );
    ensure!(peek(want) == 0x5a5a_5a5a, "the fixed attach differs");
    ok(shmdt(want), "shmdt")?;
    expect_err(shmdt(want), libc::EINVAL, "shmdt twice")?;
    expect_err(shmdt(addr + 4096), libc::EINVAL, "shmdt inside the segment")?;
    ok(shmdt(addr), "shmdt")?;
    let ds = shm_stat(id)?;
    ensure!(
        ds.nattch == 0 && ds.dtime > 0 && ds.atime > 0,
        "after detach {ds:?}"
    );
    ensure!(maps_line(addr).is_none(), "still mapped after shmdt");
    ok(shmctl(id, SHM_LOCK, std::ptr::null_mut()), "SHM_LOCK")?;
    ensure!(
        shm_stat(id)?.perm.mode & SHM_LOCKED != 0,
        "SHM_LOCKED not set"
    );
    ok(shmctl(id, IPC_RMID, std::ptr::null_mut()), "IPC_RMID")?;
    expect_err(
        shmctl(id, IPC_STAT, &mut ShmidDs::default()),
        libc::EINVAL,
        "IPC_STAT after IPC_RMID",
    )?;
    pass()
}

pub fn shm_shared_across_fork() -> Check {
    let id = ok(shmget(libc::IPC_PRIVATE as i64, 4096, 0o600), "shmget")?;
    let addr = ok(shmat(id, 0, 0), "shmat")?;
    let pid = child(|| {
        // The attach is inherited across fork; the parent answers in the same page.
        poke(addr, 42);
        let answered = wait_for(|| peek(addr + 4) == 43);
        if answered {
            0
        } else {
            1
        }
    })?;
    ensure!(
        wait_for(|| peek(addr) == 42),
        "the child's write never showed"
    );
    ensure!(
        nattch(id) == 2,
        "nattch {} with a child attached",
        nattch(id)
    );
    poke(addr + 4, 43);
    reap_ok(pid, "the child")?;
    ensure!(
        wait_for(|| nattch(id) == 1),
        "nattch {} after the child exited",
        nattch(id)
    );
    ok(shmdt(addr), "shmdt")?;
    ok(shmctl(id, IPC_RMID, std::ptr::null_mut()), "IPC_RMID")?;
    pass()
}

pub fn shm_rmid_destroys_at_last_detach() -> Check {
    let k = key(22);
    let id = ok(shmget(k, 8192, IPC_CREAT | 0o600), "shmget")?;
    let addr = ok(shmat(id, 0, 0), "shmat")?;
    poke(addr, 9);
    ok(shmctl(id, IPC_RMID, std::ptr::null_mut()), "IPC_RMID")?;
    // Still there, marked for destruction, its key gone.
    let ds = shm_stat(id)?;
    ensure!(
        ds.perm.mode & SHM_DEST != 0 && ds.perm.key == 0 && ds.nattch == 1,
        "after IPC_RMID {ds:?}"
    );
    expect_err(
        shmget(k, 8192, 0),
        libc::ENOENT,
        "shmget of the removed key",
    )?;
    let sysvipc = read("/proc/sysvipc/shm").unwrap_or_default();
    ensure!(peek(addr) == 9, "data lost at IPC_RMID");
    // Linux lets a process attach a removed segment by id while it lives.
    let again = ok(shmat(id, 0, 0), "shmat of a removed segment")?;
    ensure!(nattch(id) == 2, "nattch {}", nattch(id));
    ok(shmdt(again), "shmdt")?;
    ok(shmdt(addr), "shmdt")?;
    expect_err(
        shmctl(id, IPC_STAT, &mut ShmidDs::default()),
        libc::EINVAL,
        "IPC_STAT after the last detach",
    )?;
    expect_err(shmat(id, 0, 0), libc::EINVAL, "shmat after the last detach")?;
    if !sysvipc.is_empty() {
        ensure!(
            sysvipc
                .lines()
                .any(|l| l.split_whitespace().nth(1) == Some(&id.to_string())),
            "/proc/sysvipc/shm lacked the removed segment:\n{sysvipc}"
        );
        let now = read("/proc/sysvipc/shm")?;
        if now
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some(&id.to_string()))
        {
            fail!("/proc/sysvipc/shm still lists {id}:\n{now}");
        }
    }
    pass()
}

pub fn shm_unrelated_processes() -> Check {
    let k = key(23);
    let id = ok(shmget(k, 4096, IPC_CREAT | 0o600), "shmget")?;
    let addr = ok(shmat(id, 0, 0), "shmat")?;
    let status = run_helper(&["--shm-write", &k.to_string()])?;
    ensure!(status == 0, "helper exited {status}");
    let got = peek(addr);
    ensure!(got == u32::from_le_bytes(*b"hell"), "read {got:#x}");
    ensure!(nattch(id) == 1, "the helper's attach outlived it");
    ok(shmdt(addr), "shmdt")?;
    ok(shmctl(id, IPC_RMID, std::ptr::null_mut()), "IPC_RMID")?;
    pass()
}

/// The helper of `shm_unrelated_processes`: attach segment KEY and write "hell".
pub fn shm_write(key: i64) -> i32 {
    let Ok(id) = shmget(key, 0, 0) else { return 1 };
    let Ok(addr) = shmat(id, 0, 0) else { return 2 };
    poke(addr, u32::from_le_bytes(*b"hell"));
    0
}
