//! `#!` scripts (Linux's `binfmt_script`): a file starting with `#!INTERPRETER [ARG]` runs
//! as `INTERPRETER [ARG] PATH ARGV[1..]`. Like Linux, the line is read from the first
//! `BINPRM_BUF_SIZE` bytes, everything after the interpreter's name is one optional
//! argument (surrounding blanks trimmed), and an interpreter that is itself a script is
//! followed a few levels deep before `ELOOP`.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::kernel::errno::*;

/// How much of the file the `#!` line may take (Linux's `BINPRM_BUF_SIZE`).
pub const BINPRM_BUF_SIZE: usize = 256;

/// How many interpreters in a row may be scripts (Linux allows 5 rewrites of the binary).
pub const MAX_DEPTH: u32 = 4;

fn blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// The interpreter and its optional argument if `head` (the file's first bytes) starts with
/// `#!`; `Err(ENOEXEC)` for a `#!` without an interpreter or one cut off by the buffer.
pub fn parse(head: &[u8]) -> Option<KResult<(String, Option<String>)>> {
    let rest = head.strip_prefix(b"#!")?;
    let limit = BINPRM_BUF_SIZE - 2;
    let rest = &rest[..rest.len().min(limit)];
    let (line, complete) = match rest.iter().position(|&c| c == b'\n') {
        Some(n) => (&rest[..n], true),
        None => (rest, rest.len() < limit),
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
    let start = line.iter().position(|&c| !blank(c)).unwrap_or(line.len());
    let line = &line[start..];
    let end = line.iter().position(|&c| blank(c)).unwrap_or(line.len());
    let (interp, rest) = line.split_at(end);
    // A name running into the end of the buffer may be cut short: refuse it, as Linux does.
    if interp.is_empty() || (!complete && rest.is_empty()) {
        return Some(Err(ENOEXEC));
    }
    let arg: Vec<u8> = rest.iter().copied().skip_while(|&c| blank(c)).collect();
    let arg_len = arg.len()
        - arg
            .iter()
            .rev()
            .take_while(|&&c| blank(c) || c == b'\r')
            .count();
    let arg = (arg_len > 0).then(|| text(&arg[..arg_len]));
    Some(Ok((text(interp), arg)))
}

/// The interpreter's argv: `INTERPRETER [ARG] PATH ARGV[1..]`.
pub fn interpreter_argv(
    interp: &str,
    arg: Option<String>,
    path: &str,
    argv: &[String],
) -> Vec<String> {
    let mut out = Vec::with_capacity(argv.len() + 2);
    out.push(interp.to_string());
    out.extend(arg);
    out.push(path.to_string());
    out.extend(argv.iter().skip(1).cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(head: &[u8]) -> (String, Option<String>) {
        parse(head).unwrap().unwrap()
    }

    #[test]
    fn interpreter_lines() {
        assert_eq!(ok(b"#!/bin/sh\necho"), ("/bin/sh".into(), None));
        assert_eq!(
            ok(b"#! /bin/sh -e \n"),
            ("/bin/sh".into(), Some("-e".into()))
        );
        assert_eq!(
            ok(b"#!/usr/bin/env  python3 -u\r\n"),
            ("/usr/bin/env".into(), Some("python3 -u".into()))
        );
        assert_eq!(ok(b"#!/bin/sh"), ("/bin/sh".into(), None));
        assert!(parse(b"\x7fELF").is_none());
        assert!(parse(b"echo hi").is_none());
    }

    #[test]
    fn bad_lines_are_enoexec() {
        assert_eq!(parse(b"#!\n"), Some(Err(ENOEXEC)));
        assert_eq!(parse(b"#!   \n"), Some(Err(ENOEXEC)));
        let mut long = b"#!/".to_vec();
        long.resize(400, b'a');
        assert_eq!(parse(&long), Some(Err(ENOEXEC)));
    }

    #[test]
    fn argv_rewrite() {
        let argv = ["./s".to_string(), "a".to_string(), "b".to_string()];
        assert_eq!(
            interpreter_argv("/bin/sh", Some("-e".into()), "./s", &argv),
            ["/bin/sh", "-e", "./s", "a", "b"]
        );
        assert_eq!(
            interpreter_argv("/bin/sh", None, "./s", &argv[..1]),
            ["/bin/sh", "./s"]
        );
    }
}
