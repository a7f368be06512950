//! Decoding the records drained from a guest ring (`abi::trace`), trusting nothing: every size,
//! id and string location is checked, and a bad record is reported and skipped, never a panic
//! and never a read outside the bytes drained.
//!
//! A ring's `TaskInfo` records say whose the records after them are, and so does a
//! `sched_switch` (its `next_pid`, as that ring last described it): the decoder keeps the
//! CPU's current task and the threads its ring described ([`RingTasks`], carried across
//! drains) and stamps the current one on each record.

use std::sync::OnceLock;

use abi::trace::{
    Event as _, EventDesc, FieldDesc, FieldKind, RecordHeader, SchedSwitch, TaskInfo, EVENTS,
    EVENT_HAS_FETCH, EVENT_HAS_STACK, EVENT_PAD, MAX_EVENTS, MAX_STACK_FRAMES, RECORD_ALIGN,
    RECORD_HEADER_SIZE,
};

use super::fetch::Fetched;
pub use super::tasks::{RingTasks, TaskIdentity};
use crate::trace::compile::{RawField, RawKind};
use crate::trace::{FieldRoot, FieldSource, Value};

/// One well-formed record.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub header: RecordHeader,
    /// Whose record it is (the ring's latest `TaskInfo` before it).
    pub task: TaskIdentity,
    pub desc: &'static EventDesc,
    /// The payload struct and any `__data_loc` bytes after it (the record minus its header).
    pub payload: &'a [u8],
    /// The kernel stack trailer's frames (little-endian u64s, innermost first), if any.
    pub stack: &'a [u8],
    /// The values of the site's pointer paths, read at the event, if the record has them.
    pub fetched: Option<Fetched<'a>>,
}

/// What went wrong with a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Corrupt {
    #[error("record size {0} at offset {1} is not a multiple of 8 or too small")]
    BadSize(usize, usize),
    #[error("record at offset {1} claims {0} bytes, past the end of the data")]
    Overrun(usize, usize),
    #[error("unknown event id {0} at offset {1}")]
    UnknownEvent(u16, usize),
    #[error("event {0} record at offset {1} is shorter than its payload")]
    ShortPayload(&'static str, usize),
    #[error("event {0} record at offset {1} has a bad stack trailer")]
    BadStack(&'static str, usize),
    #[error("event {0} record at offset {1} has a bad fetch trailer")]
    BadFetch(&'static str, usize),
}

/// Iterates over the records in `data` (bytes drained from one ring, starting at a record
/// boundary). Pads are skipped, and `TaskInfo` records update `tasks` (the CPU's, kept by the
/// caller from one drain to the next) instead of being returned; a `sched_switch` is returned
/// as its previous task's, then makes the next one current. After a corrupt size the rest
/// of `data` can't be framed, so the iterator reports it once and stops; a record with a good
/// size but bad contents is reported and skipped.
pub struct Records<'a, 't> {
    data: &'a [u8],
    pos: usize,
    tasks: &'t mut RingTasks,
}

impl<'a, 't> Records<'a, 't> {
    pub fn new(data: &'a [u8], tasks: &'t mut RingTasks) -> Self {
        Records {
            data,
            pos: 0,
            tasks,
        }
    }
}

/// The event with id `id`: one index into a table built on first use (not a search of the
/// event list per record).
pub fn event(id: u16) -> Option<&'static EventDesc> {
    static BY_ID: OnceLock<[Option<&'static EventDesc>; MAX_EVENTS]> = OnceLock::new();
    let table = BY_ID.get_or_init(|| {
        let mut t = [None; MAX_EVENTS];
        for e in EVENTS {
            if let Some(slot) = t.get_mut(usize::from(e.id)) {
                *slot = Some(e);
            }
        }
        t
    });
    *table.get(usize::from(id))?
}

/// The size and event id that start every record, pads included.
fn size_and_event(data: &[u8]) -> Option<(usize, u16)> {
    let b = data.get(..4)?;
    Some((
        u16::from_le_bytes([b[0], b[1]]) as usize,
        u16::from_le_bytes([b[2], b[3]]),
    ))
}

/// The bytes of a record header (the inverse of `header_at`), for tests and the drain
/// benchmark, which play the guest.
pub fn encode_record_header(h: &RecordHeader) -> [u8; RECORD_HEADER_SIZE] {
    let mut b = [0u8; RECORD_HEADER_SIZE];
    b[0..2].copy_from_slice(&h.size.to_le_bytes());
    b[2..4].copy_from_slice(&h.event.to_le_bytes());
    b[4..8].copy_from_slice(&h.reserved.to_le_bytes());
    b[8..16].copy_from_slice(&h.tsc.to_le_bytes());
    b
}

fn header_at(data: &[u8]) -> Option<RecordHeader> {
    let b: &[u8; RECORD_HEADER_SIZE] = data.get(..RECORD_HEADER_SIZE)?.try_into().ok()?;
    Some(RecordHeader {
        size: u16::from_le_bytes([b[0], b[1]]),
        event: u16::from_le_bytes([b[2], b[3]]),
        reserved: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        tsc: u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]),
    })
}

