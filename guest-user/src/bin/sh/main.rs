//! `sh`: a small POSIX-style shell for the console session.
//!
//! ```text
//! sh                  interactive when stdin is a terminal (job control, line editing)
//! sh -c 'COMMANDS' [NAME [ARGS...]]
//! sh FILE [ARGS...]
//! ```
//!
//! A POSIX shell language: pipelines, redirections (`<`, `>`, `>>`, `N>`, `N>&M`, `N>&-`,
//! here-documents `<<WORD` and `<<-WORD`),
//! quoting, parameters and `${...}` operators, command substitution, arithmetic, pathname
//! expansion, `;`, `&&`, `||`, `&`, `!`, `if`, `while`, `until`, `for`, `case`, `{ }`,
//! `( )`, functions, and job control: each job is a process group, the foreground one owns
//! the terminal, Ctrl-Z stops it and `fg`/`bg` go on with it. Layers: `lexer` (words and
//! operators), `parser` (the syntax tree), `expand` (parameters, field splitting, quote
//! removal), `subst` (command substitution, arithmetic via `arith`, `${...}`), `glob`
//! (patterns), `exec` (lists, pipelines, simple commands, redirections), `flow` (compound
//! commands and functions), `jobs` (job table and job control), `builtins`, `printf`, `line`
//! (the line editor).

mod arith;
mod builtins;
mod exec;
mod expand;
mod flow;
mod glob;
mod jobs;
mod lexer;
mod line;
mod parser;
mod printf;
mod scripting;
mod subst;
mod test;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;

use libc::pid_t;

pub struct Shell {
    vars: BTreeMap<String, String>,
    exported: BTreeSet<String>,
    /// Variables `readonly` marked: setting or unsetting one is an error.
    readonly: BTreeSet<String>,
    /// `getopts`' place inside a word of grouped options (`-ab`): the `OPTIND` it was for
    /// and the index of the next letter.
    getopts_next: (String, usize),
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
    /// Set by `exit` (and by errors that end a script).
    exit_code: Option<i32>,
    functions: HashMap<String, Rc<parser::Command>>,
    /// Function calls in progress.
    frames: Vec<flow::Frame>,
    /// Loops in progress in the current function (what `break` can leave).
    loop_depth: u32,
    /// A `break`, `continue` or `return` unwinding.
    control: Option<flow::Control>,
    /// `trap` actions by signal number (0 for `EXIT`); an empty one ignores the signal.
    traps: Vec<(i32, String)>,
    /// Inside a condition (`if`, `while`, `&&`, `||`): `set -e` does not apply.
    in_condition: u32,
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
            readonly: BTreeSet::new(),
            getopts_next: (String::new(), 0),
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
            functions: HashMap::new(),
            frames: Vec::new(),
            loop_depth: 0,
            control: None,
            in_condition: 0,
            traps: Vec::new(),
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

    /// Set a variable; `false` (and a message, as dash's) if it is read-only.
    pub fn set_var(&mut self, name: &str, value: &str, export: bool) -> bool {
        if self.readonly.contains(name) {
            eprintln!("sh: {name}: is read only");
            return false;
        }
        self.vars.insert(name.to_string(), value.to_string());
        if export {
            self.exported.insert(name.to_string());
        }
        true
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
        if self.job_control || self.interactive {
            for sig in exec::JOB_SIGNALS {
                // SAFETY: signal takes integers only.
                unsafe { libc::signal(sig, libc::SIG_DFL) };
            }
        }
        // Traps other than ignoring are not inherited.
        for (sig, action) in &self.traps {
            if *sig != 0 && !action.is_empty() {
                // SAFETY: signal takes integers only.
                unsafe { libc::signal(*sig, libc::SIG_DFL) };
            }
        }
        self.traps.retain(|t| t.1.is_empty());
        self.job_control = false;
        self.interactive = false;
        self.jobs.clear();
        self.current_job = None;
    }

    /// End this (sub)shell process with its status.
    pub fn exit_now(&mut self) -> ! {
        use std::io::Write;
        self.run_exit_trap();
        let _ = std::io::stdout().flush();
        std::process::exit(self.exit_code.unwrap_or(self.last_status))
    }

