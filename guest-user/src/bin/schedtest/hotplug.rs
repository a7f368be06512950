//! CPU hotplug as Linux does it, through `/sys/devices/system/cpu` (needs 2+ CPUs and root;
//! skipped otherwise):
//!
//! - `cpu_sysfs`: the CPU lists (`online`, `possible`, `present`, `offline`, `kernel_max`), the
//!   `cpuN/online` files (none for CPU 0) and the hotplug states;
//! - `cpuhp_threads`: a `cpuhp/N` kernel thread per CPU, kthreadd's child, on its CPU;
//! - `hotplug`: `echo 0 > cpu1/online` takes CPU 1 away while a spinner pinned to it, a
//!   spinner allowed on both CPUs and a sleeper are there: the lists say so, both spinners
//!   run on CPU 0 (getcpu and /proc/PID/stat), the pinned one's affinity is broken, affinity
//!   masks read without CPU 1 and cannot be set to it alone, the sleeper wakes on time, and
//!   /proc/stat, /proc/interrupts and /proc/cpuinfo leave CPU 1 out (/proc/softirqs keeps
//!   it); `echo 1` brings it back: tasks run there again and the balancer moves one spinner;
//! - `hotplug_refused`: CPU 0 has no `online` file, writes other than a boolean are EINVAL,
//!   and taking an offline CPU offline again (or an online one online) is a no-op;
//! - `hotplug_cycles`: CPU 1 taken down by a task pinned to it, then ten offline/online
//!   rounds in a row while a spinner runs and a child forks and sleeps, each round taking
//!   effect, the child going on throughout.

use std::fs;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use guest_user::check::{pass, pass_with, skip, Check, Context, Fail};
use guest_user::procfs::Stat;
use guest_user::sys::{self, CpuSet, Shared};
use guest_user::{ensure, fail};

use super::Kid;

const CPU_DIR: &str = "/sys/devices/system/cpu";

fn read(path: &str) -> Result<String, Fail> {
    fs::read_to_string(path).ctx(path)
}

/// Write `text` to `cpu`'s `online` file as the shell's `echo` does (one write).
fn write_online(cpu: usize, text: &str) -> std::io::Result<()> {
    let path = format!("{CPU_DIR}/cpu{cpu}/online");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)?;
    f.write_all(text.as_bytes())
}

fn set_online(cpu: usize, on: bool) -> Result<(), Fail> {
    write_online(cpu, if on { "1\n" } else { "0\n" })
        .ctx(&format!("echo {} > cpu{cpu}/online", on as u8))
}

/// The hotplug state number whose name is `name`, from `hotplug/states`.
fn state_number(name: &str) -> Result<u32, Fail> {
    let states = read(&format!("{CPU_DIR}/hotplug/states"))?;
    states
        .lines()
        .find_map(|l| {
            let (num, n) = l.split_once(':')?;
            (n.trim() == name).then(|| num.trim().parse().ok())?
        })
        .ok_or_else(|| Fail(format!("no state {name} in hotplug/states:\n{states}")))
}

fn need_two_cpus() -> Option<Check> {
    let possible = fs::read_to_string(format!("{CPU_DIR}/possible")).unwrap_or_default();
    if possible.trim() == "0" || possible.is_empty() {
        return Some(skip("needs 2 CPUs"));
    }
    if sys::geteuid() != 0 {
        return Some(skip("needs root"));
    }
    None
}

