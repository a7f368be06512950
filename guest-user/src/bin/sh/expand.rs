//! Word expansion (POSIX 2.6): tilde, parameters (`$VAR`, `$?`, `$$`, `$!`, `$#`, `$0`-`$9`,
//! `$@`, `$*`), field splitting of unquoted expansions on `$IFS`, pathname expansion of
//! unquoted `*`, `?` and `[`, and quote removal (the lexer already marked what was quoted).
//! Command substitution, arithmetic and the `${...}` operators are in `subst`.

use super::glob;
use super::lexer::{Part, Word};
use super::Shell;

/// One field being built: its text, the same as a pattern (quoted pattern characters
/// backslash-escaped), and whether an unquoted pattern character makes it a glob.
#[derive(Default)]
struct Field {
    text: String,
    pat: String,
    magic: bool,
    /// Anything, even an empty quoted string, started it.
    started: bool,
}

/// The fields of one word as they are built.
struct Fields {
    done: Vec<Field>,
    cur: Field,
    /// `$IFS`: its blanks and its other characters.
    ifs_white: String,
    ifs_other: String,
    /// One string, not fields: no splitting and no globbing (the parts still join).
    nosplit: bool,
}

impl Fields {
    fn new(ifs: &str, nosplit: bool) -> Fields {
        let (white, other): (String, String) = ifs.chars().partition(|c| " \t\n".contains(*c));
        Fields {
            done: Vec::new(),
            cur: Field::default(),
            ifs_white: white,
            ifs_other: other,
            nosplit,
        }
    }

    /// An expansion's value: split (and globbed) unless quoted.
    fn add(&mut self, value: &str, quoted: bool) {
        if quoted {
            self.quoted(value);
        } else if self.nosplit {
            self.unquoted(value);
            self.cur.started = true;
        } else {
            self.split(value);
        }
    }

    fn quoted(&mut self, s: &str) {
        for c in s.chars() {
            if "*?[\\".contains(c) {
                self.cur.pat.push('\\');
            }
            self.cur.pat.push(c);
        }
        self.cur.text.push_str(s);
        self.cur.started = true;
    }

    /// Unquoted text: its pattern characters are live.
    fn unquoted(&mut self, s: &str) {
        for c in s.chars() {
            if "*?[".contains(c) {
                self.cur.magic = true;
            }
            self.cur.pat.push(c);
        }
        self.cur.text.push_str(s);
        self.cur.started = true;
    }

    fn end(&mut self, force: bool) {
        if self.cur.started || force {
            self.done.push(std::mem::take(&mut self.cur));
        }
    }

    /// The result of an unquoted expansion: split into fields at `$IFS` characters (blanks
    /// around a delimiter belong to it; leading and trailing blanks only end fields).
    fn split(&mut self, value: &str) {
        let (ws, os) = (self.ifs_white.clone(), self.ifs_other.clone());
        let white = |c: char| ws.contains(c);
        let other = |c: char| os.contains(c);
        let chars: Vec<char> = value.chars().collect();
        let mut i = 0;
        let mut piece = String::new();
        while i < chars.len() {
            let c = chars[i];
            if !white(c) && !other(c) {
                piece.push(c);
                i += 1;
                continue;
            }
            let mut force = false;
            while i < chars.len() && white(chars[i]) {
                i += 1;
            }
            if i < chars.len() && other(chars[i]) {
                i += 1;
                force = true;
                while i < chars.len() && white(chars[i]) {
                    i += 1;
                }
            }
            if !piece.is_empty() {
                self.unquoted(&std::mem::take(&mut piece));
            }
            self.end(force);
        }
        if !piece.is_empty() {
            self.unquoted(&piece);
        }
    }

    /// The finished fields, each glob expanded if it has unquoted pattern characters and
    /// matches anything.
    fn finish(mut self) -> Vec<String> {
        self.end(false);
        let mut out = Vec::new();
        for f in self.done {
            let matches = if f.magic {
                glob::glob(&f.pat)
            } else {
                Vec::new()
            };
            if matches.is_empty() {
                out.push(f.text);
            } else {
                out.extend(matches);
            }
        }
        out
    }
}

impl Shell {
    /// A parameter's value, empty if unset.
    pub fn param(&self, name: &str) -> String {
        match name {
            "?" => self.last_status.to_string(),
            "$" => self.pid.to_string(),
            "!" => self.last_bg.map(|p| p.to_string()).unwrap_or_default(),
            "#" => self.args.len().saturating_sub(1).to_string(),
            "-" => self.option_letters(),
            "@" => self.args.get(1..).unwrap_or_default().join(" "),
            "*" => {
                let sep = self.ifs().chars().next().map(String::from);
                self.args
                    .get(1..)
                    .unwrap_or_default()
                    .join(sep.as_deref().unwrap_or(""))
            }
            n if n.chars().all(|c| c.is_ascii_digit()) => n
                .parse::<usize>()
                .ok()
                .and_then(|i| self.args.get(i).cloned())
                .unwrap_or_default(),
            n => self.get_var(n).unwrap_or_default(),
        }
    }