    /// A syntax error: status 2, and a script ends.
    fn syntax_error(&mut self, e: &lexer::SyntaxError) {
        eprintln!("sh: {e}");
        self.last_status = 2;
        if !self.interactive {
            self.exit_code = Some(2);
        }
    }

    /// Parse and run `src` a line (a complete command) at a time, as a script runs.
    pub fn run_source(&mut self, src: &str) {
        let toks = match lexer::tokenize(src) {
            Ok(t) => t,
            Err(e) => return self.syntax_error(&e),
        };
        let mut p = parser::Parser::new(src, toks);
        while self.exit_code.is_none() && self.control.is_none() {
            match p.next_line() {
                Ok(Some(items)) => {
                    self.run_list(&items);
                }
                Ok(None) => break,
                Err(e) => return self.syntax_error(&e),
            }
        }
    }

    /// Run the script `args[0]` with `args[1..]` as its parameters (`sh FILE`, and a file
    /// without `#!` that the kernel would not run).
    pub fn run_script(&mut self, args: Vec<String>) -> i32 {
        let src = match std::fs::read(&args[0]) {
            Ok(s) => String::from_utf8_lossy(&s).into_owned(),
            Err(e) => {
                eprintln!("sh: can't open {}: {}", args[0], exec::errtext(&e));
                return 127;
            }
        };
        self.args = args;
        self.functions.clear();
        self.run_source(&src);
        self.exit_code.unwrap_or(self.last_status)
    }

    /// Read lines with `read` until they make a complete command (or a syntax error);
    /// `None` at the end of input.
    fn read_command(&mut self, mut read: impl FnMut(&str) -> Option<String>) -> Option<String> {
        let mut src = String::new();
        let mut prompt = self.prompt();
        loop {
            let Some(line) = read(&prompt) else {
                if src.is_empty() {
                    return None;
                }
                // Let the parser report what is missing.
                return Some(src);
            };
            src.push_str(&line);
            src.push('\n');
            match parser::parse(&src) {
                Err(e) if e.incomplete => {
                    prompt = self.get_var("PS2").unwrap_or_else(|| "> ".into());
                }
                _ => return Some(src),
            }
        }
    }

    /// Take the terminal for the shell's own process group, ignoring the signals that would
    /// stop or kill an interactive shell (as bash and ash do).
    fn init_job_control(&mut self) {
        // SAFETY: signal, getpgrp, tcgetpgrp, kill, setpgid, tcsetpgrp and tcgetattr take
        // integers or a valid termios pointer.
        unsafe {
            for sig in exec::JOB_SIGNALS {
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
            let Some(src) = self.read_command(|prompt| editor.read_line(prompt)) else {
                break;
            };
            self.run_source(&src);
            if let Some(code) = self.exit_code {
                return code;
            }
        }
        self.last_status
    }
}

/// `sh [-ex] [-c COMMANDS [NAME [ARGS...]] | FILE [ARGS...]]`.
fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let mut sh = Shell::new(vec![argv[0].clone()]);
    let mut i = 1;
    let command = match sh.parse_options(&argv, &mut i) {
        Ok(c) => c,
        Err(a) => {
            eprintln!("sh: illegal option {a}");
            std::process::exit(2);
        }
    };
    // SAFETY: isatty only inspects the descriptor.
    let is_tty = unsafe { libc::isatty(0) == 1 };
    let status = if command {
        let Some(src) = argv.get(i) else {
            eprintln!("sh: -c requires an argument");
            std::process::exit(2);
        };
        if i + 1 < argv.len() {
            sh.args = argv[i + 1..].to_vec();
        }
        sh.run_source(src);
        sh.exit_code.unwrap_or(sh.last_status)
    } else if i < argv.len() {
        sh.run_script(argv[i..].to_vec())
    } else if is_tty {
        sh.interactive_loop()
    } else {
        while let Some(src) = sh.read_command(|_| line::read_plain()) {
            sh.run_source(&src);
            if sh.exit_code.is_some() {
                break;
            }
        }
        sh.exit_code.unwrap_or(sh.last_status)
    };
    sh.last_status = status;
    sh.exit_code = Some(status);
    sh.exit_now();
}