pub(super) fn cpu_sysfs() -> Check {
    if let Some(s) = need_two_cpus() {
        return s;
    }
    for (file, want) in [
        ("online", "0-1\n"),
        ("possible", "0-1\n"),
        ("present", "0-1\n"),
        ("offline", "\n"),
        ("kernel_max", "31\n"),
        ("cpu1/online", "1\n"),
    ] {
        let got = read(&format!("{CPU_DIR}/{file}"))?;
        ensure!(got == want, "{file} reads {got:?}, want {want:?}");
    }
    let cpu0 = fs::metadata(format!("{CPU_DIR}/cpu0/online"));
    ensure!(
        cpu0.as_ref().err().and_then(|e| e.raw_os_error()) == Some(libc::ENOENT),
        "cpu0/online: {cpu0:?}, want ENOENT"
    );
    let meta = fs::metadata(format!("{CPU_DIR}/cpu1/online")).ctx("stat cpu1/online")?;
    use std::os::unix::fs::PermissionsExt;
    ensure!(
        meta.permissions().mode() & 0o777 == 0o644,
        "cpu1/online has mode {:o}",
        meta.permissions().mode()
    );
    let online = state_number("online")?;
    for cpu in 0..2 {
        let st = read(&format!("{CPU_DIR}/cpu{cpu}/hotplug/state"))?;
        ensure!(
            st.trim() == online.to_string(),
            "cpu{cpu}/hotplug/state is {st:?}, want {online}"
        );
    }
    let active = state_number("sched:active")?;
    let teardown = state_number("cpu:teardown")?;
    ensure!(
        teardown < active && active < online,
        "hotplug states out of order: teardown {teardown}, active {active}, online {online}"
    );
    let link = fs::read_link("/sys/bus/cpu/devices/cpu1").ctx("readlink bus/cpu/devices/cpu1")?;
    ensure!(
        link.to_str() == Some("../../../devices/system/cpu/cpu1"),
        "bus/cpu/devices/cpu1 -> {link:?}"
    );
    pass()
}

/// (pid, ppid, comm, processor) of every process, from /proc.
fn processes() -> Result<Vec<(i32, i32, String, i32)>, Fail> {
    let pids = guest_user::procfs::list_ids("/proc").ctx("listing /proc")?;
    Ok(pids
        .into_iter()
        .filter_map(|pid| Stat::of(pid).ok())
        .map(|s| (s.pid, s.ppid, s.comm, s.processor))
        .collect())
}

pub(super) fn cpuhp_threads() -> Check {
    if let Some(s) = need_two_cpus() {
        return s;
    }
    let procs = processes()?;
    for cpu in 0..2 {
        let name = format!("cpuhp/{cpu}");
        let Some(t) = procs.iter().find(|p| p.2 == name) else {
            fail!("no {name} thread");
        };
        ensure!(t.1 == 2, "{name} has PPID {}, not kthreadd", t.1);
        ensure!(t.3 == cpu, "{name} last ran on CPU {}", t.3);
    }
    pass()
}

/// Spinners and a sleeper, forked, reporting through shared memory.
struct Load {
    stop: AtomicBool,
    /// The CPU each spinner saw last, and a heartbeat.
    cpu: [AtomicI32; 2],
    beats: [AtomicU64; 2],
    /// The sleeper's measured sleep, in ms (0 until it wakes).
    slept_ms: AtomicU64,
}

impl Load {
    fn new() -> Load {
        Load {
            stop: AtomicBool::new(false),
            cpu: [const { AtomicI32::new(-1) }; 2],
            beats: [const { AtomicU64::new(0) }; 2],
            slept_ms: AtomicU64::new(0),
        }
    }
}

fn spinner(load: &Load, i: usize, affinity: &CpuSet) -> i32 {
    if sys::set_affinity(0, affinity).is_err() {
        return 1;
    }
    let start = Instant::now();
    let mut n = 0u64;
    while !load.stop.load(SeqCst) && start.elapsed() < Duration::from_secs(60) {
        for _ in 0..20_000 {
            n = std::hint::black_box(n + 1);
        }
        load.beats[i].fetch_add(1, SeqCst);
        // SAFETY: sched_getcpu has no arguments.
        load.cpu[i].store(unsafe { libc::sched_getcpu() }, SeqCst);
    }
    0
}

/// Forks and reaps a child, then sleeps a millisecond, over and over, counting rounds in
/// `beats[i]`: work that moves between CPUs through wake-ups and new tasks.
fn churn(load: &Load, i: usize) -> i32 {
    let start = Instant::now();
    while !load.stop.load(SeqCst) && start.elapsed() < Duration::from_secs(60) {
        match sys::fork_child(|| 0) {
            Ok(pid) => {
                if sys::wait_status(pid).is_err() {
                    return 1;
                }
            }
            Err(_) => return 1,
        }
        sys::sleep(Duration::from_millis(1));
        load.beats[i].fetch_add(1, SeqCst);
    }
    0
}

