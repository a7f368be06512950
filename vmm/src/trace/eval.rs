//! The interpreter: runs a probe's predicate and block for one event.
//!
//! It walks the checked syntax tree directly. Scratch variables live for one event; maps live in
//! [`Maps`]. Field reads (`args->x`, `curtask->comm`, `retval`, `arg0`) and stacks go through the
//! caller's [`FieldSource`], symbols through its [`Symbolizer`]: the interpreter never touches
//! guest memory. Output (`printf`, `print`, `time`) goes to the engine's sink.
//!
//! Integer semantics are BPF's, on 64 bits: arithmetic wraps, `x / 0` is 0 and `x % 0` is `x`,
//! shifts use the low 6 bits of the count and `>>` is logical (traced values are mostly unsigned),
//! comparisons are signed. Nothing here can panic on any value the guest or the program produces.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, Write};

use super::ast::*;
use super::format::{strftime, Arg, WallTime};
use super::json::{self, OutputFormat};
use super::maps::{cap_str, AggOp, Lhist, Map, Maps, Str, Value, STRLEN};
use super::output::{ksym_name, map_text, stack_text, value_text, Symbolizer};
use super::{FieldRoot, FieldSource};

/// Deepest kernel stack kept (bpftrace's default `perf_max_stack`).
pub const MAX_STACK: usize = 127;
/// Longest command name (the kernel's `TASK_COMM_LEN` less the NUL).
pub const COMM_LEN: usize = 15;

/// What the builtins of one event evaluate to.
pub(crate) struct Context<'a> {
    pub probe_name: &'a str,
    pub func: &'a str,
    pub cpu: u32,
    pub pid: u32,
    pub tid: u32,
    pub uid: u32,
    pub comm: &'a [u8],
    pub nsecs: u64,
    pub elapsed: u64,
    pub fields: &'a dyn FieldSource,
}

/// Buffers the engine keeps from one event to the next, so that the common statements
/// (`@[comm] = count()`, `printf(...)`) allocate nothing per event.
#[derive(Default)]
pub(crate) struct Scratch {
    /// A map key being built.
    key: Vec<Value>,
    /// `printf`'s argument values, their formatter views and the text.
    values: Vec<Value>,
    args: Vec<Arg<'static>>,
    text: Vec<u8>,
}

/// An empty vector for `Arg`s of another lifetime, reusing `v`'s allocation (the element
/// types have the same layout, so the standard library collects in place).
fn reuse<'b>(mut v: Vec<Arg<'_>>) -> Vec<Arg<'b>> {
    v.clear();
    v.into_iter().map(|_| Arg::Int(0)).collect()
}

/// The interpreter state borrowed from the engine for one event.
pub(crate) struct Interp<'a, W: Write> {
    pub maps: &'a mut Maps,
    pub out: &'a mut W,
    pub sym: &'a dyn Symbolizer,
    pub clock: &'a dyn Fn() -> WallTime,
    pub vars: &'a mut HashMap<String, Value>,
    pub scratch: &'a mut Scratch,
    pub format: OutputFormat,
    /// Set by `exit()`.
    pub exit: bool,
}

