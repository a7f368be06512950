//! Emulated devices and the dispatch of guest I/O to them.
//!
//! Port I/O: COM1 (a vm-superio 16550), the port-0x80 boot-progress port and the 0xf4
//! debug-exit port; any other port reads as all ones and ignores writes, so that probes of the
//! PIC, PIT, CMOS and friends are harmless. MMIO goes through a [`MmioBus`] of address ranges;
//! unknown addresses read as zero and ignore writes (logged once).
//!
//! [`Devices`] is shared by all vCPU threads; each device sits behind its own mutex.

pub mod debug_port;
pub mod event_loop;
pub mod serial;
pub mod virtio;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use abi::ports::{COM1, COM1_LEN, DEBUG_EXIT, DEBUG_EXIT_LEN, DEBUG_PORT};

use crate::vcpu::ExitHandler;
use debug_port::{DebugExit, DebugPort};
use serial::SerialDevice;

/// Where guest console output goes; cloned into every device that prints.
#[derive(Debug, Clone)]
pub enum ConsoleSink {
    /// The VMM's stdout, flushed on every write.
    Stdout,
    /// The VMM's stderr.
    Stderr,
    /// Appended to a shared buffer (tests).
    Capture(Arc<Mutex<Vec<u8>>>),
}

impl Write for ConsoleSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            ConsoleSink::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(buf)?;
                out.flush()?;
            }
            ConsoleSink::Stderr => std::io::stderr().lock().write_all(buf)?,
            ConsoleSink::Capture(v) => v
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(buf),
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            ConsoleSink::Stdout => std::io::stdout().flush(),
            ConsoleSink::Stderr | ConsoleSink::Capture(_) => Ok(()),
        }
    }
}

/// A device on the MMIO bus; `offset` is relative to the device's base.
pub trait MmioDevice: Send {
    fn read(&mut self, offset: u64, data: &mut [u8]);
    fn write(&mut self, offset: u64, data: &[u8]);
}

struct MmioRange {
    base: u64,
    len: u64,
    device: Arc<Mutex<dyn MmioDevice>>,
}

#[derive(Debug, thiserror::Error)]
#[error("MMIO range {base:#x}+{len:#x} overlaps another device")]
pub struct OverlapError {
    pub base: u64,
    pub len: u64,
}

/// MMIO address ranges and their devices.
#[derive(Default)]
pub struct MmioBus {
    ranges: Vec<MmioRange>,
    warned: AtomicBool,
}

impl MmioBus {
    pub fn insert(
        &mut self,
        base: u64,
        len: u64,
        device: Arc<Mutex<dyn MmioDevice>>,
    ) -> Result<(), OverlapError> {
        let end = base.checked_add(len).ok_or(OverlapError { base, len })?;
        if len == 0
            || self
                .ranges
                .iter()
                .any(|r| base < r.base + r.len && r.base < end)
        {
            return Err(OverlapError { base, len });
        }
        self.ranges.push(MmioRange { base, len, device });
        Ok(())
    }

    fn find(&self, addr: u64, len: usize) -> Option<(&MmioRange, u64)> {
        self.ranges
            .iter()
            .find(|r| addr >= r.base && addr - r.base + len as u64 <= r.len)
            .map(|r| (r, addr - r.base))
    }

    fn warn_once(&self, what: &str, addr: u64) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            crate::warn!("guest {what} unknown MMIO address {addr:#x} (ignored; logged once)");
        }
    }

    /// Reads from the device at `addr`; zeroes for unknown addresses.
    pub fn read(&self, addr: u64, data: &mut [u8]) {
        match self.find(addr, data.len()) {
            Some((r, off)) => lock(&r.device).read(off, data),
            None => {
                data.fill(0);
                self.warn_once("read from", addr);
            }
        }
    }

    /// Writes to the device at `addr`; ignored for unknown addresses.
    pub fn write(&self, addr: u64, data: &[u8]) {
        match self.find(addr, data.len()) {
            Some((r, off)) => lock(&r.device).write(off, data),
            None => self.warn_once("write to", addr),
        }
    }
}

/// Locks a mutex, carrying on if a panicking thread poisoned it.
pub fn lock<T: ?Sized>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// All devices a vCPU can reach.
pub struct Devices {
    pub serial: Mutex<SerialDevice>,
    pub debug_port: DebugPort,
    pub mmio: MmioBus,
}

impl ExitHandler for Devices {
    fn pio_read(&self, port: u16, data: &mut [u8]) {
        if (COM1..COM1 + COM1_LEN).contains(&port) && data.len() == 1 {
            data[0] = lock(&self.serial).read((port - COM1) as u8);
        } else {
            data.fill(0xff);
        }
    }

    fn pio_write(&self, port: u16, data: &[u8]) -> Option<i32> {
        match port {
            p if (COM1..COM1 + COM1_LEN).contains(&p) && data.len() == 1 => {
                lock(&self.serial).write((p - COM1) as u8, data[0]);
            }
            DEBUG_PORT if data.len() == 1 => self.debug_port.record(data[0]),
            DEBUG_EXIT if data.len() <= DEBUG_EXIT_LEN as usize => {
                return Some(DebugExit::status(data));
            }
            _ => {}
        }
        None
    }

    fn mmio_read(&self, addr: u64, data: &mut [u8]) {
        self.mmio.read(addr, data)
    }

    fn mmio_write(&self, addr: u64, data: &[u8]) {
        self.mmio.write(addr, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo(Vec<(u64, Vec<u8>)>);
    impl MmioDevice for Echo {
        fn read(&mut self, offset: u64, data: &mut [u8]) {
            data.fill(offset as u8);
        }
        fn write(&mut self, offset: u64, data: &[u8]) {
            self.0.push((offset, data.to_vec()));
        }
    }

    #[test]
    fn bus_dispatch() {
        let mut bus = MmioBus::default();
        let dev = Arc::new(Mutex::new(Echo(Vec::new())));
        bus.insert(0x1000, 0x100, dev.clone()).unwrap();
        assert!(bus.insert(0x10ff, 0x10, dev.clone()).is_err());
        assert!(bus.insert(0xf00, 0x101, dev.clone()).is_err());
        assert!(bus.insert(u64::MAX, 2, dev.clone()).is_err());
        bus.insert(0x1100, 0x100, dev.clone()).unwrap();
        let mut buf = [0u8; 4];
        bus.read(0x1010, &mut buf);
        assert_eq!(buf, [0x10; 4]);
        bus.read(0x10fe, &mut buf); // straddles two devices: unknown
        assert_eq!(buf, [0; 4]);
        bus.write(0x1104, &[1, 2]);
        bus.write(0x9000, &[1]);
        assert_eq!(lock(&dev).0, vec![(4, vec![1, 2])]);
    }

    #[test]
    fn capture_sink() {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let mut sink = ConsoleSink::Capture(buf.clone());
        sink.write_all(b"hi").unwrap();
        assert_eq!(&*buf.lock().unwrap(), b"hi");
    }
}
