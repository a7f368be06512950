//! The built-in commands: `cd`, `pwd`, `exit`, `export`, `unset`, `echo`, `jobs`, `fg`, `bg`,
//! `wait`, `true`, `false`, `:`.

use std::io::Write;

use super::exec::Flow;
use super::lexer::is_name;
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
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|_| stdout.flush())
    {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 1,
        Err(e) => {
            eprintln!("echo: write error: {e}");
            1
        }
    }
}

impl Shell {
    pub fn builtin(&mut self, argv: &[String]) -> Flow {
        let arg = argv.get(1).map(String::as_str);
        let status = match argv[0].as_str() {
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
                return Flow::Exit(code);
            }
            "export" => {
                for a in &argv[1..] {
                    let (name, value) = match a.split_once('=') {
                        Some((n, v)) => (n, Some(v)),
                        None => (a.as_str(), None),
                    };
                    if !is_name(name) {
                        eprintln!("sh: export: {a}: bad variable name");
                        return Flow::Status(1);
                    }
                    let value = value
                        .map(str::to_string)
                        .or_else(|| self.get_var(name))
                        .unwrap_or_default();
                    self.set_var(name, &value, true);
                }
                if argv.len() == 1 {
                    for e in self.environ() {
                        let (n, v) = e.split_once('=').unwrap_or((&e, ""));
                        println!("export {n}='{v}'");
                    }
                }
                0
            }
            "unset" => {
                for a in &argv[1..] {
                    self.vars.remove(a);
                    self.exported.remove(a);
                }
                0
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
            "wait" => self.wait_all(),
            _ => 127,
        };
        Flow::Status(status)
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
