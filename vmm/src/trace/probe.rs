//! Probe specs: parsing an attach point, and expanding its wildcards against what the guest offers.
//!
//! An attach point is `provider:arg[:arg]`. The providers and their aliases are bpftrace's:
//! `BEGIN`, `END`, `tracepoint`/`t` (`category:event`), `kfunc`/`fentry`/`f`,
//! `kretfunc`/`fexit`/`fr`, `kprobe`/`k`, `kretprobe`/`kr` (a function name, optionally preceded
//! by the `vmlinux` module) and `interval`/`i` (`s|ms|us|hz:N`, or the newer `1s`, `100ms`).
//! Function and tracepoint names may hold the wildcards `*` (any run) and `?` (one character).
//!
//! Parsing ([`ProbeSpec::parse`]) needs nothing but the text. Expansion (`expand`) needs the
//! [`ProbeCatalog`] the caller builds from the guest kernel (its tracepoints with their fields, its
//! traceable functions with DWARF argument names): a pattern matching nothing is an error, an exact
//! name that does not exist too. Matching is [`glob_match`], linear in practice and never
//! exponential (one backtrack point, as in the classic wildcard algorithm).

/// The type of a tracepoint field, function argument or task field, as far as the engine cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    Int,
    Str,
    /// A pointer: an integer that can be followed with `->` (the caller resolves the path).
    Pointer,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldInfo {
    pub name: String,
    pub ty: FieldType,
}

impl FieldInfo {
    pub fn new(name: impl Into<String>, ty: FieldType) -> Self {
        FieldInfo {
            name: name.into(),
            ty,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracepointInfo {
    pub category: String,
    pub event: String,
    pub fields: Vec<FieldInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionInfo {
    pub name: String,
    /// The arguments, if the kernel's DWARF names them; `None` lets any `args->x` through.
    pub args: Option<Vec<FieldInfo>>,
    pub retval: FieldType,
}

/// What the guest kernel offers to trace. Built by the caller; the engine never looks at guest
/// memory or the kernel ELF itself.
#[derive(Debug, Clone, Default)]
pub struct ProbeCatalog {
    pub tracepoints: Vec<TracepointInfo>,
    pub functions: Vec<FunctionInfo>,
    /// Fields of `curtask` (the guest's `task_struct`); empty lets any `curtask->x` through.
    pub task_fields: Vec<FieldInfo>,
}

/// Which of the four function probe flavours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FunctionProbe {
    Kfunc,
    Kretfunc,
    Kprobe,
    Kretprobe,
}

impl FunctionProbe {
    /// The probe runs at function return (`retval` is available).
    pub fn is_return(self) -> bool {
        matches!(self, FunctionProbe::Kretfunc | FunctionProbe::Kretprobe)
    }

    /// The probe sees named arguments (`args->x`) rather than registers (`arg0`).
    pub fn has_named_args(self) -> bool {
        matches!(self, FunctionProbe::Kfunc | FunctionProbe::Kretfunc)
    }
}

/// A parsed attach point, wildcards unexpanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeSpec {
    Begin,
    End,
    Tracepoint {
        category: String,
        event: String,
    },
    Function {
        kind: FunctionProbe,
        /// The provider as the user named it, aliases resolved (`kfunc` or `fentry`, ...).
        provider: &'static str,
        name: String,
    },
    Interval {
        period_ns: u64,
        /// Canonical text, e.g. `interval:s:1`.
        name: String,
    },
}

/// A concrete probe after expansion.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    Begin,
    End,
    Tracepoint {
        category: String,
        event: String,
    },
    Function {
        kind: FunctionProbe,
        function: String,
    },
    Interval {
        period_ns: u64,
    },
}

/// Where in the catalog an expanded probe's argument schema lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CatalogRef {
    None,
    Tracepoint(usize),
    Function(usize),
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?'])
}

