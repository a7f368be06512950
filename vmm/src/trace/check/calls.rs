//! Checks of function calls: argument counts and types for `printf` (against its format),
//! `print`, `clear`/`zero`/`delete`, `exit`, `str`, `ksym`, `time`, `strncmp`, and the map
//! aggregations with `lhist()`'s literal parameters (bpftrace's limits: `0 <= min < max`,
//! `step >= 1`, at most 1000 buckets).

use super::{Checker, MapKind, ProbeEnv, Ty};
use crate::trace::ast::*;

fn plural_args(n: usize) -> String {
    match n {
        0 => "no arguments".into(),
        1 => "one argument".into(),
        n => format!("{n} arguments"),
    }
}

impl Checker<'_> {
    /// The kind of an aggregation assigned to a map, checking its arguments.
    pub(super) fn aggregation(&mut self, c: &Call, env: &ProbeEnv<'_>) -> MapKind {
        let (kind, nargs) = match c.func {
            Func::Count => (MapKind::Count, 0),
            Func::Sum => (MapKind::Sum, 1),
            Func::Avg => (MapKind::Avg, 1),
            Func::Min => (MapKind::Min, 1),
            Func::Max => (MapKind::Max, 1),
            Func::Stats => (MapKind::Stats, 1),
            Func::Hist => (MapKind::Hist, 1),
            _ => (MapKind::Lhist, 4),
        };
        if !self.nargs(c, nargs, nargs) {
            return kind;
        }
        if let Some(v) = c.args.first() {
            let t = self.expr(v, env);
            if !matches!(t, Ty::Int | Ty::Any) {
                self.error(
                    v.span,
                    format!(
                        "{}() only supports integer arguments ({} provided)",
                        c.name,
                        t.name()
                    ),
                );
            }
        }
        if kind == MapKind::Lhist {
            self.lhist_params(c);
        }
        kind
    }

    fn lhist_params(&mut self, c: &Call) {
        let mut vals = [0i64; 3];
        for (i, what) in ["min", "max", "step"].iter().enumerate() {
            let arg = &c.args[i + 1];
            match arg.literal_int() {
                Some(v) => vals[i] = v,
                None => {
                    self.error(
                        arg.span,
                        format!("lhist: invalid {what} value (must be a literal)"),
                    );
                    return;
                }
            }
        }
        let [min, max, step] = vals;
        let span = c.name_span;
        if min < 0 {
            self.error(
                span,
                format!("lhist() min must be non-negative (provided min {min})"),
            );
        } else if step < 1 {
            self.error(span, format!("lhist() step must be >= 1 ({step} provided)"));
        } else if max <= min {
            self.error(
                span,
                format!("lhist() max must be greater than min (provided min {min} and max {max})"),
            );
        } else {
            let buckets = (i128::from(max) - i128::from(min)) / i128::from(step);
            if buckets > 1000 {
                self.error(
                    span,
                    format!("lhist() too many buckets, must be <= 1000 (would need {buckets})"),
                );
            }
        }
    }

    /// Checks the argument count; false if it is wrong.
    pub(super) fn nargs(&mut self, c: &Call, min: usize, max: usize) -> bool {
        let n = c.args.len();
        let msg = if min == max && n != min {
            format!("{}() requires {} ({n} provided)", c.name, plural_args(min))
        } else if n < min {
            let s = if min == 1 { "" } else { "s" };
            format!(
                "{}() requires at least {min} argument{s} ({n} provided)",
                c.name
            )
        } else if n > max {
            format!("{}() can take up to {max} arguments ({n} provided)", c.name)
        } else {
            return true;
        };
        self.error(c.name_span, msg);
        false
    }

    /// A map given to `print`/`clear`/`zero`/`delete`, which must exist.
    fn whole_map(&mut self, arg: Option<&Expr>, c: &Call, keyed_ok: bool, env: &ProbeEnv<'_>) {
        let Some(Expr {
            kind: ExprKind::Map(m),
            ..
        }) = arg
        else {
            self.error(
                c.name_span,
                format!("{}() expects a map to be provided", c.name),
            );
            return;
        };
        if !m.keys.is_empty() {
            if !keyed_ok {
                self.error(
                    m.span,
                    format!(
                        "The map passed to {}() should not be indexed by a key",
                        c.name
                    ),
                );
            }
            self.map_keys(m, env);
        }
        if self.maps.get(&m.name).is_none_or(|i| i.kind.is_none()) {
            self.error(m.span, format!("Undefined map: {}", m.name));
        }
    }

    pub(super) fn call(&mut self, c: &Call, span: Span, env: &ProbeEnv<'_>) -> Ty {
        match c.func {
            f if f.is_aggregation() => {
                self.error(
                    span,
                    format!("{}() should be directly assigned to a map", c.name),
                );
                for a in &c.args {
                    self.expr(a, env);
                }
                Ty::Any
            }
            Func::Printf => {
                if !self.nargs(c, 1, usize::MAX) {
                    return Ty::None;
                }
                let tys: Vec<Ty> = c.args[1..].iter().map(|a| self.expr(a, env)).collect();
                let Some(format) = &c.format else {
                    self.error(
                        c.args[0].span,
                        "printf() expects a string literal as the first argument",
                    );
                    return Ty::None;
                };
                let specs: Vec<_> = format.specs().collect();
                if tys.len() != specs.len() {
                    let which = if tys.len() < specs.len() {
                        "Not enough"
                    } else {
                        "Too many"
                    };
                    self.error(
                        span,
                        format!(
                            "printf: {which} arguments for format string ({} supplied, {} expected)",
                            tys.len(),
                            specs.len()
                        ),
                    );
                    return Ty::None;
                }
                for (spec, t) in specs.iter().zip(&tys) {
                    let ok = match t {
                        Ty::Any => true,
                        Ty::Int => spec.wants_int(),
                        Ty::Str | Ty::Stack => !spec.wants_int(),
                        Ty::None => false,
                    };
                    if !ok {
                        let want = if spec.wants_int() {
                            "integer"
                        } else {
                            "string"
                        };
                        self.error(
                            span,
                            format!(
                                "printf: %{} specifier expects a value of type {want} ({} supplied)",
                                spec.token,
                                t.printf_name()
                            ),
                        );
                    }
                }
                Ty::None
            }
            Func::Print => {
                if self.nargs(c, 1, 3) {
                    match &c.args[0].kind {
                        ExprKind::Map(m) if m.keys.is_empty() => {
                            self.whole_map(c.args.first(), c, false, env)
                        }
                        _ => {
                            self.expr(&c.args[0], env);
                        }
                    }
                    for a in &c.args[1..] {
                        if self.expr(a, env).unify(Ty::Int).is_none() {
                            self.error(a.span, "print() top and div arguments must be integers");
                        }
                    }
                }
                Ty::None
            }
            Func::Clear | Func::Zero | Func::Delete => {
                if self.nargs(c, 1, 1) {
                    self.whole_map(c.args.first(), c, c.func == Func::Delete, env);
                }
                Ty::None
            }
            Func::Exit => {
                if self.nargs(c, 0, 1) {
                    self.int_args(c, env);
                }
                Ty::None
            }
            Func::Str => {
                if self.nargs(c, 1, 2) {
                    self.expr(&c.args[0], env);
                    if let Some(n) = c.args.get(1) {
                        if self.expr(n, env).unify(Ty::Int).is_none() {
                            self.error(n.span, "str() length must be an integer");
                        }
                    }
                }
                Ty::Str
            }
            Func::Ksym => {
                if self.nargs(c, 1, 1) {
                    self.int_args(c, env);
                }
                Ty::Str
            }
            Func::Time => {
                if self.nargs(c, 0, 1) {
                    if let Some(a) = c.args.first() {
                        if !matches!(a.kind, ExprKind::Str(_)) {
                            self.error(a.span, "time() expects a string literal as the argument");
                        }
                    }
                }
                Ty::None
            }
            Func::Strncmp => {
                if self.nargs(c, 3, 3) {
                    for a in &c.args[..2] {
                        let t = self.expr(a, env);
                        if t.unify(Ty::Str).is_none() {
                            self.error(
                                a.span,
                                format!(
                                    "strncmp() expects string arguments ({} provided)",
                                    t.name()
                                ),
                            );
                        }
                    }
                    if c.args[2].literal_int().is_none_or(|n| n < 0) {
                        self.error(
                            c.args[2].span,
                            "strncmp() expects a non-negative integer literal as the length",
                        );
                    }
                }
                Ty::Int
            }
            _ => {
                self.error(c.name_span, format!("Unknown function: '{}'", c.name));
                for a in &c.args {
                    self.expr(a, env);
                }
                Ty::Any
            }
        }
    }

    fn int_args(&mut self, c: &Call, env: &ProbeEnv<'_>) {
        for a in &c.args {
            let t = self.expr(a, env);
            if t.unify(Ty::Int).is_none() {
                self.error(
                    a.span,
                    format!(
                        "{}() expects an integer argument ({} provided)",
                        c.name,
                        t.name()
                    ),
                );
            }
        }
    }
}
