//! The columns: which ones a selection of options shows, and laying out one line as
//! procps does (alignment, overflow pushing the rest right, the terminal's width).

use super::*;

pub(super) fn columns(o: &Opts, pid_width: usize) -> Vec<Col> {
    let mut list: Vec<(String, Option<String>)> = Vec::new();
    let add = |list: &mut Vec<(String, Option<String>)>, names: &str| {
        for n in names.split(',') {
            let (name, header) = match n.split_once(':') {
                Some((n, h)) => (n, Some(h.to_string())),
                None => (n, None),
            };
            list.push((name.to_string(), header));
        }
    };
    if !o.format.is_empty() {
        for f in &o.format {
            for item in f.split([',', ' ']).filter(|s| !s.is_empty()) {
                match item.split_once('=') {
                    Some((n, h)) => list.push((n.to_string(), Some(h.to_string()))),
                    None => list.push((item.to_string(), None)),
                }
            }
        }
    } else if o.bsd.is_some_and(|b| b.user_format) {
        add(
            &mut list,
            "user,pid,%cpu,%mem,vsz,rss,tname,stat,start,bsdtime,args",
        );
    } else if o.bsd.is_some() {
        add(&mut list, "pid,tname,stat,bsdtime,args");
    } else if o.full && o.threads {
        add(
            &mut list,
            "user:UID,pid,ppid,lwp,c,nlwp,stime,tname,time,args:CMD",
        );
    } else if o.full {
        add(&mut list, "user:UID,pid,ppid,c,stime,tname,time,args:CMD");
    } else if o.threads {
        add(&mut list, "pid,lwp,tname,time,comm:CMD");
    } else {
        add(&mut list, "pid,tname,time,comm:CMD");
    }
    list.into_iter()
        .map(|(name, header)| {
            let lower = name.to_ascii_lowercase();
            let Some(s) = SPECS.iter().find(|s| s.names.contains(&lower.as_str())) else {
                bad_usage(format_args!(
                    "unknown user-defined format specifier \"{name}\""
                ))
            };
            let header = header.unwrap_or_else(|| s.header.to_string());
            let width = if s.width == 0 { pid_width } else { s.width };
            Col {
                kind: s.kind,
                width: width.max(header.chars().count()),
                header,
                right: s.right,
            }
        })
        .collect()
}

/// Lays out one line: a right-aligned column ends where its width says unless the line is
/// already past that point, a left-aligned one is cut to its width (`+` marks a cut user
/// name), and the last column is never cut.
pub(super) fn layout(cols: &[Col], cells: &[String]) -> String {
    let mut line = String::new();
    let mut ideal = 0;
    for (i, (col, cell)) in cols.iter().zip(cells).enumerate() {
        let last = i + 1 == cols.len();
        if i > 0 {
            line.push(' ');
            ideal += 1;
        }
        let len = line.chars().count();
        if col.right {
            let pad = (ideal + col.width).saturating_sub(len + cell.chars().count());
            line.extend(std::iter::repeat_n(' ', pad));
            line.push_str(cell);
        } else if last {
            line.push_str(cell);
        } else {
            let text: String = if cell.chars().count() > col.width {
                let mut t: String = cell.chars().take(col.width).collect();
                if col.kind == Kind::User {
                    t.pop();
                    t.push('+');
                }
                t
            } else {
                cell.clone()
            };
            line.push_str(&text);
            let pad = (ideal + col.width).saturating_sub(len + text.chars().count());
            line.extend(std::iter::repeat_n(' ', pad));
        }
        ideal += col.width;
    }
    line.truncate(line.trim_end().len());
    line
}

/// The width lines are cut to, as procps: `COLUMNS` if set, else the terminal's width (at
/// least 80) when stdout is one, else no limit.
pub(super) fn terminal_width() -> Option<usize> {
    if let Some(cols) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return Some(cols).filter(|&c| c > 0);
    }
    // SAFETY: isatty has no memory arguments.
    if unsafe { libc::isatty(1) } != 1 {
        return None;
    }
    // SAFETY: winsize is plain data, filled by the ioctl.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes a winsize into `ws`.
    let cols = match unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) } {
        0 => ws.ws_col as usize,
        _ => 0,
    };
    Some(cols.max(80))
}
