//! `execve`: replace the current task's program with an ELF executable from the filesystem,
//! or with a `#!` script's interpreter (`binfmt_script`).
//!
//! Builds the new address space completely before touching the old one, so a failed exec
//! returns an error to the caller with its old image intact.

use alloc::string::String;
use alloc::sync::Arc;
use core::sync::atomic::Ordering;

use alloc::vec;
use alloc::vec::Vec;
use spin::Mutex;

use super::binfmt_elf::{self, *};
use crate::arch::entry::TrapFrame;
use crate::arch::phys_to_virt;
use crate::kernel::errno::*;
use crate::kernel::task::{Task, PF_FORKNOEXEC, PF_KTHREAD};
use crate::mm::filemap::kernel_read;
use crate::mm::mmap::{MmStruct, PAGE, PROT_EXEC, PROT_READ, PROT_WRITE, STACK_TOP};
use crate::mm::vma::FileImage;

const MAX_ARG_BYTES: usize = 128 * 1024;

pub struct Image {
    pub mm: MmStruct,
    pub entry: u64,
    pub rsp: u64,
}

fn prot_of(flags: u32) -> u64 {
    let mut p = 0;
    if flags & PF_R != 0 {
        p |= PROT_READ;
    }
    if flags & PF_W != 0 {
        p |= PROT_WRITE;
    }
    if flags & PF_X != 0 {
        p |= PROT_EXEC;
    }
    p
}

/// Copy `data` into the page at `va` of `mm` at `offset_in_page`, allocating it if needed.
fn fill_page(mm: &mut MmStruct, va: u64, offset_in_page: usize, data: &[u8]) -> KResult<()> {
    let (phys, fresh) = mm.fault_in_page(va)?;
    let page = phys_to_virt(phys) as *mut u8;
    let end = offset_in_page + data.len();
    // SAFETY: `page` is a whole page of ours in the direct map, and callers split at page
    // boundaries, so `offset_in_page + data.len() <= PAGE`. A fresh page gets zeros only
    // where `data` doesn't land (kernel code is slow to emulate: don't write it twice).
    unsafe {
        if fresh {
            core::ptr::write_bytes(page, 0, offset_in_page);
            core::ptr::write_bytes(page.add(end), 0, PAGE as usize - end);
        }
        core::ptr::copy_nonoverlapping(data.as_ptr(), page.add(offset_in_page), data.len());
    }
    Ok(())
}

/// Place `data` at user address `addr` in `mm` (page by page through the direct map).
fn place(mm: &mut MmStruct, addr: u64, data: &[u8]) -> KResult<()> {
    let mut done = 0;
    while done < data.len() {
        let va = addr + done as u64;
        let page = va & !(PAGE - 1);
        let off = (va - page) as usize;
        let n = (PAGE as usize - off).min(data.len() - done);
        fill_page(mm, page, off, &data[done..done + n])?;
        done += n;
    }
    Ok(())
}

/// Load `path` with `argv`/`envp` into a new address space.
pub fn load(path: &str, argv: &[String], envp: &[String]) -> KResult<Image> {
    load_binary(path, argv, envp, 0)
}

