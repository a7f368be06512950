//! Printing maps exactly as bpftrace's text output does (`print(@x)` and the dump at exit).
//!
//! Layout, from bpftrace's `TextOutput`:
//! - scalar and keyed values: one `@name[k1, k2]: value` line per entry (`@name: value` without
//!   keys), then an empty line;
//! - `count`, `sum`, `min`, `max`, `avg`, `stats` and integer maps sorted by value, ascending;
//!   string and stack values by key; histograms by their total count (ties: by key, so the output
//!   is deterministic where bpftrace's hash order is not);
//! - `stats`: `count N, average A, total T`;
//! - `hist()`/`lhist()`: `@name[key]: ` then one line per bucket from the first to the last
//!   non-empty one, `[lo, hi)` labels left-aligned in 16 columns, the count right-aligned in 8, and
//!   a 52-wide bar of `@` scaled to the largest bucket; an empty line after each histogram:
//!
//! ```text
//! @bytes:
//! [4, 8)                 3 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
//! [8, 16)                1 |@@@@@@@@@@@@@@@@@                                   |
//! ```
//!
//! `print(@x, top, div)`: only the last `top` entries after sorting; values divided by `div`.
//! Stack keys and values are symbolized through the caller's [`Symbolizer`].

use std::fmt::Write as _;

use super::maps::{average, Lhist, Map, MapValue, Value};

/// Resolves kernel addresses to `(symbol, offset)`; the caller implements it over the guest
/// kernel's symbol table.
pub trait Symbolizer {
    fn ksym(&self, addr: u64) -> Option<(String, u64)>;
}

/// A symbolizer that knows nothing: addresses print in hex.
pub struct NoSymbols;

impl Symbolizer for NoSymbols {
    fn ksym(&self, _addr: u64) -> Option<(String, u64)> {
        None
    }
}

/// `ksym()`: the symbol name, or the address in hex.
pub fn ksym_name(sym: &dyn Symbolizer, addr: u64) -> String {
    match sym.ksym(addr) {
        Some((name, _)) => name,
        None => format!("{addr:#x}"),
    }
}

/// A kernel stack as bpftrace prints it: a newline, then one `        symbol+offset` line per frame.
pub fn stack_text(sym: &dyn Symbolizer, frames: &[u64]) -> String {
    let mut s = String::from("\n");
    for &addr in frames {
        match sym.ksym(addr) {
            Some((name, off)) => {
                let _ = writeln!(s, "        {name}+{off}");
            }
            None => {
                let _ = writeln!(s, "        {addr:#x}");
            }
        }
    }
    s
}

/// A value as printed in a map key or value (strings raw, no quotes).
pub fn value_text(sym: &dyn Symbolizer, v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Str(s) => String::from_utf8_lossy(s).into_owned(),
        Value::Stack(frames) => stack_text(sym, frames),
        Value::None => String::new(),
    }
}

/// The order key of an entry: values for numeric maps, total count for histograms.
fn sort_key(v: &MapValue) -> Option<i128> {
    Some(match v {
        MapValue::Value(Value::Int(i)) | MapValue::Sum(i) | MapValue::Min(i) | MapValue::Max(i) => {
            i128::from(*i)
        }
        MapValue::Count(c) => i128::from(*c),
        MapValue::Avg { count, total } | MapValue::Stats { count, total } => {
            i128::from(average(*count, *total))
        }
        MapValue::Hist(b) | MapValue::Lhist { buckets: b, .. } => {
            b.iter().map(|&c| i128::from(c)).sum()
        }
        MapValue::Value(_) => return None,
    })
}

/// The entries of a map in bpftrace's print order, cut to the last `top` (0: all).
pub fn sorted_entries(map: &Map, top: usize) -> Vec<(&Vec<Value>, &MapValue)> {
    let mut entries: Vec<_> = map.entries.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    if entries.iter().all(|(_, v)| sort_key(v).is_some()) {
        entries.sort_by_key(|(_, v)| sort_key(v));
    }
    if top > 0 && entries.len() > top {
        entries.drain(..entries.len() - top);
    }
    entries
}

/// `@name[k1, k2]`, or `@name` without keys.
fn key_text(sym: &dyn Symbolizer, name: &str, key: &[Value]) -> String {
    if key.is_empty() {
        return name.to_string();
    }
    let parts: Vec<String> = key.iter().map(|k| value_text(sym, k)).collect();
    format!("{name}[{}]", parts.join(", "))
}

