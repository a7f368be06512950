//! printk: the kernel log.
//!
//! Each message gets Linux's `[    5.123456] ` timestamp, goes into a ring buffer (read later by
//! `dmesg` through `syslog(2)` or `/dev/kmsg`) and is mirrored to the serial console. Levels
//! follow Linux's `KERN_*` numbering; messages below the console log level are kept but not
//! printed. The ring holds each line as `syslog(2)` returns it: `<6>[    5.123456] text\n`.

use alloc::vec::Vec;
use core::fmt::{self, Write};

use spin::Mutex;

use crate::arch;

pub const LOG_BUF_LEN: usize = 64 * 1024;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Level {
    Emerg = 0,
    Alert = 1,
    Crit = 2,
    Err = 3,
    Warning = 4,
    Notice = 5,
    Info = 6,
    Debug = 7,
}

/// The log ring: oldest bytes are overwritten when full.
pub struct LogBuffer {
    buf: [u8; LOG_BUF_LEN],
    /// Total bytes ever written; `head % LOG_BUF_LEN` is the next write position.
    head: usize,
}

impl LogBuffer {
    pub const fn new() -> Self {
        LogBuffer {
            buf: [0; LOG_BUF_LEN],
            head: 0,
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.buf[self.head % LOG_BUF_LEN] = b;
            self.head += 1;
        }
    }

    /// The retained log, oldest first, as two slices.
    pub fn contents(&self) -> (&[u8], &[u8]) {
        if self.head <= LOG_BUF_LEN {
            (&self.buf[..self.head], &[])
        } else {
            let split = self.head % LOG_BUF_LEN;
            (&self.buf[split..], &self.buf[..split])
        }
    }
}

pub struct Log {
    ring: LogBuffer,
    console_level: Level,
    /// The level `SYSLOG_ACTION_CONSOLE_OFF` saved, for `CONSOLE_ON`.
    saved_console_level: Option<Level>,
    /// `ring.head` at the last `SYSLOG_ACTION_CLEAR` (`clear_seq`): READ_ALL starts there.
    clear: usize,
}

static LOG: Mutex<Log> = Mutex::new(Log {
    ring: LogBuffer::new(),
    console_level: Level::Info,
    saved_console_level: None,
    clear: 0,
});

struct LineWriter<'a> {
    log: &'a mut Log,
    echo: bool,
}

impl Write for LineWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.log.ring.push(s.as_bytes());
        if self.echo {
            arch::console_write(s.as_bytes());
        }
        Ok(())
    }
}

/// Format the timestamp prefix Linux uses: seconds right-aligned in 5 columns, microseconds.
pub fn format_timestamp(ns: u64, out: &mut impl Write) -> fmt::Result {
    write!(
        out,
        "[{:5}.{:06}] ",
        ns / 1_000_000_000,
        (ns % 1_000_000_000) / 1000
    )
}

pub fn printk(level: Level, args: fmt::Arguments) {
    arch::cpu::without_interrupts(|| {
        let mut log = LOG.lock();
        let echo = level <= log.console_level;
        log.ring.push(&[b'<', b'0' + level as u8, b'>']);
        let mut w = LineWriter {
            log: &mut log,
            echo,
        };
        let _ = format_timestamp(arch::tsc::ns_since_boot(), &mut w);
        let _ = w.write_fmt(args);
        let _ = w.write_str("\n");
    });
}

/// Set the console log level (`loglevel=` / `quiet`).
pub fn set_console_level(level: Level) {
    LOG.lock().console_level = level;
}

/// Copy the retained log into `out` (for `dmesg`); returns the bytes copied.
pub fn read_log(out: &mut [u8]) -> usize {
    let log = LOG.lock();
    let (a, b) = log.ring.contents();
    let mut n = 0;
    for &byte in a.iter().chain(b) {
        if n == out.len() {
            break;
        }
        out[n] = byte;
        n += 1;
    }
    n
}

/// Write straight to the console, bypassing the lock (panic path only).
pub fn emergency_write(args: fmt::Arguments) {
    struct Raw;
    impl Write for Raw {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            arch::console_write(s.as_bytes());
            Ok(())
        }
    }
    let _ = Raw.write_fmt(args);
}

#[macro_export]
macro_rules! pr_info {
    ($($arg:tt)*) => { $crate::kernel::printk::printk($crate::kernel::printk::Level::Info, format_args!($($arg)*)) };
}
#[macro_export]
macro_rules! pr_notice {
    ($($arg:tt)*) => { $crate::kernel::printk::printk($crate::kernel::printk::Level::Notice, format_args!($($arg)*)) };
}
#[macro_export]
macro_rules! pr_warn {
    ($($arg:tt)*) => { $crate::kernel::printk::printk($crate::kernel::printk::Level::Warning, format_args!($($arg)*)) };
}
#[macro_export]
macro_rules! pr_err {
    ($($arg:tt)*) => { $crate::kernel::printk::printk($crate::kernel::printk::Level::Err, format_args!($($arg)*)) };
}
#[macro_export]
macro_rules! pr_debug {
    ($($arg:tt)*) => { $crate::kernel::printk::printk($crate::kernel::printk::Level::Debug, format_args!($($arg)*)) };
}

