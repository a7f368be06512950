//! `grep`: prints the lines that match a pattern, as GNU grep does.
//!
//! ```text
//! grep [-EFivcnqlhHsx] [-e PATTERN]... [PATTERN] [FILE]...
//! ```
//!
//! Patterns are POSIX basic regular expressions (`.`, `*`, `^`, `$`, `[...]` with ranges,
//! negation and `[:class:]`es, `\+`, `\?` and `\|` as GNU extensions), extended ones with
//! `-E` (`+`, `?`, `|`), or fixed strings with `-F`. The matcher is a small backtracking one
//! over bytes (ASCII case folding for `-i`); groups and intervals are not supported and are
//! reported as such. Exit status: 0 if a line was selected, 1 if none, 2 on an error.

use std::io::Write;

use crate::common::{warn, Args};
use crate::text::{read_input, stdout};

#[derive(Clone, Debug)]
enum Atom {
    Byte(u8),
    Any,
    /// A bracket expression as a 256-entry membership table.
    Set(Box<[bool; 256]>),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Rep {
    One,
    Star,
    Plus,
    Opt,
}

/// One alternative: a sequence of repeated atoms, maybe anchored at either end.
#[derive(Debug)]
struct Branch {
    start: bool,
    end: bool,
    nodes: Vec<(Atom, Rep)>,
}

pub struct Regex {
    branches: Vec<Branch>,
}

fn class(name: &str) -> Option<fn(u8) -> bool> {
    Some(match name {
        "alpha" => |c: u8| c.is_ascii_alphabetic(),
        "digit" => |c: u8| c.is_ascii_digit(),
        "alnum" => |c: u8| c.is_ascii_alphanumeric(),
        "upper" => |c: u8| c.is_ascii_uppercase(),
        "lower" => |c: u8| c.is_ascii_lowercase(),
        "space" => |c: u8| c.is_ascii_whitespace() || c == 11,
        "blank" => |c: u8| c == b' ' || c == b'\t',
        "punct" => |c: u8| c.is_ascii_punctuation(),
        "xdigit" => |c: u8| c.is_ascii_hexdigit(),
        "print" => |c: u8| (32..127).contains(&c),
        "graph" => |c: u8| (33..127).contains(&c),
        "cntrl" => |c: u8| c < 32 || c == 127,
        _ => return None,
    })
}

/// Parses the bracket expression after `[` at `p[i..]`; returns the set and the index after `]`.
fn bracket(p: &[u8], mut i: usize, fold: bool) -> Result<(Atom, usize), String> {
    let mut set = Box::new([false; 256]);
    let negate = p.get(i) == Some(&b'^');
    if negate {
        i += 1;
    }
    let first = i;
    loop {
        let Some(&c) = p.get(i) else {
            return Err("Unmatched [, [^, [:, [., or [=".into());
        };
        if c == b']' && i > first {
            i += 1;
            break;
        }
        if c == b'[' && p.get(i + 1) == Some(&b':') {
            let rest = &p[i + 2..];
            let end = rest
                .windows(2)
                .position(|w| w == b":]")
                .ok_or("Unmatched [, [^, [:, [., or [=")?;
            let name = std::str::from_utf8(&rest[..end]).unwrap_or("");
            let f = class(name).ok_or("Invalid character class name")?;
            (0..=255u8)
                .filter(|&b| f(b))
                .for_each(|b| set[b as usize] = true);
            i += 2 + end + 2;
            continue;
        }
        let hi = match (p.get(i + 1), p.get(i + 2)) {
            (Some(b'-'), Some(&h)) if h != b']' => {
                i += 2;
                h
            }
            _ => c,
        };
        if hi < c {
            return Err("Invalid range end".into());
        }
        (c..=hi).for_each(|b| set[b as usize] = true);
        i += 1;
    }
    if fold {
        for b in b'a'..=b'z' {
            let up = b.to_ascii_uppercase() as usize;
            let either = set[b as usize] || set[up];
            set[b as usize] = either;
            set[up] = either;
        }
    }
    if negate {
        set.iter_mut().for_each(|x| *x = !*x);
        set[b'\n' as usize] = false;
    }
    Ok((Atom::Set(set), i))
}

impl Regex {
    /// Compiles `pat` (extended syntax with `ere`; case-insensitively with `fold`).
    pub fn new(pat: &str, ere: bool, fold: bool) -> Result<Regex, String> {
        let p = pat.as_bytes();
        let mut branches = Vec::new();
        let mut cur = Branch {
            start: false,
            end: false,
            nodes: Vec::new(),
        };
        let mut i = 0;
        while i < p.len() {
            let c = p[i];
            let escaped_special = c == b'\\' && i + 1 < p.len();
            let next = p.get(i + 1).copied();
            // Alternation: `|` in ERE, `\|` in BRE.
            if (ere && c == b'|') || (!ere && escaped_special && next == Some(b'|')) {
                branches.push(std::mem::replace(
                    &mut cur,
                    Branch {
                        start: false,
                        end: false,
                        nodes: Vec::new(),
                    },
                ));
                i += if ere { 1 } else { 2 };
                continue;
            }
            if c == b'^' && cur.nodes.is_empty() && !cur.start {
                cur.start = true;
                i += 1;
                continue;
            }
            let at_branch_end =
                i + 1 == p.len() || (ere && next == Some(b'|')) || p[i + 1..].starts_with(b"\\|");
            if c == b'$' && at_branch_end {
                cur.end = true;
                i += 1;
                continue;
            }
            let rep = match (ere, c, next) {
                (true, b'*' | b'+' | b'?', _) | (false, b'*', _) => Some(c),
                (false, b'\\', Some(b'+' | b'?')) => next,
                _ => None,
            };
            if let Some(r) = rep {
                let width = if !ere && c == b'\\' { 2 } else { 1 };
                match cur.nodes.last_mut() {
                    Some((_, rep @ Rep::One)) => {
                        *rep = match r {
                            b'*' => Rep::Star,
                            b'+' => Rep::Plus,
                            _ => Rep::Opt,
                        };
                    }
                    // A leading `*` is an ordinary character (POSIX BRE).
                    _ => cur.nodes.push((Atom::Byte(r), Rep::One)),
                }
                i += width;
                continue;
            }
            let (atom, after) = match c {
                b'.' => (Atom::Any, i + 1),
                b'[' => bracket(p, i + 1, fold)?,
                b'\\' => match next {
                    None => return Err("Trailing backslash".into()),
                    Some(b'(' | b')' | b'{' | b'}') if !ere => {
                        return Err("groups and intervals are not supported".into())
                    }
                    Some(b) => (Atom::Byte(b), i + 2),
                },
                b'(' | b')' | b'{' if ere => {
                    return Err("groups and intervals are not supported".into())
                }
                b => (
                    Atom::Byte(if fold { b.to_ascii_lowercase() } else { b }),
                    i + 1,
                ),
            };
            cur.nodes.push((atom, Rep::One));
            i = after;
        }
        branches.push(cur);
        Ok(Regex { branches })
    }

