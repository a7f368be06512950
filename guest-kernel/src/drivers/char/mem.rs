//! The memory devices of major 1 (Linux's drivers/char/mem.c and the `random` driver):
//! `/dev/null`, `/dev/zero`, `/dev/full`, `/dev/random`, `/dev/urandom`, `/dev/kmsg`.

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::fs::file::{File, FileOps};
use crate::kernel::errno::*;

/// `null_lseek` of `/dev/null`, `/dev/zero` and `/dev/full`: any seek succeeds and leaves
/// the position at 0.
fn null_lseek(file: &File) -> KResult<i64> {
    *file.pos.lock() = 0;
    Ok(0)
}

/// `/dev/null`: reads end at once, writes vanish.
pub struct Null;
impl FileOps for Null {
    fn read(&self, _f: &File, _buf: &mut [u8], _pos: &mut u64) -> KResult<usize> {
        Ok(0)
    }
    fn write(&self, _f: &File, buf: &[u8], _pos: &mut u64) -> KResult<usize> {
        Ok(buf.len())
    }
    fn llseek(&self, file: &File, _offset: i64, _whence: u64) -> KResult<i64> {
        null_lseek(file)
    }
}

/// `/dev/zero`: endless zeros, writes vanish.
pub struct Zero;
impl FileOps for Zero {
    fn read(&self, _f: &File, buf: &mut [u8], _pos: &mut u64) -> KResult<usize> {
        buf.fill(0);
        Ok(buf.len())
    }
    fn write(&self, _f: &File, buf: &[u8], _pos: &mut u64) -> KResult<usize> {
        Ok(buf.len())
    }
    fn llseek(&self, file: &File, _offset: i64, _whence: u64) -> KResult<i64> {
        null_lseek(file)
    }
}

/// `/dev/full`: zeros to read, and every write fails with `ENOSPC`.
pub struct Full;
impl FileOps for Full {
    fn read(&self, _f: &File, buf: &mut [u8], _pos: &mut u64) -> KResult<usize> {
        buf.fill(0);
        Ok(buf.len())
    }
    fn write(&self, _f: &File, _buf: &[u8], _pos: &mut u64) -> KResult<usize> {
        Err(ENOSPC)
    }
    fn llseek(&self, file: &File, _offset: i64, _whence: u64) -> KResult<i64> {
        null_lseek(file)
    }
}

/// `/dev/random` and `/dev/urandom`: the kernel's pool; writes are accepted and ignored (as
/// mixing input, which our pool does not take).
pub struct Random;
impl FileOps for Random {
    fn read(&self, _f: &File, buf: &mut [u8], _pos: &mut u64) -> KResult<usize> {
        crate::drivers::random::fill(buf);
        Ok(buf.len())
    }
    fn write(&self, _f: &File, buf: &[u8], _pos: &mut u64) -> KResult<usize> {
        Ok(buf.len())
    }
    /// Seeking does nothing (`noop_llseek`), and pread works as read does.
    fn llseek(&self, file: &File, _offset: i64, _whence: u64) -> KResult<i64> {
        Ok(*file.pos.lock() as i64)
    }
}

/// `/dev/kmsg`: each read returns one log record as `prio,seq,usec,-;text\n`; a write logs
/// a line (a leading `<N>` sets its level).
pub struct Kmsg;

impl Kmsg {
    /// The log as records: (level, microseconds, text) per line.
    fn records() -> Vec<(u8, u64, Vec<u8>)> {
        let mut raw = alloc::vec![0u8; crate::kernel::printk::LOG_BUF_LEN];
        let n = crate::kernel::printk::read_log(&mut raw);
        raw[..n]
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(parse_line)
            .collect()
    }
}

/// Split `<6>[    5.123456] text` into its level, its time in microseconds and its text.
fn parse_line(line: &[u8]) -> (u8, u64, Vec<u8>) {
    let (level, line) = match line {
        [b'<', d @ b'0'..=b'7', b'>', rest @ ..] => (d - b'0', rest),
        _ => (6, line),
    };
    let text = |l: &[u8]| l.to_vec();
    let Some(end) = line.iter().position(|&b| b == b']') else {
        return (level, 0, text(line));
    };
    let stamp = core::str::from_utf8(&line[1.min(end)..end])
        .unwrap_or("")
        .trim();
    let usec = stamp
        .split_once('.')
        .and_then(|(s, us)| Some(s.parse::<u64>().ok()? * 1_000_000 + us.parse::<u64>().ok()?))
        .unwrap_or(0);
    let body = line.get(end + 2..).unwrap_or(&[]);
    (level, usec, text(body))
}

impl FileOps for Kmsg {
    fn read(&self, file: &File, buf: &mut [u8], pos: &mut u64) -> KResult<usize> {
        let records = Self::records();
        let Some((level, usec, text)) = records.get(*pos as usize) else {
            // No blocking wait for new messages: the log has no wait queue yet.
            let _ = file;
            return Err(EAGAIN);
        };
        let mut rec = alloc::format!("{level},{},{usec},-;", *pos).into_bytes();
        rec.extend_from_slice(text);
        rec.push(b'\n');
        if rec.len() > buf.len() {
            return Err(EINVAL); // Linux: the buffer must hold a whole record
        }
        buf[..rec.len()].copy_from_slice(&rec);
        *pos += 1;
        Ok(rec.len())
    }

    fn write(&self, _f: &File, buf: &[u8], _pos: &mut u64) -> KResult<usize> {
        let (level, text) = match buf {
            [b'<', d @ b'0'..=b'7', b'>', rest @ ..] => (d - b'0', rest),
            _ => (4, buf),
        };
        let text = core::str::from_utf8(text).unwrap_or("(binary)").trim_end();
        let level = match level {
            0..=3 => crate::kernel::printk::Level::Err,
            4 => crate::kernel::printk::Level::Warning,
            5 => crate::kernel::printk::Level::Notice,
            6 => crate::kernel::printk::Level::Info,
            _ => crate::kernel::printk::Level::Debug,
        };
        crate::kernel::printk::printk(level, format_args!("{}", text));
        Ok(buf.len())
    }
}

/// The file operations of `/dev/<minor>` on major 1.
pub fn open(minor: u32) -> KResult<Arc<dyn FileOps>> {
    Ok(match minor {
        3 => Arc::new(Null),
        5 => Arc::new(Zero),
        7 => Arc::new(Full),
        8 | 9 => Arc::new(Random),
        11 => Arc::new(Kmsg),
        _ => return Err(ENXIO),
    })
}
