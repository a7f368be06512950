//! Kernel entry and exit: exception/interrupt stubs and the `syscall` entry.
//!
//! Every way into the kernel builds the same [`TrapFrame`] on the kernel stack and leaves
//! through `ret_from_trap` (`iretq`). Entries from user mode `swapgs` so that `%gs` points at
//! this CPU's [`super::percpu::PerCpu`] while in the kernel.

use super::gdt::{USER_CS, USER_DS};

/// Vector number recorded in the frame of a `syscall` entry.
pub const SYSCALL_VECTOR: u64 = 0x100;

/// Registers saved on kernel entry, lowest address first.
#[repr(C)]
#[derive(Debug, Default, Clone)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

impl TrapFrame {
    /// Whether the frame was taken from user mode (Linux's `user_mode(regs)`).
    pub fn user_mode(&self) -> bool {
        self.cs & 3 == 3
    }

    /// A frame that enters user mode at `rip` with stack `rsp` and interrupts on.
    pub fn new_user(rip: u64, rsp: u64) -> Self {
        TrapFrame {
            rip,
            rsp,
            cs: USER_CS as u64,
            ss: USER_DS as u64,
            rflags: 0x202,
            ..Default::default()
        }
    }
}

core::arch::global_asm!(
    r#"
    /* The general registers of a TrapFrame, pushed below its vector and error code. */
    .macro PUSH_REGS
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    .endm
    .macro POP_REGS
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    .endm

    .section .text.entry, "ax"
    .p2align 4
    .global trap_stubs
trap_stubs:
    .set vec, 0
    .rept 256
    .p2align 4
    .if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    .else
    push 0
    .endif
    push vec
    jmp trap_common
    .set vec, vec + 1
    .endr

trap_common:
    test byte ptr [rsp + 24], 3
    jz 1f
    swapgs
1:
    PUSH_REGS
    mov rdi, rsp
    cld
    call trap_handler
    .global ret_from_trap
ret_from_trap:
    POP_REGS
    test byte ptr [rsp + 24], 3
    jz 2f
    swapgs
2:
    add rsp, 16
    iretq

    /*
     * NMIs: the TrapFrame as above, on the IST stack. An NMI can arrive in ring 0 while %gs
     * is still (or again) the user's: the syscall entry's first instructions and
     * ret_from_trap's last ones. So, as Linux's paranoid_entry, the GS base MSR decides
     * (the kernel's is a kernel address, the user's never is), and %rbx remembers for the
     * way out.
     */
    .p2align 4
    .global asm_exc_nmi
asm_exc_nmi:
    push 0
    push 2
    PUSH_REGS
    mov ecx, 0xc0000101
    rdmsr
    xor ebx, ebx
    test edx, edx
    js 3f
    swapgs
    mov ebx, 1
3:
    mov rdi, rsp
    cld
    call exc_nmi
    test ebx, ebx
    jz 4f
    swapgs
4:
    POP_REGS
    add rsp, 16
    iretq

    .global entry_SYSCALL_64
entry_SYSCALL_64:
    swapgs
    mov gs:[16], rsp
    mov rsp, gs:[8]
    push {user_ds}
    push qword ptr gs:[16]
    push r11
    push {user_cs}
    push rcx
    push 0
    push {syscall_vector}
    PUSH_REGS
    mov rdi, rsp
    xor ebp, ebp
    call do_syscall_64
    jmp ret_from_trap

    /* First entry into user mode: rdi = kernel stack top holding a TrapFrame below it. */
    .global enter_user_frame
enter_user_frame:
    mov rsp, rdi
    jmp ret_from_trap
    .text
"#,
    user_ds = const USER_DS as u64,
    user_cs = const USER_CS as u64,
    syscall_vector = const SYSCALL_VECTOR,
);

extern "C" {
    /// 256 entry stubs, 16 bytes apart.
    pub fn trap_stubs();
    /// The NMI entry (vector 2), separate because of its `%gs` handling.
    pub fn asm_exc_nmi();
    pub fn entry_SYSCALL_64();
    fn enter_user_frame(frame: *const TrapFrame) -> !;
}

/// Leave the kernel through `frame` (already on the current kernel stack).
///
/// # Safety
/// `frame` must sit at the top of the current task's kernel stack and describe a valid user
/// context; everything above it on the stack is abandoned.
pub unsafe fn return_to_user(frame: *const TrapFrame) -> ! {
    // SAFETY: delegated to the caller.
    unsafe { enter_user_frame(frame) }
}
