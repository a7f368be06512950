//! `test EXPR` and `[ EXPR ]` (POSIX test(1)): file tests (`-e -f -d -r -w -x -s -L -h -b
//! -c -p -S`), `-t FD`, strings (`-z -n = != < >`), integers (`-eq -ne -lt -le -gt -ge`),
//! `-nt -ot -ef`, and `!`, `-a`, `-o`, `( )`; with one to four arguments POSIX's rules
//! decide what is an operator, so `[ -n ]` and `[ = = = ]` mean what they mean elsewhere.
//! Status 0 true, 1 false, 2 an error.

use std::ffi::CString;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

type R = Result<bool, String>;

const UNARY: &[&str] = &[
    "-e", "-f", "-d", "-r", "-w", "-x", "-s", "-L", "-h", "-b", "-c", "-p", "-S", "-t", "-z", "-n",
    "-g", "-u", "-k",
];
const BINARY: &[&str] = &[
    "=", "!=", "<", ">", "-eq", "-ne", "-lt", "-le", "-gt", "-ge", "-nt", "-ot", "-ef",
];

fn int(s: &str) -> Result<i64, String> {
    s.trim().parse().map_err(|_| format!("{s}: bad number"))
}

fn access(path: &str, mode: i32) -> bool {
    let Ok(p) = CString::new(path) else {
        return false;
    };
    // SAFETY: `p` is a valid C string.
    unsafe { libc::faccessat(libc::AT_FDCWD, p.as_ptr(), mode, libc::AT_EACCESS) == 0 }
}

fn unary(op: &str, a: &str) -> R {
    let meta = || std::fs::metadata(a);
    Ok(match op {
        "-z" => a.is_empty(),
        "-n" => !a.is_empty(),
        "-e" => meta().is_ok(),
        "-f" => meta().is_ok_and(|m| m.is_file()),
        "-d" => meta().is_ok_and(|m| m.is_dir()),
        "-s" => meta().is_ok_and(|m| m.len() > 0),
        "-L" | "-h" => std::fs::symlink_metadata(a).is_ok_and(|m| m.file_type().is_symlink()),
        "-b" => meta().is_ok_and(|m| m.file_type().is_block_device()),
        "-c" => meta().is_ok_and(|m| m.file_type().is_char_device()),
        "-p" => meta().is_ok_and(|m| m.file_type().is_fifo()),
        "-S" => meta().is_ok_and(|m| m.file_type().is_socket()),
        "-g" => meta().is_ok_and(|m| m.mode() & 0o2000 != 0),
        "-u" => meta().is_ok_and(|m| m.mode() & 0o4000 != 0),
        "-k" => meta().is_ok_and(|m| m.mode() & 0o1000 != 0),
        "-r" => access(a, libc::R_OK),
        "-w" => access(a, libc::W_OK),
        "-x" => access(a, libc::X_OK),
        // SAFETY: isatty only inspects the descriptor.
        _ => unsafe { libc::isatty(int(a)? as i32) == 1 },
    })
}

fn binary(a: &str, op: &str, b: &str) -> R {
    let mtime = |p: &str| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.mtime(), m.mtime_nsec()))
    };
    Ok(match op {
        "=" => a == b,
        "!=" => a != b,
        "<" => a < b,
        ">" => a > b,
        "-nt" => mtime(a) > mtime(b) && mtime(a).is_some(),
        "-ot" => mtime(a) < mtime(b) && mtime(b).is_some(),
        "-ef" => match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
            _ => false,
        },
        _ => {
            let (x, y) = (int(a)?, int(b)?);
            match op {
                "-eq" => x == y,
                "-ne" => x != y,
                "-lt" => x < y,
                "-le" => x <= y,
                "-gt" => x > y,
                _ => x >= y,
            }
        }
    })
}

