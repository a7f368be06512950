//! A program running over one VM's trace channel: turn its tracepoint probes into the control
//! page's event set, drain the rings every few milliseconds, decode, order by time and feed the
//! [`Engine`]. Lost and corrupt records are counted and reported, never silently dropped.

use rustc_hash::FxHashMap as HashMap;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use abi::trace::{Event as _, FtraceFuncgraphExit, FtraceFunction};

use super::channel::catalog::event_of;
use super::channel::decode::{Records, RingTasks, TaskIdentity};
use super::channel::fields::{plan_fetches, FieldsRead, GuestFields, RecordLayouts};
use super::channel::ftrace::Hook;
use super::channel::{Area, ControlState, TraceChannel};
use super::probe::ProbeKind;
use super::timeline::{self, Timeline};
use super::{AttachedProgram, Engine, EngineError, Event, ProbeId};

/// How often the rings are drained.
pub const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// What a session saw, for the caller's summary (and the tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceStats {
    /// Records decoded and run.
    pub events: u64,
    /// Records the guest dropped because a ring was full, per CPU.
    pub lost: Vec<u64>,
    /// Records (or ring states) that failed the checks and were skipped.
    pub corrupt: u64,
    /// `TaskInfo` records read (a CPU's task changed to one its ring had not described).
    pub task_infos: u64,
}

impl TraceStats {
    pub fn lost_total(&self) -> u64 {
        self.lost.iter().sum()
    }
}

/// Filters applied in the guest, before a record is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuestFilter {
    pub pid: Option<u32>,
    pub cpu: Option<u32>,
}

/// One program attached to one VM.
pub struct Tracer<W: Write> {
    engine: Engine<W>,
    /// The probe of each tracepoint event, by event id.
    by_event: Vec<Option<ProbeId>>,
    /// Function probes as written: (probe, return probe?, function name).
    functions: Vec<(ProbeId, bool, String)>,
    /// Once attached: the probes of each patched function, by its address, at entry and at
    /// return.
    on_entry: HashMap<u64, Vec<ProbeId>>,
    on_return: HashMap<u64, Vec<ProbeId>>,
    control: ControlState,
    /// The fields the probes read from guest memory (`FieldsRead`), by probe.
    fields_read: Vec<(ProbeId, super::FieldRoot, Vec<String>)>,
    buffers: Vec<Vec<u8>>,
    /// Whose records each CPU's ring is writing now, and the threads it described.
    tasks: Vec<RingTasks>,
    /// `lost` counters at attach time: only losses during this session are ours.
    lost_base: Vec<u64>,
    stats: TraceStats,
    /// The latest guest time seen and when: "now" in guest time is extrapolated from it.
    anchor: (u64, Instant),
    diag: Box<dyn Write + Send>,
    timeline: Option<Timeline>,
    nr_cpus: usize,
    /// Records decoded by the last poll, to size the next one's vector.
    records_hint: usize,
}

impl<W: Write> Tracer<W> {
    /// `diag` receives the lost/corrupt reports (stderr for the CLI).
    pub fn new(
        program: AttachedProgram,
        sink: W,
        filter: GuestFilter,
        diag: Box<dyn Write + Send>,
    ) -> Self {
        let mut by_event = vec![None; abi::trace::MAX_EVENTS];
        let mut functions = Vec::new();
        for p in program.probes() {
            if let Some(slot) = event_of(&p.kind).and_then(|e| by_event.get_mut(usize::from(e.id)))
            {
                *slot = Some(p.id);
            }
            if let ProbeKind::Function { kind, function } = &p.kind {
                functions.push((p.id, kind.is_return(), function.clone()));
            }
        }
        let events: Vec<u16> = (0..by_event.len() as u16)
            .filter(|&id| by_event[usize::from(id)].is_some())
            .collect();
        let stacks = program.uses_kstack();
        let mut engine = Engine::new(program, sink);
        engine.resolve_fields(&RecordLayouts);
        let read = FieldsRead::default();
        engine.resolve_fields(&read);
        Tracer {
            fields_read: read.0.into_inner(),
            engine,
            by_event,
            functions,
            on_entry: HashMap::default(),
            on_return: HashMap::default(),
            control: ControlState {
                events,
                pid: filter.pid,
                cpu: filter.cpu,
                stacks,
                fetches: Vec::new(),
            },
            buffers: Vec::new(),
            tasks: Vec::new(),
            lost_base: Vec::new(),
            stats: TraceStats::default(),
            anchor: (0, Instant::now()),
            diag,
            timeline: None,
            nr_cpus: 0,
            records_hint: 0,
        }
    }

