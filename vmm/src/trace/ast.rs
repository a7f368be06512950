//! The syntax tree of a bpftrace program, as the parser builds it and the checker and the
//! interpreter walk it.
//!
//! A [`Program`] is a list of [`Probe`]s; each has one or more attach points (already parsed into
//! a [`ProbeSpec`], wildcards still unexpanded), an optional predicate and a block of statements.
//! Names the language knows are resolved by the parser: builtins become [`Builtin`] and calls
//! become [`Func`]; unknown names are kept as text for the checker to report. `printf` and
//! `time` format strings are parsed once, by the parser, into a [`Format`].
//!
//! Every node carries a [`Span`] (byte offsets into the source) for diagnostics.

use super::compile::RawField;
use super::format::Format;
use super::probe::ProbeSpec;

/// A half-open byte range `lo..hi` of the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub lo: usize,
    pub hi: usize,
}

impl Span {
    pub fn new(lo: usize, hi: usize) -> Self {
        Span { lo, hi }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.lo.min(other.lo), self.hi.max(other.hi))
    }
}

#[derive(Debug, Clone)]
pub struct Program {
    pub probes: Vec<Probe>,
}

impl Program {
    /// Whether any probe reads builtin `b` (the transport then asks the guest for what it
    /// needs, such as stacks for `kstack`).
    pub fn uses_builtin(&self, b: Builtin) -> bool {
        self.probes
            .iter()
            .any(|p| p.predicate.as_ref().is_some_and(|e| e.uses(b)) || block_uses(&p.body, b))
    }
}

fn block_uses(block: &Block, b: Builtin) -> bool {
    block.iter().any(|s| match &s.kind {
        StmtKind::Expr(e) => e.uses(b),
        StmtKind::Assign { target, value } | StmtKind::Compound { target, value, .. } => {
            target.uses(b) || value.uses(b)
        }
        StmtKind::If { cond, then, els } => {
            cond.uses(b) || block_uses(then, b) || els.as_ref().is_some_and(|e| block_uses(e, b))
        }
        StmtKind::Unroll { body, .. } => block_uses(body, b),
    })
}

impl LValue {
    fn uses(&self, b: Builtin) -> bool {
        match self {
            LValue::Var { .. } => false,
            LValue::Map(m) => m.keys.iter().any(|k| k.uses(b)),
        }
    }
}

