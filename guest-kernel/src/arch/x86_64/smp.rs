//! Bringing up the application processors the architectural way: INIT + SIPI from the boot
//! CPU, a real-mode trampoline at `abi::layout::AP_TRAMPOLINE`, then the same long-mode switch
//! as the PVH entry, onto a fresh stack, into `start_secondary`.
//!
//! APs are started one at a time; each reports in through `AP_STARTED` before the next SIPI.
//!
//! Also the cross-CPU calls once they run: the reschedule IPI, and functions run on other
//! CPUs (`smp_call_function_many`, delivered by NMI; used for TLB shootdowns).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use spin::Once;

use super::acpi::{self, CpuList};
use super::percpu::{self, MAX_CPUS};
use super::pvh::BootInfo;
use super::{apic, boot, cpu, irq, mptable, phys_to_virt, tsc};
use crate::drivers::acpi::tables::Error;
use crate::mm::page_alloc::alloc_pages;

const TRAMPOLINE: u64 = abi::layout::AP_TRAMPOLINE;
const AP_STACK_ORDER: usize = 2; // 16 KiB

static AP_STARTED: AtomicUsize = AtomicUsize::new(0);
/// The processors the firmware describes, boot CPU first (set by `find_cpus`).
static CPUS: Once<CpuList> = Once::new();

core::arch::global_asm!(
    r#"
    .section .rodata.ap_trampoline, "a"
    .global ap_trampoline_start, ap_trampoline_end
    .code16
ap_trampoline_start:
    cli
    cld
    xor %ax, %ax
    mov %ax, %ds
    lgdtl AP_GDT_PTR_ABS
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $0x08, $AP_PROTECTED_ABS
    .code32
ap_protected:
    mov $0x18, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $0x6a0, %eax
    mov %eax, %cr4
    mov AP_CR3_ABS, %eax
    mov %eax, %cr3
    mov $0xc0000080, %ecx
    rdmsr
    or $0x901, %eax
    wrmsr
    mov $0x80010033, %eax
    mov %eax, %cr0
    ljmp $0x10, $AP_LONG_ABS
    .code64
ap_long:
    mov $0x18, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs
    mov AP_STACK_ABS, %rsp
    mov AP_CPU_ABS, %rdi
    xor %ebp, %ebp
    mov AP_ENTRY_ABS, %rax
    call *%rax
2:  hlt
    jmp 2b

    .p2align 3
ap_gdt:
    .quad 0
    .quad 0x00cf9a000000ffff    /* 0x08: 32-bit code */
    .quad 0x00af9a000000ffff    /* 0x10: 64-bit code */
    .quad 0x00cf92000000ffff    /* 0x18: data */
ap_gdt_ptr:
    .word ap_gdt_ptr - ap_gdt - 1
    .long {base} + (ap_gdt - ap_trampoline_start)
    .p2align 3
    .global ap_cr3, ap_stack, ap_cpu, ap_entry
ap_cr3:   .quad 0
ap_stack: .quad 0
ap_cpu:   .quad 0
ap_entry: .quad 0
ap_trampoline_end:
    .set AP_GDT_PTR_ABS, {base} + (ap_gdt_ptr - ap_trampoline_start)
    .set AP_PROTECTED_ABS, {base} + (ap_protected - ap_trampoline_start)
    .set AP_LONG_ABS, {base} + (ap_long - ap_trampoline_start)
    .set AP_CR3_ABS, {base} + (ap_cr3 - ap_trampoline_start)
    .set AP_STACK_ABS, {base} + (ap_stack - ap_trampoline_start)
    .set AP_CPU_ABS, {base} + (ap_cpu - ap_trampoline_start)
    .set AP_ENTRY_ABS, {base} + (ap_entry - ap_trampoline_start)
    .text
"#,
    base = const TRAMPOLINE,
    options(att_syntax)
);

extern "C" {
    static ap_trampoline_start: u8;
    static ap_trampoline_end: u8;
    static ap_cr3: u8;
    static ap_stack: u8;
    static ap_cpu: u8;
    static ap_entry: u8;
}