/// `load` for an ELF file, or a `#!` script's interpreter (`depth` scripts deep).
fn load_binary(path: &str, argv: &[String], envp: &[String], depth: u32) -> KResult<Image> {
    let w = super::open::walker();
    let exe = w.lookup(&w.cwd, path, true)?;
    let file = exe.inode()?;
    // Only regular files with an execute bit run (`may_open` with MAY_EXEC).
    if !file.is_reg() {
        return Err(EACCES);
    }
    file.permission(w.fsuid, w.fsgid, 1)?;
    let plan = {
        // The ELF header and program headers, through the page cache (`kernel_read`).
        let size = file.size();
        let mut head = vec![0u8; size.min(PAGE) as usize];
        kernel_read(&file, 0, &mut head)?;
        if let Some(script) = super::binfmt_script::parse(&head) {
            if depth >= super::binfmt_script::MAX_DEPTH {
                return Err(ELOOP);
            }
            let (interp, arg) = script?;
            let argv = super::binfmt_script::interpreter_argv(&interp, arg, path, argv);
            return load_binary(&interp, &argv, envp, depth + 1);
        }
        if let Some(end) = binfmt_elf::headers_end(&head) {
            if end > head.len() && end as u64 <= size {
                head.resize(end, 0);
                kernel_read(&file, 0, &mut head)?;
            }
        }
        binfmt_elf::parse_headers(&head, size)?
    };
    let mut mm = MmStruct::new()?;
    mm.exe_file = Some(exe.clone());
    for seg in &plan.segments {
        let start = seg.vaddr & !(PAGE - 1);
        let end = crate::mm::mmap::page_align_up(seg.vaddr + seg.memsz).ok_or(ENOEXEC)?;
        let prot = prot_of(seg.flags);
        // The segment's pages are read from the file at their first fault, as Linux maps an
        // executable (`elf_map`): a program that exits at once touches a few pages of it,
        // not all. Past `p_filesz` they read as zeros (`.bss`), and beyond the last file page
        // the VMA is demand-zero like any anonymous memory.
        if seg.vaddr % PAGE != seg.offset % PAGE {
            return Err(EINVAL);
        }
        let image = Arc::new(FileImage {
            inode: file.clone(),
            path: Some(exe.clone()),
            file_end: seg.offset + seg.filesz,
        });
        mm.insert_file_vma(start, end, prot, seg.offset / PAGE, image);
        // Code and data bounds, as Linux's load_elf_binary records them (/proc/<pid>/status).
        let file_end = seg.vaddr + seg.filesz;
        if seg.flags & PF_X != 0 {
            mm.start_code = if mm.end_code == 0 {
                seg.vaddr
            } else {
                mm.start_code.min(seg.vaddr)
            };
            mm.end_code = mm.end_code.max(file_end);
        }
        mm.start_data = mm.start_data.max(seg.vaddr);
        mm.end_data = mm.end_data.max(file_end);
    }
    mm.start_brk = crate::mm::mmap::page_align_up(plan.end).ok_or(ENOEXEC)?;
    mm.brk = mm.start_brk;

    // The stack: a grows-down VMA below STACK_TOP, its top pages filled with the initial image.
    let total: usize = argv.iter().chain(envp).map(|s| s.len() + 1).sum();
    if total > MAX_ARG_BYTES {
        return Err(E2BIG);
    }
    let argv_b: Vec<&[u8]> = argv.iter().map(|s| s.as_bytes()).collect();
    let envp_b: Vec<&[u8]> = envp.iter().map(|s| s.as_bytes()).collect();
    let auxv = [
        (AT_PHDR, plan.phdr),
        (AT_PHENT, plan.phent),
        (AT_PHNUM, plan.phnum),
        (AT_PAGESZ, PAGE),
        (AT_BASE, 0),
        (AT_FLAGS, 0),
        (AT_ENTRY, plan.entry),
        (AT_UID, 0),
        (AT_EUID, 0),
        (AT_GID, 0),
        (AT_EGID, 0),
        (AT_SECURE, 0),
        (AT_CLKTCK, 100),
        (AT_HWCAP, crate::arch::cpu::cpuid(1, 0).edx as u64),
    ];
    let mut random = [0u8; 16];
    crate::drivers::random::fill(&mut random);
    let (stack_image, rsp) = build_stack(STACK_TOP, &argv_b, &envp_b, &auxv, random);
    mm.setup_stack(STACK_TOP, rsp, plan.executable_stack)?;
    place(&mut mm, rsp, &stack_image)?;
    record_arg_env(&mut mm, &stack_image, argv, envp);
    Ok(Image {
        mm,
        entry: plan.entry,
        rsp,
    })
}

