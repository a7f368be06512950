//! `--timeline out.json`: the guest's scheduling as a Chrome trace-event file, which
//! ui.perfetto.dev and Chrome DevTools (Performance panel) load. One track per CPU shows which task ran when
//! (slices named as Linux's `ps` names the task, so kernel threads read `swapper/0`,
//! `ksoftirqd/1`, `kworker/0:1-events`); wake-ups and softirqs are instant events on the CPU
//! they happened on.
//!
//! The CPUs are the threads of one made-up process. Its pid and their tids start at 1: pid and
//! tid 0 are Linux's idle task (`swapper`) to Perfetto, which handles them specially.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use abi::trace::{
    Event as _, SchedSwitch, SchedWakeup, SchedWakeupNew, SoftirqEntry, WorkqueueExecuteStart,
    WorkqueueQueueWork,
};

use super::channel::decode::Record;
use super::Value;

/// The events the timeline needs switched on (the workqueue ones name the kworkers).
pub const EVENTS: [u16; 6] = [
    SchedSwitch::ID,
    SchedWakeup::ID,
    SchedWakeupNew::ID,
    SoftirqEntry::ID,
    WorkqueueQueueWork::ID,
    WorkqueueExecuteStart::ID,
];

/// The trace-event pid of the process whose threads are the CPUs.
const CPUS_PID: u32 = 1;

/// The trace-event tid of a CPU's track (see the module comment for why not `cpu`).
fn cpu_tid(cpu: u32) -> u32 {
    cpu + 1
}

/// Bytes of a workqueue name a worker's description keeps (Linux's `WORKER_DESC_LEN`, less the
/// NUL).
const WORKER_DESC_MAX: usize = 23;

/// Linux's softirq names, by vector.
const SOFTIRQ_NAMES: [&str; 10] = [
    "HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "IRQ_POLL", "TASKLET", "SCHED", "HRTIMER", "RCU",
];

/// What one CPU is running since when.
struct Running {
    since_ns: u64,
    comm: String,
    pid: i64,
}

#[derive(Default)]
pub struct Timeline {
    /// Trace events, already rendered as JSON objects.
    events: Vec<String>,
    running: BTreeMap<u32, Running>,
    last_ns: u64,
    /// The workqueue each queued work item went on, by the item's address.
    work_queue: HashMap<u64, String>,
    /// A kworker's description, by tid: the workqueue it serves or last served (`worker->desc`).
    worker_desc: HashMap<i64, String>,
}

/// Microseconds with nanosecond precision, as the format wants.
fn us(ns: u64) -> String {
    format!("{}.{:03}", ns / 1000, ns % 1000)
}

/// A slice's duration from `start_ns` to `end_ns` (where the CPU's next slice starts), as
/// written: viewers add `ts + dur` in doubles, and a sum one ulp past the next slice's `ts`
/// makes them overlap, which Chrome DevTools resolves by dropping the next slice. Such a
/// duration is cut by a nanosecond or two.
fn slice_dur(start_ns: u64, end_ns: u64) -> u64 {
    let f = |ns: u64| us(ns).parse::<f64>().expect("a decimal number");
    let mut dur = end_ns.saturating_sub(start_ns);
    while dur > 0 && f(start_ns) + f(dur) > f(end_ns) {
        dur -= 1;
    }
    dur
}

fn text(v: Option<Value>) -> String {
    match v {
        Some(Value::Str(b)) => String::from_utf8_lossy(&b).into_owned(),
        _ => String::new(),
    }
}

fn int(v: Option<Value>) -> i64 {
    v.map_or(0, |v| v.as_int())
}

impl Timeline {
    /// Takes one record (in time order per CPU); others than [`EVENTS`] are ignored.
    pub fn record(&mut self, cpu: u32, ts_ns: u64, r: &Record<'_>) {
        self.last_ns = self.last_ns.max(ts_ns);
        match r.header.event {
            SchedSwitch::ID => {
                let prev = self.running.remove(&cpu);
                // The first switch seen on a CPU starts its track: `prev` ran from unknown.
                if let Some(p) = prev {
                    self.slice(cpu, &p, ts_ns);
                }
                self.running.insert(
                    cpu,
                    Running {
                        since_ns: ts_ns,
                        comm: text(r.field("next_comm")),
                        pid: int(r.field("next_pid")),
                    },
                );
            }
            SchedWakeup::ID | SchedWakeupNew::ID => {
                let what = if r.header.event == SchedWakeup::ID {
                    "wakeup"
                } else {
                    "wakeup_new"
                };
                let pid = int(r.field("pid"));
                let name = format!("{what} {}", self.task_name(&text(r.field("comm")), pid));
                let args = format!(
                    "{{\"pid\":{pid},\"target_cpu\":{}}}",
                    int(r.field("target_cpu"))
                );
                self.instant(cpu, ts_ns, &name, &args);
            }
            SoftirqEntry::ID => {
                let vec = int(r.field("vec"));
                let name = SOFTIRQ_NAMES
                    .get(vec as usize)
                    .map_or(format!("softirq {vec}"), |n| format!("softirq {n}"));
                self.instant(cpu, ts_ns, &name, &format!("{{\"vec\":{vec}}}"));
            }
            WorkqueueQueueWork::ID => {
                let mut wq = text(r.field("workqueue"));
                let mut end = wq.len().min(WORKER_DESC_MAX);
                while !wq.is_char_boundary(end) {
                    end -= 1;
                }
                wq.truncate(end);
                self.work_queue.insert(int(r.field("work")) as u64, wq);
            }
            WorkqueueExecuteStart::ID => {
                // Runs on the worker: the record's task is the kworker.
                if let Some(wq) = self.work_queue.get(&(int(r.field("work")) as u64)) {
                    self.worker_desc.insert(r.task.tid as i64, wq.clone());
                }
            }
            _ => {}
        }
    }