impl<'a> Iterator for Records<'a, '_> {
    type Item = Result<Record<'a>, Corrupt>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let rest = self.data.get(self.pos..)?;
            if rest.is_empty() {
                return None;
            }
            let at = self.pos;
            let Some((size, event_id)) = size_and_event(rest) else {
                self.pos = self.data.len();
                return Some(Err(Corrupt::Overrun(RECORD_ALIGN, at)));
            };
            // A pad is only its size and id (it may be as short as 8 bytes).
            let min = if event_id == EVENT_PAD {
                RECORD_ALIGN
            } else {
                RECORD_HEADER_SIZE
            };
            if size < min || size % RECORD_ALIGN != 0 {
                self.pos = self.data.len();
                return Some(Err(Corrupt::BadSize(size, at)));
            }
            if size > rest.len() {
                self.pos = self.data.len();
                return Some(Err(Corrupt::Overrun(size, at)));
            }
            self.pos += size;
            if event_id == EVENT_PAD {
                continue;
            }
            let Some(mut header) = header_at(rest) else {
                return Some(Err(Corrupt::Overrun(RECORD_HEADER_SIZE, at)));
            };
            let has_stack = header.event & EVENT_HAS_STACK != 0;
            let has_fetch = header.event & EVENT_HAS_FETCH != 0;
            header.event &= !(EVENT_HAS_STACK | EVENT_HAS_FETCH);
            let Some(desc) = event(header.event) else {
                return Some(Err(Corrupt::UnknownEvent(header.event, at)));
            };
            let payload = &rest[RECORD_HEADER_SIZE..size];
            if payload.len() < desc.payload_size {
                return Some(Err(Corrupt::ShortPayload(desc.name, at)));
            }
            if header.event == TaskInfo::ID {
                if let Some(t) = TaskIdentity::from_payload(payload) {
                    self.tasks.describe(t);
                }
                continue;
            }
            // The stack trailer is last; the fetch trailer ends where it starts.
            let (stack, stack_start) = if has_stack {
                match stack_trailer(payload, desc.payload_size) {
                    Some(s) => s,
                    None => return Some(Err(Corrupt::BadStack(desc.name, at))),
                }
            } else {
                (&[][..], payload.len())
            };
            let fetched = if has_fetch {
                match Fetched::parse(payload, stack_start, desc.payload_size) {
                    Some((f, _)) => Some(f),
                    None => return Some(Err(Corrupt::BadFetch(desc.name, at))),
                }
            } else {
                None
            };
            let task = self.tasks.current;
            if header.event == SchedSwitch::ID {
                let (tid, comm) = switched_to(payload);
                self.tasks.switch_to(tid, comm);
            }
            return Some(Ok(Record {
                header,
                task,
                desc,
                payload,
                stack,
                fetched,
            }));
        }
    }
}

/// A `sched_switch` payload's `next_pid` and `next_comm` (the payload is at least the
/// struct's size, checked by the caller).
fn switched_to(payload: &[u8]) -> (u32, [u8; 16]) {
    let pid_at = std::mem::offset_of!(SchedSwitch, next_pid);
    let comm_at = std::mem::offset_of!(SchedSwitch, next_comm);
    let pid = u32::from_le_bytes(payload[pid_at..pid_at + 4].try_into().expect("4 bytes"));
    let comm = payload[comm_at..comm_at + 16].try_into().expect("16 bytes");
    (pid, comm)
}

