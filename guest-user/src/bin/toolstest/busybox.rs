//! Checks that run Debian's unmodified static busybox (glibc-linked, built for Linux) on our
//! kernel: its shell, ls, ps, cat, free, uname, mount, dmesg and file applets. They skip when
//! the initramfs has no /bin/busybox (the default one does not; the busybox one does).

use guest_user::check::{pass, pass_with, skip, Check, Context};
use guest_user::ensure;

use crate::{run, run_ok, scratch, Output};

const BUSYBOX: &str = "/bin/busybox";

fn have_busybox() -> bool {
    std::path::Path::new(BUSYBOX).exists()
}

/// `busybox sh -c SCRIPT`.
fn sh(script: &str) -> Result<Output, guest_user::check::Fail> {
    run(&[BUSYBOX, "sh", "-c", script])
}

/// Fails unless the process ended by itself: a kernel that kills busybox with a signal
/// (SIGSEGV from a bad struct, SIGSYS, ...) shows as 128+N.
fn not_killed(o: &Output, what: &str) -> Result<(), guest_user::check::Fail> {
    ensure!(
        o.code < 128,
        "{what} died with signal {}: {}",
        o.code - 128,
        o.err
    );
    Ok(())
}

pub fn shell_pipeline() -> Check {
    if !have_busybox() {
        return skip("no /bin/busybox in this initramfs");
    }
    let o = sh("echo one two three | busybox wc -w")?;
    ensure!(
        o.code == 0 && o.out.trim() == "3",
        "pipeline: {:?} {:?}",
        o.out,
        o.err
    );
    let d = scratch("bbsh")?;
    let script = format!(
        "cd {d} && for i in 1 2 3; do echo line$i; done > f && \
         x=$(busybox cat f | busybox grep -c line) && echo count=$x && \
         (exit 3); echo status=$? && busybox cat < f | busybox tail -n 1 && \
         v=$((6 * 7)) && echo $v 2>&1"
    );
    let o = sh(&script)?;
    ensure!(
        o.out == "count=3\nstatus=3\nline3\n42\n",
        "script output {:?}, stderr {:?}",
        o.out,
        o.err
    );
    let o = sh("exit 7")?;
    ensure!(o.code == 7, "exit 7 gave {}", o.code);
    // A background job and wait.
    let o = sh("busybox sleep 0.1 & wait $!; echo waited $?")?;
    ensure!(o.out == "waited 0\n", "wait: {:?} {:?}", o.out, o.err);
    pass()
}

pub fn ls() -> Check {
    if !have_busybox() {
        return skip("no /bin/busybox in this initramfs");
    }
    let out = run_ok(&[BUSYBOX, "ls", "-l", "/"])?;
    let bin = out.lines().find(|l| l.ends_with(" bin")).unwrap_or("");
    ensure!(
        bin.starts_with("drwxr-xr-x ") && bin.contains(" root     root "),
        "{out}"
    );
    let null = run_ok(&[BUSYBOX, "ls", "-l", "/dev/null"])?;
    ensure!(
        null.starts_with("crw-rw-rw-    1 root     root        1,   3 "),
        "busybox ls -l /dev/null: {null:?}"
    );
    let link = run_ok(&[BUSYBOX, "ls", "-l", "/bin/ls"])?;
    ensure!(
        link.trim_end().ends_with("/bin/ls -> coreutils"),
        "{link:?}"
    );
    pass_with(bin)
}

pub fn ps() -> Check {
    if !have_busybox() {
        return skip("no /bin/busybox in this initramfs");
    }
    let out = run_ok(&[BUSYBOX, "ps"])?;
    let l: Vec<&str> = out.lines().collect();
    ensure!(l.first().is_some_and(|h| h.starts_with("PID")), "{out}");
    ensure!(
        l.iter().any(|x| x.trim_start().starts_with("1 root ")),
        "no init:\n{out}"
    );
    ensure!(l.iter().any(|x| x.ends_with("[kthreadd]")), "{out}");
    ensure!(l.iter().any(|x| x.ends_with("busybox ps")), "{out}");
    pass_with(format!("{} processes", l.len() - 1))
}