fn both() -> CpuSet {
    let mut s = CpuSet::new();
    s.set(0);
    s.set(1);
    s
}

/// Wait until spinner `i` reports `cpu` twice in a row with a heartbeat in between.
fn spinner_on(load: &Load, i: usize, cpu: i32, within: Duration) -> bool {
    sys::wait_until(within, || {
        let beat = load.beats[i].load(SeqCst);
        load.cpu[i].load(SeqCst) == cpu
            && sys::wait_until(Duration::from_millis(200), || {
                load.beats[i].load(SeqCst) > beat
            })
            && load.cpu[i].load(SeqCst) == cpu
    })
}

fn cpu_lines(path: &str, pred: impl Fn(&str) -> bool) -> Result<usize, Fail> {
    Ok(read(path)?.lines().filter(|l| pred(l)).count())
}

fn affinity_cpus(pid: sys::pid_t) -> Result<Vec<usize>, Fail> {
    Ok(sys::get_affinity(pid)
        .ctx("sched_getaffinity")?
        .cpus()
        .collect())
}

pub(super) fn hotplug() -> Check {
    if let Some(s) = need_two_cpus() {
        return s;
    }
    let load = Shared::new(Load::new()).ctx("mmap")?;
    let result = offline_with(&load);
    load.stop.store(true, SeqCst);
    // Leave CPU 1 online whatever happened.
    let _ = write_online(1, "1");
    result
}

