//! The interpreter over synthetic events: statements, builtins, predicates, intervals, exit.

use super::*;

const SWITCH: &str = "tracepoint:sched:sched_switch";

fn switch(next_comm: &str, next_pid: i64) -> Fields {
    Fields::args(&[
        ("prev_comm", s("bash")),
        ("prev_pid", i(100)),
        ("next_comm", s(next_comm)),
        ("next_pid", i(next_pid)),
    ])
}

#[test]
fn canonical_one_liner_end_to_end() {
    let src = "tracepoint:sched:sched_switch { @[args->next_comm] = count(); } \
               interval:s:1 { print(@); clear(@); }";
    let mut e = engine(src);
    e.begin(0).unwrap();
    assert_eq!(e.next_deadline(), Some(1_000_000_000));
    let mut ts = 0;
    let mut feed = |e: &mut Engine<Vec<u8>>, comm: &str, n: usize| {
        for _ in 0..n {
            ts += 1000;
            fire(e, SWITCH, 1, "bash", ts, &switch(comm, 7));
        }
    };
    feed(&mut e, "swapper/0", 3);
    feed(&mut e, "bash", 1);
    feed(&mut e, "kworker/0:1", 2);
    e.tick(999_999_999).unwrap();
    assert_eq!(take(&mut e), "", "not due yet");
    e.tick(1_000_000_000).unwrap();
    assert_eq!(
        take(&mut e),
        "@[bash]: 1\n@[kworker/0:1]: 2\n@[swapper/0]: 3\n\n"
    );
    feed(&mut e, "bash", 2);
    e.tick(2_000_000_100).unwrap();
    assert_eq!(take(&mut e), "@[bash]: 2\n\n");
    // A late tick fires once and re-arms a full period later.
    e.tick(5_500_000_000).unwrap();
    assert_eq!(take(&mut e), "\n");
    assert_eq!(e.next_deadline(), Some(6_500_000_000));
    feed(&mut e, "ksoftirqd/0", 1);
    e.end(6_000_000_000).unwrap();
    assert_eq!(take(&mut e), "\n\n@[ksoftirqd/0]: 1\n\n");
    // After the end nothing more runs.
    e.tick(10_000_000_000).unwrap();
    fire(&mut e, SWITCH, 1, "x", 1, &switch("late", 1));
    assert_eq!(take(&mut e), "");
}

#[test]
fn predicates_filter_events() {
    let out = run(
        "tracepoint:sched:sched_switch /args->next_pid != 0 && comm == \"bash\"/ \
         { @[args->next_comm] = count(); }",
        SWITCH,
        &[
            switch("swapper/0", 0),
            switch("sh", 5),
            switch("sh", 6),
            switch("idle", 0),
        ],
    );
    assert_eq!(out, "\n\n@[sh]: 2\n\n");
}

#[test]
fn scratch_variables_and_control_flow() {
    let out = begin_program(
        r#"BEGIN {
            $a = 10; $a += 5; $a -= 1; $a *= 2; $a /= 4; $a %= 4; $a <<= 3; $a |= 1; $a ^= 3;
            $a &= 0xff; $a >>= 1;
            $b = $a++; $c = ++$a; $d = $a--; $e = --$a;
            printf("%d %d %d %d %d\n", $a, $b, $c, $d, $e);
            if ($a > 100) { printf("big\n"); } else if ($a > 5) { printf("mid\n"); } else { printf("small\n"); }
            $s = $a == 9 ? "nine" : "other";
            printf("%s\n", $s);
            unroll(4) { @n++; }
            @m[1] += 5; @m[1] += 5; @k = @m[1] * 2; @k--;
            printf("%d %d %d\n", @n, @m[1], @k);
            exit();
            printf("not reached\n");
        }
        BEGIN { printf("second BEGIN not reached after exit\n"); }"#,
    );
    assert_eq!(
        out,
        "13 13 15 15 13\nmid\nother\n4 10 19\n\n\n@k: 19\n\n@m[1]: 10\n\n@n: 4\n\n"
    );
}

fn begin_program(src: &str) -> String {
    run(src, "BEGIN", &[])
}

