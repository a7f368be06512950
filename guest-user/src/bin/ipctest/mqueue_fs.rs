//! The mqueue filesystem: /proc/filesystems, the fs.mqueue sysctls, mounting it, the queue
//! files it shows (their line, size, creation by open(2), no directories), and a queue
//! unlinked while open.

use guest_user::check::{pass, Check, Fail};
use guest_user::{ensure, fail};

use crate::mqueue::*;
use crate::util::*;

/// /dev/mqueue mounted (as root, if it is not), or why not.
pub fn dev_mqueue() -> Result<bool, Fail> {
    let mounts = read("/proc/mounts")?;
    if mounts
        .lines()
        .any(|l| l.split(' ').nth(2) == Some("mqueue"))
    {
        return Ok(true);
    }
    if guest_user::sys::geteuid() != 0 {
        return Ok(false);
    }
    let _ = std::fs::create_dir("/dev/mqueue");
    let (src, dst, ty) = (cstr("none"), cstr("/dev/mqueue"), cstr("mqueue"));
    // SAFETY: NUL-terminated strings that outlive the call.
    let r = unsafe { libc::mount(src.as_ptr(), dst.as_ptr(), ty.as_ptr(), 0, std::ptr::null()) };
    if r != 0 {
        fail!("mount -t mqueue: {}", errno_name(guest_user::sys::errno()));
    }
    Ok(true)
}

pub fn mq_filesystem_and_unlink() -> Check {
    let fs = read("/proc/filesystems")?;
    ensure!(
        fs.contains("nodev\tmqueue\n"),
        "no mqueue in /proc/filesystems"
    );
    for (knob, want) in [
        ("msg_max", "10"),
        ("msgsize_max", "8192"),
        ("msg_default", "10"),
        ("msgsize_default", "8192"),
        ("queues_max", "256"),
    ] {
        let v = read(&format!("/proc/sys/fs/mqueue/{knob}"))?;
        ensure!(v.trim() == want, "fs.mqueue.{knob} is {v:?}, want {want}");
    }
    let mounted = dev_mqueue()?;
    let (name, fd) = create("file", 3, 32)?;
    ok(mq_send(fd, b"hello", 1, None), "send")?;
    ok(mq_send(fd, b"world!", 2, None), "send")?;
    if mounted {
        let path = format!("/dev/mqueue/{name}");
        let line = read(&path)?;
        let want = "QSIZE:11         NOTIFY:0     SIGNO:0     NOTIFY_PID:0     \n";
        ensure!(line == want, "{path} reads {line:?}, want {want:?}");
        let md = std::fs::metadata(&path).map_err(|e| Fail(format!("stat: {e}")))?;
        ensure!(md.len() == 80 && md.is_file(), "st_size {}", md.len());
        // A queue made by open(2) in the filesystem has the default attributes.
        let other = format!("/dev/mqueue/{}", qname("by-open"));
        std::fs::File::create(&other).map_err(|e| Fail(format!("creat {other}: {e}")))?;
        let o = ok(
            mq_open(
                other.trim_start_matches("/dev/mqueue/"),
                libc::O_RDONLY,
                0,
                None,
            ),
            "mq_open of a queue made by open(2)",
        )?;
        let a = ok(getsetattr(o, None), "getsetattr")?;
        ensure!(
            (a.maxmsg, a.msgsize) == (10, 8192),
            "default attributes {a:?}"
        );
        close(o);
        std::fs::remove_file(&other).map_err(|e| Fail(format!("unlink {other}: {e}")))?;
        let mkdir = std::fs::create_dir(format!("/dev/mqueue/{}", qname("dir")));
        ensure!(mkdir.is_err(), "mkdir in an mqueue filesystem worked");
    }
    // Unlinked while open: the name is gone, the descriptor keeps working.
    ok(mq_unlink(&name), "mq_unlink")?;
    expect_err(
        mq_open(&name, libc::O_RDWR, 0, None),
        libc::ENOENT,
        "open after unlink",
    )?;
    if mounted {
        let listed = std::fs::read_dir("/dev/mqueue")
            .map_err(|e| Fail(format!("readdir: {e}")))?
            .any(|e| e.is_ok_and(|e| e.file_name().to_str() == Some(name.as_str())));
        ensure!(!listed, "/dev/mqueue still lists {name}");
    }
    let fresh = ok(
        mq_open(
            &name,
            libc::O_RDWR | libc::O_CREAT | libc::O_EXCL,
            0o600,
            Some(&attr(1, 8)),
        ),
        "a new queue of the same name",
    )?;
    ok(mq_send(fd, b"more", 0, None), "send after unlink")?;
    ensure!(
        take(fd, 32)? == (b"world!".to_vec(), 2),
        "first after unlink"
    );
    ensure!(
        take(fd, 32)? == (b"hello".to_vec(), 1),
        "second after unlink"
    );
    ensure!(take(fd, 32)? == (b"more".to_vec(), 0), "third after unlink");
    let a = ok(getsetattr(fresh, None), "getsetattr")?;
    ensure!(a.curmsgs == 0 && a.maxmsg == 1, "the new queue is {a:?}");
    close(fd);
    close(fresh);
    ok(mq_unlink(&name), "unlink")?;
    pass()
}