impl Expr {
    fn uses(&self, b: Builtin) -> bool {
        match &self.kind {
            ExprKind::Builtin(x) => *x == b,
            ExprKind::Int(_)
            | ExprKind::Str(_)
            | ExprKind::Ident(_)
            | ExprKind::Var(_)
            | ExprKind::Raw(_) => false,
            ExprKind::Map(m) => m.keys.iter().any(|k| k.uses(b)),
            ExprKind::Field { base, .. } => base.uses(b),
            ExprKind::Unary { expr, .. } => expr.uses(b),
            ExprKind::Binary { lhs, rhs, .. } => lhs.uses(b) || rhs.uses(b),
            ExprKind::Ternary { cond, then, els } => cond.uses(b) || then.uses(b) || els.uses(b),
            ExprKind::Call(c) => c.args.iter().any(|a| a.uses(b)),
            ExprKind::IncDec { target, .. } => target.uses(b),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Probe {
    pub attach_points: Vec<AttachPoint>,
    pub predicate: Option<Expr>,
    pub body: Block,
    pub span: Span,
}

/// One attach point as written (`kfunc:vfs_*`) and what it says.
#[derive(Debug, Clone)]
pub struct AttachPoint {
    pub raw: String,
    pub spec: ProbeSpec,
    pub span: Span,
}

pub type Block = Vec<Stmt>;

#[derive(Debug, Clone)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum StmtKind {
    /// An expression evaluated for its effect: a call, `@x++`.
    Expr(Expr),
    /// `$x = e` or `@x[k] = e` (including `@x[k] = count()` and the other aggregations).
    Assign {
        target: LValue,
        value: Expr,
    },
    /// `$x += e`, `@x <<= e`, ...
    Compound {
        target: LValue,
        op: BinOp,
        value: Expr,
    },
    If {
        cond: Expr,
        then: Block,
        els: Option<Block>,
    },
    Unroll {
        count: u64,
        body: Block,
    },
}

/// Something that can be assigned to.
#[derive(Debug, Clone)]
pub enum LValue {
    Var { name: String, span: Span },
    Map(MapRef),
}

impl LValue {
    pub fn span(&self) -> Span {
        match self {
            LValue::Var { span, .. } => *span,
            LValue::Map(m) => m.span,
        }
    }
}

/// `@name` or `@name[k1, k2]`. The name keeps its `@`; the anonymous map is `@`.
#[derive(Debug, Clone)]
pub struct MapRef {
    pub name: String,
    pub keys: Vec<Expr>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
    /// Height of this subtree (a leaf is 1); the parser bounds it so that the recursive checker
    /// and interpreter cannot run out of stack on hostile input.
    pub depth: u32,
}

impl Expr {
    pub fn new(kind: ExprKind, span: Span) -> Expr {
        let keys = |m: &MapRef| m.keys.iter().map(|k| k.depth).max().unwrap_or(0);
        let below = match &kind {
            ExprKind::Int(_)
            | ExprKind::Str(_)
            | ExprKind::Builtin(_)
            | ExprKind::Ident(_)
            | ExprKind::Var(_)
            | ExprKind::Raw(_) => 0,
            ExprKind::Map(m) => keys(m),
            ExprKind::Field { base, .. } => base.depth,
            ExprKind::Unary { expr, .. } => expr.depth,
            ExprKind::Binary { lhs, rhs, .. } => lhs.depth.max(rhs.depth),
            ExprKind::Ternary { cond, then, els } => cond.depth.max(then.depth).max(els.depth),
            ExprKind::Call(c) => c.args.iter().map(|a| a.depth).max().unwrap_or(0),
            ExprKind::IncDec { target, .. } => match &**target {
                LValue::Map(m) => keys(m),
                LValue::Var { .. } => 0,
            },
        };
        Expr {
            kind,
            span,
            depth: below + 1,
        }
    }

    /// The value of an integer literal, or of a negated one (`-5`).
    pub fn literal_int(&self) -> Option<i64> {
        match &self.kind {
            ExprKind::Int(v) => Some(*v),
            ExprKind::Unary {
                op: UnOp::Neg,
                expr,
            } => match expr.kind {
                ExprKind::Int(v) => Some(v.wrapping_neg()),
                _ => None,
            },
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub enum ExprKind {
    /// An integer literal: the 64-bit pattern (literals above `i64::MAX` wrap, as in bpftrace).
    Int(i64),
    Str(Vec<u8>),
    Builtin(Builtin),
    /// An identifier the language does not know (reported by the checker).
    Ident(String),
    Var(String),
    Map(MapRef),
    /// `base->a->b` or `base.a.b`, the chain folded into one path.
    Field {
        base: Box<Expr>,
        path: Vec<String>,
    },
    /// A field the transport located in the event's record when the program was attached
    /// (`compile::specialize`; never made by the parser).
    Raw(RawField),
    Unary {
        op: UnOp,
        expr: Box<Expr>,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Ternary {
        cond: Box<Expr>,
        then: Box<Expr>,
        els: Box<Expr>,
    },
    Call(Call),
    /// `@x++`, `--$y`: the value is the old one for postfix, the new one for prefix.
    IncDec {
        target: Box<LValue>,
        incr: bool,
        prefix: bool,
    },
}

#[derive(Debug, Clone)]
pub struct Call {
    pub func: Func,
    pub name: String,
    pub name_span: Span,
    pub args: Vec<Expr>,
    /// The parsed format of `printf`/`time` when its first argument is a string literal.
    pub format: Option<Format>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    Not,
    BitNot,
    Neg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    BitAnd,
    BitOr,
    BitXor,
    Shl,
    Shr,
    And,
    Or,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl BinOp {
    pub fn text(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::BitAnd => "&",
            BinOp::BitOr => "|",
            BinOp::BitXor => "^",
            BinOp::Shl => "<<",
            BinOp::Shr => ">>",
            BinOp::And => "&&",
            BinOp::Or => "||",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
        }
    }

    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge
        )
    }
}

/// The builtin variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    Pid,
    Tid,
    Uid,
    Cpu,
    Comm,
    Nsecs,
    Elapsed,
    Curtask,
    Args,
    Retval,
    Probe,
    Func,
    Kstack,
    /// `arg0` .. `arg9`: raw function arguments of a kprobe.
    Arg(u8),
}

impl Builtin {
    pub fn from_name(name: &str) -> Option<Builtin> {
        Some(match name {
            "pid" => Builtin::Pid,
            "tid" => Builtin::Tid,
            "uid" => Builtin::Uid,
            "cpu" => Builtin::Cpu,
            "comm" => Builtin::Comm,
            "nsecs" => Builtin::Nsecs,
            "elapsed" => Builtin::Elapsed,
            "curtask" => Builtin::Curtask,
            "args" => Builtin::Args,
            "retval" => Builtin::Retval,
            "probe" => Builtin::Probe,
            "func" => Builtin::Func,
            "kstack" => Builtin::Kstack,
            _ => {
                let n = name.strip_prefix("arg")?;
                if n.len() != 1 {
                    return None;
                }
                Builtin::Arg(n.parse().ok()?)
            }
        })
    }
}

/// The functions the language knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Printf,
    Print,
    Clear,
    Zero,
    Delete,
    Exit,
    Str,
    Ksym,
    Time,
    Strncmp,
    Count,
    Sum,
    Avg,
    Min,
    Max,
    Hist,
    Lhist,
    Stats,
    Unknown,
}

impl Func {
    pub fn from_name(name: &str) -> Func {
        match name {
            "printf" => Func::Printf,
            "print" => Func::Print,
            "clear" => Func::Clear,
            "zero" => Func::Zero,
            "delete" => Func::Delete,
            "exit" => Func::Exit,
            "str" => Func::Str,
            "ksym" => Func::Ksym,
            "time" => Func::Time,
            "strncmp" => Func::Strncmp,
            "count" => Func::Count,
            "sum" => Func::Sum,
            "avg" => Func::Avg,
            "min" => Func::Min,
            "max" => Func::Max,
            "hist" => Func::Hist,
            "lhist" => Func::Lhist,
            "stats" => Func::Stats,
            _ => Func::Unknown,
        }
    }

    /// Map aggregations, valid only as the value assigned to a map.
    pub fn is_aggregation(self) -> bool {
        matches!(
            self,
            Func::Count
                | Func::Sum
                | Func::Avg
                | Func::Min
                | Func::Max
                | Func::Hist
                | Func::Lhist
                | Func::Stats
        )
    }
}