/// The log since the last clear as whole lines, at most the last `max` bytes of them
/// (`syslog_print_all`: the newest records that fit).
fn log_since_clear(log: &Log, max: usize) -> Vec<u8> {
    let (a, b) = log.ring.contents();
    let retained = a.len() + b.len();
    let unread = (log.ring.head - log.clear).min(retained);
    let mut text: Vec<u8> = a.iter().chain(b).skip(retained - unread).copied().collect();
    // A wrapped ring or a short buffer cuts a line: start at the next whole one.
    let cut = |text: &mut Vec<u8>, from: usize| {
        let start = text[from..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(text.len(), |i| from + i + 1);
        text.drain(..start);
    };
    if unread == retained && log.ring.head > LOG_BUF_LEN {
        cut(&mut text, 0);
    }
    if text.len() > max {
        let from = text.len() - max;
        if text[from - 1] == b'\n' {
            text.drain(..from);
        } else {
            cut(&mut text, from);
        }
    }
    text
}

/// `syslog(2)` (`do_syslog`): read, clear and size the kernel log, and set the console level.
/// Reading all of it and its size are open to everyone (`dmesg_restrict` is 0); the rest needs
/// root (`CAP_SYSLOG`). The destructive, blocking `SYSLOG_ACTION_READ` of klogd is not
/// supported (`EINVAL`).
#[cfg(not(test))]
pub fn sys_syslog(action: u64, buf: u64, len: u64) -> crate::kernel::errno::KResult<i64> {
    use crate::kernel::errno::*;
    const CLOSE: u64 = 0;
    const OPEN: u64 = 1;
    const READ_ALL: u64 = 3;
    const READ_CLEAR: u64 = 4;
    const CLEAR: u64 = 5;
    const CONSOLE_OFF: u64 = 6;
    const CONSOLE_ON: u64 = 7;
    const CONSOLE_LEVEL: u64 = 8;
    const SIZE_UNREAD: u64 = 9;
    const SIZE_BUFFER: u64 = 10;
    let action = action as i32 as u64;
    let len = len as i32;
    if !matches!(action, READ_ALL | SIZE_BUFFER)
        && crate::kernel::task::current().cred.lock().euid != 0
    {
        return Err(EPERM);
    }
    let levels = [
        Level::Emerg,
        Level::Alert,
        Level::Crit,
        Level::Err,
        Level::Warning,
        Level::Notice,
        Level::Info,
        Level::Debug,
    ];
    match action {
        CLOSE | OPEN => Ok(0),
        READ_ALL | READ_CLEAR => {
            if buf == 0 || len < 0 {
                return Err(EINVAL);
            }
            if len == 0 {
                return Ok(0);
            }
            if !crate::mm::usercopy::access_ok(buf, len as usize) {
                return Err(EFAULT);
            }
            let text = arch::cpu::without_interrupts(|| {
                let mut log = LOG.lock();
                let text = log_since_clear(&log, len as usize);
                if action == READ_CLEAR {
                    log.clear = log.ring.head;
                }
                text
            });
            crate::mm::usercopy::copy_to_user(buf, &text)?;
            Ok(text.len() as i64)
        }
        CLEAR => {
            arch::cpu::without_interrupts(|| {
                let mut log = LOG.lock();
                log.clear = log.ring.head;
            });
            Ok(0)
        }
        CONSOLE_OFF | CONSOLE_ON | CONSOLE_LEVEL => {
            if action == CONSOLE_LEVEL && !(1..=8).contains(&len) {
                return Err(EINVAL);
            }
            arch::cpu::without_interrupts(|| {
                let mut log = LOG.lock();
                match action {
                    CONSOLE_OFF => {
                        let old = log.console_level;
                        log.saved_console_level.get_or_insert(old);
                        log.console_level = Level::Emerg;
                    }
                    CONSOLE_ON => {
                        if let Some(l) = log.saved_console_level.take() {
                            log.console_level = l;
                        }
                    }
                    // Linux's console_loglevel N prints levels below N.
                    _ => {
                        log.console_level = levels[len as usize - 1];
                        log.saved_console_level = None;
                    }
                }
            });
            Ok(0)
        }
        SIZE_UNREAD => Ok(arch::cpu::without_interrupts(|| {
            let log = LOG.lock();
            log_since_clear(&log, LOG_BUF_LEN).len() as i64
        })),
        SIZE_BUFFER => Ok(LOG_BUF_LEN as i64),
        _ => Err(EINVAL),
    }
}

#[cfg(test)]
mod syslog_tests {
    use super::*;

    fn log_with(lines: &[&str]) -> Log {
        let mut log = Log {
            ring: LogBuffer::new(),
            console_level: Level::Info,
            saved_console_level: None,
            clear: 0,
        };
        for l in lines {
            log.ring.push(l.as_bytes());
        }
        log
    }

    #[test]
    fn read_all_returns_whole_newest_lines() {
        let mut log = log_with(&["<6>[    0.000000] one\n", "<4>[    0.100000] two\n"]);
        let all = log_since_clear(&log, LOG_BUF_LEN);
        assert_eq!(all, b"<6>[    0.000000] one\n<4>[    0.100000] two\n");
        assert_eq!(log_since_clear(&log, 30), b"<4>[    0.100000] two\n");
        log.clear = log.ring.head;
        assert!(log_since_clear(&log, LOG_BUF_LEN).is_empty());
        log.ring.push(b"<6>[    0.200000] three\n");
        assert_eq!(log_since_clear(&log, 100), b"<6>[    0.200000] three\n");
    }

    #[test]
    fn wrapped_ring_starts_at_a_whole_line() {
        let line = "<6>[    1.000000] abcdefghijklmnopqrstuvwxyz\n";
        let n = LOG_BUF_LEN / line.len() + 10;
        let log = log_with(&vec![line; n]);
        let all = log_since_clear(&log, LOG_BUF_LEN);
        assert!(all.starts_with(b"<6>[") && all.ends_with(b"xyz\n"));
        assert_eq!(all.len() % line.len(), 0);
    }
}
