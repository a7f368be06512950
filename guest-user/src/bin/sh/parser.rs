//! The grammar (POSIX 2.9/2.10) into a syntax tree: a list is and-or lists separated by
//! `;`, `&` or newlines; an and-or list is pipelines joined by `&&` and `||`; a pipeline is
//! an optional `!` and commands joined by `|`; a command is a simple command (assignments,
//! words, redirections), a compound command (`{ }`, `( )`, `if`, `while`, `until`, `for`,
//! `case`) with its redirections, or a function definition `name() compound`. Reserved
//! words are recognized only unquoted and where a command starts.

use std::rc::Rc;

use super::lexer::{bad, incomplete, is_name, Part, RedirKind, Spanned, SyntaxError, Token, Word};

#[derive(Debug, Clone)]
pub struct Redir {
    pub fd: i32,
    pub kind: RedirKind,
    pub target: Word,
}

#[derive(Debug, Clone, Default)]
pub struct Simple {
    pub assigns: Vec<(String, Word)>,
    pub words: Vec<Word>,
    pub redirs: Vec<Redir>,
}

pub type List = Vec<Item>;

#[derive(Debug, Clone)]
pub enum Compound {
    Brace(List),
    Subshell(List),
    /// `if`/`elif` conditions with their bodies, then the `else` body.
    If(Vec<(List, List)>, Option<List>),
    /// `while` (or `until` when `until` is set).
    Loop {
        until: bool,
        cond: List,
        body: List,
    },
    /// `for var in words`; no words means `"$@"`.
    For {
        var: String,
        words: Option<Vec<Word>>,
        body: List,
    },
    /// `case word in patterns) body;; esac`.
    Case {
        word: Word,
        arms: Vec<(Vec<Word>, List)>,
    },
}

#[derive(Debug, Clone)]
pub enum Command {
    Simple(Simple),
    Compound(Compound, Vec<Redir>),
    Function(String, Rc<Command>),
}

#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    /// `!`: the status negated.
    pub bang: bool,
    pub cmds: Vec<Command>,
}

#[derive(Debug, Clone)]
pub struct AndOr {
    pub first: Pipeline,
    /// `true` for `&&`, `false` for `||`.
    pub rest: Vec<(bool, Pipeline)>,
}

#[derive(Debug, Clone)]
pub struct Item {
    pub andor: AndOr,
    pub background: bool,
    /// The source text, for job listings.
    pub text: String,
}

/// Words that end a list when a command would start (they close or continue a compound).
const CLOSERS: &[&str] = &["then", "else", "elif", "fi", "do", "done", "esac", "}"];

/// `NAME=value` at a command's start: the name and the value's parts.
fn assignment(w: &Word) -> Option<(String, Word)> {
    let Some(Part::Lit(first)) = w.0.first() else {
        return None;
    };
    let eq = first.find('=')?;
    if !is_name(&first[..eq]) {
        return None;
    }
    let mut value = vec![Part::Lit(first[eq + 1..].to_string())];
    value.extend(w.0[1..].iter().cloned());
    Some((first[..eq].to_string(), Word(value)))
}

fn describe(t: Option<&Token>) -> String {
    match t {
        Some(Token::Word(w)) => match w.plain() {
            Some(s) => format!("unexpected '{s}'"),
            None => "unexpected word".into(),
        },
        Some(Token::Redir(..)) => "unexpected redirection".into(),
        Some(Token::Newline) => "unexpected newline".into(),
        Some(t) => {
            let op = match t {
                Token::Pipe => "|",
                Token::AndIf => "&&",
                Token::OrIf => "||",
                Token::Semi => ";",
                Token::DSemi => ";;",
                Token::Amp => "&",
                Token::LParen => "(",
                _ => ")",
            };
            format!("unexpected '{op}'")
        }
        None => "unexpected end of input".into(),
    }
}

pub struct Parser<'a> {
    src: &'a str,
    toks: Vec<Spanned>,
    pos: usize,
}