impl<W: Write> Interp<'_, W> {
    /// Runs one probe: the predicate, then the block if it holds.
    pub fn run(&mut self, probe: &Probe, ctx: &Context<'_>) -> io::Result<()> {
        // Variables start undefined (0) in every run; keeping the names saves allocations.
        for v in self.vars.values_mut() {
            *v = Value::Int(0);
        }
        if let Some(pred) = &probe.predicate {
            if !self.eval(pred, ctx)?.truthy() {
                return Ok(());
            }
        }
        self.block(&probe.body, ctx)
    }

    fn block(&mut self, block: &Block, ctx: &Context<'_>) -> io::Result<()> {
        for stmt in block {
            if self.exit {
                break;
            }
            self.stmt(stmt, ctx)?;
        }
        Ok(())
    }

    fn stmt(&mut self, stmt: &Stmt, ctx: &Context<'_>) -> io::Result<()> {
        match &stmt.kind {
            StmtKind::Expr(e) => {
                self.eval(e, ctx)?;
            }
            StmtKind::Assign {
                target: LValue::Var { name, .. },
                value,
            } => {
                let v = self.eval(value, ctx)?;
                self.vars.insert(name.clone(), v);
            }
            StmtKind::Assign {
                target: LValue::Map(m),
                value,
            } => {
                // The common `@[k] = count()`: a single key, built on the stack.
                if let ([k], ExprKind::Call(c)) = (m.keys.as_slice(), &value.kind) {
                    if c.func.is_aggregation() {
                        let key = self.eval(k, ctx)?;
                        let op = self.agg_op(c, ctx)?;
                        self.maps.aggregate(&m.name, std::slice::from_ref(&key), op);
                        return Ok(());
                    }
                }
                let key = self.keys(m, ctx)?;
                match &value.kind {
                    ExprKind::Call(c) if c.func.is_aggregation() => {
                        let op = self.agg_op(c, ctx)?;
                        self.maps.aggregate(&m.name, &key, op);
                    }
                    _ => {
                        let v = self.eval(value, ctx)?;
                        self.maps.set(&m.name, &key, v);
                    }
                }
                self.give_back(key);
            }
            StmtKind::Compound { target, op, value } => {
                let rhs = self.eval(value, ctx)?.as_int();
                let key = self.lvalue_key(target, ctx)?;
                let old = self.load(target, &key).as_int();
                self.store(target, &key, Value::Int(arith(*op, old, rhs)));
                self.give_back(key);
            }
            StmtKind::If { cond, then, els } => {
                if self.eval(cond, ctx)?.truthy() {
                    self.block(then, ctx)?;
                } else if let Some(els) = els {
                    self.block(els, ctx)?;
                }
            }
            StmtKind::Unroll { count, body } => {
                for _ in 0..*count {
                    if self.exit {
                        break;
                    }
                    self.block(body, ctx)?;
                }
            }
        }
        Ok(())
    }

    /// A map's key, built in the scratch buffer (hand it back with `give_back`; a key built
    /// while another is, as in `@a[@b[x]]`, gets a buffer of its own).
    fn keys(&mut self, m: &MapRef, ctx: &Context<'_>) -> io::Result<Vec<Value>> {
        let mut key = std::mem::take(&mut self.scratch.key);
        key.clear();
        for k in &m.keys {
            let v = self.eval(k, ctx)?;
            key.push(v);
        }
        Ok(key)
    }

    fn give_back(&mut self, key: Vec<Value>) {
        if key.capacity() > self.scratch.key.capacity() {
            self.scratch.key = key;
        }
    }

    /// The key of a map target (empty for a variable).
    fn lvalue_key(&mut self, target: &LValue, ctx: &Context<'_>) -> io::Result<Vec<Value>> {
        match target {
            LValue::Var { .. } => Ok(Vec::new()),
            LValue::Map(m) => self.keys(m, ctx),
        }
    }

    fn load(&self, target: &LValue, key: &[Value]) -> Value {
        match target {
            LValue::Var { name, .. } => self.vars.get(name).cloned().unwrap_or(Value::Int(0)),
            LValue::Map(m) => self.read_map(&m.name, key),
        }
    }

    fn store(&mut self, target: &LValue, key: &[Value], v: Value) {
        match target {
            LValue::Var { name, .. } => {
                self.vars.insert(name.clone(), v);
            }
            LValue::Map(m) => self.maps.set(&m.name, key, v),
        }
    }

    /// A map read: the entry's value, or the zero of the map's kind for a missing key.
    fn read_map(&self, name: &str, key: &[Value]) -> Value {
        if let Some(v) = self.maps.lookup(name, key) {
            return v.read();
        }
        match self.maps.get(name).and_then(|m| m.entries.values().next()) {
            Some(other) => match other.read() {
                Value::Str(_) => Value::Str(Str::default()),
                Value::Stack(_) => Value::Stack(Vec::new()),
                _ => Value::Int(0),
            },
            None => Value::Int(0),
        }
    }

    fn agg_op(&mut self, c: &Call, ctx: &Context<'_>) -> io::Result<AggOp> {
        let v = match c.args.first() {
            Some(a) => self.eval(a, ctx)?.as_int(),
            None => 0,
        };
        let lit = |i: usize| c.args.get(i).and_then(Expr::literal_int).unwrap_or(0);
        Ok(match c.func {
            Func::Sum => AggOp::Sum(v),
            Func::Avg => AggOp::Avg(v),
            Func::Min => AggOp::Min(v),
            Func::Max => AggOp::Max(v),
            Func::Stats => AggOp::Stats(v),
            Func::Hist => AggOp::Hist(v),
            Func::Lhist => {
                let (min, step) = (lit(1), lit(3).max(1));
                let max = lit(2).max(min.saturating_add(1));
                AggOp::Lhist(v, Lhist { min, max, step })
            }
            _ => AggOp::Count,
        })
    }

    pub fn eval(&mut self, e: &Expr, ctx: &Context<'_>) -> io::Result<Value> {
        Ok(match &e.kind {
            ExprKind::Int(v) => Value::Int(*v),
            ExprKind::Str(s) => Value::string(s),
            ExprKind::Builtin(b) => builtin(*b, ctx),
            ExprKind::Ident(_) => Value::Int(0),
            ExprKind::Var(name) => self.vars.get(name).cloned().unwrap_or(Value::Int(0)),
            ExprKind::Map(m) => {
                let key = self.keys(m, ctx)?;
                let v = self.read_map(&m.name, &key);
                self.give_back(key);
                v
            }
            ExprKind::Raw(f) => f.read(ctx.fields.raw()).unwrap_or(Value::Int(0)),
            ExprKind::Field { base, path } => {
                let root = match base.kind {
                    ExprKind::Builtin(Builtin::Args) => FieldRoot::Args,
                    ExprKind::Builtin(Builtin::Curtask) => FieldRoot::Curtask,
                    ExprKind::Builtin(Builtin::Retval) => FieldRoot::Retval,
                    _ => return Ok(Value::Int(0)),
                };
                field(ctx, root, path)
            }
            ExprKind::Unary { op, expr } => {
                let v = self.eval(expr, ctx)?;
                Value::Int(match op {
                    UnOp::Not => i64::from(!v.truthy()),
                    UnOp::BitNot => !v.as_int(),
                    UnOp::Neg => v.as_int().wrapping_neg(),
                })
            }
            ExprKind::Binary { op, lhs, rhs } => match op {
                BinOp::And => {
                    let l = self.eval(lhs, ctx)?.truthy();
                    Value::Int(i64::from(l && self.eval(rhs, ctx)?.truthy()))
                }
                BinOp::Or => {
                    let l = self.eval(lhs, ctx)?.truthy();
                    Value::Int(i64::from(l || self.eval(rhs, ctx)?.truthy()))
                }
                _ => {
                    let l = self.eval(lhs, ctx)?;
                    let r = self.eval(rhs, ctx)?;
                    Value::Int(binary(*op, &l, &r))
                }
            },
            ExprKind::Ternary { cond, then, els } => {
                if self.eval(cond, ctx)?.truthy() {
                    self.eval(then, ctx)?
                } else {
                    self.eval(els, ctx)?
                }
            }
            ExprKind::Call(c) => self.call(c, ctx)?,
            ExprKind::IncDec {
                target,
                incr,
                prefix,
            } => {
                let key = self.lvalue_key(target, ctx)?;
                let old = self.load(target, &key).as_int();
                let new = if *incr {
                    old.wrapping_add(1)
                } else {
                    old.wrapping_sub(1)
                };
                self.store(target, &key, Value::Int(new));
                self.give_back(key);
                Value::Int(if *prefix { new } else { old })
            }
        })
    }

    fn to_arg<'v>(sym: &dyn Symbolizer, v: &'v Value) -> Arg<'v> {
        match v {
            Value::Int(i) => Arg::Int(*i),
            Value::Str(s) => Arg::Bytes(Cow::Borrowed(s.as_bytes())),
            Value::Stack(frames) => Arg::Bytes(Cow::Owned(stack_text(sym, frames).into_bytes())),
            Value::None => Arg::Int(0),
        }
    }

    fn call(&mut self, c: &Call, ctx: &Context<'_>) -> io::Result<Value> {
        match c.func {
            Func::Printf => {
                let Some(format) = &c.format else {
                    return Ok(Value::None);
                };
                // In the scratch buffers (an argument that itself prints, as `printf` inside
                // a `printf`'s argument cannot, would just allocate its own).
                let mut vals = std::mem::take(&mut self.scratch.values);
                vals.clear();
                for a in c.args.iter().skip(1) {
                    let v = self.eval(a, ctx)?;
                    vals.push(v);
                }
                let mut args = reuse(std::mem::take(&mut self.scratch.args));
                args.extend(vals.iter().map(|v| Self::to_arg(self.sym, v)));
                let mut text = std::mem::take(&mut self.scratch.text);
                text.clear();
                format.render(&args, &mut text);
                let result = self.emit("printf", &text);
                self.scratch.args = reuse(args);
                self.scratch.values = vals;
                self.scratch.text = text;
                result?;
            }
            Func::Print => self.print(c, ctx)?,
            Func::Clear | Func::Zero | Func::Delete => {
                if let Some(Expr {
                    kind: ExprKind::Map(m),
                    ..
                }) = c.args.first()
                {
                    match c.func {
                        Func::Clear => self.maps.clear(&m.name),
                        Func::Zero => self.maps.zero(&m.name),
                        _ => {
                            let key = self.keys(m, ctx)?;
                            self.maps.delete(&m.name, &key);
                        }
                    }
                }
            }
            Func::Exit => self.exit = true,
            Func::Str => {
                let max = match c.args.get(1) {
                    Some(n) => {
                        usize::try_from(self.eval(n, ctx)?.as_int().max(1)).unwrap_or(STRLEN)
                    }
                    None => STRLEN,
                }
                .min(STRLEN);
                return Ok(match c.args.first() {
                    Some(a) => match self.eval(a, ctx)? {
                        Value::Str(s) => Value::Str(Str::new(cap_str(&s, max - 1))),
                        Value::Int(addr) => {
                            let bytes = ctx.fields.read_str(addr as u64, max).unwrap_or_default();
                            Value::Str(Str::new(cap_str(&bytes, max - 1)))
                        }
                        other => other,
                    },
                    None => Value::Str(Str::default()),
                });
            }
            Func::Ksym => {
                let addr = match c.args.first() {
                    Some(a) => self.eval(a, ctx)?.as_int() as u64,
                    None => 0,
                };
                return Ok(Value::string(ksym_name(self.sym, addr).as_bytes()));
            }
            Func::Time => {
                let fmt: &[u8] = match c.args.first().map(|a| &a.kind) {
                    Some(ExprKind::Str(s)) => s,
                    _ => b"%H:%M:%S\n",
                };
                let text = strftime(fmt, (self.clock)());
                self.emit("time", &text)?;
            }
            Func::Strncmp => {
                let (Some(a), Some(b), Some(n)) = (c.args.first(), c.args.get(1), c.args.get(2))
                else {
                    return Ok(Value::Int(1));
                };
                let n = usize::try_from(n.literal_int().unwrap_or(0)).unwrap_or(0);
                let (Value::Str(a), Value::Str(b)) = (self.eval(a, ctx)?, self.eval(b, ctx)?)
                else {
                    return Ok(Value::Int(1));
                };
                let (a, b) = (&a[..a.len().min(n)], &b[..b.len().min(n)]);
                return Ok(Value::Int(i64::from(a != b)));
            }
            _ => {}
        }
        Ok(Value::None)
    }

    fn print(&mut self, c: &Call, ctx: &Context<'_>) -> io::Result<()> {
        let Some(first) = c.args.first() else {
            return Ok(());
        };
        let num = |i: usize, this: &mut Self| -> io::Result<i64> {
            match c.args.get(i) {
                Some(a) => Ok(this.eval(a, ctx)?.as_int()),
                None => Ok(0),
            }
        };
        let top = usize::try_from(num(1, self)?.max(0)).unwrap_or(0);
        let div = u64::try_from(num(2, self)?.max(1)).unwrap_or(1);
        let text = match &first.kind {
            ExprKind::Map(m) if m.keys.is_empty() => {
                let empty;
                let map = match self.maps.get(&m.name) {
                    Some(map) => map,
                    None => {
                        empty = Map {
                            name: m.name.clone(),
                            entries: Default::default(),
                        };
                        &empty
                    }
                };
                match self.format {
                    OutputFormat::Text => map_text(map, top, div, self.sym),
                    OutputFormat::Json => json::map(map, top, div, self.sym),
                }
            }
            _ => {
                let v = self.eval(first, ctx)?;
                match self.format {
                    OutputFormat::Text => format!("{}\n", value_text(self.sym, &v)),
                    OutputFormat::Json => json::message("value", &json::value(self.sym, &v)),
                }
            }
        };
        self.out.write_all(text.as_bytes())
    }

    /// Output of `printf()` or `time()`: as is, or as a JSON message of `kind`.
    fn emit(&mut self, kind: &str, text: &[u8]) -> io::Result<()> {
        match self.format {
            OutputFormat::Text => self.out.write_all(text),
            OutputFormat::Json => self
                .out
                .write_all(json::message(kind, &json::bytes(text)).as_bytes()),
        }
    }
}