/// The frames of a stack trailer and where it starts: the record's last u64 counts the u64s
/// before it, which must fit after the payload struct.
fn stack_trailer(payload: &[u8], fixed: usize) -> Option<(&[u8], usize)> {
    let count_at = payload.len().checked_sub(8)?;
    let n = u64::from_le_bytes(payload[count_at..].try_into().ok()?);
    let n = usize::try_from(n).ok().filter(|&n| n <= MAX_STACK_FRAMES)?;
    let start = count_at.checked_sub(8 * n).filter(|&s| s >= fixed)?;
    Some((&payload[start..count_at], start))
}

/// The bytes of a NUL-padded or NUL-terminated string.
pub fn c_str(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

/// The argument registers' fields of the function tracer's records.
pub const ARG_FIELDS: [&str; 6] = ["arg0", "arg1", "arg2", "arg3", "arg4", "arg5"];

/// Where a field of the ABI's records is, for the engine to read it.
pub fn raw_field(f: &FieldDesc) -> RawField {
    RawField {
        offset: f.offset,
        size: f.size,
        kind: match f.kind {
            FieldKind::Int => RawKind::Signed,
            FieldKind::Uint | FieldKind::Ptr => RawKind::Unsigned,
            FieldKind::Chars => RawKind::Chars,
            FieldKind::DataLoc => RawKind::DataLoc,
        },
    }
}

/// A field's value; `None` if the record doesn't hold it (a `__data_loc` pointing outside).
pub fn field_value(payload: &[u8], f: &FieldDesc) -> Option<Value> {
    raw_field(f).read(payload)
}

impl Record<'_> {
    pub fn field(&self, name: &str) -> Option<Value> {
        let f = self.desc.fields.iter().find(|f| f.name == name)?;
        field_value(self.payload, f)
    }

    pub fn comm(&self) -> &[u8] {
        c_str(&self.task.comm)
    }

    /// The kernel stack the record carries, innermost first (empty without one).
    pub fn frames(&self) -> Vec<u64> {
        self.stack
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect()
    }
}

