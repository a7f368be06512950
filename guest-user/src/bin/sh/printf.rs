//! The `printf` built-in as POSIX specifies it: the format's backslash escapes, conversions
//! `%s %b %c %d %i %u %o %x %X %%` with flags (`-+ #0`), width and precision (digits or
//! `*`), and the format used again while arguments are left. A number argument may be
//! decimal, `0x` hex, `0` octal, or `'c` (the character's code); a bad one is an error
//! (status 1) that still prints what it could, as dash does.

/// What a `printf` call printed, and whether an argument was bad (status 1).
#[derive(Debug, PartialEq, Eq)]
pub struct Output {
    pub text: String,
    pub error: bool,
}

/// One `\` escape at the start of `s` (after the backslash): the text it stands for and how
/// many characters it took. `in_b` is `%b`'s form (octal as `\0NNN`, `\c` stops output).
fn escape(s: &[char], in_b: bool) -> (Option<char>, usize) {
    let simple = match s.first() {
        None => return (Some('\\'), 0),
        Some('n') => '\n',
        Some('t') => '\t',
        Some('\\') => '\\',
        Some('a') => '\x07',
        Some('b') => '\x08',
        Some('f') => '\x0c',
        Some('r') => '\r',
        Some('v') => '\x0b',
        Some('"') if !in_b => '"',
        Some('c') if in_b => return (None, 1),
        Some(c) if c.is_digit(8) => {
            // `\NNN` in a format, `\0NNN` in a `%b` argument.
            let skip = usize::from(in_b && *c == '0');
            let digits: Vec<u32> = s[skip..]
                .iter()
                .take(3)
                .map_while(|d| d.to_digit(8))
                .collect();
            let v = digits.iter().fold(0, |v, d| v * 8 + d);
            return (char::from_u32(v & 0xff), skip + digits.len());
        }
        Some(_) => return (Some('\\'), 0),
    };
    (Some(simple), 1)
}

/// `%b`'s argument with its escapes done; `false` if a `\c` ended all output.
fn expand_b(arg: &str, out: &mut String) -> bool {
    let chars: Vec<char> = arg.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '\\' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let (c, n) = escape(&chars[i + 1..], true);
        match c {
            Some(c) => out.push(c),
            None => return false,
        }
        i += 1 + n;
    }
    true
}

/// A number argument; a bad one is reported and gives what its valid start says.
fn number(arg: &str, error: &mut bool) -> i128 {
    if let Some(c) = arg.strip_prefix(['\'', '"']) {
        return c.chars().next().map_or(0, |c| i128::from(u32::from(c)));
    }
    let t = arg.trim_start();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (radix, digits) = if let Some(h) = t.strip_prefix("0x").or(t.strip_prefix("0X")) {
        (16, h)
    } else if t.len() > 1 && t.starts_with('0') {
        (8, &t[1..])
    } else {
        (10, t)
    };
    let valid = digits.chars().take_while(|c| c.is_digit(radix)).count();
    let v = i128::from_str_radix(&digits[..valid], radix).unwrap_or(0);
    if arg.is_empty() {
        return 0;
    }
    if valid == 0 {
        eprintln!("sh: printf: {arg}: expected numeric value");
        *error = true;
    } else if valid < digits.len() {
        eprintln!("sh: printf: {arg}: not completely converted");
        *error = true;
    }
    if neg {
        -v
    } else {
        v
    }
}

/// One conversion's flags, width and precision.
#[derive(Default)]
struct Spec {
    left: bool,
    plus: bool,
    space: bool,
    alt: bool,
    zero: bool,
    width: usize,
    precision: Option<usize>,
}

impl Spec {
    /// `body` padded to the width; zeros go after the sign or `0x` (`prefix`).
    fn pad(&self, prefix: &str, body: &str, numeric: bool, out: &mut String) {
        let len = prefix.chars().count() + body.chars().count();
        let fill = self.width.saturating_sub(len);
        if self.left {
            out.push_str(prefix);
            out.push_str(body);
            out.extend(std::iter::repeat_n(' ', fill));
        } else if self.zero && numeric && self.precision.is_none() {
            out.push_str(prefix);
            out.extend(std::iter::repeat_n('0', fill));
            out.push_str(body);
        } else {
            out.extend(std::iter::repeat_n(' ', fill));
            out.push_str(prefix);
            out.push_str(body);
        }
    }

    fn integer(&self, conv: char, v: i128, out: &mut String) {
        let (sign, magnitude) = match conv {
            'd' | 'i' if v < 0 => ("-", v.unsigned_abs()),
            'd' | 'i' if self.plus => ("+", v as u128),
            'd' | 'i' if self.space => (" ", v as u128),
            'd' | 'i' => ("", v as u128),
            // Unsigned conversions see a negative number as the 64-bit value C would.
            _ => ("", u128::from(v as u64)),
        };
        let mut digits = match conv {
            'o' => format!("{magnitude:o}"),
            'x' => format!("{magnitude:x}"),
            'X' => format!("{magnitude:X}"),
            _ => magnitude.to_string(),
        };
        if let Some(p) = self.precision {
            if p == 0 && magnitude == 0 {
                digits.clear();
            } else if digits.len() < p {
                digits.insert_str(0, &"0".repeat(p - digits.len()));
            }
        }
        let prefix = match conv {
            'o' if self.alt && !digits.starts_with('0') => "0",
            'x' if self.alt && magnitude != 0 => "0x",
            'X' if self.alt && magnitude != 0 => "0X",
            _ => sign,
        };
        self.pad(prefix, &digits, true, out);
    }
}