    /// A fixed string as a pattern.
    pub fn fixed(s: &str, fold: bool) -> Regex {
        let nodes = s
            .bytes()
            .map(|b| {
                let b = if fold { b.to_ascii_lowercase() } else { b };
                (Atom::Byte(b), Rep::One)
            })
            .collect();
        Regex {
            branches: vec![Branch {
                start: false,
                end: false,
                nodes,
            }],
        }
    }

    /// Whether the pattern matches somewhere in `line` (already lowercased for `-i`), or all
    /// of it with `whole`.
    pub fn is_match(&self, line: &[u8], whole: bool) -> bool {
        self.branches.iter().any(|b| {
            let (start, end) = (b.start || whole, b.end || whole);
            let last = if start { 0 } else { line.len() };
            (0..=last).any(|s| match_here(&b.nodes, line, s, end))
        })
    }
}

fn atom_matches(a: &Atom, c: u8) -> bool {
    match a {
        Atom::Byte(b) => *b == c,
        Atom::Any => true,
        Atom::Set(set) => set[c as usize],
    }
}

/// Backtracking match of `nodes` against `text` from `pos` (greedy repetition).
fn match_here(nodes: &[(Atom, Rep)], text: &[u8], pos: usize, end: bool) -> bool {
    let Some(((atom, rep), rest)) = nodes.split_first() else {
        return !end || pos == text.len();
    };
    let (min, max) = match rep {
        Rep::One => (1, 1),
        Rep::Star => (0, usize::MAX),
        Rep::Plus => (1, usize::MAX),
        Rep::Opt => (0, 1),
    };
    let mut n = 0;
    while n < max && pos + n < text.len() && atom_matches(atom, text[pos + n]) {
        n += 1;
    }
    (min..=n)
        .rev()
        .any(|k| match_here(rest, text, pos + k, end))
}

pub fn grep(argv: &[String]) -> i32 {
    let args = Args::parse("grep", argv, "EFGivcnqlhHsx", "e", 2);
    let mut operands = args.operands.clone();
    let given = args.values('e');
    let patterns: Vec<String> = if !given.is_empty() {
        given.iter().map(|s| s.to_string()).collect()
    } else if operands.is_empty() {
        eprintln!("Usage: grep [OPTION]... PATTERNS [FILE]...");
        eprintln!("Try 'grep --help' for more information.");
        return 2;
    } else {
        vec![operands.remove(0)]
    };
    let fold = args.has('i');
    let mut regexes = Vec::new();
    // Each line of a pattern is a pattern of its own.
    for p in patterns.iter().flat_map(|p| p.split('\n')) {
        let r = if args.has('F') {
            Ok(Regex::fixed(p, fold))
        } else {
            Regex::new(p, args.has('E'), fold)
        };
        match r {
            Ok(r) => regexes.push(r),
            Err(e) => {
                warn("grep", e);
                return 2;
            }
        }
    }
    if operands.is_empty() {
        operands.push("-".into());
    }
    let names = args
        .last_of('h', 'H')
        .map_or(operands.len() > 1, |c| c == 'H');
    let mut out = stdout();
    let (mut any, mut error) = (false, false);
    for name in &operands {
        let shown = if name == "-" {
            "(standard input)"
        } else {
            name
        };
        let Some(data) = read_input_quiet(name, args.has('s')) else {
            error = true;
            continue;
        };
        let mut count = 0;
        let body = data.strip_suffix(b"\n").unwrap_or(&data);
        for (n, line) in body.split(|&b| b == b'\n').enumerate() {
            if data.is_empty() {
                break;
            }
            let folded;
            let hay = if fold {
                folded = line.to_ascii_lowercase();
                &folded[..]
            } else {
                line
            };
            let hit = regexes.iter().any(|r| r.is_match(hay, args.has('x')));
            if hit == args.has('v') {
                continue;
            }
            any = true;
            count += 1;
            if args.has('q') {
                return 0;
            }
            if args.has('l') {
                break;
            }
            if !args.has('c') {
                if names {
                    let _ = write!(out, "{shown}:");
                }
                if args.has('n') {
                    let _ = write!(out, "{}:", n + 1);
                }
                let _ = out.write_all(line);
                let _ = out.write_all(b"\n");
            }
        }
        if args.has('l') && count > 0 {
            let _ = writeln!(out, "{shown}");
        } else if args.has('c') && !args.has('l') {
            if names {
                let _ = write!(out, "{shown}:");
            }
            let _ = writeln!(out, "{count}");
        }
    }
    match (any, error) {
        (_, true) if !(any && args.has('q')) => 2,
        (true, _) => 0,
        (false, _) => 1,
    }
}

/// Reads an input, with `-s` keeping quiet about unreadable files.
fn read_input_quiet(name: &str, quiet: bool) -> Option<Vec<u8>> {
    if quiet {
        crate::text::open_input(name).ok().and_then(|mut r| {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut r, &mut v).ok().map(|_| v)
        })
    } else {
        read_input("grep", name)
    }
}