impl ProbeSpec {
    /// Parses one attach point. Errors are bpftrace's messages, without location.
    pub fn parse(raw: &str) -> Result<ProbeSpec, String> {
        let parts: Vec<&str> = raw.split(':').collect();
        let provider = parts[0];
        let nargs = parts.len() - 1;
        let need = |n: usize, what: &str| -> Result<(), String> {
            if nargs == n {
                Ok(())
            } else {
                Err(format!(
                    "{what} probe type requires {n} argument{}",
                    plural(n)
                ))
            }
        };
        let (kind, name): (FunctionProbe, &'static str) = match provider {
            "BEGIN" | "begin" | "END" | "end" => {
                need(0, provider)?;
                return Ok(if provider.eq_ignore_ascii_case("BEGIN") {
                    ProbeSpec::Begin
                } else {
                    ProbeSpec::End
                });
            }
            "tracepoint" | "t" => {
                need(2, "tracepoint")?;
                let (category, event) = (parts[1], parts[2]);
                if category.is_empty() || event.is_empty() {
                    return Err("tracepoint probe must have a target".into());
                }
                check_name(category)?;
                check_name(event)?;
                return Ok(ProbeSpec::Tracepoint {
                    category: category.into(),
                    event: event.into(),
                });
            }
            "interval" | "i" => return parse_interval(&parts[1..]),
            "kfunc" => (FunctionProbe::Kfunc, "kfunc"),
            "fentry" | "f" => (FunctionProbe::Kfunc, "fentry"),
            "kretfunc" => (FunctionProbe::Kretfunc, "kretfunc"),
            "fexit" | "fr" => (FunctionProbe::Kretfunc, "fexit"),
            "kprobe" | "k" => (FunctionProbe::Kprobe, "kprobe"),
            "kretprobe" | "kr" => (FunctionProbe::Kretprobe, "kretprobe"),
            _ => return Err(format!("Unrecognized probe type: {provider}")),
        };
        // `kfunc:vmlinux:name` names the module explicitly; the guest kernel is the only one.
        let func = match parts[1..] {
            [f] => f,
            ["vmlinux", f] => f,
            _ => return Err(format!("{name} probe type requires 1 argument")),
        };
        if func.is_empty() {
            return Err(format!("{name} probe must have a function name"));
        }
        if func.contains('+') {
            return Err("Offset not allowed".into());
        }
        check_name(func)?;
        Ok(ProbeSpec::Function {
            kind,
            provider: name,
            name: func.into(),
        })
    }

    /// True if expansion needs the catalog's list (a wildcard or a name to look up).
    pub fn has_wildcard(&self) -> bool {
        match self {
            ProbeSpec::Tracepoint { category, event } => {
                has_wildcard(category) || has_wildcard(event)
            }
            ProbeSpec::Function { name, .. } => has_wildcard(name),
            _ => false,
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn check_name(name: &str) -> Result<(), String> {
    match name
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '*' | '?' | '.')))
    {
        Some(c) => Err(format!("Invalid character '{c}' in probe name: {name}")),
        None => Ok(()),
    }
}

fn parse_interval(args: &[&str]) -> Result<ProbeSpec, String> {
    let (unit, count) = match args {
        [unit, count] => (*unit, *count),
        // The newer single-argument form: `interval:1s`, `interval:100ms`.
        [spec] => {
            let digits = spec.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || digits == spec.len() {
                return Err("interval probe type requires 2 arguments".into());
            }
            (&spec[digits..], &spec[..digits])
        }
        _ => return Err("interval probe type requires 2 arguments".into()),
    };
    if unit.is_empty() {
        return Err("interval probe must have unit of time".into());
    }
    let per_unit: u64 = match unit {
        "s" => 1_000_000_000,
        "ms" => 1_000_000,
        "us" => 1_000,
        "hz" => 0,
        _ => return Err(format!("{unit} is not an accepted unit of time")),
    };
    let n: u64 = match count.parse() {
        Ok(n) => n,
        Err(_) if count.is_empty() => {
            return Err("interval probe must have an integer frequency".into())
        }
        Err(_) => return Err(format!("Failed to parse '{count}'")),
    };
    if n == 0 {
        return Err("interval frequency should be a positive integer".into());
    }
    let period_ns = if per_unit == 0 {
        (1_000_000_000 / n).max(1)
    } else {
        n.checked_mul(per_unit)
            .ok_or_else(|| format!("interval {n}{unit} is too long"))?
    };
    Ok(ProbeSpec::Interval {
        period_ns,
        name: format!("interval:{unit}:{n}"),
    })
}

/// Wildcard match: `*` matches any run of characters (including none), `?` exactly one.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

/// One concrete probe an attach point expanded to.
#[derive(Debug, Clone)]
pub(crate) struct Expansion {
    pub kind: ProbeKind,
    /// The full probe name, as the `probe` builtin reports it.
    pub name: String,
    pub catalog: CatalogRef,
}

