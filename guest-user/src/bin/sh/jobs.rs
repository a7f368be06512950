//! Job control: the job table (one process group per job), waiting for the foreground job
//! with the terminal handed to it (`tcsetpgrp`), stop and done notifications, and the `jobs`,
//! `fg` and `bg` built-ins. Messages as bash prints them: `[1]+  Stopped  sleep 100`.

use libc::pid_t;

use super::Shell;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Running,
    Stopped,
    /// Done, with the status of the pipeline's last command.
    Done(i32),
}

#[derive(Debug)]
pub struct Job {
    pub id: usize,
    pub pgid: pid_t,
    /// Each process and its last known state.
    pub procs: Vec<(pid_t, State)>,
    pub text: String,
}

impl Job {
    fn state(&self) -> State {
        if self.procs.iter().any(|p| p.1 == State::Stopped) {
            State::Stopped
        } else if self.procs.iter().any(|p| p.1 == State::Running) {
            State::Running
        } else {
            self.procs.last().map_or(State::Done(0), |p| p.1)
        }
    }
}

/// The shell's status for a wait status: the exit code, or 128 + the signal.
pub fn status_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        128 + libc::WSTOPSIG(status)
    }
}

fn signal_text(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "Hangup",
        libc::SIGQUIT => "Quit",
        libc::SIGILL => "Illegal instruction",
        libc::SIGABRT => "Aborted",
        libc::SIGKILL => "Killed",
        libc::SIGSEGV => "Segmentation fault",
        libc::SIGPIPE => "Broken pipe",
        libc::SIGTERM => "Terminated",
        libc::SIGTSTP | libc::SIGSTOP => "Stopped",
        libc::SIGTTIN => "Stopped (tty input)",
        libc::SIGTTOU => "Stopped (tty output)",
        _ => "Signalled",
    }
}

impl Shell {
    /// Record a new job; returns its number.
    pub fn add_job(&mut self, pgid: pid_t, pids: &[pid_t], text: &str) -> usize {
        let id = self.jobs.iter().map(|j| j.id).max().unwrap_or(0) + 1;
        self.jobs.push(Job {
            id,
            pgid,
            procs: pids.iter().map(|&p| (p, State::Running)).collect(),
            text: text.to_string(),
        });
        self.current_job = Some(id);
        id
    }

    /// `+` for the current job, `-` for the one before it.
    fn marker(&self, id: usize) -> char {
        if self.current_job == Some(id) {
            '+'
        } else if self
            .jobs
            .iter()
            .rev()
            .find(|j| Some(j.id) != self.current_job)
            .map(|j| j.id)
            == Some(id)
        {
            '-'
        } else {
            ' '
        }
    }

    fn job_line(&self, j: &Job) -> String {
        let state = match j.state() {
            State::Running => "Running".to_string(),
            State::Stopped => "Stopped".to_string(),
            State::Done(0) => "Done".to_string(),
            State::Done(s) if s > 128 => signal_text(s - 128).to_string(),
            State::Done(s) => format!("Exit {s}"),
        };
        let amp = if j.state() == State::Running {
            " &"
        } else {
            ""
        };
        format!(
            "[{}]{}  {:<24}{}{}",
            j.id,
            self.marker(j.id),
            state,
            j.text,
            amp
        )
    }

    /// Note a wait status for `pid` in its job.
    fn update(&mut self, pid: pid_t, status: i32) {
        let state = if libc::WIFSTOPPED(status) {
            State::Stopped
        } else if libc::WIFCONTINUED(status) {
            State::Running
        } else {
            State::Done(status_code(status))
        };
        for j in &mut self.jobs {
            for p in &mut j.procs {
                if p.0 == pid {
                    p.1 = state;
                }
            }
        }
    }

    /// Collect what changed without waiting, then report finished and stopped background
    /// jobs (before a prompt, and for `jobs`).
    pub fn reap_and_notify(&mut self) {
        loop {
            let mut status = 0;
            // SAFETY: `status` is a valid out-pointer.
            let pid = unsafe {
                libc::waitpid(
                    -1,
                    &mut status,
                    libc::WNOHANG | libc::WUNTRACED | libc::WCONTINUED,
                )
            };
            if pid <= 0 {
                break;
            }
            self.update(pid, status);
        }
        let done: Vec<String> = self
            .jobs
            .iter()
            .filter(|j| matches!(j.state(), State::Done(_)))
            .map(|j| self.job_line(j))
            .collect();
        for line in done {
            if self.interactive {
                eprintln!("{line}");
            }
        }
        self.jobs.retain(|j| !matches!(j.state(), State::Done(_)));
        if self
            .current_job
            .is_some_and(|c| !self.jobs.iter().any(|j| j.id == c))
        {
            self.current_job = self.jobs.last().map(|j| j.id);
        }
    }

