//! The trace channel: how tracepoint records get from the guest kernel to `vmm trace`.
//!
//! The guest owns everything in memory; the host only reads it (and writes the control page and
//! each ring's tail):
//!
//! ```text
//! virtio config space ── area GPA ──▶ AreaHeader (guest-written once)
//!                                      ├─ control_gpa ─▶ Control   (host-written: which events, filters)
//!                                      ├─ ring_gpa[cpu] ─▶ RingHeader (head, tail, lost)
//!                                      └─ data_gpa[cpu] ─▶ the CPU's record data
//! ```
//!
//! A ring is a single-producer (its CPU, interrupts off) single-consumer (the host) byte ring of
//! 8-byte-aligned records. `head` and `tail` count bytes since the start and never wrap; the
//! record at `head % size` always fits before the end of the data (the producer pads with a
//! [`EVENT_PAD`] record instead of splitting one). A record that does not fit in the free space is
//! dropped and counted in `lost`: the guest never waits for the host.
//!
//! Each record is a [`RecordHeader`] (size, event id, TSC: 16 bytes) followed by its event's
//! payload, a `#[repr(C)]` struct declared below together with its field table ([`EVENTS`]),
//! which the host uses to decode fields by name. Field names are Linux's
//! (`/sys/kernel/tracing/events/*/*/format`).
//!
//! Who a record belongs to (task, tid, pid, uid, comm, parent) is not repeated in every record:
//! the producer writes a [`TaskInfo`] record whenever the task it records for differs from the
//! one in [`RingHeader::task`], and every record after it in that ring, up to the next
//! `TaskInfo`, belongs to that task (Linux's ftrace keeps comms aside the same way, perf with
//! its COMM records). The guest writes a new one when a task's identity changes (rename, exec,
//! setuid, reparenting), and the host asks for one by writing [`TASK_UNKNOWN`] into
//! `RingHeader::task` when it attaches.
//!
//! A context switch does not need one either when the ring has described the next task before:
//! after a [`SchedSwitch`] record, the ring's records are `next_pid`'s, whose identity the host
//! takes from the latest `TaskInfo` for that thread id in the same ring. The guest relies on
//! that only when it knows the host has one: the task was described in this ring since its
//! identity last changed, during the host's current session ([`Control::session`], which the
//! host changes when it attaches). Otherwise it writes a `TaskInfo` before the next task's
//! first record, which overrides what the host derived.
//!
//! The producer's fast path does not compare tasks per record, nor read the event's control
//! byte again: it only checks `head + size <= RingHeader::limit`. Whatever makes the ring's
//! task stale (a context switch to another task, [`TASK_UNKNOWN`] from the host or
//! `forget_task`), or asks for more than a plain record ([`Control::slow`]), also zeroes
//! `limit`, which sends the next record down the slow path that writes the `TaskInfo` and
//! looks at the control byte. The host does that by
//! storing `task`, a full fence, then `limit`; the producer sets a new limit with an atomic
//! swap (a full fence) and then looks at `task` again, so one of the two sees the other.

pub mod fetch;

/// Virtio device ID of the trace device (outside the range OASIS assigns; "WT").
pub const VIRTIO_ID_TRACE: u32 = 0x5754;
/// Version of this module's layouts; the host refuses an area with another.
pub const TRACE_ABI_VERSION: u32 = 6;
/// `AreaHeader::magic`.
pub const AREA_MAGIC: u64 = u64::from_le_bytes(*b"WVMTRACE");
/// Most CPUs an area describes.
pub const MAX_CPUS: usize = 32;

