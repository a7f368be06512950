//! Word expansion: tilde, parameters (`$VAR`, `$?`, `$$`, `$!`, `$#`, `$0`-`$9`, `$@`),
//! field splitting of unquoted expansions on blanks, and quote removal (the lexer already
//! marked what was quoted). No pathname expansion.

use super::lexer::{Part, Word};
use super::Shell;

impl Shell {
    /// A parameter's value, empty if unset.
    pub fn param(&self, name: &str) -> String {
        match name {
            "?" => self.last_status.to_string(),
            "$" => self.pid.to_string(),
            "!" => self.last_bg.map(|p| p.to_string()).unwrap_or_default(),
            "#" => self.args.len().saturating_sub(1).to_string(),
            "@" | "*" => self.args.get(1..).unwrap_or_default().join(" "),
            n if n.chars().all(|c| c.is_ascii_digit()) => n
                .parse::<usize>()
                .ok()
                .and_then(|i| self.args.get(i).cloned())
                .unwrap_or_default(),
            n => self.get_var(n).unwrap_or_default(),
        }
    }

    /// The fields a word expands to (an unquoted empty expansion gives none).
    pub fn expand(&self, w: &Word) -> Vec<String> {
        let mut fields: Vec<String> = Vec::new();
        // The field being built, and whether anything (even an empty quote) started it.
        let mut cur = String::new();
        let mut started = false;
        for (i, part) in w.0.iter().enumerate() {
            match part {
                Part::Lit(s) if i == 0 && (s == "~" || s.starts_with("~/")) => {
                    cur.push_str(&self.get_var("HOME").unwrap_or_else(|| "/".into()));
                    cur.push_str(&s[1..]);
                    started = true;
                }
                Part::Lit(s) | Part::Quoted(s) => {
                    cur.push_str(s);
                    started = true;
                }
                Part::Var(name, true) => {
                    cur.push_str(&self.param(name));
                    started = true;
                }
                Part::Var(name, false) => {
                    let value = self.param(name);
                    let blank = |c: char| c == ' ' || c == '\t' || c == '\n';
                    if value.starts_with(blank) && started {
                        fields.push(std::mem::take(&mut cur));
                        started = false;
                    }
                    let mut pieces = value.split(blank).filter(|p| !p.is_empty());
                    if let Some(p) = pieces.next() {
                        cur.push_str(p);
                        started = true;
                    }
                    for p in pieces {
                        fields.push(std::mem::take(&mut cur));
                        cur.push_str(p);
                    }
                    if value.ends_with(blank) && started {
                        fields.push(std::mem::take(&mut cur));
                        started = false;
                    }
                }
            }
        }
        if started {
            fields.push(cur);
        }
        fields
    }

    /// A word expanded to one string (assignments and redirection targets).
    pub fn expand_one(&self, w: &Word) -> String {
        w.0.iter()
            .enumerate()
            .map(|(i, p)| match p {
                Part::Lit(s) if i == 0 && (s == "~" || s.starts_with("~/")) => {
                    self.get_var("HOME").unwrap_or_else(|| "/".into()) + &s[1..]
                }
                Part::Lit(s) | Part::Quoted(s) => s.clone(),
                Part::Var(name, _) => self.param(name),
            })
            .collect()
    }
}
