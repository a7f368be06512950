//! Diagnostics: errors that point into the program text, rendered the way bpftrace renders them.
//!
//! Every stage (lexer, parser, probe spec parser, checker, probe expansion) reports a
//! [`Diagnostic`]: a message and the byte [`Span`] it is about. [`Diagnostics`] owns a copy of the
//! source and the file name (`stdin` for `-e` one-liners) so it can render each one as bpftrace
//! does — the location with a 1-based line and a half-open column range, the source line with
//! tabs widened to 4 spaces, and `~` markers under the range:
//!
//! ```text
//! stdin:1:12-15: ERROR: Unknown identifier: 'foo'
//! kprobe:f { foo }
//!            ~~~
//! ```
//!
//! A span that crosses lines renders as `file:L1-L2: ERROR: msg` with no excerpt, as bpftrace does.

use std::fmt;
use std::sync::Arc;

use super::ast::Span;

/// One error about one place in the program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where, or `None` for a program-wide error.
    pub span: Option<Span>,
    pub message: String,
}

impl Diagnostic {
    pub fn new(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            span: Some(span),
            message: message.into(),
        }
    }

    pub fn global(message: impl Into<String>) -> Self {
        Diagnostic {
            span: None,
            message: message.into(),
        }
    }
}

/// The errors of one program, with what is needed to render them. The error type of
/// [`Program::parse`](super::Program::parse) and [`Program::attach`](super::Program::attach).
#[derive(Debug, Clone)]
pub struct Diagnostics {
    file_name: Arc<str>,
    source: Arc<str>,
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub(crate) fn new(file_name: Arc<str>, source: Arc<str>, items: Vec<Diagnostic>) -> Self {
        Diagnostics {
            file_name,
            source,
            items,
        }
    }

    /// The individual errors, in the order they were found.
    pub fn items(&self) -> &[Diagnostic] {
        &self.items
    }

    /// 1-based line and column of where the first error starts, if it has a place.
    pub fn first_position(&self) -> Option<(usize, usize)> {
        let span = self.items.first()?.span?;
        let (line, col) = line_col(&self.source, span.lo);
        Some((line, col))
    }

    fn render_one(&self, d: &Diagnostic, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(span) = d.span else {
            return writeln!(out, "ERROR: {}", d.message);
        };
        let (l1, c1) = line_col(&self.source, span.lo);
        let (l2, c2) = line_col(&self.source, span.hi.max(span.lo));
        if l2 > l1 {
            return writeln!(
                out,
                "{}:{}-{}: ERROR: {}",
                self.file_name, l1, l2, d.message
            );
        }
        // bpftrace's end column is one past the last character; an empty span still shows one.
        let c2 = c2.max(c1 + 1);
        writeln!(
            out,
            "{}:{}:{}-{}: ERROR: {}",
            self.file_name, l1, c1, c2, d.message
        )?;
        let line = self.source.lines().nth(l1 - 1).unwrap_or("");
        if line.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        let mut marks = String::new();
        for (x, ch) in line.char_indices() {
            let col = x + 1;
            let marker = if col < c1 { ' ' } else { '~' };
            let in_range = col < c2;
            if ch == '\t' {
                text.push_str("    ");
                if in_range {
                    marks.push_str(&marker.to_string().repeat(4));
                }
            } else {
                text.push(ch);
                if in_range {
                    marks.push(marker);
                }
            }
        }
        // An error at the end of the line (a missing `}`) gets its marker one past the text.
        if c1 == line.len() + 1 {
            marks.push_str(&" ".repeat(text.len().saturating_sub(marks.len())));
            marks.push('~');
        }
        writeln!(out, "{text}")?;
        writeln!(out, "{marks}")
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.items {
            self.render_one(d, f)?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// 1-based line and byte column of byte offset `pos` in `src`.
pub(crate) fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(src.len());
    let before = &src.as_bytes()[..pos];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    (line, pos - line_start + 1)
}
