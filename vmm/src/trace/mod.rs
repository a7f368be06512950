//! `vmm trace`: a bpftrace-compatible language, parsed, checked and interpreted on the host
//! ([`Program`], [`Engine`]), fed by the trace channel ([`channel`]: the guest's rings read
//! through guest memory) in a [`session`].
//!
//! The pipeline, one module per stage:
//!
//! ```text
//! source ──lexer──parser──▶ ast ──check──▶ Program          Program::parse(src, "stdin")
//!                 probe: attach points, wildcards            Program::attach(&ProbeCatalog)
//!        ──expand against the catalog, check again──▶ AttachedProgram (probe ids for the transport)
//!        ──▶ Engine: begin() / on_event() / tick() / end()   eval + maps + output + format
//! ```
//!
//! The caller (the trace transport) owns everything guest-specific and hands it over through three
//! narrow interfaces: a [`ProbeCatalog`] (the tracepoints with their fields, the traceable functions
//! with their DWARF argument names), a [`FieldSource`] per event (reads `args->x`, `curtask->comm`,
//! `retval`, stacks), and a [`Symbolizer`] (kernel addresses to names). The engine never reads
//! guest memory. Output is written to any `io::Write`, in bpftrace's text format.
//!
//! ```
//! use vmm::trace::*;
//!
//! struct Switch(&'static str);
//! impl FieldSource for Switch {
//!     fn field(&self, root: FieldRoot, path: &[String]) -> Option<Value> {
//!         (root == FieldRoot::Args && path == ["next_comm"]).then(|| Value::string(self.0.as_bytes()))
//!     }
//! }
//!
//! let src = "tracepoint:sched:sched_switch { @[args->next_comm] = count(); }";
//! let catalog = ProbeCatalog {
//!     tracepoints: vec![TracepointInfo {
//!         category: "sched".into(),
//!         event: "sched_switch".into(),
//!         fields: vec![FieldInfo::new("next_comm", FieldType::Str)],
//!     }],
//!     ..ProbeCatalog::default()
//! };
//! let attached = Program::parse(src, "stdin")?.attach(&catalog)?;
//! let id = attached.probes()[0].id; // the transport enables sched:sched_switch, tags events with id
//! let mut engine = Engine::new(attached, Vec::new());
//! engine.begin(0)?;
//! for comm in ["bash", "sh", "bash"] {
//!     let fields = Switch(comm);
//!     let ev = Event { probe: id, cpu: 0, pid: 1, tid: 1, uid: 0, comm: b"x", timestamp_ns: 1, fields: &fields };
//!     engine.on_event(&ev)?;
//! }
//! engine.end(2)?;
//! assert_eq!(String::from_utf8(engine.into_sink())?, "\n\n@[sh]: 1\n@[bash]: 2\n\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Errors before running are [`Diagnostics`], rendered like bpftrace's
//! (`stdin:1:12-15: ERROR: Unknown identifier: 'foo'`, the line, `~` markers); errors while running
//! are [`EngineError`]s. Nothing in this module panics on hostile programs or hostile events, and
//! it contains no `unsafe`.

#![deny(unsafe_code)]

pub mod ast;
pub mod channel;
mod check;
pub mod compile;
pub mod diag;
mod eval;
pub mod format;
pub mod json;
pub mod lexer;
pub mod maps;
pub mod output;
pub mod parser;
pub mod probe;
pub mod session;
#[cfg(test)]
mod tests;
pub mod timeline;

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};
use std::sync::Arc;

use check::{ArgsEnv, ProbeEnv, Ty};
pub use compile::{FieldResolver, RawField, RawKind, Resolved};
pub use diag::{Diagnostic, Diagnostics};
pub use format::WallTime;
pub use json::OutputFormat;
pub use maps::{Map, MapValue, Maps, Str, Value};
pub use output::{NoSymbols, Symbolizer};
use probe::{CatalogRef, Expansion};
pub use probe::{
    FieldInfo, FieldType, FunctionInfo, FunctionProbe, ProbeCatalog, ProbeKind, ProbeSpec,
    TracepointInfo,
};

/// What a field path starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldRoot {
    /// `args->x`: tracepoint fields or function arguments.
    Args,
    /// `curtask` (empty path: the task pointer) and `curtask->x`.
    Curtask,
    /// `retval` in return probes.
    Retval,
    /// `arg0`..`arg9` in kprobes (raw argument registers).
    Arg(u8),
}

