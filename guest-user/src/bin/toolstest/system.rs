//! Checks of the system tools: echo, free, uptime, dmesg, uname, hostname, id, env, true,
//! false, mount, umount, sleep and kill.

use std::collections::HashMap;

use guest_user::check::{pass, pass_with, Check, Context};
use guest_user::ensure;

use crate::{expect_error, run, run_ok, scratch};

pub fn echo_forms() -> Check {
    ensure!(run_ok(&["/bin/echo", "a", "b"])? == "a b\n", "echo");
    ensure!(run_ok(&["/bin/echo", "-n", "x"])? == "x", "echo -n");
    ensure!(
        run_ok(&["/bin/echo", "-e", "1\\t2\\x41\\n"])? == "1\t2A\n\n",
        "echo -e"
    );
    ensure!(
        run_ok(&["/bin/echo", "a\\tb"])? == "a\\tb\n",
        "echo without -e"
    );
    ensure!(run_ok(&["/bin/echo", "-e", "x\\cy"])? == "x", "echo \\c");
    ensure!(run_ok(&["/bin/echo", "-x"])? == "-x\n", "echo -x is text");
    pass()
}

fn meminfo() -> Result<HashMap<String, u64>, guest_user::check::Fail> {
    let text = std::fs::read_to_string("/proc/meminfo").ctx("/proc/meminfo")?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.to_string(), v.split_whitespace().next()?.parse().ok()?))
        })
        .collect())
}

pub fn free_matches_meminfo() -> Check {
    let m = meminfo()?;
    let total = m["MemTotal"];
    let out = run_ok(&["/bin/free"])?;
    let l: Vec<&str> = out.lines().collect();
    ensure!(
        l.first()
            == Some(
                &"               total        used        free      shared  buff/cache   available"
            ),
        "header: {out}"
    );
    let mem: Vec<&str> = l.get(1).unwrap_or(&"").split_whitespace().collect();
    ensure!(mem.len() == 7 && mem[0] == "Mem:", "{out}");
    ensure!(
        mem[1] == total.to_string(),
        "total {} vs MemTotal {total}",
        mem[1]
    );
    let (used, avail): (u64, u64) = (mem[2].parse().unwrap_or(0), mem[6].parse().unwrap_or(0));
    ensure!(used + avail == total, "used + available != total: {out}");
    ensure!(
        l.get(1).is_some_and(|r| r.len() == 8 + 6 * 12),
        "column widths: {out}"
    );
    ensure!(l.get(2).is_some_and(|r| r.starts_with("Swap:")), "{out}");
    let mib = run_ok(&["/bin/free", "-m"])?;
    let mem_m = mib.lines().nth(1).unwrap_or("").split_whitespace().nth(1);
    ensure!(mem_m == Some(&(total / 1024).to_string()), "free -m: {mib}");
    let human = run_ok(&["/bin/free", "-h"])?;
    ensure!(
        human.lines().nth(1).is_some_and(|r| r.contains("Mi")),
        "free -h: {human}"
    );
    pass_with(format!("MemTotal {total} kB"))
}

pub fn uptime_line() -> Check {
    let out = run_ok(&["/bin/uptime"])?;
    let b = out.as_bytes();
    ensure!(
        b.len() > 10 && b[0] == b' ' && b[3] == b':' && b[6] == b':',
        "uptime: {out:?}"
    );
    ensure!(
        out[9..].starts_with(" up ") && out.contains(",  0 user,  load average: "),
        "uptime: {out:?}"
    );
    let loads = std::fs::read_to_string("/proc/loadavg").ctx("/proc/loadavg")?;
    let l: Vec<&str> = loads.split_whitespace().collect();
    ensure!(
        l.len() == 5 && l[3].contains('/'),
        "/proc/loadavg: {loads:?}"
    );
    let pretty = run_ok(&["/bin/uptime", "-p"])?;
    ensure!(pretty.starts_with("up "), "uptime -p: {pretty:?}");
    pass_with(out.trim())
}

pub fn dmesg_kernel_log() -> Check {
    let out = run_ok(&["/bin/dmesg"])?;
    let banner = out
        .lines()
        .find(|l| l.contains("Linux version 6.1.0-watchvm"));
    ensure!(banner.is_some(), "no boot banner in dmesg:\n{out}");
    ensure!(
        out.lines().all(|l| l.starts_with('[')),
        "levels not stripped:\n{out}"
    );
    let raw = run_ok(&["/bin/dmesg", "-r"])?;
    ensure!(
        raw.lines()
            .any(|l| l.starts_with("<5>[") && l.contains("Linux version")),
        "dmesg -r: the banner is KERN_NOTICE\n{raw}"
    );
    // /dev/kmsg gives the same records in its own format.
    let kmsg = std::fs::File::open("/dev/kmsg").ctx("/dev/kmsg")?;
    let mut rec = vec![0u8; 4096];
    let n = std::io::Read::read(&mut &kmsg, &mut rec).ctx("read /dev/kmsg")?;
    let rec = String::from_utf8_lossy(&rec[..n]);
    ensure!(
        rec.starts_with("5,0,") && rec.contains(";Linux version"),
        "/dev/kmsg: {rec:?}"
    );
    // Clearing empties what READ_ALL returns; new messages appear after it.
    run_ok(&["/bin/dmesg", "-C"])?;
    let after = run_ok(&["/bin/dmesg"])?;
    ensure!(!after.contains("Linux version"), "after -C:\n{after}");
    pass_with(banner.unwrap_or("").trim())
}

