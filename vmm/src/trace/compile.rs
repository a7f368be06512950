//! Probes specialized once, when the program is attached, for the drain's hot path: the
//! transport locates each field a probe reads in its event's record ([`FieldResolver`]), and
//! [`specialize`] rewrites the probe's syntax tree so that an event reads those fields straight
//! from the record's bytes ([`RawField`], `ExprKind::Raw`) instead of asking the
//! [`FieldSource`](super::FieldSource) for them by name. Predicates then run on the raw record
//! too. Fields the transport cannot place (followed pointers, DWARF-named function arguments)
//! stay as they were and are read through the `FieldSource` per event.

use super::ast::*;
use super::check::Ty;
use super::maps::Value;
use super::{AttachedProbe, FieldRoot};

/// How a record field's bytes read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawKind {
    /// A little-endian integer of the field's size, sign-extended.
    Signed,
    /// A little-endian integer of the field's size (also kernel addresses).
    Unsigned,
    /// A NUL-padded char array.
    Chars,
    /// Linux's `__data_loc char[]`: a u32 holding `offset << 16 | len` of a string in the
    /// record (offset from the start of the record's bytes).
    DataLoc,
}

/// A field at a fixed place in every record of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawField {
    pub offset: usize,
    pub size: usize,
    pub kind: RawKind,
}

impl RawField {
    /// The field's value in `record`; `None` if the record doesn't hold it (too short, or a
    /// `__data_loc` pointing outside). Strings are cut at their NUL and capped like any value.
    #[inline]
    pub fn read(&self, record: &[u8]) -> Option<Value> {
        let raw = record.get(self.offset..self.offset.checked_add(self.size)?)?;
        let mut le = [0u8; 8];
        let n = raw.len().min(8);
        le[..n].copy_from_slice(&raw[..n]);
        let unsigned = u64::from_le_bytes(le);
        Some(match self.kind {
            RawKind::Signed => {
                // Sign-extend from the field's width (a zero-width field reads 0).
                let shift = (64 - 8 * n as u32) & 63;
                Value::Int(if n == 0 {
                    0
                } else {
                    ((unsigned << shift) as i64) >> shift
                })
            }
            RawKind::Unsigned => Value::Int(unsigned as i64),
            RawKind::Chars => Value::string(raw),
            RawKind::DataLoc => {
                let (offset, len) = (
                    (unsigned >> 16) as usize & 0xffff,
                    unsigned as usize & 0xffff,
                );
                Value::string(record.get(offset..offset + len)?)
            }
        })
    }

    pub(crate) fn ty(&self) -> Ty {
        match self.kind {
            RawKind::Signed | RawKind::Unsigned => Ty::Int,
            RawKind::Chars | RawKind::DataLoc => Ty::Str,
        }
    }
}

/// Where the transport finds a field of one probe's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    /// At a fixed place in the record ([`FieldSource::raw`](super::FieldSource::raw)).
    Raw(RawField),
    /// It is one of the event's builtins (`curtask->pid` is `tid`).
    Builtin(Builtin),
}

/// The transport's knowledge of its events' layouts, asked once per field and probe when the
/// program is attached.
pub trait FieldResolver {
    fn resolve(&self, probe: &AttachedProbe, root: FieldRoot, path: &[String]) -> Option<Resolved>;
}

/// Rewrites the fields of `block` (one of `probe`'s blocks) that `resolver` can place.
pub(crate) fn specialize(block: &mut Probe, probe: &AttachedProbe, resolver: &dyn FieldResolver) {
    let mut s = Specializer { probe, resolver };
    if let Some(p) = &mut block.predicate {
        s.expr(p);
    }
    s.block(&mut block.body);
}

struct Specializer<'a> {
    probe: &'a AttachedProbe,
    resolver: &'a dyn FieldResolver,
}

impl Specializer<'_> {
    fn block(&mut self, block: &mut Block) {
        for stmt in block {
            match &mut stmt.kind {
                StmtKind::Expr(e) => self.expr(e),
                StmtKind::Assign { target, value } | StmtKind::Compound { target, value, .. } => {
                    self.lvalue(target);
                    self.expr(value);
                }
                StmtKind::If { cond, then, els } => {
                    self.expr(cond);
                    self.block(then);
                    if let Some(els) = els {
                        self.block(els);
                    }
                }
                StmtKind::Unroll { body, .. } => self.block(body),
            }
        }
    }

    fn lvalue(&mut self, target: &mut LValue) {
        if let LValue::Map(m) = target {
            self.map(m);
        }
    }

    fn map(&mut self, m: &mut MapRef) {
        for k in &mut m.keys {
            self.expr(k);
        }
    }

    /// The field `e` reads, if it is one: its root and path.
    fn field_of(e: &Expr) -> Option<(FieldRoot, &[String])> {
        match &e.kind {
            ExprKind::Field { base, path } => {
                let root = match base.kind {
                    ExprKind::Builtin(Builtin::Args) => FieldRoot::Args,
                    ExprKind::Builtin(Builtin::Curtask) => FieldRoot::Curtask,
                    ExprKind::Builtin(Builtin::Retval) => FieldRoot::Retval,
                    _ => return None,
                };
                Some((root, path))
            }
            ExprKind::Builtin(Builtin::Retval) => Some((FieldRoot::Retval, &[])),
            ExprKind::Builtin(Builtin::Arg(n)) => Some((FieldRoot::Arg(*n), &[])),
            _ => None,
        }
    }

    fn expr(&mut self, e: &mut Expr) {
        if let Some((root, path)) = Self::field_of(e) {
            match self.resolver.resolve(self.probe, root, path) {
                Some(Resolved::Raw(f)) => e.kind = ExprKind::Raw(f),
                Some(Resolved::Builtin(b)) => e.kind = ExprKind::Builtin(b),
                None => {}
            }
            return;
        }
        match &mut e.kind {
            ExprKind::Int(_)
            | ExprKind::Str(_)
            | ExprKind::Builtin(_)
            | ExprKind::Ident(_)
            | ExprKind::Var(_)
            | ExprKind::Raw(_)
            | ExprKind::Field { .. } => {}
            ExprKind::Map(m) => self.map(m),
            ExprKind::Unary { expr, .. } => self.expr(expr),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.expr(lhs);
                self.expr(rhs);
            }
            ExprKind::Ternary { cond, then, els } => {
                self.expr(cond);
                self.expr(then);
                self.expr(els);
            }
            ExprKind::Call(c) => {
                for a in &mut c.args {
                    self.expr(a);
                }
            }
            ExprKind::IncDec { target, .. } => self.lvalue(target),
        }
    }
}
