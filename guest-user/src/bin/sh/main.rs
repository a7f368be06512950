//! `sh`: a small POSIX-style shell for the console session.
//!
//! ```text
//! sh                  interactive when stdin is a terminal (job control, line editing)
//! sh -c 'COMMANDS' [NAME [ARGS...]]
//! sh FILE [ARGS...]
//! ```
//!
//! Pipelines, redirections (`<`, `>`, `>>`, `N>`, `N>&M`, `N>&-`), quoting, variables with
//! `$?`, `$$`, `$!`, `$#`, `$0`-`$9`, `;`, `&&`, `||`, `&`, and job control: each job is a
//! process group, the foreground one owns the terminal, Ctrl-Z stops it and `fg`/`bg` go on
//! with it. Layers: `lexer` (words and operators), `parser` (lists, pipelines, commands),
//! `expand` (parameters, field splitting, quote removal), `glob` (patterns), `exec` (forking, redirecting,
//! exec), `jobs` (job table and job control), `builtins`, `line` (the line editor).

mod arith;
mod builtins;
mod exec;
mod expand;
mod glob;
mod jobs;
mod lexer;
mod line;
mod parser;
mod subst;

use std::collections::{BTreeMap, BTreeSet};

use libc::pid_t;

pub struct Shell {
    vars: BTreeMap<String, String>,
    exported: BTreeSet<String>,
    last_status: i32,
    last_bg: Option<pid_t>,
    /// `$0` and the positional parameters.
    args: Vec<String>,
    pid: pid_t,
    /// The shell's process group (the terminal's foreground group at the prompt).
    pgid: pid_t,
    interactive: bool,
    job_control: bool,
    /// The terminal's settings at start, put back after each foreground job.
    tty_modes: Option<libc::termios>,
    jobs: Vec<jobs::Job>,
    current_job: Option<usize>,
    /// Descriptors a built-in's redirections replaced: (fd, saved copy or -1).
    saved_fds: Vec<(i32, i32)>,
    /// Set by `exit`.
    exit_code: Option<i32>,
    /// The status of the last command substitution (an assignment's status).
    subst_status: Option<i32>,
    /// An expansion failed (`${x?}`, bad arithmetic): the command is not run.
    expand_failed: bool,
    /// `set -e` and `set -x`.
    errexit: bool,
    xtrace: bool,
}

impl Shell {
    fn new(args: Vec<String>) -> Shell {
        let mut sh = Shell {
            vars: BTreeMap::new(),
            exported: BTreeSet::new(),
            last_status: 0,
            last_bg: None,
            args,
            // SAFETY: getpid and getpgrp take no arguments and cannot fail.
            pid: unsafe { libc::getpid() },
            // SAFETY: as above.
            pgid: unsafe { libc::getpgrp() },
            interactive: false,
            job_control: false,
            tty_modes: None,
            jobs: Vec::new(),
            current_job: None,
            saved_fds: Vec::new(),
            exit_code: None,
            subst_status: None,
            expand_failed: false,
            errexit: false,
            xtrace: false,
        };
        for (k, v) in std::env::vars() {
            sh.set_var(&k, &v, true);
        }
        if sh.get_var("PATH").is_none() {
            sh.set_var("PATH", "/bin:/sbin", true);
        }
        if let Ok(cwd) = std::env::current_dir() {
            sh.set_var("PWD", &cwd.to_string_lossy(), true);
        }
        sh
    }

    pub fn get_var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    pub fn set_var(&mut self, name: &str, value: &str, export: bool) {
        self.vars.insert(name.to_string(), value.to_string());
        if export {
            self.exported.insert(name.to_string());
        }
    }

    /// `NAME=value` for each exported variable.
    pub fn environ(&self) -> Vec<String> {
        self.exported
            .iter()
            .filter_map(|k| self.vars.get(k).map(|v| format!("{k}={v}")))
            .collect()
    }

    /// `$-`: the options set.
    pub fn option_letters(&self) -> String {
        [
            (self.errexit, 'e'),
            (self.interactive, 'i'),
            (self.job_control, 'm'),
            (self.xtrace, 'x'),
        ]
        .iter()
        .filter(|o| o.0)
        .map(|o| o.1)
        .collect()
    }

