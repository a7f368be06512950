//! Lexer, parser, probe specs and wildcard expansion.

use super::super::ast::*;
use super::super::lexer::{tokenize, Tok, P};
use super::super::probe::glob_match;
use super::*;

fn toks(src: &str) -> Vec<Tok> {
    tokenize(src)
        .unwrap_or_else(|e| panic!("{e:?}"))
        .into_iter()
        .map(|t| t.tok)
        .collect()
}

#[test]
fn lexes_every_token_kind() {
    use Tok::*;
    assert_eq!(
        toks(r#"foo $x @ @map 42 0x1F 0o 017 1_000 "a\n\t\"\\\x41\101" -> ++ <<= >= != && || ; // c"#
            .replace("0o ", "")
            .as_str()),
        vec![
            Ident("foo".into()),
            Var("x".into()),
            Map("@".into()),
            Map("@map".into()),
            Int(42),
            Int(31),
            Int(15),
            Int(1000),
            Str(b"a\n\t\"\\AA".to_vec()),
            Punct(P::Arrow),
            Punct(P::Incr),
            Punct(P::ShlAssign),
            Punct(P::Ge),
            Punct(P::Ne),
            Punct(P::AndAnd),
            Punct(P::OrOr),
            Punct(P::Semi),
            Eof,
        ]
    );
    assert_eq!(
        toks("a/* multi\nline */b /c"),
        vec![
            Ident("a".into()),
            Ident("b".into()),
            Punct(P::Slash),
            Ident("c".into()),
            Eof
        ]
    );
    assert_eq!(toks("0xffffffffffffffff"), vec![Int(u64::MAX), Eof]);
}

#[test]
fn lexer_spans_and_errors() {
    let t = tokenize("  foo  \"ab\"").unwrap();
    assert_eq!(t[0].span, Span::new(2, 5));
    assert_eq!(t[1].span, Span::new(7, 11));
    assert_eq!(
        tokenize("\"abc").unwrap_err().message,
        "unterminated string"
    );
    assert_eq!(
        tokenize("a # b").unwrap_err().message,
        "invalid character '#'"
    );
    assert_eq!(
        tokenize("/* x").unwrap_err().message,
        "unterminated comment"
    );
    assert_eq!(
        tokenize("99999999999999999999").unwrap_err().message,
        "invalid integer literal: 99999999999999999999"
    );
    assert_eq!(
        tokenize(r#""\q""#).unwrap_err().message,
        "invalid escape character '\\q'"
    );
}

/// Fully parenthesized rendering of an expression.
fn show(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Int(v) => v.to_string(),
        ExprKind::Str(s) => format!("{:?}", String::from_utf8_lossy(s)),
        ExprKind::Builtin(b) => format!("{b:?}").to_lowercase(),
        ExprKind::Ident(n) => n.clone(),
        ExprKind::Var(n) => format!("${n}"),
        ExprKind::Map(m) => {
            let keys: Vec<String> = m.keys.iter().map(show).collect();
            if keys.is_empty() {
                m.name.clone()
            } else {
                format!("{}[{}]", m.name, keys.join(", "))
            }
        }
        ExprKind::Field { base, path } => format!("{}->{}", show(base), path.join("->")),
        ExprKind::Raw(f) => format!("{f:?}"),
        ExprKind::Unary { op, expr } => {
            let o = match op {
                UnOp::Not => "!",
                UnOp::BitNot => "~",
                UnOp::Neg => "-",
            };
            format!("({o}{})", show(expr))
        }
        ExprKind::Binary { op, lhs, rhs } => {
            format!("({} {} {})", show(lhs), op.text(), show(rhs))
        }
        ExprKind::Ternary { cond, then, els } => {
            format!("({} ? {} : {})", show(cond), show(then), show(els))
        }
        ExprKind::Call(c) => {
            let args: Vec<String> = c.args.iter().map(show).collect();
            format!("{}({})", c.name, args.join(", "))
        }
        ExprKind::IncDec {
            target,
            incr,
            prefix,
        } => {
            let t = match &**target {
                LValue::Var { name, .. } => format!("${name}"),
                LValue::Map(m) => m.name.clone(),
            };
            let o = if *incr { "++" } else { "--" };
            if *prefix {
                format!("({o}{t})")
            } else {
                format!("({t}{o})")
            }
        }
    }
}

fn expr(src: &str) -> String {
    let program = super::super::parser::parse(&format!("BEGIN {{ {src} }}"))
        .unwrap_or_else(|e| panic!("{src}: {e:?}"));
    match &program.probes[0].body[0].kind {
        StmtKind::Expr(e) => show(e),
        other => panic!("not an expression: {other:?}"),
    }
}

