//! Command-line plumbing for the small tools: they parse their arguments by hand (no clap, to
//! keep the binaries small) and fail with one line on stderr, like procps and util-linux.

use std::fmt::Display;
use std::process::exit;

/// Prints `prog: msg` on stderr and exits with `code`.
pub fn die(prog: &str, msg: impl Display, code: i32) -> ! {
    eprintln!("{prog}: {msg}");
    exit(code);
}

/// Prints `prog: msg` and a pointer to the usage text, then exits with `code` (the real tools
/// use 1, coreutils' `nice` 125).
pub fn usage_error(prog: &str, msg: impl Display, usage: &str, code: i32) -> ! {
    eprintln!("{prog}: {msg}");
    eprintln!("Usage: {usage}");
    exit(code);
}

/// Parses a decimal integer, allowing a leading `+` or `-`.
pub fn parse_int<T: std::str::FromStr>(s: &str) -> Option<T> {
    s.strip_prefix('+').unwrap_or(s).parse().ok()
}

/// An error's text as C tools print it: `No such file or directory`, without Rust's
/// ` (os error 2)` suffix.
pub fn errmsg(err: &std::io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Replaces this process with `argv[0]` searched in `PATH`. Returns only on failure, with the
/// error and the exit status coreutils and util-linux use (127 not found, 126 otherwise).
pub fn exec(argv: &[String]) -> (std::io::Error, i32) {
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new(&argv[0]).args(&argv[1..]).exec();
    let code = if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    (err, code)
}
