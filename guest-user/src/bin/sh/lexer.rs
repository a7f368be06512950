//! Splitting a command line into words and operators, as POSIX sh's token recognition does:
//! single quotes keep everything, double quotes keep all but `$`, `` ` `` and the backslash
//! escapes of `$ " \ ` `` ` ``, a backslash outside quotes keeps the next character, `#`
//! starts a comment at a word's start. A word remembers which parts came from quotes and
//! which are expansions (`$NAME`, `${...}`, `$(...)`, `` `...` ``, `$((...))`), so that
//! expansion can split and glob only what was unquoted.

use std::fmt;

/// One piece of a word. The `bool`s say the piece was inside double quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text as typed, outside quotes (after backslash removal).
    Lit(String),
    /// Text from quotes or a backslash escape: never split or globbed, no tilde expansion.
    Quoted(String),
    /// `$NAME`, `${NAME}`, `$?`, `$$`, `$!`, `$#`, `$0`-`$9`, `$@`, `$*`.
    Var(String, bool),
    /// `${NAME<op>WORD}` and `${#NAME}`: the text between the braces.
    Param(String, bool),
    /// `$(...)` or `` `...` ``: the command's source.
    Cmd(String, bool),
    /// `$((...))`: the expression's source.
    Arith(String, bool),
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
    /// `<<WORD` (`<<-WORD` with `true`: leading tabs stripped): the target is the body, read
    /// from the lines after the command's line.
    HereDoc(bool),
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
    DSemi,
    Amp,
    LParen,
    RParen,
    Newline,
}

/// A syntax error; `incomplete` if more input could complete it (an open quote, an `if`
/// without `fi`), which makes the interactive shell ask for another line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub msg: String,
    pub incomplete: bool,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "syntax error: {}", self.msg)
    }
}

pub fn incomplete(what: &str) -> SyntaxError {
    SyntaxError {
        msg: format!("{what} (unexpected end of input)"),
        incomplete: true,
    }
}