    /// Also collect the scheduling timeline (its events are switched on too).
    pub fn with_timeline(mut self) -> Self {
        self.timeline = Some(Timeline::default());
        self.control.events.extend(timeline::EVENTS);
        self.control.events.sort_unstable();
        self.control.events.dedup();
        self
    }

    /// The timeline's Chrome trace-event JSON, once detached.
    pub fn take_timeline(&mut self) -> Option<String> {
        let cpus = self.nr_cpus as u32;
        self.timeline.take().map(|t| t.finish(cpus))
    }

    /// Names kernel addresses for `ksym()` and stacks.
    pub fn with_symbolizer(mut self, sym: Box<dyn super::Symbolizer + Send>) -> Self {
        self.engine = self.engine.with_symbolizer(sym);
        self
    }

    pub fn engine(&mut self) -> &mut Engine<W> {
        &mut self.engine
    }

    /// Guest time now, extrapolated from the last event seen.
    fn now_ns(&self) -> u64 {
        self.anchor.0 + self.anchor.1.elapsed().as_nanos() as u64
    }

    /// Turns the program's events on in the guest and runs BEGIN.
    pub fn attach(
        &mut self,
        channel: &TraceChannel,
        area: &Area,
        guest_now_ns: u64,
    ) -> Result<(), EngineError> {
        self.anchor = (guest_now_ns, Instant::now());
        self.nr_cpus = area.nr_cpus();
        self.buffers = vec![Vec::new(); area.nr_cpus()];
        self.tasks = vec![RingTasks::default(); area.nr_cpus()];
        // Whatever an earlier session left behind is not ours; whose the next records are,
        // each CPU will say again.
        for cpu in 0..area.nr_cpus() {
            let _ = channel.drain(area, cpu, &mut Vec::new());
        }
        channel.request_task_info(area);
        self.lost_base = (0..area.nr_cpus())
            .map(|cpu| channel.lost(area, cpu))
            .collect();
        self.stats.lost = vec![0; area.nr_cpus()];
        let hooks = self.function_hooks(channel)?;
        self.plan_fetches(channel);
        channel.set_control(area, &self.control);
        if !hooks.is_empty() {
            let text = channel.kernel_text().ok_or(EngineError::NoFunctions)?;
            if let Err(e) = channel.patch_functions(text, &hooks) {
                channel.set_control(area, &ControlState::default());
                return Err(EngineError::Attach(e.to_string()));
            }
        }
        self.engine.begin(guest_now_ns)
    }

    /// The function entries to patch for the program's function probes, and which probes run
    /// for each (also switching on the function tracer's records).
    fn function_hooks(
        &mut self,
        channel: &TraceChannel,
    ) -> Result<BTreeMap<u64, Hook>, EngineError> {
        let mut hooks: BTreeMap<u64, Hook> = BTreeMap::new();
        if self.functions.is_empty() {
            return Ok(hooks);
        }
        let text = channel.kernel_text().ok_or(EngineError::NoFunctions)?;
        for (probe, ret, name) in &self.functions {
            let (hook, probes) = if *ret {
                (Hook::Return, &mut self.on_return)
            } else {
                (Hook::Entry, &mut self.on_entry)
            };
            for site in text.sites_named(name) {
                probes.entry(site.addr).or_default().push(*probe);
                hooks
                    .entry(site.addr)
                    .and_modify(|h| *h = h.with(hook))
                    .or_insert(hook);
            }
        }
        if !self.on_entry.is_empty() {
            self.control.events.push(FtraceFunction::ID);
        }
        if !self.on_return.is_empty() {
            self.control.events.push(FtraceFuncgraphExit::ID);
        }
        self.control.events.sort_unstable();
        self.control.events.dedup();
        Ok(hooks)
    }

