//! procfs (Linux's fs/proc/): the plumbing (`inode`, `root`, `base`, `proc_sysctl`) and the
//! renderers of each file's text in Linux's formats.

pub mod array;
#[cfg(not(test))]
pub mod base;
pub mod capflags;
pub mod cmdline;
pub mod cpuinfo;
#[cfg(not(test))]
pub mod inode;
pub mod interrupts;
pub mod pid_cmdline;
#[cfg(not(test))]
pub mod proc_net;
#[cfg(not(test))]
pub mod proc_sysctl;
#[cfg(not(test))]
pub mod root;
pub mod stat;
pub mod uptime;
pub mod version;

#[cfg(not(test))]
pub use root::proc_mount;
