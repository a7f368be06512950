//! The parser: recursive descent for probes and statements, precedence climbing for expressions.
//!
//! ```text
//! program    := probe+
//! probe      := attach (',' attach)* ('/' expr '/')? block
//! block      := '{' (stmt (';' stmt)* ';'?)? '}'        -- `if`/`unroll` need no ';'
//! stmt       := if | unroll | lvalue ('=' | op'=') expr | expr
//! if         := 'if' '(' expr ')' block ('else' (if | block))?
//! unroll     := 'unroll' '(' integer ')' block
//! expr       := binary ('?' expr ':' expr)?
//! binary     := unary (binop unary)*                    -- by precedence, left associative
//! unary      := ('!' | '~' | '-' | '++' | '--') unary | postfix
//! postfix    := primary ('->' name | '.' name | '++' | '--')*
//! primary    := integer | string | builtin | ident | call | $var | @map ('[' expr,+ ']')? | '(' expr ')'
//! ```
//!
//! Binary precedence, loosest first: `||`, `&&`, `|`, `^`, `&`, `== !=`, `< <= > >=`, `<< >>`,
//! `+ -`, `* / %` (C's). Inside a predicate, a `/` followed by `{` (or the end) closes it rather
//! than dividing, which is how bpftrace's lexer tells `/pid == 1/ {` apart.
//!
//! Syntax errors use bison's wording (`syntax error, unexpected }, expecting ;`), stop at the
//! first one, and carry the span of the offending token. Nesting is bounded ([`MAX_NESTING`] for
//! parentheses and blocks, [`MAX_EXPR_DEPTH`] for expression trees) so hostile input cannot
//! exhaust the stack here or in the passes that walk the tree.

use super::ast::*;
use super::diag::Diagnostic;
use super::format::Format;
use super::lexer::{Lexer, Tok, Token, P};
use super::probe::ProbeSpec;

/// Deepest nesting of parentheses, unary operators and blocks.
pub const MAX_NESTING: usize = 48;
/// Tallest expression tree.
pub const MAX_EXPR_DEPTH: u32 = 96;
/// Most iterations nested `unroll`s may multiply to.
pub const MAX_UNROLL_PRODUCT: u64 = 1000;

type PResult<T> = Result<T, Diagnostic>;

/// Parses a whole program.
pub fn parse(src: &str) -> PResult<Program> {
    Parser {
        lexer: Lexer::new(src),
        peeked: None,
        nesting: 0,
        in_predicate: false,
        unroll_product: 1,
        src_len: src.len(),
    }
    .program()
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    peeked: Option<Token>,
    nesting: usize,
    in_predicate: bool,
    unroll_product: u64,
    src_len: usize,
}

fn binop(t: &Tok) -> Option<(BinOp, u8)> {
    let Tok::Punct(p) = t else { return None };
    Some(match p {
        P::OrOr => (BinOp::Or, 1),
        P::AndAnd => (BinOp::And, 2),
        P::Pipe => (BinOp::BitOr, 3),
        P::Caret => (BinOp::BitXor, 4),
        P::Amp => (BinOp::BitAnd, 5),
        P::EqEq => (BinOp::Eq, 6),
        P::Ne => (BinOp::Ne, 6),
        P::Lt => (BinOp::Lt, 7),
        P::Le => (BinOp::Le, 7),
        P::Gt => (BinOp::Gt, 7),
        P::Ge => (BinOp::Ge, 7),
        P::Shl => (BinOp::Shl, 8),
        P::Shr => (BinOp::Shr, 8),
        P::Plus => (BinOp::Add, 9),
        P::Minus => (BinOp::Sub, 9),
        P::Star => (BinOp::Mul, 10),
        P::Slash => (BinOp::Div, 10),
        P::Percent => (BinOp::Mod, 10),
        _ => return None,
    })
}

