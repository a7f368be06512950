//! The second platform: the same kernel file boots under QEMU `-M microvm` with TCG through
//! PVH, to the same init output.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use vm_tests::{guest, qemu_boot, qemu_machine};

#[test]
fn qemu_tcg_boots_the_same_kernel_to_init() {
    let (status, out) = qemu_boot("console=ttyS0 -- /bin/exitcode 3", Duration::from_secs(120));
    assert!(out.contains("Linux version"), "{out}");
    assert!(
        out.contains("init: hello from user space on Linux 6.1.0-watchvm"),
        "{out}"
    );
    assert!(out.contains("exitcode: exiting with 3"), "{out}");
    assert_eq!(status, Some(3), "{out}");
}

#[test]
fn qemu_tcg_finds_both_cpus_in_the_acpi_madt_and_user_space_sees_them() {
    let (status, out) = qemu_boot(
        "console=ttyS0 -- /bin/schedtest cpus getcpu",
        Duration::from_secs(120),
    );
    for line in [
        "ACPI: RSDP 0x",
        "ACPI: APIC 0x",
        "ACPI: Using ACPI (MADT) for SMP configuration information",
        "smpboot: Allowing 2 CPUs, 0 hotplug CPUs",
        "smp: Brought up 1 node, 2 CPUs",
        "ok: cpus (2 CPUs: /proc/stat, /proc/softirqs, sysconf, affinity)",
        "ok: getcpu (CPUs [0, 1])",
    ] {
        assert!(out.contains(line), "{line:?} missing:\n{out}");
    }
    assert_eq!(status, Some(0), "{out}");
}

/// TCG keeps a software TLB per CPU that only the guest's flushes empty, so a missing TLB
/// shootdown shows here (kvm-pvm's shadow paging hides it). The wall clock is the CMOS RTC,
/// and /dev/console is ttyS0 (major 4, minor 64: tty_nr 1088).
#[test]
fn qemu_tcg_futexes_tlb_shootdowns_btime_and_controlling_terminals() {
    let before = vm_tests::unix_now();
    let (status, out) = qemu_boot(
        "console=ttyS0 quiet -- /bin/proctest futex_requeue futex_shared_fork tlb_munmap \
         tlb_remap tlb_stress proc_btime ctty_stat",
        Duration::from_secs(120),
    );
    for check in [
        "futex_requeue",
        "futex_shared_fork",
        "tlb_munmap",
        "tlb_remap",
        "tlb_stress",
        "proc_btime",
        "ctty_stat",
    ] {
        assert!(
            out.contains(&format!("ok: {check}")),
            "{check} missing:\n{out}"
        );
    }
    assert!(out.contains("console tty_nr 1088)"), "{out}");
    vm_tests::assert_btime_is_boot_time(&out, before, vm_tests::unix_now());
    assert_eq!(status, Some(0), "{out}");
}

#[test]
fn qemu_tcg_cpu_hotplug_takes_cpu1_offline_and_back() {
    let checks = vm_tests::HOTPLUG_CHECKS;
    let cmdline = format!("console=ttyS0 quiet -- /bin/schedtest {}", checks.join(" "));
    let (status, out) = qemu_boot(&cmdline, Duration::from_secs(240));
    for check in checks {
        assert!(out.contains(&format!("ok: {check}")), "{check}:\n{out}");
    }
    assert_eq!(status, Some(0), "{out}");
}

#[test]
fn qemu_tcg_efault_checks_pass() {
    let (status, out) = qemu_boot("console=ttyS0 -- /bin/efault", Duration::from_secs(120));
    assert!(out.contains("efault: all checks passed"), "{out}");
    assert_eq!(status, Some(0), "{out}");
}

#[test]
fn qemu_tcg_workqueue_self_test_and_kworkers() {
    let (status, out) = qemu_boot(
        "console=ttyS0 test.workqueue -- /bin/proctest kworkers kworker_comm vmstat_fold",
        Duration::from_secs(120),
    );
    assert!(out.contains("workqueue: self-test passed"), "{out}");
    for check in ["kworkers", "kworker_comm", "vmstat_fold"] {
        assert!(out.contains(&format!("ok: {check}")), "{out}");
    }
    assert_eq!(status, Some(0), "{out}");
}

