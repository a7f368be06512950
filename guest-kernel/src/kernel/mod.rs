//! Core kernel: printk, panics, the command line, tasks and their life cycle (fork, exit,
//! signals, kernel threads), futexes, time, workqueues and system calls.

pub mod cmdline;
#[cfg(not(test))]
pub mod cpu;
pub mod cpuhotplug;
pub mod cpumask;
pub mod errno;
#[cfg(not(test))]
pub mod exit;
#[cfg(not(test))]
pub mod fork;
pub mod futex;
#[cfg(not(test))]
pub mod groups;
#[cfg(not(test))]
pub mod hung_task;
#[cfg(not(test))]
pub mod itimer;
#[cfg(not(test))]
pub mod kallsyms;
#[cfg(not(test))]
pub mod ksysfs;
#[cfg(not(test))]
pub mod kthread;
#[cfg(not(test))]
pub mod locking;
#[cfg(not(test))]
pub mod panic;
pub mod pid;
pub mod printk;
#[cfg(not(test))]
pub mod reboot;
#[cfg(not(test))]
pub mod signal;
#[cfg(not(test))]
pub mod smpboot;
#[cfg(not(test))]
pub mod softirq;
#[cfg(not(test))]
pub mod sys;
#[cfg(not(test))]
pub mod syscalls;
#[cfg(not(test))]
pub mod sysinfo;
#[cfg(not(test))]
pub mod task;
#[cfg(not(test))]
pub mod tasklist;
#[cfg(not(test))]
pub mod test_workqueue;
#[cfg(not(test))]
pub mod time;
#[cfg(not(test))]
pub mod timer;
#[cfg(not(test))]
pub mod timer_list;
#[cfg(not(test))]
pub mod utsname;
#[cfg(not(test))]
pub mod watchdog;
#[cfg(not(test))]
pub mod workqueue;
pub mod workqueue_internal;