/// Offset of a trampoline symbol from its start.
fn offset_of(sym: *const u8) -> u64 {
    sym as u64 - core::ptr::addr_of!(ap_trampoline_start) as u64
}

fn set_slot(sym: *const u8, value: u64) {
    let ptr = phys_to_virt(TRAMPOLINE + offset_of(sym)) as *mut u64;
    // SAFETY: the slot lies inside the copied trampoline page, reserved for this purpose.
    unsafe { ptr.write_volatile(value) };
}

/// Find the processors, as Linux's `setup_arch` does with `acpi_boot_init` and then
/// `get_smp_config`: the ACPI MADT, else the MP table, else the boot CPU alone. Runs before the
/// page allocator can reuse firmware memory. Logs one line when it has to fall back.
pub fn find_cpus(boot_info: &BootInfo) {
    let boot_apic_id = apic::id();
    let cpus = match acpi::acpi_boot_init(boot_info, boot_apic_id) {
        Ok(cpus) => {
            crate::pr_info!(
                "smpboot: Allowing {} CPUs, {} hotplug CPUs",
                cpus.apic_ids().len() + cpus.hotplug,
                cpus.hotplug
            );
            cpus
        }
        Err(why) => match mptable::cpus() {
            // No ACPI at all is the normal case on our VMM: nothing to report.
            Some(cpus) if why == Error::NoRsdp => cpus,
            Some(cpus) => {
                crate::pr_warn!("ACPI: {why}, using the MP table");
                cpus
            }
            None => {
                crate::pr_warn!("smp: {why} and no MP table, running on the boot CPU only");
                let mut cpus = CpuList::new();
                cpus.add(boot_apic_id, true);
                cpus
            }
        },
    };
    CPUS.call_once(|| cpus);
}

/// Start every other processor `find_cpus` found; returns how many CPUs are online.
pub fn smp_init(entry: extern "C" fn(usize) -> !) -> usize {
    let Some(cpus) = CPUS.get().filter(|c| c.apic_ids().len() > 1) else {
        return 1;
    };
    let (start, end) = (
        core::ptr::addr_of!(ap_trampoline_start),
        core::ptr::addr_of!(ap_trampoline_end),
    );
    let len = end as usize - start as usize;
    // SAFETY: the trampoline page below 1 MiB is reserved at boot for exactly this copy.
    unsafe { core::ptr::copy_nonoverlapping(start, phys_to_virt(TRAMPOLINE) as *mut u8, len) };
    let (cr3, stack, cpu_slot, entry_slot) = (
        core::ptr::addr_of!(ap_cr3),
        core::ptr::addr_of!(ap_stack),
        core::ptr::addr_of!(ap_cpu),
        core::ptr::addr_of!(ap_entry),
    );
    set_slot(cr3, boot::init_pml4_phys());
    set_slot(entry_slot, entry as usize as u64);
    let my_id = apic::id();
    let mut cpu = 1;
    for &apic_id in cpus.apic_ids() {
        if apic_id == my_id || cpu >= super::percpu::MAX_CPUS {
            continue;
        }
        let Some(stack_phys) = alloc_pages(crate::mm::gfp::GFP_KERNEL, AP_STACK_ORDER) else {
            break;
        };
        set_slot(stack, phys_to_virt(stack_phys) + (4096 << AP_STACK_ORDER));
        set_slot(cpu_slot, cpu as u64);
        let before = AP_STARTED.load(Ordering::Acquire);
        apic::send_init_sipi(apic_id, (TRAMPOLINE >> 12) as u8);
        if !wait_for_ap(before, 10_000_000) {
            // Architecturally a second SIPI may be needed.
            apic::send_sipi(apic_id, (TRAMPOLINE >> 12) as u8);
            if !wait_for_ap(before, 5_000_000_000) {
                crate::pr_err!("smp: CPU with APIC id {} did not start", apic_id);
                continue;
            }
        }
        cpu += 1;
    }
    cpu
}