    /// The fetches that read the probes' fields behind pointers at the event (in the guest,
    /// as bpftrace does), at every patched function and tracepoint.
    fn plan_fetches(&mut self, channel: &TraceChannel) {
        let Some(debug) = channel.kernel_text().map(|t| t.debug()) else {
            return;
        };
        let functions = self.on_entry.iter().chain(&self.on_return);
        let sites = functions
            .flat_map(|(&addr, probes)| probes.iter().map(move |&p| (addr, p)))
            .chain(
                (0u64..)
                    .zip(&self.by_event)
                    .filter_map(|(id, p)| Some((id, (*p)?))),
            );
        self.control.fetches = plan_fetches(debug, &self.fields_read, sites);
    }

    /// One round: drain every CPU, run the records in time order, then due interval probes.
    pub fn poll(&mut self, channel: &TraceChannel, area: &Area) -> Result<(), EngineError> {
        for (cpu, buf) in self.buffers.iter_mut().enumerate() {
            buf.clear();
            if let Err(e) = channel.drain(area, cpu, buf) {
                self.stats.corrupt += 1;
                let _ = writeln!(self.diag, "vmm trace: {e}");
            }
        }
        // As many as last time, without growing the vector record by record.
        let mut records = Vec::with_capacity(self.records_hint);
        for ((cpu, buf), task) in self.buffers.iter().enumerate().zip(&mut self.tasks) {
            for r in Records::new(buf, task) {
                match r {
                    Ok(r) => records.push((r.header.tsc, cpu, r)),
                    Err(e) => {
                        self.stats.corrupt += 1;
                        let _ = writeln!(self.diag, "vmm trace: CPU {cpu}: skipped {e}");
                    }
                }
            }
        }
        self.records_hint = records.len();
        self.stats.task_infos = self.tasks.iter().map(|t| t.descriptions).sum();
        records.sort_by_key(|r| (r.0, r.1));
        let memory = channel.kernel_memory();
        let debug = channel.kernel_text().map(|t| t.debug());
        // The newest guest time seen, the anchor for "now" (one clock read per poll).
        let mut latest = 0;
        for (tsc, cpu, r) in &records {
            let ts = area.tsc_to_ns(*tsc);
            if let Some(t) = &mut self.timeline {
                t.record(*cpu as u32, ts, r);
            }
            let probes = probes_of(&self.by_event, &self.on_entry, &self.on_return, r);
            if probes.is_empty() {
                continue; // only for the timeline
            }
            latest = latest.max(ts);
            self.stats.events += 1;
            let fields = GuestFields {
                record: r,
                debug,
                mem: &memory,
                fetches: &self.control.fetches,
            };
            for &probe in probes {
                self.engine.on_event(&Event {
                    probe,
                    cpu: *cpu as u32,
                    pid: r.task.pid,
                    tid: r.task.tid,
                    uid: r.task.uid,
                    comm: r.comm(),
                    timestamp_ns: ts,
                    fields: &fields,
                })?;
            }
        }
        if latest > 0 {
            self.anchor = (latest.max(self.anchor.0), Instant::now());
        }
        for cpu in 0..area.nr_cpus() {
            let lost = channel.lost(area, cpu).saturating_sub(self.lost_base[cpu]);
            if lost > self.stats.lost[cpu] {
                let n = lost - self.stats.lost[cpu];
                match self.engine.lost_events_message(n) {
                    Some(json) => self.engine.sink().write_all(json.as_bytes())?,
                    None => {
                        let _ = writeln!(self.diag, "Lost {n} events on CPU {cpu}");
                    }
                }
                self.stats.lost[cpu] = lost;
            }
        }
        let now = self.now_ns();
        self.engine.tick(now)
    }

    /// Final drain, events off, END and the maps.
    pub fn detach(
        &mut self,
        channel: &TraceChannel,
        area: Option<&Area>,
    ) -> Result<TraceStats, EngineError> {
        if let Some(area) = area {
            if !self.engine.exited() {
                self.poll(channel, area)?;
            }
            channel.set_control(area, &ControlState::default());
        }
        // The guest's text goes back to the ELF's bytes (hooked returns still pending come
        // back through the guest's return handler, which stays).
        if let Some(text) = channel.kernel_text() {
            if !channel.patched_functions().is_empty() {
                if let Err(e) = channel.unpatch_functions(text) {
                    let _ = writeln!(
                        self.diag,
                        "vmm trace: cannot remove the function probes: {e}"
                    );
                }
            }
        }
        let now = self.now_ns();
        self.engine.end(now)?;
        Ok(self.stats.clone())
    }
}