/// The caller's access to one event's data. Integers and pointers come back as [`Value::Int`],
/// strings and char arrays as [`Value::Str`]; `None` for anything unknown (read as 0).
pub trait FieldSource {
    fn field(&self, root: FieldRoot, path: &[String]) -> Option<Value>;

    /// The kernel stack at the event, innermost frame first.
    fn kstack(&self) -> Option<Vec<u64>> {
        None
    }

    /// A NUL-terminated string at a guest kernel address, for `str(ptr)`.
    fn read_str(&self, _addr: u64, _max: usize) -> Option<Vec<u8>> {
        None
    }

    /// The event's record, where the fields a [`FieldResolver`] placed are read
    /// ([`Engine::resolve_fields`]).
    fn raw(&self) -> &[u8] {
        &[]
    }
}

/// A [`FieldSource`] with nothing in it (interval, BEGIN and END probes).
pub struct NoFields;

impl FieldSource for NoFields {
    fn field(&self, _root: FieldRoot, _path: &[String]) -> Option<Value> {
        None
    }
}

/// A parsed and checked program, not yet bound to a guest.
#[derive(Debug, Clone)]
pub struct Program {
    ast: Arc<ast::Program>,
    source: Arc<str>,
    file_name: Arc<str>,
}

impl Program {
    /// Parses and checks `src`; `file_name` names it in diagnostics (`stdin` for `-e`).
    pub fn parse(src: &str, file_name: &str) -> Result<Program, Diagnostics> {
        let source: Arc<str> = Arc::from(src);
        let file_name: Arc<str> = Arc::from(file_name);
        let fail = |items| Diagnostics::new(file_name.clone(), source.clone(), items);
        let ast = parser::parse(src).map_err(|d| fail(vec![d]))?;
        let envs: Vec<Vec<ProbeEnv<'_>>> = ast
            .probes
            .iter()
            .map(|p| distinct(p.attach_points.iter().map(|ap| env_for_spec(&ap.spec))))
            .collect();
        let diags = check::check(&ast, &envs, &[]);
        if !diags.is_empty() {
            return Err(fail(diags));
        }
        Ok(Program {
            ast: Arc::new(ast),
            source,
            file_name,
        })
    }

    pub fn ast(&self) -> &ast::Program {
        &self.ast
    }

    /// Expands wildcards against what the guest offers and checks `args` fields against it.
    ///
    /// Each concrete probe gets one [`ProbeId`], however many blocks it appears in: its event
    /// runs all of them, in program order, as bpftrace runs every action attached to a probe.
    pub fn attach(&self, catalog: &ProbeCatalog) -> Result<AttachedProgram, Diagnostics> {
        let mut errors = Vec::new();
        let mut probes: Vec<AttachedProbe> = Vec::new();
        let mut by_name: HashMap<String, usize> = HashMap::new();
        let mut envs = Vec::new();
        for (block, p) in self.ast.probes.iter().enumerate() {
            let mut probe_envs = Vec::new();
            for ap in &p.attach_points {
                match probe::expand(&ap.spec, catalog) {
                    Err(msg) => errors.push(Diagnostic::new(ap.span, msg)),
                    Ok(expansions) => {
                        for e in expansions {
                            probe_envs.push(env_for_expansion(&ap.spec, &e, catalog));
                            let next = probes.len();
                            let index = *by_name.entry(e.name.clone()).or_insert(next);
                            if index == next {
                                probes.push(AttachedProbe {
                                    id: ProbeId(next as u32),
                                    name: e.name,
                                    kind: e.kind,
                                    blocks: Vec::new(),
                                });
                            }
                            let blocks = &mut probes[index].blocks;
                            if blocks.last() != Some(&block) {
                                blocks.push(block);
                            }
                        }
                    }
                }
            }
            envs.push(distinct(probe_envs));
        }
        if errors.is_empty() {
            errors = check::check(&self.ast, &envs, &catalog.task_fields);
        }
        if !errors.is_empty() {
            return Err(Diagnostics::new(
                self.file_name.clone(),
                self.source.clone(),
                errors,
            ));
        }
        Ok(AttachedProgram {
            program: self.clone(),
            probes,
        })
    }
}