impl FieldSource for Record<'_> {
    fn field(&self, root: FieldRoot, path: &[String]) -> Option<Value> {
        match (root, path) {
            (FieldRoot::Args, [name]) => Record::field(self, name),
            (FieldRoot::Curtask, [name]) => match name.as_str() {
                "comm" => Some(Value::string(self.comm())),
                // task_struct's `pid` is the thread id, `tgid` the process id.
                "pid" => Some(Value::Int(self.task.tid as i64)),
                "tgid" => Some(Value::Int(self.task.pid as i64)),
                _ => None,
            },
            // The parent process as the record's TaskInfo saw it (its thread-group id: the
            // kernel's parent link is to a process).
            (FieldRoot::Curtask, [parent, f])
                if parent == "real_parent" && matches!(f.as_str(), "pid" | "tgid") =>
            {
                Some(Value::Int(self.task.ppid as i64))
            }
            // Function records carry the argument registers and the return value.
            (FieldRoot::Arg(n), []) => Record::field(self, ARG_FIELDS.get(n as usize)?),
            (FieldRoot::Retval, []) => Record::field(self, "retval"),
            _ => None,
        }
    }

    fn kstack(&self) -> Option<Vec<u64>> {
        Some(self.frames())
    }

    fn raw(&self) -> &[u8] {
        self.payload
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use abi::trace::{
        record_size, DataLoc, Event, SchedProcessExec, SchedSwitch, SchedWakeup, TaskInfo,
    };

    #[allow(unsafe_code)]
    fn bytes_of<T: Copy>(v: &T) -> Vec<u8> {
        let size = std::mem::size_of::<T>();
        // Plain old data from abi::trace, built field by field in these tests.
        let mut out = vec![0u8; size];
        // SAFETY: `v` is a valid T of `size` bytes; `out` has room for them.
        unsafe {
            std::ptr::copy_nonoverlapping(v as *const T as *const u8, out.as_mut_ptr(), size)
        };
        out
    }

    /// A record of `payload` and `extra`, preceded by a TaskInfo record naming thread `tid`
    /// of a task called "task" (as the guest writes when the task changes).
    pub(crate) fn record<E: Event>(tid: u32, tsc: u64, payload: &E, extra: &[u8]) -> Vec<u8> {
        let mut out = task_info(tid, b"task");
        out.extend(bare_record(tsc, payload, extra));
        out
    }

    /// Just the record.
    pub(crate) fn bare_record<E: Event>(tsc: u64, payload: &E, extra: &[u8]) -> Vec<u8> {
        raw_record(E::ID, tsc, &[bytes_of(payload).as_slice(), extra].concat())
    }

    fn raw_record(event: u16, tsc: u64, payload: &[u8]) -> Vec<u8> {
        let size = record_size(payload.len());
        let h = RecordHeader {
            size: size as u16,
            event,
            reserved: 0,
            tsc,
        };
        let mut out = encode_record_header(&h).to_vec();
        assert_eq!(header_at(&out), Some(h));
        out.extend_from_slice(payload);
        out.resize(size, 0);
        out
    }

    /// The TaskInfo record for thread `tid` (its own process, parent 1) called `comm`.
    pub(crate) fn task_info(tid: u32, comm: &[u8]) -> Vec<u8> {
        let mut t = TaskIdentity {
            task: 0xffff_8000_0012_3400 + u64::from(tid),
            tid,
            pid: tid,
            uid: 0,
            ppid: 1,
            comm: [0; 16],
        };
        t.comm[..comm.len()].copy_from_slice(comm);
        assert_eq!(TaskIdentity::from_payload(&t.encode()), Some(t));
        raw_record(TaskInfo::ID, 0, &t.encode())
    }

    fn decode(data: &[u8]) -> Vec<Result<Record<'_>, Corrupt>> {
        Records::new(data, &mut RingTasks::default()).collect()
    }

    fn first(data: &[u8]) -> Option<Result<Record<'_>, Corrupt>> {
        decode(data).into_iter().next()
    }

    fn switch(prev: &str, next: &str) -> SchedSwitch {
        let mut s = SchedSwitch::default();
        s.prev_comm[..prev.len()].copy_from_slice(prev.as_bytes());
        s.next_comm[..next.len()].copy_from_slice(next.as_bytes());
        s.prev_pid = 7;
        s.prev_state = -1;
        s.next_pid = 8;
        s
    }

    #[test]
    fn decodes_fields_and_skips_pads() {
        let mut data = record(3, 100, &switch("sh", "ps"), &[]);
        // A pad shorter than a header: only its size and id.
        data.extend([8u8, 0, 0, 0, 0xee, 0xee, 0xee, 0xee]);
        let name = b"/bin/ps";
        let exec = SchedProcessExec {
            filename: DataLoc::after(std::mem::size_of::<SchedProcessExec>(), name.len()),
            pid: 9,
            old_pid: 9,
        };
        data.extend(record(9, 200, &exec, name));
        let recs: Vec<_> = decode(&data).into_iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].desc.name, "sched_switch");
        assert_eq!(recs[0].field("prev_comm"), Some(Value::string(b"sh")));
        assert_eq!(recs[0].field("next_pid"), Some(Value::Int(8)));
        assert_eq!(recs[0].field("prev_state"), Some(Value::Int(-1)));
        assert_eq!(recs[0].field("nope"), None);
        assert_eq!(recs[1].field("filename"), Some(Value::string(b"/bin/ps")));
        assert_eq!(recs[1].header.tsc, 200);
        assert_eq!(recs[1].comm(), b"task");
        let task = |f: &str| FieldSource::field(&recs[1], FieldRoot::Curtask, &[f.to_string()]);
        assert_eq!(task("pid"), Some(Value::Int(9)));
        assert_eq!(task("comm"), Some(Value::string(b"task")));
        let parent = ["real_parent".to_string(), "pid".to_string()];
        assert_eq!(
            FieldSource::field(&recs[1], FieldRoot::Curtask, &parent),
            Some(Value::Int(1))
        );
        assert_eq!(recs[0].task.tid, 3);
    }

    fn wakeup(pid: i32) -> SchedWakeup {
        SchedWakeup {
            pid,
            ..SchedWakeup::default()
        }
    }

    #[test]
    fn task_info_names_the_records_after_it_across_drains() {
        let mut cpu = RingTasks::default();
        let mut first_drain = task_info(5, b"sh");
        first_drain.extend(bare_record(1, &wakeup(9), &[]));
        let recs: Vec<_> = Records::new(&first_drain, &mut cpu).flatten().collect();
        assert_eq!((recs.len(), recs[0].comm()), (1, b"sh".as_slice()));
        // The next drain starts with no TaskInfo: the CPU's task is still sh.
        let second = bare_record(2, &wakeup(9), &[]);
        let recs: Vec<_> = Records::new(&second, &mut cpu).flatten().collect();
        assert_eq!((recs[0].task.tid, recs[0].comm()), (5, b"sh".as_slice()));
        // A short TaskInfo is corrupt and changes nothing.
        let mut bad = raw_record(TaskInfo::ID, 0, &[1; 8]);
        bad.extend(bare_record(3, &wakeup(9), &[]));
        let out: Vec<_> = Records::new(&bad, &mut cpu).collect();
        assert!(matches!(out[0], Err(Corrupt::ShortPayload("task_info", 0))));
        assert_eq!(out[1].as_ref().unwrap().task.tid, 5);
    }

    #[test]
    fn sched_switch_makes_the_next_task_current() {
        let mut cpu = RingTasks::default();
        // The ring described 8 ("b") once, then 7 ("a"), which switches to 8: no TaskInfo.
        let mut data = task_info(8, b"b");
        data.extend(task_info(7, b"a"));
        data.extend(bare_record(1, &switch("a", "b"), &[]));
        data.extend(bare_record(2, &wakeup(7), &[]));
        let recs: Vec<_> = Records::new(&data, &mut cpu).flatten().collect();
        // The switch is the previous task's; what follows is the next one's, as described.
        assert_eq!((recs[0].task.tid, recs[0].comm()), (7, b"a".as_slice()));
        assert_eq!((recs[1].task.tid, recs[1].comm()), (8, b"b".as_slice()));
        assert_eq!(recs[1].task.task, 0xffff_8000_0012_3400 + 8);
        // Across drains too, and back.
        let mut back = switch("b", "a");
        (back.prev_pid, back.next_pid) = (8, 7);
        let mut data = bare_record(3, &back, &[]);
        data.extend(bare_record(4, &wakeup(8), &[]));
        let recs: Vec<_> = Records::new(&data, &mut cpu).flatten().collect();
        assert_eq!((recs[0].task.tid, recs[1].task.tid), (8, 7));
        assert_eq!(recs[1].comm(), b"a");
    }

    #[test]
    fn sched_switch_to_an_undescribed_task_uses_the_record_until_its_task_info() {
        let mut cpu = RingTasks::default();
        let mut s = switch("a", "new");
        s.next_pid = 42;
        let mut data = task_info(7, b"a");
        data.extend(bare_record(1, &s, &[]));
        data.extend(bare_record(2, &wakeup(1), &[]));
        // What the guest writes when the host cannot know the task: its TaskInfo.
        data.extend(task_info(42, b"new-exec"));
        data.extend(bare_record(3, &wakeup(1), &[]));
        let recs: Vec<_> = Records::new(&data, &mut cpu).flatten().collect();
        assert_eq!((recs[1].task.tid, recs[1].comm()), (42, b"new".as_slice()));
        assert_eq!(recs[1].task.task, 0);
        assert_eq!(
            (recs[2].task.tid, recs[2].comm()),
            (42, b"new-exec".as_slice())
        );
    }

    #[test]
    fn corrupt_input_is_reported_not_trusted() {
        let good = bare_record(1, &switch("a", "b"), &[]);
        // A size that is not a multiple of 8 stops the framing.
        let mut bad = good.clone();
        bad[0] = 41;
        bad.extend(&good);
        let out = decode(&bad);
        assert!(matches!(out.as_slice(), [Err(Corrupt::BadSize(41, 0))]));
        // A size past the end.
        let mut bad = good.clone();
        bad[0..2].copy_from_slice(&4000u16.to_le_bytes());
        assert!(matches!(first(&bad), Some(Err(Corrupt::Overrun(4000, 0)))));
        // An unknown id is skipped; the next record still decodes.
        let mut bad = good.clone();
        bad[2..4].copy_from_slice(&250u16.to_le_bytes());
        bad.extend(&good);
        let out = decode(&bad);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].as_ref().unwrap_err(), &Corrupt::UnknownEvent(250, 0));
        assert!(out[1].is_ok());
        // A record too short for its payload.
        let mut bad = good[..48].to_vec();
        bad[0..2].copy_from_slice(&48u16.to_le_bytes());
        assert!(matches!(first(&bad), Some(Err(Corrupt::ShortPayload(..)))));
        // A header cut short, and a zero size (would loop forever if trusted).
        assert!(matches!(
            first(&good[..20]),
            Some(Err(Corrupt::Overrun(..)))
        ));
        assert!(matches!(
            first(&[0u8; 64]),
            Some(Err(Corrupt::BadSize(0, 0)))
        ));
        // A data_loc pointing outside the record reads as nothing.
        let exec = SchedProcessExec {
            filename: DataLoc(0xffff_ffff),
            pid: 1,
            old_pid: 1,
        };
        let data = bare_record(1, &exec, b"x");
        let rec = first(&data).unwrap().unwrap();
        assert_eq!(rec.field("filename"), None);
        assert_eq!(rec.field("pid"), Some(Value::Int(1)));
    }

    /// A sched_switch record with a stack trailer of `frames` and the count `n`.
    fn with_stack(frames: &[u64], n: u64) -> Vec<u8> {
        let mut trailer: Vec<u8> = frames.iter().flat_map(|f| f.to_le_bytes()).collect();
        trailer.extend(n.to_le_bytes());
        let mut r = bare_record(1, &switch("a", "b"), &trailer);
        let ev = u16::from_le_bytes([r[2], r[3]]) | EVENT_HAS_STACK;
        r[2..4].copy_from_slice(&ev.to_le_bytes());
        r
    }

    #[test]
    fn stacks_ride_at_the_end_of_records() {
        let data = with_stack(&[0xffff_ffff_8000_1000, 0xffff_ffff_8000_2000], 2);
        let r = first(&data).unwrap().unwrap();
        assert_eq!(
            r.header.event,
            SchedSwitch::ID,
            "the flag is not part of the id"
        );
        assert_eq!(r.frames(), [0xffff_ffff_8000_1000, 0xffff_ffff_8000_2000]);
        assert_eq!(r.field("next_pid"), Some(Value::Int(8)));
        // A count reaching into the payload, or past the most frames, is corrupt.
        for bad in [
            with_stack(&[1], 9),
            with_stack(&[1], u64::MAX),
            with_stack(&[], 17),
        ] {
            assert!(matches!(
                first(&bad),
                Some(Err(Corrupt::BadStack("sched_switch", 0)))
            ));
        }
        // Without the flag, no stack.
        let plain = record(1, 1, &switch("a", "b"), &[]);
        assert!(first(&plain).unwrap().unwrap().frames().is_empty());
    }

    #[test]
    fn fetched_values_ride_before_the_stack() {
        use abi::trace::fetch::Trailer;
        let with = |bytes: u32| {
            let mut trailer = b"init".to_vec();
            trailer.resize(16, 0);
            trailer.extend(
                Trailer {
                    ok: 1,
                    count: 1,
                    bytes,
                }
                .to_bytes(),
            );
            trailer.extend(0xffff_ffff_8000_1000u64.to_le_bytes());
            trailer.extend(1u64.to_le_bytes());
            let mut r = bare_record(1, &switch("a", "b"), &trailer);
            let ev = u16::from_le_bytes([r[2], r[3]]) | EVENT_HAS_STACK | EVENT_HAS_FETCH;
            r[2..4].copy_from_slice(&ev.to_le_bytes());
            r
        };
        let data = with(16);
        let r = first(&data).unwrap().unwrap();
        assert_eq!(r.header.event, SchedSwitch::ID);
        assert_eq!(r.frames(), [0xffff_ffff_8000_1000]);
        let f = r.fetched.unwrap();
        assert_eq!((f.trailer.count, &f.slots[..5]), (1, &b"init\0"[..]));
        assert_eq!(r.field("next_pid"), Some(Value::Int(8)));
        // Values reaching into the payload struct, or not in slots, are corrupt.
        for bad in [with(4096), with(12)] {
            assert!(matches!(
                first(&bad),
                Some(Err(Corrupt::BadFetch("sched_switch", 0)))
            ));
        }
    }

    #[test]
    fn garbage_never_panics() {
        // Deterministic pseudo-random bytes, including plausible headers.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200 {
            let mut data = vec![0u8; 512];
            for b in data.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            data[0] = (x as u8) & 0xf8;
            data[1] = 0;
            // Some chunks as TaskInfo records, whose payload becomes the CPU's task, some as
            // switches to whatever thread their bytes name.
            if x.is_multiple_of(3) {
                data[2..4].copy_from_slice(&TaskInfo::ID.to_le_bytes());
            } else if x.is_multiple_of(5) {
                data[2..4].copy_from_slice(&SchedSwitch::ID.to_le_bytes());
            }
            let mut task = RingTasks::default();
            for r in Records::new(&data, &mut task).flatten() {
                let _ = r.comm();
                for f in r.desc.fields {
                    let _ = field_value(r.payload, f);
                }
            }
        }
    }
}