/// Expands one attach point against the catalog.
pub(crate) fn expand(spec: &ProbeSpec, catalog: &ProbeCatalog) -> Result<Vec<Expansion>, String> {
    let one = |kind, name: &str| {
        Ok(vec![Expansion {
            kind,
            name: name.to_string(),
            catalog: CatalogRef::None,
        }])
    };
    match spec {
        ProbeSpec::Begin => one(ProbeKind::Begin, "BEGIN"),
        ProbeSpec::End => one(ProbeKind::End, "END"),
        ProbeSpec::Interval { period_ns, name } => one(
            ProbeKind::Interval {
                period_ns: *period_ns,
            },
            name,
        ),
        ProbeSpec::Tracepoint { category, event } => {
            let out: Vec<Expansion> = catalog
                .tracepoints
                .iter()
                .enumerate()
                .filter(|(_, tp)| {
                    glob_match(category, &tp.category) && glob_match(event, &tp.event)
                })
                .map(|(i, tp)| Expansion {
                    kind: ProbeKind::Tracepoint {
                        category: tp.category.clone(),
                        event: tp.event.clone(),
                    },
                    name: format!("tracepoint:{}:{}", tp.category, tp.event),
                    catalog: CatalogRef::Tracepoint(i),
                })
                .collect();
            if !out.is_empty() {
                Ok(out)
            } else if spec.has_wildcard() {
                Err(format!("No probes matched: tracepoint:{category}:{event}"))
            } else {
                let wanted = format!("{category}:{event}");
                let names = catalog
                    .tracepoints
                    .iter()
                    .map(|tp| format!("{}:{}", tp.category, tp.event));
                Err(format!(
                    "tracepoint not found: {wanted}{}",
                    did_you_mean(&wanted, names)
                ))
            }
        }
        ProbeSpec::Function {
            kind,
            provider,
            name,
        } => {
            let mut seen = std::collections::HashSet::new();
            let out: Vec<Expansion> = catalog
                .functions
                .iter()
                .enumerate()
                .filter(|(_, f)| glob_match(name, &f.name) && seen.insert(f.name.as_str()))
                .map(|(i, f)| Expansion {
                    kind: ProbeKind::Function {
                        kind: *kind,
                        function: f.name.clone(),
                    },
                    name: format!("{provider}:{}", f.name),
                    catalog: CatalogRef::Function(i),
                })
                .collect();
            if !out.is_empty() {
                Ok(out)
            } else if spec.has_wildcard() {
                Err(format!("No probes matched: {provider}:{name}"))
            } else {
                let names = catalog.functions.iter().map(|f| f.name.clone());
                Err(format!(
                    "{provider}:{name}: function not found in the guest kernel{}",
                    did_you_mean(name, names)
                ))
            }
        }
    }
}

/// Every probe name `vmm trace -l PATTERN` lists: tracepoints as
/// `tracepoint:category:event`, functions as `kfunc:name`, matching `pattern` (a glob over the
/// full name, or over the name without its provider).
pub fn list(catalog: &ProbeCatalog, pattern: &str) -> Vec<String> {
    let tracepoints = catalog
        .tracepoints
        .iter()
        .map(|tp| ("tracepoint", format!("{}:{}", tp.category, tp.event)));
    let functions = catalog.functions.iter().map(|f| ("kfunc", f.name.clone()));
    tracepoints
        .chain(functions)
        .filter(|(provider, name)| {
            glob_match(pattern, name) || glob_match(pattern, &format!("{provider}:{name}"))
        })
        .map(|(provider, name)| format!("{provider}:{name}"))
        .collect()
}

/// ` (did you mean X?)` for the name closest to `wanted` by edit distance, if one is close
/// enough to be a likely typo (one edit per six characters, at least one).
pub(crate) fn did_you_mean(wanted: &str, names: impl Iterator<Item = String>) -> String {
    let limit = (wanted.chars().count() / 6).max(1);
    names
        .map(|n| (edit_distance(wanted, &n), n))
        .filter(|(d, _)| *d <= limit)
        .min_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)))
        .map(|(_, n)| format!(" (did you mean {n}?)"))
        .unwrap_or_default()
}

/// Edit distance in characters, counting a swap of two neighbours as one edit (the optimal
/// string alignment distance: typos like `stauts` are one edit from `status`).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // d[i][j]: distance between a[..i] and b[..j], three rows at a time.
    let mut before: Vec<usize> = Vec::new();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let sub = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(before[j - 2] + 1);
            }
        }
        before = std::mem::replace(&mut prev, cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_names() {
        assert_eq!(edit_distance("sched_swich", "sched_switch"), 1);
        assert_eq!(edit_distance("stauts", "status"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        let names = || {
            ["sched:sched_switch", "sched:sched_wakeup"]
                .map(String::from)
                .into_iter()
        };
        assert_eq!(
            did_you_mean("sched:sched_swich", names()),
            " (did you mean sched:sched_switch?)"
        );
        assert_eq!(did_you_mean("irq:softirq_entry", names()), "");
    }

    #[test]
    fn listing() {
        let catalog = ProbeCatalog {
            tracepoints: vec![TracepointInfo {
                category: "sched".into(),
                event: "sched_switch".into(),
                fields: vec![],
            }],
            ..ProbeCatalog::default()
        };
        assert_eq!(list(&catalog, "*"), ["tracepoint:sched:sched_switch"]);
        assert_eq!(list(&catalog, "sched:*"), ["tracepoint:sched:sched_switch"]);
        assert_eq!(
            list(&catalog, "tracepoint:sched:*"),
            ["tracepoint:sched:sched_switch"]
        );
        assert!(list(&catalog, "irq:*").is_empty());
    }
}
