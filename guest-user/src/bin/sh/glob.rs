//! Pattern matching (POSIX 2.13): `*`, `?`, bracket expressions `[abc]`, `[a-z]`, `[!x]`
//! and `[^x]`, a backslash quoting the next character. `fnmatch` serves `case` too;
//! `glob` is pathname expansion: one directory level per `/`-separated component, a leading
//! `.` matched only by a literal `.`, results sorted, nothing when nothing matches.

/// Whether `pat` has an unquoted `*`, `?` or `[` (worth a directory search).
pub fn has_magic(pat: &str) -> bool {
    let mut chars = pat.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// `pat` without its quoting backslashes.
pub fn unescape(pat: &str) -> String {
    let mut out = String::new();
    let mut chars = pat.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// A bracket expression starting after the `[` at `p[0..]`: whether `c` matches it and how
/// many pattern characters it took (through the `]`); `None` if it has no closing `]`
/// (then the `[` is an ordinary character).
fn bracket(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 0;
    let negate = matches!(p.first(), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let mut lo = *p.get(i)?;
        // A `]` first in the list is itself.
        if lo == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if lo == '\\' {
            i += 1;
            lo = *p.get(i)?;
        }
        i += 1;
        let mut hi = lo;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|&n| n != ']') {
            hi = p[i + 1];
            i += 2;
            if hi == '\\' {
                hi = *p.get(i)?;
                i += 1;
            }
        }
        if lo <= c && c <= hi {
            matched = true;
        }
    }
}

fn matches(p: &[char], s: &[char]) -> bool {
    let (mut pi, mut si) = (0, 0);
    // Where to resume after the last `*`: its pattern position and the text it has eaten to.
    let mut star: Option<(usize, usize)> = None;
    loop {
        let step = match p.get(pi) {
            None if si == s.len() => return true,
            None => None,
            Some('*') => {
                star = Some((pi + 1, si));
                pi += 1;
                continue;
            }
            Some('?') => s.get(si).map(|_| 1),
            Some('[') => match (
                s.get(si),
                bracket(&p[pi + 1..], s.get(si).copied().unwrap_or('\0')),
            ) {
                (Some(_), Some((true, n))) => Some(n + 1),
                (Some(_), Some((false, _))) => None,
                (c, None) => (c == Some(&'[')).then_some(1),
                (None, _) => None,
            },
            Some('\\') if pi + 1 < p.len() => (s.get(si) == Some(&p[pi + 1])).then_some(2),
            Some(&c) => (s.get(si) == Some(&c)).then_some(1),
        };
        match step {
            Some(n) => {
                pi += n;
                si += 1;
            }
            None => match star {
                // Let the last `*` take one more character and try again from there.
                Some((sp, ss)) if ss < s.len() => {
                    star = Some((sp, ss + 1));
                    pi = sp;
                    si = ss + 1;
                }
                _ => return false,
            },
        }
    }
}

/// Whether the whole of `s` matches the pattern `pat`.
pub fn fnmatch(pat: &str, s: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let s: Vec<char> = s.chars().collect();
    matches(&p, &s)
}

/// The entries of `dir` (a path prefix ending in `/`, or empty for the current directory)
/// whose names match `pat`, sorted.
fn match_dir(dir: &str, pat: &str) -> Vec<String> {
    let path = if dir.is_empty() { "." } else { dir };
    let Ok(rd) = std::fs::read_dir(path) else {
        return Vec::new();
    };
    let dot_ok = pat.starts_with('.') || pat.starts_with("\\.");
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| (dot_ok || !n.starts_with('.')) && fnmatch(pat, n))
        .collect();
    names.sort();
    names
}

