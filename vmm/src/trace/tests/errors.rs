//! Diagnostics: the exact text for malformed programs, as bpftrace words and places them.

use super::*;

fn check(src: &str, want: &str) {
    assert_eq!(error(src), want, "for program {src:?}");
}

#[test]
fn unterminated_string() {
    check(
        "BEGIN { printf(\"hello); }",
        "stdin:1:16-26: ERROR: unterminated string\n\
         BEGIN { printf(\"hello); }\n\
         \x20              ~~~~~~~~~~\n",
    );
}

#[test]
fn unknown_identifier() {
    check(
        "kprobe:vfs_read { @x = foo; }",
        "stdin:1:24-27: ERROR: Unknown identifier: 'foo'\n\
         kprobe:vfs_read { @x = foo; }\n\
         \x20                      ~~~\n",
    );
}

#[test]
fn unknown_function() {
    check(
        "BEGIN { frob(1); }",
        "stdin:1:9-13: ERROR: Unknown function: 'frob'\n\
         BEGIN { frob(1); }\n\
         \x20       ~~~~\n",
    );
}

#[test]
fn printf_argument_count() {
    check(
        "BEGIN { printf(\"%d %s\\n\", 1); }",
        "stdin:1:9-29: ERROR: printf: Not enough arguments for format string (1 supplied, 2 expected)\n\
         BEGIN { printf(\"%d %s\\n\", 1); }\n\
         \x20       ~~~~~~~~~~~~~~~~~~~~\n",
    );
    assert!(error("BEGIN { printf(\"%s\\n\", 1, 2); }")
        .contains("ERROR: printf: Too many arguments for format string (2 supplied, 1 expected)"));
}

#[test]
fn printf_type_mismatch_and_bad_token() {
    check(
        "BEGIN { printf(\"%d\\n\", comm); }",
        "stdin:1:9-29: ERROR: printf: %d specifier expects a value of type integer (string supplied)\n\
         BEGIN { printf(\"%d\\n\", comm); }\n\
         \x20       ~~~~~~~~~~~~~~~~~~~~\n",
    );
    assert!(error("BEGIN { printf(\"%lx %s\", pid, pid); }")
        .contains("ERROR: printf: %s specifier expects a value of type string (integer supplied)"));
    check(
        "BEGIN { printf(\"%k\", 1); }",
        "stdin:1:16-20: ERROR: printf: Unknown format string token: %k\n\
         BEGIN { printf(\"%k\", 1); }\n\
         \x20              ~~~~\n",
    );
}

#[test]
fn unknown_probe_type() {
    check(
        "foo:bar { }",
        "stdin:1:1-8: ERROR: Unrecognized probe type: foo\nfoo:bar { }\n~~~~~~~\n",
    );
}

#[test]
fn bad_interval_unit() {
    check(
        "interval:h:1 { exit(); }",
        "stdin:1:1-13: ERROR: h is not an accepted unit of time\n\
         interval:h:1 { exit(); }\n\
         ~~~~~~~~~~~~\n",
    );
}

#[test]
fn map_type_mismatch_across_probes() {
    check(
        "BEGIN { @x = 1; }\nEND { @x = \"a\"; }",
        "stdin:2:12-15: ERROR: Type mismatch for @x: trying to assign value of type 'string' \
         when map already contains a value of type 'int64'\n\
         END { @x = \"a\"; }\n\
         \x20          ~~~\n",
    );
    assert!(
        error("BEGIN { @x = count(); } END { @x = sum(1); }").contains(
            "ERROR: Type mismatch for @x: trying to assign value of type 'sum_t' when map already \
         contains a value of type 'count_t'"
        )
    );
    check(
        "BEGIN { @x[1] = 1; @x[\"a\"] = 2; }",
        "stdin:1:20-27: ERROR: Argument mismatch for @x: trying to access with arguments: \
         [string] when map expects arguments: [int64]\n\
         BEGIN { @x[1] = 1; @x[\"a\"] = 2; }\n\
         \x20                  ~~~~~~~\n",
    );
}

