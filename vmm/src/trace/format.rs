//! Text formatting: `printf` format strings (parsed once, applied per event) and the `strftime`
//! subset behind `time()`.
//!
//! `printf` follows C: `%[flags][width][.precision][length]conversion` with the flags `-+ #0`,
//! the conversions `d i u o x X c s p` and `%%`, and the length modifiers `hh h l ll j z t`.
//! Integers are 64-bit as in bpftrace (no modifier means 64 bits, not C's 32); `hh`/`h` truncate
//! to 8/16 bits like C's conversions. `%p` prints `0x` and lowercase hex. The checker uses
//! [`Spec::wants_int`] to reject `%d` with a string argument, and the argument count.
//!
//! The formatter takes [`Arg`]s, already converted by the interpreter (stacks and symbols as text),
//! so this module knows nothing of maps or events.

/// A parsed `printf` format string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    pub pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Lit(Vec<u8>),
    Spec(Spec),
}

/// One conversion specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub minus: bool,
    pub plus: bool,
    pub space: bool,
    pub hash: bool,
    pub zero: bool,
    pub width: usize,
    pub precision: Option<usize>,
    /// 8 or 16 for `hh`/`h`, 64 otherwise.
    pub bits: u32,
    pub conv: Conv,
    /// The length modifier and conversion as written (`lu`, `d`), for messages.
    pub token: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conv {
    Signed,
    Unsigned,
    Octal,
    Hex,
    HexUpper,
    Char,
    Str,
    Pointer,
}

impl Spec {
    /// Integer conversions need an integer argument; `%s` takes a string.
    pub fn wants_int(&self) -> bool {
        self.conv != Conv::Str
    }
}

impl Format {
    pub fn specs(&self) -> impl Iterator<Item = &Spec> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Spec(s) => Some(s),
            Piece::Lit(_) => None,
        })
    }

    /// Parses a format string. The error is bpftrace's message without the `printf: ` prefix.
    pub fn parse(fmt: &[u8]) -> Result<Format, String> {
        let mut pieces = Vec::new();
        let mut lit = Vec::new();
        let mut i = 0;
        while i < fmt.len() {
            if fmt[i] != b'%' {
                lit.push(fmt[i]);
                i += 1;
                continue;
            }
            let start = i;
            i += 1;
            if fmt.get(i) == Some(&b'%') {
                lit.push(b'%');
                i += 1;
                continue;
            }
            let mut spec = Spec {
                minus: false,
                plus: false,
                space: false,
                hash: false,
                zero: false,
                width: 0,
                precision: None,
                bits: 64,
                conv: Conv::Str,
                token: String::new(),
            };
            while let Some(&b) = fmt.get(i) {
                match b {
                    b'-' => spec.minus = true,
                    b'+' => spec.plus = true,
                    b' ' => spec.space = true,
                    b'#' => spec.hash = true,
                    b'0' => spec.zero = true,
                    _ => break,
                }
                i += 1;
            }
            let (width, next) = number(fmt, i);
            spec.width = width;
            i = next;
            if fmt.get(i) == Some(&b'.') {
                let (p, next) = number(fmt, i + 1);
                spec.precision = Some(p);
                i = next;
            }
            let len_start = i;
            while fmt
                .get(i)
                .is_some_and(|b| matches!(b, b'h' | b'l' | b'j' | b'z' | b't'))
            {
                i += 1;
            }
            let length = &fmt[len_start..i];
            spec.bits = match length {
                b"hh" => 8,
                b"h" => 16,
                _ => 64,
            };
            let bad = |end: usize| {
                format!(
                    "Unknown format string token: {}",
                    String::from_utf8_lossy(&fmt[start..end.min(fmt.len())])
                )
            };
            if !matches!(
                length,
                b"" | b"hh" | b"h" | b"l" | b"ll" | b"j" | b"z" | b"t"
            ) {
                return Err(bad(i + 1));
            }
            let Some(&c) = fmt.get(i) else {
                return Err(bad(i));
            };
            spec.conv = match c {
                b'd' | b'i' => Conv::Signed,
                b'u' => Conv::Unsigned,
                b'o' => Conv::Octal,
                b'x' => Conv::Hex,
                b'X' => Conv::HexUpper,
                b'c' => Conv::Char,
                b's' => Conv::Str,
                b'p' => Conv::Pointer,
                _ => return Err(bad(i + 1)),
            };
            i += 1;
            spec.token = String::from_utf8_lossy(&fmt[len_start..i]).into_owned();
            if !lit.is_empty() {
                pieces.push(Piece::Lit(std::mem::take(&mut lit)));
            }
            pieces.push(Piece::Spec(spec));
        }
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit));
        }
        Ok(Format { pieces })
    }

    /// Applies the format. Missing arguments print nothing; extra ones are ignored (the checker
    /// rejects both). A string given to `%d` prints as 0, an integer given to `%s` in decimal.
    pub fn render(&self, args: &[Arg<'_>], out: &mut Vec<u8>) {
        let mut args = args.iter();
        for piece in &self.pieces {
            match piece {
                Piece::Lit(text) => out.extend_from_slice(text),
                Piece::Spec(spec) => {
                    if let Some(arg) = args.next() {
                        spec.render(arg, out);
                    }
                }
            }
        }
    }
}

