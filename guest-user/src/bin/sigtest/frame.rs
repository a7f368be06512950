//! The signal frame check: every register, the xmm registers, MXCSR and the direction flag
//! survive a handler that trashes them (the kernel saves them in the frame and rt_sigreturn
//! restores them), and the handler starts with DF clear and the default MXCSR, as on Linux.

use std::arch::asm;
use std::arch::x86_64::__m128i;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering::SeqCst};

use guest_user::check::{pass, Check};
use guest_user::ensure;
use guest_user::sys;

use crate::handler::Handler;

const SIGUSR2: i32 = libc::SIGUSR2;
static ENTRY_FLAGS: AtomicI64 = AtomicI64::new(0);
static ENTRY_MXCSR: AtomicU32 = AtomicU32::new(0);

/// A handler that records the flags and MXCSR it was entered with, then trashes every
/// caller-saved register, all sixteen xmm registers and MXCSR before returning.
extern "C" fn clobber(_sig: i32) {
    let (flags, mxcsr): (u64, u32);
    let mut m = 0u32;
    // SAFETY: reads rflags through the stack and MXCSR into a local.
    unsafe {
        asm!("pushfq", "pop {f}", "stmxcsr [{m}]", f = out(reg) flags, m = in(reg) &mut m);
    }
    mxcsr = m;
    ENTRY_FLAGS.store(flags as i64, SeqCst);
    ENTRY_MXCSR.store(mxcsr, SeqCst);
    let x = std::hint::black_box(1.5f64);
    std::hint::black_box(x.sqrt() * 3.25 / 7.0);
    let junk = 0x7f80u32 | 0x4000 | 0x8000; // round up, flush-to-zero, all masked
                                            // SAFETY: overwrites only registers declared as clobbered, and MXCSR, which the kernel
                                            // restores on sigreturn (that is what is being tested).
    unsafe {
        asm!(
            "ldmxcsr [{j}]",
            "pcmpeqd xmm0, xmm0", "pcmpeqd xmm1, xmm1", "pcmpeqd xmm2, xmm2",
            "pcmpeqd xmm3, xmm3", "pcmpeqd xmm4, xmm4", "pcmpeqd xmm5, xmm5",
            "pcmpeqd xmm6, xmm6", "pcmpeqd xmm7, xmm7", "pcmpeqd xmm8, xmm8",
            "pcmpeqd xmm9, xmm9", "pcmpeqd xmm10, xmm10", "pcmpeqd xmm11, xmm11",
            "pcmpeqd xmm12, xmm12", "pcmpeqd xmm13, xmm13", "pcmpeqd xmm14, xmm14",
            "pcmpeqd xmm15, xmm15",
            "mov rdx, -1", "mov rsi, -1", "mov rdi, -1", "mov r8, -1", "mov r9, -1",
            "mov r10, -1", "mov r11, -1", "mov rax, -1", "mov rcx, -1",
            j = in(reg) &junk,
            out("rdx") _, out("rsi") _, out("rdi") _, out("r8") _, out("r9") _,
            out("r10") _, out("r11") _, out("rax") _, out("rcx") _,
            out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
            out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
            out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _,
            out("xmm12") _, out("xmm13") _, out("xmm14") _, out("xmm15") _,
        );
    }
}

/// Inputs and outputs of the register test, addressed from the assembly through rdx.
#[repr(C)]
struct Frame {
    rbx_in: u64,     // 0
    rbx_out: u64,    // 8
    mxcsr_in: u32,   // 16
    mxcsr_out: u32,  // 20
    mxcsr_orig: u32, // 24
    _pad: u32,       // 28
    flags_out: u64,  // 32
    kill_ret: i64,   // 40
}

fn m128(lo: u64, hi: u64) -> __m128i {
    // SAFETY: __m128i and [u64; 2] have the same size; every bit pattern is valid.
    unsafe { std::mem::transmute::<[u64; 2], __m128i>([lo, hi]) }
}

fn bits(v: __m128i) -> [u64; 2] {
    // SAFETY: as in `m128`.
    unsafe { std::mem::transmute::<__m128i, [u64; 2]>(v) }
}

