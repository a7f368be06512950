//! Building every artifact: the VMM (host), the guest kernel (x86_64-unknown-none), the guest
//! programs (x86_64-unknown-linux-musl, static) and the initramfs.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::cpio::{self, Member};

pub const KERNEL_TARGET: &str = "x86_64-unknown-none";
pub const USER_TARGET: &str = "x86_64-unknown-linux-musl";
/// The host target the `vmm` binary is built for.
pub const VMM_TARGET: &str = "x86_64-unknown-linux-gnu";
/// Programs from guest-user/ placed in /bin (init goes to /sbin/init).
pub const PROGRAMS: &[&str] = &[
    "bootmark",
    "chrt",
    "compacttest",
    "coreutils",
    "efault",
    "exitcode",
    "fstest",
    "ipcs",
    "ipctest",
    "mmtest",
    "nice",
    "oomtest",
    "poweroff",
    "procbench",
    "proctest",
    "ps",
    "readline",
    "renice",
    "schedtest",
    "sh",
    "sigtest",
    "slabtest",
    "sockettest",
    "taskset",
    "ttytest",
];

/// The tools of the `coreutils` multi-call binary, each linked as /bin/NAME → coreutils (the
/// list `coreutils --list` prints; the tools VM test checks they agree).
pub const COREUTILS: &[&str] = &[
    "cat", "cp", "dmesg", "echo", "env", "false", "free", "grep", "head", "hostname", "id", "kill",
    "ln", "ls", "mkdir", "mkfifo", "mount", "mv", "rm", "rmdir", "sleep", "stat", "tail", "touch",
    "true", "umount", "uname", "uptime", "wc",
];

/// /etc/passwd and /etc/group: the names `ls -l`, `stat`, `id` and `ps` show for ids 0 and
/// 65534.
const PASSWD: &str =
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &str = "root:x:0:\nnogroup:x:65534:\n";

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

