//! What the guest offers to trace, for the front end: its tracepoints (from `abi::trace`, the
//! table both sides are built with), its patchable functions (from the kernel ELF) and the
//! fields of `curtask` the records carry.

use abi::trace::{EventDesc, FieldKind, EVENTS, FTRACE_SYSTEM};

use super::ftrace::KernelText;
use crate::trace::{FieldInfo, FieldType, FunctionInfo, ProbeCatalog, ProbeKind, TracepointInfo};

fn field_type(kind: FieldKind) -> FieldType {
    match kind {
        FieldKind::Int | FieldKind::Uint | FieldKind::Ptr => FieldType::Int,
        FieldKind::Chars | FieldKind::DataLoc => FieldType::Str,
    }
}

/// The catalog of the guest's tracepoints, and of its functions when the kernel ELF's patch
/// sites are known.
pub fn probe_catalog(text: Option<&KernelText>) -> ProbeCatalog {
    ProbeCatalog {
        tracepoints: EVENTS
            .iter()
            // The function tracer's records are not tracepoints of their own.
            .filter(|e| e.system != FTRACE_SYSTEM)
            .map(|e| TracepointInfo {
                category: e.system.to_string(),
                event: e.name.to_string(),
                fields: e
                    .fields
                    .iter()
                    .map(|f| FieldInfo::new(f.name, field_type(f.kind)))
                    .collect(),
            })
            .collect(),
        functions: text.map_or_else(Vec::new, |t| {
            t.function_names()
                .into_iter()
                .map(|name| FunctionInfo {
                    name: name.to_string(),
                    // Named by DWARF (the first function of that name; each record is read
                    // with its own function's). Without DWARF only `arg0`..`arg5` work.
                    args: Some(
                        t.sites_named(name)
                            .find_map(|s| t.debug().arg_fields(s.addr))
                            .unwrap_or_default(),
                    ),
                    retval: FieldType::Int,
                })
                .collect()
        }),
        task_fields: task_fields(text),
    }
}

/// The fields of `curtask`: every field of the kernel's `Task` when DWARF has it (read from
/// guest memory), with `comm`, `pid`, `tgid` and `real_parent` (its `pid`/`tgid`) always there
/// (the records carry them).
fn task_fields(text: Option<&KernelText>) -> Vec<FieldInfo> {
    let mut fields = vec![
        FieldInfo::new("comm", FieldType::Str),
        FieldInfo::new("pid", FieldType::Int),
        FieldInfo::new("tgid", FieldType::Int),
        FieldInfo::new("real_parent", FieldType::Pointer),
    ];
    if let Some(debug) = text.map(|t| t.debug()) {
        if let Some(task) = debug.struct_named(abi::trace::TASK_TYPE_NAME) {
            for f in debug.struct_fields(task) {
                if !fields.iter().any(|have| have.name == f.name) {
                    fields.push(f);
                }
            }
        }
    }
    fields
}

/// The guest event behind a tracepoint probe.
pub fn event_of(kind: &ProbeKind) -> Option<&'static EventDesc> {
    match kind {
        ProbeKind::Tracepoint { category, event } => EVENTS
            .iter()
            .find(|e| e.system == category && e.name == event),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_is_a_tracepoint() {
        let c = probe_catalog(None);
        let ftrace = EVENTS.iter().filter(|e| e.system == FTRACE_SYSTEM).count();
        assert_eq!(ftrace, 3);
        assert_eq!(c.tracepoints.len(), EVENTS.len() - ftrace);
        let sw = c
            .tracepoints
            .iter()
            .find(|t| t.event == "sched_switch")
            .unwrap();
        assert_eq!(sw.category, "sched");
        assert!(sw
            .fields
            .contains(&FieldInfo::new("next_comm", FieldType::Str)));
        let kind = ProbeKind::Tracepoint {
            category: "irq".into(),
            event: "softirq_entry".into(),
        };
        assert_eq!(
            event_of(&kind).unwrap().id,
            <abi::trace::SoftirqEntry as abi::trace::Event>::ID
        );
    }
}