/// The distinct items, in first-seen order (so that diagnostics come out deterministically).
fn distinct<T: Eq + std::hash::Hash + Clone>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut seen = HashSet::new();
    items
        .into_iter()
        .filter(|t| seen.insert(t.clone()))
        .collect()
}

fn env_for_spec(spec: &ProbeSpec) -> ProbeEnv<'static> {
    let base = |provider| ProbeEnv {
        provider,
        args: ArgsEnv::None,
        retval: None,
        regs: false,
        func: false,
    };
    match spec {
        ProbeSpec::Begin => base("BEGIN"),
        ProbeSpec::End => base("END"),
        ProbeSpec::Interval { .. } => base("interval"),
        ProbeSpec::Tracepoint { .. } => ProbeEnv {
            args: ArgsEnv::Any,
            ..base("tracepoint")
        },
        ProbeSpec::Function { kind, provider, .. } => ProbeEnv {
            provider,
            args: if kind.has_named_args() {
                ArgsEnv::Any
            } else {
                ArgsEnv::None
            },
            retval: kind.is_return().then_some(Ty::Any),
            regs: *kind == FunctionProbe::Kprobe,
            func: true,
        },
    }
}

fn env_for_expansion<'c>(
    spec: &ProbeSpec,
    e: &Expansion,
    catalog: &'c ProbeCatalog,
) -> ProbeEnv<'c> {
    let mut env = env_for_spec(spec);
    match e.catalog {
        CatalogRef::Tracepoint(i) => {
            if let Some(tp) = catalog.tracepoints.get(i) {
                env.args = ArgsEnv::Tracepoint {
                    fields: &tp.fields,
                    struct_name: format!("struct _tracepoint_{}_{}", tp.category, tp.event),
                };
            }
        }
        CatalogRef::Function(i) => {
            if let (Some(f), ProbeSpec::Function { kind, .. }) = (catalog.functions.get(i), spec) {
                if kind.has_named_args() {
                    env.args = match &f.args {
                        Some(args) => ArgsEnv::Function(args),
                        None => ArgsEnv::Any,
                    };
                }
                if kind.is_return() {
                    env.retval = Some(Ty::from_field(f.retval));
                }
            }
        }
        CatalogRef::None => {}
    }
    env
}

/// The id the transport tags events with: an index into [`AttachedProgram::probes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProbeId(pub u32);

/// One concrete probe to enable in the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedProbe {
    pub id: ProbeId,
    /// The full name, as the `probe` builtin reports it (`tracepoint:sched:sched_switch`).
    pub name: String,
    pub kind: ProbeKind,
    /// The program's probe blocks that run for it, in program order.
    blocks: Vec<usize>,
}

/// A program bound to a guest: every wildcard expanded into concrete probes.
#[derive(Debug, Clone)]
pub struct AttachedProgram {
    program: Program,
    probes: Vec<AttachedProbe>,
}

impl AttachedProgram {
    pub fn probes(&self) -> &[AttachedProbe] {
        &self.probes
    }

    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Whether the program reads `kstack` (the guest then records stacks).
    pub fn uses_kstack(&self) -> bool {
        self.program.ast.uses_builtin(ast::Builtin::Kstack)
    }

    /// bpftrace's banner: `Attaching 2 probes...`.
    pub fn attaching_message(&self) -> String {
        let n = self.probes.len();
        format!("Attaching {n} probe{}...", if n == 1 { "" } else { "s" })
    }

    /// The banner in `format`: the text line for stderr, or (JSON) the `attached_probes`
    /// message for the output. Returns the text and whether it belongs in the output.
    pub fn banner(&self, format: OutputFormat) -> (String, bool) {
        match format {
            OutputFormat::Text => (format!("{}\n", self.attaching_message()), false),
            OutputFormat::Json => (json::attached_probes(self.probes.len()), true),
        }
    }
}

/// One event from the guest.
pub struct Event<'a> {
    pub probe: ProbeId,
    pub cpu: u32,
    pub pid: u32,
    pub tid: u32,
    pub uid: u32,
    pub comm: &'a [u8],
    /// Guest monotonic time of the event (`nsecs`).
    pub timestamp_ns: u64,
    pub fields: &'a dyn FieldSource,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("writing the trace output")]
    Output(#[from] io::Error),
    #[error("event for unknown probe id {0}")]
    UnknownProbe(u32),
    #[error("the guest kernel offers no functions to probe")]
    NoFunctions,
    #[error("cannot attach the function probes: {0}")]
    Attach(String),
}

