//! Splitting a command line into words and operators, as POSIX sh's token recognition does:
//! single quotes keep everything, double quotes keep all but `$` and the backslash escapes of
//! `$ " \ `, a backslash outside quotes keeps the next character, `#` starts a comment at a
//! word's start. A word remembers which parts came from quotes and which are `$` expansions,
//! so that expansion can split only unquoted expansions into fields.

/// One piece of a word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text as typed, outside quotes (after backslash removal).
    Lit(String),
    /// Text from quotes or a backslash escape: never split, no tilde expansion.
    Quoted(String),
    /// `$NAME`, `${NAME}`, `$?`, `$$`, `$!`, `$#`, `$0`-`$9`, `$@`, `$*`; `true` if inside
    /// double quotes.
    Var(String, bool),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Word(pub Vec<Part>);

impl Word {
    /// The word as plain text if it has no quotes or expansions (for keywords and names).
    pub fn plain(&self) -> Option<&str> {
        match self.0.as_slice() {
            [Part::Lit(s)] => Some(s),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirKind {
    /// `<`
    In,
    /// `>`
    Out,
    /// `>>`
    Append,
    /// `>&` and `<&`: duplicate the target descriptor (or close it with `-`).
    Dup,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    Word(Word),
    /// A redirection operator and the descriptor it applies to.
    Redir(i32, RedirKind),
    Pipe,
    AndIf,
    OrIf,
    Semi,
    Amp,
    Newline,
}

/// A token and where it starts and ends in the source (for a job's text).
pub type Spanned = (Token, usize, usize);

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

pub fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(is_name_start) && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    src: &'a str,
    /// Byte offset of each char, for spans.
    offsets: Vec<usize>,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.pos + n).copied()
    }

    fn offset(&self) -> usize {
        self.offsets
            .get(self.pos)
            .copied()
            .unwrap_or(self.src.len())
    }

    /// `$...` after the `$` has been seen (at `pos`).
    fn dollar(&mut self, quoted: bool) -> Result<Part, String> {
        self.pos += 1;
        match self.peek() {
            Some('{') => {
                self.pos += 1;
                let start = self.pos;
                while self.peek().is_some_and(|c| c != '}') {
                    self.pos += 1;
                }
                if self.peek().is_none() {
                    return Err("missing '}'".into());
                }
                let name: String = self.chars[start..self.pos].iter().collect();
                self.pos += 1;
                Ok(Part::Var(name, quoted))
            }
            Some(c) if "?$!#@*".contains(c) || c.is_ascii_digit() => {
                self.pos += 1;
                Ok(Part::Var(c.to_string(), quoted))
            }
            Some(c) if is_name_start(c) => {
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    self.pos += 1;
                }
                Ok(Part::Var(
                    self.chars[start..self.pos].iter().collect(),
                    quoted,
                ))
            }
            // A lone `$` is itself.
            _ => Ok(if quoted {
                Part::Quoted("$".into())
            } else {
                Part::Lit("$".into())
            }),
        }
    }

    fn word(&mut self) -> Result<Word, String> {
        let mut parts: Vec<Part> = Vec::new();
        let push = |parts: &mut Vec<Part>, p: Part| match (parts.last_mut(), p) {
            (Some(Part::Lit(a)), Part::Lit(b)) => a.push_str(&b),
            (Some(Part::Quoted(a)), Part::Quoted(b)) => a.push_str(&b),
            (_, p) => parts.push(p),
        };
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' | '\n' | ';' | '&' | '|' | '<' | '>' => break,
                '\'' => {
                    self.pos += 1;
                    let start = self.pos;
                    while self.peek().is_some_and(|c| c != '\'') {
                        self.pos += 1;
                    }
                    if self.peek().is_none() {
                        return Err("unterminated quoted string".into());
                    }
                    let s: String = self.chars[start..self.pos].iter().collect();
                    self.pos += 1;
                    push(&mut parts, Part::Quoted(s));
                }
                '"' => {
                    self.pos += 1;
                    // An empty "" is still a word.
                    push(&mut parts, Part::Quoted(String::new()));
                    loop {
                        match self.peek() {
                            None => return Err("unterminated quoted string".into()),
                            Some('"') => {
                                self.pos += 1;
                                break;
                            }
                            Some('\\')
                                if self.peek_at(1).is_some_and(|n| "$\"\\`\n".contains(n)) =>
                            {
                                let n = self.peek_at(1).unwrap_or('\\');
                                self.pos += 2;
                                if n != '\n' {
                                    push(&mut parts, Part::Quoted(n.to_string()));
                                }
                            }
                            Some('$') => {
                                let p = self.dollar(true)?;
                                push(&mut parts, p);
                            }
                            Some(c) => {
                                self.pos += 1;
                                push(&mut parts, Part::Quoted(c.to_string()));
                            }
                        }
                    }
                }
                '\\' => {
                    self.pos += 1;
                    match self.peek() {
                        // A backslash-newline joins lines.
                        Some('\n') => self.pos += 1,
                        Some(n) => {
                            self.pos += 1;
                            push(&mut parts, Part::Quoted(n.to_string()));
                        }
                        None => push(&mut parts, Part::Lit("\\".into())),
                    }
                }
                '$' => {
                    let p = self.dollar(false)?;
                    push(&mut parts, p);
                }
                c => {
                    self.pos += 1;
                    push(&mut parts, Part::Lit(c.to_string()));
                }
            }
        }
        Ok(Word(parts))
    }

    fn redir(&mut self, fd: Option<i32>) -> Token {
        let c = self.peek().unwrap_or('>');
        self.pos += 1;
        let next = self.peek();
        let (default_fd, kind) = match (c, next) {
            ('>', Some('>')) => (1, RedirKind::Append),
            ('>', Some('&')) => (1, RedirKind::Dup),
            ('<', Some('&')) => (0, RedirKind::Dup),
            ('>', _) => (1, RedirKind::Out),
            _ => (0, RedirKind::In),
        };
        if kind != RedirKind::Out && kind != RedirKind::In {
            self.pos += 1;
        }
        Token::Redir(fd.unwrap_or(default_fd), kind)
    }
}

