//! `cargo xtask test`: build everything, then the kernel's and the user programs' host unit
//! tests, then the workspace tests (VMM unit tests and the end-to-end tests that boot VMs on
//! KVM and QEMU).

use anyhow::Result;

use crate::build::{self, cargo, root, run};

pub fn all() -> Result<()> {
    let a = build::all()?;
    eprintln!("==> guest kernel unit tests (host)");
    run(build::kernel_cargo()?.args([
        "test",
        "--release",
        "--target",
        "x86_64-unknown-linux-gnu",
    ]))?;
    // The user programs' pure logic (the shell's lexer, parser and expansions, the shared
    // library) also builds for the host; the rest of guest-user is musl-only.
    eprintln!("==> guest user-space unit tests (host)");
    run(cargo()
        .args([
            "test",
            "--release",
            "--target",
            "x86_64-unknown-linux-gnu",
            "--lib",
            "--bin",
            "sh",
        ])
        .current_dir(root().join("guest-user")))?;
    eprintln!("==> workspace tests (VMM unit tests, end-to-end VM boots)");
    run(cargo()
        .args(["test", "--release", "--workspace"])
        .env("WATCHVM_KERNEL", &a.kernel)
        .env("WATCHVM_INITRAMFS", &a.initramfs)
        .env("WATCHVM_VMM", &a.vmm)
        .current_dir(root()))?;
    Ok(())
}
