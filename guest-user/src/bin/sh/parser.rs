//! The grammar: a list of and-or lists separated by `;`, `&` or newlines; an and-or list is
//! pipelines joined by `&&` and `||`; a pipeline is simple commands joined by `|`; a simple
//! command is assignments, words and redirections in any order after the assignments.

use super::lexer::{bad, incomplete, is_name, Part, RedirKind, Spanned, SyntaxError, Token, Word};

#[derive(Debug, Clone)]
pub struct Redir {
    pub fd: i32,
    pub kind: RedirKind,
    pub target: Word,
}

#[derive(Debug, Clone, Default)]
pub struct Command {
    pub assigns: Vec<(String, Word)>,
    pub words: Vec<Word>,
    pub redirs: Vec<Redir>,
}

#[derive(Debug, Clone, Default)]
pub struct Pipeline {
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

struct Parser<'a> {
    toks: &'a [Spanned],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos).map(|t| &t.0)
    }

    fn command(&mut self) -> Result<Command, SyntaxError> {
        let mut cmd = Command::default();
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
                    self.pos += 1;
                    let Some(Token::Word(target)) = self.peek() else {
                        return Err(bad("missing redirection target".into()));
                    };
                    cmd.redirs.push(Redir {
                        fd,
                        kind,
                        target: target.clone(),
                    });
                    self.pos += 1;
                }
                _ => break,
            }
        }
        if cmd.words.is_empty() && cmd.assigns.is_empty() && cmd.redirs.is_empty() {
            return Err(match self.peek() {
                Some(t) => bad(format!("near {t:?}").to_lowercase()),
                None => incomplete("missing command"),
            });
        }
        Ok(cmd)
    }

    fn pipeline(&mut self) -> Result<Pipeline, SyntaxError> {
        let mut p = Pipeline {
            cmds: vec![self.command()?],
        };
        while self.peek() == Some(&Token::Pipe) {
            self.pos += 1;
            self.skip_newlines();
            p.cmds.push(self.command()?);
        }
        Ok(p)
    }

    fn skip_newlines(&mut self) {
        while self.peek() == Some(&Token::Newline) {
            self.pos += 1;
        }
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
}

/// Parse a whole script or command line.
pub fn parse(src: &str, toks: &[Spanned]) -> Result<Vec<Item>, SyntaxError> {
    let mut p = Parser { toks, pos: 0 };
    let mut items = Vec::new();
    loop {
        while matches!(p.peek(), Some(Token::Newline | Token::Semi)) {
            p.pos += 1;
        }
        if p.peek().is_none() {
            return Ok(items);
        }
        let start = toks[p.pos].1;
        let andor = p.andor()?;
        let end = toks[p.pos - 1].2;
        let background = p.peek() == Some(&Token::Amp);
        match p.peek() {
            Some(Token::Amp | Token::Semi | Token::Newline) => p.pos += 1,
            None => {}
            Some(t) => return Err(bad(format!("near {t:?}").to_lowercase())),
        }
        items.push(Item {
            andor,
            background,
            text: src[start..end].trim().to_string(),
        });
    }
}
