pub mod array;
pub mod cmdline;
pub mod cpuinfo;
pub mod interrupts;
pub mod stat;
pub mod uptime;
pub mod version;