/// Record where the argument and environment strings landed, for /proc/<pid>/cmdline and
/// environ (Linux's `mm->arg_start` .. `env_end`): `build_stack` puts them back to back,
/// argv's first, starting at the string the first argv (or envp) pointer points at.
fn record_arg_env(mm: &mut MmStruct, stack: &[u8], argv: &[String], envp: &[String]) {
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&stack[i * 8..i * 8 + 8]);
        u64::from_le_bytes(w)
    };
    // The image starts with argc, then argv[], NULL, envp[], NULL.
    let first = match (argv.is_empty(), envp.is_empty()) {
        (false, _) => word(1),
        (true, false) => word(2),
        (true, true) => return,
    };
    let len = |v: &[String]| v.iter().map(|s| s.len() as u64 + 1).sum::<u64>();
    mm.arg_start = first;
    mm.arg_end = first + len(argv);
    mm.env_start = mm.arg_end;
    mm.env_end = mm.env_start + len(envp);
}

/// Kill the other threads of the group and wait until they are gone (`de_thread`).
fn de_thread(task: &Task) {
    if task.signal.live.load(Ordering::Acquire) <= 1 {
        return;
    }
    task.signal.group_exec.store(true, Ordering::Release);
    for th in crate::kernel::tasklist::thread_group(task) {
        if th.pid != task.pid {
            crate::kernel::signal::zap_thread(&th);
        }
    }
    while task.signal.live.load(Ordering::Acquire) > 1 {
        crate::sched::schedule();
    }
    task.signal.group_exec.store(false, Ordering::Release);
}

/// Switch `task` (the running task) to a loaded image; the next return to user mode starts
/// it (`begin_new_exec`).
pub fn commit(task: &Task, image: Image, path: &str, frame: &mut TrapFrame) {
    let old_pid = task.pid;
    de_thread(task);
    crate::kernel::exit::release_user_tid(task);
    crate::kernel::exit::vfork_release(task);
    let mm = crate::mm::Mm::new(image.mm);
    let old_mm = task.mm.lock().replace(mm.clone());
    crate::sched::activate_mm(&mm);
    if let Some(old_mm) = old_mm {
        crate::mm::mmput(old_mm);
    }
    task.flags
        .fetch_and(!(PF_KTHREAD | PF_FORKNOEXEC), Ordering::Relaxed);
    // Descriptor tables and dispositions shared with another process are copied first.
    let files = task.files();
    if Arc::strong_count(&files) > 2 {
        let copy = files.lock().clone();
        *task.files.lock() = Arc::new(Mutex::new(copy));
    }
    let closed = task.files().lock().take_cloexec();
    drop(closed); // released outside the table's lock
    let sighand = task.sighand();
    if Arc::strong_count(&sighand) > 2 {
        let copy = sighand.lock().clone();
        *task.sighand.lock() = Arc::new(Mutex::new(copy));
    }
    task.sighand().lock().actions.iter_mut().for_each(|a| {
        // Caught signals revert to default; ignored ones stay ignored (SIG_IGN = 1).
        if a.handler > 1 {
            *a = Default::default();
        }
    });
    *task.altstack.lock() = [0, 2, 0];
    task.thread.fs_base.store(0, Ordering::Relaxed);
    // SAFETY: FS_BASE only affects user-mode %fs accesses.
    unsafe { crate::arch::cpu::wrmsr(crate::arch::cpu::msr::IA32_FS_BASE, 0) };
    task.thread.fpu_reset_current();
    let name = path.rsplit('/').next().unwrap_or(path);
    task.set_comm(name);
    *frame = TrapFrame::new_user(image.entry, image.rsp);
    crate::trace::trace_sched_process_exec(task, old_pid, path);
}

pub fn sys_execve(frame: &mut TrapFrame, path: u64, argv: u64, envp: u64) -> KResult<i64> {
    use crate::mm::usercopy::user_string_array;
    let path = super::open::getname(path)?;
    let argv = user_string_array(argv, 4096)?;
    let envp = user_string_array(envp, 4096)?;
    let image = load(&path, &argv, &envp)?;
    commit(crate::kernel::task::current(), image, &path, frame);
    crate::kernel::signal::recalc_sigpending(crate::kernel::task::current());
    Ok(0)
}