fn offline_with(load: &Load) -> Check {
    // Spinner 0 may only use CPU 1; spinner 1 starts there and may then use both.
    let pinned = Kid::spawn(|| spinner(load, 0, &CpuSet::single(1)))?;
    let free = Kid::spawn(|| spinner(load, 1, &CpuSet::single(1)))?;
    ensure!(
        spinner_on(load, 0, 1, Duration::from_secs(5))
            && spinner_on(load, 1, 1, Duration::from_secs(5)),
        "spinners did not start on CPU 1 (they report {} and {})",
        load.cpu[0].load(SeqCst),
        load.cpu[1].load(SeqCst)
    );
    sys::set_affinity(free.0, &both()).ctx("sched_setaffinity(spinner)")?;
    // The sleeper goes to sleep on CPU 1 for 1.5 s.
    let sleeper = Kid::spawn(|| {
        if sys::pin_to(1).is_err() {
            return 1;
        }
        let start = Instant::now();
        sys::sleep(Duration::from_millis(1500));
        load.slept_ms
            .store(start.elapsed().as_millis().max(1) as u64, SeqCst);
        0
    })?;
    std::thread::sleep(Duration::from_millis(200));

    let started = Instant::now();
    set_online(1, false)?;
    let took = started.elapsed();
    for (file, want) in [
        ("online", "0\n"),
        ("offline", "1\n"),
        ("cpu1/online", "0\n"),
    ] {
        let got = read(&format!("{CPU_DIR}/{file}"))?;
        ensure!(
            got == want,
            "after offline, {file} reads {got:?}, want {want:?}"
        );
    }
    let state = read(&format!("{CPU_DIR}/cpu1/hotplug/state"))?;
    ensure!(
        state.trim() == "0",
        "cpu1/hotplug/state is {state:?}, want 0"
    );
    for i in 0..2 {
        ensure!(
            spinner_on(load, i, 0, Duration::from_secs(3)),
            "spinner {i} reports CPU {} after CPU 1 went offline",
            load.cpu[i].load(SeqCst)
        );
    }
    for kid in [&pinned, &free] {
        let st = Stat::of(kid.0).ctx("/proc/PID/stat")?;
        ensure!(
            st.processor == 0,
            "/proc/{}/stat says CPU {}",
            kid.0,
            st.processor
        );
        let aff = affinity_cpus(kid.0)?;
        ensure!(aff == [0], "affinity of {} reads {aff:?}, want [0]", kid.0);
    }
    ensure!(
        affinity_cpus(0)? == [0],
        "our affinity reads {:?}",
        affinity_cpus(0)?
    );
    ensure!(
        sys::online_cpus() == 1,
        "sysconf says {} CPUs online",
        sys::online_cpus()
    );
    let err = sys::set_affinity(0, &CpuSet::single(1)).err();
    ensure!(
        err.as_ref().and_then(|e| e.raw_os_error()) == Some(libc::EINVAL),
        "sched_setaffinity to the offline CPU alone: {err:?}, want EINVAL"
    );
    // Timers set on CPU 1 still fire: the sleeper wakes on time.
    ensure!(
        sys::wait_until(Duration::from_secs(4), || load.slept_ms.load(SeqCst) > 0),
        "the sleeper that slept on CPU 1 never woke"
    );
    let slept = load.slept_ms.load(SeqCst);
    ensure!(
        (1500..2500).contains(&slept),
        "the sleeper slept {slept} ms for 1500"
    );
    drop(sleeper);
    let is_cpu_n =
        |l: &str| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit);
    ensure!(
        cpu_lines("/proc/stat", is_cpu_n)? == 1
            && cpu_lines("/proc/stat", |l| l.starts_with("cpu1 "))? == 0,
        "/proc/stat still lists CPU 1"
    );
    let irq_header = read("/proc/interrupts")?
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    ensure!(
        irq_header.split_whitespace().collect::<Vec<_>>() == ["CPU0"],
        "/proc/interrupts header: {irq_header:?}"
    );
    ensure!(
        cpu_lines("/proc/cpuinfo", |l| l.starts_with("processor"))? == 1,
        "/proc/cpuinfo lists more than one processor"
    );
    let softirq_header = read("/proc/softirqs")?
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    ensure!(
        softirq_header.split_whitespace().count() == 2,
        "/proc/softirqs header: {softirq_header:?} (possible CPUs stay listed)"
    );

    let started = Instant::now();
    set_online(1, true)?;
    let took_up = started.elapsed();
    for (file, want) in [
        ("online", "0-1\n"),
        ("offline", "\n"),
        ("cpu1/online", "1\n"),
    ] {
        let got = read(&format!("{CPU_DIR}/{file}"))?;
        ensure!(
            got == want,
            "after online, {file} reads {got:?}, want {want:?}"
        );
    }
    let online_state = state_number("online")?;
    let state = read(&format!("{CPU_DIR}/cpu1/hotplug/state"))?;
    ensure!(
        state.trim() == online_state.to_string(),
        "cpu1/hotplug/state is {state:?} after online"
    );
    ensure!(
        affinity_cpus(0)? == [0, 1],
        "our affinity reads {:?}",
        affinity_cpus(0)?
    );
    // Tasks run there again: the balancer moves a spinner, and we can go there.
    ensure!(
        sys::wait_until(Duration::from_secs(5), || {
            (0..2).any(|i| load.cpu[i].load(SeqCst) == 1)
        }),
        "no spinner went back to CPU 1 (they report {} and {})",
        load.cpu[0].load(SeqCst),
        load.cpu[1].load(SeqCst)
    );
    let saved = sys::get_affinity(0).ctx("sched_getaffinity")?;
    sys::pin_to(1).ctx("sched_setaffinity(1) after online")?;
    let (cpu, _) = sys::getcpu().ctx("getcpu")?;
    sys::set_affinity(0, &saved).ctx("restoring affinity")?;
    ensure!(cpu == 1, "pinned to CPU 1 after online, getcpu says {cpu}");
    pass_with(format_args!(
        "offline took {} ms, online {} ms, sleeper slept {slept} ms",
        took.as_millis(),
        took_up.as_millis()
    ))
}

fn errno_of(r: std::io::Result<()>) -> Option<i32> {
    r.err().and_then(|e| e.raw_os_error())
}