#[test]
fn precedence_and_associativity() {
    for (src, want) in [
        ("1 + 2 * 3", "(1 + (2 * 3))"),
        ("1 * 2 + 3", "((1 * 2) + 3)"),
        ("1 - 2 - 3", "((1 - 2) - 3)"),
        ("8 / 4 / 2", "((8 / 4) / 2)"),
        ("1 << 2 + 3", "(1 << (2 + 3))"),
        ("1 < 2 == 3 > 4", "((1 < 2) == (3 > 4))"),
        ("a & b == c", "(a & (b == c))"),
        ("a | b ^ c & d", "(a | (b ^ (c & d)))"),
        ("a || b && c", "(a || (b && c))"),
        ("!a && ~b", "((!a) && (~b))"),
        ("-1 * -2", "((-1) * (-2))"),
        ("(1 + 2) * 3", "((1 + 2) * 3)"),
        ("a ? b : c ? d : e", "(a ? b : (c ? d : e))"),
        ("a || b ? 1 + 2 : 3", "((a || b) ? (1 + 2) : 3)"),
        ("pid % 2 >= 1", "((pid % 2) >= 1)"),
        ("args->next_comm", "args->next_comm"),
        ("args.prev.pid + 1", "(args->prev->pid + 1)"),
        ("curtask->mm->pgd", "curtask->mm->pgd"),
        ("@x[1, \"a\"] + @", "(@x[1, \"a\"] + @)"),
        ("$a++ + ++$b", "(($a++) + (++$b))"),
        ("@c--", "(@c--)"),
        ("f(1, g(2) * 3)", "f(1, (g(2) * 3))"),
        ("arg0 + retval", "(arg(0) + retval)"),
    ] {
        assert_eq!(expr(src), want, "{src}");
    }
}

#[test]
fn predicate_slash_is_not_a_division() {
    let p = super::super::parser::parse("kprobe:f /pid / 2 == 1/ { exit() }").unwrap();
    assert_eq!(
        show(p.probes[0].predicate.as_ref().unwrap()),
        "((pid / 2) == 1)"
    );
    let p = super::super::parser::parse("kprobe:f /(a / b)/{ }").unwrap();
    assert_eq!(show(p.probes[0].predicate.as_ref().unwrap()), "(a / b)");
}

fn stmts(src: &str) -> Vec<StmtKind> {
    let p = super::super::parser::parse(src).unwrap_or_else(|e| panic!("{src}: {e:?}"));
    p.probes
        .into_iter()
        .flat_map(|p| p.body)
        .map(|s| s.kind)
        .collect()
}

#[test]
fn every_statement_kind_parses() {
    let src = r#"BEGIN {
        $x = 1; @a = $x; @b[1, "k"] = 2; @c[comm] = count(); @d = hist(3);
        @e = lhist(1, 0, 100, 10); $x += 2; @a <<= 1; @a++; --$x;
        delete(@b[1, "k"]); clear(@c); print(@d); printf("%d\n", $x);
        if ($x > 1) { exit(); } else if ($x) { print(1); } else { $x = 0 }
        unroll(3) { @a++ }
        ;;
    }"#;
    let kinds = stmts(src);
    let names: Vec<&str> = kinds
        .iter()
        .map(|k| match k {
            StmtKind::Expr(_) => "expr",
            StmtKind::Assign { .. } => "assign",
            StmtKind::Compound { .. } => "compound",
            StmtKind::If { .. } => "if",
            StmtKind::Unroll { .. } => "unroll",
        })
        .collect();
    assert_eq!(
        names,
        [
            "assign", "assign", "assign", "assign", "assign", "assign", "compound", "compound",
            "expr", "expr", "expr", "expr", "expr", "expr", "if", "unroll"
        ]
    );
    let StmtKind::If { els: Some(els), .. } = &kinds[14] else {
        panic!("no else");
    };
    assert!(matches!(els[0].kind, StmtKind::If { els: Some(_), .. }));
    let StmtKind::Compound { op, .. } = &kinds[7] else {
        panic!()
    };
    assert_eq!(*op, BinOp::Shl);
}

#[test]
fn probes_attach_points_and_comments() {
    let p = super::super::parser::parse(
        "// count\nkprobe:vfs_read,\n  kretprobe:vfs_read /* both */ { @[probe] = count(); }\ni:ms:10{}END{}",
    )
    .unwrap();
    assert_eq!(p.probes.len(), 3);
    let raws: Vec<&str> = p.probes[0]
        .attach_points
        .iter()
        .map(|a| a.raw.as_str())
        .collect();
    assert_eq!(raws, ["kprobe:vfs_read", "kretprobe:vfs_read"]);
    assert_eq!(
        p.probes[1].attach_points[0].spec,
        ProbeSpec::Interval {
            period_ns: 10_000_000,
            name: "interval:ms:10".into()
        }
    );
    assert_eq!(p.probes[2].attach_points[0].spec, ProbeSpec::End);
}

