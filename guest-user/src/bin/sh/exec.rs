//! Running parsed commands: and-or lists, pipelines of forked processes (one process group
//! per job under job control), redirections, PATH look-up and the built-ins. A lone
//! built-in in the foreground runs in the shell itself, its redirections undone after.

use std::ffi::CString;

use libc::pid_t;

use super::lexer::RedirKind;
use super::parser::{AndOr, Command, Item, Pipeline, Redir};
use super::Shell;

/// What a built-in did: a status, or the shell should exit with one.
pub enum Flow {
    Status(i32),
    Exit(i32),
}

const BUILTINS: &[&str] = &[
    "cd", "pwd", "exit", "export", "unset", "echo", "jobs", "fg", "bg", "wait", "true", "false",
    ":",
];

fn cstr(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

fn os_err() -> std::io::Error {
    std::io::Error::last_os_error()
}

fn errtext(e: &std::io::Error) -> String {
    let t = e.to_string();
    t.split(" (os error").next().unwrap_or(&t).to_string()
}

impl Shell {
    /// Run each item of a list; stops early if `exit` ran.
    pub fn run_items(&mut self, items: &[Item]) {
        for item in items {
            if self.exit_code.is_some() {
                return;
            }
            if item.background {
                self.run_background(item);
            } else {
                self.last_status = self.run_andor(&item.andor, false, &item.text);
            }
        }
    }

    fn run_andor(&mut self, ao: &AndOr, background: bool, text: &str) -> i32 {
        let mut status = self.run_pipeline(&ao.first, background, text);
        for (and, p) in &ao.rest {
            if self.exit_code.is_some() {
                break;
            }
            if (status == 0) == *and {
                self.last_status = status;
                status = self.run_pipeline(p, background, text);
            }
        }
        status
    }

    /// `&`: a pipeline runs as a background job; an and-or list runs in a forked subshell.
    fn run_background(&mut self, item: &Item) {
        if item.andor.rest.is_empty() {
            self.run_pipeline(&item.andor.first, true, &item.text);
            self.last_status = 0;
            return;
        }
        // SAFETY: the shell is single-threaded; the child runs the list and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            self.enter_child(0, false);
            self.job_control = false;
            let status = self.run_andor(&item.andor, false, &item.text);
            std::process::exit(status);
        }
        if pid > 0 {
            // SAFETY: setpgid takes integers only.
            unsafe { libc::setpgid(pid, pid) };
            self.started_background(pid, &[pid], &item.text);
        }
        self.last_status = 0;
    }

    fn started_background(&mut self, pgid: pid_t, pids: &[pid_t], text: &str) {
        let id = self.add_job(pgid, pids, text);
        self.last_bg = pids.last().copied();
        if self.interactive {
            eprintln!("[{id}] {}", pids.last().copied().unwrap_or(pgid));
        }
    }

    fn run_pipeline(&mut self, p: &Pipeline, background: bool, text: &str) -> i32 {
        if let [cmd] = p.cmds.as_slice() {
            let name = cmd.words.first().map(|w| self.expand_one(w));
            let builtin = name.as_deref().is_some_and(|n| BUILTINS.contains(&n));
            if !background && (cmd.words.is_empty() || builtin) {
                return self.run_in_shell(cmd);
            }
        }
        let mut pids = Vec::new();
        let mut pgid = 0;
        let mut input = -1;
        for (i, cmd) in p.cmds.iter().enumerate() {
            let last = i + 1 == p.cmds.len();
            let mut fds = [-1, -1];
            // SAFETY: `fds` is a valid two-int array.
            if !last && unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
                eprintln!("sh: pipe: {}", errtext(&os_err()));
                break;
            }
            // SAFETY: the shell is single-threaded; the child only sets itself up and execs.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                self.enter_child(pgid, !background);
                // SAFETY: dup2 and close on descriptors this process owns.
                unsafe {
                    if input >= 0 {
                        libc::dup2(input, 0);
                    }
                    if fds[1] >= 0 {
                        libc::dup2(fds[1], 1);
                    }
                    if background && !self.job_control && input < 0 {
                        // Without job control a background job must not read the terminal.
                        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
                        libc::dup2(null, 0);
                    }
                }
                std::process::exit(self.exec_command(cmd));
            }
            // SAFETY: closing descriptors the shell owns.
            unsafe {
                if input >= 0 {
                    libc::close(input);
                }
                if fds[1] >= 0 {
                    libc::close(fds[1]);
                }
            }
            input = fds[0];
            if pid < 0 {
                eprintln!("sh: fork: {}", errtext(&os_err()));
                break;
            }
            if pgid == 0 {
                pgid = pid;
            }
            if self.job_control {
                // Also here, so the group exists whichever side runs first.
                // SAFETY: setpgid takes integers only.
                unsafe { libc::setpgid(pid, pgid) };
            }
            pids.push(pid);
        }
        if input >= 0 {
            // SAFETY: closing the shell's own pipe end.
            unsafe { libc::close(input) };
        }
        if pids.is_empty() {
            return 1;
        }
        if background {
            self.started_background(pgid, &pids, text);
            return 0;
        }
        let id = self.add_job(pgid, &pids, text);
        self.wait_foreground(id)
    }

    /// A forked child: its own process group (the foreground one if `foreground`) under job
    /// control, and the signals the interactive shell ignores back to their defaults.
    fn enter_child(&self, pgid: pid_t, foreground: bool) {
        // SAFETY: setpgid, tcsetpgrp and signal take integers only.
        unsafe {
            if self.job_control {
                libc::setpgid(0, pgid);
                if foreground {
                    libc::tcsetpgrp(0, if pgid == 0 { libc::getpid() } else { pgid });
                }
            }
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

    /// In a child: redirect, then run a built-in or exec a program. Returns the status to
    /// exit with if it is not replaced.
    fn exec_command(&mut self, cmd: &Command) -> i32 {
        if let Err(e) = self.redirect(&cmd.redirs, false) {
            eprintln!("sh: {e}");
            return 1;
        }
        let argv: Vec<String> = cmd.words.iter().flat_map(|w| self.expand(w)).collect();
        if self.expand_failed {
            return 2;
        }
        let Some(name) = argv.first() else {
            return 0;
        };
        if BUILTINS.contains(&name.as_str()) {
            return match self.builtin(&argv) {
                Flow::Status(s) | Flow::Exit(s) => s,
            };
        }
        for (k, v) in &cmd.assigns {
            let v = self.expand_one(v);
            self.set_var(k, &v, true);
        }
        let path = match self.lookup(name) {
            Some(p) => p,
            None => {
                eprintln!("sh: {name}: not found");
                return 127;
            }
        };
        let cargs: Vec<CString> = argv.iter().map(|a| cstr(a)).collect();
        let mut ptrs: Vec<*const libc::c_char> = cargs.iter().map(|c| c.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        let cenv: Vec<CString> = self.environ().iter().map(|e| cstr(e)).collect();
        let mut envp: Vec<*const libc::c_char> = cenv.iter().map(|c| c.as_ptr()).collect();
        envp.push(std::ptr::null());
        let cpath = cstr(&path);
        // SAFETY: NUL-terminated arrays of valid C strings that outlive the call.
        unsafe { libc::execve(cpath.as_ptr(), ptrs.as_ptr(), envp.as_ptr()) };
        let e = os_err();
        eprintln!("sh: {name}: {}", errtext(&e));
        if e.raw_os_error() == Some(libc::ENOENT) {
            127
        } else {
            126
        }
    }

    /// Where `name` is: itself if it has a `/`, else the first match in `$PATH`.
    fn lookup(&self, name: &str) -> Option<String> {
        if name.contains('/') {
            return Some(name.to_string());
        }
        let path = self.get_var("PATH").unwrap_or_else(|| "/bin:/sbin".into());
        path.split(':')
            .map(|dir| format!("{}/{name}", if dir.is_empty() { "." } else { dir }))
            .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file()))
    }

    /// Apply redirections; with `save`, first keep the descriptors they replace (returned by
    /// [`Shell::restore`]'s caller through `saved`).
    fn redirect(&mut self, redirs: &[Redir], save: bool) -> Result<(), String> {
        for r in redirs {
            let target = self.expand_one(&r.target);
            if save {
                // SAFETY: fcntl(F_DUPFD_CLOEXEC) on any descriptor number is safe to try.
                let copy = unsafe { libc::fcntl(r.fd, libc::F_DUPFD_CLOEXEC, 10) };
                self.saved_fds.push((r.fd, copy));
            }
            let fd = match r.kind {
                RedirKind::Dup if target == "-" => {
                    // SAFETY: closing a descriptor number.
                    unsafe { libc::close(r.fd) };
                    continue;
                }
                RedirKind::Dup => match target.parse::<i32>() {
                    // SAFETY: fcntl(F_GETFD) only checks the descriptor.
                    Ok(n) if unsafe { libc::fcntl(n, libc::F_GETFD) } >= 0 => {
                        // SAFETY: dup2 between descriptor numbers.
                        unsafe { libc::dup2(n, r.fd) };
                        continue;
                    }
                    _ => return Err(format!("{target}: bad file descriptor")),
                },
                kind => {
                    let flags = match kind {
                        RedirKind::In => libc::O_RDONLY,
                        RedirKind::Append => libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND,
                        _ => libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
                    };
                    let p = cstr(&target);
                    // SAFETY: `p` is a valid C string.
                    let fd = unsafe { libc::open(p.as_ptr(), flags | libc::O_CLOEXEC, 0o666) };
                    if fd < 0 {
                        return Err(format!("can't open {target}: {}", errtext(&os_err())));
                    }
                    fd
                }
            };
            // SAFETY: moving the new descriptor into place; dup2 clears close-on-exec.
            unsafe {
                libc::dup2(fd, r.fd);
                libc::close(fd);
            }
        }
        Ok(())
    }

    /// Undo the redirections a built-in ran with.
    fn restore_fds(&mut self) {
        for (fd, copy) in std::mem::take(&mut self.saved_fds).into_iter().rev() {
            // SAFETY: putting back (or closing) descriptors the shell saved.
            unsafe {
                if copy >= 0 {
                    libc::dup2(copy, fd);
                    libc::close(copy);
                } else {
                    libc::close(fd);
                }
            }
        }
    }

    /// A built-in, or assignments only, in the shell process.
    fn run_in_shell(&mut self, cmd: &Command) -> i32 {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let status = match self.redirect(&cmd.redirs, true) {
            Err(e) => {
                eprintln!("sh: {e}");
                1
            }
            Ok(()) => {
                self.subst_status = None;
                let argv: Vec<String> = cmd.words.iter().flat_map(|w| self.expand(w)).collect();
                if std::mem::take(&mut self.expand_failed) {
                    2
                } else if argv.is_empty() {
                    for (k, v) in &cmd.assigns {
                        let v = self.expand_one(v);
                        self.set_var(k, &v, false);
                    }
                    self.subst_status.take().unwrap_or(0)
                } else {
                    match self.builtin(&argv) {
                        Flow::Status(s) => s,
                        Flow::Exit(s) => {
                            self.exit_code = Some(s);
                            s
                        }
                    }
                }
            }
        };
        let _ = std::io::stdout().flush();
        self.restore_fds();
        status
    }
}