#[cfg(test)]
mod tests {
    use super::Regex;

    fn m(p: &str, s: &str) -> bool {
        Regex::new(p, false, false)
            .unwrap()
            .is_match(s.as_bytes(), false)
    }

    #[test]
    fn basic_regex() {
        assert!(m("abc", "xxabcxx"));
        assert!(m("^abc", "abcx") && !m("^abc", "xabc"));
        assert!(m("abc$", "xabc") && !m("abc$", "abcx"));
        assert!(m("a.c", "abc") && !m("a.c", "ac"));
        assert!(m("ab*c", "ac") && m("ab*c", "abbbc"));
        assert!(m("^[0-9][0-9]*$", "12345") && !m("^[0-9][0-9]*$", "12a45"));
        assert!(m("[^a-z]", "abc1") && !m("^[^a-z]*$", "abc"));
        assert!(m("[[:digit:]]x", "a5x") && m("[]a]", "]"));
        assert!(m("*a", "x*a"));
        assert!(m("a\\+b", "aab") && !m("a\\+b", "b"));
        assert!(m("cat\\|dog", "hotdog"));
        assert!(m("^$", ""));
        assert!(Regex::new("\\(a\\)", false, false).is_err());
    }

    #[test]
    fn extended_and_folded() {
        let r = Regex::new("^(x|colou?r)", true, false);
        assert!(r.is_err());
        let r = Regex::new("colou?r|gr+ey", true, false).unwrap();
        assert!(r.is_match(b"color", false) && r.is_match(b"grrey", false));
        assert!(!r.is_match(b"gey", false));
        let r = Regex::new("HeLLo", false, true).unwrap();
        assert!(r.is_match(b"say hello", false));
        let f = Regex::fixed("a.b", false);
        assert!(f.is_match(b"xa.by", false) && !f.is_match(b"axb", false));
        assert!(f.is_match(b"a.b", true) && !f.is_match(b"a.bc", true));
    }
}