    /// The name `ps` gives a task (`wq_worker_comm`): a kworker's comm with the workqueue it
    /// serves or last served, known by the end of the slice; any other task's comm. A rescuer
    /// (named after its workqueue) runs items too, but is detached from any pool between them,
    /// so `ps` shows its bare comm.
    fn task_name(&self, comm: &str, pid: i64) -> String {
        match self.worker_desc.get(&pid) {
            Some(desc) if !desc.is_empty() && comm.starts_with("kworker/") => {
                format!("{comm}-{desc}")
            }
            _ => comm.to_string(),
        }
    }

    fn slice(&mut self, cpu: u32, r: &Running, end_ns: u64) {
        let name = self.task_name(&r.comm, r.pid);
        self.events.push(format!(
            "{{\"name\":{},\"ph\":\"X\",\"pid\":{CPUS_PID},\"tid\":{},\"ts\":{},\"dur\":{},\"args\":{{\"pid\":{}}}}}",
            super::json::string(&name),
            cpu_tid(cpu),
            us(r.since_ns),
            us(slice_dur(r.since_ns, end_ns)),
            r.pid
        ));
    }

    fn instant(&mut self, cpu: u32, ts_ns: u64, name: &str, args: &str) {
        self.events.push(format!(
            "{{\"name\":{},\"ph\":\"i\",\"s\":\"t\",\"pid\":{CPUS_PID},\"tid\":{},\"ts\":{},\"args\":{args}}}",
            super::json::string(name),
            cpu_tid(cpu),
            us(ts_ns)
        ));
    }

