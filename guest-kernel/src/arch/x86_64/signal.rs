//! Signal frames on the user stack (Linux's arch/x86/kernel/signal.c), x86_64 layout:
//! `rt_sigframe { pretcode; ucontext; siginfo }` with the 512-byte `fxsave` image below it,
//! so that glibc/musl `ucontext_t` readers and `rt_sigreturn` see what Linux gives them.

use super::entry::TrapFrame;
use super::gdt::{USER_CS, USER_DS};
use super::process::task_pt_regs;
use crate::kernel::errno::*;
use crate::kernel::signal::{self, KSigInfo, SigAction, StackT, SA_RESTORER, SA_SIGINFO};
use crate::kernel::task::{current, Task};
use crate::mm::usercopy::{copy_from_user, copy_to_user};

const UC_FP_XSTATE: u64 = 0x1;
const UC_SIGCONTEXT_SS: u64 = 0x2;
const UC_STRICT_RESTORE_SS: u64 = 0x4;
const FP_SIZE: u64 = 512;

/// `struct sigcontext` (x86_64).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct SigContext {
    r8: u64,
    r9: u64,
    r10: u64,
    r11: u64,
    r12: u64,
    r13: u64,
    r14: u64,
    r15: u64,
    rdi: u64,
    rsi: u64,
    rbp: u64,
    rbx: u64,
    rdx: u64,
    rax: u64,
    rcx: u64,
    rsp: u64,
    rip: u64,
    eflags: u64,
    cs: u16,
    gs: u16,
    fs: u16,
    ss: u16,
    err: u64,
    trapno: u64,
    oldmask: u64,
    cr2: u64,
    fpstate: u64,
    reserved1: [u64; 8],
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct UContext {
    uc_flags: u64,
    uc_link: u64,
    uc_stack: StackT,
    mcontext: SigContext,
    sigmask: u64,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct RtSigFrame {
    pretcode: u64,
    uc: UContext,
    info: [u8; 128],
}

const _: () = assert!(core::mem::size_of::<SigContext>() == 256);
const _: () = assert!(core::mem::size_of::<RtSigFrame>() == 440);

fn as_bytes<T>(v: &T) -> &[u8] {
    // SAFETY: T is a plain repr(C) struct of integers; viewing it as bytes is always valid.
    unsafe { core::slice::from_raw_parts(v as *const T as *const u8, core::mem::size_of::<T>()) }
}

/// The user stack pointer of the running task (from its saved user frame).
pub fn user_sp() -> u64 {
    let t = current();
    // SAFETY: every user task's kernel stack holds its user frame at the top.
    unsafe { (*task_pt_regs(t.stack_top())).rsp }
}

/// Build the frame for `info` and point `frame` at the handler.
pub fn setup_rt_frame(
    frame: &mut TrapFrame,
    t: &Task,
    info: &KSigInfo,
    action: &SigAction,
    old_mask: u64,
) -> KResult<()> {
    // x86-64 always returns through the restorer libc registered (`__restore_rt`): without one
    // the frame cannot be set up and the task gets SIGSEGV, as on Linux.
    if action.flags & SA_RESTORER == 0 {
        return Err(EFAULT);
    }
    // `get_sigframe`: below the red zone, or at the top of the alternate stack.
    let on_alt = signal::on_sig_stack(t, frame.rsp);
    let sp = signal::sigsp(t, frame.rsp - 128, action.flags);
    // FPU state, 64-byte aligned, then the frame so that (rsp + 8) is 16-byte aligned at entry.
    let fp = (sp - FP_SIZE) & !63;
    let frame_at = ((fp - core::mem::size_of::<RtSigFrame>() as u64) & !15) - 8;
    // A handler already on the alternate stack that would overflow it dies of SIGSEGV.
    if on_alt && !signal::on_sig_stack(t, frame_at) {
        return Err(EFAULT);
    }
    let fpu = t.thread.fpu_snapshot_current();
    copy_to_user(fp, &fpu.0)?;
    let sc = SigContext {
        r8: frame.r8,
        r9: frame.r9,
        r10: frame.r10,
        r11: frame.r11,
        r12: frame.r12,
        r13: frame.r13,
        r14: frame.r14,
        r15: frame.r15,
        rdi: frame.rdi,
        rsi: frame.rsi,
        rbp: frame.rbp,
        rbx: frame.rbx,
        rdx: frame.rdx,
        rax: frame.rax,
        rcx: frame.rcx,
        rsp: frame.rsp,
        rip: frame.rip,
        eflags: frame.rflags,
        cs: USER_CS,
        ss: USER_DS,
        err: if frame.vector < 32 {
            frame.error_code
        } else {
            0
        },
        trapno: if frame.vector < 32 { frame.vector } else { 0 },
        oldmask: old_mask,
        cr2: if info.code > 0 { info.addr } else { 0 },
        fpstate: fp,
        ..Default::default()
    };
    let sf = RtSigFrame {
        pretcode: action.restorer,
        uc: UContext {
            uc_flags: UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS,
            uc_link: 0,
            uc_stack: signal::save_altstack(t),
            mcontext: sc,
            sigmask: old_mask,
        },
        info: info.to_user(),
    };
    copy_to_user(frame_at, as_bytes(&sf))?;
    frame.rsp = frame_at;
    frame.rip = action.handler;
    frame.rdi = info.signo as u64;
    frame.rsi = frame_at + 8 + core::mem::size_of::<UContext>() as u64;
    frame.rdx = frame_at + 8;
    frame.rax = 0;
    frame.rflags &= !(1 << 8 | 1 << 10 | 1 << 18); // TF, DF, AC
    if action.flags & SA_SIGINFO == 0 {
        frame.rsi = 0;
        frame.rdx = 0;
    }
    // The handler starts with a clean FPU state, as after execve.
    t.thread.fpu_reset_current();
    let _ = UC_FP_XSTATE;
    Ok(())
}

/// `rt_sigreturn`: restore the context saved by `setup_rt_frame`.
pub fn sys_rt_sigreturn(frame: &mut TrapFrame) -> KResult<i64> {
    let at = frame.rsp - 8;
    let mut sf = RtSigFrame {
        pretcode: 0,
        uc: UContext::default(),
        info: [0; 128],
    };
    // SAFETY: RtSigFrame is plain data; any byte pattern is a valid value.
    let bytes = unsafe {
        core::slice::from_raw_parts_mut(
            &mut sf as *mut RtSigFrame as *mut u8,
            core::mem::size_of::<RtSigFrame>(),
        )
    };
    if copy_from_user(bytes, at).is_err() {
        crate::kernel::signal::force_sig_fault(crate::kernel::signal::SIGSEGV, 0x80, 0);
        return Ok(frame.rax as i64);
    }
    let sc = sf.uc.mcontext;
    if sc.fpstate != 0 {
        let mut fpu = super::process::FpuState([0; 512]);
        if copy_from_user(&mut fpu.0, sc.fpstate).is_ok() {
            // MXCSR reserved bits set would fault fxrstor: keep only the defined ones.
            let mxcsr = u32::from_le_bytes(fpu.0[24..28].try_into().unwrap()) & 0xffff;
            fpu.0[24..28].copy_from_slice(&mxcsr.to_le_bytes());
            current().thread.fpu_restore_current(&fpu);
        }
    }
    frame.r8 = sc.r8;
    frame.r9 = sc.r9;
    frame.r10 = sc.r10;
    frame.r11 = sc.r11;
    frame.r12 = sc.r12;
    frame.r13 = sc.r13;
    frame.r14 = sc.r14;
    frame.r15 = sc.r15;
    frame.rdi = sc.rdi;
    frame.rsi = sc.rsi;
    frame.rbp = sc.rbp;
    frame.rbx = sc.rbx;
    frame.rdx = sc.rdx;
    frame.rcx = sc.rcx;
    frame.rsp = sc.rsp;
    frame.rip = sc.rip;
    // User may change only the arithmetic flags, DF, TF, AC, ID; IF stays on.
    const USER_FLAGS: u64 = 0x0025_4dd5;
    frame.rflags = (frame.rflags & !USER_FLAGS) | (sc.eflags & USER_FLAGS) | 0x200;
    frame.cs = USER_CS as u64;
    frame.ss = USER_DS as u64;
    // Not a system call any more: no restart on the way out.
    frame.vector = 0x101;
    let t = current();
    {
        let mut p = t.pending.lock();
        p.blocked = sf.uc.sigmask
            & !(crate::kernel::signal::sigmask(9) | crate::kernel::signal::sigmask(19));
    }
    crate::kernel::signal::recalc_sigpending(t);
    signal::restore_altstack(t, &sf.uc.uc_stack, frame.rsp);
    Ok(sc.rax as i64)
}
