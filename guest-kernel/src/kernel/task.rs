//! The task structure (Linux's `task_struct`, reduced to what boot-to-init needs) and
//! `current`.
//!
//! Until the scheduler lands, one user task (init) runs on the boot CPU; `current` is that
//! task while it runs. Its kernel stack is where user entries land (TSS.RSP0 / `syscall`).

use alloc::boxed::Box;
use alloc::string::String;

use crate::fs::file::FdTable;
use crate::kernel::signal::SigHand;

pub const KERNEL_STACK_ORDER: usize = 2; // 16 KiB
pub const TASK_COMM_LEN: usize = 16;

pub struct Task {
    pub pid: u32,
    pub comm: [u8; TASK_COMM_LEN],
    pub mm: Option<crate::mm::MmRef>,
    pub files: FdTable,
    pub sighand: SigHand,
    pub fs_base: u64,
    pub clear_child_tid: u64,
    pub kernel_stack_top: u64,
    pub cwd: String,
}

impl Task {
    pub fn set_comm(&mut self, name: &str) {
        self.comm = [0; TASK_COMM_LEN];
        let bytes = name.as_bytes();
        let n = bytes.len().min(TASK_COMM_LEN - 1);
        self.comm[..n].copy_from_slice(&bytes[..n]);
    }

    pub fn comm_str(&self) -> &str {
        let end = self
            .comm
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(TASK_COMM_LEN);
        core::str::from_utf8(&self.comm[..end]).unwrap_or("?")
    }
}

static mut CURRENT: Option<Box<Task>> = None;

/// Install `task` as the running task.
pub fn set_current(task: Box<Task>) {
    // SAFETY: called once on the boot CPU before user mode starts; nothing else holds a
    // reference to CURRENT at that point.
    unsafe { *core::ptr::addr_of_mut!(CURRENT) = Some(task) };
}

/// The running task, if any (None in early boot and on CPUs that only idle).
pub fn try_current() -> Option<&'static mut Task> {
    if crate::arch::percpu::cpu_id() != 0 {
        return None;
    }
    // SAFETY: only the boot CPU runs the user task; its kernel paths (syscalls and faults) run
    // one at a time on that CPU, and interrupt handlers never touch the task.
    unsafe { (*core::ptr::addr_of_mut!(CURRENT)).as_deref_mut() }
}

pub fn current() -> &'static mut Task {
    try_current().expect("no current task")
}
