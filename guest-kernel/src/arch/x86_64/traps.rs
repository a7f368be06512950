//! Exception and interrupt dispatch (`trap_handler`), and the oops path.
//!
//! Faults from user mode become signals to the task (for now: the task is terminated with
//! Linux's "segfault at" line); faults in the kernel either hit a user-copy fixup (→ `-EFAULT`)
//! or oops: registers and a symbolized backtrace on the serial port, then power-off with a
//! failure status.

use core::sync::atomic::Ordering::Relaxed;

use super::cpu::read_cr2;
use super::entry::TrapFrame;
use super::{apic, irq};
use crate::kernel::{panic, signal};
use crate::mm::fault;

pub const LOCAL_TIMER_VECTOR: u64 = 0xec;
pub const RESCHEDULE_VECTOR: u64 = 0xfd;
pub const SPURIOUS_VECTOR: u64 = 0xff;
/// Interrupt line (GSI) N arrives on vector `IRQ_BASE + N`.
pub const IRQ_BASE: u64 = 0x30;
/// GSIs the kernel handles: two I/O APICs of 24 pins (QEMU microvm's layout).
pub const NR_IRQS: u64 = 48;

const EXCEPTION_NAMES: [&str; 32] = [
    "divide error",
    "debug",
    "NMI",
    "int3",
    "overflow",
    "bounds",
    "invalid opcode",
    "device not available",
    "double fault",
    "coprocessor segment overrun",
    "invalid TSS",
    "segment not present",
    "stack segment",
    "general protection fault",
    "page fault",
    "reserved",
    "x87 FPU error",
    "alignment check",
    "machine check",
    "SIMD exception",
    "virtualization exception",
    "control protection",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "hypervisor injection",
    "VMM communication",
    "security exception",
    "reserved",
];

pub fn exception_name(vector: u64) -> &'static str {
    EXCEPTION_NAMES
        .get(vector as usize)
        .copied()
        .unwrap_or("interrupt")
}

#[no_mangle]
extern "C" fn trap_handler(frame: &mut TrapFrame) {
    match frame.vector {
        14 => page_fault(frame),
        0..=31 => exception(frame),
        LOCAL_TIMER_VECTOR => {
            apic::eoi();
            irq::this_cpu_irq_stat()
                .apic_timer_irqs
                .fetch_add(1, Relaxed);
            crate::kernel::time::timer_interrupt(frame.user_mode());
        }
        RESCHEDULE_VECTOR => {
            apic::eoi();
            irq::this_cpu_irq_stat()
                .irq_resched_count
                .fetch_add(1, Relaxed);
        }
        SPURIOUS_VECTOR => {
            irq::this_cpu_irq_stat()
                .irq_spurious_count
                .fetch_add(1, Relaxed);
        }
        v if (IRQ_BASE..IRQ_BASE + NR_IRQS).contains(&v) => {
            irq::handle((v - IRQ_BASE) as u32);
            apic::eoi();
        }
        v => {
            crate::pr_warn!("unexpected interrupt vector {:#x}", v);
            apic::eoi();
        }
    }
    // Leaving a hardware interrupt: run the softirqs it raised.
    if frame.vector >= 32 && frame.vector != super::entry::SYSCALL_VECTOR {
        crate::kernel::softirq::irq_exit();
    }
    // Back to user mode: reschedule or deliver signals first (a system call taken through
    // the kvm-pvm fault path already did this).
    if frame.user_mode() && frame.vector != super::entry::SYSCALL_VECTOR {
        signal::exit_to_user_mode(frame);
    }
}

/// Non-maskable interrupts (Linux's `exc_nmi`, entered through `asm_exc_nmi` on the IST
/// stack with the kernel's `%gs`): other CPUs' calls (TLB shootdowns) arrive this way. Any
/// other NMI is reported and ignored, as Linux's `unknown_nmi_error` does. Nothing here may
/// take a lock: the NMI may have interrupted its holder.
#[no_mangle]
#[patchable_function_entry(prefix_nops = 0, entry_nops = 0)]
extern "C" fn exc_nmi(_frame: &mut TrapFrame) {
    irq::this_cpu_irq_stat().nmi_count.fetch_add(1, Relaxed);
    if super::smp::flush_smp_call_function_queue() {
        return;
    }
    crate::kernel::printk::emergency_write(format_args!(
        "Uhhuh. NMI received for unknown reason 00 on CPU {}.\nDazed and confused, but trying to continue\n",
        super::percpu::cpu_id()
    ));
}

fn page_fault(frame: &mut TrapFrame) {
    let addr = read_cr2();
    let write = frame.error_code & 2 != 0;
    let user = frame.user_mode();
    if super::syscall::syscall_from_fault(frame, addr) {
        return;
    }
    if user {
        crate::trace::trace_page_fault_user(addr, frame.rip, frame.error_code);
    } else {
        crate::trace::trace_page_fault_kernel(addr, frame.rip, frame.error_code);
    }
    let mm = crate::kernel::task::try_current().and_then(|t| t.mm());
    let mut code = fault::SEGV_MAPERR;
    let mut sig = signal::SIGSEGV;
    if let Some(mm) = mm {
        let result = fault::handle_mm_fault(&mut mm.lock(), addr, write, frame.error_code & 1 != 0);
        // The mm lock is released: a kswapd wake-up the fault's allocations asked for can go.
        crate::mm::vmscan::kswapd_wake_pending();
        match result {
            Ok(()) => {
                // `mm_account_fault`: every fault resolved here is minor (no I/O behind it).
                if let Some(t) = crate::kernel::task::try_current() {
                    t.min_flt.fetch_add(1, Relaxed);
                }
                return;
            }
            // Out of memory in user mode: the OOM killer, then the fault is retried (or
            // the SIGKILL it sent lands). In the kernel: the user copy gets EFAULT.
            Err(fault::FaultError::NoMemory) if user => {
                crate::mm::oom_kill::pagefault_out_of_memory();
                return;
            }
            Err(e) => {
                code = e.si_code().unwrap_or(code);
                sig = if e == fault::FaultError::SigBus {
                    signal::SIGBUS
                } else {
                    signal::SIGSEGV
                };
            }
        }
    }
    if user {
        signal::force_sig_fault(sig, code, addr);
        return;
    }
    if crate::mm::usercopy::fixup(frame) {
        return;
    }
    panic::oops(frame, "page fault", Some(addr));
}

fn exception(frame: &mut TrapFrame) {
    if frame.user_mode() {
        let sig = match frame.vector {
            0 | 16 | 19 => signal::SIGFPE,
            6 => signal::SIGILL,
            1 | 3 => signal::SIGTRAP,
            17 => signal::SIGBUS,
            _ => signal::SIGSEGV,
        };
        let code = match frame.vector {
            0 => 1, // FPE_INTDIV
            6 => 2, // ILL_ILLOPN
            _ => signal::SI_KERNEL,
        };
        signal::force_sig_fault(sig, code, frame.rip);
        return;
    }
    panic::oops(frame, exception_name(frame.vector), None);
}
