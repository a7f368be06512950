//! `syscall` set-up and the C-ABI entry into the system-call table.

use super::cpu::{msr, wrmsr};
use super::entry::{entry_SYSCALL_64, TrapFrame};
use super::gdt::{KERNEL_CS, USER32_CS};

/// Program STAR/LSTAR/FMASK on this CPU.
pub fn init_this_cpu() {
    // sysret loads CS from STAR[63:48] + 16 and SS from + 8 (with RPL 3).
    let star = (KERNEL_CS as u64) << 32 | ((USER32_CS as u64) & !3) << 48;
    // SAFETY: the entry point and selectors describe this kernel's GDT and entry code.
    unsafe {
        wrmsr(msr::IA32_STAR, star);
        wrmsr(msr::IA32_LSTAR, entry_SYSCALL_64 as *const () as u64);
        // Mask IF, TF, DF, AC on entry.
        wrmsr(msr::IA32_FMASK, 0x4_0700);
    }
}

/// kvm-pvm (the nested KVM on our development machines) executes a user `syscall` but stays
/// at CPL 3, so fetching the entry point faults with the registers exactly as `syscall` left
/// them (RCX = return address, R11 = RFLAGS). Recognize that fault and run the system call
/// from it; the common exit path (`iretq`) returns to RCX. Hardware KVM never gets here.
pub fn syscall_from_fault(frame: &mut TrapFrame, fault_addr: u64) -> bool {
    let entry = entry_SYSCALL_64 as *const () as u64;
    if !frame.user_mode() || frame.rip != entry || fault_addr != entry {
        return false;
    }
    static NOTED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
    if !NOTED.swap(true, core::sync::atomic::Ordering::Relaxed) {
        crate::pr_notice!(
            "syscall: entry faulted at CPL 3 (kvm-pvm); taking system calls through the fault path"
        );
    }
    frame.rip = frame.rcx;
    frame.rflags = frame.r11 | 0x200;
    frame.vector = super::entry::SYSCALL_VECTOR;
    do_syscall_64(frame);
    true
}

#[no_mangle]
extern "C" fn do_syscall_64(frame: &mut TrapFrame) {
    let nr = frame.rax;
    // Kept for restarting the call after a signal (Linux's orig_ax).
    frame.error_code = nr;
    let args = [
        frame.rdi, frame.rsi, frame.rdx, frame.r10, frame.r8, frame.r9,
    ];
    crate::trace::trace_sys_enter(nr, &args);
    frame.rax = crate::kernel::syscalls::x64_sys_call(frame, nr, args) as u64;
    crate::trace::trace_sys_exit(nr, frame.rax as i64);
    crate::kernel::signal::exit_to_user_mode(frame);
}
