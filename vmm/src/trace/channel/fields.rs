//! What a probe reads from one record: the record's own fields (`decode`), and for function
//! records the arguments by their DWARF names, followed into guest memory
//! (`args->args->flags`), plus `str(ptr)` on kernel addresses.

use std::cell::RefCell;

use abi::trace::fetch::{Fetch, MAX_FETCHES, MAX_SITE_FETCHES};
use abi::trace::{Event as _, FtraceFuncgraphExit, FtraceFunction};

use super::catalog::event_of;
use super::decode::{event, raw_field, Record, ARG_FIELDS};
use super::dwarf::{KernelDebug, KernelMemory, Param, Place};
use super::fetch::{self, Root};
use crate::trace::ast::Builtin;
use crate::trace::{
    AttachedProbe, FieldResolver, FieldRoot, FieldSource, ProbeId, ProbeKind, Resolved, Value,
};

/// Where the fields of this transport's records are, for [`Engine::resolve_fields`]
/// (crate::trace::Engine::resolve_fields): a tracepoint's `args->x`, a function probe's
/// `arg0`..`arg5` and `retval` at their places in the record, `curtask->pid`/`tgid` as the
/// event's `tid`/`pid` (both from its TaskInfo). Function arguments by their DWARF names, and
/// anything behind a pointer, are read per event.
pub struct RecordLayouts;

impl FieldResolver for RecordLayouts {
    fn resolve(&self, probe: &AttachedProbe, root: FieldRoot, path: &[String]) -> Option<Resolved> {
        let (desc, tracepoint) = match &probe.kind {
            ProbeKind::Tracepoint { .. } => (event_of(&probe.kind)?, true),
            ProbeKind::Function { kind, .. } if kind.is_return() => {
                (event(FtraceFuncgraphExit::ID)?, false)
            }
            ProbeKind::Function { .. } => (event(FtraceFunction::ID)?, false),
            _ => return None,
        };
        let field = |name: &str| {
            let f = desc.fields.iter().find(|f| f.name == name)?;
            Some(Resolved::Raw(raw_field(f)))
        };
        match (root, path) {
            (FieldRoot::Args, [name]) if tracepoint => field(name),
            (FieldRoot::Arg(n), []) if !tracepoint => field(ARG_FIELDS.get(usize::from(n))?),
            (FieldRoot::Retval, []) if !tracepoint => field("retval"),
            (FieldRoot::Curtask, [f]) => match f.as_str() {
                "pid" => Some(Resolved::Builtin(Builtin::Tid)),
                "tgid" => Some(Resolved::Builtin(Builtin::Pid)),
                _ => None,
            },
            _ => None,
        }
    }
}

/// The fields each probe reads that its records don't hold ([`RecordLayouts`] placed the
/// rest), collected by running the field resolution once more (placing nothing).
#[derive(Default)]
pub struct FieldsRead(pub RefCell<Vec<(ProbeId, FieldRoot, Vec<String>)>>);

impl FieldResolver for FieldsRead {
    fn resolve(&self, probe: &AttachedProbe, root: FieldRoot, path: &[String]) -> Option<Resolved> {
        let read = (probe.id, root, path.to_vec());
        let mut fields = self.0.borrow_mut();
        if matches!(root, FieldRoot::Args | FieldRoot::Curtask) && !fields.contains(&read) {
            fields.push(read);
        }
        None
    }
}

/// Whether `curtask->PATH` comes with every record (its TaskInfo), exact at the event.
fn in_task_info(path: &[String]) -> bool {
    match path {
        [] => true,
        [f] => matches!(f.as_str(), "comm" | "pid" | "tgid"),
        [p, f] => p == "real_parent" && matches!(f.as_str(), "pid" | "tgid"),
        _ => false,
    }
}

/// What `args->...` and `curtask->...` start from at `site` (a function's address, or a
/// tracepoint's event id, whose arguments are all in its record).
fn root_at<'a>(debug: &'a KernelDebug, site: u64, root: FieldRoot) -> Option<Root<'a>> {
    match root {
        FieldRoot::Args => debug.params(site).map(Root::Args),
        FieldRoot::Curtask => Some(Root::Task),
        _ => None,
    }
}