#[test]
fn integer_semantics_are_bpf_like() {
    let out = begin_program(
        "BEGIN { $zero = 0; $min = 0x8000000000000000;
                 printf(\"%d %d %d %d\\n\", 7 / $zero, 7 % $zero, $min / -1, 0x7fffffffffffffff + 1);
                 printf(\"%d %d %x %d\\n\", 1 << 65, -1 >> 60, ~0, -5 % 3);
                 printf(\"%d %d %d %d\\n\", 3 > 2, 2 >= 3, !5, -(-4)); }",
    );
    assert_eq!(
        out,
        "0 7 -9223372036854775808 -9223372036854775808\n2 15 ffffffffffffffff -2\n1 0 0 4\n\n\n"
    );
}

#[test]
fn logical_operators_short_circuit() {
    let out = begin_program("BEGIN { $x = 0 && @a++; $y = 1 || @b++; $z = 1 && @c++; print(@c); }");
    assert_eq!(out, "@c: 1\n\n\n\n@c: 1\n\n", "@a and @b are never touched");
}

#[test]
fn maps_delete_zero_clear_and_defaults() {
    let out = begin_program(
        r#"BEGIN {
            @s[1] = "one"; @s[2] = "two"; delete(@s[1]);
            printf("[%s] [%s] [%d]\n", @s[1], @s[2], @nums[5]);
            @c[1] = count(); @c[2] = count(); zero(@c); @c[2] = count();
            @h = hist(5); zero(@h);
            @gone[1] = 1; clear(@gone);
            @nums[3] = 1;
        }"#,
    );
    assert_eq!(
        out,
        "[] [two] [0]\n\n\n@c[1]: 0\n@c[2]: 1\n\n@h: \n\n@nums[3]: 1\n\n@s[2]: two\n\n"
    );
}

#[test]
fn string_builtins_and_comparisons() {
    let out = run(
        r#"kfunc:vfs_read /comm == "bash"/ {
            printf("%s|%s|%s|%d|%d|%d\n", str(comm, 3), str(0x1000), str(args->buf),
                   strncmp(comm, "baz", 2), strncmp(comm, "baz", 3), "a" != "b");
        }"#,
        "kfunc:vfs_read",
        &[Fields::args(&[("buf", i(0x2000))])],
    );
    assert_eq!(out, "ba|/etc/passwd||0|1|1\n\n\n");
}

#[test]
fn builtins_and_field_sources() {
    let mut e = engine(
        r#"kfunc:balance_pgdat { printf("%s:%d %s %s order=%d pid=%d cpu=%d tid=%d uid=%d nsecs=%d elapsed=%d task=%d\n",
               curtask->comm, curtask->pid, func, probe, args->order, pid, cpu, tid, uid, nsecs, elapsed, curtask != 0); }
           kretfunc:do_exit { @ret[retval] = count(); }
           kprobe:vfs_write { printf("%d %d %d\n", arg0, arg1, arg5); }"#,
    );
    e.begin(1_000).unwrap();
    let task = Fields {
        args: vec![("order", i(3))],
        task: vec![("comm", s("kswapd0")), ("pid", i(57))],
        ..Fields::default()
    };
    fire(&mut e, "kfunc:balance_pgdat", 57, "kswapd0", 5_000, &task);
    let ret = Fields {
        retval: Some(-12),
        ..Fields::default()
    };
    fire(&mut e, "kretfunc:do_exit", 1, "init", 6_000, &ret);
    let regs = Fields {
        regs: vec![11, 22],
        ..Fields::default()
    };
    fire(&mut e, "kprobe:vfs_write", 1, "init", 7_000, &regs);
    e.end(8_000).unwrap();
    assert_eq!(
        take(&mut e),
        "kswapd0:57 balance_pgdat kfunc:balance_pgdat order=3 pid=57 cpu=1 tid=57 uid=0 \
         nsecs=5000 elapsed=4000 task=1\n11 22 0\n\n\n@ret[-12]: 1\n\n"
    );
}

#[test]
fn long_strings_are_capped_and_comm_is_task_comm_len() {
    let long = "x".repeat(200);
    let out = run(
        "tracepoint:irq:irq_handler_entry { printf(\"%s|%s\\n\", args->name, comm); }",
        "tracepoint:irq:irq_handler_entry",
        &[Fields::args(&[(
            "name",
            Value::Str(Str::new(long.as_bytes())),
        )])],
    );
    let mut e = engine("tracepoint:irq:irq_handler_entry { printf(\"%s\\n\", comm); }");
    e.begin(0).unwrap();
    fire(
        &mut e,
        "tracepoint:irq:irq_handler_entry",
        1,
        "a_very_long_command_name",
        1,
        &Fields::default(),
    );
    assert_eq!(take(&mut e), "a_very_long_com\n");
    assert_eq!(out, format!("{}|bash\n\n\n", &long[..63]));
}

