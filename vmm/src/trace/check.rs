//! Semantic checks: what bpftrace's semantic analyser rejects before anything runs.
//!
//! The checker walks every probe's predicate and block once per distinct [`ProbeEnv`] (what the
//! probe offers: `args` fields, `retval`, `arg0..`), infers a [`Ty`] for every expression and
//! reports, with bpftrace's wording: unknown identifiers and functions, builtins used where the
//! probe does not provide them, unknown `args`/`curtask` fields, argument counts, `printf` format
//! and argument mismatches, aggregations not assigned to a map, and maps or variables used with
//! inconsistent key or value types.
//!
//! Map types are program-wide and probes may use a map before (in program order) the probe that
//! assigns it, so the walk runs twice: the first pass only learns map types, the second reports.
//! Types a catalog does not know (`FieldType::Unknown`, or no catalog yet when called from
//! `Program::parse`) are [`Ty::Any`], which agrees with everything; the interpreter copes with
//! whatever value the caller's `FieldSource` then returns.
//!
//! Statements, expressions, builtins, fields and map typing are here; function calls are in
//! [`calls`].

use std::collections::{HashMap, HashSet};

use super::ast::*;
use super::diag::Diagnostic;
use super::probe::{FieldInfo, FieldType};

mod calls;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ty {
    Int,
    Str,
    Stack,
    /// No value (`printf()`, `exit()`).
    None,
    /// Unknown until run time; compatible with everything.
    Any,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Int => "int64",
            Ty::Str => "string",
            Ty::Stack => "kstack",
            Ty::None => "none",
            Ty::Any => "any",
        }
    }

    /// How bpftrace's printf messages name a type.
    fn printf_name(self) -> &'static str {
        match self {
            Ty::Int => "integer",
            Ty::Str | Ty::Stack => "string",
            other => other.name(),
        }
    }

    fn unify(self, other: Ty) -> Option<Ty> {
        match (self, other) {
            (Ty::Any, t) | (t, Ty::Any) => Some(t),
            (a, b) if a == b => Some(a),
            _ => None,
        }
    }

    pub(crate) fn from_field(t: FieldType) -> Ty {
        match t {
            FieldType::Int | FieldType::Pointer => Ty::Int,
            FieldType::Str => Ty::Str,
            FieldType::Unknown => Ty::Any,
        }
    }
}

/// What a map's values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapKind {
    Value(Ty),
    Count,
    Sum,
    Avg,
    Min,
    Max,
    Stats,
    Hist,
    Lhist,
}

impl MapKind {
    fn name(self) -> &'static str {
        match self {
            MapKind::Value(t) => t.name(),
            MapKind::Count => "count_t",
            MapKind::Sum => "sum_t",
            MapKind::Avg => "avg_t",
            MapKind::Min => "min_t",
            MapKind::Max => "max_t",
            MapKind::Stats => "stats_t",
            MapKind::Hist => "hist_t",
            MapKind::Lhist => "lhist_t",
        }
    }

    fn unify(self, other: MapKind) -> Option<MapKind> {
        match (self, other) {
            (MapKind::Value(a), MapKind::Value(b)) => a.unify(b).map(MapKind::Value),
            (a, b) if a == b => Some(a),
            _ => None,
        }
    }
}

/// What `args` means in a probe.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ArgsEnv<'a> {
    /// The probe has no `args` (kprobe, interval, BEGIN, ...).
    None,
    /// Fields are not known (no catalog yet, or no DWARF): anything goes.
    Any,
    Tracepoint {
        fields: &'a [FieldInfo],
        struct_name: String,
    },
    Function(&'a [FieldInfo]),
}

/// What one probe offers to its block.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ProbeEnv<'a> {
    /// The provider, for messages (`kprobe`, `tracepoint`, `BEGIN`, ...).
    pub provider: &'static str,
    pub args: ArgsEnv<'a>,
    pub retval: Option<Ty>,
    /// `arg0`..`arg9` are available.
    pub regs: bool,
    /// `func` is available.
    pub func: bool,
}

#[derive(Default)]
struct MapInfo {
    kind: Option<MapKind>,
    keys: Option<Vec<Ty>>,
}

pub(crate) struct Checker<'a> {
    task_fields: &'a [FieldInfo],
    maps: HashMap<String, MapInfo>,
    vars: HashMap<String, Ty>,
    diags: Vec<Diagnostic>,
    reporting: bool,
}

