//! Boot tests on our VMM (KVM): the kernel boots through PVH, init runs in user mode, the exit
//! status reaches the host, and bad input gets one clear error.

use vm_tests::{boot, boot_with, boot_with_input, guest, vmm_cli};

#[test]
fn boot_log_and_init_greeting_appear() {
    let o = boot("-- /bin/exitcode 0", 1);
    assert_eq!(o.status(), 0, "console:\n{}", o.console);
    assert!(
        o.console.contains("Linux version"),
        "no boot log:\n{}",
        o.console
    );
    assert!(
        o.console.contains("Run /sbin/init as init process"),
        "{}",
        o.console
    );
    assert!(
        o.console
            .contains("init: hello from user space on Linux 6.1.0-watchvm"),
        "{}",
        o.console
    );
    // printk timestamps in Linux's format.
    assert!(
        o.console.lines().any(|l| l.starts_with("[    0.")),
        "{}",
        o.console
    );
}

#[test]
fn trace_event_turns_tracepoints_on_from_boot_without_a_host() {
    // No trace device here (no --trace): the parameter allocates the rings itself, the
    // tracepoints record into them through the whole boot, and a name it doesn't know is
    // reported as Linux reports it.
    let o = boot(
        "trace_event=sched,irq:softirq_entry,bogus:x -- /bin/exitcode 0",
        1,
    );
    assert!(
        o.console.contains("Failed to enable trace event: bogus:x"),
        "{}",
        o.console
    );
    assert_eq!(o.status(), 0, "{}", o.console);
}

#[test]
fn exit_status_of_the_program_init_runs_propagates() {
    let o = boot("-- /bin/exitcode 42", 1);
    assert!(
        o.console.contains("exitcode: exiting with 42"),
        "{}",
        o.console
    );
    assert_eq!(o.status(), 42);
}

#[test]
fn double_quotes_on_the_command_line_make_one_init_argument() {
    // As Linux's next_arg: the quoted script reaches sh as one argv element, spaces, `;` and
    // all (split at spaces, sh would get `echo` alone and print an empty line, status 0).
    let o = boot("-- /bin/sh -c \"echo 'one  two'; exit 7\"", 1);
    assert!(o.console.lines().any(|l| l == "one  two"), "{}", o.console);
    assert_eq!(o.status(), 7, "{}", o.console);
}

#[test]
fn bad_user_pointers_get_efault_not_a_panic() {
    let o = boot("-- /bin/efault", 1);
    assert!(
        o.console.contains("efault: all checks passed"),
        "{}",
        o.console
    );
    assert_eq!(o.status(), 0);
}

#[test]
fn memory_management_checks_pass_in_user_space() {
    let o = boot("-- /bin/mmtest", 1);
    assert!(
        o.console.contains("mmtest: all checks passed"),
        "{}",
        o.console
    );
    assert!(!o.console.contains("FAILED"), "{}", o.console);
    assert_eq!(o.status(), 0, "{}", o.console);
}

#[test]
fn two_vcpus_boot_and_come_online() {
    let o = boot("-- /bin/exitcode 0", 2);
    assert_eq!(o.status(), 0, "{}", o.console);
    assert!(
        o.console.contains("smp: Brought up 1 node, 2 CPUs"),
        "{}",
        o.console
    );
}

#[test]
fn missing_init_powers_off_with_failure() {
    let o = boot("init=/no/such/init", 1);
    assert!(
        o.console
            .contains("Failed to execute /no/such/init (error -2)"),
        "{}",
        o.console
    );
    assert_eq!(o.status(), 102);
}

#[test]
fn invalid_kernel_file_is_one_clear_error() {
    let (code, _, err) = vmm_cli(&["run", "--kernel", "/bin/true"]);
    assert_eq!(code, 1);
    assert_eq!(
        err.trim(),
        "error: kernel has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)"
    );
    let not_elf = std::env::temp_dir().join("watchvm-not-elf");
    std::fs::write(&not_elf, b"hello").unwrap();
    let (code, _, err) = vmm_cli(&["run", "--kernel", not_elf.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.trim().ends_with("is not an ELF file"), "{err}");
    assert_eq!(err.lines().count(), 1);
}

#[test]
fn missing_initrd_and_bad_arguments_are_one_line_each() {
    let kernel = guest().kernel.to_str().unwrap();
    for (args, want) in [
        (
            vec!["run", "--kernel", kernel, "--initrd", "/no/such/initrd"],
            "error: initrd file /no/such/initrd: No such file or directory",
        ),
        (vec!["run", "--kernel", kernel, "--cpus", "0"], "--cpus"),
        (
            vec!["run", "--kernel", kernel, "--mem", "12Q"],
            "error: invalid memory size \"12Q\"",
        ),
        (
            vec!["run", "--kernel", "/no/such/kernel"],
            "error: kernel file /no/such/kernel: No such file or directory",
        ),
    ] {
        let (code, _, err) = vmm_cli(&args);
        assert_ne!(code, 0, "{args:?}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let long = "x".repeat(5000);
    let (code, _, err) = vmm_cli(&["run", "--kernel", kernel, "--cmdline", &long]);
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn triple_fault_ends_the_vmm_with_registers() {
    // The kernel's test hook loads an empty IDT and faults: a triple fault.
    let o = boot_with(
        &guest().kernel,
        Some(&guest().initramfs),
        "test.triple_fault",
        1,
    );
    let err = o
        .result
        .expect_err("a triple fault must end the VM with an error");
    assert!(
        err.to_lowercase().contains("triple fault") || err.contains("shutdown"),
        "{err}"
    );
}

#[test]
fn init_output_and_typed_input_go_through_the_virtio_console() {
    let g = guest();
    let o = boot_with_input(
        &g.kernel,
        Some(&g.initramfs),
        "-- /bin/readline",
        1,
        b"hello from the host\n".to_vec(),
    );
    assert!(
        o.console.contains("console [hvc0] enabled"),
        "{}",
        o.console
    );
    assert!(
        o.console
            .contains("readline: got 20 bytes: hello from the host"),
        "{}",
        o.console
    );
    assert_eq!(o.status(), 0);
}

#[test]
fn kernel_panic_prints_a_symbolized_backtrace_and_fails() {
    let o = boot("test.panic", 1);
    assert!(
        o.console.contains("Kernel panic - not syncing"),
        "{}",
        o.console
    );
    assert!(o.console.contains("Call Trace:"), "{}", o.console);
    // Names come from the kallsyms table xtask embeds into the kernel image.
    assert!(
        o.console.contains("kernel::init::start_kernel+0x"),
        "{}",
        o.console
    );
    assert!(
        o.console.contains("x86_64_start_kernel+0x"),
        "{}",
        o.console
    );
    assert_eq!(o.status(), 101);
}
