//! watchvm guest kernel: boots through PVH, runs Linux x86_64 static binaries.
//!
//! Each subsystem lives in the folder Linux keeps it in (arch/, mm/, kernel/, fs/, drivers/);
//! `init::start_kernel` reads like a table of contents of the boot.
#![cfg_attr(not(test), no_std)]
#![cfg_attr(not(test), no_main)]

extern crate alloc;

mod arch;
#[cfg(not(test))]
mod drivers;
mod fs;
#[cfg(not(test))]
mod init;
mod kernel;
mod mm;
