//! The lexer: program text to tokens, on demand.
//!
//! bpftrace's grammar is context sensitive in one place: an attach point such as
//! `tracepoint:sched:sched_*` or `interval:s:1` is not made of ordinary tokens. The parser
//! therefore pulls tokens one at a time and, at the start of a probe, asks for the raw attach point
//! text instead ([`Lexer::attach_point`]). Everything else is ordinary C-like lexing: identifiers,
//! `$scratch` variables, `@maps` (the bare `@` is the anonymous map), decimal / hex / octal integers
//! with optional `_` separators, string literals with C escapes, `//` and `/* */` comments.
//!
//! The lexer never panics on any input: every failure is a [`Diagnostic`] with a span.

use super::ast::Span;
use super::diag::Diagnostic;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    Int(u64),
    Str(Vec<u8>),
    Ident(String),
    /// `$name`, without the `$`.
    Var(String),
    /// `@name` or `@`, with the `@`.
    Map(String),
    Punct(P),
    Eof,
}

/// Punctuation and operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum P {
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Semi,
    Colon,
    Question,
    Dot,
    Arrow,
    Assign,
    AddAssign,
    SubAssign,
    MulAssign,
    DivAssign,
    ModAssign,
    AndAssign,
    OrAssign,
    XorAssign,
    ShlAssign,
    ShrAssign,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Amp,
    Pipe,
    Caret,
    Shl,
    Shr,
    AndAnd,
    OrOr,
    Bang,
    Tilde,
    EqEq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Incr,
    Decr,
}

/// Longest operators first so that maximal munch works by trying them in order.
const PUNCTS: &[(&str, P)] = &[
    ("<<=", P::ShlAssign),
    (">>=", P::ShrAssign),
    ("->", P::Arrow),
    ("++", P::Incr),
    ("--", P::Decr),
    ("+=", P::AddAssign),
    ("-=", P::SubAssign),
    ("*=", P::MulAssign),
    ("/=", P::DivAssign),
    ("%=", P::ModAssign),
    ("&=", P::AndAssign),
    ("|=", P::OrAssign),
    ("^=", P::XorAssign),
    ("<<", P::Shl),
    (">>", P::Shr),
    ("&&", P::AndAnd),
    ("||", P::OrOr),
    ("==", P::EqEq),
    ("!=", P::Ne),
    ("<=", P::Le),
    (">=", P::Ge),
    ("(", P::LParen),
    (")", P::RParen),
    ("{", P::LBrace),
    ("}", P::RBrace),
    ("[", P::LBracket),
    ("]", P::RBracket),
    (",", P::Comma),
    (";", P::Semi),
    (":", P::Colon),
    ("?", P::Question),
    (".", P::Dot),
    ("=", P::Assign),
    ("+", P::Plus),
    ("-", P::Minus),
    ("*", P::Star),
    ("/", P::Slash),
    ("%", P::Percent),
    ("&", P::Amp),
    ("|", P::Pipe),
    ("^", P::Caret),
    ("!", P::Bang),
    ("~", P::Tilde),
    ("<", P::Lt),
    (">", P::Gt),
];

impl P {
    pub fn text(self) -> &'static str {
        PUNCTS
            .iter()
            .find(|(_, p)| *p == self)
            .map_or("?", |(t, _)| t)
    }
}

