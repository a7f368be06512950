//! The built-ins scripts lean on: `read` (a line split on `$IFS` into variables), `getopts`,
//! `.` and `source`, `wait PID`, and `trap` (a command for `EXIT` and for signals, run
//! between commands once a signal came).

use std::sync::atomic::{AtomicU64, Ordering};

use super::lexer::is_name;
use super::Shell;

/// Signals caught for a trap and not yet handled, one bit each.
static PENDING: AtomicU64 = AtomicU64::new(0);

extern "C" fn note_signal(sig: libc::c_int) {
    PENDING.fetch_or(1 << sig, Ordering::SeqCst);
}

/// The signals `trap` knows by name (`EXIT` is 0).
const SIGNALS: &[(&str, i32)] = &[
    ("EXIT", 0),
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ABRT", libc::SIGABRT),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("CHLD", libc::SIGCHLD),
];

fn signal_number(name: &str) -> Option<i32> {
    if let Ok(n) = name.parse::<i32>() {
        return (0..64).contains(&n).then_some(n);
    }
    let name = name.strip_prefix("SIG").unwrap_or(name);
    SIGNALS.iter().find(|s| s.0 == name).map(|s| s.1)
}

/// Split `line` for `read` into `n` values: fields at `$IFS` characters, the last value
/// the rest of the line (leading and trailing `$IFS` blanks removed).
pub fn read_split(line: &str, ifs: &str, n: usize) -> Vec<String> {
    let white = |c: char| ifs.contains(c) && " \t\n".contains(c);
    let delim = |c: char| ifs.contains(c);
    let mut rest = line.trim_start_matches(white);
    let mut out = Vec::new();
    while out.len() + 1 < n && !rest.is_empty() {
        let end = rest.find(delim).unwrap_or(rest.len());
        out.push(rest[..end].to_string());
        rest = rest[end..].trim_start_matches(white);
        if let Some(c) = rest.chars().next().filter(|&c| delim(c) && !white(c)) {
            rest = rest[c.len_utf8()..].trim_start_matches(white);
        }
    }
    out.push(rest.trim_end_matches(white).to_string());
    out.resize(n, String::new());
    out
}

/// One byte from fd 0 (unbuffered, so the rest stays for whoever reads next).
fn read_byte() -> Option<u8> {
    let mut b = 0u8;
    loop {
        // SAFETY: reading one byte into a valid buffer.
        match unsafe { libc::read(0, (&mut b as *mut u8).cast(), 1) } {
            1 => return Some(b),
            -1 if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) => {}
            _ => return None,
        }
    }
}

impl Shell {
    /// `read [-r] [-p PROMPT] NAME...`: status 1 at the end of input.
    pub fn builtin_read(&mut self, argv: &[String]) -> i32 {
        let mut raw = false;
        let mut i = 1;
        while let Some(a) = argv.get(i) {
            match a.as_str() {
                "-r" => raw = true,
                "-p" => {
                    i += 1;
                    eprint!("{}", argv.get(i).map_or("", String::as_str));
                }
                _ => break,
            }
            i += 1;
        }
        let mut names: Vec<&str> = argv[i..].iter().map(String::as_str).collect();
        if names.is_empty() {
            names.push("REPLY");
        }
        if let Some(bad) = names.iter().find(|n| !is_name(n)) {
            eprintln!("sh: read: {bad}: bad variable name");
            return 2;
        }
        let mut line = Vec::new();
        let mut eof = false;
        loop {
            match read_byte() {
                None => {
                    eof = true;
                    break;
                }
                Some(b'\n') => break,
                Some(b'\\') if !raw => match read_byte() {
                    Some(b'\n') | None => {}
                    // An escaped character is kept as is (and not a delimiter; close enough:
                    // it stays in its field).
                    Some(c) => line.push(c),
                },
                Some(c) => line.push(c),
            }
        }
        let line = String::from_utf8_lossy(&line).into_owned();
        let values = read_split(&line, &self.ifs(), names.len());
        let mut status = i32::from(eof);
        for (name, v) in names.iter().zip(values) {
            if !self.set_var(name, &v, false) {
                status = 2;
            }
        }
        status
    }