pub fn uname_hostname() -> Check {
    let a = run_ok(&["/bin/uname", "-a"])?;
    ensure!(
        a == "Linux watchvm 6.1.0-watchvm #1 SMP PREEMPT watchvm 0.1.0 x86_64 GNU/Linux\n",
        "uname -a: {a:?}"
    );
    ensure!(run_ok(&["/bin/uname"])? == "Linux\n", "uname");
    ensure!(
        run_ok(&["/bin/uname", "-r"])? == "6.1.0-watchvm\n",
        "uname -r"
    );
    ensure!(run_ok(&["/bin/hostname"])? == "watchvm\n", "hostname");
    run_ok(&["/bin/hostname", "guest.example"])?;
    let n = run_ok(&["/bin/uname", "-n"]);
    let short = run_ok(&["/bin/hostname", "-s"]);
    run_ok(&["/bin/hostname", "watchvm"])?;
    ensure!(n? == "guest.example\n", "uname -n after sethostname");
    ensure!(short? == "guest\n", "hostname -s");
    pass()
}

pub fn id_env_true_false() -> Check {
    ensure!(
        run_ok(&["/bin/id"])? == "uid=0(root) gid=0(root) groups=0(root)\n",
        "id"
    );
    ensure!(run_ok(&["/bin/id", "-un"])? == "root\n", "id -un");
    ensure!(
        run_ok(&["/bin/env", "-i", "A=1", "B=two", "/bin/env"])? == "A=1\nB=two\n",
        "env -i"
    );
    expect_error(
        &["/bin/env", "/nonexistent"],
        127,
        "env: '/nonexistent': No such file or directory\n",
    )?;
    ensure!(run(&["/bin/true"])?.code == 0, "true");
    ensure!(run(&["/bin/false"])?.code == 1, "false");
    pass()
}

pub fn mount_umount() -> Check {
    let out = run_ok(&["/bin/mount"])?;
    ensure!(
        out.lines()
            .any(|l| l.starts_with("proc on /proc type proc (rw")),
        "mount: {out}"
    );
    let d = scratch("mnt")?;
    run_ok(&[
        "/bin/mount",
        "-t",
        "tmpfs",
        "-o",
        "mode=700",
        "scratchfs",
        &d,
    ])?;
    let mounts = std::fs::read_to_string("/proc/mounts").ctx("/proc/mounts")?;
    ensure!(
        mounts
            .lines()
            .any(|l| l.starts_with(&format!("scratchfs {d} tmpfs "))),
        "not in /proc/mounts:\n{mounts}"
    );
    std::fs::write(format!("{d}/f"), "x").ctx("write into the mount")?;
    run_ok(&["/bin/umount", &d])?;
    ensure!(
        !std::path::Path::new(&format!("{d}/f")).exists(),
        "file visible after umount"
    );
    expect_error(
        &["/bin/umount", &d],
        32,
        &format!("umount: {d}: not mounted.\n"),
    )?;
    expect_error(
        &["/bin/mount", "-t", "nosuchfs", "x", &d],
        32,
        &format!("mount: {d}: unknown filesystem type 'nosuchfs'.\n"),
    )?;
    pass()
}

pub fn sleep_kill() -> Check {
    let t = std::time::Instant::now();
    run_ok(&["/bin/sleep", "0.2"])?;
    ensure!(
        t.elapsed().as_millis() >= 200,
        "sleep 0.2 took {:?}",
        t.elapsed()
    );
    let mut child = std::process::Command::new("/bin/sleep")
        .arg("100")
        .spawn()
        .ctx("spawn sleep")?;
    let pid = child.id().to_string();
    run_ok(&["/bin/kill", "-TERM", &pid])?;
    let st = child.wait().ctx("wait")?;
    use std::os::unix::process::ExitStatusExt;
    ensure!(st.signal() == Some(libc::SIGTERM), "sleep ended {st:?}");
    ensure!(run_ok(&["/bin/kill", "-l", "9"])? == "KILL\n", "kill -l 9");
    pass()
}
