//! The function tracer's trampolines (Linux's `arch/x86/kernel/ftrace_64.S`).
//!
//! Every kernel function starts with a 5-byte NOP (`-Z patchable-function-entry=5`). To probe a
//! function the host, with the vCPUs stopped, rewrites that NOP into `call <trampoline>`; to
//! remove the probe it writes the NOP back. The guest never patches anything itself.
//!
//! The three trampolines differ only in what they ask of [`crate::trace::ftrace`]:
//! - `ftrace_caller`: record the call (`kfunc:`, `kprobe:`),
//! - `ftrace_graph_caller`: hook the return (`kretfunc:`, `kretprobe:`),
//! - `ftrace_caller_graph`: both.
//!
//! A trampoline runs with interrupts off, saves every register a Rust or C function may
//! clobber (the probed function has not started yet, so its arguments are all live) and hands
//! the handler an [`FtraceRegs`]. To hook the return the handler swaps the probed function's
//! return address for `return_to_handler`, which records the return value and jumps to the
//! saved address (kretprobes do the same).

use core::arch::{asm, global_asm};
use core::mem::offset_of;

use super::percpu::PerCpu;

/// What the trampolines ask for (bits of the handler's `mode` argument).
pub const FTRACE_ENTRY: u64 = 1;
pub const FTRACE_RETURN: u64 = 2;

/// The registers at the probed function's entry, as the trampoline saved them (lowest address
/// first): the argument registers in the calling convention's order, so that a record copies
/// them as one block.
#[repr(C)]
#[derive(Debug)]
pub struct FtraceRegs {
    /// rdi, rsi, rdx, rcx, r8, r9.
    pub args: [u64; 6],
    pub r10: u64,
    pub r11: u64,
    pub rax: u64,
    pub rflags: u64,
    pub rbp: u64,
    /// Where the trampoline returns: just after the patched call, inside the probed function.
    pub call_site_end: u64,
    /// The probed function's return address (the handler may replace it).
    pub parent_ip: u64,
}

impl FtraceRegs {
    /// The probed function's address (the patched call is its first instruction).
    pub fn ip(&self) -> u64 {
        self.call_site_end - 5
    }
}

global_asm!(
    r#"
    .section .text.ftrace, "ax"
    .macro FTRACE_TRAMPOLINE name, mode
    .p2align 4
    .global \name
\name:
    push rbp
    mov rbp, rsp
    pushfq
    cli
    push rax
    push r11
    push r10
    push r9
    push r8
    push rcx
    push rdx
    push rsi
    push rdi
    mov rdi, rsp
    mov esi, \mode
    sub rsp, 8
    cld
    call ftrace_handler
    add rsp, 8
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop r8
    pop r9
    pop r10
    pop r11
    pop rax
    popfq
    pop rbp
    ret
    .endm

    FTRACE_TRAMPOLINE ftrace_caller, {entry}
    FTRACE_TRAMPOLINE ftrace_graph_caller, {ret}
    FTRACE_TRAMPOLINE ftrace_caller_graph, {both}

    /* A hooked function returns here: rax:rdx hold its return value. */
    .p2align 4
    .global return_to_handler
return_to_handler:
    push rax
    push rdx
    pushfq
    cli
    sub rsp, 8
    mov rdi, rax
    cld
    call ftrace_return_handler
    add rsp, 8
    popfq
    mov r11, rax
    pop rdx
    pop rax
    jmp r11
    "#,
    entry = const FTRACE_ENTRY,
    ret = const FTRACE_RETURN,
    both = const FTRACE_ENTRY | FTRACE_RETURN,
);

extern "C" {
    fn return_to_handler();
}

/// Where a hooked function's return address is redirected.
pub fn return_to_handler_addr() -> u64 {
    return_to_handler as *const () as u64
}

/// Claims this CPU's tracer; false when it is already busy (a probe on a function the tracer
/// itself calls), in which case the hit is ignored rather than recursing.
#[inline(always)]
pub fn recursion_trylock() -> bool {
    let mut old: u64 = 1;
    // SAFETY: `%gs` points at this CPU's per-CPU area whenever kernel Rust code runs (the host
    // only patches functions after boot); the exchange touches only the `ftrace_busy` field.
    unsafe {
        asm!(
            "xchg gs:[{off}], {v}",
            off = const offset_of!(PerCpu, ftrace_busy),
            v = inout(reg) old,
            options(nostack, preserves_flags),
        )
    };
    old == 0
}

#[inline(always)]
pub fn recursion_unlock() {
    // SAFETY: as in `recursion_trylock`.
    unsafe {
        asm!(
            "mov qword ptr gs:[{off}], 0",
            off = const offset_of!(PerCpu, ftrace_busy),
            options(nostack, preserves_flags),
        )
    };
}