/// Parses decimal digits at `i` (capped, so a hostile width cannot ask for gigabytes).
fn number(s: &[u8], mut i: usize) -> (usize, usize) {
    let mut n: usize = 0;
    while let Some(d) = s.get(i).filter(|b| b.is_ascii_digit()) {
        n = (n * 10 + usize::from(d - b'0')).min(MAX_WIDTH);
        i += 1;
    }
    (n, i)
}

/// Widest field a format may ask for.
const MAX_WIDTH: usize = 4096;

/// A value handed to the formatter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg<'a> {
    Int(i64),
    Bytes(std::borrow::Cow<'a, [u8]>),
}

impl Spec {
    fn render(&self, arg: &Arg<'_>, out: &mut Vec<u8>) {
        match (self.conv, arg) {
            (Conv::Str, Arg::Bytes(b)) => {
                let b = match self.precision {
                    Some(p) if p < b.len() => &b[..p],
                    _ => &b[..],
                };
                self.pad(out, b"", b, false);
            }
            (Conv::Str, Arg::Int(v)) => self.pad(out, b"", v.to_string().as_bytes(), false),
            (_, Arg::Bytes(_)) => self.int(0, out),
            (_, Arg::Int(v)) => self.int(*v, out),
        }
    }

    fn int(&self, v: i64, out: &mut Vec<u8>) {
        let (sv, uv) = match self.bits {
            8 => (i64::from(v as i8), u64::from(v as u8)),
            16 => (i64::from(v as i16), u64::from(v as u16)),
            _ => (v, v as u64),
        };
        let (prefix, digits): (&[u8], String) = match self.conv {
            Conv::Char => return self.pad(out, b"", &[v as u8], false),
            Conv::Pointer => {
                return self.pad(out, b"0x", format!("{:x}", v as u64).as_bytes(), true)
            }
            Conv::Signed => {
                let p: &[u8] = if sv < 0 {
                    b"-"
                } else if self.plus {
                    b"+"
                } else if self.space {
                    b" "
                } else {
                    b""
                };
                (p, sv.unsigned_abs().to_string())
            }
            Conv::Unsigned => (b"", uv.to_string()),
            Conv::Octal => (b"", format!("{uv:o}")),
            Conv::Hex => (
                if self.hash && uv != 0 { b"0x" } else { b"" },
                format!("{uv:x}"),
            ),
            Conv::HexUpper => (
                if self.hash && uv != 0 { b"0X" } else { b"" },
                format!("{uv:X}"),
            ),
            // Strings never get here (Spec::render); decimal is the harmless answer.
            Conv::Str => (b"", sv.to_string()),
        };
        let mut digits = digits.into_bytes();
        match self.precision {
            Some(0) if uv == 0 && sv == 0 => digits.clear(),
            Some(p) if p > digits.len() => {
                let mut padded = vec![b'0'; p - digits.len()];
                padded.extend_from_slice(&digits);
                digits = padded;
            }
            _ => {}
        }
        if self.conv == Conv::Octal && self.hash && digits.first() != Some(&b'0') {
            digits.insert(0, b'0');
        }
        self.pad(out, prefix, &digits, self.precision.is_none());
    }