/// Run `printf FORMAT [ARGS...]`.
pub fn printf(format: &str, args: &[String]) -> Output {
    let fmt: Vec<char> = format.chars().collect();
    let mut out = String::new();
    let mut error = false;
    let mut next = 0;
    loop {
        let start = next;
        if !format_once(&fmt, args, &mut next, &mut out, &mut error) {
            break;
        }
        // Again while arguments are left and the format took some.
        if next >= args.len() || next == start {
            break;
        }
    }
    Output { text: out, error }
}

/// A width or precision at `fmt[*i]`: digits, or `*` for the next argument (`star`).
fn count(fmt: &[char], i: &mut usize, star: impl FnOnce() -> i128) -> Option<i128> {
    if fmt.get(*i) == Some(&'*') {
        *i += 1;
        return Some(star());
    }
    let n = fmt[*i..].iter().take_while(|c| c.is_ascii_digit()).count();
    let v: String = fmt[*i..*i + n].iter().collect();
    *i += n;
    (n > 0).then(|| v.parse().unwrap_or(0))
}

/// The format once over the arguments from `*next`; `false` if `\c` stopped the output or
/// the format was bad.
fn format_once(
    fmt: &[char],
    args: &[String],
    next: &mut usize,
    out: &mut String,
    error: &mut bool,
) -> bool {
    let mut take = || {
        let a = args.get(*next).map(String::as_str);
        *next += 1;
        a
    };
    let mut i = 0;
    while i < fmt.len() {
        match fmt[i] {
            '\\' => {
                let (c, n) = escape(&fmt[i + 1..], false);
                out.extend(c);
                i += 1 + n;
                continue;
            }
            '%' => {}
            c => {
                out.push(c);
                i += 1;
                continue;
            }
        }
        let start = i;
        i += 1;
        let mut spec = Spec::default();
        while let Some(&c) = fmt.get(i) {
            match c {
                '-' => spec.left = true,
                '+' => spec.plus = true,
                ' ' => spec.space = true,
                '#' => spec.alt = true,
                '0' => spec.zero = true,
                _ => break,
            }
            i += 1;
        }
        if let Some(w) = count(fmt, &mut i, || number(take().unwrap_or(""), error)) {
            spec.left |= w < 0;
            spec.width = w.unsigned_abs() as usize;
        }
        if fmt.get(i) == Some(&'.') {
            i += 1;
            let p = count(fmt, &mut i, || number(take().unwrap_or(""), error)).unwrap_or(0);
            spec.precision = (p >= 0).then_some(p as usize);
        }
        let Some(&conv) = fmt.get(i) else {
            eprintln!("sh: printf: %: invalid directive");
            *error = true;
            return false;
        };
        i += 1;
        match conv {
            '%' => out.push('%'),
            's' | 'b' => {
                let arg = take().unwrap_or("");
                let mut text = String::new();
                let more = if conv == 'b' {
                    expand_b(arg, &mut text)
                } else {
                    text.push_str(arg);
                    true
                };
                if let Some(p) = spec.precision {
                    text = text.chars().take(p).collect();
                }
                spec.pad("", &text, false, out);
                if !more {
                    return false;
                }
            }
            'c' => {
                let c: String = take().unwrap_or("").chars().take(1).collect();
                spec.pad("", &c, false, out);
            }
            'd' | 'i' | 'u' | 'o' | 'x' | 'X' => {
                let v = number(take().unwrap_or(""), error);
                spec.integer(conv, v, out);
            }
            _ => {
                let directive: String = fmt[start..i].iter().collect();
                eprintln!("sh: printf: {directive}: invalid directive");
                *error = true;
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(fmt: &str, args: &[&str]) -> String {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        printf(fmt, &args).text
    }

    #[test]
    fn conversions_widths_and_flags() {
        assert_eq!(
            p("%s|%5s|%-5s|%.2s\\n", &["a", "b", "c", "xyz"]),
            "a|    b|c    |xy\n"
        );
        assert_eq!(
            p(
                "%d %i %05d %-4d| %+d % d",
                &["1", "-2", "-42", "7", "3", "4"]
            ),
            "1 -2 -0042 7   | +3  4"
        );
        assert_eq!(
            p(
                "%x %X %o %#x %#o %u",
                &["255", "255", "8", "255", "8", "-1"]
            ),
            "ff FF 10 0xff 010 18446744073709551615"
        );
        assert_eq!(
            p("%.3d|%*d|%-*d|%.*s", &["5", "4", "1", "3", "2", "2", "abc"]),
            "005|   1|2  |ab"
        );
        assert_eq!(p("%c%c %%", &["xyz", "1"]), "x1 %");
        assert_eq!(p("%d %d %x", &["0x1f", "010", "'A"]), "31 8 41");
    }

    #[test]
    fn escapes_and_b() {
        assert_eq!(p("a\\tb\\\\c\\101\\0", &[]), "a\tb\\cA\0");
        assert_eq!(p("%b|", &["x\\ny\\0101\\t"]), "x\nyA\t|");
        // `\c` in a %b argument ends all output.
        assert_eq!(p("%b-%s\\n", &["stop\\chere", "never"]), "stop");
    }

    #[test]
    fn format_reused_for_extra_arguments() {
        assert_eq!(p("%s=%d\\n", &["a", "1", "b", "2", "c"]), "a=1\nb=2\nc=0\n");
        assert_eq!(p("x\\n", &["unused"]), "x\n");
        assert_eq!(p("[%s]", &[]), "[]");
    }

    #[test]
    fn bad_numbers_and_directives() {
        let args = vec!["12abc".to_string(), "z".to_string()];
        assert_eq!(
            printf("%d %d", &args),
            Output {
                text: "12 0".into(),
                error: true
            }
        );
        assert!(printf("%q", &[]).error);
    }
}
