//! bpftrace's output formats: maps, histograms, printf, time().

use super::super::format::{strftime, Arg, Format};
use super::super::maps::{hist_index, Lhist};
use super::*;

/// Runs `BEGIN { <body> }` and returns what `print()`s and the exit dump wrote.
fn begin(body: &str) -> String {
    run(&format!("BEGIN {{ {body} }}"), "BEGIN", &[])
}

/// A 52-column bar of `n` `@`s.
fn bar(n: usize) -> String {
    format!("|{:<52}|", "@".repeat(n))
}

#[test]
fn count_maps_print_sorted_by_value() {
    let out = begin(
        r#"@[ "b" ] = count(); @["b"] = count(); @["b"] = count(); @["a"] = count();
           @["c"] = count(); @["c"] = count(); print(@); clear(@);"#,
    );
    // print(): one line per key, ascending by count, then an empty line; the exit dump: the
    // two newlines bpftrace writes before the maps, and nothing for the cleared map.
    assert_eq!(out, "@[a]: 1\n@[c]: 2\n@[b]: 3\n\n\n\n");
}

#[test]
fn scalar_and_multi_key_maps() {
    let out = begin(r#"@x = 5; @y[1, "a"] = 7; @y[2, "b"] = -3; @s["k"] = "text";"#);
    assert_eq!(
        out, "\n\n@s[k]: text\n\n@x: 5\n\n@y[2, b]: -3\n@y[1, a]: 7\n\n",
        "maps print in name order at exit"
    );
}

#[test]
fn every_aggregation_prints_like_bpftrace() {
    let out = begin(
        "@sum[1] = sum(10); @sum[1] = sum(-3); @sum[2] = sum(2);
         @avg = avg(3); @avg = avg(4); @min = min(5); @min = min(-2); @max = max(5); @max = max(9);
         @stats = stats(10); @stats = stats(20); @stats = stats(3);
         print(@sum); print(@avg); print(@min); print(@max); print(@stats); exit();",
    );
    let printed = "@sum[2]: 2\n@sum[1]: 7\n\n@avg: 3\n\n@min: -2\n\n@max: 9\n\n\
                   @stats: count 3, average 11, total 33\n\n";
    assert!(out.starts_with(printed), "{out}");
    assert_eq!(
        &out[printed.len()..],
        "\n\n@avg: 3\n\n@max: 9\n\n@min: -2\n\n@stats: count 3, average 11, total 33\n\n\
         @sum[2]: 2\n@sum[1]: 7\n\n"
    );
}

#[test]
fn print_top_and_div() {
    let out = begin(
        "@[1] = sum(1000); @[2] = sum(5000); @[3] = sum(3000); print(@, 2); print(@, 0, 1000); clear(@);",
    );
    assert_eq!(
        out,
        "@[3]: 3000\n@[2]: 5000\n\n@[1]: 1\n@[3]: 3\n@[2]: 5\n\n\n\n"
    );
}

#[test]
fn print_of_values_and_empty_maps() {
    let out =
        begin(r#"print(42); print("str"); print(comm); @x[1] = 1; delete(@x[1]); print(@x);"#);
    assert_eq!(out, "42\nstr\n\n\n\n\n");
}

#[test]
fn hist_buckets_match_bpftrace() {
    // bpftrace's own runtime test: values -1, 2, 3, 5, 20.
    let out = begin(
        "@ = hist(-1); @ = hist(2); @ = hist(3); @ = hist(5); @ = hist(20); print(@); clear(@);",
    );
    let want = format!(
        "@: \n\
         (..., 0)               1 {}\n\
         [0]                    0 {}\n\
         [1]                    0 {}\n\
         [2, 4)                 2 {}\n\
         [4, 8)                 1 {}\n\
         [8, 16)                0 {}\n\
         [16, 32)               1 {}\n\n\n\n",
        bar(26),
        bar(0),
        bar(0),
        bar(52),
        bar(26),
        bar(0),
        bar(26)
    );
    assert_eq!(out, want);
}

#[test]
fn hist_zero_one_and_binary_suffixes() {
    let out = begin(
        "@h[\"x\"] = hist(0); @h[\"x\"] = hist(1); @h[\"x\"] = hist(1); @h[\"x\"] = hist(1);
         @h[\"x\"] = hist(1024); @h[\"x\"] = hist(2047); @h[\"y\"] = hist(1 << 20);",
    );
    let want = format!(
        "\n\n@h[y]: \n\
         [1M, 2M)               1 {}\n\n\
         @h[x]: \n\
         [0]                    1 {}\n\
         [1]                    3 {}\n\
         [2, 4)                 0 {}\n\
         [4, 8)                 0 {}\n\
         [8, 16)                0 {}\n\
         [16, 32)               0 {}\n\
         [32, 64)               0 {}\n\
         [64, 128)              0 {}\n\
         [128, 256)             0 {}\n\
         [256, 512)             0 {}\n\
         [512, 1K)              0 {}\n\
         [1K, 2K)               2 {}\n\n",
        bar(52),
        bar(17),
        bar(52),
        bar(0),
        bar(0),
        bar(0),
        bar(0),
        bar(0),
        bar(0),
        bar(0),
        bar(0),
        bar(0),
        bar(34)
    );
    assert_eq!(out, want, "keyed histograms sort by total count");
}

#[test]
fn hist_index_edges() {
    assert_eq!(hist_index(i64::MIN), 0);
    assert_eq!(hist_index(-1), 0);
    assert_eq!(hist_index(0), 1);
    assert_eq!(hist_index(1), 2);
    assert_eq!(hist_index(2), 3);
    assert_eq!(hist_index(3), 3);
    assert_eq!(hist_index(4), 4);
    assert_eq!(hist_index(i64::MAX), 64);
    let out = begin("@ = hist(0x7fffffffffffffff); print(@); clear(@);");
    assert!(out.starts_with("@: \n[4E, 8E)               1 |"), "{out}");
}

#[test]
fn lhist_matches_bpftrace() {
    // bpftrace's own runtime test: lhist(v, 0, 10, 2) over -1, 2, 3, 6, 10.
    let out = begin(
        "@ = lhist(-1, 0, 10, 2); @ = lhist(2, 0, 10, 2); @ = lhist(3, 0, 10, 2);
         @ = lhist(6, 0, 10, 2); @ = lhist(10, 0, 10, 2); print(@); clear(@);",
    );
    let want = format!(
        "@: \n\
         (..., 0)               1 {}\n\
         [0, 2)                 0 {}\n\
         [2, 4)                 2 {}\n\
         [4, 6)                 0 {}\n\
         [6, 8)                 1 {}\n\
         [8, 10)                0 {}\n\
         [10, ...)              1 {}\n\n\n\n",
        bar(26),
        bar(0),
        bar(52),
        bar(0),
        bar(26),
        bar(0),
        bar(26)
    );
    assert_eq!(out, want);
}

#[test]
fn lhist_suffixes_only_with_a_binary_step() {
    let prog = |min: i64, max: i64, step: i64, values: &[i64]| {
        let adds: String = values
            .iter()
            .map(|v| format!("@mymap = lhist({v}, {min}, {max}, {step}); "))
            .collect();
        begin(&format!("{adds} print(@mymap); clear(@mymap);"))
    };
    let full = bar(52);
    // 640000 is 625K, but 10000 is not a multiple of 1024: no suffixes (bpftrace's unit test).
    let out = prog(
        610_000,
        670_000,
        10_000,
        &[615_000, 625_000, 635_000, 645_000, 655_000, 665_000],
    );
    let want: String = [610, 620, 630, 640, 650, 660]
        .iter()
        .map(|lo| {
            format!(
                "{:<16}       1 {full}\n",
                format!("[{lo}000, {}000)", lo + 10)
            )
        })
        .collect();
    assert_eq!(out, format!("@mymap: \n{want}\n\n\n"));
    let out = prog(0, 5 * 1024, 1024, &[0, 1024, 2048, 3072, 4096]);
    assert_eq!(
        out,
        format!(
            "@mymap: \n\
             [0, 1K)                1 {full}\n\
             [1K, 2K)               1 {full}\n\
             [2K, 3K)               1 {full}\n\
             [3K, 4K)               1 {full}\n\
             [4K, 5K)               1 {full}\n\n\n\n"
        )
    );
}

#[test]
fn lhist_bucket_index() {
    let p = Lhist {
        min: 0,
        max: 10,
        step: 3,
    };
    assert_eq!(p.inner_buckets(), 3);
    assert_eq!(
        [-5, 0, 2, 3, 8, 9, 10, i64::MAX].map(|v| p.index(v)),
        [0, 1, 1, 2, 3, 4, 4, 4]
    );
}

#[test]
fn stacks_and_symbols() {
    let out = run(
        "kprobe:vfs_read { @[kstack] = count(); printf(\"%s|%s\\n\", ksym(arg0), ksym(0x10)); }",
        "kprobe:vfs_read",
        &[Fields {
            stack: Some(vec![0xffff_ffff_8100_0010, 0xffff_ffff_8100_0123, 0xdead]),
            regs: vec![0xffff_ffff_8100_0105u64 as i64],
            ..Fields::default()
        }],
    );
    assert_eq!(
        out,
        "do_idle|0x10\n\n\n@[\n        schedule+16\n        do_idle+35\n        0xdead\n]: 1\n\n"
    );
}

fn printf(fmt: &str, args: &[Arg<'_>]) -> String {
    let f = Format::parse(fmt.as_bytes()).unwrap_or_else(|e| panic!("{fmt}: {e}"));
    let mut out = Vec::new();
    f.render(args, &mut out);
    String::from_utf8(out).unwrap()
}

fn b(s: &str) -> Arg<'_> {
    Arg::Bytes(s.as_bytes().into())
}

#[test]
fn printf_formats_like_c() {
    use Arg::Int;
    for (fmt, args, want) in [
        (
            "%-16s %6d|",
            vec![b("bash"), Int(42)],
            "bash                 42|",
        ),
        ("%s:%d\n", vec![b("kswapd0"), Int(57)], "kswapd0:57\n"),
        (
            "%5s|%-5s|%.2s",
            vec![b("ab"), b("cd"), b("xyz")],
            "   ab|cd   |xy",
        ),
        (
            "%d %i %u",
            vec![Int(-1), Int(-2), Int(-1)],
            "-1 -2 18446744073709551615",
        ),
        (
            "%x %X %#x %#X %o %#o",
            vec![Int(255), Int(255), Int(255), Int(255), Int(8), Int(8)],
            "ff FF 0xff 0XFF 10 010",
        ),
        (
            "%05d|%-5d|%+d|% d|%+d",
            vec![Int(42), Int(42), Int(42), Int(42), Int(-42)],
            "00042|42   |+42| 42|-42",
        ),
        (
            "%.3d|%8.3d|%-8.3d|%08.3d",
            vec![Int(7), Int(7), Int(7), Int(7)],
            "007|     007|007     |     007",
        ),
        (
            "%lu %ld %llu %lld %lx",
            vec![Int(1), Int(-2), Int(3), Int(-4), Int(255)],
            "1 -2 3 -4 ff",
        ),
        (
            "%hhd %hu %hhx",
            vec![Int(257), Int(-1), Int(0x1ff)],
            "1 65535 ff",
        ),
        ("%c%c%c", vec![Int(104), Int(105), Int(33)], "hi!"),
        (
            "%p %p",
            vec![Int(0xffff_8880_0000_1000u64 as i64), Int(0)],
            "0xffff888000001000 0x0",
        ),
        ("100%% %d%%", vec![Int(5)], "100% 5%"),
        (
            "%#08x|%-#8x|",
            vec![Int(255), Int(255)],
            "0x0000ff|0xff    |",
        ),
        ("%d", vec![Int(i64::MIN)], "-9223372036854775808"),
        ("%.0d|%.0x|", vec![Int(0), Int(0)], "||"),
        ("no args\n", vec![], "no args\n"),
        ("%s and %d", vec![Int(12), b("str")], "12 and 0"),
    ] {
        assert_eq!(printf(fmt, &args), want, "{fmt}");
    }
    // A hostile width is capped rather than allocating gigabytes.
    assert_eq!(printf("%999999999d", &[Arg::Int(1)]).len(), 4096);
    assert_eq!(
        Format::parse(b"%").unwrap_err(),
        "Unknown format string token: %"
    );
    assert_eq!(
        Format::parse(b"%5q").unwrap_err(),
        "Unknown format string token: %5q"
    );
    assert_eq!(
        Format::parse(b"%lllx").unwrap_err(),
        "Unknown format string token: %lllx"
    );
}

#[test]
fn printf_in_a_program() {
    let out = run(
        "tracepoint:sched:sched_switch { printf(\"%-8s %5d -> %-8s %5d cpu%d\\n\", args->prev_comm, \
         args->prev_pid, args->next_comm, args->next_pid, cpu); }",
        "tracepoint:sched:sched_switch",
        &[Fields::args(&[
            ("prev_comm", s("bash")),
            ("prev_pid", i(100)),
            ("next_comm", s("swapper/0")),
            ("next_pid", i(0)),
        ])],
    );
    assert_eq!(out, "bash       100 -> swapper/0     0 cpu1\n\n\n");
}

#[test]
fn time_formats() {
    let t = fixed_clock();
    assert_eq!(strftime(b"%H:%M:%S\n", t), b"22:13:20\n");
    assert_eq!(
        String::from_utf8(strftime(b"%Y-%m-%d %a %b %e %j %I%p %T.%f %s %%%q %z", t)).unwrap(),
        "2023-11-14 Tue Nov 14 318 10PM 22:13:20.123456 1700000000 %%q +0000"
    );
    let local = WallTime {
        utc_offset_secs: 5 * 3600 + 30 * 60,
        ..t
    };
    assert_eq!(strftime(b"%F %R %z", local), b"2023-11-15 03:43 +0530");
    let leap = WallTime {
        unix_secs: 951_782_400, // 2000-02-29
        nanos: 0,
        utc_offset_secs: 0,
    };
    assert_eq!(
        strftime(b"%D %j %A %B", leap),
        b"02/29/00 060 Tuesday February"
    );
    let before_epoch = WallTime {
        unix_secs: -1,
        nanos: 0,
        utc_offset_secs: 0,
    };
    assert_eq!(strftime(b"%F %T", before_epoch), b"1969-12-31 23:59:59");
    assert_eq!(begin("time(); time(\"%Y\\n\");"), "22:13:20\n2023\n\n\n");
}

#[test]
fn hist_counts_divide_but_bars_do_not() {
    let out = begin(
        "@h = hist(1); @h = hist(1); @h = hist(1); @h = hist(2); print(@h, 0, 2); clear(@h);",
    );
    assert_eq!(
        out,
        format!(
            "@h: \n[1]                    1 {}\n[2, 4)                 0 {}\n\n\n\n",
            bar(52),
            bar(17)
        )
    );
}

/// Runs `BEGIN { <body> }` with `--format json` and returns the lines written.
fn begin_json(body: &str) -> Vec<String> {
    let mut e = engine(&format!("BEGIN {{ {body} }}"));
    e.set_format(super::super::OutputFormat::Json);
    e.begin(0).expect("begin");
    e.end(1).expect("end");
    take(&mut e).lines().map(str::to_string).collect()
}

#[test]
fn json_output_is_one_bpftrace_message_per_line() {
    let lines = begin_json(
        r#"printf("a \"q\" %d\n", 5); time("%H:%M\n");
           @c["sh"] = count(); @c["ps"] = count(); @c["ps"] = count();
           @x = 5; @k[1, "a"] = 7; @s = stats(10); @s = stats(20); print(3); print(@x);"#,
    );
    assert_eq!(
        lines,
        [
            r#"{"type": "printf", "data": "a \"q\" 5\n"}"#,
            r#"{"type": "time", "data": "22:13\n"}"#,
            r#"{"type": "value", "data": 3}"#,
            r#"{"type": "map", "data": {"@x": 5}}"#,
            // The dump at exit: one message per map, in name order, entries sorted as in text.
            r#"{"type": "map", "data": {"@c": {"sh": 1, "ps": 2}}}"#,
            r#"{"type": "map", "data": {"@k": {"1,a": 7}}}"#,
            r#"{"type": "stats", "data": {"@s": {"count": 2, "average": 15, "total": 30}}}"#,
            r#"{"type": "map", "data": {"@x": 5}}"#,
        ]
    );
}

#[test]
fn json_histograms_have_inclusive_bounds() {
    let lines = begin_json(
        "@h = hist(0); @h = hist(5); @h = hist(6); @h = hist(-1);
         @l[\"k\"] = lhist(15, 10, 30, 10); @l[\"k\"] = lhist(40, 10, 30, 10); @l[\"k\"] = lhist(1, 10, 30, 10);",
    );
    assert_eq!(
        lines,
        [
            r#"{"type": "hist", "data": {"@h": [{"max": -1, "count": 1}, {"min": 0, "max": 0, "count": 1}, {"min": 1, "max": 1, "count": 0}, {"min": 2, "max": 3, "count": 0}, {"min": 4, "max": 7, "count": 2}]}}"#,
            r#"{"type": "hist", "data": {"@l": {"k": [{"max": 9, "count": 1}, {"min": 10, "max": 19, "count": 1}, {"min": 20, "max": 29, "count": 0}, {"min": 30, "count": 1}]}}}"#,
        ]
    );
    // Every line is an object a JSON reader accepts (strings with control bytes escaped).
    let hostile = begin_json(r#"printf("\x01\x1f\t");"#);
    assert_eq!(hostile, [r#"{"type": "printf", "data": "\u0001\u001f\t"}"#]);
}

#[test]
fn json_banner_and_lost_events() {
    use super::super::{json, OutputFormat};
    let p = attach("BEGIN { } tracepoint:sched:sched_switch { }");
    assert_eq!(
        p.banner(OutputFormat::Json),
        (
            "{\"type\": \"attached_probes\", \"data\": {\"probes\": 2}}\n".into(),
            true
        )
    );
    assert_eq!(
        p.banner(OutputFormat::Text),
        ("Attaching 2 probes...\n".into(), false)
    );
    assert_eq!(
        json::lost_events(12),
        "{\"type\": \"lost_events\", \"data\": {\"events\": 12}}\n"
    );
    assert_eq!(
        "yaml".parse::<OutputFormat>().unwrap_err(),
        "unknown output format 'yaml' (expected text or json)"
    );
}
