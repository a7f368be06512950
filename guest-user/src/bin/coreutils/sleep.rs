//! `sleep`: pauses for the sum of its arguments, like coreutils' `sleep`.
//!
//! ```text
//! sleep NUMBER[SUFFIX]...     NUMBER may be fractional; SUFFIX s (default), m, h or d;
//!                             `inf` or `infinity` sleeps forever
//! ```
//!
//! It sleeps with `nanosleep`, resuming with the time left after a handled signal.

use std::time::Duration;

use guest_user::{cli, sys};

const USAGE: &str = "sleep NUMBER[SUFFIX]...";

fn parse(arg: &str) -> Option<f64> {
    let (num, mult) = match arg.char_indices().last()? {
        (i, 's') => (&arg[..i], 1.0),
        (i, 'm') => (&arg[..i], 60.0),
        (i, 'h') => (&arg[..i], 3600.0),
        (i, 'd') => (&arg[..i], 86400.0),
        _ => (arg, 1.0),
    };
    let lower = num.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return Some(f64::INFINITY);
    }
    // Decimal numbers, exponents allowed ("1e3"), nothing negative or NaN.
    if !num.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let n = num.parse::<f64>().ok().filter(|n| *n >= 0.0)?;
    Some(n * mult)
}

pub fn sleep(args: &[String]) -> i32 {
    if args.is_empty() {
        cli::usage_error("sleep", "missing operand", USAGE, 1);
    }
    let mut total = 0.0;
    for a in args {
        match parse(a) {
            Some(s) => total += s,
            None => cli::usage_error(
                "sleep",
                format_args!("invalid time interval '{a}'"),
                USAGE,
                1,
            ),
        }
    }
    if total.is_infinite() {
        loop {
            sys::sleep(Duration::from_secs(u32::MAX as u64));
        }
    }
    sys::sleep(Duration::try_from_secs_f64(total).unwrap_or(Duration::MAX));
    0
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn intervals() {
        assert_eq!(parse("1.5"), Some(1.5));
        assert_eq!(parse("2m"), Some(120.0));
        assert_eq!(parse(".5h"), Some(1800.0));
        assert_eq!(parse("1d"), Some(86400.0));
        assert_eq!(parse("1e3"), Some(1000.0));
        assert_eq!(parse("inf"), Some(f64::INFINITY));
        for bad in ["", "-1", "x", "1x", "nan", "s"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