#[test]
fn missing_closing_brace() {
    check(
        "BEGIN { printf(\"hi\\n\");",
        "stdin:1:24-25: ERROR: syntax error, unexpected end of file, expecting }\n\
         BEGIN { printf(\"hi\\n\");\n\
         \x20                      ~\n",
    );
}

#[test]
fn predicate_without_action() {
    check(
        "kprobe:vfs_read /pid == 1/",
        "stdin:1:27-28: ERROR: syntax error, unexpected end of file, expecting {\n\
         kprobe:vfs_read /pid == 1/\n\
         \x20                         ~\n",
    );
}

#[test]
fn syntax_errors() {
    check(
        "BEGIN { @x = 1 @y = 2 }",
        "stdin:1:16-18: ERROR: syntax error, unexpected map '@y', expecting ; or }\n\
         BEGIN { @x = 1 @y = 2 }\n\
         \x20              ~~\n",
    );
    check(
        "BEGIN { 1 + }",
        "stdin:1:13-14: ERROR: syntax error, unexpected }\nBEGIN { 1 + }\n            ~\n",
    );
    check(
        "",
        "stdin:1:1-2: ERROR: syntax error, unexpected end of file\n",
    );
    check(
        "{ }",
        "stdin:1:1-2: ERROR: syntax error, unexpected {\n{ }\n~\n",
    );
    assert!(error("BEGIN { if 1 { } }").contains("syntax error, unexpected integer, expecting ("));
    assert!(error("BEGIN { unroll(101) { } }").contains("unroll maximum value is 100"));
    assert!(error("BEGIN { @x[] = 1 }").contains("syntax error, unexpected ]"));
}

#[test]
fn tabs_widen_and_later_lines_are_found() {
    check(
        "BEGIN {\n\tif (comm) {\n\t\t@x = lhist(1, 10, 5, 1);\n\t}\n}",
        "stdin:2:6-10: ERROR: Invalid condition in if(): string\n\
         \x20   if (comm) {\n\
         \x20       ~~~~\n\
         stdin:3:8-13: ERROR: lhist() max must be greater than min (provided min 10 and max 5)\n\
         \x20       @x = lhist(1, 10, 5, 1);\n\
         \x20            ~~~~~\n",
    );
}

#[test]
fn multi_line_span_has_no_excerpt() {
    check(
        "BEGIN { printf(\"a\"\n  , 1, \n 2); }",
        "stdin:1-3: ERROR: printf: Too many arguments for format string (2 supplied, 0 expected)\n",
    );
}

#[test]
fn probe_context_errors() {
    for (src, msg) in [
        (
            "kprobe:vfs_read { @ = args->count; }",
            "The args builtin can only be used with tracepoint and kfunc probes (kprobe used here)",
        ),
        (
            "tracepoint:sched:sched_switch { @[args->nxt_comm] = count(); }",
            "Struct/union of type 'struct _tracepoint_sched_sched_switch' does not contain a field \
             named 'nxt_comm' (did you mean next_comm?)",
        ),
        ("kfunc:vfs_read { printf(\"%d\\n\", args->size); }", "Can't find function parameter size"),
        (
            "kfunc:vfs_read { @ = curtask->bogus; }",
            "Struct/union of type 'struct task_struct' does not contain a field named 'bogus'",
        ),
        (
            "BEGIN { retval }",
            "The retval builtin can only be used with kretfunc and kretprobe probes (BEGIN used here)",
        ),
        (
            "interval:s:1 { printf(\"%s\", func); }",
            "The func builtin can not be used with 'interval' probes",
        ),
        (
            "tracepoint:irq:irq_handler_entry { @ = arg0; }",
            "The arg0 builtin can only be used with kprobe probes (tracepoint used here)",
        ),
        ("kfunc:nomatch* { }", "No probes matched: kfunc:nomatch*"),
        ("tracepoint:sched:sched_nope { }", "tracepoint not found: sched:sched_nope"),
        ("kprobe:nope { }", "kprobe:nope: function not found in the guest kernel"),
    ] {
        let e = error(src);
        assert!(e.contains(&format!("ERROR: {msg}\n")), "{src}: got\n{e}");
    }
}