    /// Wait for job `id` in the foreground: the terminal is its until it ends or stops.
    /// Returns the shell status.
    pub fn wait_foreground(&mut self, id: usize) -> i32 {
        let Some(pgid) = self.jobs.iter().find(|j| j.id == id).map(|j| j.pgid) else {
            return 0;
        };
        if self.job_control {
            // SAFETY: tcsetpgrp takes integers only.
            unsafe { libc::tcsetpgrp(0, pgid) };
        }
        while let Some(j) = self.jobs.iter().find(|j| j.id == id) {
            if j.state() != State::Running {
                break;
            }
            // Without job control the processes are in the shell's group: one at a time.
            let target = match j.procs.iter().find(|p| p.1 == State::Running) {
                Some(p) if !self.job_control => p.0,
                _ => -pgid,
            };
            let mut status = 0;
            // SAFETY: `status` is a valid out-pointer.
            let pid = unsafe { libc::waitpid(target, &mut status, libc::WUNTRACED) };
            if pid < 0 {
                if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                // Nothing left to wait for: the job is gone.
                for j in self.jobs.iter_mut().filter(|j| j.id == id) {
                    for p in &mut j.procs {
                        if p.1 == State::Running {
                            p.1 = State::Done(0);
                        }
                    }
                }
                break;
            }
            self.update(pid, status);
        }
        if self.job_control {
            // SAFETY: tcsetpgrp takes integers only; `tty_modes` is a valid termios.
            unsafe {
                libc::tcsetpgrp(0, self.pgid);
                if let Some(modes) = &self.tty_modes {
                    libc::tcsetattr(0, libc::TCSADRAIN, modes);
                }
            }
        }
        let Some(pos) = self.jobs.iter().position(|j| j.id == id) else {
            return 0;
        };
        match self.jobs[pos].state() {
            State::Stopped => {
                self.current_job = Some(id);
                eprintln!("\n{}", self.job_line(&self.jobs[pos]));
                128 + libc::SIGTSTP
            }
            State::Done(status) => {
                let job = self.jobs.remove(pos);
                if self.current_job == Some(job.id) {
                    self.current_job = self.jobs.last().map(|j| j.id);
                }
                match status - 128 {
                    libc::SIGINT => eprintln!(),
                    sig if sig > 0 && sig != libc::SIGPIPE => eprintln!("{}", signal_text(sig)),
                    _ => {}
                }
                status
            }
            State::Running => 0,
        }
    }

    /// The job a `%N` (or `%%`, `%+`, nothing) argument names.
    fn find_job(&self, arg: Option<&str>, cmd: &str) -> Result<usize, String> {
        let id = match arg {
            None | Some("%%" | "%+" | "%") => self.current_job,
            Some(a) => a.trim_start_matches('%').parse().ok(),
        };
        match id.filter(|id| self.jobs.iter().any(|j| j.id == *id)) {
            Some(id) => Ok(id),
            None => Err(format!("{cmd}: {}: no such job", arg.unwrap_or("current"))),
        }
    }

    fn continue_job(&mut self, id: usize) {
        let Some(j) = self.jobs.iter_mut().find(|j| j.id == id) else {
            return;
        };
        for p in &mut j.procs {
            if p.1 == State::Stopped {
                p.1 = State::Running;
            }
        }
        // SAFETY: kill takes integers only.
        unsafe { libc::kill(-j.pgid, libc::SIGCONT) };
    }

    /// `wait`: until every child has ended (stopped jobs excepted).
    pub fn wait_all(&mut self) -> i32 {
        while self.jobs.iter().any(|j| j.state() == State::Running) {
            let mut status = 0;
            // SAFETY: `status` is a valid out-pointer.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WUNTRACED) };
            if pid < 0 {
                break;
            }
            self.update(pid, status);
        }
        self.reap_and_notify();
        0
    }

    /// `wait PID` or `wait %N`: until that process (a job's last) ends; its status, or 127
    /// if it is not a child of this shell.
    pub fn wait_one(&mut self, arg: &str) -> i32 {
        let pid = match arg.strip_prefix('%') {
            Some(_) => self
                .find_job(Some(arg), "wait")
                .ok()
                .and_then(|id| self.jobs.iter().find(|j| j.id == id))
                .and_then(|j| j.procs.last().map(|p| p.0)),
            None => arg.parse().ok(),
        };
        let state = |sh: &Shell, pid| {
            sh.jobs
                .iter()
                .flat_map(|j| &j.procs)
                .find(|p| p.0 == pid)
                .map(|p| p.1)
        };
        let Some(pid) = pid.filter(|&p| state(self, p).is_some()) else {
            eprintln!("sh: wait: pid {arg} is not a child of this shell");
            return 127;
        };
        while state(self, pid) == Some(State::Running) {
            let mut status = 0;
            // SAFETY: `status` is a valid out-pointer.
            if unsafe { libc::waitpid(pid, &mut status, libc::WUNTRACED) } < 0 {
                if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                break;
            }
            self.update(pid, status);
        }
        let status = match state(self, pid) {
            Some(State::Done(s)) => s,
            Some(State::Stopped) => 128 + libc::SIGTSTP,
            _ => 127,
        };
        self.jobs.retain(|j| !matches!(j.state(), State::Done(_)));
        status
    }

    pub fn builtin_jobs(&mut self) -> i32 {
        self.reap_and_notify();
        for j in &self.jobs {
            println!("{}", self.job_line(j));
        }
        0
    }

    pub fn builtin_fg(&mut self, arg: Option<&str>) -> Result<i32, String> {
        if !self.job_control {
            return Err("fg: no job control".into());
        }
        let id = self.find_job(arg, "fg")?;
        if let Some(j) = self.jobs.iter().find(|j| j.id == id) {
            println!("{}", j.text);
        }
        self.current_job = Some(id);
        // The terminal first, so the job reads from it at once.
        if let Some(j) = self.jobs.iter().find(|j| j.id == id) {
            // SAFETY: tcsetpgrp takes integers only.
            unsafe { libc::tcsetpgrp(0, j.pgid) };
        }
        self.continue_job(id);
        Ok(self.wait_foreground(id))
    }

    pub fn builtin_bg(&mut self, arg: Option<&str>) -> Result<i32, String> {
        if !self.job_control {
            return Err("bg: no job control".into());
        }
        let id = self.find_job(arg, "bg")?;
        self.continue_job(id);
        if let Some(j) = self.jobs.iter().find(|j| j.id == id) {
            println!("[{}]{} {} &", j.id, self.marker(id), j.text);
        }
        Ok(0)
    }
}