    /// A forked child that goes on as a subshell (`( )`, `$( )`, a pipeline's compound
    /// command): no job control, the signals an interactive shell ignores back to default.
    pub fn enter_subshell(&mut self) {
        if self.job_control {
            // SAFETY: signal takes integers only.
            unsafe {
                for sig in [
                    libc::SIGINT,
                    libc::SIGQUIT,
                    libc::SIGTSTP,
                    libc::SIGTTIN,
                    libc::SIGTTOU,
                    libc::SIGTERM,
                ] {
                    libc::signal(sig, libc::SIG_DFL);
                }
            }
        }
        self.job_control = false;
        self.interactive = false;
        self.jobs.clear();
        self.current_job = None;
    }

    /// End this (sub)shell process with its status.
    pub fn exit_now(&mut self) -> ! {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        std::process::exit(self.exit_code.unwrap_or(self.last_status))
    }

    /// Parse and run `src`; a syntax error sets status 2.
    fn run_source(&mut self, src: &str) {
        match lexer::tokenize(src).and_then(|t| parser::parse(src, &t)) {
            Ok(items) => self.run_items(&items),
            Err(e) => {
                eprintln!("sh: {e}");
                self.last_status = 2;
            }
        }
    }

    /// Take the terminal for the shell's own process group, ignoring the signals that would
    /// stop or kill an interactive shell (as bash and ash do).
    fn init_job_control(&mut self) {
        // SAFETY: signal, getpgrp, tcgetpgrp, kill, setpgid, tcsetpgrp and tcgetattr take
        // integers or a valid termios pointer.
        unsafe {
            for sig in [
                libc::SIGINT,
                libc::SIGQUIT,
                libc::SIGTERM,
                libc::SIGTSTP,
                libc::SIGTTIN,
                libc::SIGTTOU,
            ] {
                libc::signal(sig, libc::SIG_IGN);
            }
            let fg = libc::tcgetpgrp(0);
            if fg < 0 {
                eprintln!("sh: can't access tty; job control turned off");
                return;
            }
            if libc::getpgrp() != self.pid {
                libc::setpgid(0, 0);
            }
            self.pgid = libc::getpgrp();
            libc::tcsetpgrp(0, self.pgid);
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) == 0 {
                self.tty_modes = Some(t);
            }
        }
        self.job_control = true;
    }

    fn prompt(&self) -> String {
        let cwd = std::env::current_dir()
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default();
        // SAFETY: geteuid takes no arguments.
        let mark = if unsafe { libc::geteuid() } == 0 {
            '#'
        } else {
            '$'
        };
        format!("{cwd} {mark} ")
    }

    fn interactive_loop(&mut self) -> i32 {
        self.interactive = true;
        self.init_job_control();
        let mut editor = line::Editor {
            history: Vec::new(),
        };
        loop {
            self.reap_and_notify();
            let prompt = self.prompt();
            let Some(line) = editor.read_line(&prompt) else {
                break;
            };
            self.run_source(&line);
            if let Some(code) = self.exit_code {
                return code;
            }
        }
        self.last_status
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let status = match argv.get(1).map(String::as_str) {
        Some("-c") => {
            let Some(src) = argv.get(2) else {
                eprintln!("sh: -c: option requires an argument");
                std::process::exit(2);
            };
            let mut params = argv[3..].to_vec();
            if params.is_empty() {
                params.push(argv[0].clone());
            }
            let mut sh = Shell::new(params);
            sh.run_source(src);
            sh.exit_code.unwrap_or(sh.last_status)
        }
        Some(file) if !file.starts_with('-') => {
            let src = match std::fs::read_to_string(file) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("sh: can't open {file}: {}", e.kind());
                    std::process::exit(127);
                }
            };
            let mut sh = Shell::new(argv[1..].to_vec());
            sh.run_source(&src);
            sh.exit_code.unwrap_or(sh.last_status)
        }
        _ => {
            let mut sh = Shell::new(vec![argv[0].clone()]);
            // SAFETY: isatty only inspects the descriptor.
            if unsafe { libc::isatty(0) } == 1 {
                sh.interactive_loop()
            } else {
                while let Some(line) = line::read_plain() {
                    sh.run_source(&line);
                    if sh.exit_code.is_some() {
                        break;
                    }
                }
                sh.exit_code.unwrap_or(sh.last_status)
            }
        }
    };
    use std::io::Write;
    let _ = std::io::stdout().flush();
    std::process::exit(status);
}