    /// Writes `prefix` + `body` padded to the width: left-justified with `-`, zero-filled after
    /// the prefix with `0` (when `zero_ok`), space-filled on the left otherwise.
    fn pad(&self, out: &mut Vec<u8>, prefix: &[u8], body: &[u8], zero_ok: bool) {
        let len = prefix.len() + body.len();
        let fill = self.width.saturating_sub(len);
        if self.minus {
            out.extend_from_slice(prefix);
            out.extend_from_slice(body);
            out.resize(out.len() + fill, b' ');
        } else if self.zero && zero_ok && self.conv != Conv::Str && self.conv != Conv::Char {
            out.extend_from_slice(prefix);
            out.resize(out.len() + fill, b'0');
            out.extend_from_slice(body);
        } else {
            out.resize(out.len() + fill, b' ');
            out.extend_from_slice(prefix);
            out.extend_from_slice(body);
        }
    }
}

/// A wall-clock instant for `time()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallTime {
    pub unix_secs: i64,
    pub nanos: u32,
    /// Seconds east of UTC of the time zone to print in.
    pub utc_offset_secs: i32,
}

impl WallTime {
    /// Now, in UTC (the engine has no time zone database; callers may pass an offset).
    pub fn now_utc() -> WallTime {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        WallTime {
            unix_secs: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            nanos: d.subsec_nanos(),
            utc_offset_secs: 0,
        }
    }
}

const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Year, month (1-12), day (1-31) of a day count since 1970-01-01 (Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

/// The `strftime` subset `time()` supports: `%Y %y %m %d %e %H %I %M %S %p %j %a %A %b %B %h
/// %T %D %F %R %s %z %n %t %%` and bpftrace's `%f` (microseconds). Others print as written.
pub fn strftime(fmt: &[u8], t: WallTime) -> Vec<u8> {
    let local = t.unix_secs.saturating_add(i64::from(t.utc_offset_secs));
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (y, mon, d) = civil_from_days(days);
    let (h, mi, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let wday = (days + 4).rem_euclid(7) as usize;
    const CUM: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let yday = CUM[(mon - 1) as usize] + d + u32::from(mon > 2 && is_leap(y));
    let h12 = if h % 12 == 0 { 12 } else { h % 12 };
    let mut out = Vec::new();
    let mut i = 0;
    while i < fmt.len() {
        if fmt[i] != b'%' || i + 1 >= fmt.len() {
            out.push(fmt[i]);
            i += 1;
            continue;
        }
        let c = fmt[i + 1];
        i += 2;
        let text = match c {
            b'Y' => y.to_string(),
            b'y' => format!("{:02}", y.rem_euclid(100)),
            b'm' => format!("{mon:02}"),
            b'd' => format!("{d:02}"),
            b'e' => format!("{d:2}"),
            b'H' => format!("{h:02}"),
            b'I' => format!("{h12:02}"),
            b'M' => format!("{mi:02}"),
            b'S' => format!("{s:02}"),
            b'p' => (if h < 12 { "AM" } else { "PM" }).to_string(),
            b'j' => format!("{yday:03}"),
            b'a' => DAYS[wday][..3].to_string(),
            b'A' => DAYS[wday].to_string(),
            b'b' | b'h' => MONTHS[(mon - 1) as usize][..3].to_string(),
            b'B' => MONTHS[(mon - 1) as usize].to_string(),
            b'T' => format!("{h:02}:{mi:02}:{s:02}"),
            b'R' => format!("{h:02}:{mi:02}"),
            b'D' => format!("{mon:02}/{d:02}/{:02}", y.rem_euclid(100)),
            b'F' => format!("{y}-{mon:02}-{d:02}"),
            b's' => t.unix_secs.to_string(),
            b'z' => {
                let o = t.utc_offset_secs;
                let sign = if o < 0 { '-' } else { '+' };
                let a = o.unsigned_abs();
                format!("{sign}{:02}{:02}", a / 3600, a / 60 % 60)
            }
            b'f' => format!("{:06}", t.nanos / 1000),
            b'n' => "\n".to_string(),
            b't' => "\t".to_string(),
            b'%' => "%".to_string(),
            other => {
                out.push(b'%');
                out.push(other);
                continue;
            }
        };
        out.extend_from_slice(text.as_bytes());
    }
    out
}
