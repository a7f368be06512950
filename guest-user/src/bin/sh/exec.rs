//! Running parsed commands: lists and and-or lists (with `set -e`), pipelines of forked
//! processes (one process group per job under job control), simple commands (built-ins and
//! functions in the shell, programs forked and exec'd through `$PATH`), redirections. The
//! compound commands are in `flow`.

use std::ffi::CString;

use libc::pid_t;

use super::lexer::RedirKind;
use super::parser::{AndOr, Command, Item, Pipeline, Redir, Simple};
use super::Shell;

/// The signals an interactive shell ignores and its children take back (bash and ash do).
pub const JOB_SIGNALS: [i32; 6] = [
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGTSTP,
    libc::SIGTTIN,
    libc::SIGTTOU,
];

pub fn cstr(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

fn os_err() -> std::io::Error {
    std::io::Error::last_os_error()
}

pub fn errtext(e: &std::io::Error) -> String {
    let t = e.to_string();
    t.split(" (os error").next().unwrap_or(&t).to_string()
}

impl Shell {
    /// Run each item of a list; stops early after `exit`, `break`, `continue` or `return`.
    /// Returns the last status.
    pub fn run_list(&mut self, items: &[Item]) -> i32 {
        for item in items {
            if self.exit_code.is_some() || self.control.is_some() {
                break;
            }
            self.run_traps();
            if item.background {
                self.run_background(item);
            } else {
                let status = self.run_andor(&item.andor, false, &item.text);
                self.last_status = status;
                // `set -e`: a failure outside a condition ends the shell.
                let last = item.andor.rest.last().map_or(&item.andor.first, |r| &r.1);
                if status != 0 && self.errexit && self.in_condition == 0 && !last.bang {
                    self.exit_code.get_or_insert(status);
                }
            }
        }
        self.last_status
    }

    /// Run `items` as a condition (`if`, `while`, the left of `&&`): `set -e` ignores it.
    pub fn run_condition(&mut self, items: &[Item]) -> i32 {
        self.in_condition += 1;
        let status = self.run_list(items);
        self.in_condition -= 1;
        status
    }

    fn run_andor(&mut self, ao: &AndOr, background: bool, text: &str) -> i32 {
        let cond = !ao.rest.is_empty();
        self.in_condition += u32::from(cond);
        let mut status = self.run_pipeline(&ao.first, background, text);
        for (i, (and, p)) in ao.rest.iter().enumerate() {
            if self.exit_code.is_some() || self.control.is_some() {
                break;
            }
            if (status == 0) == *and {
                self.last_status = status;
                // The last pipeline is not a condition.
                self.in_condition -= u32::from(i + 1 == ao.rest.len());
                status = self.run_pipeline(p, background, text);
                self.in_condition += u32::from(i + 1 == ao.rest.len());
            }
        }
        self.in_condition -= u32::from(cond);
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
            self.last_status = self.run_andor(&item.andor, false, &item.text);
            self.exit_now();
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
        let status = match p.cmds.as_slice() {
            [cmd] if !background => self.run_command(cmd, text),
            cmds => self.fork_pipeline(cmds, background, text),
        };
        if p.bang {
            i32::from(status == 0)
        } else {
            status
        }
    }

    /// A command in the foreground: built-ins, functions and compound commands in the shell
    /// itself, programs and subshells forked as a job.
    pub fn run_command(&mut self, cmd: &Command, text: &str) -> i32 {
        match cmd {
            Command::Simple(s) => self.run_simple(s, text),
            Command::Compound(c, redirs) => {
                let mark = self.saved_fds.len();
                let status = match self.redirect(redirs, true) {
                    Ok(()) => self.run_compound(c, text),
                    Err(e) => {
                        eprintln!("sh: {e}");
                        1
                    }
                };
                self.restore_fds(mark);
                status
            }
            Command::Function(name, body) => {
                self.functions.insert(name.clone(), body.clone());
                0
            }
        }
    }

    fn expand_words(&mut self, s: &Simple) -> Option<Vec<String>> {
        self.subst_status = None;
        let argv: Vec<String> = s.words.iter().flat_map(|w| self.expand(w)).collect();
        if std::mem::take(&mut self.expand_failed) {
            return None;
        }
        if self.xtrace && !argv.is_empty() {
            eprintln!("+ {}", argv.join(" "));
        }
        Some(argv)
    }

    fn run_simple(&mut self, s: &Simple, text: &str) -> i32 {
        let Some(argv) = self.expand_words(s) else {
            return 2;
        };
        let Some(name) = argv.first() else {
            // Assignments (and redirections) alone: they stay in the shell.
            let mark = self.saved_fds.len();
            let status = match self.redirect(&s.redirs, true) {
                Ok(()) if !self.assign(s, false) => 1,
                Ok(()) => self.subst_status.take().unwrap_or(0),
                Err(e) => {
                    eprintln!("sh: {e}");
                    1
                }
            };
            self.restore_fds(mark);
            return status;
        };
        if name == "exec" {
            return self.builtin_exec(s, &argv);
        }
        if !self.is_builtin(name) && !self.functions.contains_key(name) {
            return self.fork_job(text, |sh| sh.exec_simple(s, &argv));
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let mark = self.saved_fds.len();
        let status = match self.redirect(&s.redirs, true) {
            Ok(()) => self.run_builtin_or_function(s, &argv),
            Err(e) => {
                eprintln!("sh: {e}");
                1
            }
        };
        let _ = std::io::stdout().flush();
        self.restore_fds(mark);
        status
    }

    /// A built-in or function. Its assignments last only while it runs, except for the
    /// special built-ins (`IFS=: read a b` splits on `:` and leaves IFS as it was).
    fn run_builtin_or_function(&mut self, s: &Simple, argv: &[String]) -> i32 {
        const SPECIAL: &[&str] = &[
            ".", ":", "break", "continue", "eval", "exec", "exit", "export", "readonly", "return",
            "set", "shift", "trap", "unset",
        ];
        let function = self.functions.get(&argv[0]).cloned();
        let keep = function.is_none() && SPECIAL.contains(&argv[0].as_str());
        let saved: Vec<(String, Option<String>)> = match keep {
            true => Vec::new(),
            false => s
                .assigns
                .iter()
                .map(|(k, _)| (k.clone(), self.get_var(k)))
                .collect(),
        };
        let status = match function {
            _ if !self.assign(s, false) => 1,
            Some(body) => self.call_function(&body, argv),
            None => self.builtin(argv),
        };
        for (k, old) in saved {
            match old {
                Some(v) => {
                    self.vars.insert(k, v);
                }
                None => {
                    self.vars.remove(&k);
                }
            }
        }
        status
    }

    /// The command's assignments, exported with `export` (for a program's environment);
    /// `false` if one was to a read-only variable.
    pub fn assign(&mut self, s: &Simple, export: bool) -> bool {
        let mut ok = true;
        for (k, v) in &s.assigns {
            let v = self.expand_one(v);
            if self.xtrace {
                eprintln!("+ {k}={v}");
            }
            ok &= self.set_var(k, &v, export);
        }
        ok
    }

    /// Fork a foreground job running `child` and wait for it.
    pub fn fork_job(&mut self, text: &str, child: impl FnOnce(&mut Shell) -> i32) -> i32 {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        // SAFETY: the shell is single-threaded; the child only sets itself up and runs.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            self.enter_child(0, true);
            self.last_status = child(self);
            self.exit_now();
        }
        if pid < 0 {
            eprintln!("sh: fork: {}", errtext(&os_err()));
            return 1;
        }
        if self.job_control {
            // SAFETY: setpgid takes integers only.
            unsafe { libc::setpgid(pid, pid) };
        }
        let id = self.add_job(pid, &[pid], text);
        self.wait_foreground(id)
    }

    fn fork_pipeline(&mut self, cmds: &[Command], background: bool, text: &str) -> i32 {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let mut pids = Vec::new();
        let mut pgid = 0;
        let mut input = -1;
        for (i, cmd) in cmds.iter().enumerate() {
            let last = i + 1 == cmds.len();
            let mut fds = [-1, -1];
            // SAFETY: `fds` is a valid two-int array.
            if !last && unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
                eprintln!("sh: pipe: {}", errtext(&os_err()));
                break;
            }
            // SAFETY: the shell is single-threaded; the child only sets itself up and runs.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                let job_control = self.job_control;
                self.enter_child(pgid, !background);
                // SAFETY: dup2 and close on descriptors this process owns.
                unsafe {
                    if input >= 0 {
                        libc::dup2(input, 0);
                    }
                    if fds[1] >= 0 {
                        libc::dup2(fds[1], 1);
                    }
                    if background && !job_control && input < 0 {
                        // Without job control a background job must not read the terminal.
                        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
                        libc::dup2(null, 0);
                    }
                }
                self.last_status = self.run_in_child(cmd);
                self.exit_now();
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
    /// control, then a subshell without job control.
    fn enter_child(&mut self, pgid: pid_t, foreground: bool) {
        if self.job_control {
            // SAFETY: setpgid and tcsetpgrp take integers only.
            unsafe {
                libc::setpgid(0, pgid);
                if foreground {
                    libc::tcsetpgrp(0, if pgid == 0 { libc::getpid() } else { pgid });
                }
            }
        }
        self.enter_subshell();
    }

    /// A pipeline's command in its own process.
    fn run_in_child(&mut self, cmd: &Command) -> i32 {
        match cmd {
            Command::Simple(s) => match self.expand_words(s) {
                None => 2,
                Some(argv) if argv.is_empty() => 0,
                Some(argv) => self.exec_simple(s, &argv),
            },
            other => self.run_command(other, ""),
        }
    }

    /// In a child: redirect, then run a built-in or function, or exec a program. Returns the
    /// status to exit with if it is not replaced.
    fn exec_simple(&mut self, s: &Simple, argv: &[String]) -> i32 {
        if let Err(e) = self.redirect(&s.redirs, false) {
            eprintln!("sh: {e}");
            return 1;
        }
        let name = &argv[0];
        if self.is_builtin(name) || self.functions.contains_key(name) {
            return self.run_builtin_or_function(s, argv);
        }
        if !self.assign(s, true) {
            return 1;
        }
        let path = match self.lookup(name) {
            Some(p) => p,
            None => {
                eprintln!("sh: {name}: not found");
                return 127;
            }
        };
        self.execve(&path, argv)
    }

    /// Replace this process with `path`; returns the status if that fails. A file the
    /// kernel refuses as `ENOEXEC` is a script without `#!`: this shell runs it.
    pub fn execve(&mut self, path: &str, argv: &[String]) -> i32 {
        let cargs: Vec<CString> = argv.iter().map(|a| cstr(a)).collect();
        let mut ptrs: Vec<*const libc::c_char> = cargs.iter().map(|c| c.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        let cenv: Vec<CString> = self.environ().iter().map(|e| cstr(e)).collect();
        let mut envp: Vec<*const libc::c_char> = cenv.iter().map(|c| c.as_ptr()).collect();
        envp.push(std::ptr::null());
        let cpath = cstr(path);
        // SAFETY: NUL-terminated arrays of valid C strings that outlive the call.
        unsafe { libc::execve(cpath.as_ptr(), ptrs.as_ptr(), envp.as_ptr()) };
        let e = os_err();
        if e.raw_os_error() == Some(libc::ENOEXEC) {
            let mut args = argv.to_vec();
            args[0] = path.to_string();
            return self.run_script(args);
        }
        eprintln!("sh: {}: {}", argv[0], errtext(&e));
        if e.raw_os_error() == Some(libc::ENOENT) {
            127
        } else {
            126
        }
    }

    /// Where `name` is: itself if it has a `/`, else the first match in `$PATH`.
    pub fn lookup(&self, name: &str) -> Option<String> {
        if name.contains('/') {
            return Some(name.to_string());
        }
        let path = self.get_var("PATH").unwrap_or_else(|| "/bin:/sbin".into());
        path.split(':')
            .map(|dir| format!("{}/{name}", if dir.is_empty() { "." } else { dir }))
            .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file()))
    }

    /// Apply redirections; with `save`, first keep the descriptors they replace on
    /// `saved_fds` (put back by [`Shell::restore_fds`]).
    pub fn redirect(&mut self, redirs: &[Redir], save: bool) -> Result<(), String> {
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
                RedirKind::HereDoc(_) => here_document(&target)?,
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

    /// Undo the redirections saved since `saved_fds` had `mark` entries.
    pub fn restore_fds(&mut self, mark: usize) {
        let saved = self.saved_fds.split_off(mark.min(self.saved_fds.len()));
        for (fd, copy) in saved.into_iter().rev() {
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
}

/// A pipe's read end with `body` in it (as dash does): written at once if it fits in the
/// pipe, else by a grandchild (init reaps it), so a long body cannot block the shell.
fn here_document(body: &str) -> Result<i32, String> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(format!(
            "can't create here-document pipe: {}",
            errtext(&os_err())
        ));
    }
    let write_all = || {
        let mut rest = body.as_bytes();
        while !rest.is_empty() {
            // SAFETY: writing from a valid buffer to the pipe's write end.
            let n = unsafe { libc::write(fds[1], rest.as_ptr().cast(), rest.len()) };
            if n <= 0 {
                break;
            }
            rest = &rest[n as usize..];
        }
    };
    if body.len() <= PIPE_BUF {
        write_all();
    } else {
        // SAFETY: fork, then the child forks the writer and both exit without unwinding;
        // the parent waits for the child, which exits at once.
        unsafe {
            let child = libc::fork();
            if child == 0 {
                if libc::fork() == 0 {
                    libc::close(fds[0]);
                    write_all();
                }
                libc::_exit(0);
            }
            let mut status = 0;
            while child > 0 && libc::waitpid(child, &mut status, 0) < 0 {
                if os_err().raw_os_error() != Some(libc::EINTR) {
                    break;
                }
            }
        }
    }
    // SAFETY: closing the write end this function made.
    unsafe { libc::close(fds[1]) };
    Ok(fds[0])
}

/// What a pipe takes without blocking (POSIX's minimum, well under the kernel's 64 KiB).
const PIPE_BUF: usize = 4096;
