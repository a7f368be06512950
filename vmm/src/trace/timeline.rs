//! `--timeline out.json`: the guest's scheduling as a Chrome trace-event file, which
//! ui.perfetto.dev and chrome://tracing load. One track per CPU shows which task ran when
//! (slices named by `comm`, so kernel threads read `swapper/0`, `ksoftirqd/1`, `kworker/0:1`);
//! wake-ups and softirqs are instant events on the CPU they happened on.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use abi::trace::{Event as _, SchedSwitch, SchedWakeup, SchedWakeupNew, SoftirqEntry};

use super::channel::decode::Record;
use super::Value;

/// The events the timeline needs switched on.
pub const EVENTS: [u16; 4] = [
    SchedSwitch::ID,
    SchedWakeup::ID,
    SchedWakeupNew::ID,
    SoftirqEntry::ID,
];

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
}

/// Microseconds with nanosecond precision, as the format wants.
fn us(ns: u64) -> String {
    format!("{}.{:03}", ns / 1000, ns % 1000)
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
                let name = format!("{what} {}", text(r.field("comm")));
                let args = format!(
                    "{{\"pid\":{},\"target_cpu\":{}}}",
                    int(r.field("pid")),
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
            _ => {}
        }
    }

    fn slice(&mut self, cpu: u32, r: &Running, end_ns: u64) {
        self.events.push(format!(
            "{{\"name\":{},\"ph\":\"X\",\"pid\":0,\"tid\":{cpu},\"ts\":{},\"dur\":{},\"args\":{{\"pid\":{}}}}}",
            super::json::string(&r.comm),
            us(r.since_ns),
            us(end_ns.saturating_sub(r.since_ns)),
            r.pid
        ));
    }

    fn instant(&mut self, cpu: u32, ts_ns: u64, name: &str, args: &str) {
        self.events.push(format!(
            "{{\"name\":{},\"ph\":\"i\",\"s\":\"t\",\"pid\":0,\"tid\":{cpu},\"ts\":{},\"args\":{args}}}",
            super::json::string(name),
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
        out.push_str(
            "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":0,\"args\":{\"name\":\"guest CPUs\"}}",
        );
        for cpu in 0..cpus {
            let _ = write!(
                out,
                ",\n{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":0,\"tid\":{cpu},\"args\":{{\"name\":\"CPU {cpu}\"}}}}"
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
        assert!(json.contains(r#"{"name":"swapper/1","ph":"X","pid":0,"tid":1,"ts":1.000,"dur":2.000,"args":{"pid":0}}"#), "{json}");
        assert!(json.contains(r#"{"name":"ksoftirq\"d","ph":"X","pid":0,"tid":1,"ts":3.000,"dur":1.000,"args":{"pid":5}}"#), "{json}");
        assert!(json.contains(r#""name":"wakeup sh","ph":"i""#), "{json}");
        assert!(
            json.contains(r#""name":"softirq SCHED","ph":"i","s":"t","pid":0,"tid":0"#),
            "{json}"
        );
        assert!(json.contains(r#""args":{"name":"CPU 1"}"#), "{json}");
        assert!(json.starts_with("{\"displayTimeUnit\""));
    }
}