pub(super) fn hotplug_refused() -> Check {
    if let Some(s) = need_two_cpus() {
        return s;
    }
    let cpu0 = fs::OpenOptions::new()
        .write(true)
        .open(format!("{CPU_DIR}/cpu0/online"));
    ensure!(
        cpu0.as_ref().err().and_then(|e| e.raw_os_error()) == Some(libc::ENOENT),
        "opening cpu0/online for writing: {cpu0:?}, want ENOENT"
    );
    for bad in ["2", "2\n", "x", "", "-1"] {
        let e = errno_of(write_online(1, bad));
        ensure!(
            e == Some(libc::EINVAL) || bad.is_empty() && e.is_none(),
            "writing {bad:?}: errno {e:?}"
        );
    }
    ensure!(
        read(&format!("{CPU_DIR}/online"))? == "0-1\n",
        "a bad write changed the CPUs"
    );
    // Already online: nothing to do. Offline twice: the second is a no-op too.
    set_online(1, true)?;
    set_online(1, false)?;
    let again = write_online(1, "0");
    let online = read(&format!("{CPU_DIR}/online"))?;
    set_online(1, true)?;
    ensure!(again.is_ok(), "offlining an offline CPU: {again:?}");
    ensure!(
        online == "0\n",
        "online read {online:?} while CPU 1 was offline"
    );
    let r = fs::write(format!("{CPU_DIR}/online"), "0-1");
    ensure!(
        r.as_ref().err().and_then(|e| e.raw_os_error()) == Some(libc::EACCES),
        "writing the read-only online list: {r:?}, want EACCES"
    );
    pass()
}

pub(super) fn hotplug_cycles() -> Check {
    if let Some(s) = need_two_cpus() {
        return s;
    }
    let load = Shared::new(Load::new()).ctx("mmap")?;
    let kids = [
        Kid::spawn(|| spinner(&load, 0, &both()))?,
        Kid::spawn(|| churn(&load, 1))?,
    ];
    ensure!(
        sys::wait_until(Duration::from_secs(5), || load.beats[1].load(SeqCst) > 0),
        "the forking child did not start"
    );
    let before = load.beats[1].load(SeqCst);
    let start = Instant::now();
    let result = (|| {
        // The first round is asked for from CPU 1 itself, by a task allowed nowhere else:
        // the request completes and the task carries on on CPU 0.
        let saved = sys::get_affinity(0).ctx("sched_getaffinity")?;
        sys::pin_to(1).ctx("sched_setaffinity(1)")?;
        set_online(1, false)?;
        let (cpu, _) = sys::getcpu().ctx("getcpu")?;
        set_online(1, true)?;
        sys::set_affinity(0, &saved).ctx("restoring affinity")?;
        ensure!(cpu == 0, "after taking its own CPU down, getcpu says {cpu}");
        for round in 0..10 {
            set_online(1, false)?;
            let online = read(&format!("{CPU_DIR}/online"))?;
            ensure!(
                online == "0\n",
                "round {round}: online reads {online:?} after offline"
            );
            set_online(1, true)?;
            let online = read(&format!("{CPU_DIR}/online"))?;
            ensure!(
                online == "0-1\n",
                "round {round}: online reads {online:?} after online"
            );
        }
        Ok(())
    })();
    let took = start.elapsed();
    let _ = write_online(1, "1");
    let during = load.beats[1].load(SeqCst) - before;
    // Still forking and reaping afterwards: nothing was left stuck on the CPU that came and
    // went.
    let after = load.beats[1].load(SeqCst);
    let alive = sys::wait_until(Duration::from_secs(3), || {
        load.beats[1].load(SeqCst) > after + 2
    });
    load.stop.store(true, SeqCst);
    let spun = load.beats[0].load(SeqCst);
    drop(kids);
    result?;
    ensure!(spun > 0, "the spinner never ran");
    ensure!(during > 0, "no fork completed during the rounds");
    ensure!(alive, "the forking child stopped after the rounds");
    pass_with(format_args!(
        "10 rounds in {} ms, {during} forks meanwhile",
        took.as_millis()
    ))
}
