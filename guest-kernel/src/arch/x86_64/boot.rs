//! PVH entry: 32-bit protected mode with paging off → long mode → the higher-half kernel.
//!
//! The VMM (ours or QEMU) jumps to `pvh_start` with `%ebx` = physical address of
//! `hvm_start_info`. Everything the switch needs is static data in the identity-linked `.boot`
//! section, including fully pre-filled page tables, so entering long mode costs a few dozen
//! instructions (guest kernel code is emulated on our development machines; no loops here).
//!
//! Page tables built here stay the kernel's master tables (`init_mm`):
//! - PML4[0]   → identity map of the first 4 GiB (used by the boot and AP start-up paths),
//! - PML4[256] → the direct map of physical memory at [`super::PAGE_OFFSET`] (first 4 GiB),
//! - PML4[511] → the kernel image at `0xffffffff80000000` (first 2 GiB of physical memory).
//!
//! All with 2 MiB pages (every CPU model QEMU offers has them; 1 GiB pages are optional).

core::arch::global_asm!(
    r#"
    .section .note.Xen, "a"
    .p2align 2
    .long 4                 /* name size: "Xen\0" */
    .long 4                 /* desc size */
    .long 18                /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .long pvh_start

    .section .boot.text, "ax"
    .code32
    .global pvh_start
pvh_start:
    cli
    cld
    mov $0x40, %al          /* boot code: kernel entry */
    out %al, $0x80
    mov %ebx, %edi          /* hvm_start_info, first argument of x86_64_start_kernel */
    lgdt boot_gdt_ptr
    mov $0x6a0, %eax        /* CR4: PAE | PGE | OSFXSR | OSXMMEXCPT */
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $0xc0000080, %ecx   /* EFER: SCE | LME | NXE */
    rdmsr
    or $0x901, %eax
    wrmsr
    mov $0x80010033, %eax   /* CR0: PG | WP | NE | ET | MP | PE */
    mov %eax, %cr0
    ljmp $0x10, $startup_64

    .code64
startup_64:
    mov $0x18, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs
    movabs $__boot_stack_top, %rsp
    xor %ebp, %ebp
    movabs $x86_64_start_kernel, %rax
    call *%rax
1:  hlt
    jmp 1b

    .section .boot.data, "aw"
    .p2align 3
boot_gdt:
    .quad 0
    .quad 0x00cf9a000000ffff    /* 0x08: 32-bit kernel code */
    .quad 0x00af9a000000ffff    /* 0x10: 64-bit kernel code (Linux's __KERNEL_CS) */
    .quad 0x00cf92000000ffff    /* 0x18: kernel data */
boot_gdt_end:
    .global boot_gdt_ptr
boot_gdt_ptr:
    .word boot_gdt_end - boot_gdt - 1
    .quad boot_gdt

    .p2align 12
    .global boot_pml4
boot_pml4:
    .quad boot_pdpt + 3
    .fill 255, 8, 0
    .quad boot_pdpt + 3
    .fill 254, 8, 0
    .quad boot_pdpt_kernel + 3
boot_pdpt:
    .quad boot_pd + 0x0003
    .quad boot_pd + 0x1003
    .quad boot_pd + 0x2003
    .quad boot_pd + 0x3003
    .fill 508, 8, 0
boot_pdpt_kernel:
    .fill 510, 8, 0
    .quad boot_pd + 0x0003
    .quad boot_pd + 0x1003
boot_pd:
    .set i, 0
    .rept 2048
    .quad (i << 21) | 0x83     /* present, writable, 2 MiB (not global: PML4[0] aliases it) */
    .set i, i + 1
    .endr

    .section .bss.boot_stack, "aw", @nobits
    .p2align 12
    .global __boot_stack_top
__boot_stack_bottom:
    .skip 65536
__boot_stack_top:
    .text
"#,
    options(att_syntax)
);

extern "C" {
    static boot_pml4: u8;
}

/// Physical address of the kernel's master PML4 (`init_mm.pgd`).
pub fn init_pml4_phys() -> u64 {
    // The symbol is identity-linked, so its address is its physical address.
    core::ptr::addr_of!(boot_pml4) as u64
}