fn compound_op(p: P) -> Option<BinOp> {
    Some(match p {
        P::AddAssign => BinOp::Add,
        P::SubAssign => BinOp::Sub,
        P::MulAssign => BinOp::Mul,
        P::DivAssign => BinOp::Div,
        P::ModAssign => BinOp::Mod,
        P::AndAssign => BinOp::BitAnd,
        P::OrAssign => BinOp::BitOr,
        P::XorAssign => BinOp::BitXor,
        P::ShlAssign => BinOp::Shl,
        P::ShrAssign => BinOp::Shr,
        _ => return None,
    })
}

impl Parser<'_> {
    fn peek(&mut self) -> PResult<&Token> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lexer.next_token()?);
        }
        Ok(self.peeked.as_ref().expect("just filled"))
    }

    fn bump(&mut self) -> PResult<Token> {
        self.peek()?;
        Ok(self.peeked.take().expect("just peeked"))
    }

    fn at(&mut self, p: P) -> PResult<bool> {
        Ok(self.peek()?.tok == Tok::Punct(p))
    }

    fn eat(&mut self, p: P) -> PResult<bool> {
        let yes = self.at(p)?;
        if yes {
            self.bump()?;
        }
        Ok(yes)
    }

    fn unexpected(&self, t: &Token, expecting: Option<&str>) -> Diagnostic {
        let mut msg = format!("syntax error, unexpected {}", t.tok.describe());
        if let Some(e) = expecting {
            msg.push_str(", expecting ");
            msg.push_str(e);
        }
        let span = if t.tok == Tok::Eof {
            Span::new(self.src_len, self.src_len + 1)
        } else {
            t.span
        };
        Diagnostic::new(span, msg)
    }

    fn expect(&mut self, p: P) -> PResult<Token> {
        let t = self.bump()?;
        if t.tok == Tok::Punct(p) {
            Ok(t)
        } else {
            Err(self.unexpected(&t, Some(p.text())))
        }
    }

    fn nest(&mut self, span: Span) -> PResult<()> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(Diagnostic::new(span, "program is nested too deeply"));
        }
        Ok(())
    }

    fn unnest(&mut self) {
        self.nesting -= 1;
    }

    fn expr_node(&self, kind: ExprKind, span: Span) -> PResult<Expr> {
        let e = Expr::new(kind, span);
        if e.depth > MAX_EXPR_DEPTH {
            return Err(Diagnostic::new(span, "expression is nested too deeply"));
        }
        Ok(e)
    }

    fn program(&mut self) -> PResult<Program> {
        let mut probes = Vec::new();
        loop {
            self.lexer.skip_trivia()?;
            if self.lexer.pos() >= self.src_len {
                break;
            }
            probes.push(self.probe()?);
        }
        if probes.is_empty() {
            let eof = Token {
                tok: Tok::Eof,
                span: Span::new(self.src_len, self.src_len),
            };
            return Err(self.unexpected(&eof, None));
        }
        Ok(Program { probes })
    }

    fn probe(&mut self) -> PResult<Probe> {
        let mut attach_points = Vec::new();
        loop {
            let Some((raw, span)) = self.lexer.attach_point()? else {
                let t = self.bump()?;
                return Err(self.unexpected(&t, None));
            };
            let spec = ProbeSpec::parse(&raw).map_err(|m| Diagnostic::new(span, m))?;
            attach_points.push(AttachPoint { raw, spec, span });
            if !self.eat(P::Comma)? {
                break;
            }
        }
        let start = attach_points[0].span;
        let predicate = if self.eat(P::Slash)? {
            self.in_predicate = true;
            let e = self.expr();
            self.in_predicate = false;
            let e = e?;
            self.expect(P::Slash)?;
            Some(e)
        } else {
            None
        };
        if !self.at(P::LBrace)? {
            let t = self.bump()?;
            let expecting = if predicate.is_some() { "{" } else { "{ or /" };
            return Err(self.unexpected(&t, Some(expecting)));
        }
        let body = self.block()?;
        Ok(Probe {
            attach_points,
            predicate,
            body,
            span: start.to(Span::new(start.lo, self.lexer.pos())),
        })
    }

    fn block(&mut self) -> PResult<Block> {
        let open = self.expect(P::LBrace)?;
        self.nest(open.span)?;
        let mut out = Vec::new();
        loop {
            if self.eat(P::RBrace)? {
                break;
            }
            if self.peek()?.tok == Tok::Eof {
                let t = self.bump()?;
                return Err(self.unexpected(&t, Some("}")));
            }
            if self.eat(P::Semi)? {
                continue;
            }
            let stmt = self.stmt()?;
            let blocky = matches!(stmt.kind, StmtKind::If { .. } | StmtKind::Unroll { .. });
            out.push(stmt);
            if blocky || self.eat(P::Semi)? || self.at(P::RBrace)? {
                continue;
            }
            let t = self.bump()?;
            return Err(self.unexpected(&t, Some("; or }")));
        }
        self.unnest();
        Ok(out)
    }

    fn stmt(&mut self) -> PResult<Stmt> {
        let t = self.peek()?.clone();
        match &t.tok {
            Tok::Ident(k) if k == "if" => return self.if_stmt(),
            Tok::Ident(k) if k == "unroll" => return self.unroll(),
            Tok::Ident(k) if k == "else" => return Err(self.unexpected(&t, None)),
            _ => {}
        }
        let lhs = self.expr()?;
        let op = match &self.peek()?.tok {
            Tok::Punct(P::Assign) => None,
            Tok::Punct(p) if compound_op(*p).is_some() => compound_op(*p),
            _ => {
                let span = lhs.span;
                return Ok(Stmt {
                    kind: StmtKind::Expr(lhs),
                    span,
                });
            }
        };
        let op_tok = self.bump()?;
        let target = match lhs.kind {
            ExprKind::Var(name) => LValue::Var {
                name,
                span: lhs.span,
            },
            ExprKind::Map(m) => LValue::Map(m),
            _ => return Err(self.unexpected(&op_tok, None)),
        };
        let value = self.expr()?;
        let span = lhs.span.to(value.span);
        let kind = match op {
            None => StmtKind::Assign { target, value },
            Some(op) => StmtKind::Compound { target, op, value },
        };
        Ok(Stmt { kind, span })
    }

    fn if_stmt(&mut self) -> PResult<Stmt> {
        let kw = self.bump()?;
        self.expect(P::LParen)?;
        let cond = self.expr()?;
        self.expect(P::RParen)?;
        let then = self.block()?;
        let mut span = kw.span.to(cond.span);
        let els = match &self.peek()?.tok {
            Tok::Ident(k) if k == "else" => {
                self.bump()?;
                let nested_if = matches!(&self.peek()?.tok, Tok::Ident(k) if k == "if");
                if nested_if {
                    let t = self.peek()?.span;
                    self.nest(t)?;
                    let inner = self.if_stmt()?;
                    self.unnest();
                    span = span.to(inner.span);
                    Some(vec![inner])
                } else {
                    Some(self.block()?)
                }
            }
            _ => None,
        };
        Ok(Stmt {
            kind: StmtKind::If { cond, then, els },
            span,
        })
    }

    fn unroll(&mut self) -> PResult<Stmt> {
        let kw = self.bump()?;
        self.expect(P::LParen)?;
        let t = self.bump()?;
        let Tok::Int(count) = t.tok else {
            return Err(self.unexpected(&t, Some("integer")));
        };
        self.expect(P::RParen)?;
        if count > 100 {
            return Err(Diagnostic::new(t.span, "unroll maximum value is 100"));
        }
        if count < 1 {
            return Err(Diagnostic::new(t.span, "unroll minimum value is 1"));
        }
        let saved = self.unroll_product;
        self.unroll_product = saved.saturating_mul(count);
        if self.unroll_product > MAX_UNROLL_PRODUCT {
            return Err(Diagnostic::new(
                kw.span.to(t.span),
                format!("nested unrolls would run more than {MAX_UNROLL_PRODUCT} times"),
            ));
        }
        let body = self.block();
        self.unroll_product = saved;
        Ok(Stmt {
            kind: StmtKind::Unroll { count, body: body? },
            span: kw.span.to(t.span),
        })
    }

    pub fn expr(&mut self) -> PResult<Expr> {
        let start = self.peek()?.span;
        self.nest(start)?;
        let cond = self.binary(0)?;
        let out = if self.eat(P::Question)? {
            let then = self.expr()?;
            self.expect(P::Colon)?;
            let els = self.expr()?;
            let span = cond.span.to(els.span);
            self.expr_node(
                ExprKind::Ternary {
                    cond: Box::new(cond),
                    then: Box::new(then),
                    els: Box::new(els),
                },
                span,
            )?
        } else {
            cond
        };
        self.unnest();
        Ok(out)
    }

    /// `/` followed by `{` or the end of the program closes a predicate.
    fn slash_closes_predicate(&mut self) -> PResult<bool> {
        if !self.in_predicate || !self.at(P::Slash)? {
            return Ok(false);
        }
        let end = self.peek()?.span.hi;
        Ok(matches!(
            self.lexer.byte_after_trivia(end),
            Some(b'{') | None
        ))
    }

    fn binary(&mut self, min_prec: u8) -> PResult<Expr> {
        let mut lhs = self.unary()?;
        while let Some((op, prec)) = binop(&self.peek()?.tok) {
            if prec < min_prec || self.slash_closes_predicate()? {
                break;
            }
            self.bump()?;
            let rhs = self.binary(prec + 1)?;
            let span = lhs.span.to(rhs.span);
            lhs = self.expr_node(
                ExprKind::Binary {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
                span,
            )?;
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> PResult<Expr> {
        let t = self.peek()?.clone();
        let op = match t.tok {
            Tok::Punct(P::Bang) => UnOp::Not,
            Tok::Punct(P::Tilde) => UnOp::BitNot,
            Tok::Punct(P::Minus) => UnOp::Neg,
            Tok::Punct(p @ (P::Incr | P::Decr)) => {
                self.bump()?;
                let target = self.postfix()?;
                let span = t.span.to(target.span);
                return self.incdec(target, p == P::Incr, true, span, &t);
            }
            _ => return self.postfix(),
        };
        self.bump()?;
        self.nest(t.span)?;
        let inner = self.unary()?;
        self.unnest();
        let span = t.span.to(inner.span);
        self.expr_node(
            ExprKind::Unary {
                op,
                expr: Box::new(inner),
            },
            span,
        )
    }

    fn incdec(
        &self,
        target: Expr,
        incr: bool,
        prefix: bool,
        span: Span,
        op: &Token,
    ) -> PResult<Expr> {
        let target = match target.kind {
            ExprKind::Var(name) => LValue::Var {
                name,
                span: target.span,
            },
            ExprKind::Map(m) => LValue::Map(m),
            _ => return Err(self.unexpected(op, None)),
        };
        self.expr_node(
            ExprKind::IncDec {
                target: Box::new(target),
                incr,
                prefix,
            },
            span,
        )
    }

    fn postfix(&mut self) -> PResult<Expr> {
        let mut e = self.primary()?;
        loop {
            let t = self.peek()?.clone();
            match t.tok {
                Tok::Punct(P::Arrow | P::Dot) => {
                    self.bump()?;
                    let f = self.bump()?;
                    let Tok::Ident(name) = f.tok else {
                        return Err(self.unexpected(&f, Some("identifier")));
                    };
                    let span = e.span.to(f.span);
                    e = match e.kind {
                        ExprKind::Field { base, mut path } => {
                            path.push(name);
                            self.expr_node(ExprKind::Field { base, path }, span)?
                        }
                        kind => {
                            let base = Box::new(Expr {
                                kind,
                                span: e.span,
                                depth: e.depth,
                            });
                            self.expr_node(
                                ExprKind::Field {
                                    base,
                                    path: vec![name],
                                },
                                span,
                            )?
                        }
                    };
                }
                Tok::Punct(p @ (P::Incr | P::Decr)) => {
                    self.bump()?;
                    let span = e.span.to(t.span);
                    e = self.incdec(e, p == P::Incr, false, span, &t)?;
                }
                _ => return Ok(e),
            }
        }
    }

    /// Parses `a, b, c` up to the closing `close`, with predicate mode off (a `/` inside
    /// brackets is always a division).
    fn list(&mut self, close: P) -> PResult<(Vec<Expr>, Span)> {
        let saved = std::mem::replace(&mut self.in_predicate, false);
        let result = (|| {
            let mut items = Vec::new();
            if !self.at(close)? {
                loop {
                    items.push(self.expr()?);
                    if !self.eat(P::Comma)? {
                        break;
                    }
                }
            }
            let end = self.bump()?;
            if end.tok != Tok::Punct(close) {
                let expecting = format!(", or {}", close.text());
                return Err(self.unexpected(&end, Some(&expecting)));
            }
            Ok((items, end.span))
        })();
        self.in_predicate = saved;
        result
    }

    fn primary(&mut self) -> PResult<Expr> {
        let t = self.bump()?;
        let kind = match t.tok {
            Tok::Int(v) => ExprKind::Int(v as i64),
            Tok::Str(s) => ExprKind::Str(s),
            Tok::Var(name) => ExprKind::Var(name),
            Tok::Map(name) => {
                let mut keys = Vec::new();
                let mut span = t.span;
                if self.eat(P::LBracket)? {
                    let (items, end) = self.list(P::RBracket)?;
                    if items.is_empty() {
                        return Err(self.unexpected(
                            &Token {
                                tok: Tok::Punct(P::RBracket),
                                span: end,
                            },
                            None,
                        ));
                    }
                    keys = items;
                    span = span.to(end);
                }
                ExprKind::Map(MapRef { name, keys, span })
            }
            Tok::Punct(P::LParen) => {
                let saved = std::mem::replace(&mut self.in_predicate, false);
                let inner = self.expr();
                self.in_predicate = saved;
                let inner = inner?;
                let close = self.expect(P::RParen)?;
                return Ok(Expr {
                    span: t.span.to(close.span),
                    ..inner
                });
            }
            Tok::Ident(ref name) if matches!(name.as_str(), "if" | "else" | "unroll") => {
                return Err(self.unexpected(&t, None));
            }
            Tok::Ident(name) => {
                if self.at(P::LParen)? {
                    return self.call(name, t.span);
                }
                match Builtin::from_name(&name) {
                    Some(b) => ExprKind::Builtin(b),
                    None => ExprKind::Ident(name),
                }
            }
            _ => return Err(self.unexpected(&t, None)),
        };
        self.expr_node(kind, t.span)
    }

    fn call(&mut self, name: String, name_span: Span) -> PResult<Expr> {
        self.expect(P::LParen)?;
        let (args, end) = self.list(P::RParen)?;
        let func = Func::from_name(&name);
        let format = match (func, args.first()) {
            (
                Func::Printf,
                Some(Expr {
                    kind: ExprKind::Str(s),
                    span,
                    ..
                }),
            ) => {
                Some(Format::parse(s).map_err(|m| Diagnostic::new(*span, format!("{name}: {m}")))?)
            }
            _ => None,
        };
        let span = name_span.to(end);
        self.expr_node(
            ExprKind::Call(Call {
                func,
                name,
                name_span,
                args,
                format,
            }),
            span,
        )
    }
}