fn wait_for_ap(before: usize, timeout_ns: u64) -> bool {
    let deadline = tsc::ns_since_boot() + timeout_ns;
    while AP_STARTED.load(Ordering::Acquire) == before {
        if tsc::ns_since_boot() > deadline {
            return false;
        }
        core::hint::spin_loop();
    }
    true
}

/// Called by an AP once it runs kernel code on its own stack.
pub fn ap_started() {
    AP_STARTED.fetch_add(1, Ordering::Release);
}

/// Ask `cpu` to reschedule (the RESCHEDULE_VECTOR IPI; its handler only acknowledges, the
/// return path does the work).
pub fn send_reschedule(cpu: usize) {
    apic::send_ipi(
        super::percpu::apic_id_of(cpu),
        super::traps::RESCHEDULE_VECTOR as u8,
    );
}

// ---------------------------------------------------------------------------------------
// CPU hotplug

/// Set by `cpu_up` to let a CPU halted in `play_dead` go.
static CPU_KICK: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
/// The CPU halts in `play_dead` (what `cpu_wait_death` waits for).
static CPU_DEAD: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];

/// On a CPU going offline, from its stopper: no more ticks, its device interrupts go to the
/// first online CPU (x86's `native_cpu_disable`: `lapic_offline`, `fixup_irqs`).
pub fn cpu_disable() {
    let this = super::percpu::cpu_id();
    apic::timer_stop_this_cpu();
    let online = crate::kernel::cpu::cpu_online_mask();
    irq::fixup_irqs(this, online.trailing_zeros() as usize);
}

/// From the idle task of a CPU taken offline: halt with only IPIs to wake it, until
/// `cpu_up` (`play_dead`, `hlt_play_dead`). Linux sends such a CPU INIT and starts it
/// through the trampoline again; ours keeps its state in this loop and is let go by a flag
/// and an IPI, so no INIT/SIPI is needed. Returns with the tick running again.
pub fn play_dead(this: usize) {
    CPU_DEAD[this].store(true, Ordering::Release);
    loop {
        cpu::interrupts_disable();
        if CPU_KICK[this].swap(false, Ordering::AcqRel) {
            break;
        }
        // `sti; hlt`: an IPI that came after the check still wakes us.
        cpu::safe_halt();
    }
    cpu::interrupts_disable();
    CPU_DEAD[this].store(false, Ordering::Release);
    apic::timer_start_this_cpu(crate::kernel::time::TICK_NS);
}

/// On the control CPU: wait until `cpu` halts in `play_dead` (`native_cpu_die`).
pub fn cpu_die(cpu: usize) {
    let deadline = tsc::ns_since_boot() + 5_000_000_000;
    while !CPU_DEAD[cpu].load(Ordering::Acquire) {
        if tsc::ns_since_boot() > deadline {
            crate::pr_err!("CPU {} didn't die...", cpu);
            return;
        }
        core::hint::spin_loop();
    }
}

/// On the control CPU: let `cpu` out of `play_dead` (`native_cpu_up`).
pub fn cpu_up(cpu: usize) {
    let apic_id = super::percpu::apic_id_of(cpu);
    crate::pr_info!(
        "smpboot: Booting Node 0 Processor {} APIC {:#x}",
        cpu,
        apic_id
    );
    CPU_KICK[cpu].store(true, Ordering::Release);
    send_reschedule(cpu);
}

/// A function run on other CPUs, with its argument (Linux's `smp_call_func_t`).
pub type SmpCallFunc = fn(info: *const ());

/// One CPU's outgoing cross-CPU call (Linux's per-CPU `cfd_data`): the function its targets
/// run, its argument, and the targets that have not run it yet. Only the owning CPU writes
/// `func` and `info`, and only while `waiting` is empty; targets read them after finding the
/// owner's bit in their [`CALL_PENDING`], which the owner sets after writing them.
struct CallFunctionData {
    func: UnsafeCell<SmpCallFunc>,
    info: AtomicPtr<()>,
    waiting: AtomicU64,
}

