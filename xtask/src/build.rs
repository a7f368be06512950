//! Building every artifact: the VMM (host), the guest kernel (x86_64-unknown-none), the guest
//! programs (x86_64-unknown-linux-musl, static) and the initramfs.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::cpio::{self, Member};

pub const KERNEL_TARGET: &str = "x86_64-unknown-none";
pub const USER_TARGET: &str = "x86_64-unknown-linux-musl";
/// Programs from guest-user/ placed in /bin (init goes to /sbin/init).
pub const PROGRAMS: &[&str] = &[
    "bootmark",
    "chrt",
    "efault",
    "exitcode",
    "fstest",
    "kill",
    "mmtest",
    "nice",
    "procbench",
    "proctest",
    "ps",
    "readline",
    "renice",
    "schedtest",
    "sigtest",
    "sleep",
    "taskset",
];

pub struct Artifacts {
    pub vmm: PathBuf,
    pub kernel: PathBuf,
    pub initramfs: PathBuf,
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Where the guest artifacts go (also read by the end-to-end tests).
pub fn guest_dir() -> PathBuf {
    root().join("target/guest")
}

pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("{:?} failed ({status})", cmd);
    }
    Ok(())
}

/// `rustup target add` for the guest targets when they're missing.
fn ensure_targets() -> Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(root())
        .output();
    let installed = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        _ => return Ok(()), // no rustup: trust the toolchain
    };
    let missing: Vec<&str> = [KERNEL_TARGET, USER_TARGET]
        .into_iter()
        .filter(|t| !installed.lines().any(|l| l == *t))
        .collect();
    if !missing.is_empty() {
        run(Command::new("rustup")
            .arg("target")
            .arg("add")
            .args(&missing)
            .current_dir(root()))?;
    }
    Ok(())
}

pub fn kernel() -> Result<PathBuf> {
    let dir = root().join("guest-kernel");
    run(cargo()
        .args(["build", "--release", "--target", KERNEL_TARGET])
        .current_dir(&dir))?;
    let built = dir
        .join("target")
        .join(KERNEL_TARGET)
        .join("release/kernel");
    let mut elf = std::fs::read(&built).with_context(|| format!("reading {}", built.display()))?;
    crate::kallsyms::embed(&mut elf)?;
    let out = guest_dir().join("kernel");
    std::fs::create_dir_all(guest_dir())?;
    std::fs::write(&out, elf)?;
    Ok(out)
}

pub fn user_programs() -> Result<PathBuf> {
    let dir = root().join("guest-user");
    run(cargo()
        .args(["build", "--release", "--target", USER_TARGET])
        .current_dir(&dir))?;
    Ok(dir.join("target").join(USER_TARGET).join("release"))
}

pub fn initramfs(bin_dir: &Path) -> Result<PathBuf> {
    let read = |name: &str| {
        std::fs::read(bin_dir.join(name)).with_context(|| format!("reading guest program {name}"))
    };
    let init = read("init")?;
    let programs: Vec<(String, Vec<u8>)> = PROGRAMS
        .iter()
        .map(|p| Ok((format!("bin/{p}"), read(p)?)))
        .collect::<Result<_>>()?;
    let mut members = vec![
        Member::Dir("bin"),
        Member::Dir("sbin"),
        Member::Dir("dev"),
        Member::Dir("proc"),
        Member::Dir("tmp"),
        Member::CharDev {
            path: "dev/console",
            major: 5,
            minor: 1,
        },
        Member::CharDev {
            path: "dev/ttyS0",
            major: 4,
            minor: 64,
        },
        Member::CharDev {
            path: "dev/hvc0",
            major: 229,
            minor: 0,
        },
        Member::File {
            path: "sbin/init",
            mode: 0o755,
            data: &init,
        },
    ];
    for (path, data) in &programs {
        members.push(Member::File {
            path,
            mode: 0o755,
            data,
        });
    }
    let out = guest_dir().join("initramfs.cpio");
    std::fs::write(&out, cpio::archive(&members))?;
    Ok(out)
}

pub fn vmm() -> Result<PathBuf> {
    run(cargo()
        .args(["build", "--release", "-p", "vmm"])
        .current_dir(root()))?;
    Ok(root().join("target/release/vmm"))
}

pub fn all() -> Result<Artifacts> {
    ensure_targets()?;
    let vmm = vmm()?;
    let kernel = kernel()?;
    let bin_dir = user_programs()?;
    let initramfs = initramfs(&bin_dir)?;
    Ok(Artifacts {
        vmm,
        kernel,
        initramfs,
    })
}