    /// The finished file: what still runs is closed at the last time seen; one named track per
    /// CPU (`cpus` of them).
    pub fn finish(mut self, cpus: u32) -> String {
        let end = self.last_ns;
        let running = std::mem::take(&mut self.running);
        for (cpu, r) in &running {
            self.slice(*cpu, r, end);
        }
        let mut out = String::from("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n");
        let _ = write!(
            out,
            "{{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":{CPUS_PID},\"args\":{{\"name\":\"guest CPUs\"}}}}"
        );
        for cpu in 0..cpus {
            let tid = cpu_tid(cpu);
            let _ = write!(
                out,
                ",\n{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":{CPUS_PID},\"tid\":{tid},\"args\":{{\"name\":\"CPU {cpu}\"}}}}\
                 ,\n{{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":{CPUS_PID},\"tid\":{tid},\"args\":{{\"sort_index\":{cpu}}}}}"
            );
        }
        for e in &self.events {
            out.push_str(",\n");
            out.push_str(e);
        }
        out.push_str("\n]}\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::channel::decode::Records;

    #[test]
    fn slices_per_cpu_and_instants() {
        let mut sw = SchedSwitch::default();
        sw.next_comm[..9].copy_from_slice(b"swapper/1");
        let mut sw2 = SchedSwitch::default();
        sw2.next_comm[..10].copy_from_slice(b"ksoftirq\"d");
        sw2.next_pid = 5;
        let mut wk = SchedWakeup::default();
        wk.comm[..2].copy_from_slice(b"sh");
        let mut data = crate::trace::channel::decode::tests::record(1, 0, &sw, &[]);
        data.extend(crate::trace::channel::decode::tests::record(1, 0, &wk, &[]));
        data.extend(crate::trace::channel::decode::tests::record(
            1,
            0,
            &sw2,
            &[],
        ));
        let recs: Vec<_> = Records::new(&data, &mut Default::default())
            .map(|r| r.unwrap())
            .collect();
        let mut t = Timeline::default();
        t.record(1, 1_000, &recs[0]);
        t.record(1, 1_500, &recs[1]);
        t.record(1, 3_000, &recs[2]);
        let soft = SoftirqEntry { vec: 7 };
        let data = crate::trace::channel::decode::tests::record(1, 0, &soft, &[]);
        let soft = Records::new(&data, &mut Default::default())
            .next()
            .unwrap()
            .unwrap();
        t.record(0, 4_000, &soft);
        let json = t.finish(2);
        assert!(json.contains(r#"{"name":"swapper/1","ph":"X","pid":1,"tid":2,"ts":1.000,"dur":2.000,"args":{"pid":0}}"#), "{json}");
        assert!(json.contains(r#"{"name":"ksoftirq\"d","ph":"X","pid":1,"tid":2,"ts":3.000,"dur":1.000,"args":{"pid":5}}"#), "{json}");
        assert!(json.contains(r#""name":"wakeup sh","ph":"i""#), "{json}");
        assert!(
            json.contains(r#""name":"softirq SCHED","ph":"i","s":"t","pid":1,"tid":1"#),
            "{json}"
        );
        assert!(json.contains(r#""args":{"name":"CPU 1"}"#), "{json}");
        assert!(json.starts_with("{\"displayTimeUnit\""));
    }

    /// Perfetto takes pid/tid 0 for Linux's idle task: no event may use them.
    #[test]
    fn no_pid_or_tid_zero() {
        let mut sw = SchedSwitch::default();
        sw.next_comm[..9].copy_from_slice(b"swapper/0");
        let data = crate::trace::channel::decode::tests::record(1, 0, &sw, &[]);
        let rec = Records::new(&data, &mut Default::default())
            .next()
            .unwrap()
            .unwrap();
        let mut t = Timeline::default();
        t.record(0, 1_000, &rec);
        let json = t.finish(2);
        assert!(!json.contains(r#""pid":0,"#), "{json}");
        assert!(!json.contains(r#""tid":0,"#), "{json}");
        assert!(
            json.contains(r#""pid":1,"tid":1,"args":{"name":"CPU 0"}"#),
            "{json}"
        );
        assert!(
            json.contains(r#""pid":1,"tid":1,"args":{"sort_index":0}"#),
            "{json}"
        );
        assert!(
            json.contains(r#"{"name":"swapper/0","ph":"X","pid":1,"tid":1,"#),
            "{json}"
        );
    }

    /// A kworker's slices carry the workqueue it served, as `ps` shows it.
    #[test]
    fn kworker_named_after_its_workqueue() {
        use abi::trace::DataLoc;
        let work = 0xffff_8000_0000_1000;
        use crate::trace::channel::decode::tests::record as rec;
        let wq = "events_freezable_power_efficient"; // cut to 23 bytes, as Linux's desc is
        let queue = WorkqueueQueueWork {
            work: abi::trace::Ptr(work),
            workqueue: DataLoc::after(std::mem::size_of::<WorkqueueQueueWork>(), wq.len()),
            ..Default::default()
        };
        let mut to_worker = SchedSwitch::default();
        to_worker.next_comm[..11].copy_from_slice(b"kworker/0:1");
        to_worker.next_pid = 9;
        let mut to_idle = SchedSwitch::default();
        to_idle.next_comm[..9].copy_from_slice(b"swapper/0");
        let start = WorkqueueExecuteStart {
            work: abi::trace::Ptr(work),
            ..Default::default()
        };
        let mut to_rescuer = SchedSwitch::default();
        to_rescuer.next_comm[..12].copy_from_slice(b"mm_percpu_wq");
        to_rescuer.next_pid = 6;
        let mut wake_worker = SchedWakeup::default();
        wake_worker.comm[..11].copy_from_slice(b"kworker/0:1");
        wake_worker.pid = 9;
        let data = [
            rec(3, 0, &queue, wq.as_bytes()),
            rec(0, 0, &to_worker, &[]),
            rec(9, 0, &start, &[]),
            rec(9, 0, &to_idle, &[]),
            rec(0, 0, &to_rescuer, &[]),
            rec(6, 0, &start, &[]),
            rec(6, 0, &to_worker, &[]),
            rec(6, 0, &wake_worker, &[]),
        ]
        .concat();
        let recs: Vec<_> = Records::new(&data, &mut Default::default())
            .map(|r| r.unwrap())
            .collect();
        let mut t = Timeline::default();
        for (i, r) in recs.iter().enumerate() {
            t.record(0, 1_000 * (i as u64 + 1), r);
        }
        let json = t.finish(1);
        let name = r#""name":"kworker/0:1-events_freezable_power_","ph":"X""#;
        assert_eq!(json.matches(name).count(), 2, "{json}");
        assert!(!json.contains(r#""name":"kworker/0:1","#), "{json}");
        assert!(json.contains(r#""name":"mm_percpu_wq","#), "{json}");
        assert!(!json.contains(r#""name":"mm_percpu_wq-"#), "{json}");
        let wakeup = r#""name":"wakeup kworker/0:1-events_freezable_power_","ph":"i""#;
        assert!(json.contains(wakeup), "{json}");
    }

    /// Back-to-back slices never overlap once the viewer adds `ts + dur` in doubles.
    #[test]
    fn slices_end_where_the_next_starts() {
        let f = |s: String| s.parse::<f64>().unwrap();
        // From a real timeline: 162469.499 + 5481.991 is 167951.49000000002 in doubles.
        let (start, end) = (162_469_499, 167_951_490);
        assert!(f(us(start)) + f(us(end - start)) > f(us(end)));
        assert_eq!(slice_dur(start, end), end - start - 1);
        for (start, end) in [(start, end), (1_305_088_335, 1_327_809_039), (5, 5), (0, 7)] {
            let dur = slice_dur(start, end);
            assert!(f(us(start)) + f(us(dur)) <= f(us(end)), "{start} {end}");
            assert!(end - start - dur <= 2, "{start} {end}");
        }
    }
}
