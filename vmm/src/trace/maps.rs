//! Values and bpftrace maps: what the interpreter computes and what it accumulates.
//!
//! A [`Value`] is a 64-bit integer, a byte string (capped at [`STRLEN`] like bpftrace's default
//! `BPFTRACE_MAX_STRLEN`, and held inline: a string costs no allocation per event), a kernel
//! stack, or nothing (the result of `printf()`).
//!
//! A [`Map`] holds entries keyed by a tuple of values (empty for `@x`), each a [`MapValue`]: a
//! plain value (`@x = 5`) or an aggregation state (`count()`, `sum()`, `avg()`, `min()`, `max()`,
//! `stats()`, `hist()` with bpftrace's log2 buckets, `lhist()` with linear buckets).
//! [`Maps`] holds them all by name, in name order (the order bpftrace prints them at exit).
//!
//! Like bpftrace's `max_map_keys`, a map holds at most [`Maps::max_keys`] entries: updates that
//! would add more are dropped and counted ([`Maps::dropped`]), so hostile keys cannot grow the
//! host's memory without bound. Arithmetic wraps (two's complement, 64 bits), as in BPF.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

/// Longest string, including bpftrace's terminating NUL: strings hold at most `STRLEN - 1` bytes.
pub const STRLEN: usize = 64;
/// Default cap on the entries of one map (bpftrace's `max_map_keys`).
pub const MAX_MAP_KEYS: usize = 4096;
/// log2 histogram buckets: negative, zero, then `[2^k, 2^(k+1))` for k = 0..=62.
pub const HIST_BUCKETS: usize = 65;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Value {
    Int(i64),
    Str(Str),
    /// Kernel return addresses, innermost first.
    Stack(Vec<u64>),
    None,
}

impl Value {
    /// A string value: cut at the first NUL and capped at `STRLEN - 1` bytes.
    #[inline]
    pub fn string(bytes: &[u8]) -> Value {
        Value::Str(Str::new(cap_str(bytes, STRLEN - 1)))
    }

    pub fn as_int(&self) -> i64 {
        match self {
            Value::Int(v) => *v,
            _ => 0,
        }
    }

    pub fn truthy(&self) -> bool {
        match self {
            Value::Int(v) => *v != 0,
            Value::Str(s) => !s.is_empty(),
            Value::Stack(s) => !s.is_empty(),
            Value::None => false,
        }
    }
}

/// A string of at most `STRLEN - 1` bytes, stored inline (a map key or a `comm` costs no
/// allocation); it compares, orders and hashes as its bytes. The bytes past `len` are always
/// zero, so that equality is one fixed-size compare.
#[derive(Clone, Copy)]
pub struct Str {
    len: u8,
    bytes: [u8; STRLEN - 1],
}

