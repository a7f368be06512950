//! `coreutils`: the guest's small tools as one multi-call binary, as busybox ships them. The
//! initramfs links each tool's name in /bin to this binary; it runs the tool named by the
//! basename of `argv[0]`, or by its first argument (`coreutils ls -l`).
//!
//! One static binary instead of twenty keeps the initramfs (and so the boot, which copies and
//! unpacks it) small: the Rust runtime and libc are linked in once.
//!
//! Each tool takes the arguments after its name and returns its exit status; messages and
//! statuses follow GNU coreutils (or procps and util-linux for their tools).

mod common;
mod files;
mod grep;
mod kill;
mod ls;
mod mount;
mod sleep;
mod stat;
mod sysinfo;
mod text;

/// A tool: its arguments (without its name) to its exit status.
type Tool = fn(&[String]) -> i32;

/// Every tool, by name (sorted, for `--list`).
const TOOLS: &[(&str, Tool)] = &[
    ("cat", text::cat),
    ("cp", files::cp),
    ("dmesg", sysinfo::dmesg),
    ("echo", text::echo),
    ("env", sysinfo::env),
    ("false", |_| 1),
    ("free", sysinfo::free),
    ("grep", grep::grep),
    ("head", text::head),
    ("hostname", sysinfo::hostname),
    ("id", sysinfo::id),
    ("kill", kill::kill),
    ("ln", files::ln),
    ("ls", ls::ls),
    ("mkdir", files::mkdir),
    ("mkfifo", files::mkfifo),
    ("mount", mount::mount),
    ("mv", files::mv),
    ("rm", files::rm),
    ("rmdir", files::rmdir),
    ("sleep", sleep::sleep),
    ("stat", stat::stat),
    ("tail", text::tail),
    ("touch", files::touch),
    ("true", |_| 0),
    ("umount", mount::umount),
    ("uname", sysinfo::uname),
    ("uptime", sysinfo::uptime),
    ("wc", text::wc),
];

fn find(name: &str) -> Option<Tool> {
    TOOLS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

fn main() {
    // Rust ignores SIGPIPE; a tool writing into a closed pipe (`ls | head -1`) should die of
    // it quietly, as C tools do.
    // SAFETY: restoring the default disposition of a signal has no memory effects.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let args: Vec<String> = std::env::args().collect();
    let argv0 = args.first().map(String::as_str).unwrap_or("coreutils");
    let name = argv0.rsplit('/').next().unwrap_or(argv0);
    let code = match find(name) {
        Some(tool) => tool(&args[1..]),
        None => match args.get(1).map(String::as_str) {
            Some("--list") => {
                for (n, _) in TOOLS {
                    println!("{n}");
                }
                0
            }
            Some(tool) => match find(tool) {
                Some(t) => t(&args[2..]),
                None => {
                    eprintln!("coreutils: {tool}: applet not found");
                    127
                }
            },
            None => {
                eprintln!("Usage: coreutils TOOL [ARGS]...   (coreutils --list names them)");
                1
            }
        },
    };
    text::flush_stdout();
    std::process::exit(code);
}
