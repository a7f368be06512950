//! Thread state and the context switch (Linux's arch/x86/kernel/process_64.c and
//! entry/entry_64.S `__switch_to_asm` / `ret_from_fork`).
//!
//! A task that is not running keeps its callee-saved registers on its own kernel stack and only
//! its stack pointer in [`ThreadStruct::sp`]. `__switch_to_asm` pushes them, swaps stacks, pops
//! the next task's, and returns the previous task to the code that resumes. A new task's stack
//! is prepared so that the first switch to it "returns" into `ret_from_fork_asm`.
//!
//! The kernel is built without SSE, so only user tasks have FPU/SSE state; it is saved with
//! `fxsave64` (the emulator on kvm-pvm handles it; `xsave`/`xrstor` it does not).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};

use super::cpu::{msr, wrmsr};
use super::entry::TrapFrame;

/// The 512-byte `fxsave` image of a task's x87/SSE state.
#[repr(C, align(16))]
#[derive(Clone)]
pub struct FpuState(pub [u8; 512]);

impl FpuState {
    /// The state `execve` and the first user task start with: FCW 0x37f, MXCSR 0x1f80.
    pub fn init() -> Self {
        let mut s = FpuState([0; 512]);
        s.0[0..2].copy_from_slice(&0x37fu16.to_le_bytes());
        s.0[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
        s.0[28..32].copy_from_slice(&0xffffu32.to_le_bytes()); // MXCSR_MASK
        s
    }
}

/// Per-task CPU context (Linux's `thread_struct`).
pub struct ThreadStruct {
    /// Saved kernel stack pointer while switched out. Written only by `__switch_to_asm` on the
    /// CPU that switches the task out, read only by the CPU that switches it back in; the run
    /// queue lock and `on_cpu` order the two.
    sp: UnsafeCell<u64>,
    /// User `%fs` base (TLS), set by `arch_prctl` and `clone(CLONE_SETTLS)`.
    pub fs_base: AtomicU64,
    /// x87/SSE registers while switched out; same ordering rule as `sp`.
    fpu: UnsafeCell<FpuState>,
}

// SAFETY: the UnsafeCell fields are accessed only during a context switch, by one CPU at a time,
// as described on the fields.
unsafe impl Sync for ThreadStruct {}

impl ThreadStruct {
    pub fn new(fpu: FpuState, fs_base: u64) -> Self {
        ThreadStruct {
            sp: UnsafeCell::new(0),
            fs_base: AtomicU64::new(fs_base),
            fpu: UnsafeCell::new(fpu),
        }
    }

    /// A copy of the saved FPU state (for fork: the parent is running, so save it first).
    pub fn fpu_snapshot_current(&self) -> FpuState {
        let mut s = FpuState([0; 512]);
        // SAFETY: fxsave64 writes exactly 512 bytes to a 16-byte-aligned buffer.
        unsafe { core::arch::asm!("fxsave64 [{}]", in(reg) s.0.as_mut_ptr(), options(nostack)) };
        s
    }

    /// Reset the FPU state of the running task (execve, signal handler entry).
    pub fn fpu_reset_current(&self) {
        self.fpu_restore_current(&FpuState::init());
    }

    /// Load `s` into the running task's FPU (rt_sigreturn).
    pub fn fpu_restore_current(&self, s: &FpuState) {
        // SAFETY: a 16-byte-aligned fxsave image whose MXCSR reserved bits the caller cleared.
        unsafe { core::arch::asm!("fxrstor64 [{}]", in(reg) s.0.as_ptr(), options(nostack)) };
    }
}

/// The callee-saved registers `__switch_to_asm` keeps on a switched-out stack, lowest first.
#[repr(C)]
struct SwitchFrame {
    r15: u64,
    r14: u64,
    r13: u64,
    r12: u64,
    rbx: u64,
    rbp: u64,
    ret: u64,
}

core::arch::global_asm!(
    r#"
    .text
    /* rdi = &prev.sp, rsi = next.sp, rdx = prev (returned in rax to whoever resumes) */
    .global __switch_to_asm
__switch_to_asm:
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    mov [rdi], rsp
    mov rsp, rsi
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    mov rax, rdx
    ret

    /* First run of a new task: rax = the task switched away from. rbx = kernel thread
       function (0 for a user task) and r12 its argument. */
    .global ret_from_fork_asm
ret_from_fork_asm:
    mov rdi, rax
    call schedule_tail
    test rbx, rbx
    jnz 1f
    mov rdi, rsp
    call ret_from_fork_user
    jmp ret_from_trap
1:
    mov rdi, r12
    call rbx
    ud2
"#
);

extern "C" {
    fn __switch_to_asm(prev_sp: *mut u64, next_sp: u64, prev: *const u8) -> *const u8;
    fn ret_from_fork_asm();
}

/// Prepare a new task's kernel stack so that switching to it enters `ret_from_fork_asm`.
/// A user task gets a copy of `frame` at the top of its stack and returns to user mode
/// through it; a kernel thread runs `kthread_fn(arg)`, which must never return.
pub fn copy_thread(
    thread: &ThreadStruct,
    stack_top: u64,
    frame: Option<&TrapFrame>,
    kthread_fn: Option<extern "C" fn(usize) -> !>,
    arg: usize,
) {
    let frame_size = core::mem::size_of::<TrapFrame>() as u64;
    let frame_at = stack_top - frame_size;
    if let Some(f) = frame {
        // SAFETY: the stack is fresh, owned by the new task, and large enough for a frame.
        unsafe { (frame_at as *mut TrapFrame).write(f.clone()) };
    }
    let switch_at = frame_at - core::mem::size_of::<SwitchFrame>() as u64;
    let sf = SwitchFrame {
        r15: 0,
        r14: 0,
        r13: 0,
        r12: arg as u64,
        rbx: kthread_fn.map_or(0, |f| f as usize as u64),
        rbp: 0,
        ret: ret_from_fork_asm as *const () as u64,
    };
    // SAFETY: as above; the switch frame sits right below the trap frame.
    unsafe {
        (switch_at as *mut SwitchFrame).write(sf);
        *thread.sp.get() = switch_at;
    }
}

/// The user frame at the top of a task's kernel stack.
pub fn task_pt_regs(stack_top: u64) -> *mut TrapFrame {
    (stack_top - core::mem::size_of::<TrapFrame>() as u64) as *mut TrapFrame
}

/// Switch from `prev` to `next` (Linux's `switch_to`): FPU and TLS of user tasks, then the
/// stacks. Returns the task that was running before this one resumed (`last`).
///
/// # Safety
/// Interrupts are off; `prev` is the running task; `next` is not running anywhere and its
/// saved context is complete (its previous CPU finished switching it out).
pub unsafe fn switch_to(
    prev: &ThreadStruct,
    prev_user: bool,
    next: &ThreadStruct,
    next_user: bool,
    prev_token: *const u8,
) -> *const u8 {
    // SAFETY: per the function contract, only this CPU touches these fields now.
    unsafe {
        if prev_user {
            core::arch::asm!("fxsave64 [{}]", in(reg) (*prev.fpu.get()).0.as_mut_ptr(), options(nostack));
        }
        if next_user {
            core::arch::asm!("fxrstor64 [{}]", in(reg) (*next.fpu.get()).0.as_ptr(), options(nostack));
            let fs = next.fs_base.load(Ordering::Relaxed);
            if !prev_user || fs != prev.fs_base.load(Ordering::Relaxed) {
                wrmsr(msr::IA32_FS_BASE, fs);
            }
        }
        __switch_to_asm(prev.sp.get(), *next.sp.get(), prev_token)
    }
}