/// Checks a program. `envs[i]` lists the distinct environments probe `i` runs in.
pub(crate) fn check(
    program: &Program,
    envs: &[Vec<ProbeEnv<'_>>],
    task_fields: &[FieldInfo],
) -> Vec<Diagnostic> {
    let mut c = Checker {
        task_fields,
        maps: HashMap::new(),
        vars: HashMap::new(),
        diags: Vec::new(),
        reporting: false,
    };
    for reporting in [false, true] {
        c.reporting = reporting;
        for (probe, envs) in program.probes.iter().zip(envs) {
            for env in envs {
                c.vars.clear();
                c.probe(probe, env);
            }
        }
    }
    let mut seen = HashSet::new();
    let mut out: Vec<Diagnostic> = c
        .diags
        .into_iter()
        .filter(|d| seen.insert((d.span, d.message.clone())))
        .collect();
    out.sort_by_key(|d| d.span.map(|s| s.lo));
    out
}

impl Checker<'_> {
    fn error(&mut self, span: Span, msg: impl Into<String>) {
        if self.reporting {
            self.diags.push(Diagnostic::new(span, msg));
        }
    }

    fn probe(&mut self, probe: &Probe, env: &ProbeEnv<'_>) {
        if let Some(pred) = &probe.predicate {
            let t = self.expr(pred, env);
            if !matches!(t, Ty::Int | Ty::Any) {
                self.error(
                    pred.span,
                    format!("Invalid type for predicate: {}", t.name()),
                );
            }
        }
        self.block(&probe.body, env);
    }

    fn block(&mut self, block: &Block, env: &ProbeEnv<'_>) {
        for stmt in block {
            self.stmt(stmt, env);
        }
    }

    fn stmt(&mut self, stmt: &Stmt, env: &ProbeEnv<'_>) {
        match &stmt.kind {
            StmtKind::Expr(e) => {
                self.expr(e, env);
            }
            StmtKind::Assign { target, value } => self.assign(target, value, env),
            StmtKind::Compound { target, op, value } => {
                let t = self.expr(value, env);
                if !matches!(t, Ty::Int | Ty::Any) {
                    self.error(
                        value.span,
                        format!(
                            "The {}= operator can not be used with a {}",
                            op.text(),
                            t.name()
                        ),
                    );
                }
                self.int_target(target, env);
            }
            StmtKind::If { cond, then, els } => {
                let t = self.expr(cond, env);
                if !matches!(t, Ty::Int | Ty::Any) {
                    self.error(
                        cond.span,
                        format!("Invalid condition in if(): {}", t.name()),
                    );
                }
                self.block(then, env);
                if let Some(els) = els {
                    self.block(els, env);
                }
            }
            StmtKind::Unroll { body, .. } => self.block(body, env),
        }
    }

    /// The target of `++`, `--` or `op=`: an integer variable or map.
    fn int_target(&mut self, target: &LValue, env: &ProbeEnv<'_>) {
        match target {
            LValue::Var { name, span } => match self.vars.get(name).copied() {
                None => self.error(*span, format!("Undefined or undeclared variable: ${name}")),
                Some(t) if t.unify(Ty::Int).is_none() => self.error(
                    *span,
                    format!("The ${name} variable holds a {}, not an integer", t.name()),
                ),
                Some(_) => {}
            },
            LValue::Map(m) => {
                self.map_keys(m, env);
                self.define_map(m, MapKind::Value(Ty::Int), m.span);
            }
        }
    }

    fn assign(&mut self, target: &LValue, value: &Expr, env: &ProbeEnv<'_>) {
        match target {
            LValue::Var { name, span } => {
                let t = self.expr(value, env);
                match self.vars.get(name).copied() {
                    Some(old) if old.unify(t).is_none() => self.error(
                        *span,
                        format!(
                            "Type mismatch for ${name}: trying to assign value of type '{}' when \
                             variable already contains a value of type '{}'",
                            t.name(),
                            old.name()
                        ),
                    ),
                    old => {
                        let t = old.and_then(|o| o.unify(t)).unwrap_or(t);
                        self.vars.insert(name.clone(), t);
                    }
                }
            }
            LValue::Map(m) => {
                self.map_keys(m, env);
                let kind = match &value.kind {
                    ExprKind::Call(c) if c.func.is_aggregation() => self.aggregation(c, env),
                    _ => MapKind::Value(self.expr(value, env)),
                };
                if kind == MapKind::Value(Ty::None) {
                    self.error(value.span, "Can not assign a value of type 'none' to a map");
                }
                self.define_map(m, kind, value.span);
            }
        }
    }

    fn define_map(&mut self, m: &MapRef, kind: MapKind, span: Span) {
        let info = self.maps.entry(m.name.clone()).or_default();
        match info.kind {
            None => info.kind = Some(kind),
            Some(old) => match old.unify(kind) {
                Some(k) => info.kind = Some(k),
                None => {
                    let msg = format!(
                        "Type mismatch for {}: trying to assign value of type '{}' when map \
                         already contains a value of type '{}'",
                        m.name,
                        kind.name(),
                        old.name()
                    );
                    self.error(span, msg);
                }
            },
        }
    }

    /// Checks the key types of a map access against earlier ones.
    fn map_keys(&mut self, m: &MapRef, env: &ProbeEnv<'_>) {
        let tys: Vec<Ty> = m.keys.iter().map(|k| self.expr(k, env)).collect();
        for (k, t) in m.keys.iter().zip(&tys) {
            if *t == Ty::None {
                self.error(k.span, "Invalid map key type: none");
            }
        }
        let info = self.maps.entry(m.name.clone()).or_default();
        match &mut info.keys {
            None => info.keys = Some(tys),
            Some(old) => {
                let same = old.len() == tys.len()
                    && old.iter().zip(&tys).all(|(a, b)| a.unify(*b).is_some());
                if same {
                    for (a, b) in old.iter_mut().zip(&tys) {
                        *a = a.unify(*b).unwrap_or(*a);
                    }
                } else {
                    let list = |v: &[Ty]| {
                        let names: Vec<&str> = v.iter().map(|t| t.name()).collect();
                        format!("[{}]", names.join(", "))
                    };
                    let msg = format!(
                        "Argument mismatch for {}: trying to access with arguments: {} when map \
                         expects arguments: {}",
                        m.name,
                        list(&tys),
                        list(old)
                    );
                    self.error(m.span, msg);
                }
            }
        }
    }

    fn expr(&mut self, e: &Expr, env: &ProbeEnv<'_>) -> Ty {
        match &e.kind {
            ExprKind::Int(_) => Ty::Int,
            ExprKind::Str(_) => Ty::Str,
            ExprKind::Builtin(b) => self.builtin(*b, e.span, env),
            ExprKind::Ident(name) => {
                self.error(e.span, format!("Unknown identifier: '{name}'"));
                Ty::Any
            }
            ExprKind::Var(name) => match self.vars.get(name) {
                Some(t) => *t,
                None => {
                    self.error(e.span, format!("Undefined or undeclared variable: ${name}"));
                    Ty::Any
                }
            },
            ExprKind::Map(m) => {
                self.map_keys(m, env);
                let kind = self.maps.get(&m.name).and_then(|i| i.kind);
                match kind {
                    None => {
                        self.error(m.span, format!("Undefined map: {}", m.name));
                        Ty::Any
                    }
                    Some(MapKind::Value(t)) => t,
                    Some(MapKind::Stats | MapKind::Hist | MapKind::Lhist) => {
                        let k = kind.map_or("", MapKind::name);
                        self.error(
                            m.span,
                            format!("Map type {k} cannot be used in an expression"),
                        );
                        Ty::Any
                    }
                    Some(_) => Ty::Int,
                }
            }
            ExprKind::Field { base, path } => self.field(base, path, e.span, env),
            ExprKind::Raw(f) => f.ty(),
            ExprKind::Unary { op, expr } => {
                let t = self.expr(expr, env);
                if !matches!(t, Ty::Int | Ty::Any) {
                    let o = match op {
                        UnOp::Not => "!",
                        UnOp::BitNot => "~",
                        UnOp::Neg => "-",
                    };
                    self.error(
                        e.span,
                        format!(
                            "The {o} operator can not be used on expressions of type '{}'",
                            t.name()
                        ),
                    );
                }
                Ty::Int
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let (l, r) = (self.expr(lhs, env), self.expr(rhs, env));
                let ok = match op {
                    BinOp::Eq | BinOp::Ne => l.unify(r).is_some_and(|t| t != Ty::None),
                    _ => l.unify(Ty::Int).is_some() && r.unify(Ty::Int).is_some(),
                };
                if !ok {
                    let msg = if op.is_comparison() && l.unify(r).is_none() {
                        format!(
                            "Type mismatch for '{}': comparing '{}' with '{}'",
                            op.text(),
                            l.name(),
                            r.name()
                        )
                    } else {
                        format!(
                            "The {} operator can not be used on expressions of types {}, {}",
                            op.text(),
                            l.name(),
                            r.name()
                        )
                    };
                    self.error(e.span, msg);
                }
                Ty::Int
            }
            ExprKind::Ternary { cond, then, els } => {
                let c = self.expr(cond, env);
                if !matches!(c, Ty::Int | Ty::Any) {
                    self.error(
                        cond.span,
                        format!("Invalid condition in ternary: {}", c.name()),
                    );
                }
                let (a, b) = (self.expr(then, env), self.expr(els, env));
                a.unify(b).unwrap_or_else(|| {
                    self.error(
                        e.span,
                        format!(
                            "Ternary operator must return the same type: have '{}' and '{}'",
                            a.name(),
                            b.name()
                        ),
                    );
                    Ty::Any
                })
            }
            ExprKind::Call(c) => self.call(c, e.span, env),
            ExprKind::IncDec { target, .. } => {
                self.int_target(target, env);
                Ty::Int
            }
        }
    }

    fn builtin(&mut self, b: Builtin, span: Span, env: &ProbeEnv<'_>) -> Ty {
        match b {
            Builtin::Pid
            | Builtin::Tid
            | Builtin::Uid
            | Builtin::Cpu
            | Builtin::Nsecs
            | Builtin::Elapsed
            | Builtin::Curtask => Ty::Int,
            Builtin::Comm | Builtin::Probe => Ty::Str,
            Builtin::Kstack => Ty::Stack,
            Builtin::Func => {
                if !env.func {
                    self.error(
                        span,
                        format!(
                            "The func builtin can not be used with '{}' probes",
                            env.provider
                        ),
                    );
                }
                Ty::Str
            }
            Builtin::Args => {
                self.error(
                    span,
                    "The args builtin can only be used with a field: args->name",
                );
                Ty::Any
            }
            Builtin::Retval => env.retval.unwrap_or_else(|| {
                self.error(
                    span,
                    format!(
                        "The retval builtin can only be used with kretfunc and kretprobe probes \
                         ({} used here)",
                        env.provider
                    ),
                );
                Ty::Any
            }),
            Builtin::Arg(n) => {
                if !env.regs {
                    self.error(
                        span,
                        format!(
                            "The arg{n} builtin can only be used with kprobe probes ({} used here)",
                            env.provider
                        ),
                    );
                }
                Ty::Int
            }
        }
    }

    fn field(&mut self, base: &Expr, path: &[String], span: Span, env: &ProbeEnv<'_>) -> Ty {
        let first = path.first().map_or("", String::as_str);
        let found: Option<FieldType> = match &base.kind {
            ExprKind::Builtin(Builtin::Args) => match &env.args {
                ArgsEnv::None => {
                    self.error(
                        base.span,
                        format!(
                            "The args builtin can only be used with tracepoint and kfunc probes \
                             ({} used here)",
                            env.provider
                        ),
                    );
                    return Ty::Any;
                }
                ArgsEnv::Any => return Ty::Any,
                ArgsEnv::Tracepoint {
                    fields,
                    struct_name,
                } => match fields.iter().find(|f| f.name == first) {
                    Some(f) => Some(f.ty),
                    None => {
                        self.error(
                            span,
                            format!(
                                "Struct/union of type '{struct_name}' does not contain a field \
                                 named '{first}'{}",
                                nearest(first, fields)
                            ),
                        );
                        return Ty::Any;
                    }
                },
                ArgsEnv::Function(args) => match args.iter().find(|f| f.name == first) {
                    Some(f) => Some(f.ty),
                    None => {
                        self.error(
                            span,
                            format!(
                                "Can't find function parameter {first}{}",
                                nearest(first, args)
                            ),
                        );
                        return Ty::Any;
                    }
                },
            },
            ExprKind::Builtin(Builtin::Curtask) if self.task_fields.is_empty() => return Ty::Any,
            ExprKind::Builtin(Builtin::Curtask) => {
                match self.task_fields.iter().find(|f| f.name == first) {
                    Some(f) => Some(f.ty),
                    None => {
                        self.error(
                            span,
                            format!(
                                "Struct/union of type 'struct task_struct' does not contain a \
                                 field named '{first}'{}",
                                nearest(first, self.task_fields)
                            ),
                        );
                        return Ty::Any;
                    }
                }
            }
            ExprKind::Builtin(Builtin::Retval) => {
                self.builtin(Builtin::Retval, base.span, env);
                return Ty::Any;
            }
            _ => {
                let t = self.expr(base, env);
                self.error(
                    span,
                    format!(
                        "Can not access field '{first}' on expression of type '{}'",
                        t.name()
                    ),
                );
                return Ty::Any;
            }
        };
        match found {
            Some(t) if path.len() == 1 => Ty::from_field(t),
            Some(FieldType::Pointer | FieldType::Unknown) => Ty::Any,
            Some(t) => {
                let t = Ty::from_field(t);
                self.error(
                    span,
                    format!(
                        "Can not access field '{}' on type '{}'",
                        path.get(1).map_or("", String::as_str),
                        t.name()
                    ),
                );
                Ty::Any
            }
            None => Ty::Any,
        }
    }
}

/// ` (did you mean X?)` for the field closest to a misspelt `name`.
fn nearest(name: &str, fields: &[FieldInfo]) -> String {
    crate::trace::probe::did_you_mean(name, fields.iter().map(|f| f.name.clone()))
}