impl Str {
    /// The first `STRLEN - 1` bytes of `bytes` (NULs included: see [`Value::string`]).
    #[inline]
    pub fn new(bytes: &[u8]) -> Str {
        let mut s = Str::default();
        let n = bytes.len().min(STRLEN - 1);
        s.bytes[..n].copy_from_slice(&bytes[..n]);
        s.len = n as u8;
        s
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Keeps at most the first `n` bytes.
    pub fn truncate(&mut self, n: usize) {
        self.len = self.len.min(u8::try_from(n).unwrap_or(u8::MAX));
        self.bytes[usize::from(self.len)..].fill(0);
    }
}

impl Default for Str {
    fn default() -> Self {
        Str {
            len: 0,
            bytes: [0; STRLEN - 1],
        }
    }
}

impl std::ops::Deref for Str {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl From<&[u8]> for Str {
    fn from(bytes: &[u8]) -> Str {
        Str::new(bytes)
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Str) -> bool {
        // Past `len` both are zero: only the strings' own bytes need comparing (a comm is a
        // few bytes of the 63), and a short one compares as one 16-byte word, not a memcmp.
        if self.len != other.len {
            return false;
        }
        if self.len <= 16 {
            return head16(&self.bytes) == head16(&other.bytes);
        }
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Str {}

#[inline]
fn head16(bytes: &[u8; STRLEN - 1]) -> u128 {
    let mut b = [0u8; 16];
    b.copy_from_slice(&bytes[..16]);
    u128::from_ne_bytes(b)
}

impl std::hash::Hash for Str {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PartialOrd for Str {
    fn partial_cmp(&self, other: &Str) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Str {
    fn cmp(&self, other: &Str) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl std::fmt::Debug for Str {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// `bytes` up to the first NUL, at most `max` bytes.
pub fn cap_str(bytes: &[u8], max: usize) -> &[u8] {
    let end = bytes
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(bytes.len())
        .min(max);
    &bytes[..end]
}

/// One map entry's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapValue {
    Value(Value),
    Count(u64),
    Sum(i64),
    Avg { count: u64, total: i64 },
    Min(i64),
    Max(i64),
    Stats { count: u64, total: i64 },
    Hist(Vec<u64>),
    Lhist { params: Lhist, buckets: Vec<u64> },
}

/// `lhist(v, min, max, step)` parameters (checked: `0 <= min < max`, `step >= 1`, at most 1000
/// buckets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lhist {
    pub min: i64,
    pub max: i64,
    pub step: i64,
}

impl Lhist {
    /// Buckets between min and max, not counting the two open-ended ones.
    pub fn inner_buckets(&self) -> usize {
        let n = (i128::from(self.max) - i128::from(self.min)) / i128::from(self.step.max(1));
        usize::try_from(n).unwrap_or(0).min(100_000)
    }

    /// bpftrace's bucket: 0 below min, `1 + (v - min) / step` inside, the last one from max on.
    pub fn index(&self, v: i64) -> usize {
        let last = self.inner_buckets() + 1;
        if v < self.min {
            0
        } else if v >= self.max {
            last
        } else {
            let i = (i128::from(v) - i128::from(self.min)) / i128::from(self.step.max(1));
            (usize::try_from(i).unwrap_or(last) + 1).min(last)
        }
    }
}

/// The log2 bucket of `v`: 0 for negatives, 1 for zero, `2 + floor(log2 v)` otherwise.
pub fn hist_index(v: i64) -> usize {
    if v < 0 {
        0
    } else if v == 0 {
        1
    } else {
        2 + (63 - v.leading_zeros()) as usize
    }
}

/// One aggregation update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggOp {
    Count,
    Sum(i64),
    Avg(i64),
    Min(i64),
    Max(i64),
    Stats(i64),
    Hist(i64),
    Lhist(i64, Lhist),
}

impl AggOp {
    fn fresh(self) -> MapValue {
        match self {
            AggOp::Count => MapValue::Count(0),
            AggOp::Sum(_) => MapValue::Sum(0),
            AggOp::Avg(_) => MapValue::Avg { count: 0, total: 0 },
            AggOp::Min(v) => MapValue::Min(v),
            AggOp::Max(v) => MapValue::Max(v),
            AggOp::Stats(_) => MapValue::Stats { count: 0, total: 0 },
            AggOp::Hist(_) => MapValue::Hist(vec![0; HIST_BUCKETS]),
            AggOp::Lhist(_, params) => MapValue::Lhist {
                params,
                buckets: vec![0; params.inner_buckets() + 2],
            },
        }
    }
}

impl MapValue {
    /// Applies an update; a value of another kind is replaced by a fresh state first.
    fn apply(&mut self, op: AggOp) {
        match (&mut *self, op) {
            (MapValue::Count(c), AggOp::Count) => *c = c.wrapping_add(1),
            (MapValue::Sum(s), AggOp::Sum(v)) => *s = s.wrapping_add(v),
            (MapValue::Avg { count, total }, AggOp::Avg(v))
            | (MapValue::Stats { count, total }, AggOp::Stats(v)) => {
                *count = count.wrapping_add(1);
                *total = total.wrapping_add(v);
            }
            (MapValue::Min(m), AggOp::Min(v)) => *m = (*m).min(v),
            (MapValue::Max(m), AggOp::Max(v)) => *m = (*m).max(v),
            (MapValue::Hist(b), AggOp::Hist(v)) if b.len() == HIST_BUCKETS => {
                b[hist_index(v)] += 1;
            }
            (MapValue::Lhist { params, buckets }, AggOp::Lhist(v, p)) if *params == p => {
                if let Some(slot) = buckets.get_mut(p.index(v)) {
                    *slot += 1;
                }
            }
            _ => {
                *self = op.fresh();
                self.apply(op);
            }
        }
    }

    /// The value when the map is read in an expression.
    pub fn read(&self) -> Value {
        match self {
            MapValue::Value(v) => v.clone(),
            MapValue::Count(c) => Value::Int(*c as i64),
            MapValue::Sum(v) | MapValue::Min(v) | MapValue::Max(v) => Value::Int(*v),
            MapValue::Avg { count, total } | MapValue::Stats { count, total } => {
                Value::Int(average(*count, *total))
            }
            MapValue::Hist(_) | MapValue::Lhist { .. } => Value::Int(0),
        }
    }

    /// The zero state `zero()` leaves behind.
    fn zeroed(&self) -> MapValue {
        match self {
            MapValue::Value(Value::Int(_)) => MapValue::Value(Value::Int(0)),
            MapValue::Value(Value::Str(_)) => MapValue::Value(Value::Str(Str::default())),
            MapValue::Value(_) => MapValue::Value(Value::None),
            MapValue::Count(_) => MapValue::Count(0),
            MapValue::Sum(_) => MapValue::Sum(0),
            MapValue::Min(_) => MapValue::Min(0),
            MapValue::Max(_) => MapValue::Max(0),
            MapValue::Avg { .. } => MapValue::Avg { count: 0, total: 0 },
            MapValue::Stats { .. } => MapValue::Stats { count: 0, total: 0 },
            MapValue::Hist(b) => MapValue::Hist(vec![0; b.len()]),
            MapValue::Lhist { params, buckets } => MapValue::Lhist {
                params: *params,
                buckets: vec![0; buckets.len()],
            },
        }
    }
}

/// `total / count` with bpftrace's integer division, 0 when empty.
pub fn average(count: u64, total: i64) -> i64 {
    if count == 0 {
        0
    } else {
        total.wrapping_div(i64::try_from(count).unwrap_or(i64::MAX))
    }
}

/// One map.
#[derive(Debug, Clone, Default)]
pub struct Map {
    pub name: String,
    /// Fx-hashed: a map update is the hot path of a trace session, and the key count is capped
    /// (`max_map_keys`), which bounds what colliding keys from a hostile guest can cost.
    pub entries: FxHashMap<Vec<Value>, MapValue>,
}

/// All maps of a running program, by name.
#[derive(Debug, Clone)]
pub struct Maps {
    maps: BTreeMap<String, Map>,
    max_keys: usize,
    dropped: u64,
}

impl Default for Maps {
    fn default() -> Self {
        Maps {
            maps: BTreeMap::new(),
            max_keys: MAX_MAP_KEYS,
            dropped: 0,
        }
    }
}

impl Maps {
    pub fn max_keys(&self) -> usize {
        self.max_keys
    }

    pub fn set_max_keys(&mut self, n: usize) {
        self.max_keys = n.max(1);
    }

    /// Updates dropped because a map was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn get(&self, name: &str) -> Option<&Map> {
        self.maps.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Map> {
        self.maps.values()
    }

    pub fn lookup(&self, name: &str, key: &[Value]) -> Option<&MapValue> {
        self.maps.get(name)?.entries.get(key)
    }

    /// Runs `update` on the entry for `key`, created with `init` if absent and the map has
    /// room. An existing entry costs one hash lookup and no allocation.
    fn update(
        &mut self,
        name: &str,
        key: &[Value],
        init: impl FnOnce() -> MapValue,
        update: impl FnOnce(&mut MapValue),
    ) {
        let map = match self.maps.get_mut(name) {
            Some(map) => map,
            None => self.maps.entry(name.to_string()).or_insert_with(|| Map {
                name: name.to_string(),
                entries: FxHashMap::default(),
            }),
        };
        if let Some(slot) = map.entries.get_mut(key) {
            update(slot);
            return;
        }
        if map.entries.len() >= self.max_keys {
            self.dropped += 1;
            return;
        }
        let mut slot = init();
        update(&mut slot);
        map.entries.insert(key.to_vec(), slot);
    }

    pub fn set(&mut self, name: &str, key: &[Value], value: Value) {
        self.update(
            name,
            key,
            || MapValue::Value(Value::None),
            |slot| *slot = MapValue::Value(value),
        );
    }

    pub fn aggregate(&mut self, name: &str, key: &[Value], op: AggOp) {
        self.update(name, key, || op.fresh(), |slot| slot.apply(op));
    }

    pub fn delete(&mut self, name: &str, key: &[Value]) {
        if let Some(map) = self.maps.get_mut(name) {
            map.entries.remove(key);
        }
    }

    /// `clear(@x)`: removes every entry.
    pub fn clear(&mut self, name: &str) {
        if let Some(map) = self.maps.get_mut(name) {
            map.entries.clear();
        }
    }

    /// `zero(@x)`: keeps the keys, resets the values.
    pub fn zero(&mut self, name: &str) {
        if let Some(map) = self.maps.get_mut(name) {
            for v in map.entries.values_mut() {
                *v = v.zeroed();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_compare_as_their_bytes() {
        let s = |b: &[u8]| Str::new(b);
        assert_eq!(s(b"kworker"), s(b"kworker"));
        assert_ne!(s(b"kworker"), s(b"kworkes"));
        assert_ne!(s(b"kwork"), s(b"kworker"));
        // Short (one 16-byte word) and long (the bytes) paths, a difference at either end.
        let long = [b'a'; 40];
        let mut other = long;
        assert_eq!(s(&long), s(&other));
        other[39] = b'b';
        assert_ne!(s(&long), s(&other));
        other[39] = b'a';
        other[0] = b'b';
        assert_ne!(s(&long), s(&other));
        assert_ne!(s(&[b'x'; 16]), s(&[b'x'; 17]));
        let mut t = s(b"abcdefghijklmnopqrstu");
        t.truncate(3);
        assert_eq!(t, s(b"abc"));
    }
}