/// Pathname expansion of `pat` (with `\` quoting): the matching paths, sorted, or none.
pub fn glob(pat: &str) -> Vec<String> {
    let (mut paths, rest) = match pat.strip_prefix('/') {
        Some(rest) => (vec!["/".to_string()], rest),
        None => (vec![String::new()], pat),
    };
    let comps: Vec<&str> = rest.split('/').collect();
    for (i, comp) in comps.iter().enumerate() {
        let last = i + 1 == comps.len();
        let mut next = Vec::new();
        for prefix in &paths {
            if comp.is_empty() {
                // A trailing `/` (or `//`): the prefix, already ending in `/`, is a directory.
                if std::fs::metadata(prefix).is_ok_and(|m| m.is_dir()) {
                    next.push(prefix.clone());
                }
                continue;
            }
            if has_magic(comp) {
                for name in match_dir(prefix, comp) {
                    next.push(format!("{prefix}{name}{}", if last { "" } else { "/" }));
                }
            } else {
                let p = format!("{prefix}{}{}", unescape(comp), if last { "" } else { "/" });
                // A literal component must exist (checked once the path is complete).
                if !last || std::fs::symlink_metadata(&p).is_ok() {
                    next.push(p);
                }
            }
        }
        paths = next;
        if paths.is_empty() {
            break;
        }
    }
    // Intermediate literal components were not checked: keep paths that exist.
    paths.retain(|p| std::fs::symlink_metadata(p).is_ok());
    paths.sort();
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_and_questions() {
        assert!(fnmatch("*", ""));
        assert!(fnmatch("*", "abc"));
        assert!(fnmatch("a*c", "abbbc"));
        assert!(fnmatch("a*c", "ac"));
        assert!(!fnmatch("a*c", "acb"));
        assert!(fnmatch("*.rs", "main.rs"));
        assert!(fnmatch("?b?", "abc"));
        assert!(!fnmatch("?", ""));
        assert!(!fnmatch("??", "a"));
        assert!(fnmatch("*a*b*", "xxaxxbxx"));
        assert!(!fnmatch("*a*b*", "xxbxxaxx"));
    }

    #[test]
    fn brackets() {
        assert!(fnmatch("[abc]", "b"));
        assert!(!fnmatch("[abc]", "d"));
        assert!(fnmatch("[a-c]x", "bx"));
        assert!(!fnmatch("[!a-c]", "b"));
        assert!(fnmatch("[^a-c]", "z"));
        assert!(fnmatch("[]]", "]"));
        assert!(fnmatch("[!]]", "a"));
        assert!(fnmatch("[a-]", "-"));
        assert!(fnmatch("[0-9][0-9]", "42"));
        // No closing bracket: an ordinary `[`.
        assert!(fnmatch("[ab", "[ab"));
        assert!(!fnmatch("[ab", "a"));
    }

    #[test]
    fn backslash_quotes() {
        assert!(fnmatch("\\*", "*"));
        assert!(!fnmatch("\\*", "a"));
        assert!(fnmatch("a\\?", "a?"));
        assert!(!has_magic("a\\*b"));
        assert!(has_magic("a[b]"));
        assert_eq!(unescape("a\\*b\\\\"), "a*b\\");
    }

    #[test]
    fn globbing_a_tree() {
        let dir = std::env::temp_dir().join(format!("sh-glob-{}", std::process::id()));
        let d = dir.to_string_lossy().into_owned();
        for p in [
            "b.txt", "a.txt", ".hidden", "c.rs", "sub/x", "sub2/x", "sub2/y",
        ] {
            let path = dir.join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        assert_eq!(
            glob(&format!("{d}/*.txt")),
            [format!("{d}/a.txt"), format!("{d}/b.txt")]
        );
        assert_eq!(
            glob(&format!("{d}/*/x")),
            [format!("{d}/sub/x"), format!("{d}/sub2/x")]
        );
        assert_eq!(glob(&format!("{d}/sub?/[!x]")), [format!("{d}/sub2/y")]);
        assert_eq!(glob(&format!("{d}/.h*")), [format!("{d}/.hidden")]);
        assert!(!glob(&format!("{d}/*"))
            .iter()
            .any(|p| p.ends_with(".hidden")));
        assert!(glob(&format!("{d}/*.none")).is_empty());
        assert!(glob(&format!("{d}/nodir/*")).is_empty());
        assert_eq!(
            glob(&format!("{d}/sub*/")),
            [format!("{d}/sub/"), format!("{d}/sub2/")]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