#[test]
fn exit_stops_events_and_end_still_runs() {
    let mut e = engine(
        "tracepoint:sched:sched_switch { @n = count(); if (@n == 2) { exit(); } printf(\"event\\n\"); }
         END { printf(\"end %d\\n\", @n); }",
    );
    e.begin(0).unwrap();
    for n in 0..5 {
        fire(&mut e, SWITCH, 1, "bash", n, &switch("a", 1));
    }
    assert!(e.exited());
    e.end(10).unwrap();
    e.end(11).unwrap();
    assert_eq!(take(&mut e), "event\nend 2\n\n\n@n: 2\n\n");
}

#[test]
fn manual_intervals_unknown_ids_and_options() {
    let mut e = engine("interval:ms:100 { @ticks = count(); } BEGIN { @b = 1; } END { @e = 1; }");
    e.set_print_maps_on_exit(false);
    e.begin(0).unwrap();
    let id = probe_id(&e, "interval:ms:100");
    e.on_interval(id, 5).unwrap();
    e.on_interval(id, 6).unwrap();
    let bogus = Event {
        probe: ProbeId(99),
        cpu: 0,
        pid: 0,
        tid: 0,
        uid: 0,
        comm: b"",
        timestamp_ns: 0,
        fields: &NoFields,
    };
    assert!(matches!(
        e.on_event(&bogus),
        Err(EngineError::UnknownProbe(99))
    ));
    assert!(e.on_interval(ProbeId(1000), 1).is_err());
    e.end(7).unwrap();
    assert_eq!(take(&mut e), "");
    let values: Vec<(String, Value)> = e
        .maps()
        .iter()
        .map(|m| (m.name.clone(), m.entries[&Vec::new()].read()))
        .collect();
    assert_eq!(
        values,
        [
            ("@b".into(), i(1)),
            ("@e".into(), i(1)),
            ("@ticks".into(), i(2))
        ]
    );
}

#[test]
fn maps_are_bounded() {
    let mut e = engine("tracepoint:sched:sched_switch { @[nsecs] = count(); }");
    e.set_max_map_keys(10);
    e.begin(0).unwrap();
    for n in 0..25 {
        fire(&mut e, SWITCH, 1, "bash", n, &switch("a", 1));
    }
    assert_eq!(e.maps().get("@").unwrap().entries.len(), 10);
    assert_eq!(e.dropped_map_updates(), 15);
}

#[test]
fn missing_fields_read_as_zero_or_empty() {
    let out = run(
        "tracepoint:sched:sched_switch { printf(\"[%s] [%d]\\n\", args->next_comm, args->next_pid); }",
        SWITCH,
        &[Fields::default()],
    );
    assert_eq!(out, "[0] [0]\n\n\n");
}

#[test]
fn wildcard_probes_share_one_block() {
    let mut e = engine("kfunc:vfs_* { @[func, probe] = count(); }");
    e.begin(0).unwrap();
    for name in [
        "kfunc:vfs_read",
        "kfunc:vfs_read",
        "kfunc:vfs_write",
        "kfunc:vfs_open",
    ] {
        fire(&mut e, name, 1, "cat", 1, &Fields::default());
    }
    e.end(2).unwrap();
    assert_eq!(
        take(&mut e),
        "\n\n@[vfs_open, kfunc:vfs_open]: 1\n@[vfs_write, kfunc:vfs_write]: 1\n\
         @[vfs_read, kfunc:vfs_read]: 2\n\n"
    );
}

#[test]
fn one_probe_id_runs_every_block_that_names_it() {
    let src = r#"kprobe:vfs_read { printf("a\n"); }
                 kprobe:vfs_read, kprobe:vfs_write { printf("b %s\n", probe); }
                 BEGIN { printf("1\n"); } BEGIN { printf("2\n"); }"#;
    let attached = attach(src);
    let names: Vec<&str> = attached.probes().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["kprobe:vfs_read", "kprobe:vfs_write", "BEGIN"]);
    let mut e = engine(src);
    e.begin(0).unwrap();
    fire(&mut e, "kprobe:vfs_read", 1, "cat", 1, &Fields::default());
    fire(&mut e, "kprobe:vfs_write", 1, "cat", 2, &Fields::default());
    assert_eq!(
        take(&mut e),
        "1\n2\na\nb kprobe:vfs_read\nb kprobe:vfs_write\n"
    );
}

#[test]
fn scratch_variables_do_not_leak_between_events() {
    let out = run(
        "tracepoint:sched:sched_switch { if (args->next_pid == 1) { $a = 7; } printf(\"%d\\n\", $a); }",
        SWITCH,
        &[switch("init", 1), switch("sh", 2)],
    );
    assert_eq!(out, "7\n0\n\n\n");
}

#[test]
fn engines_and_programs_cross_threads() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<Engine<Vec<u8>>>();
    send::<AttachedProgram>();
    sync::<AttachedProgram>();
    send::<Diagnostics>();
    sync::<Diagnostics>();
    send::<EngineError>();
}

#[test]
fn maps_may_be_printed_by_a_probe_written_before_the_one_that_fills_them() {
    let src = "interval:s:1 { print(@); clear(@); } \
               tracepoint:sched:sched_switch { @[args->next_comm] = count(); }";
    let mut e = engine(src);
    e.begin(0).unwrap();
    fire(&mut e, SWITCH, 1, "bash", 5, &switch("sh", 3));
    e.tick(1_000_000_000).unwrap();
    assert_eq!(take(&mut e), "@[sh]: 1\n\n");
}
