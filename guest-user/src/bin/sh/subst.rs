//! The expansions that compute: command substitution (`$(...)`, `` `...` ``: the command's
//! output with trailing newlines removed, its status becoming `$?`), arithmetic
//! (`$((...))`), and the `${...}` operators: `${#P}`, `${P:-W}`, `${P-W}`, `${P:=W}`,
//! `${P=W}`, `${P:+W}`, `${P+W}`, `${P:?W}`, `${P?W}`, `${P#W}`, `${P##W}`, `${P%W}`,
//! `${P%%W}`.

use std::io::Read;
use std::os::fd::FromRawFd;

use super::arith::{self, Vars};
use super::glob::fnmatch;
use super::jobs::status_code;
use super::lexer::{dquoted_word, is_name, unquoted_word};
use super::Shell;

impl Vars for Shell {
    fn get(&self, name: &str) -> Option<String> {
        self.get_var(name)
    }

    fn set(&mut self, name: &str, value: &str) {
        self.set_var(name, value, false);
    }
}

/// `${P...}`'s parameter name and the rest.
fn split_param(inner: &str) -> (&str, &str) {
    let first = inner.chars().next().unwrap_or(' ');
    let len = if first.is_ascii_digit() {
        inner.chars().take_while(|c| c.is_ascii_digit()).count()
    } else if is_name(&first.to_string()) {
        inner
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .count()
    } else {
        first.len_utf8()
    };
    inner.split_at(len)
}

/// `value` without the shortest or longest prefix (`#`) or suffix (`%`) matching `pat`.
fn trim(value: &str, pat: &str, op: &str) -> String {
    let mut cuts: Vec<usize> = value.char_indices().map(|(i, _)| i).collect();
    cuts.push(value.len());
    let prefix = op.starts_with('#');
    // The shortest match first for `#` and `%`; the longest for `##` and `%%`.
    if (op.len() == 2) == prefix {
        cuts.reverse();
    }
    for i in cuts {
        if prefix && fnmatch(pat, &value[..i]) {
            return value[i..].to_string();
        }
        if !prefix && fnmatch(pat, &value[i..]) {
            return value[..i].to_string();
        }
    }
    value.to_string()
}

impl Shell {
    /// Whether parameter `name` is set.
    fn is_set(&self, name: &str) -> bool {
        match name.parse::<usize>() {
            Ok(i) => i < self.args.len(),
            Err(_) if name.len() == 1 && "?$!#@*-".contains(name) => true,
            Err(_) => self.vars.contains_key(name),
        }
    }

    /// An expansion error: a script stops, an interactive shell goes on to the next line.
    fn expansion_error(&mut self, msg: &str) -> String {
        eprintln!("sh: {msg}");
        self.last_status = 2;
        self.expand_failed = true;
        if !self.interactive {
            self.exit_code = Some(2);
        }
        String::new()
    }

    /// The value of `${inner}` (the braces' contents, with an operator).
    pub fn param_op(&mut self, inner: &str) -> String {
        if let Some(name) = inner.strip_prefix('#').filter(|n| !n.is_empty()) {
            return self.param(name).chars().count().to_string();
        }
        let (name, rest) = split_param(inner);
        let colon = rest.starts_with(':');
        let rest = rest.strip_prefix(':').unwrap_or(rest);
        let op_len = if rest.starts_with("##") || rest.starts_with("%%") {
            2
        } else {
            1
        };
        let (op, word) = rest.split_at(op_len.min(rest.len()));
        if name.is_empty() || op.is_empty() || !"-=+?#%".contains(&op[..1]) || colon && op_len == 2
        {
            return self.expansion_error(&format!("${{{inner}}}: bad substitution"));
        }
        // Inside double quotes too the word's own quotes are removed (as dash and bash do);
        // the value then goes in quoted.
        let Ok(word) = unquoted_word(word) else {
            return self.expansion_error(&format!("${{{inner}}}: bad substitution"));
        };
        let value = self.param(name);
        // With `:`, an empty value counts as unset.
        let set = self.is_set(name) && !(colon && value.is_empty());
        match &op[..1] {
            "-" if set => value,
            "-" => self.expand_one(&word),
            "+" if set => self.expand_one(&word),
            "+" => String::new(),
            "=" if set => value,
            "=" => {
                let w = self.expand_one(&word);
                if !is_name(name) {
                    return self.expansion_error(&format!("{name}: bad variable name"));
                }
                self.set_var(name, &w, false);
                w
            }
            "?" if set => value,
            "?" => {
                let w = self.expand_one(&word);
                let msg = if w.is_empty() {
                    "parameter not set".to_string()
                } else {
                    w
                };
                self.expansion_error(&format!("{name}: {msg}"))
            }
            _ => {
                let pat = self.expand_pattern(&word);
                trim(&value, &pat, op)
            }
        }
    }

    /// `$((expr))`: the `$` expansions inside first, then the arithmetic.
    pub fn arith(&mut self, src: &str) -> String {
        let text = match dquoted_word(src) {
            Ok(w) => self.expand_one(&w),
            Err(e) => return self.expansion_error(&e.to_string()),
        };
        match arith::eval(&text, self) {
            Ok(v) => v.to_string(),
            Err(e) => self.expansion_error(&format!("arithmetic expression: {e}: \"{text}\"")),
        }
    }

    /// `$(src)`: run `src` in a forked subshell with its output into a pipe; the output
    /// without its trailing newlines.
    pub fn command_subst(&mut self, src: &str) -> String {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let mut fds = [-1, -1];
        // SAFETY: `fds` is a valid two-int array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return self.expansion_error("pipe failed");
        }
        // SAFETY: the shell is single-threaded; the child runs the command and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: descriptors this process owns.
            unsafe {
                libc::close(fds[0]);
                libc::dup2(fds[1], 1);
                libc::close(fds[1]);
            }
            self.enter_subshell();
            self.run_source(src);
            self.exit_now();
        }
        // SAFETY: closing the shell's copy of the write end.
        unsafe { libc::close(fds[1]) };
        let mut out = Vec::new();
        // SAFETY: the read end is ours alone; the File closes it.
        let mut pipe = unsafe { std::fs::File::from_raw_fd(fds[0]) };
        let _ = pipe.read_to_end(&mut out);
        drop(pipe);
        if pid > 0 {
            let mut status = 0;
            // SAFETY: `status` is a valid out-pointer.
            while unsafe { libc::waitpid(pid, &mut status, 0) } < 0
                && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
            {}
            self.last_status = status_code(status);
            self.subst_status = Some(self.last_status);
        }
        let mut s = String::from_utf8_lossy(&out).into_owned();
        while s.ends_with('\n') {
            s.pop();
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming() {
        assert_eq!(trim("a/b/c.tar.gz", "*/", "#"), "b/c.tar.gz");
        assert_eq!(trim("a/b/c.tar.gz", "*/", "##"), "c.tar.gz");
        assert_eq!(trim("a/b/c.tar.gz", ".*", "%"), "a/b/c.tar");
        assert_eq!(trim("a/b/c.tar.gz", ".*", "%%"), "a/b/c");
        assert_eq!(trim("abc", "x", "#"), "abc");
        assert_eq!(trim("abc", "\\*", "%"), "abc");
    }

    #[test]
    fn parameter_names() {
        assert_eq!(split_param("x:-y"), ("x", ":-y"));
        assert_eq!(split_param("10%.c"), ("10", "%.c"));
        assert_eq!(split_param("#"), ("#", ""));
        assert_eq!(split_param("@+z"), ("@", "+z"));
    }
}