    pub fn ifs(&self) -> String {
        self.get_var("IFS").unwrap_or_else(|| " \t\n".into())
    }

    fn tilde(&self, s: &str) -> Option<String> {
        (s == "~" || s.starts_with("~/"))
            .then(|| self.get_var("HOME").unwrap_or_else(|| "/".into()) + &s[1..])
    }

    /// Expand `w`'s parts into `f`.
    fn expand_into(&mut self, w: &Word, f: &mut Fields) {
        for (i, part) in w.0.iter().enumerate() {
            match part {
                Part::Lit(s) => match self.tilde(s).filter(|_| i == 0) {
                    Some(home) => f.quoted(&home),
                    None => f.unquoted(s),
                },
                Part::Quoted(s) => f.quoted(s),
                Part::Var(name, true) if name == "@" => {
                    let positional = self.args.get(1..).unwrap_or_default().to_vec();
                    for (j, p) in positional.iter().enumerate() {
                        if j > 0 {
                            f.end(true);
                        }
                        f.quoted(p);
                    }
                }
                Part::Var(name, false) if name == "@" || name == "*" => {
                    let positional = self.args.get(1..).unwrap_or_default().to_vec();
                    for p in &positional {
                        f.split(p);
                        f.end(false);
                    }
                }
                Part::Var(name, quoted) => {
                    let v = self.param(name);
                    f.add(&v, *quoted);
                }
                Part::Param(inner, quoted) => {
                    let v = self.param_op(inner);
                    f.add(&v, *quoted);
                }
                Part::Cmd(src, quoted) => {
                    let v = self.command_subst(src);
                    f.add(&v, *quoted);
                }
                Part::Arith(src, quoted) => {
                    let v = self.arith(src);
                    f.add(&v, *quoted);
                }
            }
        }
    }

    /// The fields a word expands to (an unquoted empty expansion gives none).
    pub fn expand(&mut self, w: &Word) -> Vec<String> {
        // `"$@"` with no parameters is no field at all, not an empty one.
        if self.args.len() <= 1
            && w.0.iter().any(|p| *p == Part::Var("@".into(), true))
            && w.0
                .iter()
                .all(|p| *p == Part::Var("@".into(), true) || *p == Part::Quoted(String::new()))
        {
            return Vec::new();
        }
        let mut f = Fields::new(&self.ifs(), false);
        self.expand_into(w, &mut f);
        f.finish()
    }

    /// A word expanded to one string, without field splitting or globbing (assignments,
    /// redirection targets, `case` words).
    pub fn expand_one(&mut self, w: &Word) -> String {
        let mut f = Fields::new("", true);
        self.expand_into(w, &mut f);
        f.end(false);
        let texts: Vec<String> = f.done.into_iter().map(|f| f.text).collect();
        texts.join(" ")
    }

    /// A word expanded as a pattern (`case`, `${x#pattern}`): quoted characters escaped.
    pub fn expand_pattern(&mut self, w: &Word) -> String {
        let mut f = Fields::new("", true);
        self.expand_into(w, &mut f);
        f.end(false);
        let pats: Vec<String> = f.done.into_iter().map(|f| f.pat).collect();
        pats.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(ifs: &str, parts: &[(&str, bool)]) -> Vec<String> {
        let mut f = Fields::new(ifs, false);
        for (s, expansion) in parts {
            if *expansion {
                f.split(s);
            } else {
                f.quoted(s);
            }
        }
        f.finish()
    }

    #[test]
    fn field_splitting() {
        assert_eq!(split(" \t\n", &[("  a  b ", true)]), ["a", "b"]);
        assert_eq!(
            split(" \t\n", &[("x", false), (" a b", true)]),
            ["x", "a", "b"]
        );
        assert_eq!(
            split(" \t\n", &[("x", false), ("a b", true), ("y", false)]),
            ["xa", "by"]
        );
        assert_eq!(split(" \t\n", &[("", true)]), Vec::<String>::new());
        assert_eq!(split(":", &[("a::b", true)]), ["a", "", "b"]);
        assert_eq!(split(": ", &[("a : b:", true)]), ["a", "b"]);
        assert_eq!(split(":", &[(":a", true)]), ["", "a"]);
        assert_eq!(split("", &[("a b", true)]), ["a b"]);
        assert_eq!(split(" ", &[("", false)]), [""]);
    }

    #[test]
    fn quoted_pattern_characters_do_not_glob() {
        let mut f = Fields::new(" ", false);
        f.quoted("/*");
        assert!(!f.cur.magic);
        assert_eq!(f.cur.pat, "/\\*");
        assert_eq!(f.finish(), ["/*"]);
        // No match: the word as it was.
        let mut f = Fields::new(" ", false);
        f.unquoted("/no/such/dir/*");
        assert_eq!(f.finish(), ["/no/such/dir/*"]);
    }
}
