//! The compound commands (`{ }`, `( )`, `if`, `while`/`until`, `for`, `case`), shell
//! functions with their own positional parameters and `local` variables, and the jumps out
//! of them: `break N`, `continue N`, `return N`.

use std::rc::Rc;

use super::glob::fnmatch;
use super::parser::{Command, Compound};
use super::Shell;

/// A jump in progress, unwinding lists until a loop or function takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Break(u32),
    Continue(u32),
    Return,
}

/// A function call's saved state: the caller's parameters and the variables `local` shadowed
/// (their old values, `None` if they were unset, and whether they were exported).
pub struct Frame {
    args: Vec<String>,
    pub locals: Vec<(String, Option<String>, bool)>,
}

impl Shell {
    pub fn run_compound(&mut self, c: &Compound, text: &str) -> i32 {
        let is_loop = matches!(c, Compound::Loop { .. } | Compound::For { .. });
        self.loop_depth += u32::from(is_loop);
        let status = self.run_compound_inner(c, text);
        self.loop_depth -= u32::from(is_loop);
        status
    }

    fn run_compound_inner(&mut self, c: &Compound, text: &str) -> i32 {
        match c {
            Compound::Brace(list) => self.run_list(list),
            Compound::Subshell(list) => self.fork_job(text, |sh| sh.run_list(list)),
            Compound::If(arms, otherwise) => {
                for (cond, body) in arms {
                    let status = self.run_condition(cond);
                    if self.exit_code.is_some() || self.control.is_some() {
                        return status;
                    }
                    if status == 0 {
                        return self.run_list(body);
                    }
                }
                match otherwise {
                    Some(body) => self.run_list(body),
                    None => 0,
                }
            }
            Compound::Loop { until, cond, body } => {
                let mut status = 0;
                loop {
                    let c = self.run_condition(cond);
                    if self.loop_done() || (c == 0) == *until {
                        break;
                    }
                    status = self.run_list(body);
                    if self.loop_done() {
                        break;
                    }
                }
                status
            }
            Compound::For { var, words, body } => {
                let values = match words {
                    Some(ws) => ws.iter().flat_map(|w| self.expand(w)).collect(),
                    None => self.args.get(1..).unwrap_or_default().to_vec(),
                };
                let mut status = 0;
                for v in values {
                    self.set_var(var, &v, false);
                    status = self.run_list(body);
                    if self.loop_done() {
                        break;
                    }
                }
                status
            }
            Compound::Case { word, arms } => {
                let w = self.expand_one(word);
                for (pats, body) in arms {
                    for p in pats {
                        let pat = self.expand_pattern(p);
                        if fnmatch(&pat, &w) {
                            return if body.is_empty() {
                                0
                            } else {
                                self.run_list(body)
                            };
                        }
                    }
                }
                0
            }
        }
    }

    /// After a loop's condition or body: whether the loop ends, taking its `break` or
    /// `continue` (an outer loop's stays pending).
    fn loop_done(&mut self) -> bool {
        if self.exit_code.is_some() {
            return true;
        }
        match self.control {
            None => false,
            Some(Control::Return) => true,
            Some(Control::Break(n)) => {
                self.control = (n > 1).then_some(Control::Break(n - 1));
                true
            }
            Some(Control::Continue(n)) => {
                self.control = (n > 1).then_some(Control::Continue(n - 1));
                n > 1
            }
        }
    }

    /// Call a function: `argv[1..]` become `$1`..., `$0` stays.
    pub fn call_function(&mut self, body: &Rc<Command>, argv: &[String]) -> i32 {
        let mut args = vec![self.args[0].clone()];
        args.extend_from_slice(&argv[1..]);
        let saved = std::mem::replace(&mut self.args, args);
        self.frames.push(Frame {
            args: saved,
            locals: Vec::new(),
        });
        let loops = std::mem::replace(&mut self.loop_depth, 0);
        let mut status = self.run_command(body, "");
        self.loop_depth = loops;
        if self.control == Some(Control::Return) {
            self.control = None;
            status = self.last_status;
        }
        if let Some(frame) = self.frames.pop() {
            self.args = frame.args;
            for (name, old, exported) in frame.locals.into_iter().rev() {
                match old {
                    Some(v) => {
                        self.set_var(&name, &v, exported);
                    }
                    None => {
                        self.vars.remove(&name);
                    }
                }
                if !exported {
                    self.exported.remove(&name);
                }
            }
        }
        status
    }

    /// `break [N]` and `continue [N]`.
    pub fn builtin_loop_jump(&mut self, argv: &[String]) -> i32 {
        let n = match argv.get(1).map(|a| a.parse::<u32>()) {
            None => 1,
            Some(Ok(n)) if n > 0 => n,
            _ => {
                eprintln!("sh: {}: bad number: {}", argv[0], argv[1]);
                return 2;
            }
        };
        if self.loop_depth == 0 {
            return 0;
        }
        let n = n.min(self.loop_depth);
        self.control = Some(if argv[0] == "break" {
            Control::Break(n)
        } else {
            Control::Continue(n)
        });
        0
    }

    /// `return [N]`.
    pub fn builtin_return(&mut self, argv: &[String]) -> i32 {
        let status = match argv.get(1).map(|a| a.parse::<i32>()) {
            None => self.last_status,
            Some(Ok(n)) => n & 0xff,
            Some(Err(_)) => {
                eprintln!("sh: return: bad number: {}", argv[1]);
                2
            }
        };
        self.control = Some(Control::Return);
        self.last_status = status;
        status
    }

    /// `local NAME[=VALUE]...`: the variable is restored when the function returns.
    pub fn builtin_local(&mut self, argv: &[String]) -> i32 {
        if self.frames.is_empty() {
            eprintln!("sh: local: not in a function");
            return 2;
        }
        for a in &argv[1..] {
            let (name, value) = match a.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (a.as_str(), None),
            };
            let old = self.get_var(name);
            let exported = self.exported.contains(name);
            if let Some(frame) = self.frames.last_mut() {
                if !frame.locals.iter().any(|l| l.0 == name) {
                    frame.locals.push((name.to_string(), old, exported));
                }
            }
            if let Some(v) = value {
                self.set_var(name, v, false);
            }
        }
        0
    }
}