#[test]
fn probe_specs() {
    use FunctionProbe::*;
    let func = |kind, provider, name: &str| ProbeSpec::Function {
        kind,
        provider,
        name: name.into(),
    };
    for (raw, want) in [
        ("BEGIN", ProbeSpec::Begin),
        ("END", ProbeSpec::End),
        (
            "tracepoint:sched:sched_switch",
            ProbeSpec::Tracepoint {
                category: "sched".into(),
                event: "sched_switch".into(),
            },
        ),
        (
            "t:irq:*",
            ProbeSpec::Tracepoint {
                category: "irq".into(),
                event: "*".into(),
            },
        ),
        ("kfunc:vfs_read", func(Kfunc, "kfunc", "vfs_read")),
        ("fentry:vmlinux:vfs_read", func(Kfunc, "fentry", "vfs_read")),
        ("kretfunc:do_exit", func(Kretfunc, "kretfunc", "do_exit")),
        ("fexit:do_exit", func(Kretfunc, "fexit", "do_exit")),
        ("kprobe:vfs_*", func(Kprobe, "kprobe", "vfs_*")),
        ("kr:vfs_rea?", func(Kretprobe, "kretprobe", "vfs_rea?")),
    ] {
        assert_eq!(ProbeSpec::parse(raw).unwrap(), want, "{raw}");
    }
    let period = |raw: &str| match ProbeSpec::parse(raw).unwrap() {
        ProbeSpec::Interval { period_ns, .. } => period_ns,
        other => panic!("{other:?}"),
    };
    assert_eq!(period("interval:s:1"), 1_000_000_000);
    assert_eq!(period("interval:ms:250"), 250_000_000);
    assert_eq!(period("interval:us:5"), 5_000);
    assert_eq!(period("interval:hz:100"), 10_000_000);
    assert_eq!(period("interval:2s"), 2_000_000_000);
    for (raw, msg) in [
        ("uprobe:/bin/sh:main", "Unrecognized probe type: uprobe"),
        (
            "tracepoint:sched",
            "tracepoint probe type requires 2 arguments",
        ),
        ("kprobe", "kprobe probe type requires 1 argument"),
        ("kprobe:f+0x10", "Offset not allowed"),
        ("BEGIN:x", "BEGIN probe type requires 0 arguments"),
        ("interval:h:1", "h is not an accepted unit of time"),
        (
            "interval:s:0",
            "interval frequency should be a positive integer",
        ),
        ("interval:s:x", "Failed to parse 'x'"),
        ("interval:s", "interval probe type requires 2 arguments"),
    ] {
        assert_eq!(ProbeSpec::parse(raw).unwrap_err(), msg, "{raw}");
    }
}

#[test]
fn wildcard_matching() {
    for (pat, text) in [
        ("*", ""),
        ("*", "anything"),
        ("vfs_*", "vfs_read"),
        ("vfs_*", "vfs_"),
        ("*read*", "do_sys_read_x"),
        ("a*b*c", "aXbYbZc"),
        ("sched_?akeup", "sched_wakeup"),
        ("??", "ab"),
        ("exact", "exact"),
    ] {
        assert!(glob_match(pat, text), "{pat} should match {text}");
    }
    for (pat, text) in [
        ("vfs_*", "do_vfs_read"),
        ("a?c", "ac"),
        ("abc", "abcd"),
        ("*x", "abc"),
        ("??", "a"),
    ] {
        assert!(!glob_match(pat, text), "{pat} should not match {text}");
    }
    // Pathological patterns stay fast (one backtrack point).
    let text = "a".repeat(10_000);
    assert!(!glob_match("*a*a*a*a*a*a*a*b", &text));
}

#[test]
fn wildcards_expand_against_the_catalog() {
    let names = |src: &str| -> Vec<String> {
        attach(src)
            .probes()
            .iter()
            .map(|p| p.name.clone())
            .collect()
    };
    assert_eq!(
        names("kfunc:vfs_* { @[func] = count(); }"),
        ["kfunc:vfs_read", "kfunc:vfs_write", "kfunc:vfs_open"]
    );
    assert_eq!(
        names("tracepoint:sched:sched_*wa* , t:raw_syscalls:sys_e?it {}"),
        [
            "tracepoint:sched:sched_wakeup",
            "tracepoint:raw_syscalls:sys_exit"
        ]
    );
    // The same function named twice in one probe is attached once.
    assert_eq!(
        names("kprobe:vfs_read, kprobe:vfs_rea? {}"),
        ["kprobe:vfs_read"]
    );
    let attached = attach("BEGIN {} interval:s:1 {} kretfunc:do_exit {} END {}");
    let kinds: Vec<&ProbeKind> = attached.probes().iter().map(|p| &p.kind).collect();
    assert_eq!(
        kinds,
        [
            &ProbeKind::Begin,
            &ProbeKind::Interval {
                period_ns: 1_000_000_000
            },
            &ProbeKind::Function {
                kind: FunctionProbe::Kretfunc,
                function: "do_exit".into()
            },
            &ProbeKind::End
        ]
    );
    assert_eq!(attached.attaching_message(), "Attaching 4 probes...");
    let ids: Vec<u32> = attached.probes().iter().map(|p| p.id.0).collect();
    assert_eq!(ids, [0, 1, 2, 3]);
}
