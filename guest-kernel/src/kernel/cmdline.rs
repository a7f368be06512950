//! Kernel command line parsing, Linux style: space-separated `key=value` words, double quotes
//! protect spaces, and everything after a lone `--` goes to init as arguments.

use alloc::string::String;
use alloc::vec::Vec;

/// The command line as the boot loader passed it (Linux's `saved_command_line`).
static SAVED_COMMAND_LINE: spin::Once<String> = spin::Once::new();

/// Keep the boot command line for /proc/cmdline (once, at boot).
pub fn save_command_line(s: &str) {
    SAVED_COMMAND_LINE.call_once(|| s.into());
}

pub fn saved_command_line() -> &'static str {
    SAVED_COMMAND_LINE.get().map_or("", |s| s.as_str())
}

/// A virtio-mmio device announced as `virtio_mmio.device=<size>@<base>:<irq>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VirtioMmioDevice {
    pub base: u64,
    pub size: u64,
    pub irq: u32,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Cmdline {
    pub init: Option<String>,
    pub init_args: Vec<String>,
    pub virtio_mmio: Vec<VirtioMmioDevice>,
    pub loglevel: Option<u8>,
    pub quiet: bool,
    /// `test.triple_fault`: crash on purpose (end-to-end test of the VMM's crash report).
    pub test_triple_fault: bool,
    /// `test.panic`: panic on purpose (end-to-end test of the panic report and backtrace).
    pub test_panic: bool,
    /// `test.workqueue`: run the workqueue self-test at boot.
    pub test_workqueue: bool,
    /// `watchdog_thresh=SECS`: the soft-lockup detector's threshold.
    pub watchdog_thresh: Option<u64>,
    /// `test.softlockup=SECS`: hold a CPU in the kernel that long, for the detector to see.
    pub test_softlockup: Option<u64>,
    /// `test.kmalloc_bench=SIZE`: time kmalloc/kfree pairs of SIZE bytes at boot.
    pub test_kmalloc_bench: Option<usize>,
    /// `trace_event=sched:sched_switch,irq`: tracepoints on from boot (Linux's parameter),
    /// recording into the rings with or without a host attached.
    pub trace_event: Option<String>,
    /// Parameters we don't know, kept for `/proc/cmdline` users and the log.
    pub unknown: Vec<String>,
}

/// One word off the front of `args`, as Linux's `next_arg` (lib/cmdline.c) takes it: spaces
/// inside double quotes don't end the word; a quote opening the word and the quote closing it
/// are dropped, and so are the quotes around a value (`key="a b"` gives `key=a b`). Any other
/// quote stays, as in Linux. Returns the word and the rest.
pub fn next_arg(args: &str) -> (String, &str) {
    let args = args.trim_start();
    let (body, quoted) = match args.strip_prefix('"') {
        Some(rest) => (rest, true),
        None => (args, false),
    };
    let mut in_quote = quoted;
    let mut equals = None;
    let mut end = body.len();
    for (i, c) in body.char_indices() {
        if c.is_whitespace() && !in_quote {
            end = i;
            break;
        }
        if c == '=' && equals.is_none() {
            equals = Some(i);
        }
        if c == '"' {
            in_quote = !in_quote;
        }
    }
    let word = &body[..end];
    let rest = &body[end..];
    // A trailing quote closes either the opening quote or the value's quote.
    let closes = word.ends_with('"');
    let mut out = String::with_capacity(word.len());
    match equals {
        Some(eq) if word[eq + 1..].starts_with('"') => {
            out.push_str(&word[..=eq]);
            let value = &word[eq + 2..];
            out.push_str(if closes && !value.is_empty() {
                &value[..value.len() - 1]
            } else {
                value
            });
        }
        _ if quoted && closes => out.push_str(&word[..word.len() - 1]),
        _ => out.push_str(word),
    }
    (out, rest)
}

/// Split into words the way Linux's `parse_args` walks them with `next_arg`.
pub fn split_words(mut s: &str) -> Vec<String> {
    let mut words = Vec::new();
    while !s.trim_start().is_empty() {
        let (word, rest) = next_arg(s);
        words.push(word);
        s = rest;
    }
    words
}

/// Linux's `memparse`: a number with an optional K/M/G suffix (0x for hex).
pub fn memparse(s: &str) -> Option<u64> {
    let (digits, shift) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 10),
        b'm' | b'M' => (&s[..s.len() - 1], 20),
        b'g' | b'G' => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    let value = parse_int(digits)?;
    value.checked_mul(1 << shift)
}

fn parse_int(s: &str) -> Option<u64> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else {
        s.parse().ok()
    }
}