impl<'a> Parser<'a> {
    pub fn new(src: &'a str, toks: Vec<Spanned>) -> Parser<'a> {
        Parser { src, toks, pos: 0 }
    }

    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos).map(|t| &t.0)
    }

    /// The unquoted word next, if any.
    fn peek_plain(&self) -> Option<&str> {
        match self.peek() {
            Some(Token::Word(w)) => w.plain(),
            _ => None,
        }
    }

    fn error<T>(&self, what: &str) -> Result<T, SyntaxError> {
        match self.peek() {
            None => Err(incomplete(what)),
            t => Err(bad(format!("{} ({what})", describe(t)))),
        }
    }

    fn expect_word(&mut self, kw: &str) -> Result<(), SyntaxError> {
        if self.peek_plain() == Some(kw) {
            self.pos += 1;
            Ok(())
        } else {
            self.error(&format!("expecting '{kw}'"))
        }
    }

    fn skip_newlines(&mut self) {
        while self.peek() == Some(&Token::Newline) {
            self.pos += 1;
        }
    }

    fn redirect(&mut self, fd: i32, kind: RedirKind) -> Result<Redir, SyntaxError> {
        self.pos += 1;
        let Some(Token::Word(target)) = self.peek() else {
            return self.error("missing redirection target");
        };
        let target = target.clone();
        self.pos += 1;
        Ok(Redir { fd, kind, target })
    }

    fn simple(&mut self) -> Result<Simple, SyntaxError> {
        let mut cmd = Simple::default();
        loop {
            match self.peek() {
                Some(Token::Word(w)) => {
                    let w = w.clone();
                    self.pos += 1;
                    match assignment(&w).filter(|_| cmd.words.is_empty()) {
                        Some(a) => cmd.assigns.push(a),
                        None => cmd.words.push(w),
                    }
                }
                Some(&Token::Redir(fd, kind)) => {
                    let r = self.redirect(fd, kind)?;
                    cmd.redirs.push(r);
                }
                _ => break,
            }
        }
        if cmd.words.is_empty() && cmd.assigns.is_empty() && cmd.redirs.is_empty() {
            return self.error("missing command");
        }
        Ok(cmd)
    }

    /// A list up to (not including) one of `closers`, `)` or `;;`.
    fn list(&mut self, closers: &[&str]) -> Result<List, SyntaxError> {
        let mut items = Vec::new();
        loop {
            while matches!(self.peek(), Some(Token::Newline | Token::Semi)) {
                self.pos += 1;
            }
            match self.peek() {
                None | Some(Token::RParen | Token::DSemi) => break,
                Some(Token::Word(w)) if w.plain().is_some_and(|s| closers.contains(&s)) => break,
                _ => {}
            }
            items.push(self.item()?);
        }
        Ok(items)
    }

    /// A list that must not be empty, ended by `end` (consumed).
    fn body(&mut self, end: &str) -> Result<List, SyntaxError> {
        let list = self.list(CLOSERS)?;
        if list.is_empty() {
            return self.error(&format!("empty list before '{end}'"));
        }
        self.expect_word(end)?;
        Ok(list)
    }

    fn compound(&mut self, kw: &str) -> Result<Compound, SyntaxError> {
        self.pos += 1;
        Ok(match kw {
            "{" => Compound::Brace(self.body("}")?),
            "(" => {
                let list = self.list(&[])?;
                match self.peek() {
                    Some(Token::RParen) if !list.is_empty() => self.pos += 1,
                    _ => return self.error("expecting ')'"),
                }
                Compound::Subshell(list)
            }
            "if" => {
                let mut arms = vec![(self.body("then")?, Vec::new())];
                let mut otherwise = None;
                loop {
                    let body = self.list(CLOSERS)?;
                    if body.is_empty() {
                        return self.error("empty 'then' part");
                    }
                    if let Some(last) = arms.last_mut() {
                        last.1 = body;
                    }
                    match self.peek_plain() {
                        Some("elif") => {
                            self.pos += 1;
                            arms.push((self.body("then")?, Vec::new()));
                        }
                        Some("else") => {
                            self.pos += 1;
                            otherwise = Some(self.body("fi")?);
                            break;
                        }
                        _ => {
                            self.expect_word("fi")?;
                            break;
                        }
                    }
                }
                Compound::If(arms, otherwise)
            }
            "while" | "until" => {
                let cond = self.body("do")?;
                let body = self.body("done")?;
                Compound::Loop {
                    until: kw == "until",
                    cond,
                    body,
                }
            }
            "for" => {
                let var = match self.peek_plain() {
                    Some(n) if is_name(n) => n.to_string(),
                    _ => return self.error("bad for loop variable"),
                };
                self.pos += 1;
                self.skip_newlines();
                let mut words = None;
                if self.peek_plain() == Some("in") {
                    self.pos += 1;
                    let mut ws = Vec::new();
                    while let Some(Token::Word(w)) = self.peek() {
                        ws.push(w.clone());
                        self.pos += 1;
                    }
                    words = Some(ws);
                    if !matches!(self.peek(), Some(Token::Semi | Token::Newline)) {
                        return self.error("expecting ';' or newline");
                    }
                    self.pos += 1;
                } else if self.peek() == Some(&Token::Semi) {
                    self.pos += 1;
                }
                self.skip_newlines();
                self.expect_word("do")?;
                Compound::For {
                    var,
                    words,
                    body: self.body("done")?,
                }
            }
            _ => self.case()?,
        })
    }

    /// `case` after the keyword.
    fn case(&mut self) -> Result<Compound, SyntaxError> {
        let Some(Token::Word(word)) = self.peek() else {
            return self.error("expecting a word after 'case'");
        };
        let word = word.clone();
        self.pos += 1;
        self.skip_newlines();
        self.expect_word("in")?;
        let mut arms = Vec::new();
        loop {
            self.skip_newlines();
            if self.peek_plain() == Some("esac") {
                self.pos += 1;
                return Ok(Compound::Case { word, arms });
            }
            if self.peek() == Some(&Token::LParen) {
                self.pos += 1;
            }
            let mut pats = Vec::new();
            loop {
                let Some(Token::Word(p)) = self.peek() else {
                    return self.error("expecting a pattern");
                };
                pats.push(p.clone());
                self.pos += 1;
                match self.peek() {
                    Some(Token::Pipe) => self.pos += 1,
                    Some(Token::RParen) => {
                        self.pos += 1;
                        break;
                    }
                    _ => return self.error("expecting ')'"),
                }
            }
            let body = self.list(&["esac"])?;
            arms.push((pats, body));
            match self.peek() {
                Some(Token::DSemi) => self.pos += 1,
                _ if self.peek_plain() == Some("esac") => {}
                _ => return self.error("expecting ';;' or 'esac'"),
            }
        }
    }

    fn command(&mut self) -> Result<Command, SyntaxError> {
        let kw = match self.peek() {
            Some(Token::LParen) => Some("("),
            _ => self.peek_plain(),
        };
        let compound = match kw {
            Some(k @ ("{" | "(" | "if" | "while" | "until" | "for" | "case")) => {
                let k = k.to_string();
                Some(self.compound(&k)?)
            }
            Some(k) if CLOSERS.contains(&k) || k == "in" => return self.error("missing command"),
            Some(name)
                if is_name(name)
                    && matches!(self.toks.get(self.pos + 1), Some((Token::LParen, ..))) =>
            {
                let name = name.to_string();
                self.pos += 2;
                if self.peek() != Some(&Token::RParen) {
                    return self.error("expecting ')'");
                }
                self.pos += 1;
                self.skip_newlines();
                let body = self.command()?;
                if !matches!(body, Command::Compound(..)) {
                    return Err(bad(format!(
                        "{name}(): the body must be a compound command"
                    )));
                }
                return Ok(Command::Function(name, Rc::new(body)));
            }
            _ => None,
        };
        let Some(compound) = compound else {
            return Ok(Command::Simple(self.simple()?));
        };
        let mut redirs = Vec::new();
        while let Some(&Token::Redir(fd, kind)) = self.peek() {
            redirs.push(self.redirect(fd, kind)?);
        }
        Ok(Command::Compound(compound, redirs))
    }

    fn pipeline(&mut self) -> Result<Pipeline, SyntaxError> {
        let mut p = Pipeline::default();
        if self.peek_plain() == Some("!") {
            self.pos += 1;
            p.bang = true;
        }
        p.cmds.push(self.command()?);
        while self.peek() == Some(&Token::Pipe) {
            self.pos += 1;
            self.skip_newlines();
            p.cmds.push(self.command()?);
        }
        Ok(p)
    }

    fn andor(&mut self) -> Result<AndOr, SyntaxError> {
        let first = self.pipeline()?;
        let mut rest = Vec::new();
        loop {
            let and = match self.peek() {
                Some(Token::AndIf) => true,
                Some(Token::OrIf) => false,
                _ => break,
            };
            self.pos += 1;
            self.skip_newlines();
            rest.push((and, self.pipeline()?));
        }
        Ok(AndOr { first, rest })
    }

    /// An and-or list and its `;`, `&` or newline (consumed; a `;;`, `)` or reserved word
    /// after it is left for the enclosing compound command).
    fn item(&mut self) -> Result<Item, SyntaxError> {
        let start = self.toks[self.pos].1;
        let andor = self.andor()?;
        let end = self.toks[self.pos - 1].2;
        let background = self.peek() == Some(&Token::Amp);
        match self.peek() {
            Some(Token::Amp | Token::Semi | Token::Newline) => self.pos += 1,
            None | Some(Token::DSemi | Token::RParen) => {}
            Some(Token::Word(w)) if w.plain().is_some_and(|s| CLOSERS.contains(&s)) => {}
            t => return Err(bad(describe(t))),
        }
        Ok(Item {
            andor,
            background,
            text: self.src[start..end].trim().to_string(),
        })
    }

    /// The next complete command line (the items up to a newline), or `None` at the end.
    pub fn next_line(&mut self) -> Result<Option<List>, SyntaxError> {
        self.skip_newlines();
        let mut items = Vec::new();
        while self.peek().is_some() {
            items.push(self.item()?);
            if self.toks[self.pos - 1].0 == Token::Newline {
                break;
            }
            // After `&`, the newline ends the line too.
            if self.peek() == Some(&Token::Newline) {
                self.pos += 1;
                break;
            }
            // What ends a compound command has none to end here.
            let stray = match self.peek() {
                Some(Token::RParen | Token::DSemi) => true,
                Some(Token::Word(w)) => w.plain().is_some_and(|s| CLOSERS.contains(&s)),
                _ => false,
            };
            if stray {
                return Err(bad(describe(self.peek())));
            }
        }
        Ok((!items.is_empty()).then_some(items))
    }
}

