//! Host unit tests of the trace front end: a fake guest (catalog, fields, symbols) and one file per
//! concern.

mod compile;
mod engine;
mod errors;
mod fuzz;
mod output;
mod syntax;

use super::*;

/// Fields of a synthetic event.
#[derive(Default, Clone)]
pub(super) struct Fields {
    pub args: Vec<(&'static str, Value)>,
    pub task: Vec<(&'static str, Value)>,
    pub retval: Option<i64>,
    pub regs: Vec<i64>,
    pub stack: Option<Vec<u64>>,
}

impl Fields {
    pub fn args(args: &[(&'static str, Value)]) -> Fields {
        Fields {
            args: args.to_vec(),
            ..Fields::default()
        }
    }
}

pub(super) fn s(text: &str) -> Value {
    Value::Str(Str::new(text.as_bytes()))
}

pub(super) fn i(v: i64) -> Value {
    Value::Int(v)
}

impl FieldSource for Fields {
    fn field(&self, root: FieldRoot, path: &[String]) -> Option<Value> {
        let find = |list: &[(&str, Value)]| {
            let name = path.join(".");
            list.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        };
        match root {
            FieldRoot::Args => find(&self.args),
            FieldRoot::Curtask if path.is_empty() => Some(Value::Int(0x7fff_8880_0000_1000)),
            FieldRoot::Curtask => find(&self.task),
            FieldRoot::Retval => self.retval.map(Value::Int),
            FieldRoot::Arg(n) => self.regs.get(usize::from(n)).copied().map(Value::Int),
        }
    }

    fn kstack(&self) -> Option<Vec<u64>> {
        self.stack.clone()
    }

    fn read_str(&self, addr: u64, _max: usize) -> Option<Vec<u8>> {
        (addr == 0x1000).then(|| b"/etc/passwd".to_vec())
    }
}

/// Kernel text at 0xffffffff81000000: `schedule` (0x100 bytes), then `do_idle`.
pub(super) struct Syms;

impl Symbolizer for Syms {
    fn ksym(&self, addr: u64) -> Option<(String, u64)> {
        let base = 0xffff_ffff_8100_0000u64;
        match addr.checked_sub(base)? {
            off @ 0..=0xff => Some(("schedule".into(), off)),
            off @ 0x100..=0x1ff => Some(("do_idle".into(), off - 0x100)),
            _ => None,
        }
    }
}

fn f(name: &str, ty: FieldType) -> FieldInfo {
    FieldInfo::new(name, ty)
}

fn tp(category: &str, event: &str, fields: &[(&str, FieldType)]) -> TracepointInfo {
    TracepointInfo {
        category: category.into(),
        event: event.into(),
        fields: fields.iter().map(|(n, t)| f(n, *t)).collect(),
    }
}

fn func(name: &str, args: Option<&[(&str, FieldType)]>) -> FunctionInfo {
    FunctionInfo {
        name: name.into(),
        args: args.map(|a| a.iter().map(|(n, t)| f(n, *t)).collect()),
        retval: FieldType::Int,
    }
}

/// What our guest kernel offers, shaped like Linux's.
pub(super) fn catalog() -> ProbeCatalog {
    use FieldType::*;
    ProbeCatalog {
        tracepoints: vec![
            tp(
                "sched",
                "sched_switch",
                &[
                    ("prev_comm", Str),
                    ("prev_pid", Int),
                    ("prev_prio", Int),
                    ("prev_state", Int),
                    ("next_comm", Str),
                    ("next_pid", Int),
                    ("next_prio", Int),
                ],
            ),
            tp(
                "sched",
                "sched_wakeup",
                &[
                    ("comm", Str),
                    ("pid", Int),
                    ("prio", Int),
                    ("target_cpu", Int),
                ],
            ),
            tp(
                "sched",
                "sched_process_fork",
                &[
                    ("parent_comm", Str),
                    ("parent_pid", Int),
                    ("child_comm", Str),
                    ("child_pid", Int),
                ],
            ),
            tp("irq", "irq_handler_entry", &[("irq", Int), ("name", Str)]),
            tp(
                "raw_syscalls",
                "sys_enter",
                &[("id", Int), ("args", Unknown)],
            ),
            tp("raw_syscalls", "sys_exit", &[("id", Int), ("ret", Int)]),
        ],
        functions: vec![
            func(
                "vfs_read",
                Some(&[
                    ("file", Pointer),
                    ("buf", Pointer),
                    ("count", Int),
                    ("pos", Pointer),
                ]),
            ),
            func(
                "vfs_write",
                Some(&[
                    ("file", Pointer),
                    ("buf", Pointer),
                    ("count", Int),
                    ("pos", Pointer),
                ]),
            ),
            func("vfs_open", None),
            func("schedule", Some(&[])),
            func(
                "balance_pgdat",
                Some(&[("pgdat", Pointer), ("order", Int), ("highest_zoneidx", Int)]),
            ),
            func("do_exit", Some(&[("code", Int)])),
        ],
        task_fields: vec![
            f("comm", Str),
            f("pid", Int),
            f("tgid", Int),
            f("prio", Int),
            f("mm", Pointer),
            f("parent", Pointer),
        ],
    }
}

pub(super) fn attach(src: &str) -> AttachedProgram {
    let program = Program::parse(src, "stdin").unwrap_or_else(|e| panic!("parse:\n{e}"));
    program
        .attach(&catalog())
        .unwrap_or_else(|e| panic!("attach:\n{e}"))
}

/// The rendered error of a program that must fail to parse or attach.
pub(super) fn error(src: &str) -> String {
    match Program::parse(src, "stdin") {
        Err(e) => e.to_string(),
        Ok(p) => match p.attach(&catalog()) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("program was accepted: {src}"),
        },
    }
}

/// 2023-11-14 22:13:20.123456 UTC.
pub(super) fn fixed_clock() -> WallTime {
    WallTime {
        unix_secs: 1_700_000_000,
        nanos: 123_456_789,
        utc_offset_secs: 0,
    }
}

pub(super) fn engine(src: &str) -> Engine<Vec<u8>> {
    Engine::new(attach(src), Vec::new())
        .with_symbolizer(Box::new(Syms))
        .with_wall_clock(Box::new(fixed_clock))
}

pub(super) fn probe_id(e: &Engine<Vec<u8>>, name: &str) -> ProbeId {
    e.program
        .probes()
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no probe {name}"))
        .id
}

/// Feeds one event for probe `name`.
pub(super) fn fire(
    e: &mut Engine<Vec<u8>>,
    name: &str,
    pid: u32,
    comm: &str,
    ts: u64,
    fields: &Fields,
) {
    let probe = probe_id(e, name);
    e.on_event(&Event {
        probe,
        cpu: 1,
        pid,
        tid: pid,
        uid: 0,
        comm: comm.as_bytes(),
        timestamp_ns: ts,
        fields,
    })
    .expect("event");
}

/// Takes what the engine has written so far.
pub(super) fn take(e: &mut Engine<Vec<u8>>) -> String {
    String::from_utf8(std::mem::take(e.sink())).expect("utf-8 output")
}

/// Runs BEGIN, the given events for `probe`, and END; returns everything written.
pub(super) fn run(src: &str, probe: &str, events: &[Fields]) -> String {
    let mut e = engine(src);
    e.begin(0).expect("begin");
    for (n, fields) in events.iter().enumerate() {
        if e.exited() {
            break;
        }
        fire(
            &mut e,
            probe,
            100 + n as u32,
            "bash",
            1_000 + n as u64,
            fields,
        );
    }
    e.end(1_000_000).expect("end");
    take(&mut e)
}