/// `<size>@<base>:<irq>` as Linux's virtio_mmio driver accepts it.
pub fn parse_virtio_mmio(value: &str) -> Option<VirtioMmioDevice> {
    let (size, rest) = value.split_once('@')?;
    let (base, irq) = rest.split_once(':')?;
    // Linux also allows a trailing ":<id>"; ignore it.
    let irq = irq.split(':').next()?;
    Some(VirtioMmioDevice {
        size: memparse(size)?,
        base: parse_int(base)?,
        irq: irq.parse().ok()?,
    })
}

pub fn parse(s: &str) -> Cmdline {
    let mut c = Cmdline::default();
    let mut words = split_words(s).into_iter();
    for word in words.by_ref() {
        if word == "--" {
            break;
        }
        match word.split_once('=') {
            Some(("init", v)) | Some(("rdinit", v)) => c.init = Some(v.into()),
            Some(("virtio_mmio.device", v)) => match parse_virtio_mmio(v) {
                Some(dev) => c.virtio_mmio.push(dev),
                None => c.unknown.push(word.clone()),
            },
            Some(("loglevel", v)) => c.loglevel = v.parse().ok(),
            Some(("watchdog_thresh", v)) => c.watchdog_thresh = v.parse().ok(),
            Some(("test.softlockup", v)) => c.test_softlockup = v.parse().ok(),
            Some(("test.kmalloc_bench", v)) => c.test_kmalloc_bench = v.parse().ok(),
            Some(("trace_event", v)) => c.trace_event = Some(v.into()),
            None if word == "quiet" => c.quiet = true,
            None if word == "test.triple_fault" => c.test_triple_fault = true,
            None if word == "test.panic" => c.test_panic = true,
            None if word == "test.workqueue" => c.test_workqueue = true,
            _ => c.unknown.push(word.clone()),
        }
    }
    c.init_args = words.collect();
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_and_arguments_after_double_dash() {
        let c = parse("console=ttyS0 init=/bin/sh -- -c \"echo hi\" x");
        assert_eq!(c.init.as_deref(), Some("/bin/sh"));
        assert_eq!(c.init_args, ["-c", "echo hi", "x"]);
        assert_eq!(c.unknown, ["console=ttyS0"]);
    }

    #[test]
    fn quoting_follows_linux_next_arg() {
        // The quoted value of a parameter loses its quotes, spaces and all.
        let c = parse("init=\"/bin/my init\" -- -c \"echo hi; ls -l\" \"\"");
        assert_eq!(c.init.as_deref(), Some("/bin/my init"));
        assert_eq!(c.init_args, ["-c", "echo hi; ls -l", ""]);
        // A whole quoted word, `=` inside it or not.
        assert_eq!(split_words("\"a=b c\"  \"x y\""), ["a=b c", "x y"]);
        // Quotes in the middle of a word stay, as in Linux; the space inside them doesn't split.
        assert_eq!(split_words("a\"b c\"d e"), ["a\"b c\"d", "e"]);
        // An unterminated quote runs to the end of the line.
        assert_eq!(split_words("x \"open to end"), ["x", "open to end"]);
        assert_eq!(split_words("k=\"v w"), ["k=v w"]);
        // Tabs and newlines separate words too; surrounding blanks make no empty words.
        assert_eq!(split_words("\ta\nb  "), ["a", "b"]);
        assert!(split_words("   ").is_empty());
    }

    #[test]
    fn virtio_mmio_devices_in_firecracker_and_qemu_forms() {
        let c = parse("virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=512@0xfeb00e00:12:3");
        assert_eq!(
            c.virtio_mmio,
            [
                VirtioMmioDevice {
                    base: 0xd000_0000,
                    size: 4096,
                    irq: 5
                },
                VirtioMmioDevice {
                    base: 0xfeb0_0e00,
                    size: 512,
                    irq: 12
                },
            ]
        );
    }

    #[test]
    fn malformed_values_are_kept_as_unknown_not_trusted() {
        let c = parse("virtio_mmio.device=4K@zz:5 virtio_mmio.device=oops loglevel=x quiet");
        assert!(c.virtio_mmio.is_empty());
        assert_eq!(c.unknown.len(), 2);
        assert_eq!(c.loglevel, None);
        assert!(c.quiet);
    }

    #[test]
    fn memparse_suffixes_and_overflow() {
        assert_eq!(memparse("4K"), Some(4096));
        assert_eq!(memparse("2M"), Some(2 << 20));
        assert_eq!(memparse("0x10"), Some(16));
        assert_eq!(memparse("99999999999999G"), None);
        assert_eq!(memparse(""), None);
    }
}
