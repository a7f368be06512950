//! The text tools: `cat`, `echo`, `head`, `tail` and `wc`, as GNU coreutils has them.
//!
//! Each reads its files (or stdin for none or `-`) and reports an unreadable one as
//! `tool: NAME: error text`, going on with the rest and exiting 1 at the end.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};

use crate::common::{strerror, warn, Args};

/// Flushes what the tools wrote to stdout (before `exit`, which skips destructors).
pub fn flush_stdout() {
    let _ = io::stdout().flush();
}

/// A buffered stdout: the tools write many short lines, each of which would otherwise be a
/// system call.
pub fn stdout() -> BufWriter<io::StdoutLock<'static>> {
    BufWriter::with_capacity(32 * 1024, io::stdout().lock())
}

/// Opens `name` for reading, `-` being stdin.
pub fn open_input(name: &str) -> io::Result<Box<dyn Read>> {
    if name == "-" {
        Ok(Box::new(io::stdin()))
    } else {
        Ok(Box::new(File::open(name)?))
    }
}

/// The operands, or `-` when there are none.
fn inputs(args: &Args) -> Vec<String> {
    if args.operands.is_empty() {
        vec!["-".to_string()]
    } else {
        args.operands.clone()
    }
}

/// Reads all of `name`, reporting a failure as `tool: name: error`.
pub fn read_input(tool: &str, name: &str) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    match open_input(name).and_then(|mut r| r.read_to_end(&mut data)) {
        Ok(_) => Some(data),
        Err(e) => {
            warn(tool, format_args!("{name}: {}", strerror(&e)));
            None
        }
    }
}

pub fn cat(argv: &[String]) -> i32 {
    let args = Args::parse("cat", argv, "uA", "", 1);
    let mut out = io::stdout().lock();
    let mut status = 0;
    let mut buf = vec![0u8; 64 * 1024];
    for name in inputs(&args) {
        let copied = open_input(&name).and_then(|mut r| loop {
            match r.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => out.write_all(&buf[..n])?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        });
        if let Err(e) = copied {
            warn("cat", format_args!("{name}: {}", strerror(&e)));
            status = 1;
        }
    }
    status
}

/// GNU `echo`: `-n` drops the newline, `-e` interprets backslash escapes (`-E`, the default,
/// does not). Only leading arguments made wholly of those letters are options.
pub fn echo(args: &[String]) -> i32 {
    let (mut newline, mut escapes) = (true, false);
    let mut rest = args;
    while let Some(a) = rest.first() {
        let Some(letters) = a.strip_prefix('-') else {
            break;
        };
        if letters.is_empty() || !letters.chars().all(|c| "neE".contains(c)) {
            break;
        }
        for c in letters.chars() {
            match c {
                'n' => newline = false,
                'e' => escapes = true,
                _ => escapes = false,
            }
        }
        rest = &rest[1..];
    }
    let mut out = Vec::new();
    for (i, a) in rest.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        if escapes {
            if unescape(a.as_bytes(), &mut out) {
                newline = false;
                break;
            }
        } else {
            out.extend_from_slice(a.as_bytes());
        }
    }
    if newline {
        out.push(b'\n');
    }
    let _ = io::stdout().lock().write_all(&out);
    0
}

/// Appends `s` with echo's escapes interpreted; true if `\c` ended all output.
fn unescape(s: &[u8], out: &mut Vec<u8>) -> bool {
    let mut i = 0;
    while i < s.len() {
        if s[i] != b'\\' || i + 1 == s.len() {
            out.push(s[i]);
            i += 1;
            continue;
        }
        i += 1;
        let c = s[i];
        i += 1;
        match c {
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'c' => return true,
            b'e' => out.push(0x1b),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'\\' => out.push(b'\\'),
            b'0' => {
                let (v, n) = digits(&s[i..], 8, 3);
                out.push(v);
                i += n;
            }
            b'x' => match digits(&s[i..], 16, 2) {
                (_, 0) => out.extend_from_slice(b"\\x"),
                (v, n) => {
                    out.push(v);
                    i += n;
                }
            },
            other => out.extend_from_slice(&[b'\\', other]),
        }
    }
    false
}

/// Up to `max` digits of `radix` at the start of `s`: their value and how many there were.
fn digits(s: &[u8], radix: u32, max: usize) -> (u8, usize) {
    let mut v = 0u32;
    let mut n = 0;
    while n < max {
        match s.get(n).and_then(|&c| (c as char).to_digit(radix)) {
            Some(d) => v = v * radix + d,
            None => break,
        }
        n += 1;
    }
    (v as u8, n)
}

/// `-n N` (or `-N`) for head and tail: the count and whether it had a leading `+`.
fn line_count(tool: &str, argv: &[String]) -> (Args, usize, bool) {
    // `head -5` is the old spelling of `head -n 5`.
    let argv: Vec<String> = argv
        .iter()
        .map(|a| match a.strip_prefix('-') {
            Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                format!("-n{n}")
            }
            _ => a.clone(),
        })
        .collect();
    let args = Args::parse(tool, &argv, "qv", "n", 1);
    let (n, plus) = match args.value('n') {
        None => (10, false),
        Some(v) => {
            let plus = v.starts_with('+');
            match v.trim_start_matches(['+', '-']).parse() {
                Ok(n) => (n, plus),
                Err(_) => {
                    warn(tool, format_args!("invalid number of lines: '{v}'"));
                    std::process::exit(1);
                }
            }
        }
    };
    (args, n, plus)
}