/// Where the kernel keeps what the host reads by address (`args->p->field`, `str(ptr)`): the
/// direct map of the first [`DIRECT_MAP_SIZE`] bytes of physical memory at
/// [`DIRECT_MAP_BASE`] (heap objects, kernel stacks), and the image at [`KERNEL_IMAGE_BASE`]
/// (statics). Both map physical memory linearly, so the host translates without walking page
/// tables.
pub const DIRECT_MAP_BASE: u64 = 0xffff_8000_0000_0000;
pub const DIRECT_MAP_SIZE: u64 = 4 << 30;
pub const KERNEL_IMAGE_BASE: u64 = 0xffff_ffff_8000_0000;
/// The kernel's type for a task's `comm`: 16 bytes kept as words (so tracepoints read it
/// without a lock), which the host reads as a string.
pub const COMM_TYPE_NAME: &str = "TaskComm";
/// The kernel's task structure, which a record's `task` points at (`curtask->field`).
pub const TASK_TYPE_NAME: &str = "Task";
/// Size of the event-id space (the control page has one byte per id).
pub const MAX_EVENTS: usize = 256;
/// Record alignment.
pub const RECORD_ALIGN: usize = 8;
/// A filler record: skip `size` bytes (the rest of the data area before the ring wraps).
pub const EVENT_PAD: u16 = 0;

/// A control byte of exactly [`CONTROL_ON`] takes the guest's fast path; any other bit sends
/// the event through its slow path, which looks at what the bit asks for.
pub const CONTROL_ON: u8 = 1;
/// A control byte with this bit also asks for the kernel stack (`kstack`) in each record.
pub const CONTROL_STACK: u8 = 2;
/// A control byte with this bit makes the guest apply [`Control`]'s filters (the host sets it on
/// every enabled event while a filter is set).
pub const CONTROL_FILTER: u8 = 4;
/// A control byte with this bit makes the guest run the fetches of the event's site
/// ([`Control::fetches`]) and append their values ([`fetch`]).
pub const CONTROL_FETCH: u8 = 8;
/// Set in a record's `event` when the record ends with the kernel stack at the event: return
/// addresses, innermost first, as u64s, then their count as the record's last u64.
pub const EVENT_HAS_STACK: u16 = 0x8000;
/// Set in a record's `event` when the record carries a [`fetch::Trailer`] (before any stack
/// trailer): the values of the fetches of its site, read at the event.
pub const EVENT_HAS_FETCH: u16 = 0x4000;
/// Most frames a record carries.
pub const MAX_STACK_FRAMES: usize = 16;

/// Offsets in the device's config space (virtio-mmio offset 0x100 onwards).
pub mod config {
    /// u32, read-only: [`super::TRACE_ABI_VERSION`].
    pub const VERSION: u64 = 0;
    /// u32, low half of the [`super::AreaHeader`] guest-physical address.
    pub const AREA_GPA_LO: u64 = 8;
    /// u32, high half; the device reads the area when the driver sets DRIVER_OK.
    pub const AREA_GPA_HI: u64 = 12;
    /// Size of the config space.
    pub const SIZE: usize = 16;
}

/// Published by the guest once, before DRIVER_OK.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AreaHeader {
    pub magic: u64,
    pub version: u32,
    /// CPUs with a ring.
    pub nr_cpus: u32,
    /// Bytes of record data per ring (a power of two, at least 4096).
    pub ring_size: u32,
    /// Events the guest knows ([`EVENTS`] of its build).
    pub nr_events: u32,
    /// TSC ticks per millisecond.
    pub tsc_khz: u64,
    /// TSC at the guest's time zero (its CLOCK_MONOTONIC and `nsecs`).
    pub boot_tsc: u64,
    /// Guest-physical address of the [`Control`] page.
    pub control_gpa: u64,
    /// Guest-physical address of each CPU's [`RingHeader`].
    pub ring_gpa: [u64; MAX_CPUS],
    /// Guest-physical address of each CPU's record data (`ring_size` contiguous bytes).
    pub data_gpa: [u64; MAX_CPUS],
}

