//! Hostile input: truncations, mutations, token soup, random bytes and deep nesting must all come
//! back as `Ok` or `Err`, never a panic or a stack overflow, through parse, attach and run.

use super::*;

const CORPUS: &[&str] = &[
    "tracepoint:sched:sched_switch { @[args->next_comm] = count(); } interval:s:1 { print(@); clear(@); }",
    "kfunc:balance_pgdat { printf(\"%s:%d\\n\", curtask->comm, curtask->pid); }",
    "kprobe:vfs_* /pid > 1 && comm != \"init\"/ { @bytes[func] = hist(arg2); @l = lhist(arg2, 0, 4096, 512); }",
    "kretfunc:do_exit { @[retval] = stats(retval); @a = avg(retval); @mn = min(retval); @mx = max(retval); }",
    "BEGIN { $i = 0; unroll(5) { $i++; if ($i % 2 == 0) { @even[$i] = 1; } else { @odd += $i; } } exit(); }",
    "t:sched:sched_wakeup, t:sched:sched_process_fork { @[probe, cpu] = count(); } END { print(@, 3, 2); }",
    "kprobe:vfs_read { @s[tid] = nsecs; } kretprobe:vfs_read /@s[tid]/ { @us = hist((nsecs - @s[tid]) / 1000); delete(@s[tid]); }",
    "interval:ms:10 { time(\"%H:%M:%S \"); printf(\"%-16s %6d %x %c %p %%\\n\", \"x\", -5, 255, 65, 7); }",
    "BEGIN { @x = 1 ? \"a\" : \"b\"; @y = str(comm, 4); @z = ksym(0xffffffff81000000); @k[kstack] = count(); zero(@k); }",
    "/* c */ kfunc:vfs_read // line\n{ @[args->count >> 2 << 1 | 1 ^ 3 & ~0] = sum(-args->count); }",
    "i:hz:99 { @ = count(); if (@ > 3) { exit() } } END { printf(\"%d\\n\", @); }",
];

/// A small deterministic PRNG (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn value(&mut self) -> Value {
        match self.below(6) {
            0 => Value::Int(i64::MIN),
            1 => Value::Int(i64::MAX),
            2 => Value::Int(self.next() as i64),
            3 => Value::Int(self.below(10) as i64 - 5),
            4 => {
                let bytes: Vec<u8> = (0..self.below(100)).map(|_| self.next() as u8).collect();
                Value::Str(Str::new(&bytes))
            }
            _ => Value::Stack((0..self.below(300)).map(|_| self.next()).collect()),
        }
    }
}

/// A source of random field values.
struct RandomFields(std::cell::RefCell<Rng>);

impl FieldSource for RandomFields {
    fn field(&self, _root: FieldRoot, _path: &[String]) -> Option<Value> {
        let mut r = self.0.borrow_mut();
        (r.below(8) != 0).then(|| r.value())
    }

    fn kstack(&self) -> Option<Vec<u64>> {
        let mut r = self.0.borrow_mut();
        Some((0..r.below(200)).map(|_| r.next()).collect())
    }

    fn read_str(&self, _addr: u64, max: usize) -> Option<Vec<u8>> {
        let mut r = self.0.borrow_mut();
        Some((0..r.below(2 * max + 1)).map(|_| r.next() as u8).collect())
    }
}

/// Parses, attaches and, if that works, runs a program over random events. Returns whether it
/// ran.
fn exercise(src: &str, rng: &mut Rng) -> bool {
    let Ok(program) = Program::parse(src, "stdin") else {
        return false;
    };
    let Ok(attached) = program.attach(&catalog()) else {
        return false;
    };
    let n = attached.probes().len() as u32;
    let mut e = Engine::new(attached, Vec::new())
        .with_symbolizer(Box::new(Syms))
        .with_wall_clock(Box::new(fixed_clock));
    e.set_max_map_keys(64);
    e.begin(rng.next()).expect("begin");
    let fields = RandomFields(std::cell::RefCell::new(Rng(rng.next() | 1)));
    for _ in 0..20 {
        let comm: Vec<u8> = (0..rng.below(40)).map(|_| rng.next() as u8).collect();
        let ev = Event {
            probe: ProbeId(rng.below(n as usize + 1) as u32),
            cpu: rng.next() as u32,
            pid: rng.next() as u32,
            tid: rng.next() as u32,
            uid: rng.next() as u32,
            comm: &comm,
            timestamp_ns: rng.next(),
            fields: &fields,
        };
        match e.on_event(&ev) {
            Ok(()) | Err(EngineError::UnknownProbe(_)) => {}
            Err(other) => panic!("{other}"),
        }
        e.tick(rng.next()).expect("tick");
    }
    e.end(rng.next()).expect("end");
    true
}

#[test]
fn corpus_is_valid() {
    let mut rng = Rng(7);
    for src in CORPUS {
        let program = Program::parse(src, "stdin").unwrap_or_else(|e| panic!("{src}\n{e}"));
        program
            .attach(&catalog())
            .unwrap_or_else(|e| panic!("{src}\n{e}"));
        assert!(exercise(src, &mut rng));
    }
}