/// The signal frame: a handler that trashes registers, MXCSR and xmm0-15 returns (through
/// the restorer and rt_sigreturn) to code that finds every register, the direction flag and
/// MXCSR as it left them. The handler itself must start with DF clear and default MXCSR.
pub(crate) fn handler_frame_restores_state() -> Check {
    let _h = Handler::install(SIGUSR2, clobber as *const () as usize, 0)?;
    let magic = |i: u64| 0x1111_1111_1111_1111u64.wrapping_mul(i) ^ 0xa5a5_0000_0000_5a5a;
    let mut f = Frame {
        rbx_in: magic(1),
        rbx_out: 0,
        mxcsr_in: 0x1f80 | 0x6000, // round toward zero
        mxcsr_out: 0,
        mxcsr_orig: 0,
        _pad: 0,
        flags_out: 0,
        kill_ret: 0,
    };
    let gp_in = [
        magic(2),
        magic(3),
        magic(4),
        magic(5),
        magic(6),
        magic(7),
        magic(8),
    ];
    let mut gp = gp_in;
    let xin: [__m128i; 16] =
        std::array::from_fn(|i| m128(magic(10 + i as u64), !magic(30 + i as u64)));
    let mut x = xin;
    let (mut rdi, mut rsi) = (sys::getpid() as u64, SIGUSR2 as u64);
    // SAFETY: rbx is saved and restored around its use; DF and MXCSR are restored before the
    // block ends; rax, rcx and r11 are declared clobbered by the syscall; the kill syscall
    // delivers SIGUSR2 to this thread, whose handler is `clobber`.
    unsafe {
        asm!(
            "push rbx",
            "mov rbx, [rdx]",
            "stmxcsr [rdx + 24]",
            "ldmxcsr [rdx + 16]",
            "std",
            "syscall",
            "mov [rdx + 40], rax",
            "pushfq",
            "pop rax",
            "mov [rdx + 32], rax",
            "cld",
            "stmxcsr [rdx + 20]",
            "ldmxcsr [rdx + 24]",
            "mov [rdx + 8], rbx",
            "pop rbx",
            in("rdx") &mut f,
            inout("rax") libc::SYS_kill => _,
            inout("rdi") rdi, inout("rsi") rsi,
            inout("r8") gp[0], inout("r9") gp[1], inout("r10") gp[2], inout("r12") gp[3],
            inout("r13") gp[4], inout("r14") gp[5], inout("r15") gp[6],
            inout("xmm0") x[0], inout("xmm1") x[1], inout("xmm2") x[2], inout("xmm3") x[3],
            inout("xmm4") x[4], inout("xmm5") x[5], inout("xmm6") x[6], inout("xmm7") x[7],
            inout("xmm8") x[8], inout("xmm9") x[9], inout("xmm10") x[10],
            inout("xmm11") x[11], inout("xmm12") x[12], inout("xmm13") x[13],
            inout("xmm14") x[14], inout("xmm15") x[15],
            out("rcx") _, out("r11") _,
        );
    }
    ensure!(f.kill_ret == 0, "kill syscall returned {}", f.kill_ret);
    let entry_flags = ENTRY_FLAGS.load(SeqCst);
    ensure!(entry_flags != 0, "the handler did not run");
    ensure!(
        f.rbx_out == f.rbx_in,
        "rbx {:#x} after the handler, want {:#x}",
        f.rbx_out,
        f.rbx_in
    );
    let names = ["r8", "r9", "r10", "r12", "r13", "r14", "r15"];
    for i in 0..7 {
        ensure!(
            gp[i] == gp_in[i],
            "{} {:#x} after the handler, want {:#x}",
            names[i],
            gp[i],
            gp_in[i]
        );
    }
    ensure!(
        rdi == sys::getpid() as u64 && rsi == SIGUSR2 as u64,
        "rdi/rsi {rdi:#x}/{rsi:#x} changed"
    );
    for i in 0..16 {
        ensure!(
            bits(x[i]) == bits(xin[i]),
            "xmm{i} {:x?} after the handler, want {:x?}",
            bits(x[i]),
            bits(xin[i])
        );
    }
    ensure!(
        f.mxcsr_out == f.mxcsr_in,
        "MXCSR {:#x} after the handler, want {:#x}",
        f.mxcsr_out,
        f.mxcsr_in
    );
    ensure!(
        f.flags_out & 0x400 != 0,
        "direction flag cleared by the signal return (rflags {:#x})",
        f.flags_out
    );
    ensure!(
        entry_flags & 0x400 == 0,
        "handler entered with DF set (rflags {entry_flags:#x})"
    );
    let entry_mxcsr = ENTRY_MXCSR.load(SeqCst);
    ensure!(
        entry_mxcsr == 0x1f80,
        "handler entered with MXCSR {entry_mxcsr:#x}, want the default 0x1f80"
    );
    pass()
}