    /// `getopts OPTSTRING NAME [ARGS...]`: the next option of the positional parameters (or
    /// ARGS) into NAME, its argument into `OPTARG`, the next word's index into `OPTIND`;
    /// status 1 after the last option. A leading `:` in OPTSTRING is silent mode: a bad
    /// option sets NAME to `?` and a missing argument to `:`, with the letter in `OPTARG`.
    pub fn builtin_getopts(&mut self, argv: &[String]) -> i32 {
        let (Some(optstring), Some(name)) = (argv.get(1), argv.get(2)) else {
            eprintln!("sh: getopts: usage: getopts optstring var [arg ...]");
            return 2;
        };
        let words: Vec<String> = match argv.get(3..).filter(|a| !a.is_empty()) {
            Some(a) => a.to_vec(),
            None => self.args.get(1..).unwrap_or_default().to_vec(),
        };
        let silent = optstring.starts_with(':');
        let optind_text = self.get_var("OPTIND").unwrap_or_else(|| "1".into());
        let mut optind = optind_text.parse::<usize>().unwrap_or(1).max(1);
        // The letter to look at in the current word (past the `-`), unless OPTIND moved.
        let mut letter = match &self.getopts_next {
            (seen, n) if *seen == optind_text => *n,
            _ => 1,
        };
        let word: Vec<char> = match words.get(optind - 1) {
            Some(w) if letter > 1 || (w.starts_with('-') && w != "-" && w != "--") => {
                w.chars().collect()
            }
            w => {
                if w.is_some_and(|w| w == "--") {
                    optind += 1;
                }
                self.getopts_next = (String::new(), 1);
                self.vars.remove("OPTARG");
                self.set_var("OPTIND", &optind.to_string(), false);
                self.set_var(name, "?", false);
                return 1;
            }
        };
        let c = word[letter];
        letter += 1;
        let at_end = letter >= word.len();
        let mut optarg = None;
        let mut result = c.to_string();
        match optstring.find(c).filter(|_| c != ':') {
            None => {
                if silent {
                    optarg = Some(c.to_string());
                } else {
                    eprintln!("sh: Illegal option -{c}");
                }
                result = "?".into();
            }
            Some(i) if optstring[i + c.len_utf8()..].starts_with(':') => {
                if !at_end {
                    optarg = Some(word[letter..].iter().collect());
                    letter = word.len();
                } else if let Some(next) = words.get(optind) {
                    optarg = Some(next.clone());
                    optind += 1;
                } else if silent {
                    optarg = Some(c.to_string());
                    result = ":".into();
                } else {
                    eprintln!("sh: No arg for -{c} option");
                    result = "?".into();
                }
            }
            Some(_) => {}
        }
        if letter >= word.len() {
            optind += 1;
            letter = 1;
        }
        match optarg {
            Some(a) => self.set_var("OPTARG", &a, false),
            None => self.vars.remove("OPTARG").is_some(),
        };
        self.set_var("OPTIND", &optind.to_string(), false);
        self.getopts_next = (optind.to_string(), letter);
        i32::from(!self.set_var(name, &result, false)) * 2
    }

    /// `. FILE [ARGS]`: run FILE's commands in this shell (`return` ends it).
    pub fn builtin_dot(&mut self, argv: &[String]) -> i32 {
        let Some(name) = argv.get(1) else {
            eprintln!("sh: {}: filename argument required", argv[0]);
            return 2;
        };
        let path = if name.contains('/') {
            Some(name.clone())
        } else {
            self.lookup(name)
                .or_else(|| std::path::Path::new(name).is_file().then(|| name.clone()))
        };
        let src = match path.map(std::fs::read) {
            Some(Ok(s)) => String::from_utf8_lossy(&s).into_owned(),
            _ => {
                eprintln!("sh: {}: can't open {name}", argv[0]);
                self.exit_code.get_or_insert(2);
                return 2;
            }
        };
        let saved = (argv.len() > 2).then(|| {
            let mut args = vec![self.args[0].clone()];
            args.extend_from_slice(&argv[2..]);
            std::mem::replace(&mut self.args, args)
        });
        self.last_status = 0;
        self.run_source(&src);
        if self.control == Some(super::flow::Control::Return) && self.frames.is_empty() {
            self.control = None;
        }
        if let Some(args) = saved {
            self.args = args;
        }
        self.last_status
    }

