//! The two debug ports: port 0x80 records boot-progress codes with the time since the VMM
//! process started; port 0xf4 (QEMU's isa-debug-exit, 4 bytes wide) powers the VM off with
//! the value written as the exit status.

use std::sync::Mutex;
use std::time::Instant;

use crate::devices::lock;
use crate::BootEvent;

/// Port 0x80: timestamped boot events, in the order written.
pub struct DebugPort {
    start: Instant,
    events: Mutex<Vec<BootEvent>>,
}

impl DebugPort {
    pub fn new(start: Instant) -> Self {
        DebugPort {
            start,
            events: Mutex::new(Vec::new()),
        }
    }

    pub fn record(&self, code: u8) {
        let since_start = self.start.elapsed();
        let mut events = lock(&self.events);
        // A runaway guest must not grow the VMM without bound.
        if events.len() < 4096 {
            events.push(BootEvent { code, since_start });
        }
    }

    pub fn events(&self) -> Vec<BootEvent> {
        lock(&self.events).clone()
    }
}

/// Port 0xf4.
pub struct DebugExit;

impl DebugExit {
    /// The exit status for bytes written to the port (little-endian, zero-extended).
    pub fn status(data: &[u8]) -> i32 {
        let mut bytes = [0u8; 4];
        let n = data.len().min(4);
        bytes[..n].copy_from_slice(&data[..n]);
        u32::from_le_bytes(bytes) as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status() {
        assert_eq!(DebugExit::status(&[0, 0, 0, 0]), 0);
        assert_eq!(DebugExit::status(&101u32.to_le_bytes()), 101);
        assert_eq!(DebugExit::status(&[3]), 3);
    }

    #[test]
    fn events_in_order() {
        let port = DebugPort::new(Instant::now());
        port.record(0x40);
        port.record(0x41);
        let ev = port.events();
        assert_eq!(
            ev.iter().map(|e| e.code).collect::<Vec<_>>(),
            vec![0x40, 0x41]
        );
        assert!(ev[0].since_start <= ev[1].since_start);
    }
}
