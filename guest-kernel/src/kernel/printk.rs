//! printk: the kernel log.
//!
//! Each message gets Linux's `[    5.123456] ` timestamp, goes into a ring buffer (read later by
//! `dmesg` / `/proc/kmsg`) and is mirrored to the serial console. Levels follow Linux's
//! `KERN_*` numbering; messages below the console log level are kept but not printed.

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
}

static LOG: Mutex<Log> = Mutex::new(Log {
    ring: LogBuffer::new(),
    console_level: Level::Info,
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