/// The fetches that read `fields` at the events of `sites` (site, probe), as bpftrace reads
/// them: at the event. At most `MAX_SITE_FETCHES` a site and `MAX_FETCHES` in all; fields
/// past those are read when the record is drained.
pub fn plan_fetches(
    debug: &KernelDebug,
    fields: &[(ProbeId, FieldRoot, Vec<String>)],
    sites: impl IntoIterator<Item = (u64, ProbeId)>,
) -> Vec<Fetch> {
    let mut out: Vec<Fetch> = Vec::new();
    for (site, probe) in sites {
        for (_, root, path) in fields.iter().filter(|f| f.0 == probe) {
            if *root == FieldRoot::Curtask && in_task_info(path) {
                continue;
            }
            let Some(f) =
                root_at(debug, site, *root).and_then(|r| fetch::compile(debug, site, r, path))
            else {
                continue;
            };
            let at_site = out.iter().filter(|o| o.site == site).count();
            if !out.contains(&f) && at_site < MAX_SITE_FETCHES && out.len() < MAX_FETCHES {
                out.push(f);
            }
        }
    }
    out
}

pub struct GuestFields<'a> {
    pub record: &'a Record<'a>,
    /// The kernel's DWARF, when the kernel ELF has it.
    pub debug: Option<&'a KernelDebug>,
    pub mem: &'a dyn KernelMemory,
    /// The fetches the guest runs (`ControlState::fetches`).
    pub fetches: &'a [Fetch],
}

impl GuestFields<'_> {
    /// The parameters of the function a function record comes from.
    fn params(&self) -> Option<&[Param]> {
        let addr = match self.record.header.event {
            FtraceFunction::ID => self.record.field("ip")?,
            FtraceFuncgraphExit::ID => self.record.field("func")?,
            _ => return None,
        };
        self.debug?.params(addr.as_int() as u64)
    }

    /// The argument registers a function record carries.
    fn regs(&self) -> [u64; 6] {
        let arg = |i: usize| {
            self.record
                .field(ARG_FIELDS[i])
                .map_or(0, |v| v.as_int() as u64)
        };
        std::array::from_fn(arg)
    }
}

impl GuestFields<'_> {
    /// Where the record's fetches ran: the function, or the tracepoint.
    fn site(&self) -> Option<u64> {
        match self.record.header.event {
            FtraceFunction::ID => Some(self.record.field("ip")?.as_int() as u64),
            FtraceFuncgraphExit::ID => Some(self.record.field("func")?.as_int() as u64),
            id => Some(u64::from(id)),
        }
    }

    /// `root->path` as read at the event, when the guest fetched it for this record: its
    /// value, or 0 / "" if the fetch failed there.
    fn fetched(&self, root: FieldRoot, path: &[String]) -> Option<Value> {
        let trailer = self.record.fetched?;
        let (debug, site) = (self.debug?, self.site()?);
        let root = root_at(debug, site, root)?;
        let f = fetch::compile(debug, site, root, path)?;
        let of_site: Vec<Fetch> = self
            .fetches
            .iter()
            .filter(|o| o.site == site)
            .copied()
            .collect();
        let i = of_site.iter().position(|o| *o == f)?;
        fetch::value(debug, root, path, &f, trailer.get(&of_site, i))
    }
}

impl FieldSource for GuestFields<'_> {
    fn field(&self, root: FieldRoot, path: &[String]) -> Option<Value> {
        if self.record.fetched.is_some() && !path.is_empty() {
            if let Some(v) = self.fetched(root, path) {
                return Some(v);
            }
        }
        match root {
            FieldRoot::Args => {
                if let (Some(params), Some(debug)) = (self.params(), self.debug) {
                    return debug.arg_path(params, &self.regs(), path, self.mem);
                }
            }
            // `comm`, `pid`, `tgid` and the parent's id come with the record (exact at the
            // event); the rest of the task is read from guest memory through DWARF.
            FieldRoot::Curtask => {
                let task = self.record.task.task;
                match path {
                    [] => return Some(Value::Int(task as i64)),
                    [f] if matches!(f.as_str(), "comm" | "pid" | "tgid") => {}
                    [p, f] if p == "real_parent" && matches!(f.as_str(), "pid" | "tgid") => {}
                    _ => {
                        let debug = self.debug?;
                        let ty = debug.struct_named(abi::trace::TASK_TYPE_NAME)?;
                        return debug.follow(ty, Place::Memory(task), path, self.mem);
                    }
                }
            }
            _ => {}
        }
        FieldSource::field(self.record, root, path)
    }

    fn kstack(&self) -> Option<Vec<u64>> {
        self.record.kstack()
    }

    fn raw(&self) -> &[u8] {
        self.record.payload
    }

    fn read_str(&self, addr: u64, max: usize) -> Option<Vec<u8>> {
        // Byte by byte up to the NUL: a string may end just before unmapped memory.
        let mut out = Vec::new();
        for i in 0..max as u64 {
            let mut b = [0u8];
            if !self.mem.read(addr.checked_add(i)?, &mut b) || b[0] == 0 {
                break;
            }
            out.push(b[0]);
        }
        Some(out)
    }
}