#[test]
fn semantic_errors() {
    for (src, msg) in [
        ("BEGIN { $x = $y + 1; }", "Undefined or undeclared variable: $y"),
        ("BEGIN { $x = count(); }", "count() should be directly assigned to a map"),
        ("BEGIN { @ = count(1); }", "count() requires no arguments (1 provided)"),
        ("BEGIN { @ = sum(); }", "sum() requires one argument (0 provided)"),
        ("BEGIN { @ = lhist(1, 0, 10); }", "lhist() requires 4 arguments (3 provided)"),
        ("BEGIN { @ = sum(comm); }", "sum() only supports integer arguments (string provided)"),
        ("BEGIN { @ = lhist(1, -1, 10, 1); }", "lhist() min must be non-negative (provided min -1)"),
        ("BEGIN { @ = lhist(1, 0, 10, 0); }", "lhist() step must be >= 1 (0 provided)"),
        ("BEGIN { @ = lhist(1, 0, 5000, 1); }", "lhist() too many buckets, must be <= 1000 (would need 5000)"),
        ("BEGIN { @ = lhist(1, 0, pid, 1); }", "lhist: invalid max value (must be a literal)"),
        ("BEGIN { @x = hist(1); @y = @x + 1; }", "Map type hist_t cannot be used in an expression"),
        ("BEGIN { print(@nope); }", "Undefined map: @nope"),
        ("BEGIN { @x = 1; clear(@x[1]); }", "The map passed to clear() should not be indexed by a key"),
        ("BEGIN { clear(1); }", "clear() expects a map to be provided"),
        ("BEGIN { printf(comm); }", "printf() expects a string literal as the first argument"),
        ("BEGIN { printf(); }", "printf() requires at least 1 argument (0 provided)"),
        ("BEGIN { exit(1, 2); }", "exit() can take up to 1 arguments (2 provided)"),
        ("BEGIN { @x = \"a\" + 1; }", "The + operator can not be used on expressions of types string, int64"),
        ("BEGIN { @x = comm == 1; }", "Type mismatch for '==': comparing 'string' with 'int64'"),
        ("BEGIN { @x = pid ? comm : 1; }", "Ternary operator must return the same type: have 'string' and 'int64'"),
        ("kprobe:vfs_read /comm/ { }", "Invalid type for predicate: string"),
        ("BEGIN { $x = 1; $x = comm; }", "Type mismatch for $x: trying to assign value of type 'string' when variable already contains a value of type 'int64'"),
        ("BEGIN { @x = comm; @x++; }", "Type mismatch for @x: trying to assign value of type 'int64' when map already contains a value of type 'string'"),
        ("BEGIN { @x = !comm; }", "The ! operator can not be used on expressions of type 'string'"),
        ("BEGIN { @x = printf(\"\"); }", "Can not assign a value of type 'none' to a map"),
        ("BEGIN { @x = pid->foo; }", "Can not access field 'foo' on expression of type 'int64'"),
        ("BEGIN { @x = strncmp(comm, 1, 2); }", "strncmp() expects string arguments (int64 provided)"),
    ] {
        let e = error(src);
        assert!(e.contains(&format!("ERROR: {msg}\n")), "{src}: got\n{e}");
    }
}

#[test]
fn every_error_is_reported_once() {
    let e = error("kfunc:vfs_* { @x = foo; }");
    assert_eq!(e.matches("Unknown identifier").count(), 1, "{e}");
    let d = Program::parse("BEGIN { a; b; }", "script.bt").unwrap_err();
    assert_eq!(d.items().len(), 2);
    assert_eq!(d.first_position(), Some((1, 9)));
    assert!(d
        .to_string()
        .starts_with("script.bt:1:9-10: ERROR: Unknown identifier: 'a'\n"));
}
