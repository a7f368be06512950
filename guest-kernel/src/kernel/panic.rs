//! Kernel panics and oopses: registers and a backtrace on the serial port, then power-off
//! with `abi::exit::KERNEL_PANIC`. Written with the emulator in mind: plain loads and port
//! writes only, no lock that the failing path may hold.

use core::sync::atomic::{AtomicBool, Ordering};

use crate::arch::entry::TrapFrame;
use crate::arch::{self, KERNEL_VMA};
use crate::kernel::printk::emergency_write as w;

static IN_PANIC: AtomicBool = AtomicBool::new(false);

fn print_backtrace(mut rbp: u64, rip: u64) {
    w(format_args!("Call Trace:\n"));
    w(format_args!(
        " [<{:016x}>] {}\n",
        rip,
        crate::kernel::kallsyms::describe(rip)
    ));
    for _ in 0..32 {
        // Frame pointers: [rbp] = caller's rbp, [rbp + 8] = return address.
        if rbp < arch::PAGE_OFFSET || !rbp.is_multiple_of(8) {
            break;
        }
        // SAFETY: rbp lies in the kernel half; kernel stacks are always mapped.
        let (next, ret) = unsafe { (*(rbp as *const u64), *((rbp + 8) as *const u64)) };
        if ret < KERNEL_VMA {
            break;
        }
        w(format_args!(
            " [<{:016x}>] {}\n",
            ret,
            crate::kernel::kallsyms::describe_return(ret)
        ));
        if next <= rbp {
            break;
        }
        rbp = next;
    }
}

fn print_regs(f: &TrapFrame) {
    w(format_args!(
        "RIP: {:04x}:{:016x} {}\n",
        f.cs,
        f.rip,
        crate::kernel::kallsyms::describe(f.rip)
    ));
    w(format_args!(
        "RSP: {:04x}:{:016x} EFLAGS: {:08x}\n",
        f.ss, f.rsp, f.rflags
    ));
    w(format_args!(
        "RAX: {:016x} RBX: {:016x} RCX: {:016x}\n",
        f.rax, f.rbx, f.rcx
    ));
    w(format_args!(
        "RDX: {:016x} RSI: {:016x} RDI: {:016x}\n",
        f.rdx, f.rsi, f.rdi
    ));
    w(format_args!(
        "RBP: {:016x} R08: {:016x} R09: {:016x}\n",
        f.rbp, f.r8, f.r9
    ));
    w(format_args!(
        "R10: {:016x} R11: {:016x} R12: {:016x}\n",
        f.r10, f.r11, f.r12
    ));
    w(format_args!(
        "R13: {:016x} R14: {:016x} R15: {:016x}\n",
        f.r13, f.r14, f.r15
    ));
    w(format_args!(
        "CR2: {:016x} CR3: {:016x}\n",
        arch::cpu::read_cr2(),
        arch::cpu::read_cr3()
    ));
}

/// Interrupts off, and a fault while reporting one powers off at once instead of recursing.
fn enter_panic() {
    arch::cpu::interrupts_disable();
    if IN_PANIC.swap(true, Ordering::SeqCst) {
        arch::power_off(abi::exit::KERNEL_PANIC);
    }
}

/// A fatal exception in kernel mode.
pub fn oops(frame: &TrapFrame, what: &str, addr: Option<u64>) -> ! {
    enter_panic();
    match addr {
        Some(a) => w(format_args!(
            "BUG: unable to handle {} at {:016x}\n",
            what, a
        )),
        None => w(format_args!("Oops: {} (vector {})\n", what, frame.vector)),
    }
    w(format_args!(
        "error_code: {:#x} CPU: {}\n",
        frame.error_code,
        arch::percpu::cpu_id()
    ));
    print_regs(frame);
    print_backtrace(frame.rbp, frame.rip);
    w(format_args!(
        "---[ end Kernel panic - not syncing: Fatal exception ]---\n"
    ));
    arch::power_off(abi::exit::KERNEL_PANIC)
}

#[cfg(not(test))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    enter_panic();
    w(format_args!("Kernel panic - not syncing: {}\n", info));
    let rbp: u64;
    // SAFETY: reading the frame pointer register.
    unsafe { core::arch::asm!("mov {}, rbp", out(reg) rbp) };
    print_backtrace(rbp, panic as *const () as u64);
    w(format_args!("---[ end Kernel panic ]---\n"));
    arch::power_off(abi::exit::KERNEL_PANIC)
}

/// A kernel bug worth a report but not a panic, reported once per call site (`WARN_ONCE`):
/// Linux's "cut here" block with the message, the place, the CPU and the task.
#[track_caller]
pub fn warn_on_once(once: &AtomicBool, args: core::fmt::Arguments) {
    if once.swap(true, Ordering::Relaxed) {
        return;
    }
    let at = core::panic::Location::caller();
    let pid = crate::kernel::task::try_current().map_or(0, |t| t.pid);
    crate::pr_warn!("------------[ cut here ]------------");
    crate::pr_warn!("{}", args);
    crate::pr_warn!(
        "WARNING: CPU: {} PID: {} at {}:{}",
        arch::percpu::cpu_id(),
        pid,
        at.file(),
        at.line()
    );
    crate::pr_warn!("---[ end trace ]---");
}
