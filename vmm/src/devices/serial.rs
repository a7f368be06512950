//! COM1: vm-superio's 16550 UART, printing to the console sink. Its interrupt line (GSI 4) is
//! an EventFd registered with KVM as an irqfd, so a driver that waits for THRE interrupts works.
//! Input goes to the virtio-console, not here.

use vm_superio::{Serial, Trigger};
use vmm_sys_util::eventfd::EventFd;

use crate::devices::ConsoleSink;

/// ISA IRQ of COM1.
pub const COM1_IRQ: u32 = 4;

/// Raises the UART's interrupt line through an irqfd.
pub struct IrqTrigger(pub EventFd);

impl Trigger for IrqTrigger {
    type E = std::io::Error;

    fn trigger(&self) -> std::io::Result<()> {
        self.0.write(1)
    }
}

/// The 16550 on COM1.
pub struct SerialDevice {
    uart: Serial<IrqTrigger, vm_superio::serial::NoEvents, ConsoleSink>,
}

impl SerialDevice {
    pub fn new(irq: EventFd, sink: ConsoleSink) -> Self {
        SerialDevice {
            uart: Serial::new(IrqTrigger(irq), sink),
        }
    }

    pub fn read(&mut self, offset: u8) -> u8 {
        self.uart.read(offset)
    }

    pub fn write(&mut self, offset: u8, value: u8) {
        // Output errors (a closed stdout) must not stop the guest.
        let _ = self.uart.write(offset, value);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn prints_to_the_sink() {
        let out = Arc::new(Mutex::new(Vec::new()));
        let mut uart = SerialDevice::new(
            EventFd::new(libc::EFD_NONBLOCK).unwrap(),
            ConsoleSink::Capture(out.clone()),
        );
        for b in b"ok\n" {
            uart.write(0, *b);
        }
        // LSR: transmitter empty.
        assert_ne!(uart.read(5) & 0x20, 0);
        assert_eq!(&*out.lock().unwrap(), b"ok\n");
    }
}
