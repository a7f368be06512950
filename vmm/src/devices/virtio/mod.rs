//! Virtio devices over the virtio-mmio transport (virtio 1.x, "modern", version 2 registers).
//!
//! A device implements [`VirtioDevice`]: its type, queues, features and config space, and how
//! to process a queue when the guest notifies it. The transport ([`mmio::MmioTransport`]) owns
//! the queues and the negotiation state machine and calls into the device. Notifications arrive
//! as ioeventfds, interrupts leave as an irqfd ([`Interrupt`]); the event loop thread
//! (`devices::event_loop`) connects the two.

pub mod console;
pub mod mmio;
pub mod trace;

use std::sync::atomic::{AtomicU32, Ordering};

use virtio_queue::Queue;
use vmm_sys_util::eventfd::EventFd;

use crate::memory::GuestMemory;

/// `VIRTIO_F_VERSION_1`: offered by every device.
pub const VIRTIO_F_VERSION_1: u64 = 1 << virtio_bindings::virtio_config::VIRTIO_F_VERSION_1;
/// InterruptStatus bit: a used buffer was added.
pub const VIRTIO_MMIO_INT_VRING: u32 = 0x1;
/// InterruptStatus bit: the configuration changed (or the device needs a reset).
pub const VIRTIO_MMIO_INT_CONFIG: u32 = 0x2;

/// Errors a device reports while processing a queue; the transport then marks the device as
/// needing a reset.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("virtio queue")]
    Queue(#[from] virtio_queue::Error),
    #[error("descriptor at {0:#x}+{1:#x} is outside guest memory")]
    BadDescriptor(u64, u32),
    #[error("available ring index {avail} is {pending} ahead of the device (queue size {size})")]
    AvailIndex { avail: u16, pending: u16, size: u16 },
    #[error("cannot start: {0}")]
    Activate(String),
}

/// A device's interrupt: the InterruptStatus register and the irqfd that raises its GSI.
pub struct Interrupt {
    status: AtomicU32,
    irqfd: EventFd,
}

impl Interrupt {
    pub fn new(irqfd: EventFd) -> Self {
        Interrupt {
            status: AtomicU32::new(0),
            irqfd,
        }
    }

    /// Sets `bits` in InterruptStatus and raises the interrupt.
    pub fn signal(&self, bits: u32) {
        self.status.fetch_or(bits, Ordering::SeqCst);
        if let Err(e) = self.irqfd.write(1) {
            crate::warn!("cannot raise virtio interrupt: {e}");
        }
    }

    pub fn status(&self) -> u32 {
        self.status.load(Ordering::SeqCst)
    }

    pub fn ack(&self, bits: u32) {
        self.status.fetch_and(!bits, Ordering::SeqCst);
    }

    pub fn reset(&self) {
        self.status.store(0, Ordering::SeqCst);
    }
}

/// What a virtio device tells the transport.
pub trait VirtioDevice: Send {
    /// Virtio device ID (3 = console).
    fn device_type(&self) -> u32;
    /// Maximum size of each queue; its length is the number of queues.
    fn queue_max_sizes(&self) -> &[u16];
    /// Device feature bits besides `VIRTIO_F_VERSION_1`.
    fn features(&self) -> u64;
    /// Reads the config space (offset relative to 0x100); out-of-range bytes read as zero.
    fn read_config(&self, offset: u64, data: &mut [u8]);
    /// Writes the config space.
    fn write_config(&mut self, offset: u64, data: &[u8]);
    /// The driver set DRIVER_OK: start using what it set up. An error marks the device as
    /// needing a reset.
    fn activate(&mut self, _mem: &GuestMemory) -> Result<(), DeviceError> {
        Ok(())
    }
    /// Back to the initial state (status 0 written). Queues are reset by the transport.
    fn reset(&mut self);
    /// Processes queue `index` after a notification; `queues` are all the device's queues,
    /// each checked ready and valid.
    fn process_queue(
        &mut self,
        index: usize,
        queues: &mut [Queue],
        mem: &GuestMemory,
        interrupt: &Interrupt,
    ) -> Result<(), DeviceError>;
}
