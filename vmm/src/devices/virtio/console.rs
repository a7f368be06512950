//! virtio-console (device ID 3): one port, no multiport, no emergency write.
//!
//! Queue 0 (receiveq) carries input to the guest, queue 1 (transmitq) output from it. Input
//! (stdin or the test's canned bytes) is buffered in `pending` until the guest posts receive
//! buffers; the buffer is bounded so a guest that never reads can't grow the VMM. Output goes
//! to the [`ConsoleSink`] shared with COM1. The config space (cols, rows, max_nr_ports,
//! emerg_wr) reads as zeros.

use std::collections::VecDeque;
use std::io::Write;
use std::num::Wrapping;
use std::sync::atomic::Ordering;

use virtio_queue::{Queue, QueueT};
use vm_memory::{Address, Bytes};

use super::{DeviceError, Interrupt, VirtioDevice, VIRTIO_MMIO_INT_VRING};
use crate::devices::ConsoleSink;
use crate::memory::GuestMemory;

pub const VIRTIO_ID_CONSOLE: u32 = 3;
pub const RX_QUEUE: usize = 0;
pub const TX_QUEUE: usize = 1;
pub const QUEUE_SIZE: u16 = 256;
const CONFIG_SIZE: usize = 12;
/// Most input bytes held for a guest that isn't reading.
pub const MAX_PENDING_INPUT: usize = 64 * 1024;
const CHUNK: usize = 4096;

pub struct Console {
    sink: ConsoleSink,
    /// Input not yet delivered to the guest.
    pending: VecDeque<u8>,
}

impl Console {
    pub fn new(sink: ConsoleSink) -> Self {
        Console {
            sink,
            pending: VecDeque::new(),
        }
    }

    /// Queues input for the guest (dropping the oldest beyond [`MAX_PENDING_INPUT`]).
    pub fn push_input(&mut self, bytes: &[u8]) {
        self.pending.extend(bytes);
        let excess = self.pending.len().saturating_sub(MAX_PENDING_INPUT);
        self.pending.drain(..excess);
    }

    pub fn pending_input(&self) -> usize {
        self.pending.len()
    }

    /// Moves pending input into the guest's receive buffers.
    fn process_rx(&mut self, queue: &mut Queue, mem: &GuestMemory) -> Result<bool, DeviceError> {
        let mut used = false;
        while !self.pending.is_empty() {
            check_avail(queue, mem)?;
            let Some(chain) = queue.pop_descriptor_chain(mem) else {
                break;
            };
            let head = chain.head_index();
            let mut written = 0u32;
            for desc in chain.writable() {
                if self.pending.is_empty() {
                    break;
                }
                let n = (desc.len() as usize).min(self.pending.len());
                let (a, b) = self.pending.as_slices();
                let mut buf = Vec::with_capacity(n);
                buf.extend_from_slice(&a[..n.min(a.len())]);
                buf.extend_from_slice(&b[..n - buf.len()]);
                mem.write_slice(&buf, desc.addr())
                    .map_err(|_| DeviceError::BadDescriptor(desc.addr().raw_value(), desc.len()))?;
                self.pending.drain(..n);
                written += n as u32;
            }
            queue.add_used(mem, head, written)?;
            used = true;
        }
        Ok(used)
    }

    /// Writes everything the guest transmitted to the sink.
    fn process_tx(&mut self, queue: &mut Queue, mem: &GuestMemory) -> Result<bool, DeviceError> {
        let mut used = false;
        let mut buf = [0u8; CHUNK];
        loop {
            check_avail(queue, mem)?;
            let Some(chain) = queue.pop_descriptor_chain(mem) else {
                break;
            };
            let head = chain.head_index();
            for desc in chain.readable() {
                let mut done = 0usize;
                let len = desc.len() as usize;
                while done < len {
                    let n = (len - done).min(CHUNK);
                    let bad = || DeviceError::BadDescriptor(desc.addr().raw_value(), desc.len());
                    let addr = desc.addr().checked_add(done as u64).ok_or_else(bad)?;
                    mem.read_slice(&mut buf[..n], addr).map_err(|_| bad())?;
                    // A closed stdout must not stop the guest.
                    let _ = self.sink.write_all(&buf[..n]);
                    done += n;
                }
            }
            queue.add_used(mem, head, 0)?;
            used = true;
        }
        Ok(used)
    }
}

/// Refuses an available index further ahead than the queue size (a hostile driver).
fn check_avail(queue: &Queue, mem: &GuestMemory) -> Result<(), DeviceError> {
    let avail = queue.avail_idx(mem, Ordering::Acquire)?;
    let pending = (avail - Wrapping(queue.next_avail())).0;
    if pending > queue.size() {
        return Err(DeviceError::AvailIndex {
            avail: avail.0,
            pending,
            size: queue.size(),
        });
    }
    Ok(())
}

impl VirtioDevice for Console {
    fn device_type(&self) -> u32 {
        VIRTIO_ID_CONSOLE
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &[QUEUE_SIZE, QUEUE_SIZE]
    }

    fn features(&self) -> u64 {
        0
    }

    fn read_config(&self, _offset: u64, data: &mut [u8]) {
        // cols = rows = 0, max_nr_ports and emerg_wr unused: all zero.
        let _ = CONFIG_SIZE;
        data.fill(0);
    }

    fn write_config(&mut self, _offset: u64, _data: &[u8]) {}

    fn reset(&mut self) {
        // Pending input survives a reset: it was typed for whoever reads the console next.
    }

    fn process_queue(
        &mut self,
        index: usize,
        queues: &mut [Queue],
        mem: &GuestMemory,
        interrupt: &Interrupt,
    ) -> Result<(), DeviceError> {
        let Some(queue) = queues.get_mut(index) else {
            return Ok(());
        };
        let used = match index {
            RX_QUEUE => self.process_rx(queue, mem)?,
            TX_QUEUE => self.process_tx(queue, mem)?,
            _ => false,
        };
        if used && queue.needs_notification(mem)? {
            interrupt.signal(VIRTIO_MMIO_INT_VRING);
        }
        Ok(())
    }
}