/// Written by the host, read by the guest at every tracepoint.
#[repr(C, align(4096))]
#[derive(Clone, Copy, Debug)]
pub struct Control {
    /// Non-zero bytes enable the event with that id ([`CONTROL_STACK`] also asks for stacks).
    pub enabled: [u8; MAX_EVENTS],
    /// Record only this thread-group id (0: all).
    pub filter_pid: u32,
    /// Record only on this CPU plus one (0: all).
    pub filter_cpu: u32,
    /// Non-zero while any enabled event's byte asks for more than [`CONTROL_ON`]: the
    /// producer's fast path reads no control byte (the tracepoint site tested it for zero), so
    /// the host sends every record down the slow path, which does, by this word and a zeroed
    /// `RingHeader::limit` (see the module comment).
    pub slow: u32,
    /// The host's tracing session, changed by each attach: a task described to an earlier
    /// session is unknown to this one (see the module comment on context switches).
    pub session: u32,
    /// Pointer paths the slow path reads at the events of their sites, packed from the first
    /// slot (the first unused one, all zeros, ends the table; see [`fetch`]).
    pub fetches: [fetch::Fetch; fetch::MAX_FETCHES],
}

impl Control {
    pub const fn new() -> Control {
        Control {
            enabled: [0; MAX_EVENTS],
            filter_pid: 0,
            filter_cpu: 0,
            slow: 0,
            session: 0,
            fetches: [fetch::Fetch {
                site: 0,
                base: 0,
                derefs: 0,
                len: 0,
                reserved: [0; 5],
                offsets: [0; fetch::MAX_DEREFS + 1],
            }; fetch::MAX_FETCHES],
        }
    }
}

impl Default for Control {
    fn default() -> Self {
        Control::new()
    }
}

/// Byte offsets in [`Control`].
pub mod control {
    pub const ENABLED: u64 = 0;
    pub const FILTER_PID: u64 = super::MAX_EVENTS as u64;
    pub const FILTER_CPU: u64 = FILTER_PID + 4;
    pub const SLOW: u64 = FILTER_CPU + 4;
    pub const SESSION: u64 = SLOW + 4;
    pub const FETCHES: u64 = SESSION + 4;
}

/// [`RingHeader::task`] asking the producer for a [`TaskInfo`] record before its next record.
pub const TASK_UNKNOWN: u64 = u64::MAX;

/// The head of one CPU's ring; producer and consumer fields on separate cache lines.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug)]
pub struct RingHeader {
    /// Bytes ever written (guest).
    pub head: u64,
    /// The kernel address of the task the ring's last [`TaskInfo`] record described (guest), or
    /// [`TASK_UNKNOWN`] (written by the host when it attaches, by the guest when that task's
    /// identity changes).
    pub task: u64,
    /// How far the producer's `head` may move before it must look at `tail`, the wrap and
    /// `task` again (guest; the host writes 0 to send it down its slow path).
    pub limit: u64,
    _pad0: [u64; 5],
    /// Bytes ever consumed (host).
    pub tail: u64,
    _pad1: [u64; 7],
    /// Records dropped because the ring was full (guest).
    pub lost: u64,
}

impl RingHeader {
    pub const fn new() -> RingHeader {
        RingHeader {
            head: 0,
            task: TASK_UNKNOWN,
            limit: 0,
            _pad0: [0; 5],
            tail: 0,
            _pad1: [0; 7],
            lost: 0,
        }
    }
}

impl Default for RingHeader {
    fn default() -> Self {
        RingHeader::new()
    }
}

/// Byte offsets in [`RingHeader`].
pub mod ring {
    pub const HEAD: u64 = 0;
    pub const TASK: u64 = 8;
    pub const LIMIT: u64 = 16;
    pub const TAIL: u64 = 64;
    pub const LOST: u64 = 128;
}

/// Where the producer puts a record of `size` bytes, given the ring's `head`, `tail` and data
/// `ring_size`: `Some((pad, pos))` means write a pad record of `pad` bytes at `head` first (if
/// non-zero), then the record at data offset `pos`; the new head is `head + pad + size`. `None`:
/// no room (the record is lost).
#[inline(always)]
pub const fn reserve(head: u64, tail: u64, size: u64, ring_size: u64) -> Option<(u64, u64)> {
    let pos = head & (ring_size - 1);
    let pad = if pos + size > ring_size {
        ring_size - pos
    } else {
        0
    };
    let used = head.wrapping_sub(tail);
    if used > ring_size || pad + size > ring_size - used {
        return None;
    }
    Some((pad, if pad == 0 { pos } else { 0 }))
}

