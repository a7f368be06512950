//! Core kernel: printk, panics, the command line, tasks, signals, time and system calls.

pub mod cmdline;
pub mod errno;
#[cfg(not(test))]
pub mod exit;
#[cfg(not(test))]
pub mod kallsyms;
#[cfg(not(test))]
pub mod panic;
pub mod printk;
#[cfg(not(test))]
pub mod signal;
#[cfg(not(test))]
pub mod sys;
#[cfg(not(test))]
pub mod syscalls;
#[cfg(not(test))]
pub mod task;
#[cfg(not(test))]
pub mod time;