// SAFETY: `func` is written by its owner only while no target may read it (`waiting` empty),
// and read by targets only between the owner's publication and their acknowledgement.
unsafe impl Sync for CallFunctionData {}

static CFD: [CallFunctionData; MAX_CPUS] = [const {
    CallFunctionData {
        func: UnsafeCell::new(|_| {}),
        info: AtomicPtr::new(core::ptr::null_mut()),
        waiting: AtomicU64::new(0),
    }
}; MAX_CPUS];

/// Per target CPU: the CPUs with a call waiting for it (Linux's `call_single_queue`).
static CALL_PENDING: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Waiting longer than this for a CPU to answer is worth a warning (Linux's
/// `csd_lock_timeout`); the wait goes on.
const CALL_TIMEOUT_NS: u64 = 5_000_000_000;

/// Run `func(info)` on every CPU in `mask` but this one and return once all have run it
/// (Linux's `smp_call_function_many` with `wait`): `info` need only live until then. Unlike
/// Linux the request is delivered as an NMI: this kernel runs with interrupts off whenever it
/// is in kernel mode, so a target spinning on a lock, or itself waiting for this CPU, could
/// never take an ordinary IPI; an NMI reaches it wherever it is. Hence `func` runs in NMI
/// context: it must take no lock, allocate nothing, touch no user memory, and have no entry
/// the function tracer could patch. Must not be called from NMI context.
pub fn smp_call_function_many(mask: u64, func: SmpCallFunc, info: *const ()) {
    let me = percpu::cpu_id();
    let mask = mask & !(1u64 << me);
    if mask == 0 {
        return;
    }
    let cfd = &CFD[me];
    debug_assert_eq!(cfd.waiting.load(Ordering::Relaxed), 0);
    // SAFETY: no target reads `func` now: `waiting` is empty.
    unsafe { *cfd.func.get() = func };
    cfd.info.store(info.cast_mut(), Ordering::Relaxed);
    cfd.waiting.store(mask, Ordering::Release);
    for cpu in Cpus(mask) {
        // A target with calls already pending has an NMI on its way that will find ours too.
        if CALL_PENDING[cpu].fetch_or(1u64 << me, Ordering::AcqRel) == 0 {
            apic::send_nmi(percpu::apic_id_of(cpu));
        }
    }
    let start = tsc::ns_since_boot();
    let mut warned = false;
    while cfd.waiting.load(Ordering::Acquire) != 0 {
        if !warned && tsc::ns_since_boot() - start > CALL_TIMEOUT_NS {
            warned = true;
            crate::pr_warn!(
                "smp: CPUs {:#x} have not answered a call from CPU{} for 5 s",
                cfd.waiting.load(Ordering::Relaxed),
                me
            );
        }
        core::hint::spin_loop();
    }
}

/// Run the calls other CPUs sent this one (Linux's `flush_smp_call_function_queue`), from the
/// NMI handler. Returns whether there were any.
#[patchable_function_entry(prefix_nops = 0, entry_nops = 0)]
pub fn flush_smp_call_function_queue() -> bool {
    let me = percpu::cpu_id();
    let senders = CALL_PENDING[me].swap(0, Ordering::AcqRel);
    for sender in Cpus(senders) {
        let cfd = &CFD[sender];
        // SAFETY: the sender published `func` before setting its bit in our queue, and keeps
        // it unchanged until we clear our bit in `waiting` below.
        let func = unsafe { *cfd.func.get() };
        func(cfd.info.load(Ordering::Relaxed));
        super::irq::this_cpu_irq_stat()
            .irq_call_count
            .fetch_add(1, Ordering::Relaxed);
        cfd.waiting.fetch_and(!(1u64 << me), Ordering::Release);
    }
    senders != 0
}

/// The CPU numbers whose bits are set in a mask.
struct Cpus(u64);

impl Iterator for Cpus {
    type Item = usize;

    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        if self.0 == 0 {
            return None;
        }
        let cpu = self.0.trailing_zeros() as usize;
        self.0 &= self.0 - 1;
        Some(cpu)
    }
}