/// microvm with ACPI has a second I/O APIC (GSIs 24-47) for its virtio-mmio slots; the last
/// slot's transport (where QEMU puts the first device) interrupts on GSI 47. A line typed into
/// the virtio console reaches `readline` only if that interrupt is routed through the second
/// I/O APIC: without it the driver falls back to polling output and has no input.
#[test]
fn qemu_tcg_virtio_console_input_arrives_through_the_second_ioapic() {
    let g = guest();
    let serial = std::env::temp_dir().join(format!("watchvm-serial-{}.txt", std::process::id()));
    let mut child = qemu_machine(
        &g.kernel,
        &g.initramfs,
        "virtio_mmio.device=512@0xfeb02e00:47 console=hvc0 -- /bin/readline",
        2,
        "tcg",
    )
    .args(["-display", "none", "-monitor", "none"])
    .arg("-serial")
    .arg(format!("file:{}", serial.display()))
    .args(["-device", "virtio-serial-device"])
    .args(["-chardev", "stdio,id=hvc,signal=off"])
    .args(["-device", "virtconsole,chardev=hvc"])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"typed into hvc0\n")
        .unwrap();
    let out = vm_tests::wait_with_timeout(child, Duration::from_secs(120));
    let log = std::fs::read_to_string(&serial).unwrap_or_default();
    let _ = std::fs::remove_file(&serial);
    for line in [
        "IOAPIC[0]: apic_id 0, version 32, address 0xfec00000, GSI 0-23",
        "IOAPIC[1]: apic_id 1, version 32, address 0xfec10000, GSI 24-47",
        "virtio_mmio: device at 0xfeb02e00 irq 47: console (id 3)",
    ] {
        assert!(log.contains(line), "{line:?} missing:\n{log}");
    }
    assert!(!log.contains("polling, no input"), "{log}");
    assert!(
        out.1.contains("readline: got 16 bytes: typed into hvc0"),
        "{}\n{log}",
        out.1
    );
    assert_eq!(out.0, Some(0), "{}\n{log}", out.1);
}

/// Boot under QEMU TCG with `mem` of RAM instead of 256 MiB (QEMU takes the last `-m`).
fn qemu_boot_mem(cmdline: &str, mem: &str, timeout: Duration) -> (Option<i32>, String) {
    let g = guest();
    let child = vm_tests::qemu_command(&g.kernel, &g.initramfs, cmdline)
        .args(["-m", mem])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)");
    vm_tests::wait_with_timeout(child, timeout)
}

/// The mm suite's OOM scenario on the second platform: the hog is killed, the protected
/// child lives, and oom_reaper empties the victim's anonymous memory (its line is KERN_INFO).
#[test]
fn qemu_tcg_oom_killer_and_oom_reaper() {
    let (status, out) = qemu_boot_mem(
        "console=ttyS0 loglevel=7 -- /bin/oomtest oom",
        "32M",
        Duration::from_secs(240),
    );
    assert!(out.contains("oomtest: all checks passed"), "{out}");
    let killed = out
        .split("Out of memory: Killed process ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no OOM line\n{out}"));
    assert!(
        out.contains(&format!("Killed process {killed} (oomtest) total-vm:")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "oom_reaper: reaped process {killed} (oomtest), now anon-rss:0kB"
        )),
        "{out}"
    );
    assert_eq!(status, Some(0), "{out}");
}

/// Page faults of every kind (zero page, shared anonymous memory, file mappings, stack
/// growth, mremap, madvise), fork's copy-on-write, and Mapped following MAP_SHARED mappings,
/// under TCG's software TLB.
#[test]
fn qemu_tcg_faults_cow_and_mapped() {
    let (status, out) = qemu_boot(
        "console=ttyS0 quiet -- /bin/mmtest",
        Duration::from_secs(120),
    );
    assert!(out.contains("mmtest: all checks passed"), "{out}");
    assert_eq!(status, Some(0), "{out}");
    let (status, out) = qemu_boot(
        "console=ttyS0 quiet -- /bin/proctest fork_cow rusage_times",
        Duration::from_secs(120),
    );
    for check in ["fork_cow", "rusage_times"] {
        assert!(out.contains(&format!("ok: {check}")), "{check}:\n{out}");
    }
    assert_eq!(status, Some(0), "{out}");
    let (status, out) = qemu_boot_mem(
        "console=ttyS0 quiet -- /bin/oomtest mapped",
        "32M",
        Duration::from_secs(120),
    );
    assert!(out.contains("oomtest: all checks passed"), "{out}");
    assert_eq!(status, Some(0), "{out}");
}

/// kswapd0 under the page-cache load on the second platform: it reclaims, and its runtime
/// shows in /proc/<pid>/stat.
#[test]
fn qemu_tcg_kswapd_reclaims_and_is_charged_cpu_time() {
    let (status, out) = qemu_boot_mem(
        "console=ttyS0 quiet -- /bin/oomtest pagecache",
        "32M",
        Duration::from_secs(240),
    );
    assert!(out.contains("oomtest: all checks passed"), "{out}");
    assert_eq!(status, Some(0), "{out}");
}