/// Runs an attached program over events, writing bpftrace's output to `W`.
pub struct Engine<W: Write> {
    program: Arc<AttachedProgram>,
    /// Per probe, the blocks it runs (the program's, specialized by `resolve_fields`).
    blocks: Vec<Vec<ast::Probe>>,
    /// Scratch reused by every event: map keys, `printf`'s arguments and text.
    scratch: eval::Scratch,
    maps: Maps,
    sink: W,
    sym: Box<dyn Symbolizer + Send>,
    clock: Box<dyn Fn() -> WallTime + Send>,
    vars: HashMap<String, Value>,
    start_ns: u64,
    /// Interval probes and their next deadline.
    timers: Vec<(ProbeId, u64, u64)>,
    exited: bool,
    ended: bool,
    print_maps_on_exit: bool,
    format: OutputFormat,
}

impl<W: Write> Engine<W> {
    pub fn new(program: AttachedProgram, sink: W) -> Self {
        let blocks = program
            .probes
            .iter()
            .map(|p| {
                p.blocks
                    .iter()
                    .filter_map(|&b| program.program.ast.probes.get(b).cloned())
                    .collect()
            })
            .collect();
        Engine {
            program: Arc::new(program),
            blocks,
            scratch: eval::Scratch::default(),
            maps: Maps::default(),
            sink,
            sym: Box::new(NoSymbols),
            clock: Box::new(WallTime::now_utc),
            vars: HashMap::new(),
            start_ns: 0,
            timers: Vec::new(),
            exited: false,
            ended: false,
            print_maps_on_exit: true,
            format: OutputFormat::Text,
        }
    }

    pub fn with_symbolizer(mut self, sym: Box<dyn Symbolizer + Send>) -> Self {
        self.sym = sym;
        self
    }

    /// Specializes every probe for its events' layout, once: the fields `resolver` places are
    /// then read straight from each event's [`FieldSource::raw`] record.
    pub fn resolve_fields(&mut self, resolver: &dyn FieldResolver) {
        for (probe, blocks) in self.program.probes.iter().zip(&mut self.blocks) {
            for block in blocks {
                compile::specialize(block, probe, resolver);
            }
        }
    }

    /// The clock `time()` prints (default: the host's, in UTC).
    pub fn with_wall_clock(mut self, clock: Box<dyn Fn() -> WallTime + Send>) -> Self {
        self.clock = clock;
        self
    }

    /// Whether [`end`](Self::end) prints the maps (bpftrace's default: yes).
    pub fn set_print_maps_on_exit(&mut self, on: bool) {
        self.print_maps_on_exit = on;
    }

    /// Text as bpftrace prints it (default) or its `-f json` lines.
    pub fn set_format(&mut self, format: OutputFormat) {
        self.format = format;
    }

    pub fn format(&self) -> OutputFormat {
        self.format
    }

    /// Reports events the guest dropped: a JSON message in the output, or `None` for text
    /// (the caller reports them on its diagnostics stream).
    pub fn lost_events_message(&self, n: u64) -> Option<String> {
        (self.format == OutputFormat::Json).then(|| json::lost_events(n))
    }

    pub fn set_max_map_keys(&mut self, n: usize) {
        self.maps.set_max_keys(n);
    }

    pub fn maps(&self) -> &Maps {
        &self.maps
    }

    /// Map updates dropped because a map held `max_map_keys` entries.
    pub fn dropped_map_updates(&self) -> u64 {
        self.maps.dropped()
    }

    /// `exit()` ran: the caller should stop feeding events and call [`end`](Self::end).
    pub fn exited(&self) -> bool {
        self.exited
    }

    pub fn sink(&mut self) -> &mut W {
        &mut self.sink
    }

    pub fn into_sink(self) -> W {
        self.sink
    }