/// Tokens of `src`, with their spans.
pub fn tokenize(src: &str) -> Result<Vec<Spanned>, String> {
    let mut lx = Lexer {
        chars: src.chars().collect(),
        pos: 0,
        src,
        offsets: src.char_indices().map(|(i, _)| i).collect(),
    };
    let mut out = Vec::new();
    while let Some(c) = lx.peek() {
        let start = lx.offset();
        let two = lx.peek_at(1);
        let op = match (c, two) {
            (' ' | '\t', _) => {
                lx.pos += 1;
                continue;
            }
            ('#', _) => {
                while lx.peek().is_some_and(|c| c != '\n') {
                    lx.pos += 1;
                }
                continue;
            }
            ('\n', _) => Some((Token::Newline, 1)),
            ('|', Some('|')) => Some((Token::OrIf, 2)),
            ('|', _) => Some((Token::Pipe, 1)),
            ('&', Some('&')) => Some((Token::AndIf, 2)),
            ('&', _) => Some((Token::Amp, 1)),
            (';', _) => Some((Token::Semi, 1)),
            _ => None,
        };
        let tok = match op {
            Some((tok, n)) => {
                lx.pos += n;
                tok
            }
            None if c == '<' || c == '>' => lx.redir(None),
            None => {
                // Digits right before `<` or `>` name the descriptor (`2>`).
                let mut n = 0;
                while lx.peek_at(n).is_some_and(|c| c.is_ascii_digit()) {
                    n += 1;
                }
                if n > 0 && matches!(lx.peek_at(n), Some('<' | '>')) {
                    let fd: String = lx.chars[lx.pos..lx.pos + n].iter().collect();
                    lx.pos += n;
                    lx.redir(fd.parse().ok())
                } else {
                    Token::Word(lx.word()?)
                }
            }
        };
        out.push((tok, start, lx.offset()));
    }
    Ok(out)
}