/// How far the producer's head may move after a successful [`reserve`] left it at `head` (any pad
/// written), with the consumer at `tail`, before it must look at `tail` and the wrap again: the
/// ring's free space and the end of the data, whichever comes first. A record of `size` bytes
/// with `head + size <= limit` goes at `head % ring_size` with no pad and fits (the host's tail
/// only moves forward, so an old limit errs on the safe side).
#[inline(always)]
pub const fn limit(head: u64, tail: u64, ring_size: u64) -> u64 {
    let free_end = tail.wrapping_add(ring_size);
    let wrap = (head & !(ring_size - 1)).wrapping_add(ring_size);
    if free_end < wrap {
        free_end
    } else {
        wrap
    }
}

/// What precedes every record's payload. Who the record belongs to is in the ring's last
/// [`TaskInfo`] record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordHeader {
    /// Bytes in the record, header included, a multiple of [`RECORD_ALIGN`].
    pub size: u16,
    /// The event id ([`EVENT_PAD`] for filler).
    pub event: u16,
    /// Zero (the guest writes size and event as one 64-bit store).
    pub reserved: u32,
    /// Guest TSC at the event.
    pub tsc: u64,
}

pub const RECORD_HEADER_SIZE: usize = core::mem::size_of::<RecordHeader>();

/// The record size for a payload of `payload` bytes.
pub const fn record_size(payload: usize) -> usize {
    (RECORD_HEADER_SIZE + payload + RECORD_ALIGN - 1) & !(RECORD_ALIGN - 1)
}