    /// `wait [PID|%N...]`.
    pub fn builtin_wait(&mut self, argv: &[String]) -> i32 {
        if argv.len() == 1 {
            return self.wait_all();
        }
        let mut status = 0;
        for a in &argv[1..] {
            status = self.wait_one(a);
        }
        status
    }

    /// `trap [ACTION SIGNAL...]`: ACTION `-` resets, an empty one ignores.
    pub fn builtin_trap(&mut self, argv: &[String]) -> i32 {
        if argv.len() == 1 {
            for (sig, action) in &self.traps {
                let name = SIGNALS.iter().find(|s| s.1 == *sig).map_or("?", |s| s.0);
                println!("trap -- '{action}' {name}");
            }
            return 0;
        }
        // `trap SIGNAL...` alone (a number first) resets, as POSIX allows.
        let (action, sigs) = if argv.len() == 2
            || signal_number(&argv[1]).is_some_and(|_| argv[1].chars().all(|c| c.is_ascii_digit()))
        {
            ("-", &argv[1..])
        } else {
            (argv[1].as_str(), &argv[2..])
        };
        let mut status = 0;
        for s in sigs {
            let Some(sig) = signal_number(s).filter(|&n| n != libc::SIGKILL && n != libc::SIGSTOP)
            else {
                eprintln!("sh: trap: {s}: bad trap");
                status = 1;
                continue;
            };
            self.traps.retain(|t| t.0 != sig);
            let handler = match action {
                "-" => libc::SIG_DFL,
                "" => libc::SIG_IGN,
                _ => note_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            };
            if action != "-" {
                self.traps.push((sig, action.to_string()));
            }
            if sig != 0 {
                // SAFETY: installing a handler that only sets an atomic.
                unsafe { libc::signal(sig, handler) };
            }
        }
        status
    }

    /// Run the traps of the signals that came (between commands).
    pub fn run_traps(&mut self) {
        let pending = PENDING.swap(0, Ordering::SeqCst);
        if pending == 0 {
            return;
        }
        for sig in 1..64 {
            if pending & (1 << sig) == 0 {
                continue;
            }
            if let Some(action) = self.traps.iter().find(|t| t.0 == sig).map(|t| t.1.clone()) {
                let status = self.last_status;
                self.run_source(&action);
                self.last_status = status;
            }
        }
    }

