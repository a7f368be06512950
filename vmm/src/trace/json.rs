//! `--format json`: the program's output as bpftrace's `-f json` prints it, one JSON object per
//! line, `{"type": KIND, "data": DATA}`:
//!
//! ```text
//! {"type": "attached_probes", "data": {"probes": 2}}
//! {"type": "printf", "data": "sh forked 42\n"}
//! {"type": "map", "data": {"@calls": {"sh": 3, "ps": 7}}}
//! {"type": "hist", "data": {"@bytes": [{"min": 4, "max": 7, "count": 3}]}}
//! {"type": "stats", "data": {"@t": {"count": 2, "average": 3, "total": 6}}}
//! {"type": "lost_events", "data": {"events": 12}}
//! ```
//!
//! Map keys are strings (several keys joined with `,`, as bpftrace does); integer values are
//! numbers; histogram buckets carry inclusive `min`/`max` (the open-ended first and last buckets
//! only the bound they have). Entries come in the same order as the text output.

use std::fmt::Write as _;

use super::maps::{average, Lhist, Map, MapValue, Value};
use super::output::{sorted_entries, value_text, Symbolizer};

/// How the engine prints: bpftrace's text (default) or its JSON lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

impl std::str::FromStr for OutputFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(OutputFormat::Text),
            "json" => Ok(OutputFormat::Json),
            other => Err(format!(
                "unknown output format '{other}' (expected text or json)"
            )),
        }
    }
}

/// A JSON string literal (invalid UTF-8 replaced, control characters escaped).
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON string of raw bytes.
pub fn bytes(b: &[u8]) -> String {
    string(&String::from_utf8_lossy(b))
}

/// One output line: `{"type": kind, "data": data}` and a newline; `data` is already JSON.
pub fn message(kind: &str, data: &str) -> String {
    format!("{{\"type\": \"{kind}\", \"data\": {data}}}\n")
}

pub fn attached_probes(n: usize) -> String {
    message("attached_probes", &format!("{{\"probes\": {n}}}"))
}

pub fn lost_events(n: u64) -> String {
    message("lost_events", &format!("{{\"events\": {n}}}"))
}

/// A value: integers as numbers, strings and stacks as strings.
pub fn value(sym: &dyn Symbolizer, v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Str(s) => bytes(s),
        Value::Stack(_) => string(&value_text(sym, v)),
        Value::None => "null".to_string(),
    }
}

/// The buckets of a histogram, `[{"min": lo, "max": hi, "count": n}, ...]` from the first to the
/// last non-empty one.
fn buckets_json(buckets: &[u64], bounds: impl Fn(usize) -> (Option<i64>, Option<i64>)) -> String {
    let (Some(first), Some(last)) = (
        buckets.iter().position(|&c| c > 0),
        buckets.iter().rposition(|&c| c > 0),
    ) else {
        return "[]".to_string();
    };
    let items: Vec<String> = (first..=last)
        .map(|i| {
            let (lo, hi) = bounds(i);
            let mut item = String::from("{");
            if let Some(lo) = lo {
                let _ = write!(item, "\"min\": {lo}, ");
            }
            if let Some(hi) = hi {
                let _ = write!(item, "\"max\": {hi}, ");
            }
            let _ = write!(item, "\"count\": {}}}", buckets[i]);
            item
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// Inclusive bounds of log2 bucket `i` (see `maps::HIST_BUCKETS`).
fn hist_bounds(i: usize) -> (Option<i64>, Option<i64>) {
    match i {
        0 => (None, Some(-1)),
        1 => (Some(0), Some(0)),
        _ => {
            let p = (i - 2).min(62) as u32;
            let lo = 1i128 << p;
            let hi = (1i128 << (p + 1)) - 1;
            let clamp = |v: i128| i64::try_from(v).unwrap_or(i64::MAX);
            (Some(clamp(lo)), Some(clamp(hi)))
        }
    }
}

/// Inclusive bounds of linear bucket `i`.
fn lhist_bounds(p: Lhist, i: usize) -> (Option<i64>, Option<i64>) {
    let inner = p.inner_buckets();
    let at = |k: usize| {
        let v = i128::from(p.min) + i128::from(p.step) * k as i128;
        i64::try_from(v).unwrap_or(i64::MAX)
    };
    if i == 0 {
        (None, Some(p.min.saturating_sub(1)))
    } else if i == inner + 1 {
        (Some(p.max), None)
    } else {
        (Some(at(i - 1)), Some(at(i).saturating_sub(1)))
    }
}

/// Which message a map prints as.
fn kind_of(map: &Map) -> &'static str {
    match map.entries.values().next() {
        Some(MapValue::Hist(_) | MapValue::Lhist { .. }) => "hist",
        Some(MapValue::Stats { .. }) => "stats",
        _ => "map",
    }
}

/// A whole map for `print()` or the dump at exit, as one line.
pub fn map(map: &Map, top: usize, div: u64, sym: &dyn Symbolizer) -> String {
    let div = div.max(1);
    let idiv = i64::try_from(div).unwrap_or(i64::MAX);
    let entry = |v: &MapValue| -> String {
        match v {
            MapValue::Hist(b) => buckets_json(b, hist_bounds),
            MapValue::Lhist { params, buckets } => {
                buckets_json(buckets, |i| lhist_bounds(*params, i))
            }
            MapValue::Stats { count, total } => format!(
                "{{\"count\": {count}, \"average\": {}, \"total\": {total}}}",
                average(*count, *total)
            ),
            MapValue::Value(Value::Int(i)) => i.wrapping_div(idiv).to_string(),
            MapValue::Value(other) => value(sym, other),
            MapValue::Count(c) => (c / div).to_string(),
            MapValue::Sum(i) | MapValue::Min(i) | MapValue::Max(i) => {
                i.wrapping_div(idiv).to_string()
            }
            MapValue::Avg { count, total } => {
                average(*count, *total).wrapping_div(idiv).to_string()
            }
        }
    };
    let entries = sorted_entries(map, top);
    let scalar = entries.len() == 1 && entries[0].0.is_empty();
    let body = if scalar {
        entry(entries[0].1)
    } else {
        let items: Vec<String> = entries
            .iter()
            .map(|(key, v)| {
                let parts: Vec<String> = key.iter().map(|k| value_text(sym, k)).collect();
                format!("{}: {}", string(&parts.join(",")), entry(v))
            })
            .collect();
        format!("{{{}}}", items.join(", "))
    };
    message(kind_of(map), &format!("{{{}: {body}}}", string(&map.name)))
}
