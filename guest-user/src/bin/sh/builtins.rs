//! The built-in commands: `cd`, `pwd`, `exit`, `export`, `readonly`, `unset`, `echo`, `jobs`,
//! `fg`, `bg`, `wait`, `true`, `false`, `:`, `shift`, `eval`, `set`; the jumps (`break`,
//! `continue`, `return`, `local`) are in `flow`; `read`, `getopts`, `.`, `wait` and `trap` in
//! `scripting`; `test` in `test`; `printf` in `printf`.

use std::io::Write;

use super::lexer::is_name;
use super::parser::Simple;
use super::Shell;

/// `echo [-n] [-e] ARGS`: with `-e`, the backslash escapes `\n \t \\ \c` and `\0NNN`.
fn echo(args: &[String]) -> i32 {
    let mut newline = true;
    let mut escapes = false;
    let mut i = 0;
    while let Some(a) = args.get(i) {
        match a.as_str() {
            "-n" => newline = false,
            "-e" => escapes = true,
            "-E" => escapes = false,
            _ => break,
        }
        i += 1;
    }
    let mut out = args[i..].join(" ");
    if escapes {
        let mut s = String::new();
        let mut chars = out.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '\\' {
                s.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => s.push('\n'),
                Some('t') => s.push('\t'),
                Some('\\') => s.push('\\'),
                Some('c') => {
                    newline = false;
                    break;
                }
                Some('0') => {
                    let mut v = 0u32;
                    for _ in 0..3 {
                        match chars.peek().and_then(|d| d.to_digit(8)) {
                            Some(d) => {
                                v = v * 8 + d;
                                chars.next();
                            }
                            None => break,
                        }
                    }
                    s.push(char::from_u32(v).unwrap_or('?'));
                }
                Some(o) => {
                    s.push('\\');
                    s.push(o);
                }
                None => s.push('\\'),
            }
        }
        out = s;
    }
    if newline {
        out.push('\n');
    }
    write_stdout(out.as_bytes(), "echo")
}

/// `NAME` or `NAME=VALUE` for `export` and `readonly`; `None` (reported) for a bad name.
fn name_value<'a>(arg: &'a str, builtin: &str) -> Option<(&'a str, Option<&'a str>)> {
    let (name, value) = match arg.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (arg, None),
    };
    if !is_name(name) {
        eprintln!("sh: {builtin}: {arg}: bad variable name");
        return None;
    }
    Some((name, value))
}

/// A built-in's output, flushed: status 1 if it could not be written.
fn write_stdout(out: &[u8], name: &str) -> i32 {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(out).and_then(|_| stdout.flush()) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 1,
        Err(e) => {
            eprintln!("{name}: write error: {e}");
            1
        }
    }
}

/// The built-in commands.
const BUILTINS: &[&str] = &[
    ".", ":", "[", "bg", "break", "cd", "continue", "echo", "eval", "exec", "exit", "export",
    "false", "fg", "getopts", "jobs", "local", "printf", "pwd", "read", "readonly", "return",
    "set", "shift", "source", "test", "trap", "true", "unset", "wait",
];

impl Shell {
    pub fn is_builtin(&self, name: &str) -> bool {
        BUILTINS.contains(&name)
    }

    /// Run built-in `argv[0]`; `exit` sets `exit_code`.
    pub fn builtin(&mut self, argv: &[String]) -> i32 {
        let arg = argv.get(1).map(String::as_str);
        match argv[0].as_str() {
            "echo" => echo(&argv[1..]),
            ":" | "true" => 0,
            "false" => 1,
            "pwd" => match std::env::current_dir() {
                Ok(d) => {
                    println!("{}", d.display());
                    0
                }
                Err(e) => {
                    eprintln!("pwd: {e}");
                    1
                }
            },
            "cd" => self.cd(arg),
            "exit" => {
                let code = match arg.map(str::parse::<i32>) {
                    None => self.last_status,
                    Some(Ok(n)) => n & 0xff,
                    Some(Err(_)) => {
                        eprintln!("sh: exit: {}: numeric argument required", argv[1]);
                        2
                    }
                };
                self.exit_code = Some(code);
                code
            }
            "export" => self.export(argv),
            "unset" => {
                let mut status = 0;
                for a in &argv[1..] {
                    if a == "-f" || a == "-v" {
                        continue;
                    }
                    if argv.get(1).is_some_and(|f| f == "-f") {
                        self.functions.remove(a);
                    } else if self.readonly.contains(a) {
                        eprintln!("sh: unset: {a}: is read only");
                        status = 1;
                    } else {
                        self.vars.remove(a);
                        self.exported.remove(a);
                    }
                }
                status
            }
            "readonly" => self.builtin_readonly(argv),
            "getopts" => self.builtin_getopts(argv),
            "printf" => {
                let Some(format) = argv.get(1) else {
                    eprintln!("sh: printf: usage: printf format [arg ...]");
                    return 2;
                };
                let o = super::printf::printf(format, &argv[2..]);
                write_stdout(o.text.as_bytes(), "printf") | i32::from(o.error)
            }
            "jobs" => self.builtin_jobs(),
            "fg" | "bg" => {
                let r = if argv[0] == "fg" {
                    self.builtin_fg(arg)
                } else {
                    self.builtin_bg(arg)
                };
                r.unwrap_or_else(|e| {
                    eprintln!("sh: {e}");
                    1
                })
            }
            "wait" => self.builtin_wait(argv),
            "read" => self.builtin_read(argv),
            "." | "source" => self.builtin_dot(argv),
            "trap" => self.builtin_trap(argv),
            "break" | "continue" => self.builtin_loop_jump(argv),
            "return" => self.builtin_return(argv),
            "local" => self.builtin_local(argv),
            "shift" => {
                let n = match arg.map(str::parse::<usize>) {
                    None => 1,
                    Some(Ok(n)) => n,
                    Some(Err(_)) => usize::MAX,
                };
                if n >= self.args.len() {
                    eprintln!("sh: shift: can't shift that many");
                    return 2;
                }
                self.args.drain(1..1 + n);
                0
            }
            "eval" => {
                let src = argv[1..].join(" ");
                self.run_source(&src);
                self.last_status
            }
            "set" => self.builtin_set(argv),
            "test" | "[" => super::test::test(argv),
            _ => 127,
        }
    }