    /// The `EXIT` trap, once, as the shell ends.
    pub fn run_exit_trap(&mut self) {
        if let Some(pos) = self.traps.iter().position(|t| t.0 == 0) {
            let (_, action) = self.traps.remove(pos);
            let status = self.exit_code.unwrap_or(self.last_status);
            self.exit_code = None;
            self.control = None;
            self.run_source(&action);
            self.exit_code = Some(status);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_splitting() {
        assert_eq!(read_split("  a  b  c  ", " \t\n", 2), ["a", "b  c"]);
        assert_eq!(read_split("a b", " \t\n", 3), ["a", "b", ""]);
        assert_eq!(read_split("  a b  ", " \t\n", 1), ["a b"]);
        assert_eq!(read_split("x:y:z", ":", 2), ["x", "y:z"]);
        assert_eq!(read_split("x::z", ":", 3), ["x", "", "z"]);
        assert_eq!(read_split("root:x:0", ":", 3), ["root", "x", "0"]);
    }

    fn shell(args: &[&str]) -> Shell {
        let mut sh = Shell::new(vec!["sh".into()]);
        sh.args.extend(args.iter().map(|a| a.to_string()));
        sh
    }

    /// Each `getopts` call's (status, NAME, OPTARG, OPTIND).
    fn getopts(sh: &mut Shell, optstring: &str) -> Vec<(i32, String, Option<String>, String)> {
        let argv: Vec<String> = ["getopts", optstring, "o"].map(String::from).to_vec();
        let mut out = Vec::new();
        loop {
            let status = sh.builtin_getopts(&argv);
            out.push((
                status,
                sh.get_var("o").unwrap_or_default(),
                sh.get_var("OPTARG"),
                sh.get_var("OPTIND").unwrap_or_default(),
            ));
            if status != 0 {
                return out;
            }
        }
    }

    fn got(
        status: i32,
        name: &str,
        arg: Option<&str>,
        ind: &str,
    ) -> (i32, String, Option<String>, String) {
        (status, name.into(), arg.map(String::from), ind.into())
    }

    #[test]
    fn getopts_groups_arguments_and_the_end() {
        let mut sh = shell(&["-ab", "x", "-cy", "--", "rest"]);
        assert_eq!(
            getopts(&mut sh, "ab:c:"),
            [
                got(0, "a", None, "1"),
                got(0, "b", Some("x"), "3"),
                got(0, "c", Some("y"), "4"),
                got(1, "?", None, "5"),
            ]
        );
        // An operand ends the options; OPTIND=1 starts again.
        let mut sh = shell(&["-a", "file", "-b"]);
        assert_eq!(
            getopts(&mut sh, "ab"),
            [got(0, "a", None, "2"), got(1, "?", None, "2")]
        );
        sh.set_var("OPTIND", "1", false);
        assert_eq!(getopts(&mut sh, "ab")[0], got(0, "a", None, "2"));
    }

    #[test]
    fn getopts_errors_loud_and_silent() {
        let mut sh = shell(&["-x", "-b"]);
        assert_eq!(
            getopts(&mut sh, "b:"),
            [
                got(0, "?", None, "2"),
                got(0, "?", None, "3"),
                got(1, "?", None, "3")
            ]
        );
        let mut sh = shell(&["-x", "-b"]);
        assert_eq!(
            getopts(&mut sh, ":b:"),
            [
                got(0, "?", Some("x"), "2"),
                got(0, ":", Some("b"), "3"),
                got(1, "?", None, "3")
            ]
        );
    }

    #[test]
    fn readonly_variables_refuse_changes() {
        let mut sh = shell(&[]);
        sh.run_source("readonly R=1; R=2");
        assert_eq!((sh.last_status, sh.get_var("R").as_deref()), (1, Some("1")));
        sh.run_source("unset R");
        assert_eq!((sh.last_status, sh.get_var("R").as_deref()), (1, Some("1")));
        sh.run_source("export R=3");
        assert_eq!((sh.last_status, sh.get_var("R").as_deref()), (1, Some("1")));
        sh.run_source("readonly S; S=4; echo unreached >/dev/null");
        assert_eq!(sh.get_var("S"), None);
    }

    #[test]
    fn here_document_feeds_a_builtin() {
        let mut sh = shell(&[]);
        sh.run_source("x=val\nread -r a b <<EOF\n1 $x\\n 3\nEOF\nread c <<'E'; read d <<-E2\n$x\nE\n\t\tdd\n\tE2\n");
        let v = |n: &str| sh.get_var(n).unwrap_or_default();
        assert_eq!(
            [v("a"), v("b"), v("c"), v("d")],
            ["1", "val\\n 3", "$x", "dd"]
        );
    }

    #[test]
    fn signal_names() {
        assert_eq!(signal_number("EXIT"), Some(0));
        assert_eq!(signal_number("SIGTERM"), Some(libc::SIGTERM));
        assert_eq!(signal_number("2"), Some(2));
        assert_eq!(signal_number("NOPE"), None);
    }
}