/// The probes a record runs: its tracepoint's, or those of the traced function it comes from.
fn probes_of<'a>(
    by_event: &'a [Option<ProbeId>],
    on_entry: &'a HashMap<u64, Vec<ProbeId>>,
    on_return: &'a HashMap<u64, Vec<ProbeId>>,
    r: &super::channel::decode::Record<'_>,
) -> &'a [ProbeId] {
    let by_addr = |map: &'a HashMap<u64, Vec<ProbeId>>, field: &str| -> Option<&'a [ProbeId]> {
        let addr = r.field(field)?.as_int() as u64;
        map.get(&addr).map(Vec::as_slice)
    };
    let probes = match r.header.event {
        FtraceFunction::ID => by_addr(on_entry, "ip"),
        FtraceFuncgraphExit::ID => by_addr(on_return, "func"),
        id => by_event
            .get(usize::from(id))
            .and_then(Option::as_ref)
            .map(std::slice::from_ref),
    };
    probes.unwrap_or(&[])
}

/// Runs `tracer` on `channel` until `stop()` says so (the VM ended or the user detached) or the
/// program calls `exit()`; then detaches, leaving the guest as it was.
pub fn run<W: Write>(
    channel: &TraceChannel,
    tracer: &mut Tracer<W>,
    stop: impl Fn() -> bool,
    vm_start: Instant,
    poll_interval: Duration,
) -> Result<TraceStats, EngineError> {
    // The area appears when the guest's driver starts.
    let area: Arc<Area> = loop {
        if let Some(area) = channel.area() {
            break area;
        }
        if stop() {
            return tracer.detach(channel, None);
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    tracer.attach(channel, &area, vm_start.elapsed().as_nanos() as u64)?;
    let mut next = Instant::now();
    while !stop() && !tracer.engine.exited() {
        // Short sleeps, so that stopping is prompt even with a long interval.
        std::thread::sleep(POLL_INTERVAL.min(poll_interval));
        if Instant::now() >= next {
            tracer.poll(channel, &area)?;
            next = Instant::now() + poll_interval;
        }
    }
    tracer.detach(channel, Some(&area))
}

/// The host side's speed alone, for `cargo xtask bench`: `rounds` times, a guest-like producer
/// fills one CPU's ring with `sched_switch` records (as full as it gets), then one
/// [`Tracer::poll`] drains, decodes and counts them with `@[args->next_comm] = count()`.
/// Returns (records decoded and run, CPU time the thread spent in `poll`: on a shared machine
/// its wall time would count other processes' turns).
pub fn measure_drain_rate(rounds: usize) -> (u64, Duration) {
    use abi::trace::{record_size, reserve, Event as _, SchedSwitch};
    use vm_memory::{Bytes, GuestAddress};

    const AREA: u64 = 0x10000;
    const CONTROL: u64 = 0x11000;
    const RING: u64 = 0x12000;
    const DATA: u64 = 0x100000;
    const RING_SIZE: u64 = 1 << 20;
    let mem = crate::memory::create(4 << 20).expect("benchmark memory");
    let mut header = abi::trace::AreaHeader {
        magic: abi::trace::AREA_MAGIC,
        version: abi::trace::TRACE_ABI_VERSION,
        nr_cpus: 1,
        ring_size: RING_SIZE as u32,
        tsc_khz: 1_000_000,
        control_gpa: CONTROL,
        ..Default::default()
    };
    header.ring_gpa[0] = RING;
    header.data_gpa[0] = DATA;
    let bytes = super::channel::encode_header(&header);
    mem.write_slice(&bytes, GuestAddress(AREA)).expect("area");
    let area = Area::parse(&mem, AREA).expect("area");
    let channel = TraceChannel::new(mem.clone(), Default::default(), None);

    // As a context-switching guest writes them: each of two tasks described once, then
    // switches back and forth, each naming the task that runs next (no TaskInfo: the ring
    // described it before), the comms at their fields' offsets.
    let info_size = record_size(std::mem::size_of::<abi::trace::TaskInfo>());
    let info_header = abi::trace::RecordHeader {
        size: info_size as u16,
        event: abi::trace::TaskInfo::ID,
        ..Default::default()
    };
    let mut prefix = Vec::new();
    for (tid, comm) in [(8u32, b"kwork"), (7, b"task7")] {
        let mut task = TaskIdentity {
            task: 0xffff_8000_0010_0000 + u64::from(tid) * 0x1000,
            tid,
            pid: tid,
            ..TaskIdentity::default()
        };
        task.comm[..5].copy_from_slice(comm);
        prefix.extend(super::channel::decode::encode_record_header(&info_header));
        prefix.extend(task.encode());
    }
    let size = record_size(std::mem::size_of::<SchedSwitch>());
    let header = abi::trace::RecordHeader {
        size: size as u16,
        event: SchedSwitch::ID,
        ..Default::default()
    };
    let desc = abi::trace::event(SchedSwitch::ID).expect("sched_switch");
    let field = |name: &str| desc.fields.iter().find(|f| f.name == name).expect(name);
    let mut rec = Vec::new();
    for (prev, next, prev_comm, next_comm) in
        [(7u32, 8u32, b"task7", b"kwork"), (8, 7, b"kwork", b"task7")]
    {
        let at = rec.len() + abi::trace::RECORD_HEADER_SIZE;
        rec.extend(super::channel::decode::encode_record_header(&header));
        rec.resize(at - abi::trace::RECORD_HEADER_SIZE + size, 0);
        for (name, bytes) in [
            ("prev_pid", &prev.to_le_bytes()[..]),
            ("next_pid", &next.to_le_bytes()[..]),
            ("prev_comm", &prev_comm[..]),
            ("next_comm", &next_comm[..]),
        ] {
            let f = field(name);
            rec[at + f.offset..at + f.offset + bytes.len()].copy_from_slice(bytes);
        }
    }
    let size = rec.len();

    let program = super::Program::parse(
        "tracepoint:sched:sched_switch { @[args->next_comm] = count(); }",
        "bench",
    )
    .and_then(|p| p.attach(&super::channel::catalog::probe_catalog(None)))
    .expect("benchmark program");
    let mut tracer = Tracer::new(
        program,
        std::io::sink(),
        GuestFilter::default(),
        Box::new(std::io::sink()),
    );
    tracer.attach(&channel, &area, 0).expect("attach");
    let _ = mem.write_slice(&prefix, GuestAddress(DATA));
    let (mut head, mut spent) = (prefix.len() as u64, Duration::ZERO);
    for _ in 0..rounds {
        let tail: u64 = mem
            .load(
                GuestAddress(RING + abi::trace::ring::TAIL),
                Ordering::Acquire,
            )
            .unwrap_or(0);
        while let Some((pad, pos)) = reserve(head, tail, size as u64, RING_SIZE) {
            if pad != 0 {
                let at = GuestAddress(DATA + (head & (RING_SIZE - 1)));
                let _ = mem.write_slice(&[pad as u8, (pad >> 8) as u8, 0, 0], at);
            }
            let _ = mem.write_slice(&rec, GuestAddress(DATA + pos));
            head += pad + size as u64;
        }
        let _ = mem.store(
            head,
            GuestAddress(RING + abi::trace::ring::HEAD),
            Ordering::Release,
        );
        let t = crate::cputime::thread_cpu_time();
        let _ = tracer.poll(&channel, &area);
        spent += crate::cputime::thread_cpu_time().saturating_sub(t);
    }
    (tracer.stats.events, spent)
}

#[cfg(test)]
mod tests {
    #[test]
    fn drain_benchmark_decodes_every_record() {
        // A 1 MiB ring holds 13107 80-byte sched_switch records; every switch must reach the
        // program.
        let (events, _) = super::measure_drain_rate(2);
        assert!(events >= 2 * 13_000, "{events}");
    }

    /// The host micro-benchmark alone (`cargo xtask bench --only trace` prints it too):
    /// `cargo test --release -p vmm drain_rate -- --ignored --nocapture`.
    #[test]
    #[ignore = "a benchmark"]
    fn drain_rate() {
        let (events, spent) = super::measure_drain_rate(400);
        let rate = events as f64 / spent.as_secs_f64();
        eprintln!(
            "drain: {events} events in {spent:?} of CPU time: {:.2} M events/s",
            rate / 1e6
        );
    }
}