fn builtin(b: Builtin, ctx: &Context<'_>) -> Value {
    match b {
        Builtin::Pid => Value::Int(i64::from(ctx.pid)),
        Builtin::Tid => Value::Int(i64::from(ctx.tid)),
        Builtin::Uid => Value::Int(i64::from(ctx.uid)),
        Builtin::Cpu => Value::Int(i64::from(ctx.cpu)),
        Builtin::Comm => Value::Str(Str::new(cap_str(ctx.comm, COMM_LEN))),
        Builtin::Nsecs => Value::Int(ctx.nsecs as i64),
        Builtin::Elapsed => Value::Int(ctx.elapsed as i64),
        Builtin::Probe => Value::string(ctx.probe_name.as_bytes()),
        Builtin::Func => Value::string(ctx.func.as_bytes()),
        Builtin::Kstack => {
            let mut frames = ctx.fields.kstack().unwrap_or_default();
            frames.truncate(MAX_STACK);
            Value::Stack(frames)
        }
        Builtin::Curtask => field(ctx, FieldRoot::Curtask, &[]),
        Builtin::Retval => field(ctx, FieldRoot::Retval, &[]),
        Builtin::Arg(n) => field(ctx, FieldRoot::Arg(n), &[]),
        Builtin::Args => Value::Int(0),
    }
}

