//! The trace channel end to end: bpftrace programs attached from boot (`vmm run --trace`) see
//! what the guest's own programs do.

use std::time::Duration;

use vm_tests::{boot_traced, Traced};

const POLL: Duration = Duration::from_millis(5);

fn traced(cmdline: &str, program: &str, poll: Duration) -> Traced {
    let t = boot_traced(cmdline, 2, program, poll);
    assert_eq!(
        t.outcome.status(),
        0,
        "console:\n{}\ntrace:\n{}",
        t.outcome.console,
        t.output
    );
    t
}

fn stats(t: &Traced) -> vmm::trace::session::TraceStats {
    t.outcome
        .result
        .as_ref()
        .unwrap()
        .trace
        .clone()
        .expect("trace stats")
}

#[test]
fn fork_tracepoint_counts_every_fork() {
    // procbench does 5 runs of exactly 4 forks; each child returns 0 from fork (id 57).
    let t = traced(
        "quiet -- /bin/procbench --iters 4 fork_exit_wait",
        r#"tracepoint:sched:sched_process_fork /comm == "procbench"/ { @forks = count(); }
           tracepoint:raw_syscalls:sys_exit /args->id == 57 && args->ret == 0 && comm == "procbench"/ { @child_returns = count(); }
           tracepoint:sched:sched_process_exec { printf("exec %s pid %d\n", args->filename, args->pid); }
           kfunc:copy_process /comm == "procbench"/ { @copy_process = count(); }"#,
        POLL,
    );
    assert!(t.output.contains("@forks: 20\n"), "{}", t.output);
    // The same forks seen by a probe the host patched into copy_process's entry.
    assert!(t.output.contains("@copy_process: 20\n"), "{}", t.output);
    assert!(t.output.contains("@child_returns: 20\n"), "{}", t.output);
    assert!(
        t.output.contains("exec /bin/procbench pid "),
        "{}",
        t.output
    );
    let s = stats(&t);
    assert_eq!((s.lost_total(), s.corrupt), (0, 0), "{}", t.diag);
}

#[test]
fn a_short_lived_child_knows_its_parent() {
    // Each of the 20 children exits at once; `curtask->real_parent->pid` at its exit must be
    // the procbench that forked it (as the fork record names it), read at the event, not
    // from a task long gone by the time the host drains the ring. procbench's own parent is
    // init (pid 1).
    let t = traced(
        "quiet -- /bin/procbench --iters 4 fork_exit_wait",
        r#"tracepoint:sched:sched_process_fork /comm == "procbench"/ { @forked_by[args->parent_pid] = count(); }
           tracepoint:sched:sched_process_exit /comm == "procbench"/ { @exited_child_of[curtask->real_parent->pid] = count(); @ptgid[curtask->real_parent->tgid] = count(); }"#,
        POLL,
    );
    let forked_by = t
        .output
        .lines()
        .find_map(|l| l.strip_prefix("@forked_by["))
        .and_then(|l| l.strip_suffix("]: 20"))
        .unwrap_or_else(|| panic!("one parent forked 20: {}", t.output));
    assert!(
        t.output
            .contains(&format!("@exited_child_of[{forked_by}]: 20\n")),
        "{}",
        t.output
    );
    assert!(
        t.output.contains("@exited_child_of[1]: 1\n"),
        "{}",
        t.output
    );
    assert!(
        t.output.contains(&format!("@ptgid[{forked_by}]: 20\n")),
        "{}",
        t.output
    );
    let s = stats(&t);
    assert_eq!((s.lost_total(), s.corrupt), (0, 0), "{}", t.diag);
}