/// Parse all of `src` (a check that it is complete, and for the tests).
pub fn parse(src: &str) -> Result<List, SyntaxError> {
    let mut p = Parser::new(src, super::lexer::tokenize(src)?);
    let mut all = Vec::new();
    while let Some(items) = p.next_line()? {
        all.extend(items);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(list: &List) -> String {
        list.iter()
            .map(|i| {
                let p = &i.andor.first;
                let c: Vec<String> = p.cmds.iter().map(cmd_shape).collect();
                format!("{}{}", if p.bang { "!" } else { "" }, c.join("|"))
            })
            .collect::<Vec<_>>()
            .join(";")
    }

    fn cmd_shape(c: &Command) -> String {
        match c {
            Command::Simple(s) => format!("{}w", s.words.len()),
            Command::Function(n, b) => format!("{n}(){}", cmd_shape(b)),
            Command::Compound(c, r) => {
                let inner = match c {
                    Compound::Brace(l) => format!("{{{}}}", shape(l)),
                    Compound::Subshell(l) => format!("({})", shape(l)),
                    Compound::If(arms, e) => format!(
                        "if[{}]else[{}]",
                        arms.iter()
                            .map(|(c, b)| format!("{}?{}", shape(c), shape(b)))
                            .collect::<Vec<_>>()
                            .join(","),
                        e.as_ref().map(shape).unwrap_or_default()
                    ),
                    Compound::Loop { until, cond, body } => {
                        format!(
                            "{}[{}][{}]",
                            if *until { "until" } else { "while" },
                            shape(cond),
                            shape(body)
                        )
                    }
                    Compound::For { var, words, body } => {
                        format!(
                            "for {var}:{:?}[{}]",
                            words.as_ref().map(|w| w.len()),
                            shape(body)
                        )
                    }
                    Compound::Case { arms, .. } => format!(
                        "case[{}]",
                        arms.iter()
                            .map(|(p, b)| format!("{}:{}", p.len(), shape(b)))
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                };
                format!("{inner}{}", if r.is_empty() { "" } else { ">" })
            }
        }
    }

    fn ok(src: &str) -> String {
        shape(&parse(src).unwrap_or_else(|e| panic!("{src}: {e}")))
    }

    #[test]
    fn compound_commands() {
        assert_eq!(
            ok("if a; then b; elif c\nthen d; else e; fi"),
            "if[1w?1w,1w?1w]else[1w]"
        );
        assert_eq!(ok("while a; do b; c; done > f"), "while[1w][1w;1w]>");
        assert_eq!(ok("until a\ndo\nb\ndone"), "until[1w][1w]");
        assert_eq!(ok("for i in 1 2 3; do echo $i; done"), "for i:Some(3)[2w]");
        assert_eq!(ok("for i\ndo :; done"), "for i:None[1w]");
        assert_eq!(
            ok("case x in a|b) c;; (d) ;; *) e\nesac"),
            "case[2:1w,1:,1:1w]"
        );
        assert_eq!(ok("{ a; b; } | (c; d)"), "{1w;1w}|(1w;1w)");
        assert_eq!(ok("! a | b"), "!1w|1w");
        assert_eq!(ok("f() { echo $1; }\nf x"), "f(){2w};2w");
        assert_eq!(ok("echo if then fi"), "4w");
        assert_eq!(ok("a &\nb & c\n"), "1w;1w;1w");
    }

    #[test]
    fn errors_and_incomplete_input() {
        for src in [
            "if a; then b",
            "while a; do",
            "for i in 1; do",
            "case x in",
            "{ a;",
            "(a",
            "a |",
            "a &&",
            "f()",
        ] {
            let e = parse(src).unwrap_err();
            assert!(e.incomplete, "{src}: {e}");
        }
        for src in [
            "fi",
            "if a; fi",
            "a; done",
            "a )",
            "if; then b; fi",
            "case x in a) b;; esac esac",
        ] {
            let e = parse(src).unwrap_err();
            assert!(!e.incomplete, "{src}: {e}");
        }
    }
}