/// How the host reads a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// Little-endian signed integer of `size` bytes.
    Int,
    /// Little-endian unsigned integer of `size` bytes.
    Uint,
    /// A kernel address (8 bytes).
    Ptr,
    /// A NUL-padded char array of `size` bytes.
    Chars,
    /// Linux's `__data_loc char[]`: a u32 holding `offset << 16 | len` of a string stored after
    /// the payload struct (offset from the start of the payload).
    DataLoc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldDesc {
    pub name: &'static str,
    pub kind: FieldKind,
    pub offset: usize,
    pub size: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventDesc {
    pub id: u16,
    /// Subsystem and event name (`sched`, `sched_switch`).
    pub system: &'static str,
    pub name: &'static str,
    /// Size of the fixed payload struct.
    pub payload_size: usize,
    pub fields: &'static [FieldDesc],
}

/// A payload type: its id and layout.
pub trait Event: Copy {
    const ID: u16;
}

/// The [`FieldKind`] of a payload field's Rust type.
pub trait FieldType {
    const KIND: FieldKind;
}

impl FieldType for i32 {
    const KIND: FieldKind = FieldKind::Int;
}
impl FieldType for i64 {
    const KIND: FieldKind = FieldKind::Int;
}
impl FieldType for u32 {
    const KIND: FieldKind = FieldKind::Uint;
}
impl FieldType for u64 {
    const KIND: FieldKind = FieldKind::Uint;
}
impl FieldType for [u8; 16] {
    const KIND: FieldKind = FieldKind::Chars;
}

/// A kernel address.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ptr(pub u64);
impl FieldType for Ptr {
    const KIND: FieldKind = FieldKind::Ptr;
}

/// `__data_loc char[]`: see [`FieldKind::DataLoc`].
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DataLoc(pub u32);
impl FieldType for DataLoc {
    const KIND: FieldKind = FieldKind::DataLoc;
}

impl DataLoc {
    /// A string of `len` bytes stored right after a payload of `payload_size` bytes.
    pub const fn after(payload_size: usize, len: usize) -> DataLoc {
        DataLoc(((payload_size as u32) << 16) | (len as u32 & 0xffff))
    }
    pub const fn offset(self) -> usize {
        (self.0 >> 16) as usize
    }
    pub const fn len(self) -> usize {
        (self.0 & 0xffff) as usize
    }
    pub const fn is_empty(self) -> bool {
        self.len() == 0
    }
}

/// A task's comm.
pub type Comm = [u8; 16];

/// Declares the payload structs, their [`Event`] ids and the [`EVENTS`] table.
macro_rules! events {
    ($( $id:literal $system:ident : $name:ident => $ty:ident { $( $field:ident : $fty:ty ),* $(,)? } )*) => {
        $(
            #[repr(C)]
            #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
            #[doc = concat!("`", stringify!($system), ":", stringify!($name), "`")]
            pub struct $ty { $( pub $field: $fty ),* }
            impl Event for $ty {
                const ID: u16 = $id;
            }
        )*
        /// Every event, in id order.
        pub static EVENTS: &[EventDesc] = &[
            $( EventDesc {
                id: $id,
                system: stringify!($system),
                name: stringify!($name),
                payload_size: core::mem::size_of::<$ty>(),
                fields: &[ $( FieldDesc {
                    name: stringify!($field),
                    kind: <$fty as FieldType>::KIND,
                    offset: core::mem::offset_of!($ty, $field),
                    size: core::mem::size_of::<$fty>(),
                } ),* ],
            } ),*
        ];
    };
}

events! {
    1 sched: sched_switch => SchedSwitch {
        prev_comm: Comm, prev_pid: i32, prev_prio: i32, prev_state: i64,
        next_comm: Comm, next_pid: i32, next_prio: i32,
    }
    2 sched: sched_wakeup => SchedWakeup { comm: Comm, pid: i32, prio: i32, target_cpu: i32 }
    3 sched: sched_wakeup_new => SchedWakeupNew { comm: Comm, pid: i32, prio: i32, target_cpu: i32 }
    4 sched: sched_process_fork => SchedProcessFork {
        parent_comm: Comm, parent_pid: i32, child_comm: Comm, child_pid: i32,
    }
    5 sched: sched_process_exec => SchedProcessExec { filename: DataLoc, pid: i32, old_pid: i32 }
    6 sched: sched_process_exit => SchedProcessExit { comm: Comm, pid: i32, prio: i32 }
    7 sched: sched_migrate_task => SchedMigrateTask {
        comm: Comm, pid: i32, prio: i32, orig_cpu: i32, dest_cpu: i32,
    }
    8 sched: sched_process_free => SchedProcessFree { comm: Comm, pid: i32, prio: i32 }
    9 sched: sched_process_wait => SchedProcessWait { comm: Comm, pid: i32, prio: i32 }
    10 task: task_newtask => TaskNewtask { pid: i32, comm: Comm, clone_flags: u64, oom_score_adj: i32 }
    11 task: task_rename => TaskRename { pid: i32, oldcomm: Comm, newcomm: Comm, oom_score_adj: i32 }
    20 irq: irq_handler_entry => IrqHandlerEntry { irq: i32, name: DataLoc }
    21 irq: irq_handler_exit => IrqHandlerExit { irq: i32, ret: i32 }
    22 irq: softirq_raise => SoftirqRaise { vec: u32 }
    23 irq: softirq_entry => SoftirqEntry { vec: u32 }
    24 irq: softirq_exit => SoftirqExit { vec: u32 }
    30 timer: hrtimer_expire_entry => HrtimerExpireEntry { hrtimer: Ptr, now: i64, function: Ptr }
    31 timer: hrtimer_expire_exit => HrtimerExpireExit { hrtimer: Ptr }
    32 timer: timer_expire_entry => TimerExpireEntry { timer: Ptr, now: u64, function: Ptr, baseclk: u64 }
    33 timer: timer_expire_exit => TimerExpireExit { timer: Ptr }
    40 raw_syscalls: sys_enter => SysEnter { id: i64, arg0: u64, arg1: u64, arg2: u64, arg3: u64, arg4: u64, arg5: u64 }
    41 raw_syscalls: sys_exit => SysExit { id: i64, ret: i64 }
    50 exceptions: page_fault_user => PageFaultUser { address: u64, ip: u64, error_code: u64 }
    51 exceptions: page_fault_kernel => PageFaultKernel { address: u64, ip: u64, error_code: u64 }
    60 kmem: mm_page_alloc => MmPageAlloc { pfn: u64, order: u32 }
    61 kmem: mm_page_free => MmPageFree { pfn: u64, order: u32 }
    62 kmem: kmalloc => Kmalloc { call_site: Ptr, ptr: Ptr, bytes_req: u64, bytes_alloc: u64, gfp_flags: u32, node: i32 }
    63 kmem: kfree => Kfree { call_site: Ptr, ptr: Ptr }
    70 signal: signal_generate => SignalGenerate {
        sig: i32, errno: i32, code: i32, comm: Comm, pid: i32, group: i32, result: i32,
    }
    71 signal: signal_deliver => SignalDeliver { sig: i32, errno: i32, code: i32, sa_handler: u64, sa_flags: u64 }
    80 oom: mark_victim => MarkVictim { pid: i32 }
    90 vmscan: mm_vmscan_kswapd_wake => MmVmscanKswapdWake { nid: i32, zid: i32, order: i32 }
    91 vmscan: mm_vmscan_kswapd_sleep => MmVmscanKswapdSleep { nid: i32 }
    100 workqueue: workqueue_queue_work => WorkqueueQueueWork {
        work: Ptr, function: Ptr, workqueue: DataLoc, req_cpu: u32, cpu: u32,
    }
    101 workqueue: workqueue_activate_work => WorkqueueActivateWork { work: Ptr }
    102 workqueue: workqueue_execute_start => WorkqueueExecuteStart { work: Ptr, function: Ptr }
    103 workqueue: workqueue_execute_end => WorkqueueExecuteEnd { work: Ptr, function: Ptr }
    110 cpuhp: cpuhp_enter => CpuhpEnter { cpu: u32, target: i32, idx: i32, fun: Ptr }
    111 cpuhp: cpuhp_exit => CpuhpExit { cpu: u32, state: i32, idx: i32, ret: i32 }
    130 compaction: mm_compaction_begin => MmCompactionBegin {
        zone_start: u64, migrate_pfn: u64, free_pfn: u64, zone_end: u64, sync: i32,
    }
    131 compaction: mm_compaction_end => MmCompactionEnd {
        zone_start: u64, migrate_pfn: u64, free_pfn: u64, zone_end: u64, sync: i32, status: i32,
    }
    132 compaction: mm_compaction_kcompactd_wake => MmCompactionKcompactdWake {
        nid: i32, order: i32, highest_zoneidx: i32,
    }
    // The function tracer's records (kfunc/kprobe and kretfunc/kretprobe hits): written by the
    // trampolines the host patches in, never enabled as tracepoints by name.
    200 ftrace: function => FtraceFunction {
        ip: Ptr, parent_ip: Ptr,
        arg0: u64, arg1: u64, arg2: u64, arg3: u64, arg4: u64, arg5: u64,
    }
    201 ftrace: funcgraph_exit => FtraceFuncgraphExit {
        func: Ptr, parent_ip: Ptr, retval: u64, calltime: u64,
        arg0: u64, arg1: u64, arg2: u64, arg3: u64, arg4: u64, arg5: u64,
    }
    // Who the ring's following records belong to (see the module comment): `task` is the
    // kernel's task address (0 before a CPU runs its first task), `tid`/`pid` its pid and tgid,
    // `ppid` its parent process's id (`real_parent->pid`) when the record was written.
    210 ftrace: task_info => TaskInfo {
        task: Ptr, tid: i32, pid: i32, uid: u32, ppid: i32, comm: Comm,
    }
}

/// The system of the function tracer's own events (not tracepoints a program names).
pub const FTRACE_SYSTEM: &str = "ftrace";

/// The event with id `id`.
pub fn event(id: u16) -> Option<&'static EventDesc> {
    EVENTS.iter().find(|e| e.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        assert_eq!(RECORD_HEADER_SIZE, 16);
        assert_eq!(core::mem::size_of::<Control>(), 4096);
        assert_eq!(
            core::mem::offset_of!(Control, filter_pid) as u64,
            control::FILTER_PID
        );
        assert_eq!(
            core::mem::offset_of!(Control, filter_cpu) as u64,
            control::FILTER_CPU
        );
        assert_eq!(core::mem::offset_of!(Control, slow) as u64, control::SLOW);
        assert_eq!(
            core::mem::offset_of!(Control, session) as u64,
            control::SESSION
        );
        assert_eq!(
            core::mem::offset_of!(Control, fetches) as u64,
            control::FETCHES
        );
        assert_eq!(EVENT_HAS_FETCH & EVENT_HAS_STACK, 0);
        assert!((MAX_EVENTS as u16) < EVENT_HAS_FETCH);
        assert_eq!(core::mem::offset_of!(RingHeader, tail) as u64, ring::TAIL);
        assert_eq!(core::mem::offset_of!(RingHeader, task) as u64, ring::TASK);
        assert_eq!(core::mem::offset_of!(RingHeader, limit) as u64, ring::LIMIT);
        assert_eq!(core::mem::size_of::<TaskInfo>(), 40);
        assert_eq!(core::mem::offset_of!(RingHeader, lost) as u64, ring::LOST);
        assert!(core::mem::size_of::<AreaHeader>() <= 4096);
        assert_eq!(record_size(0), 16);
        assert_eq!(record_size(1), 24);
    }

    #[test]
    fn event_table() {
        let mut last = 0;
        for e in EVENTS {
            assert!(e.id > last, "ids ascend: {}", e.name);
            assert!((e.id as usize) < MAX_EVENTS);
            last = e.id;
            for f in e.fields {
                assert!(f.offset + f.size <= e.payload_size, "{}.{}", e.name, f.name);
            }
        }
        let s = event(SchedSwitch::ID).unwrap();
        assert_eq!((s.system, s.name), ("sched", "sched_switch"));
        let names: [&str; 7] = core::array::from_fn(|i| s.fields[i].name);
        assert_eq!(
            names,
            [
                "prev_comm",
                "prev_pid",
                "prev_prio",
                "prev_state",
                "next_comm",
                "next_pid",
                "next_prio"
            ]
        );
        assert_eq!(s.fields[3].kind, FieldKind::Int);
        assert_eq!(s.fields[3].size, 8);
    }

    #[test]
    fn reservation() {
        // Empty ring: at the start.
        assert_eq!(reserve(0, 0, 48, 4096), Some((0, 0)));
        // Fits exactly up to the end.
        assert_eq!(reserve(4048, 4048, 48, 4096), Some((0, 4048)));
        // Would cross the end: pad, then at 0.
        assert_eq!(reserve(4056, 4056, 48, 4096), Some((40, 0)));
        // Full.
        assert_eq!(reserve(4096, 0, 8, 4096), None);
        assert_eq!(reserve(4088, 0, 8, 4096), Some((0, 4088)));
        assert_eq!(reserve(4088, 0, 16, 4096), None);
        // Pad counts against the free space.
        assert_eq!(reserve(4096 + 4056, 4096 + 40, 48, 4096), None);
        assert_eq!(reserve(4096 + 4056, 4096 + 88, 48, 4096), Some((40, 0)));
        // A tail ahead of the head (a confused consumer) is never "free space".
        assert_eq!(reserve(0, 8, 8, 4096), None);
    }

    #[test]
    fn limit_agrees_with_reserve() {
        const RS: u64 = 4096;
        for tail in (0..3 * RS).step_by(40) {
            for head in (tail..tail + RS).step_by(24) {
                for size in [16, 24, 48, 200] {
                    let Some((pad, _)) = reserve(head, tail, size, RS) else {
                        continue;
                    };
                    let base = head + pad;
                    let lim = limit(base, tail, RS);
                    assert!(base + size <= lim, "{head} {tail} {size}");
                    // Every record that passes the fast test is one `reserve` places unpadded.
                    let mut h = base;
                    while h + size <= lim {
                        assert_eq!(reserve(h, tail, size, RS), Some((0, h & (RS - 1))));
                        h += size;
                    }
                }
            }
        }
    }

    #[test]
    fn data_loc() {
        let d = DataLoc::after(24, 9);
        assert_eq!((d.offset(), d.len()), (24, 9));
    }
}