impl Tok {
    /// How a syntax error names this token (bison style).
    pub fn describe(&self) -> String {
        match self {
            Tok::Int(_) => "integer".into(),
            Tok::Str(_) => "string".into(),
            Tok::Ident(name) => format!("identifier '{name}'"),
            Tok::Var(name) => format!("variable '${name}'"),
            Tok::Map(name) => format!("map '{name}'"),
            Tok::Punct(p) => p.text().into(),
            Tok::Eof => "end of file".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub span: Span,
}

pub struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Characters an attach point is made of (`kfunc:vfs_*`, `tracepoint:sched:sched_switch`,
/// `interval:ms:100`, `kprobe:func+0x10`).
fn is_attach_char(b: u8) -> bool {
    is_ident_char(b) || matches!(b, b':' | b'*' | b'?' | b'.' | b'-' | b'+')
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a str) -> Self {
        Lexer { src, pos: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.src.as_bytes()
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.bytes().get(i).copied()
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Skips whitespace and comments.
    pub fn skip_trivia(&mut self) -> Result<(), Diagnostic> {
        self.pos = self.trivia_end(self.pos)?;
        Ok(())
    }

    fn trivia_end(&self, mut i: usize) -> Result<usize, Diagnostic> {
        loop {
            match (self.at(i), self.at(i + 1)) {
                (Some(b), _) if b.is_ascii_whitespace() => i += 1,
                (Some(b'/'), Some(b'/')) => {
                    while let Some(b) = self.at(i) {
                        if b == b'\n' {
                            break;
                        }
                        i += 1;
                    }
                }
                (Some(b'/'), Some(b'*')) => {
                    let start = i;
                    i += 2;
                    loop {
                        match (self.at(i), self.at(i + 1)) {
                            (Some(b'*'), Some(b'/')) => {
                                i += 2;
                                break;
                            }
                            (Some(_), _) => i += 1,
                            (None, _) => {
                                return Err(Diagnostic::new(
                                    Span::new(start, start + 2),
                                    "unterminated comment",
                                ))
                            }
                        }
                    }
                }
                _ => return Ok(i),
            }
        }
    }

    /// The first byte after the trivia that follows `pos` (used to tell a predicate's closing
    /// `/` from a division: the closing one is followed by `{`).
    pub fn byte_after_trivia(&self, pos: usize) -> Option<u8> {
        let i = self.trivia_end(pos).ok()?;
        self.at(i)
    }

    /// At the start of a probe: the raw attach point text, or `None` if there is none here.
    pub fn attach_point(&mut self) -> Result<Option<(String, Span)>, Diagnostic> {
        self.skip_trivia()?;
        let start = self.pos;
        let mut i = start;
        while self.at(i).is_some_and(is_attach_char) {
            i += 1;
        }
        if i == start {
            return Ok(None);
        }
        self.pos = i;
        Ok(Some((self.src[start..i].to_string(), Span::new(start, i))))
    }

    pub fn next_token(&mut self) -> Result<Token, Diagnostic> {
        self.skip_trivia()?;
        let start = self.pos;
        let Some(b) = self.at(start) else {
            return Ok(Token {
                tok: Tok::Eof,
                span: Span::new(start, start),
            });
        };
        let tok = if is_ident_start(b) {
            Tok::Ident(self.take_while(start, is_ident_char).to_string())
        } else if b.is_ascii_digit() {
            self.number(start)?
        } else if b == b'"' {
            self.string(start)?
        } else if b == b'$' {
            self.pos += 1;
            let name = self.take_while(start + 1, is_ident_char);
            if name.is_empty() {
                return Err(Diagnostic::new(
                    Span::new(start, start + 1),
                    "invalid character '$'",
                ));
            }
            Tok::Var(name.to_string())
        } else if b == b'@' {
            self.pos += 1;
            let name = self.take_while(start + 1, is_ident_char);
            Tok::Map(format!("@{name}"))
        } else if let Some((text, p)) = PUNCTS
            .iter()
            .find(|(t, _)| self.src[start..].starts_with(t))
        {
            self.pos += text.len();
            Tok::Punct(*p)
        } else {
            let ch = self.src[start..].chars().next().unwrap_or('?');
            return Err(Diagnostic::new(
                Span::new(start, start + ch.len_utf8()),
                format!("invalid character '{ch}'"),
            ));
        };
        Ok(Token {
            tok,
            span: Span::new(start, self.pos),
        })
    }

    /// Consumes bytes from `start` while `pred` holds; returns them.
    fn take_while(&mut self, start: usize, pred: fn(u8) -> bool) -> &'a str {
        let mut i = start;
        while self.at(i).is_some_and(pred) {
            i += 1;
        }
        self.pos = i;
        &self.src[start..i]
    }

    fn number(&mut self, start: usize) -> Result<Tok, Diagnostic> {
        let text = self.take_while(start, is_ident_char);
        let span = Span::new(start, self.pos);
        let clean: String = text.chars().filter(|&c| c != '_').collect();
        let parsed = if let Some(hex) = clean
            .strip_prefix("0x")
            .or_else(|| clean.strip_prefix("0X"))
        {
            u64::from_str_radix(hex, 16)
        } else if clean.len() > 1 && clean.starts_with('0') {
            u64::from_str_radix(&clean[1..], 8)
        } else {
            clean.parse::<u64>()
        };
        parsed
            .map(Tok::Int)
            .map_err(|_| Diagnostic::new(span, format!("invalid integer literal: {text}")))
    }

    fn string(&mut self, start: usize) -> Result<Tok, Diagnostic> {
        let unterminated =
            |end: usize| Diagnostic::new(Span::new(start, end), "unterminated string");
        let mut out = Vec::new();
        let mut i = start + 1;
        loop {
            match self.at(i) {
                None | Some(b'\n') => return Err(unterminated(i)),
                Some(b'"') => {
                    i += 1;
                    break;
                }
                Some(b'\\') => {
                    let esc = self.at(i + 1).ok_or_else(|| unterminated(i + 1))?;
                    i += 2;
                    match esc {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'\\' => out.push(b'\\'),
                        b'"' => out.push(b'"'),
                        b'\'' => out.push(b'\''),
                        b'a' => out.push(0x07),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'v' => out.push(0x0b),
                        b'x' => {
                            let mut v: u32 = 0;
                            let mut n = 0;
                            while n < 2 && self.at(i).is_some_and(|b| b.is_ascii_hexdigit()) {
                                v = v * 16 + (self.bytes()[i] as char).to_digit(16).unwrap_or(0);
                                i += 1;
                                n += 1;
                            }
                            if n == 0 {
                                return Err(Diagnostic::new(
                                    Span::new(i - 2, i),
                                    "invalid escape character '\\x'",
                                ));
                            }
                            out.push(v as u8);
                        }
                        b'0'..=b'7' => {
                            let mut v: u32 = u32::from(esc - b'0');
                            let mut n = 1;
                            while n < 3 && self.at(i).is_some_and(|b| (b'0'..=b'7').contains(&b)) {
                                v = v * 8 + u32::from(self.bytes()[i] - b'0');
                                i += 1;
                                n += 1;
                            }
                            out.push(v as u8);
                        }
                        b'\n' => return Err(unterminated(i - 1)),
                        other => {
                            let ch = self.src[i - 1..].chars().next().unwrap_or(other as char);
                            return Err(Diagnostic::new(
                                Span::new(i - 2, i - 1 + ch.len_utf8()),
                                format!("invalid escape character '\\{ch}'"),
                            ));
                        }
                    }
                }
                Some(b) => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        self.pos = i;
        Ok(Tok::Str(out))
    }
}

/// Lexes a whole text into tokens (for tests and tools; the parser pulls tokens lazily).
pub fn tokenize(src: &str) -> Result<Vec<Token>, Diagnostic> {
    let mut lexer = Lexer::new(src);
    let mut out = Vec::new();
    loop {
        let t = lexer.next_token()?;
        let eof = t.tok == Tok::Eof;
        out.push(t);
        if eof {
            return Ok(out);
        }
    }
}