    /// `exec [COMMAND [ARGS]]`: replace the shell with the command; without one, the
    /// redirections stay for the rest of the shell.
    pub fn builtin_exec(&mut self, s: &Simple, argv: &[String]) -> i32 {
        if let Err(e) = self.redirect(&s.redirs, false) {
            eprintln!("sh: {e}");
            return 1;
        }
        let Some(name) = argv.get(1) else {
            return 0;
        };
        let status = match self.lookup(name) {
            Some(path) => {
                if !self.assign(s, true) {
                    return 1;
                }
                self.execve(&path, &argv[1..])
            }
            None => {
                eprintln!("sh: exec: {name}: not found");
                127
            }
        };
        if !self.interactive {
            self.exit_code = Some(status);
        }
        status
    }

    fn export(&mut self, argv: &[String]) -> i32 {
        for a in &argv[1..] {
            if a == "-p" {
                continue;
            }
            let Some((name, value)) = name_value(a, "export") else {
                return 1;
            };
            match value {
                Some(v) => {
                    if !self.set_var(name, v, true) {
                        return 1;
                    }
                }
                None => {
                    self.exported.insert(name.to_string());
                }
            }
        }
        if argv.len() == 1 || argv[1] == "-p" {
            for e in self.environ() {
                let (n, v) = e.split_once('=').unwrap_or((&e, ""));
                println!("export {n}='{v}'");
            }
        }
        0
    }

    /// `readonly [-p] [NAME[=VALUE]...]`: mark variables read-only (after setting them);
    /// without names, list them as `readonly NAME='VALUE'`.
    fn builtin_readonly(&mut self, argv: &[String]) -> i32 {
        let names: Vec<&String> = argv[1..].iter().filter(|a| *a != "-p").collect();
        if names.is_empty() {
            for name in &self.readonly {
                match self.vars.get(name) {
                    Some(v) => println!("readonly {name}='{}'", v.replace('\'', "'\\''")),
                    None => println!("readonly {name}"),
                }
            }
            return 0;
        }
        for a in names {
            let Some((name, value)) = name_value(a, "readonly") else {
                return 2;
            };
            if let Some(v) = value {
                if !self.set_var(name, v, false) {
                    return 1;
                }
            }
            self.readonly.insert(name.to_string());
        }
        0
    }

    /// Option arguments (`-ex`, `+x`, up to a `--` or the first word that is not one) from
    /// `argv[*i]` on; returns whether `-c` was among them, or the bad argument.
    pub fn parse_options(&mut self, argv: &[String], i: &mut usize) -> Result<bool, String> {
        let mut command = false;
        while let Some(a) = argv.get(*i) {
            if a == "--" {
                *i += 1;
                break;
            }
            let on = a.starts_with('-');
            if !(on || a.starts_with('+')) || a.len() < 2 {
                break;
            }
            for c in a[1..].chars() {
                match c {
                    'e' => self.errexit = on,
                    'x' => self.xtrace = on,
                    'c' => command = true,
                    // Accepted, as dash does, with no effect here.
                    'u' | 'f' | 'm' | 'C' | 'a' | 'v' | 'n' | 's' | 'i' => {}
                    _ => return Err(a.clone()),
                }
            }
            *i += 1;
        }
        Ok(command)
    }

    /// `set [-ex] [+ex] [--] [ARGS...]`: options, and new positional parameters.
    fn builtin_set(&mut self, argv: &[String]) -> i32 {
        if argv.len() == 1 {
            for (k, v) in &self.vars {
                println!("{k}='{}'", v.replace('\'', "'\\''"));
            }
            return 0;
        }
        let mut i = 1;
        match self.parse_options(argv, &mut i) {
            Ok(_) => {}
            Err(a) => {
                eprintln!("sh: set: illegal option {a}");
                return 2;
            }
        }
        if i < argv.len() || argv.get(i - 1).is_some_and(|a| a == "--") {
            self.args.truncate(1);
            self.args.extend_from_slice(&argv[i..]);
        }
        0
    }

    fn cd(&mut self, arg: Option<&str>) -> i32 {
        let target = match arg {
            None => self.get_var("HOME").unwrap_or_else(|| "/".into()),
            Some("-") => self.get_var("OLDPWD").unwrap_or_else(|| ".".into()),
            Some(d) => d.to_string(),
        };
        let old = std::env::current_dir().ok();
        if let Err(e) = std::env::set_current_dir(&target) {
            let text = e.to_string();
            let text = text.split(" (os error").next().unwrap_or(&text);
            eprintln!("sh: cd: can't cd to {target}: {text}");
            return 1;
        }
        if let Some(old) = old {
            self.set_var("OLDPWD", &old.to_string_lossy(), false);
        }
        if let Ok(new) = std::env::current_dir() {
            self.set_var("PWD", &new.to_string_lossy(), false);
        }
        0
    }
}