#[test]
fn truncations_and_mutations_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut ran = 0;
    for src in CORPUS {
        for cut in (0..=src.len()).filter(|&c| src.is_char_boundary(c)) {
            exercise(&src[..cut], &mut rng);
            exercise(&src[cut..], &mut rng);
        }
        for _ in 0..300 {
            let mut bytes = src.as_bytes().to_vec();
            const ALPHABET: &[u8] = b"{}()[]/\"\\@$*?:;,.-+<>=!~%&|^0x9 \nabc";
            for _ in 0..1 + rng.below(3) {
                if bytes.is_empty() {
                    break;
                }
                let at = rng.below(bytes.len());
                let b = ALPHABET[rng.below(ALPHABET.len())];
                match rng.below(3) {
                    0 => bytes[at] = b,
                    1 => bytes.insert(at, b),
                    _ => {
                        bytes.remove(at);
                    }
                }
            }
            ran += usize::from(exercise(&String::from_utf8_lossy(&bytes), &mut rng));
        }
    }
    assert!(ran > 100, "only {ran} mutants ran");
}

#[test]
fn token_soup_never_panics() {
    const WORDS: &[&str] = &[
        "BEGIN",
        "END",
        "kprobe:vfs_read",
        "kfunc:vfs_*",
        "tracepoint:sched:sched_switch",
        "interval:s:1",
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        "/",
        ";",
        ",",
        "?",
        ":",
        "=",
        "+=",
        "++",
        "--",
        "+",
        "-",
        "*",
        "%",
        "<<",
        ">>",
        "==",
        "!=",
        "<",
        ">=",
        "&&",
        "||",
        "!",
        "~",
        "&",
        "|",
        "^",
        "@",
        "@x",
        "@y[1]",
        "$a",
        "$b",
        "0",
        "1",
        "0xffffffffffffffff",
        "-1",
        "\"s\"",
        "\"%d %s\\n\"",
        "pid",
        "comm",
        "nsecs",
        "args->next_comm",
        "args->count",
        "curtask->comm",
        "retval",
        "arg0",
        "kstack",
        "func",
        "probe",
        "count()",
        "sum(pid)",
        "hist(pid)",
        "lhist(pid, 0, 100, 10)",
        "stats(1)",
        "avg(2)",
        "min(3)",
        "max(4)",
        "printf(",
        "print(",
        "clear(",
        "delete(",
        "zero(",
        "exit()",
        "str(",
        "ksym(",
        "time(",
        "strncmp(",
        "if",
        "else",
        "unroll(2)",
        "foo",
    ];
    let mut rng = Rng(42);
    let mut ran = 0;
    for _ in 0..4000 {
        let n = 1 + rng.below(8);
        let words: Vec<&str> = (0..n).map(|_| WORDS[rng.below(WORDS.len())]).collect();
        exercise(&words.join(" "), &mut rng);
        // Also inside a known-good frame, so more of them reach the checker and the engine.
        ran += usize::from(exercise(
            &format!("BEGIN {{ {} }}", words.join(" ")),
            &mut rng,
        ));
        ran += usize::from(exercise(
            &format!("kprobe:vfs_read {{ @[pid] = {}; }}", words.join(" ")),
            &mut rng,
        ));
    }
    assert!(ran > 100, "only {ran} programs ran");
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(1234);
    for _ in 0..3000 {
        let len = rng.below(120);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        exercise(&String::from_utf8_lossy(&bytes), &mut rng);
        let ascii: String = bytes.iter().map(|b| (b % 95 + 32) as char).collect();
        exercise(&ascii, &mut rng);
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let n = 100_000;
    for src in [
        format!("BEGIN {{ @x = {}1{}; }}", "(".repeat(n), ")".repeat(n)),
        format!("BEGIN {{ @x = {}1; }}", "!".repeat(n)),
        format!("BEGIN {{ @x = {}1; }}", "-".repeat(n)),
        format!("BEGIN {{ @x = 1{}; }}", " + 1".repeat(n)),
        format!("BEGIN {{ @x = {}1; }}", "1 ? 2 : ".repeat(n)),
        format!("BEGIN {{ {} }}", "if (1) {".repeat(n)),
        format!("BEGIN {{ if (1) {{ }} {} }}", "else if (1) { } ".repeat(n)),
        format!("BEGIN {{ @x = {}1{}; }}", "f(".repeat(n), ")".repeat(n)),
        format!("BEGIN {{ @x{} = 1; }}", "[@x".repeat(n)),
        format!("BEGIN {{ {} }}", "unroll(10) {".repeat(10)),
    ] {
        let e = Program::parse(&src, "stdin").expect_err("must be rejected");
        let msg = &e.items()[0].message;
        assert!(
            msg.contains("nested too deeply")
                || msg.contains("unroll")
                || msg.contains("syntax error"),
            "{msg}"
        );
    }
    // Nesting just inside the limits parses, checks and runs (on a test thread's stack, in a
    // debug build).
    let mut rng = Rng(5);
    for ok in [
        format!(
            "BEGIN {{ @x = {}1{}; exit(); }}",
            "(".repeat(40),
            ")".repeat(40)
        ),
        format!("BEGIN {{ @x = 1{}; exit(); }}", " + pid".repeat(90)),
        format!("BEGIN {{ @x = {}1; exit(); }}", "-~!".repeat(14)),
        format!(
            "BEGIN {{ {} @x = 1; {} }}",
            "if (1) {".repeat(45),
            "}".repeat(45)
        ),
    ] {
        assert!(exercise(&ok, &mut rng), "{ok}");
    }
}
