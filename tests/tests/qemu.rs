//! The second platform: the same kernel file boots under QEMU `-M microvm` with TCG through
//! PVH, to the same init output.

use std::time::Duration;

use vm_tests::qemu_boot;

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
