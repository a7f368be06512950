//! `cargo xtask run`: build, then boot on our VMM with this terminal as the console. Without
//! a program after `--` in `--cmdline`, init starts the shell (`/bin/sh`) on it; `poweroff`
//! ends the VM.

use anyhow::{bail, Result};

use crate::build;

pub fn run(cpus: u8, mem: &str, cmdline: &str) -> Result<()> {
    let a = build::all()?;
    let status = std::process::Command::new(&a.vmm)
        .args(["run", "--kernel"])
        .arg(&a.kernel)
        .arg("--initrd")
        .arg(&a.initramfs)
        .args([
            "--cpus",
            &cpus.to_string(),
            "--mem",
            mem,
            "--cmdline",
            cmdline,
        ])
        .status()?;
    match status.code() {
        Some(0) => Ok(()),
        // The guest's exit status (or vmm's error status) becomes ours, as `vmm run`'s is.
        Some(code) => std::process::exit(code),
        None => bail!("vmm was killed ({status})"),
    }
}