/// Runs `f` on each input's bytes, with `==> NAME <==` headers when there are several.
fn each_input(tool: &str, args: &Args, mut f: impl FnMut(&[u8], &mut Vec<u8>)) -> i32 {
    let names = inputs(args);
    let headers = (names.len() > 1 || args.has('v')) && !args.has('q');
    let mut out = stdout();
    let mut status = 0;
    for (i, name) in names.iter().enumerate() {
        let Some(data) = read_input(tool, name) else {
            status = 1;
            continue;
        };
        let mut text = Vec::new();
        if headers {
            let shown = if name == "-" { "standard input" } else { name };
            let sep = if i > 0 { "\n" } else { "" };
            text.extend_from_slice(format!("{sep}==> {shown} <==\n").as_bytes());
        }
        f(&data, &mut text);
        let _ = out.write_all(&text);
    }
    status
}

/// The offset just past the `n`th newline of `data` (or its end).
fn after_lines(data: &[u8], n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    data.iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .nth(n - 1)
        .map_or(data.len(), |(i, _)| i + 1)
}

pub fn head(argv: &[String]) -> i32 {
    let (args, n, _) = line_count("head", argv);
    each_input("head", &args, |data, out| {
        out.extend_from_slice(&data[..after_lines(data, n)])
    })
}

/// `tail -n N` prints the last N lines, `tail -n +N` from line N on.
pub fn tail(argv: &[String]) -> i32 {
    let (args, n, plus) = line_count("tail", argv);
    each_input("tail", &args, |data, out| {
        let start = if plus {
            after_lines(data, n.saturating_sub(1))
        } else {
            // The last line may lack its newline; count lines from the end.
            let body = data.strip_suffix(b"\n").unwrap_or(data);
            let lines = body.iter().filter(|&&b| b == b'\n').count() + 1;
            if data.is_empty() || n >= lines {
                0
            } else {
                after_lines(data, lines - n)
            }
        };
        out.extend_from_slice(&data[start..]);
    })
}

/// Lines, words and bytes of one input.
#[derive(Default, Clone, Copy)]
struct Counts {
    lines: u64,
    words: u64,
    bytes: u64,
}

fn count(data: &[u8]) -> Counts {
    let mut c = Counts {
        bytes: data.len() as u64,
        ..Counts::default()
    };
    let mut in_word = false;
    for &b in data {
        if b == b'\n' {
            c.lines += 1;
        }
        let space = b.is_ascii_whitespace();
        if !space && !in_word {
            c.words += 1;
        }
        in_word = !space;
    }
    c
}

/// GNU `wc`: lines, words, bytes (or those of `-l -w -c`), right-aligned to a common width:
/// the digits of the regular files' total size, at least 7 when a pipe or stdin is counted,
/// and no padding for a single count of a single input.
pub fn wc(argv: &[String]) -> i32 {
    let args = Args::parse("wc", argv, "lwcm", "", 1);
    let (mut l, mut w, mut c) = (args.has('l'), args.has('w'), args.has('c') || args.has('m'));
    if !(l || w || c) {
        (l, w, c) = (true, true, true);
    }
    let names = inputs(&args);
    let shown = [l, w, c].iter().filter(|x| **x).count();
    let width = if shown == 1 && names.len() == 1 {
        1
    } else {
        let (mut size, mut min) = (0u64, 1);
        for n in &names {
            match std::fs::metadata(n) {
                Ok(m) if n != "-" && m.is_file() => size += m.len(),
                _ => min = 7,
            }
        }
        size.to_string().len().max(min)
    };
    let line = |cnt: Counts, name: &str| {
        let mut cols = Vec::new();
        for (on, v) in [(l, cnt.lines), (w, cnt.words), (c, cnt.bytes)] {
            if on {
                cols.push(format!("{v:>width$}"));
            }
        }
        let mut s = cols.join(" ");
        if name != "-" || names.len() > 1 {
            s.push(' ');
            s.push_str(name);
        }
        s.push('\n');
        s
    };
    let mut out = stdout();
    let mut total = Counts::default();
    let mut status = 0;
    for name in &names {
        let Some(data) = read_input("wc", name) else {
            status = 1;
            continue;
        };
        let cnt = count(&data);
        total.lines += cnt.lines;
        total.words += cnt.words;
        total.bytes += cnt.bytes;
        let shown_name = if name == "-" && names.len() > 1 {
            "-"
        } else {
            name
        };
        let _ = out.write_all(line(cnt, shown_name).as_bytes());
    }
    if names.len() > 1 {
        let _ = out.write_all(line(total, "total").as_bytes());
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_escapes() {
        let mut out = Vec::new();
        assert!(!unescape(br"a\tb\n\x41\0101\\", &mut out));
        assert_eq!(out, b"a\tb\nAA\\");
        let mut out = Vec::new();
        assert!(unescape(br"x\cy", &mut out));
        assert_eq!(out, b"x");
    }

    #[test]
    fn counting() {
        let c = count(b"one two\n three\n\nx");
        assert_eq!((c.lines, c.words, c.bytes), (3, 4, 17));
        assert_eq!(after_lines(b"a\nb\nc\n", 2), 4);
        assert_eq!(after_lines(b"a\nb", 5), 3);
    }
}
