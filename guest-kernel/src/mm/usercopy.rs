//! Every access to user memory goes through here.
//!
//! Ranges are checked against the user half first; the copy itself is a `rep movsq` for the
//! whole words and a `rep movsb` for the rest, whose faults the page-fault handler turns into
//! a short copy (Linux's exception-table fixup), so a bad user pointer yields `-EFAULT`,
//! never a kernel oops. (Words, not bytes: where string instructions are emulated one
//! iteration at a time, a page costs 512 iterations instead of 4096.)

use alloc::string::String;
use alloc::vec::Vec;

use crate::arch::entry::TrapFrame;
use crate::arch::{phys_to_virt, USER_END};
use crate::kernel::errno::*;

const PAGE_SIZE: usize = crate::mm::buddy::PAGE_SIZE as usize;

core::arch::global_asm!(
    r#"
    .text
    .global __copy_user
__copy_user:
    mov rcx, rdx
    shr rcx, 3
    and edx, 7
    .global __copy_user_insn_q
__copy_user_insn_q:
    rep movsq
    mov rcx, rdx
    .global __copy_user_insn
__copy_user_insn:
    rep movsb
    xor eax, eax
    ret
    .global __copy_user_fixup_q
__copy_user_fixup_q:
    lea rax, [rdx + rcx * 8]
    ret
    .global __copy_user_fixup
__copy_user_fixup:
    mov rax, rcx
    ret
"#
);

extern "C" {
    /// Copy `len` bytes; returns the number of bytes *not* copied.
    fn __copy_user(dst: *mut u8, src: *const u8, len: usize) -> usize;
    fn __copy_user_insn();
    fn __copy_user_fixup();
    fn __copy_user_insn_q();
    fn __copy_user_fixup_q();
}

/// Called from the page-fault handler for kernel-mode faults: resume at the fixup if the fault
/// came from the user-copy instruction.
pub fn fixup(frame: &mut TrapFrame) -> bool {
    if frame.rip == __copy_user_insn as *const () as u64 {
        frame.rip = __copy_user_fixup as *const () as u64;
        return true;
    }
    // Faulted among the words: `rcx` words and the `rdx` tail bytes are left.
    if frame.rip == __copy_user_insn_q as *const () as u64 {
        frame.rip = __copy_user_fixup_q as *const () as u64;
        return true;
    }
    false
}

pub fn access_ok(addr: u64, len: usize) -> bool {
    addr.checked_add(len as u64)
        .is_some_and(|end| end <= USER_END)
}

pub fn copy_from_user(dst: &mut [u8], src: u64) -> KResult<()> {
    if !access_ok(src, dst.len()) {
        return Err(EFAULT);
    }
    // SAFETY: `dst` is a valid kernel buffer; the source range lies in the user half and any
    // fault on it is caught by the fixup.
    match unsafe { __copy_user(dst.as_mut_ptr(), src as *const u8, dst.len()) } {
        0 => Ok(()),
        _ => Err(EFAULT),
    }
}

pub fn copy_to_user(dst: u64, src: &[u8]) -> KResult<()> {
    if !access_ok(dst, src.len()) {
        return Err(EFAULT);
    }
    // SAFETY: as for `copy_from_user`, with the roles swapped.
    match unsafe { __copy_user(dst as *mut u8, src.as_ptr(), src.len()) } {
        0 => Ok(()),
        _ => Err(EFAULT),
    }
}

/// Copy `len` bytes of the page at `phys`, from `offset`, to user memory at `dst` (Linux's
/// `copy_page_to_iter`): a read from the page cache with no bounce buffer. The caller holds
/// a reference to the page and no spin lock (the copy may fault).
pub fn copy_page_to_user(dst: u64, phys: u64, offset: usize, len: usize) -> KResult<()> {
    assert!(offset + len <= PAGE_SIZE);
    if !access_ok(dst, len) {
        return Err(EFAULT);
    }
    let src = (phys_to_virt(phys) as *const u8).wrapping_add(offset);
    // SAFETY: the source lies inside one page of the direct map the caller holds a reference
    // to; the destination is in the user half and its faults are caught by the fixup.
    match unsafe { __copy_user(dst as *mut u8, src, len) } {
        0 => Ok(()),
        _ => Err(EFAULT),
    }
}

/// Copy `len` bytes from user memory at `src` into the page at `phys` at `offset` (Linux's
/// `copy_page_from_iter`); the conditions of [`copy_page_to_user`].
pub fn copy_page_from_user(phys: u64, offset: usize, src: u64, len: usize) -> KResult<()> {
    assert!(offset + len <= PAGE_SIZE);
    if !access_ok(src, len) {
        return Err(EFAULT);
    }
    let dst = (phys_to_virt(phys) as *mut u8).wrapping_add(offset);
    // SAFETY: as for `copy_page_to_user`, with the roles swapped.
    match unsafe { __copy_user(dst, src as *const u8, len) } {
        0 => Ok(()),
        _ => Err(EFAULT),
    }
}

/// Zero `len` bytes of user memory at `dst` (Linux's `clear_user`): a file's hole read.
pub fn clear_user(dst: u64, len: usize) -> KResult<()> {
    let zeros = [0u8; 256];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(zeros.len());
        copy_to_user(dst + done as u64, &zeros[..n])?;
        done += n;
    }
    Ok(())
}

pub fn read_user<T: Copy + Default>(addr: u64) -> KResult<T> {
    let mut value = T::default();
    // SAFETY: T is plain data (Copy); we fill exactly its bytes.
    let bytes = unsafe {
        core::slice::from_raw_parts_mut(&mut value as *mut T as *mut u8, core::mem::size_of::<T>())
    };
    copy_from_user(bytes, addr)?;
    Ok(value)
}

pub fn write_user<T: Copy>(addr: u64, value: &T) -> KResult<()> {
    // SAFETY: reading the bytes of a Copy value.
    let bytes = unsafe {
        core::slice::from_raw_parts(value as *const T as *const u8, core::mem::size_of::<T>())
    };
    copy_to_user(addr, bytes)
}

/// Read a NUL-terminated string of at most `max` bytes.
pub fn strncpy_from_user(addr: u64, max: usize) -> KResult<String> {
    let mut out = Vec::new();
    let mut chunk = [0u8; 64];
    let mut cur = addr;
    while out.len() < max {
        // Read byte-wise near page ends so a string ending just before an unmapped page works.
        let to_page_end = (4096 - (cur % 4096)) as usize;
        let n = chunk.len().min(to_page_end);
        copy_from_user(&mut chunk[..n], cur)?;
        if let Some(pos) = chunk[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&chunk[..pos]);
            return String::from_utf8(out).map_err(|_| EINVAL);
        }
        out.extend_from_slice(&chunk[..n]);
        cur += n as u64;
    }
    Err(ENAMETOOLONG)
}

/// Read a NULL-terminated array of user string pointers (argv, envp).
pub fn user_string_array(addr: u64, max_items: usize) -> KResult<Vec<String>> {
    let mut out = Vec::new();
    if addr == 0 {
        return Ok(out);
    }
    loop {
        let ptr: u64 = read_user(addr + out.len() as u64 * 8)?;
        if ptr == 0 {
            return Ok(out);
        }
        if out.len() == max_items {
            return Err(E2BIG);
        }
        out.push(strncpy_from_user(ptr, 128 * 1024)?);
    }
}