#[test]
fn cpu_hotplug_steps_are_traced() {
    // schedtest takes CPU 1 offline and back once: each hotplug step with a callback runs
    // between cpuhp_enter and cpuhp_exit for CPU 1, the same number of times each way.
    let t = traced(
        "quiet -- /bin/schedtest hotplug",
        r#"tracepoint:cpuhp:cpuhp_enter { @enter[args->cpu] = count(); @fun[ksym(args->fun)] = count(); }
           tracepoint:cpuhp:cpuhp_exit /args->ret == 0/ { @exit[args->cpu] = count(); }"#,
        POLL,
    );
    let count = |map: &str| {
        t.output
            .lines()
            .find_map(|l| l.strip_prefix(&format!("@{map}[1]: ")))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no @{map}[1]: {}", t.output))
    };
    assert!(count("enter") >= 8, "{}", t.output);
    assert_eq!(count("enter"), count("exit"), "{}", t.output);
    // Callbacks by name, both ways.
    for f in [
        "sched::hotplug::sched_cpu_deactivate",
        "sched::hotplug::sched_cpu_activate",
        "kernel::cpu::takedown_cpu",
        "kernel::cpu::bringup_cpu",
    ] {
        assert!(
            t.output.contains(&format!("::{f}]: 1\n")),
            "{f}: {}",
            t.output
        );
    }
}

#[test]
fn kfunc_arguments_by_their_dwarf_names_and_fields_behind_them() {
    // do_exit(status) and copy_process(args, ..) by the names DWARF gives their arguments;
    // try_to_wake_up(p: &Arc<Task>, ..) followed through the Arc into the task. Fields behind
    // pointers are read by the guest at the hit (abi::trace::fetch), as bpftrace reads them:
    // do_exit's entry sees the task before it sets PF_EXITING, which it has set (or the task
    // is gone) by the time the host drains the record.
    let t = traced(
        "quiet -- /bin/procbench --iters 4 fork_exit_wait",
        r#"kfunc:do_exit /comm == "procbench"/ { @status[args->status] = count(); }
           kfunc:copy_process /comm == "procbench"/ { @args = count(); @nonnull = sum(args->args != 0); }
           kfunc:try_to_wake_up /comm == "procbench"/ { @woken[args->p->comm] = count(); }
           kfunc:do_exit /comm == "procbench"/ { @entry_flags[curtask->flags & 4] = count(); }
           kfunc:copy_process /comm == "procbench"/ { @fork_stack[kstack] = count(); }
           tracepoint:sched:sched_process_exit /comm == "procbench"/ { @exit_stack[kstack] = count(); }
           tracepoint:sched:sched_process_exit /comm == "procbench"/ { @exiting[curtask->exit_signal, curtask->flags & 4] = count(); }
           tracepoint:kmem:kmalloc /comm == "procbench"/ { @kmalloc = count(); @undersized = sum(args->bytes_alloc < args->bytes_req); @in_fork[ksym(args->call_site)] = count(); }"#,
        POLL,
    );
    // The 20 children _exit(0), and procbench itself exits(0) at the end: do_exit gets the
    // wait status (0 << 8) 21 times.
    assert!(t.output.contains("@status[0]: 21\n"), "{}", t.output);
    assert!(t.output.contains("@entry_flags[0]: 21\n"), "{}", t.output);
    assert!(t.output.contains("@args: 20\n"), "{}", t.output);
    assert!(t.output.contains("@nonnull: 20\n"), "{}", t.output);
    assert!(t.output.contains("@woken[procbench]: "), "{}", t.output);
    // curtask's fields by DWARF: every procbench (the 20 children and itself) exits with
    // SIGCHLD for its parent and PF_EXITING set.
    assert!(t.output.contains("@exiting[17, 4]: 21\n"), "{}", t.output);
    // kmem:kmalloc: every allocation fork makes, each at least as big as asked, with the
    // function that asked.
    assert!(t.output.contains("@kmalloc: "), "{}", t.output);
    assert!(t.output.contains("@undersized: 0\n"), "{}", t.output);
    assert!(
        t.output.contains("@in_fork[kernel::kernel::fork::"),
        "{}",
        t.output
    );
    // kstack, recorded by the guest at the hit: the probed function, then its callers; for a
    // tracepoint, the function it sits in, then the callers.
    assert!(
        t.output.contains(
            "@fork_stack[\n        kernel::kernel::fork::copy_process+0\n        \
             kernel::kernel::fork::kernel_clone+"
        ),
        "{}",
        t.output
    );
    assert!(
        t.output
            .contains("@exit_stack[\n        kernel::kernel::exit::do_exit+"),
        "{}",
        t.output
    );
    // A name the function does not have is refused before attaching, naming the close one.
    let catalog = vmm::trace::channel::catalog::probe_catalog(
        vmm::trace::channel::ftrace::KernelText::from_elf(&vm_tests::guest().kernel)
            .ok()
            .as_ref(),
    );
    let bad = vmm::trace::Program::parse("kfunc:do_exit { @[args->stauts] = count(); }", "stdin")
        .unwrap()
        .attach(&catalog)
        .unwrap_err()
        .to_string();
    assert!(bad.contains("stauts") && bad.contains("status"), "{bad}");
}