/// The output of `rustup ARGS`, or None without rustup.
fn rustup_output(args: &[&str]) -> Option<String> {
    let out = Command::new("rustup")
        .args(args)
        .current_dir(root())
        .env_remove("RUSTUP_TOOLCHAIN")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `rustup target add` for the user-program target when the host toolchain lacks it.
fn ensure_user_target() -> Result<()> {
    let Some(installed) = rustup_output(&["target", "list", "--installed"]) else {
        return Ok(()); // no rustup: trust the toolchain
    };
    if !installed.lines().any(|l| l == USER_TARGET) {
        run(Command::new("rustup")
            .args(["target", "add", USER_TARGET])
            .current_dir(root()))?;
    }
    Ok(())
}

/// The kernel's pinned nightly, the `channel` in guest-kernel/rust-toolchain.toml.
fn kernel_toolchain() -> Result<String> {
    let path = root().join("guest-kernel/rust-toolchain.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("channel"))
        .filter_map(|rest| rest.trim().strip_prefix('='))
        .map(|v| v.trim().trim_matches('"').to_string())
        .next()
        .with_context(|| format!("no channel in {}", path.display()))
}

/// Installs the kernel's toolchain with its target on first use.
fn ensure_kernel_toolchain(channel: &str) -> Result<()> {
    let Some(toolchains) = rustup_output(&["toolchain", "list"]) else {
        bail!("building the kernel needs rustup (it uses the pinned toolchain {channel})");
    };
    if !toolchains.lines().any(|l| l.starts_with(channel)) {
        eprintln!("==> installing the kernel's toolchain {channel}");
        run(Command::new("rustup")
            .args([
                "toolchain",
                "install",
                channel,
                "--profile",
                "minimal",
                "--no-self-update",
            ])
            .args(["--component", "rustfmt,clippy", "--target", KERNEL_TARGET])
            .current_dir(root()))?;
    }
    let installed = rustup_output(&["target", "list", "--installed", "--toolchain", channel]);
    if !installed.is_some_and(|t| t.lines().any(|l| l == KERNEL_TARGET)) {
        run(Command::new("rustup")
            .args(["target", "add", "--toolchain", channel, KERNEL_TARGET])
            .current_dir(root()))?;
    }
    Ok(())
}

/// `cargo` in guest-kernel/ on the kernel's pinned nightly (the only crate that needs one:
/// `-Z patchable-function-entry` gives every function the NOP that kfunc probes patch).
pub fn kernel_cargo() -> Result<Command> {
    let channel = kernel_toolchain()?;
    ensure_kernel_toolchain(&channel)?;
    let mut cmd = Command::new("rustup");
    cmd.args(["run", &channel, "cargo"])
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTC")
        .env_remove("CARGO")
        .current_dir(root().join("guest-kernel"));
    Ok(cmd)
}

pub fn kernel() -> Result<PathBuf> {
    let dir = root().join("guest-kernel");
    run(kernel_cargo()?.args(["build", "--release", "--target", KERNEL_TARGET]))?;
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
    let links: Vec<String> = COREUTILS.iter().map(|t| format!("bin/{t}")).collect();
    let mut members = vec![
        Member::Dir("bin"),
        Member::Dir("sbin"),
        Member::Dir("etc"),
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
        Member::File {
            path: "etc/passwd",
            mode: 0o644,
            data: PASSWD.as_bytes(),
        },
        Member::File {
            path: "etc/group",
            mode: 0o644,
            data: GROUP.as_bytes(),
        },
    ];
    members.extend(links.iter().map(|path| Member::Symlink {
        path,
        target: "coreutils",
    }));
    for (path, data) in &programs {
        members.push(Member::File {
            path,
            mode: 0o755,
            data,
        });
    }
    let out = guest_dir().join("initramfs.cpio");
    std::fs::write(&out, cpio::archive(&members))?;
    // The tools test's initramfs adds its `toolstest`, and the busybox one Debian's static
    // busybox too; the default one stays small (boot time counts every byte unpacked).
    let toolstest = read("toolstest")?;
    members.push(Member::File {
        path: "bin/toolstest",
        mode: 0o755,
        data: &toolstest,
    });
    std::fs::write(guest_dir().join(TOOLS_INITRAMFS), cpio::archive(&members))?;
    let bb_out = guest_dir().join(BUSYBOX_INITRAMFS);
    match static_busybox()? {
        Some(busybox) => {
            members.push(Member::File {
                path: "bin/busybox",
                mode: 0o755,
                data: &busybox,
            });
            std::fs::write(&bb_out, cpio::archive(&members))?;
        }
        None => {
            let _ = std::fs::remove_file(&bb_out);
            eprintln!(
                "note: no static busybox in {BUSYBOX_PATHS:?} (Debian: apt-get install \
                 busybox-static); the busybox VM tests will skip"
            );
        }
    }
    Ok(out)
}

/// The default initramfs plus `toolstest`, next to it in [`guest_dir`].
pub const TOOLS_INITRAMFS: &str = "initramfs-tools.cpio";

/// The tools initramfs plus /bin/busybox, when the host has a static busybox.
pub const BUSYBOX_INITRAMFS: &str = "initramfs-busybox.cpio";

/// Where Debian's `busybox-static` installs busybox.
const BUSYBOX_PATHS: &[&str] = &["/bin/busybox", "/usr/bin/busybox"];

/// The host's busybox if it is a static binary (a dynamic one could not run in the guest,
/// which has no libc or loader).
fn static_busybox() -> Result<Option<Vec<u8>>> {
    use object::read::elf::{ElfFile64, ProgramHeader};
    for path in BUSYBOX_PATHS {
        let Ok(data) = std::fs::read(path) else {
            continue;
        };
        let elf = ElfFile64::<object::Endianness>::parse(&*data)
            .with_context(|| format!("{path} is not a 64-bit ELF file"))?;
        let endian = elf.endian();
        let dynamic = elf
            .elf_program_headers()
            .iter()
            .any(|ph| ph.p_type(endian) == object::elf::PT_INTERP);
        if dynamic {
            eprintln!("note: {path} is dynamically linked; the guest needs busybox-static");
            continue;
        }
        return Ok(Some(data));
    }
    Ok(None)
}

/// The `vmm` binary, linked statically (`crt-static`), as Firecracker ships its VMM: no shared
/// libc or dynamic loader is mapped into each VMM process, which keeps its resident memory
/// beyond guest RAM under 3 MiB. glibc rather than musl, whose allocator halves the trace
/// drain rate. An explicit `--target` keeps the flag off build scripts and proc macros.
pub fn vmm() -> Result<PathBuf> {
    run(cargo()
        .args([
            "build",
            "--release",
            "-p",
            "vmm",
            "--bin",
            "vmm",
            "--target",
            VMM_TARGET,
        ])
        .env(
            "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS",
            "-C target-feature=+crt-static",
        )
        .current_dir(root()))?;
    Ok(root().join("target").join(VMM_TARGET).join("release/vmm"))
}

pub fn all() -> Result<Artifacts> {
    ensure_user_target()?;
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