    /// Runs every block of probe `index`, with the event's data or (for BEGIN, END and interval
    /// probes) none.
    fn run(
        &mut self,
        index: usize,
        ev: Option<&Event<'_>>,
        now_ns: u64,
    ) -> Result<(), EngineError> {
        let probe = self
            .program
            .probes
            .get(index)
            .ok_or(EngineError::UnknownProbe(index as u32))?;
        let func = match &probe.kind {
            ProbeKind::Function { function, .. } => function.as_str(),
            _ => "",
        };
        let ctx = match ev {
            Some(ev) => eval::Context {
                probe_name: &probe.name,
                func,
                cpu: ev.cpu,
                pid: ev.pid,
                tid: ev.tid,
                uid: ev.uid,
                comm: ev.comm,
                nsecs: ev.timestamp_ns,
                elapsed: ev.timestamp_ns.saturating_sub(self.start_ns),
                fields: ev.fields,
            },
            None => eval::Context {
                probe_name: &probe.name,
                func,
                cpu: 0,
                pid: 0,
                tid: 0,
                uid: 0,
                comm: b"",
                nsecs: now_ns,
                elapsed: now_ns.saturating_sub(self.start_ns),
                fields: &NoFields,
            },
        };
        for block in self.blocks.get(index).map_or(&[][..], Vec::as_slice) {
            if self.exited {
                break;
            }
            let mut interp = eval::Interp {
                maps: &mut self.maps,
                out: &mut self.sink,
                sym: &*self.sym,
                clock: &*self.clock,
                vars: &mut self.vars,
                scratch: &mut self.scratch,
                format: self.format,
                exit: false,
            };
            let result = interp.run(block, &ctx);
            self.exited |= interp.exit;
            result?;
        }
        Ok(())
    }

    /// The probe of a kind that has one instance (BEGIN, END).
    fn index_of(&self, kind: &ProbeKind) -> Option<usize> {
        self.program.probes.iter().position(|p| &p.kind == kind)
    }

    /// Starts the program at `now_ns`: runs the BEGIN probes and arms the interval probes.
    pub fn begin(&mut self, now_ns: u64) -> Result<(), EngineError> {
        self.start_ns = now_ns;
        self.timers = self
            .program
            .probes
            .iter()
            .filter_map(|p| match p.kind {
                ProbeKind::Interval { period_ns } => {
                    Some((p.id, period_ns, now_ns.saturating_add(period_ns)))
                }
                _ => None,
            })
            .collect();
        if let Some(i) = self.index_of(&ProbeKind::Begin) {
            self.run(i, None, now_ns)?;
        }
        Ok(())
    }

    /// Runs the probe an event belongs to. Events after `exit()` are ignored.
    pub fn on_event(&mut self, ev: &Event<'_>) -> Result<(), EngineError> {
        if self.exited || self.ended {
            return Ok(());
        }
        self.run(ev.probe.0 as usize, Some(ev), ev.timestamp_ns)
    }

    /// Runs one interval probe now (for callers that keep their own timers).
    pub fn on_interval(&mut self, id: ProbeId, now_ns: u64) -> Result<(), EngineError> {
        if self.exited || self.ended {
            return Ok(());
        }
        self.run(id.0 as usize, None, now_ns)
    }

    /// When the next interval probe is due, if there is one.
    pub fn next_deadline(&self) -> Option<u64> {
        self.timers.iter().map(|t| t.2).min()
    }

    /// Runs every interval probe that is due at `now_ns` (once each, however late).
    pub fn tick(&mut self, now_ns: u64) -> Result<(), EngineError> {
        for i in 0..self.timers.len() {
            let (id, period, due) = self.timers[i];
            if due > now_ns {
                continue;
            }
            let mut next = due.saturating_add(period);
            if next <= now_ns {
                next = now_ns.saturating_add(period);
            }
            self.timers[i].2 = next;
            self.on_interval(id, now_ns)?;
        }
        Ok(())
    }

    /// Ends the program (once): runs the END probes, then prints every non-empty map as bpftrace
    /// does at exit.
    pub fn end(&mut self, now_ns: u64) -> Result<(), EngineError> {
        if self.ended {
            return Ok(());
        }
        self.exited = false;
        if let Some(i) = self.index_of(&ProbeKind::End) {
            self.run(i, None, now_ns)?;
        }
        self.ended = true;
        self.exited = true;
        if self.print_maps_on_exit {
            let mut text = match self.format {
                OutputFormat::Text => String::from("\n\n"),
                OutputFormat::Json => String::new(),
            };
            for map in self.maps.iter().filter(|m| !m.entries.is_empty()) {
                text.push_str(&match self.format {
                    OutputFormat::Text => output::map_text(map, 0, 1, &*self.sym),
                    OutputFormat::Json => json::map(map, 0, 1, &*self.sym),
                });
            }
            self.sink.write_all(text.as_bytes())?;
        }
        self.sink.flush()?;
        Ok(())
    }
}