struct Parser<'a> {
    args: &'a [String],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self, n: usize) -> Option<&'a str> {
        self.args.get(self.pos + n).map(String::as_str)
    }

    fn or(&mut self) -> R {
        let mut v = self.and()?;
        while self.peek(0) == Some("-o") {
            self.pos += 1;
            v |= self.and()?;
        }
        Ok(v)
    }

    fn and(&mut self) -> R {
        let mut v = self.not()?;
        while self.peek(0) == Some("-a") {
            self.pos += 1;
            v &= self.not()?;
        }
        Ok(v)
    }

    fn not(&mut self) -> R {
        if self.peek(0) == Some("!") && self.peek(1).is_some() {
            self.pos += 1;
            return Ok(!self.not()?);
        }
        self.primary()
    }

    fn primary(&mut self) -> R {
        let Some(a) = self.peek(0) else {
            return Err("argument expected".into());
        };
        if let Some(op) = self.peek(1).filter(|op| BINARY.contains(op)) {
            if let Some(b) = self.peek(2) {
                self.pos += 3;
                return binary(a, op, b);
            }
        }
        if a == "(" && self.peek(1).is_some() {
            self.pos += 1;
            let v = self.or()?;
            if self.peek(0) != Some(")") {
                return Err("missing )".into());
            }
            self.pos += 1;
            return Ok(v);
        }
        if UNARY.contains(&a) {
            if let Some(b) = self.peek(1) {
                self.pos += 2;
                return unary(a, b);
            }
        }
        self.pos += 1;
        Ok(!a.is_empty())
    }
}

/// POSIX's rules for one to four arguments, then the general grammar.
fn eval(args: &[String]) -> R {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match a.as_slice() {
        [] => Ok(false),
        [x] => Ok(!x.is_empty()),
        ["!", x] => Ok(x.is_empty()),
        [op, x] if UNARY.contains(op) => unary(op, x),
        [x, op, y] if BINARY.contains(op) => binary(x, op, y),
        ["!", ..] if a.len() <= 4 => Ok(!eval(&args[1..])?),
        ["(", .., ")"] if a.len() <= 4 => eval(&args[1..args.len() - 1]),
        [_, _] => Err(format!("{}: unary operator expected", a[0])),
        _ => {
            let mut p = Parser { args, pos: 0 };
            let v = p.or()?;
            match p.peek(0) {
                None => Ok(v),
                Some(extra) => Err(format!("{extra}: unexpected operator")),
            }
        }
    }
}

/// `test ARGS` or `[ ARGS ]` (argv with the command name).
pub fn test(argv: &[String]) -> i32 {
    let mut args = &argv[1..];
    if argv[0] == "[" {
        match args.split_last() {
            Some((last, rest)) if last == "]" => args = rest,
            _ => {
                eprintln!("sh: [: missing ]");
                return 2;
            }
        }
    }
    match eval(args) {
        Ok(v) => i32::from(!v),
        Err(e) => {
            eprintln!("sh: {}: {e}", argv[0]);
            2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> i32 {
        let mut argv = vec!["test".to_string()];
        argv.extend(s.split(' ').filter(|w| !w.is_empty()).map(String::from));
        test(&argv)
    }

    #[test]
    fn posix_argument_rules() {
        assert_eq!(t(""), 1);
        assert_eq!(t("-n"), 0);
        assert_eq!(t("! -n"), 1);
        assert_eq!(t("= = ="), 0);
        assert_eq!(t("a = a"), 0);
        assert_eq!(t("! a = a"), 1);
        assert_eq!(t("( a )"), 0);
        assert_eq!(t("-z x"), 1);
        assert_eq!(t("x -a"), 2);
    }

    #[test]
    fn integers_strings_and_connectives() {
        assert_eq!(t("3 -lt 10"), 0);
        assert_eq!(t("3 < 10"), 1);
        assert_eq!(t("-5 -le -5"), 0);
        assert_eq!(t("x -eq 1"), 2);
        assert_eq!(t("a != b -a 1 -eq 1"), 0);
        assert_eq!(t("a = b -o ( 1 -gt 2 -o c )"), 0);
        assert_eq!(t("! a = b -a ! -z x"), 0);
    }

    #[test]
    fn files() {
        assert_eq!(t("-d /"), 0);
        assert_eq!(t("-f /"), 1);
        assert_eq!(t("-e /nonexistent/x"), 1);
        assert_eq!(t("-r /"), 0);
        assert_eq!(t("/ -ef /."), 0);
        let argv: Vec<String> = ["[", "-d", "/", "]"].map(String::from).into();
        assert_eq!(test(&argv), 0);
        let argv: Vec<String> = ["[", "-d", "/"].map(String::from).into();
        assert_eq!(test(&argv), 2);
    }
}
