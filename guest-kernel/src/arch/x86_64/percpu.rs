//! Per-CPU data, reached through `%gs` while in the kernel.
//!
//! The first fields have fixed offsets that `entry.rs` uses: `gs:[8]` is the kernel stack top
//! for `syscall`, `gs:[16]` the scratch slot for the user stack pointer.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::cpu::{msr, wrmsr};
use super::gdt::CpuTables;

pub const MAX_CPUS: usize = 32;

#[repr(C)]
pub struct PerCpu {
    self_ptr: u64,
    /// Top of the running task's kernel stack (`syscall` entry switches to it).
    pub kernel_rsp: u64,
    user_rsp_scratch: u64,
    /// Logical CPU number, 0 = boot CPU.
    pub cpu: usize,
    /// Local APIC id.
    pub apic_id: u32,
    /// The running task (`current`), a pointer kept alive by this CPU's run queue.
    current_task: u64,
    /// Non-zero while this CPU runs the function tracer (its recursion guard, `ftrace.rs`).
    pub ftrace_busy: u64,
    /// This CPU's trace ring (`trace::ring::CpuRing`), set for every CPU before any event is
    /// switched on; 0 until then.
    trace_ring: u64,
    pub tables: CpuTables,
}

static mut PERCPU: [PerCpu; MAX_CPUS] = [const {
    PerCpu {
        self_ptr: 0,
        kernel_rsp: 0,
        user_rsp_scratch: 0,
        cpu: 0,
        apic_id: 0,
        current_task: 0,
        ftrace_busy: 0,
        trace_ring: 0,
        tables: CpuTables::new(),
    }
}; MAX_CPUS];

/// CPUs started at boot, numbered from 0 (`nr_cpu_ids`): the possible CPUs.
static NR_CPU_IDS: AtomicUsize = AtomicUsize::new(0);
/// Set once the boot CPU's `%gs` points at its area (APs set theirs before running kernel C code
/// that asks).
static GS_READY: AtomicBool = AtomicBool::new(false);

/// Set up this CPU's per-CPU area, GDT and TSS, and point `%gs` at it. Called once per CPU.
pub fn init_this_cpu(cpu: usize, apic_id: u32) {
    assert!(cpu < MAX_CPUS);
    // SAFETY: each CPU initializes only its own slot, exactly once, before using `%gs`.
    let area = unsafe { &mut *core::ptr::addr_of_mut!(PERCPU[cpu]) };
    area.self_ptr = area as *mut PerCpu as u64;
    area.cpu = cpu;
    area.apic_id = apic_id;
    let base = area.self_ptr;
    // SAFETY: the tables are this CPU's own and live forever.
    let tables: &'static mut CpuTables = unsafe { &mut *core::ptr::addr_of_mut!(area.tables) };
    tables.load();
    // SAFETY: GS_BASE points at this CPU's per-CPU area for as long as the kernel runs;
    // KERNEL_GS_BASE starts as the user's (zero) value for the first `swapgs`.
    unsafe {
        wrmsr(msr::IA32_GS_BASE, base);
        wrmsr(msr::IA32_KERNEL_GS_BASE, 0);
    }
    GS_READY.store(true, Ordering::Release);
    NR_CPU_IDS.fetch_add(1, Ordering::Release);
}

/// This CPU's per-CPU area.
#[inline]
pub fn this_cpu() -> &'static mut PerCpu {
    let ptr: u64;
    // SAFETY: `%gs:0` holds the self pointer once `init_this_cpu` ran on this CPU.
    unsafe {
        core::arch::asm!("mov {}, gs:[0]", out(reg) ptr, options(nostack, readonly, preserves_flags))
    };
    // SAFETY: the pointer is this CPU's own static area; interrupts touching it run on this CPU.
    unsafe { &mut *(ptr as *mut PerCpu) }
}

/// Whether `%gs` already points at a per-CPU area (false very early in boot).
#[inline]
fn ready() -> bool {
    GS_READY.load(Ordering::Acquire)
}

#[inline]
pub fn cpu_id() -> usize {
    if ready() {
        this_cpu().cpu
    } else {
        0
    }
}

/// Number of CPUs started at boot (`nr_cpu_ids`): CPUs 0 .. this exist, whether or not they
/// are online now (`kernel::cpu` has the masks).
pub fn nr_cpu_ids() -> usize {
    NR_CPU_IDS.load(Ordering::Acquire)
}

/// Set the stack the CPU switches to on entry from user mode (TSS.RSP0 and `syscall`).
pub fn set_kernel_stack(top: u64) {
    let area = this_cpu();
    area.kernel_rsp = top;
    area.tables.tss.rsp[0] = top;
}

/// The running task pointer (0 before the scheduler starts on this CPU).
#[inline]
pub fn current_task() -> u64 {
    if !ready() {
        return 0;
    }
    this_cpu().current_task
}

pub fn set_current_task(task: u64) {
    this_cpu().current_task = task;
}

/// A u64 field of this CPU's area in one `%gs`-relative load (Linux's `this_cpu_read`), for
/// callers that know `%gs` is set up on this CPU.
macro_rules! this_cpu_read {
    ($field:ident) => {{
        let v: u64;
        // SAFETY: reads one field of this CPU's own area; the callers run only once `%gs`
        // points at it.
        unsafe {
            core::arch::asm!(
                "mov {}, gs:[{off}]",
                out(reg) v,
                off = const core::mem::offset_of!(PerCpu, $field),
                options(nostack, readonly, preserves_flags),
            )
        };
        v
    }};
}

/// The running task pointer in one instruction, for the trace fast path, which runs only once
/// `%gs` is set up on this CPU (the rings exist).
#[inline(always)]
pub fn current_task_raw() -> u64 {
    this_cpu_read!(current_task)
}

/// This CPU's trace ring address in one instruction (0 before `set_trace_ring`, which runs
/// before any tracepoint that reads it is switched on).
#[inline(always)]
pub fn trace_ring() -> u64 {
    this_cpu_read!(trace_ring)
}

/// Point CPU `cpu`'s trace ring at `ring` (once, before any event is on; the CPU may not be
/// up yet, its area is static).
pub fn set_trace_ring(cpu: usize, ring: u64) {
    assert!(cpu < MAX_CPUS);
    // SAFETY: a single aligned u64 store into the static area; no CPU reads the field until an
    // event is switched on, which happens after this.
    unsafe { core::ptr::addr_of_mut!(PERCPU[cpu].trace_ring).write_volatile(ring) }
}

/// Local APIC id of logical CPU `cpu`.
pub fn apic_id_of(cpu: usize) -> u32 {
    // SAFETY: apic_id is written once by that CPU before it is counted online, and only read
    // afterwards.
    unsafe { (*core::ptr::addr_of!(PERCPU[cpu])).apic_id }
}
