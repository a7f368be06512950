//! Probes specialized for their events' layout (`Engine::resolve_fields`): the fields a
//! resolver places are read from the event's raw record, predicates included.

use super::*;

/// Places `next_comm` at bytes 8..24 and `next_pid` at 0..4 (signed), `curtask->pid` as `tid`.
struct Layout;

impl FieldResolver for Layout {
    fn resolve(
        &self,
        _probe: &AttachedProbe,
        root: FieldRoot,
        path: &[String],
    ) -> Option<Resolved> {
        let raw = |offset, size, kind| Some(Resolved::Raw(RawField { offset, size, kind }));
        match (root, path.first().map(String::as_str)) {
            (FieldRoot::Args, Some("next_pid")) => raw(0, 4, RawKind::Signed),
            (FieldRoot::Args, Some("next_comm")) => raw(8, 16, RawKind::Chars),
            (FieldRoot::Curtask, Some("pid")) => Some(Resolved::Builtin(ast::Builtin::Tid)),
            _ => None,
        }
    }
}

/// An event whose fields exist only as record bytes: by name it has none.
struct RawOnly(Vec<u8>);

impl FieldSource for RawOnly {
    fn field(&self, _root: FieldRoot, _path: &[String]) -> Option<Value> {
        None
    }

    fn raw(&self) -> &[u8] {
        &self.0
    }
}

fn switch_to(pid: i32, comm: &str) -> RawOnly {
    let mut b = vec![0u8; 24];
    b[..4].copy_from_slice(&pid.to_le_bytes());
    b[8..8 + comm.len()].copy_from_slice(comm.as_bytes());
    RawOnly(b)
}

fn run_raw(resolve: bool) -> String {
    let src = "tracepoint:sched:sched_switch /args->next_pid < 0 || args->next_pid > 5/ \
               { @[args->next_comm, curtask->pid] = count(); @n = sum(args->next_pid); }";
    let mut e = engine(src);
    if resolve {
        e.resolve_fields(&Layout);
    }
    e.begin(0).unwrap();
    let probe = probe_id(&e, "tracepoint:sched:sched_switch");
    for (pid, comm) in [(7, "kworker"), (3, "sh"), (-2, "kworker"), (9, "bash")] {
        let fields = switch_to(pid, comm);
        e.on_event(&Event {
            probe,
            cpu: 0,
            pid: 40,
            tid: 41,
            uid: 0,
            comm: b"x",
            timestamp_ns: 1,
            fields: &fields,
        })
        .unwrap();
    }
    e.end(2).unwrap();
    take(&mut e)
}

#[test]
fn resolved_fields_and_predicates_read_the_raw_record() {
    assert_eq!(
        run_raw(true),
        "\n\n@[bash, 41]: 1\n@[kworker, 41]: 2\n\n@n: 14\n\n"
    );
    // Unresolved, the same program asks the event by name and finds nothing.
    assert_eq!(run_raw(false), "\n\n");
}

#[test]
fn raw_fields_never_read_outside_the_record() {
    let f = |offset, size, kind| RawField { offset, size, kind };
    let rec = [0xfe, 0xff, b'a', b'b', 0, 0, 0, 0, 20, 0, 2, 0];
    assert_eq!(f(0, 2, RawKind::Signed).read(&rec), Some(Value::Int(-2)));
    assert_eq!(
        f(0, 2, RawKind::Unsigned).read(&rec),
        Some(Value::Int(0xfffe))
    );
    assert_eq!(f(2, 4, RawKind::Chars).read(&rec), Some(s("ab")));
    // `__data_loc`: offset 2, length 2 (the u32 at byte 8 is `2 << 16 | 2`, little-endian).
    let rec2 = [0, 0, b'h', b'i', 0, 0, 0, 0, 2, 0, 2, 0];
    assert_eq!(f(8, 4, RawKind::DataLoc).read(&rec2), Some(s("hi")));
    assert_eq!(
        f(8, 4, RawKind::DataLoc).read(&rec),
        None,
        "points past the end"
    );
    assert_eq!(
        f(10, 4, RawKind::Unsigned).read(&rec),
        None,
        "field past the end"
    );
    assert_eq!(f(usize::MAX, 4, RawKind::Signed).read(&rec), None);
    assert_eq!(f(0, 0, RawKind::Signed).read(&rec), Some(Value::Int(0)));
}