#[test]
fn curtask_real_parent_comm_is_read_at_the_event() {
    // The guest follows `real_parent` at the hit: procbench's 20 children are procbench's,
    // procbench is init's (init runs the program after `--`).
    let t = traced(
        "quiet -- /bin/procbench --iters 4 fork_exit_wait",
        r#"tracepoint:sched:sched_process_exit /comm == "procbench"/ { @parent[curtask->real_parent->comm, curtask->real_parent->pid] = count(); }"#,
        POLL,
    );
    let pid = |name: &str| {
        let at = t
            .output
            .find(&format!("@parent[{name}, "))
            .unwrap_or_else(|| panic!("{}", t.output));
        t.output[at..].lines().next().unwrap().to_string()
    };
    assert!(pid("procbench").ends_with("]: 20"), "{}", t.output);
    assert!(pid("init").contains("[init, 1]: 1"), "{}", t.output);
}

#[test]
fn sched_switch_names_the_tasks_that_ran() {
    let t = traced(
        "quiet -- /bin/procbench --iters 20 ctx_switch",
        "tracepoint:sched:sched_switch { @[args->next_comm] = count(); @cpus[cpu] = count(); }
         tracepoint:sched:sched_wakeup /args->comm == \"procbench\"/ { @wakeups = count(); }",
        POLL,
    );
    for name in [
        "@[procbench]: ",
        "@[swapper/0]: ",
        "@[swapper/1]: ",
        "@cpus[0]: ",
        "@cpus[1]: ",
    ] {
        assert!(t.output.contains(name), "no {name} in\n{}", t.output);
    }
    // Two pinned processes bounce a byte 5 x 20 times: each round trip wakes at least one
    // (the other may still be runnable, preempted by the wake-up).
    let wakeups: u64 = t
        .output
        .lines()
        .find_map(|l| l.strip_prefix("@wakeups: "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no @wakeups in\n{}", t.output));
    assert!(wakeups >= 100, "{wakeups} wakeups\n{}", t.output);
}

#[test]
fn switches_name_the_task_that_runs_next_without_a_task_info_each() {
    // Each sched_switch is written by the task it switches away from: who the host thinks
    // that is, from the previous switch, must be the record's own prev_pid and prev_comm,
    // and `curtask` (the task's address) must agree.
    let t = traced(
        "quiet -- /bin/procbench --iters 20 ctx_switch",
        r#"tracepoint:sched:sched_switch { @switches = count(); }
           tracepoint:sched:sched_switch /args->prev_pid != tid/ { @wrong_tid = count(); }
           tracepoint:sched:sched_switch /args->prev_comm != comm/ { @wrong_comm = count(); }
           tracepoint:sched:sched_switch /curtask->pid != args->prev_pid/ { @wrong_task = count(); }
           tracepoint:sched:sched_wakeup { @wakeups = count(); }"#,
        POLL,
    );
    let count = |name: &str| {
        t.output
            .lines()
            .find_map(|l| l.strip_prefix(&format!("@{name}: ")))
            .and_then(|n| n.parse::<u64>().ok())
    };
    let switches = count("switches").unwrap_or_else(|| panic!("no @switches in\n{}", t.output));
    assert!(switches >= 200, "{switches} switches\n{}", t.output);
    for wrong in ["wrong_tid", "wrong_comm", "wrong_task"] {
        assert_eq!(count(wrong), None, "@{wrong} in\n{}", t.output);
    }
    // The ping-pong's tasks were described once per CPU: most switches needed no TaskInfo.
    let s = stats(&t);
    assert!(
        s.task_infos * 4 < switches,
        "{} TaskInfo records for {switches} switches",
        s.task_infos
    );
}

#[test]
fn a_full_ring_counts_lost_events() {
    // Drained only at the end: 10000 getppid calls make 20000 records, far more than a
    // 256 KiB ring holds.
    let t = traced(
        "quiet -- /bin/procbench --iters 2000 null_syscall",
        "tracepoint:raw_syscalls:sys_enter, tracepoint:raw_syscalls:sys_exit { @n = count(); }",
        Duration::from_secs(3600),
    );
    let s = stats(&t);
    assert!(s.lost_total() > 0, "{s:?}");
    assert!(s.events + s.lost_total() >= 20_000, "{s:?}");
    assert!(
        t.output.contains(&format!("@n: {}\n", s.events)),
        "{}",
        t.output
    );
    let reported: u64 = t
        .diag
        .lines()
        .filter_map(|l| {
            l.strip_prefix("Lost ")?
                .split(' ')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert_eq!(reported, s.lost_total(), "{}", t.diag);
}

#[test]
fn exit_detaches_and_the_guest_runs_on() {
    let t = traced(
        "quiet -- /bin/ps -e",
        r#"BEGIN { printf("tracing\n"); }
           tracepoint:sched:sched_process_exec /args->filename == "/bin/ps"/ { printf("exec %s\n", args->filename); exit(); }
           END { printf("done\n"); }"#,
        POLL,
    );
    assert_eq!(t.output.matches("exec ").count(), 1, "{}", t.output);
    assert!(
        t.output.starts_with("tracing\nexec /bin/ps\ndone\n"),
        "{}",
        t.output
    );
    // ps ran to the end after the tracer left.
    assert!(
        t.outcome.console.contains(" kthreadd\n"),
        "{}",
        t.outcome.console
    );
}

#[test]
fn bad_programs_get_a_position_and_exit_2() {
    let g = vm_tests::guest();
    let kernel = g.kernel.to_str().unwrap();
    let (code, _, err) = vm_tests::vmm_cli(&[
        "run",
        "--kernel",
        kernel,
        "--trace",
        "tracepoint:sched:sched_switch { @ = count( }",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.starts_with("stdin:1:"), "{err}");
    let (code, _, err) = vm_tests::vmm_cli(&[
        "run",
        "--kernel",
        kernel,
        "--trace",
        "tracepoint:sched:sched_swich { }",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("sched_swich") && err.contains("sched_switch"),
        "{err}"
    );
}

#[test]
fn attach_through_the_api_socket_and_detach() {
    let g = vm_tests::guest();
    let sock = std::env::temp_dir().join(format!("watchvm-api-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&sock);
    let mut vm = std::process::Command::new(&g.vmm)
        .args([
            "run",
            "--cpus",
            "2",
            "--cmdline",
            "quiet -- /bin/sleep 5",
            "--api-sock",
        ])
        .arg(&sock)
        .arg("--kernel")
        .arg(&g.kernel)
        .arg("--initrd")
        .arg(&g.initramfs)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start vmm");
    // Attach once init runs the program, so that the windows below see the booted guest: an
    // idle CPU still switches to its kworker for `vmstat_update` once a second.
    let (running_tx, running_rx) = std::sync::mpsc::channel();
    let stdout = vm.stdout.take().expect("piped stdout");
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line.starts_with("init: running") {
                let _ = running_tx.send(());
            }
        }
    });
    running_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("init runs /bin/sleep");
    assert!(sock.exists(), "the API socket is open while the VM runs");
    // Detach after 1.2 s, as Ctrl-C does.
    let session = |program: &str, format| {
        let detach = std::sync::atomic::AtomicBool::new(false);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let status = std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(1200));
                detach.store(true, std::sync::atomic::Ordering::Release);
            });
            let req = vmm::api::ClientRequest {
                sock: &sock,
                file_name: "stdin",
                program,
                timeline: None,
                format,
            };
            vmm::api::run_client(&req, &detach, &mut out, &mut err)
        })
        .expect("trace session");
        let out = String::from_utf8_lossy(&out).into_owned();
        assert_eq!(status, 0, "{out}{}", String::from_utf8_lossy(&err));
        (out, String::from_utf8_lossy(&err).into_owned())
    };
    let (out, err) = session(
        "tracepoint:sched:sched_switch { @switches[cpu] = count(); } END { printf(\"detached\\n\"); }",
        vmm::trace::OutputFormat::Text,
    );
    assert!(err.contains("Attaching 2 probes..."), "{err}");
    assert!(out.starts_with("detached\n"), "{out}");
    assert!(out.contains("@switches[0]: "), "{out}");
    // A second client, after the first detached, in JSON: one message per line.
    let (out, _) = session(
        "tracepoint:sched:sched_switch { @switches[cpu] = count(); }",
        vmm::trace::OutputFormat::Json,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.first(),
        Some(&r#"{"type": "attached_probes", "data": {"probes": 1}}"#),
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(r#"{"type": "map", "data": {"@switches": {""#)),
        "{out}"
    );
    // -l through the socket: the VM lists its kernel's functions beside the tracepoints.
    let mut listed = Vec::new();
    let status =
        vmm::api::list_probes(&sock, "*copy_process*", &mut listed, &mut Vec::new()).expect("list");
    assert_eq!(status, 0);
    assert_eq!(String::from_utf8_lossy(&listed), "kfunc:copy_process\n");
    // The guest ran on untouched and ended on its own.
    let vm_status = vm.wait().expect("vmm");
    assert!(vm_status.success(), "{vm_status:?}");
    assert!(!sock.exists(), "the socket is removed when the VM ends");
}

#[test]
fn workqueue_items_run_on_kworkers() {
    // vmstat_shepherd runs every second on `events`, vmstat_update on `mm_percpu_wq`.
    let t = traced(
        "quiet -- /bin/sleep 3",
        "tracepoint:workqueue:workqueue_queue_work { @queued[args->workqueue] = count(); }
         tracepoint:workqueue:workqueue_execute_start { @ran[comm] = count(); }",
        POLL,
    );
    assert!(t.output.contains("@queued[events]: "), "{}", t.output);
    let ran: Vec<&str> = t
        .output
        .lines()
        .filter_map(|l| l.strip_prefix("@ran["))
        .collect();
    assert!(
        ran.iter().any(|l| l.starts_with("kworker/")),
        "{}",
        t.output
    );
    // Besides kworkers, only a WQ_MEM_RECLAIM workqueue's rescuer (a kthread named after its
    // workqueue, as in Linux) may run items: it does when a slow machine delays new workers.
    let queued: Vec<&str> = t
        .output
        .lines()
        .filter_map(|l| l.strip_prefix("@queued[")?.split(']').next())
        .collect();
    assert!(
        ran.iter().all(|l| l.starts_with("kworker/")
            || queued.iter().any(|wq| l.starts_with(&format!("{wq}]")))),
        "{}",
        t.output
    );
}

#[test]
fn kretfunc_sees_the_values_the_program_saw() {
    // efault's checks see errno 14 seven times, then EBADF (9) and ENOSYS (38) once each.
    let t = traced(
        "quiet -- /bin/efault",
        r#"kretfunc:x64_sys_call /comm == "efault" && retval < 0/ { @errors[retval] = count(); }
           kprobe:x64_sys_call /comm == "efault"/ { @nr[arg1] = count(); }"#,
        POLL,
    );
    assert!(
        t.outcome.console.contains("efault: all checks passed"),
        "{}",
        t.outcome.console
    );
    for line in ["@errors[-14]: 7\n", "@errors[-9]: 1\n", "@errors[-38]: 1\n"] {
        assert!(t.output.contains(line), "{line}: {}", t.output);
    }
    // arg1 is the syscall number: 9999 once (the bad one), write (1) at least 3 times.
    assert!(t.output.contains("@nr[9999]: 1\n"), "{}", t.output);
    let s = stats(&t);
    assert_eq!((s.lost_total(), s.corrupt), (0, 0), "{}", t.diag);
}

/// The kernel's executable segment: (guest physical address, the ELF's bytes).
fn kernel_text_segment(kernel: &std::path::Path) -> (u64, Vec<u8>) {
    use object::read::elf::{ElfFile64, ProgramHeader};
    let data = std::fs::read(kernel).unwrap();
    let elf = ElfFile64::<object::Endianness>::parse(&*data).unwrap();
    let e = elf.endian();
    let text = elf
        .elf_program_headers()
        .iter()
        .find(|p| {
            p.p_type(e) == object::elf::PT_LOAD
                && p.p_flags(e) & object::elf::PF_X == object::elf::PF_X
                && p.p_vaddr(e) >= 0xffff_ffff_8000_0000
        })
        .expect("a text segment");
    (text.p_paddr(e), text.data(e, &*data).unwrap().to_vec())
}

#[test]
fn a_removed_probe_leaves_the_text_as_the_elf_has_it() {
    use vm_memory::{Bytes, GuestAddress};
    let g = vm_tests::guest();
    let console = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sock = std::env::temp_dir().join(format!("watchvm-text-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&sock);
    let config = vmm::VmConfig {
        kernel: g.kernel.clone(),
        initrd: Some(g.initramfs.clone()),
        cmdline: "quiet -- /bin/sleep 5".into(),
        mem_size: 256 << 20,
        cpus: 2,
        console: vmm::ConsoleConfig::Capture {
            output: console.clone(),
            input: Vec::new(),
        },
        boot_timer: false,
        trace: None,
        api_sock: Some(sock.clone()),
    };
    let vm = vmm::Vmm::new(config).expect("vm");
    let mem = vm.guest_memory();
    let running = std::thread::spawn(move || vm.run().map(|r| r.status));
    let (gpa, elf_text) = kernel_text_segment(&g.kernel);
    let guest_text = || {
        let mut b = vec![0u8; elf_text.len()];
        mem.read_slice(&mut b, GuestAddress(gpa)).unwrap();
        b
    };
    let text = vmm::trace::channel::ftrace::KernelText::from_elf(&g.kernel).unwrap();
    let schedule = text
        .sites_named("schedule")
        .next()
        .expect("schedule")
        .clone();
    let at_schedule = || {
        let mut b = [0u8; 5];
        mem.read_slice(&mut b, GuestAddress(schedule.gpa)).unwrap();
        b
    };
    // Attach once init runs the program: the window below then spans the booted guest's
    // once-a-second `vmstat_update` on each CPU, so `schedule` is called in it.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let init_runs = |c: &std::sync::Mutex<Vec<u8>>| {
        let c = c.lock().unwrap();
        String::from_utf8_lossy(&c).contains("init: running")
    };
    while !init_runs(&console) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(sock.exists(), "the API socket is open while the VM runs");
    assert!(guest_text() == elf_text, "the guest patched its own text");

    let detach = std::sync::atomic::AtomicBool::new(false);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut while_attached = [0u8; 5];
    let status = std::thread::scope(|s| {
        s.spawn(|| {
            // Attaching may take a while on a loaded host: the window starts once the probe
            // is in, and lasts long enough for `schedule` to be called.
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while at_schedule()[0] != 0xe8 && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            std::thread::sleep(Duration::from_millis(1200));
            while_attached = at_schedule();
            detach.store(true, std::sync::atomic::Ordering::Release);
        });
        let req = vmm::api::ClientRequest {
            sock: &sock,
            file_name: "stdin",
            program: "kfunc:schedule { @calls = count(); } kretfunc:schedule_timeout { @timeouts = count(); }",
            timeline: None,
            format: vmm::trace::OutputFormat::Text,
        };
        vmm::api::run_client(&req, &detach, &mut out, &mut err)
    })
    .expect("trace session");
    let out = String::from_utf8_lossy(&out);
    assert_eq!(status, 0, "{out}{}", String::from_utf8_lossy(&err));
    assert!(out.contains("@calls: "), "{out}");
    assert_eq!(
        while_attached[0], 0xe8,
        "schedule's entry was not a call while attached"
    );
    assert_eq!(at_schedule(), schedule.original);
    let now = guest_text();
    let differing = now.iter().zip(&elf_text).filter(|(a, b)| a != b).count();
    assert_eq!(
        differing, 0,
        "bytes of the kernel text differ from the ELF after detaching"
    );
    // And the guest ran on to its end.
    assert_eq!(running.join().unwrap().expect("vm run"), 0);
}