pub fn proc_files() -> Check {
    if !have_busybox() {
        return skip("no /bin/busybox in this initramfs");
    }
    for f in [
        "/proc/version",
        "/proc/meminfo",
        "/proc/mounts",
        "/proc/self/status",
    ] {
        let theirs = run_ok(&[BUSYBOX, "cat", f])?;
        ensure!(!theirs.is_empty(), "busybox cat {f} is empty");
        if f != "/proc/self/status" && f != "/proc/meminfo" {
            let ours = std::fs::read_to_string(f).ctx(f)?;
            ensure!(theirs == ours, "{f}: {theirs:?} vs {ours:?}");
        }
    }
    let up = run_ok(&[BUSYBOX, "uptime"])?;
    ensure!(up.contains(" up ") && up.contains("load average: "), "{up}");
    pass()
}

pub fn free() -> Check {
    if !have_busybox() {
        return skip("no /bin/busybox in this initramfs");
    }
    let out = run_ok(&[BUSYBOX, "free"])?;
    let mem: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("Mem:"))
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let meminfo = std::fs::read_to_string("/proc/meminfo").ctx("/proc/meminfo")?;
    let total = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or("?");
    // busybox reads sysinfo(2): its total must be /proc/meminfo's.
    ensure!(
        mem.get(1) == Some(&total),
        "busybox free total {mem:?} vs {total}\n{out}"
    );
    ensure!(
        mem.get(3).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0) > 0,
        "no free memory: {out}"
    );
    pass_with(format!("total {total} kB"))
}

pub fn uname_mount_dmesg() -> Check {
    if !have_busybox() {
        return skip("no /bin/busybox in this initramfs");
    }
    let u = run_ok(&[BUSYBOX, "uname", "-a"])?;
    ensure!(
        u.starts_with("Linux watchvm 6.1.0-watchvm #1 SMP PREEMPT watchvm 0.1.0 x86_64"),
        "{u}"
    );
    let m = run_ok(&[BUSYBOX, "mount"])?;
    ensure!(m.contains("proc on /proc type proc (rw"), "{m}");
    let d = run_ok(&[BUSYBOX, "dmesg"])?;
    ensure!(
        d.lines()
            .any(|l| l.contains("] Linux version 6.1.0-watchvm")),
        "busybox dmesg:\n{d}"
    );
    let id = run_ok(&[BUSYBOX, "id"])?;
    ensure!(id.starts_with("uid=0(root) gid=0(root)"), "{id}");
    pass()
}

pub fn files() -> Check {
    if !have_busybox() {
        return skip("no /bin/busybox in this initramfs");
    }
    let d = scratch("bbfiles")?;
    let script = format!(
        "set -e; cd {d}; busybox mkdir -p a/b; busybox touch a/b/f; echo 'k v' > a/b/f; \
         busybox cp -r a c; busybox mv c/b c/d; busybox find . | busybox sort; \
         busybox awk '{{print $2}}' c/d/f; busybox sed s/k/K/ c/d/f; \
         busybox stat -c '%s %F' c/d/f; busybox md5sum c/d/f; busybox rm -r a c; busybox ls"
    );
    let o = sh(&script)?;
    not_killed(&o, "busybox file applets")?;
    let want = ".\n./a\n./a/b\n./a/b/f\n./c\n./c/d\n./c/d/f\nv\nK v\n4 regular file\n\
                025cf062bc4a9a5744b53854813d07de  c/d/f\n";
    ensure!(
        o.code == 0 && o.out == want,
        "got {:?} (exit {}, stderr {:?})",
        o.out,
        o.code,
        o.err
    );
    pass()
}

pub fn ipcs() -> Check {
    if !have_busybox() {
        return skip("no /bin/busybox in this initramfs");
    }
    let o = run(&[BUSYBOX, "ipcs"])?;
    if o.err.contains("applet not found") {
        return skip("this busybox has no ipcs applet");
    }
    not_killed(&o, "busybox ipcs")?;
    pass_with(format!("exit {}", o.code))
}

pub fn ionice() -> Check {
    if !have_busybox() {
        return skip("no /bin/busybox in this initramfs");
    }
    let o = sh("busybox ionice -c 2 -n 5 -p $$ && busybox ionice -p $$ && busybox ionice -c 3 busybox ionice")?;
    ensure!(
        o.code == 0 && o.out == "best-effort: prio 5\nidle\n",
        "ionice: {:?} {:?}",
        o.out,
        o.err
    );
    pass()
}