pub fn bad(msg: String) -> SyntaxError {
    SyntaxError {
        msg,
        incomplete: false,
    }
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

fn push(parts: &mut Vec<Part>, p: Part) {
    match (parts.last_mut(), p) {
        (Some(Part::Lit(a)), Part::Lit(b)) => a.push_str(&b),
        (Some(Part::Quoted(a)), Part::Quoted(b)) => a.push_str(&b),
        (_, p) => parts.push(p),
    }
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    src: &'a str,
    /// Byte offset of each char, for spans.
    offsets: Vec<usize>,
    /// Lexing a here-document's body: a backslash quotes only `$`, `` ` ``, `\` and newline.
    heredoc: bool,
}

/// A here-document whose body comes after the next newline: the index of its (placeholder)
/// target token, the delimiter, whether the delimiter was quoted, and `<<-`.
struct PendingDoc {
    token: usize,
    delim: String,
    quoted: bool,
    strip: bool,
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

    fn text(&self, start: usize, end: usize) -> String {
        self.chars[start..end].iter().collect()
    }

    /// `${...}` after the `{`: through the matching `}` (nested braces and quotes skipped).
    fn braced(&mut self, quoted: bool) -> Result<Part, SyntaxError> {
        let start = self.pos;
        let mut depth = 0;
        loop {
            match self.peek() {
                None => return Err(incomplete("missing '}'")),
                Some('}') if depth == 0 => break,
                Some('}') => depth -= 1,
                Some('{') => depth += 1,
                Some('\\') => self.pos += 1,
                Some('\'') if !quoted => {
                    self.pos += 1;
                    while self.peek().is_some_and(|c| c != '\'') {
                        self.pos += 1;
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        let inner = self.text(start, self.pos);
        self.pos += 1;
        if is_name(&inner)
            || inner.chars().all(|c| c.is_ascii_digit()) && !inner.is_empty()
            || inner.len() == 1 && "?$!#@*-".contains(&inner)
        {
            Ok(Part::Var(inner, quoted))
        } else {
            Ok(Part::Param(inner, quoted))
        }
    }

    /// `$((` ... `))` after the `$((`: the expression's text.
    fn arith(&mut self) -> Result<String, SyntaxError> {
        let start = self.pos;
        let mut depth = 0;
        loop {
            match self.peek() {
                None => return Err(incomplete("missing '))'")),
                Some('(') => depth += 1,
                Some(')') if depth == 0 && self.peek_at(1) == Some(')') => {
                    let text = self.text(start, self.pos);
                    self.pos += 2;
                    return Ok(text);
                }
                Some(')') => depth -= 1,
                _ => {}
            }
            self.pos += 1;
        }
    }

    /// `` `...` `` after the opening backquote: the command with the backslashes that quote
    /// `$`, `` ` `` and `\` removed.
    fn backquote(&mut self) -> Result<String, SyntaxError> {
        let mut text = String::new();
        loop {
            match self.peek() {
                None => return Err(incomplete("missing '`'")),
                Some('`') => {
                    self.pos += 1;
                    return Ok(text);
                }
                Some('\\') if self.peek_at(1).is_some_and(|n| "$`\\".contains(n)) => {
                    text.push(self.peek_at(1).unwrap_or('\\'));
                    self.pos += 2;
                }
                Some(c) => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// `$...` with `pos` at the `$`.
    fn dollar(&mut self, quoted: bool) -> Result<Part, SyntaxError> {
        self.pos += 1;
        match self.peek() {
            Some('{') => {
                self.pos += 1;
                self.braced(quoted)
            }
            Some('(') if self.peek_at(1) == Some('(') => {
                self.pos += 2;
                Ok(Part::Arith(self.arith()?, quoted))
            }
            Some('(') => {
                self.pos += 1;
                let start = self.pos;
                self.tokens(true)?;
                Ok(Part::Cmd(self.text(start, self.pos - 1), quoted))
            }
            Some(c) if "?$!#@*-".contains(c) || c.is_ascii_digit() => {
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
                Ok(Part::Var(self.text(start, self.pos), quoted))
            }
            // A lone `$` is itself.
            _ => Ok(if quoted {
                Part::Quoted("$".into())
            } else {
                Part::Lit("$".into())
            }),
        }
    }

    /// The inside of double quotes, up to the closing `"` (or the end if `close` is false:
    /// a here-string or an arithmetic expression expands like that).
    fn dquoted(&mut self, parts: &mut Vec<Part>, close: bool) -> Result<(), SyntaxError> {
        loop {
            match self.peek() {
                None if close => return Err(incomplete("unterminated quoted string")),
                None => return Ok(()),
                Some('"') if close => {
                    self.pos += 1;
                    return Ok(());
                }
                Some('\\')
                    if self
                        .peek_at(1)
                        .is_some_and(|n| "$\\`\n".contains(n) || n == '"' && !self.heredoc) =>
                {
                    let n = self.peek_at(1).unwrap_or('\\');
                    self.pos += 2;
                    if n != '\n' {
                        push(parts, Part::Quoted(n.to_string()));
                    }
                }
                Some('$') => {
                    let p = self.dollar(true)?;
                    push(parts, p);
                }
                Some('`') => {
                    self.pos += 1;
                    let cmd = self.backquote()?;
                    push(parts, Part::Cmd(cmd, true));
                }
                Some(c) => {
                    self.pos += 1;
                    push(parts, Part::Quoted(c.to_string()));
                }
            }
        }
    }

    fn word(&mut self) -> Result<Word, SyntaxError> {
        let mut parts: Vec<Part> = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' | '\n' | ';' | '&' | '|' | '<' | '>' | '(' | ')' => break,
                '\'' => {
                    self.pos += 1;
                    let start = self.pos;
                    while self.peek().is_some_and(|c| c != '\'') {
                        self.pos += 1;
                    }
                    if self.peek().is_none() {
                        return Err(incomplete("unterminated quoted string"));
                    }
                    let s = self.text(start, self.pos);
                    self.pos += 1;
                    push(&mut parts, Part::Quoted(s));
                }
                '"' => {
                    self.pos += 1;
                    // An empty "" is still a word.
                    push(&mut parts, Part::Quoted(String::new()));
                    self.dquoted(&mut parts, true)?;
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
                '`' => {
                    self.pos += 1;
                    let cmd = self.backquote()?;
                    push(&mut parts, Part::Cmd(cmd, false));
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
            ('<', Some('<')) => {
                self.pos += 1;
                let strip = self.peek() == Some('-');
                if strip {
                    self.pos += 1;
                }
                (0, RedirKind::HereDoc(strip))
            }
            ('>', Some('|')) => (1, RedirKind::Out),
            ('>', _) => (1, RedirKind::Out),
            _ => (0, RedirKind::In),
        };
        if next.is_some_and(|n| ">&|".contains(n)) {
            self.pos += 1;
        }
        Token::Redir(fd.unwrap_or(default_fd), kind)
    }

    /// Tokens up to the end, or with `nested` (inside `$(`) up to and past the `)` that
    /// closes it.
    fn tokens(&mut self, nested: bool) -> Result<Vec<Spanned>, SyntaxError> {
        let mut out = Vec::new();
        let mut depth = 0;
        let mut pending: Vec<PendingDoc> = Vec::new();
        while let Some(c) = self.peek() {
            let start = self.offset();
            let two = self.peek_at(1);
            let op = match (c, two) {
                (' ' | '\t', _) => {
                    self.pos += 1;
                    continue;
                }
                ('#', _) => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.pos += 1;
                    }
                    continue;
                }
                ('\n', _) => Some((Token::Newline, 1)),
                ('|', Some('|')) => Some((Token::OrIf, 2)),
                ('|', _) => Some((Token::Pipe, 1)),
                ('&', Some('&')) => Some((Token::AndIf, 2)),
                ('&', _) => Some((Token::Amp, 1)),
                (';', Some(';')) => Some((Token::DSemi, 2)),
                (';', _) => Some((Token::Semi, 1)),
                ('(', _) => Some((Token::LParen, 1)),
                (')', _) => Some((Token::RParen, 1)),
                _ => None,
            };
            let tok = match op {
                Some((tok, n)) => {
                    self.pos += n;
                    if nested && tok == Token::LParen {
                        depth += 1;
                    }
                    if nested && tok == Token::RParen {
                        if depth == 0 {
                            return Ok(out);
                        }
                        depth -= 1;
                    }
                    tok
                }
                None if c == '<' || c == '>' => self.redir(None),
                None => {
                    // Digits right before `<` or `>` name the descriptor (`2>`).
                    let mut n = 0;
                    while self.peek_at(n).is_some_and(|c| c.is_ascii_digit()) {
                        n += 1;
                    }
                    if n > 0 && matches!(self.peek_at(n), Some('<' | '>')) {
                        let fd = self.text(self.pos, self.pos + n);
                        self.pos += n;
                        self.redir(fd.parse().ok())
                    } else {
                        Token::Word(self.word()?)
                    }
                }
            };
            let newline = tok == Token::Newline;
            if let Token::Redir(_, RedirKind::HereDoc(strip)) = tok {
                out.push((tok, start, self.offset()));
                let (doc, word) = self.heredoc_delimiter(out.len(), strip)?;
                pending.push(doc);
                out.push(word);
                continue;
            }
            out.push((tok, start, self.offset()));
            if newline {
                for doc in pending.drain(..) {
                    out[doc.token].0 = Token::Word(self.heredoc_body(&doc)?);
                }
            }
        }
        if !pending.is_empty() {
            return Err(incomplete("here-document"));
        }
        if nested {
            return Err(incomplete("missing ')'"));
        }
        Ok(out)
    }
}

fn lexer(src: &str) -> Lexer<'_> {
    Lexer {
        chars: src.chars().collect(),
        pos: 0,
        src,
        offsets: src.char_indices().map(|(i, _)| i).collect(),
        heredoc: false,
    }
}

impl Lexer<'_> {
    /// The word after `<<`: the delimiter with its quotes removed (any quoting means the
    /// body is not expanded), and a placeholder token at `index` for the body.
    fn heredoc_delimiter(
        &mut self,
        index: usize,
        strip: bool,
    ) -> Result<(PendingDoc, Spanned), SyntaxError> {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.pos += 1;
        }
        let (start, offset) = (self.pos, self.offset());
        let word = self.word()?;
        let raw = self.text(start, self.pos);
        if raw.is_empty() {
            return Err(bad("missing here-document delimiter".into()));
        }
        let doc = PendingDoc {
            token: index,
            delim: raw.chars().filter(|c| !"'\"\\".contains(*c)).collect(),
            quoted: raw.contains(['\'', '"', '\\']),
            strip,
        };
        Ok((doc, (Token::Word(word), offset, self.offset())))
    }

    /// The lines after the current one up to the delimiter's line, as a word: literal if
    /// the delimiter was quoted, else expanded as in double quotes (with `"` kept as is).
    fn heredoc_body(&mut self, doc: &PendingDoc) -> Result<Word, SyntaxError> {
        let mut body = String::new();
        loop {
            if self.peek().is_none() {
                return Err(incomplete(&format!("here-document '{}'", doc.delim)));
            }
            let start = self.pos;
            while self.peek().is_some_and(|c| c != '\n') {
                self.pos += 1;
            }
            let mut line = self.text(start, self.pos);
            self.pos = (self.pos + 1).min(self.chars.len());
            if doc.strip {
                line = line.trim_start_matches('\t').to_string();
            }
            if line == doc.delim {
                break;
            }
            body.push_str(&line);
            body.push('\n');
        }
        if doc.quoted {
            return Ok(Word(vec![Part::Quoted(body)]));
        }
        let mut parts = vec![Part::Quoted(String::new())];
        let mut l = lexer(&body);
        l.heredoc = true;
        l.dquoted(&mut parts, false)?;
        Ok(Word(parts))
    }
}

/// Tokens of `src`, with their spans.
pub fn tokenize(src: &str) -> Result<Vec<Spanned>, SyntaxError> {
    lexer(src).tokens(false)
}

/// `text` as the inside of double quotes would expand it (arithmetic expressions, the words
/// of `${NAME:-WORD}`).
pub fn dquoted_word(text: &str) -> Result<Word, SyntaxError> {
    let mut parts = vec![Part::Quoted(String::new())];
    lexer(text).dquoted(&mut parts, false)?;
    Ok(Word(parts))
}

/// `text` as an unquoted word (the words of `${NAME:-WORD}` outside double quotes).
pub fn unquoted_word(text: &str) -> Result<Word, SyntaxError> {
    lexer(text).word_all()
}

impl Lexer<'_> {
    /// All of the text as one word (spaces and operators included as literal text).
    fn word_all(&mut self) -> Result<Word, SyntaxError> {
        let mut parts = Vec::new();
        while self.peek().is_some() {
            let w = self.word()?;
            parts.extend(w.0);
            if let Some(c) = self.peek() {
                push(&mut parts, Part::Lit(c.to_string()));
                self.pos += 1;
            }
        }
        Ok(Word(parts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(src: &str) -> Vec<Token> {
        tokenize(src).unwrap().into_iter().map(|t| t.0).collect()
    }

    fn lit(s: &str) -> Token {
        Token::Word(Word(vec![Part::Lit(s.into())]))
    }

    #[test]
    fn operators_and_words() {
        assert_eq!(
            words("a|b&&c;;d ( ) 2>&1 >x"),
            [
                lit("a"),
                Token::Pipe,
                lit("b"),
                Token::AndIf,
                lit("c"),
                Token::DSemi,
                lit("d"),
                Token::LParen,
                Token::RParen,
                Token::Redir(2, RedirKind::Dup),
                lit("1"),
                Token::Redir(1, RedirKind::Out),
                lit("x"),
            ]
        );
        assert_eq!(words("echo a#b # c"), [lit("echo"), lit("a#b")]);
    }

    #[test]
    fn quotes_and_expansions() {
        let t = words("x\"a $b\"'c'$(echo \"(\" (a) )`d \\` e`$((1+(2)))${x:-y}");
        let Token::Word(w) = &t[0] else { panic!() };
        assert_eq!(
            w.0,
            [
                Part::Lit("x".into()),
                Part::Quoted("a ".into()),
                Part::Var("b".into(), true),
                Part::Quoted("c".into()),
                Part::Cmd("echo \"(\" (a) ".into(), false),
                Part::Cmd("d ` e".into(), false),
                Part::Arith("1+(2)".into(), false),
                Part::Param("x:-y".into(), false),
            ]
        );
    }

    fn heredoc(src: &str) -> Word {
        let toks = words(src);
        let i = toks
            .iter()
            .position(|t| matches!(t, Token::Redir(_, RedirKind::HereDoc(_))))
            .unwrap();
        let Token::Word(w) = &toks[i + 1] else {
            panic!()
        };
        w.clone()
    }

    #[test]
    fn here_documents() {
        // Unquoted: expansions as in double quotes, `"` kept, `\$` escaped.
        assert_eq!(
            heredoc("cat <<EOF\na \"$x\" \\$y $(b)\nEOF\n").0,
            [
                Part::Quoted("a \"".into()),
                Part::Var("x".into(), true),
                Part::Quoted("\" $y ".into()),
                Part::Cmd("b".into(), true),
                Part::Quoted("\n".into()),
            ]
        );
        // A quoted delimiter: the body as is; `<<-` strips leading tabs.
        assert_eq!(
            heredoc("cat <<'E'\n$x\\\nE").0,
            [Part::Quoted("$x\\\n".into())]
        );
        assert_eq!(
            heredoc("cat <<-\"E\"\n\t\tx\n\tE\n").0,
            [Part::Quoted("x\n".into())]
        );
        // Two on one line, bodies in order; the command goes on after the bodies.
        let t = words("a <<A; b <<B\n1\nA\n2\nB\nc");
        let bodies: Vec<&Token> = t
            .iter()
            .filter(|t| matches!(t, Token::Word(w) if w.plain().is_none()))
            .collect();
        assert_eq!(bodies.len(), 2);
        assert_eq!(t.last(), Some(&lit("c")));
        assert_eq!(t[2], Token::Word(Word(vec![Part::Quoted("1\n".into())])));
        assert_eq!(t[6], Token::Word(Word(vec![Part::Quoted("2\n".into())])));
        assert!(tokenize("cat <<EOF\nno end\n").unwrap_err().incomplete);
    }

    #[test]
    fn open_constructs_are_incomplete() {
        for src in [
            "echo 'a",
            "echo \"a",
            "echo $(ls",
            "echo `ls",
            "${x",
            "$((1+2)",
        ] {
            assert!(tokenize(src).unwrap_err().incomplete, "{src}");
        }
    }
}