/// A field from the caller, normalized: strings capped, anything odd read as 0.
fn field(ctx: &Context<'_>, root: FieldRoot, path: &[String]) -> Value {
    match ctx.fields.field(root, path) {
        Some(Value::Str(mut s)) => {
            let len = cap_str(&s, STRLEN - 1).len();
            s.truncate(len);
            Value::Str(s)
        }
        Some(v @ Value::Int(_)) => v,
        Some(Value::Stack(mut frames)) => {
            frames.truncate(MAX_STACK);
            Value::Stack(frames)
        }
        Some(Value::None) | None => Value::Int(0),
    }
}

/// Integer arithmetic with BPF's semantics.
pub(crate) fn arith(op: BinOp, l: i64, r: i64) -> i64 {
    match op {
        BinOp::Add => l.wrapping_add(r),
        BinOp::Sub => l.wrapping_sub(r),
        BinOp::Mul => l.wrapping_mul(r),
        BinOp::Div => {
            if r == 0 {
                0
            } else {
                l.wrapping_div(r)
            }
        }
        BinOp::Mod => {
            if r == 0 {
                l
            } else {
                l.wrapping_rem(r)
            }
        }
        BinOp::BitAnd => l & r,
        BinOp::BitOr => l | r,
        BinOp::BitXor => l ^ r,
        BinOp::Shl => l.wrapping_shl(r as u32 & 63),
        BinOp::Shr => ((l as u64) >> (r as u32 & 63)) as i64,
        BinOp::And => i64::from(l != 0 && r != 0),
        BinOp::Or => i64::from(l != 0 || r != 0),
        BinOp::Eq => i64::from(l == r),
        BinOp::Ne => i64::from(l != r),
        BinOp::Lt => i64::from(l < r),
        BinOp::Le => i64::from(l <= r),
        BinOp::Gt => i64::from(l > r),
        BinOp::Ge => i64::from(l >= r),
    }
}

fn binary(op: BinOp, l: &Value, r: &Value) -> i64 {
    match (op, l, r) {
        (BinOp::Eq, a, b) if !matches!((a, b), (Value::Int(_), Value::Int(_))) => i64::from(a == b),
        (BinOp::Ne, a, b) if !matches!((a, b), (Value::Int(_), Value::Int(_))) => i64::from(a != b),
        _ => arith(op, l.as_int(), r.as_int()),
    }
}
