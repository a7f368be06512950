//! Kernel stack traces through frame pointers (the kernel is built with
//! `-C force-frame-pointers=yes`): `[rbp]` is the caller's `rbp`, `[rbp + 8]` the return
//! address. Used by `kstack` in trace records (Linux's `stack_trace_save`).

use core::arch::asm;

/// This function's frame pointer; inlined, so it is the caller's.
#[inline(always)]
pub fn frame_pointer() -> u64 {
    let rbp: u64;
    // SAFETY: reads a register, touches nothing.
    unsafe { asm!("mov {}, rbp", out(reg) rbp, options(nomem, nostack, preserves_flags)) };
    rbp
}

/// The return address of the function that called the one whose frame is `rbp` (that is,
/// `[[rbp] + 8]`): two loads, no bounds checks, for a caller that knows the chain is the
/// kernel's own two frames (a tracepoint's record function and the function with the site).
#[inline(always)]
pub fn caller_of_caller(rbp: u64) -> u64 {
    // SAFETY: `rbp` is the live frame of a kernel function compiled with frame pointers, called
    // from another such function: `[rbp]` is that caller's frame pointer, a live frame on the
    // same stack, and `[[rbp] + 8]` its return address; both are mapped stack words.
    unsafe {
        let outer = *(rbp as *const u64);
        *((outer + 8) as *const u64)
    }
}

/// Fills `out` with the return addresses of the frames from `rbp` outwards, past the first
/// `skip`, reading only inside the stack `[lo, hi)`, so a corrupt chain ends the walk instead
/// of faulting. Returns how many it stored.
pub fn walk(mut rbp: u64, lo: u64, hi: u64, mut skip: usize, out: &mut [u64]) -> usize {
    let mut n = 0;
    while n < out.len() && rbp >= lo && rbp.saturating_add(16) <= hi && rbp.is_multiple_of(8) {
        // SAFETY: [rbp, rbp + 16) lies inside the current task's kernel stack, which is mapped
        // while the task runs.
        let (next, ret) = unsafe { (*(rbp as *const u64), *((rbp + 8) as *const u64)) };
        if ret < super::KERNEL_VMA {
            break;
        }
        if skip > 0 {
            skip -= 1;
        } else {
            out[n] = ret;
            n += 1;
        }
        if next <= rbp {
            break;
        }
        rbp = next;
    }
    n
}