/// Renders a whole map for `print()` or the dump at exit.
pub fn map_text(map: &Map, top: usize, div: u64, sym: &dyn Symbolizer) -> String {
    let div = div.max(1);
    let idiv = i64::try_from(div).unwrap_or(i64::MAX);
    let mut out = String::new();
    for (key, value) in sorted_entries(map, top) {
        let k = key_text(sym, &map.name, key);
        match value {
            MapValue::Hist(buckets) => {
                let _ = writeln!(out, "{k}: ");
                out.push_str(&hist_text(buckets, div));
                out.push('\n');
            }
            MapValue::Lhist { params, buckets } => {
                let _ = writeln!(out, "{k}: ");
                out.push_str(&lhist_text(buckets, *params));
                out.push('\n');
            }
            MapValue::Stats { count, total } => {
                let avg = average(*count, *total);
                let _ = writeln!(out, "{k}: count {count}, average {avg}, total {total}");
            }
            MapValue::Value(v) => {
                let text = match v {
                    Value::Int(i) => i.wrapping_div(idiv).to_string(),
                    other => value_text(sym, other),
                };
                let _ = writeln!(out, "{k}: {text}");
            }
            MapValue::Count(c) => {
                let _ = writeln!(out, "{k}: {}", c / div);
            }
            MapValue::Sum(i) | MapValue::Min(i) | MapValue::Max(i) => {
                let _ = writeln!(out, "{k}: {}", i.wrapping_div(idiv));
            }
            MapValue::Avg { count, total } => {
                let _ = writeln!(out, "{k}: {}", average(*count, *total).wrapping_div(idiv));
            }
        }
    }
    let histogram = map
        .entries
        .values()
        .next()
        .is_some_and(|v| matches!(v, MapValue::Hist(_) | MapValue::Lhist { .. }));
    if !histogram {
        out.push('\n');
    }
    out
}

/// `1 << power` with bpftrace's binary suffixes: 1K, 2M, 4G, 8T, 16P, 1E.
fn hist_label(power: u32) -> String {
    let decade = (power / 10).min(6);
    let suffix = ["", "K", "M", "G", "T", "P", "E"][decade as usize];
    let mantissa = 1u64.checked_shl(power - 10 * decade).unwrap_or(0);
    format!("{mantissa}{suffix}")
}

/// One histogram line: `shown` is the printed count, the bar is `raw` against `max`.
fn bucket_line(out: &mut String, header: &str, shown: u64, raw: u64, max: u64) {
    const WIDTH: usize = 52;
    // bpftrace computes the bar in single precision and truncates.
    let bar = if max == 0 {
        0
    } else {
        ((raw as f32 / max as f32) * WIDTH as f32) as usize
    };
    let _ = writeln!(
        out,
        "{header:<16}{shown:>8} |{:<WIDTH$}|",
        "@".repeat(bar.min(WIDTH))
    );
}

/// The bucket lines of a log2 histogram.
pub fn hist_text(buckets: &[u64], div: u64) -> String {
    let div = div.max(1);
    let mut out = String::new();
    let (Some(first), Some(last)) = (
        buckets.iter().position(|&c| c > 0),
        buckets.iter().rposition(|&c| c > 0),
    ) else {
        return out;
    };
    let max = buckets.iter().copied().max().unwrap_or(0);
    for (i, &count) in buckets.iter().enumerate().take(last + 1).skip(first) {
        let header = match i {
            0 => "(..., 0)".to_string(),
            1 => "[0]".to_string(),
            2 => "[1]".to_string(),
            _ => {
                let p = (i - 2) as u32;
                format!("[{}, {})", hist_label(p), hist_label(p + 1))
            }
        };
        bucket_line(&mut out, &header, count / div, count, max);
    }
    out
}

/// An lhist bound: with K/M suffixes only when the step is a multiple of 1024 (bpftrace).
fn lhist_label(n: i64, step: i64) -> String {
    const KILO: i64 = 1024;
    const MEGA: i64 = 1024 * 1024;
    if step % KILO != 0 || n == 0 {
        n.to_string()
    } else if n % MEGA == 0 {
        format!("{}M", n / MEGA)
    } else if n % KILO == 0 {
        format!("{}K", n / KILO)
    } else {
        n.to_string()
    }
}

/// The bucket lines of a linear histogram.
pub fn lhist_text(buckets: &[u64], p: Lhist) -> String {
    let mut out = String::new();
    let (Some(first), Some(last)) = (
        buckets.iter().position(|&c| c > 0),
        buckets.iter().rposition(|&c| c > 0),
    ) else {
        return out;
    };
    let max = buckets.iter().copied().max().unwrap_or(0);
    let inner = p.inner_buckets();
    let bound = |i: usize| {
        let v = i128::from(p.min) + i128::from(p.step) * i as i128;
        lhist_label(i64::try_from(v).unwrap_or(i64::MAX), p.step)
    };
    for (i, &count) in buckets.iter().enumerate().take(last + 1).skip(first) {
        let header = if i == 0 {
            format!("(..., {})", lhist_label(p.min, p.step))
        } else if i == inner + 1 {
            format!("[{}, ...)", lhist_label(p.max, p.step))
        } else {
            format!("[{}, {})", bound(i - 1), bound(i))
        };
        bucket_line(&mut out, &header, count, count, max);
    }
    out
}
