//! The virtio-mmio transport, version 2 ("modern") register layout.
//!
//! State machine: the driver resets (Status = 0), sets ACKNOWLEDGE and DRIVER, reads the
//! device features and writes the ones it accepts, sets FEATURES_OK (refused, i.e. left clear,
//! unless the accepted set is a subset of ours that includes VERSION_1), configures each queue
//! (size, ring addresses, QueueReady) and sets DRIVER_OK. Only then are notifications passed
//! on to the device. Every guest value is checked: a bad queue size or misaligned ring is
//! logged and ignored; a queue whose rings are not in guest memory is refused at QueueReady
//! and the device is flagged DEVICE_NEEDS_RESET; processing errors do the same. Nothing the
//! guest writes can panic the VMM.

use virtio_queue::{Queue, QueueT};
use vm_memory::GuestAddress;
use vmm_sys_util::eventfd::EventFd;

use super::{Interrupt, VirtioDevice, VIRTIO_F_VERSION_1, VIRTIO_MMIO_INT_CONFIG};
use crate::devices::MmioDevice;
use crate::memory::GuestMemory;

pub const MMIO_MAGIC_VALUE: u32 = 0x7472_6976;
pub const MMIO_VERSION: u32 = 2;
/// Vendor ID we report ("WVMW").
pub const VENDOR_ID: u32 = 0x574d_5657;

pub const REG_MAGIC: u64 = 0x000;
pub const REG_VERSION: u64 = 0x004;
pub const REG_DEVICE_ID: u64 = 0x008;
pub const REG_VENDOR_ID: u64 = 0x00c;
pub const REG_DEVICE_FEATURES: u64 = 0x010;
pub const REG_DEVICE_FEATURES_SEL: u64 = 0x014;
pub const REG_DRIVER_FEATURES: u64 = 0x020;
pub const REG_DRIVER_FEATURES_SEL: u64 = 0x024;
pub const REG_QUEUE_SEL: u64 = 0x030;
pub const REG_QUEUE_NUM_MAX: u64 = 0x034;
pub const REG_QUEUE_NUM: u64 = 0x038;
pub const REG_QUEUE_READY: u64 = 0x044;
pub const REG_QUEUE_NOTIFY: u64 = 0x050;
pub const REG_INTERRUPT_STATUS: u64 = 0x060;
pub const REG_INTERRUPT_ACK: u64 = 0x064;
pub const REG_STATUS: u64 = 0x070;
pub const REG_QUEUE_DESC_LOW: u64 = 0x080;
pub const REG_QUEUE_DESC_HIGH: u64 = 0x084;
pub const REG_QUEUE_DRIVER_LOW: u64 = 0x090;
pub const REG_QUEUE_DRIVER_HIGH: u64 = 0x094;
pub const REG_QUEUE_DEVICE_LOW: u64 = 0x0a0;
pub const REG_QUEUE_DEVICE_HIGH: u64 = 0x0a4;
pub const REG_SHM_LEN_LOW: u64 = 0x0b0;
pub const REG_SHM_LEN_HIGH: u64 = 0x0b4;
pub const REG_CONFIG_GENERATION: u64 = 0x0fc;
pub const CONFIG_SPACE: u64 = 0x100;

pub const STATUS_ACKNOWLEDGE: u32 = 1;
pub const STATUS_DRIVER: u32 = 2;
pub const STATUS_DRIVER_OK: u32 = 4;
pub const STATUS_FEATURES_OK: u32 = 8;
pub const STATUS_DEVICE_NEEDS_RESET: u32 = 0x40;
pub const STATUS_FAILED: u32 = 0x80;

/// A virtio device behind its MMIO window.
///
/// Locking: the whole transport (device included) sits in one `Mutex`, taken by vCPU threads
/// for register accesses and by the event loop to process queues.
pub struct MmioTransport<D: VirtioDevice> {
    device: D,
    mem: GuestMemory,
    queues: Vec<Queue>,
    /// One notification EventFd per queue; KVM signals them as ioeventfds, and a QueueNotify
    /// write that reaches us anyway is forwarded to them.
    queue_evts: Vec<EventFd>,
    interrupt: Interrupt,
    status: u32,
    device_features_sel: u32,
    driver_features_sel: u32,
    driver_features: u64,
    /// The driver accepted a feature bit beyond 63 (none exist): FEATURES_OK is refused.
    unknown_features: bool,
    queue_sel: u32,
    config_generation: u32,
    name: String,
}

impl<D: VirtioDevice> MmioTransport<D> {
    /// `name` prefixes log lines; `interrupt` carries the irqfd of the device's GSI.
    pub fn new(
        name: &str,
        device: D,
        mem: GuestMemory,
        interrupt: Interrupt,
    ) -> std::io::Result<Self> {
        let mut queues = Vec::new();
        let mut queue_evts = Vec::new();
        for &max in device.queue_max_sizes() {
            let queue = Queue::new(max).map_err(|e| std::io::Error::other(e.to_string()))?;
            queues.push(queue);
            queue_evts.push(EventFd::new(libc::EFD_NONBLOCK)?);
        }
        Ok(MmioTransport {
            device,
            mem,
            queues,
            queue_evts,
            interrupt,
            status: 0,
            device_features_sel: 0,
            driver_features_sel: 0,
            driver_features: 0,
            unknown_features: false,
            queue_sel: 0,
            config_generation: 0,
            name: name.to_string(),
        })
    }

    pub fn device(&self) -> &D {
        &self.device
    }

    pub fn device_mut(&mut self) -> &mut D {
        &mut self.device
    }

    pub fn status(&self) -> u32 {
        self.status
    }

    /// The notification EventFds, one per queue.
    pub fn queue_evts(&self) -> &[EventFd] {
        &self.queue_evts
    }

    fn offered_features(&self) -> u64 {
        self.device.features() | VIRTIO_F_VERSION_1
    }

    fn driver_ok(&self) -> bool {
        self.status & STATUS_DRIVER_OK != 0 && self.status & STATUS_DEVICE_NEEDS_RESET == 0
    }

    /// Flags the device as broken until the driver resets it.
    fn needs_reset(&mut self, why: &str) {
        crate::warn!("{}: {why}; device needs reset", self.name);
        if self.status & STATUS_DEVICE_NEEDS_RESET == 0 {
            self.status |= STATUS_DEVICE_NEEDS_RESET;
            if self.status & STATUS_DRIVER_OK != 0 {
                self.interrupt.signal(VIRTIO_MMIO_INT_CONFIG);
            }
        }
    }

    fn reset(&mut self) {
        self.device.reset();
        for q in &mut self.queues {
            q.reset();
        }
        self.interrupt.reset();
        self.status = 0;
        self.device_features_sel = 0;
        self.driver_features_sel = 0;
        self.driver_features = 0;
        self.unknown_features = false;
        self.queue_sel = 0;
    }

    /// Processes a notification of queue `index` (from its ioeventfd).
    pub fn notify(&mut self, index: usize) {
        if !self.driver_ok() || index >= self.queues.len() || !self.queues[index].ready() {
            return;
        }
        let result = self
            .device
            .process_queue(index, &mut self.queues, &self.mem, &self.interrupt);
        if let Err(e) = result {
            let why = format!("queue {index}: {}", crate::error_chain(&e));
            self.needs_reset(&why);
        }
    }

    /// The selected queue, if it exists and may still be configured (not ready).
    fn configurable_queue(&mut self) -> Option<&mut Queue> {
        let q = self.queues.get_mut(self.queue_sel as usize)?;
        (!q.ready()).then_some(q)
    }

    fn set_status(&mut self, value: u32) {
        if value == 0 {
            self.reset();
            return;
        }
        let old = self.status;
        let mut new = value | (old & STATUS_DEVICE_NEEDS_RESET);
        if old & !new & !STATUS_DEVICE_NEEDS_RESET != 0 {
            crate::warn!(
                "{}: driver cleared status bits {old:#x} -> {value:#x}; ignored",
                self.name
            );
            return;
        }
        if new & STATUS_FEATURES_OK != 0 && old & STATUS_FEATURES_OK == 0 {
            let extra = self.driver_features & !self.offered_features();
            if extra != 0 || self.unknown_features || self.driver_features & VIRTIO_F_VERSION_1 == 0
            {
                crate::warn!(
                    "{}: refusing features {:#x} (offered {:#x})",
                    self.name,
                    self.driver_features,
                    self.offered_features()
                );
                new &= !STATUS_FEATURES_OK;
            }
        }
        if new & STATUS_DRIVER_OK != 0 && old & STATUS_DRIVER_OK == 0 {
            if new & STATUS_FEATURES_OK == 0 {
                crate::warn!("{}: DRIVER_OK without FEATURES_OK; ignored", self.name);
                return;
            }
            self.status = new;
            if let Err(e) = self.device.activate(&self.mem) {
                let why = crate::error_chain(&e);
                self.needs_reset(&why);
                return;
            }
            // Work the driver queued before DRIVER_OK gets done now.
            for evt in &self.queue_evts {
                let _ = evt.write(1);
            }
            return;
        }
        if new & STATUS_FAILED != 0 && old & STATUS_FAILED == 0 {
            crate::warn!("{}: driver set FAILED", self.name);
        }
        self.status = new;
    }

    fn set_queue_ready(&mut self, ready: bool) {
        let sel = self.queue_sel as usize;
        let Some(q) = self.queues.get_mut(sel) else {
            return;
        };
        if !ready {
            q.set_ready(false);
            return;
        }
        q.set_ready(true);
        if !q.is_valid(&self.mem) {
            q.set_ready(false);
            let why = format!(
                "queue {sel}: size {} or rings (desc {:#x}, avail {:#x}, used {:#x}) invalid",
                q.size(),
                q.desc_table(),
                q.avail_ring(),
                q.used_ring()
            );
            self.needs_reset(&why);
        }
    }

    /// Writes half of a queue address; `which` 0 = descriptor table, 1 = avail, 2 = used.
    fn set_queue_addr(&mut self, which: u8, high: bool, value: u32) {
        let name = self.name.clone();
        let Some(q) = self.configurable_queue() else {
            return;
        };
        let old = match which {
            0 => q.desc_table(),
            1 => q.avail_ring(),
            _ => q.used_ring(),
        };
        let addr = if high {
            (old & 0xffff_ffff) | ((value as u64) << 32)
        } else {
            (old & !0xffff_ffff) | value as u64
        };
        let result = match which {
            0 => q.try_set_desc_table_address(GuestAddress(addr)),
            1 => q.try_set_avail_ring_address(GuestAddress(addr)),
            _ => q.try_set_used_ring_address(GuestAddress(addr)),
        };
        if let Err(e) = result {
            crate::warn!("{name}: ignoring queue address {addr:#x}: {e}");
        }
    }

    fn read_reg(&self, offset: u64) -> u32 {
        match offset {
            REG_MAGIC => MMIO_MAGIC_VALUE,
            REG_VERSION => MMIO_VERSION,
            REG_DEVICE_ID => self.device.device_type(),
            REG_VENDOR_ID => VENDOR_ID,
            REG_DEVICE_FEATURES => match self.device_features_sel {
                0 => self.offered_features() as u32,
                1 => (self.offered_features() >> 32) as u32,
                _ => 0,
            },
            REG_QUEUE_NUM_MAX => self
                .queues
                .get(self.queue_sel as usize)
                .map_or(0, |q| q.max_size() as u32),
            REG_QUEUE_READY => self
                .queues
                .get(self.queue_sel as usize)
                .map_or(0, |q| q.ready() as u32),
            REG_INTERRUPT_STATUS => self.interrupt.status(),
            REG_STATUS => self.status,
            REG_SHM_LEN_LOW | REG_SHM_LEN_HIGH => u32::MAX,
            REG_CONFIG_GENERATION => self.config_generation,
            _ => 0,
        }
    }

    fn write_reg(&mut self, offset: u64, value: u32) {
        match offset {
            REG_DEVICE_FEATURES_SEL => self.device_features_sel = value,
            REG_DRIVER_FEATURES => {
                if self.status & STATUS_FEATURES_OK != 0 {
                    crate::warn!("{}: driver features written after FEATURES_OK", self.name);
                    return;
                }
                match self.driver_features_sel {
                    0 => {
                        self.driver_features = (self.driver_features & !0xffff_ffff) | value as u64
                    }
                    1 => {
                        self.driver_features =
                            (self.driver_features & 0xffff_ffff) | ((value as u64) << 32)
                    }
                    _ if value != 0 => {
                        crate::warn!("{}: driver accepted features beyond bit 63", self.name);
                        self.unknown_features = true;
                    }
                    _ => {}
                }
            }
            REG_DRIVER_FEATURES_SEL => self.driver_features_sel = value,
            REG_QUEUE_SEL => self.queue_sel = value,
            REG_QUEUE_NUM => {
                let name = self.name.clone();
                if let Some(q) = self.configurable_queue() {
                    let size = u16::try_from(value).unwrap_or(0);
                    if q.try_set_size(size).is_err() {
                        crate::warn!(
                            "{name}: ignoring queue size {value} (max {}, power of two)",
                            q.max_size()
                        );
                    }
                }
            }
            REG_QUEUE_READY => self.set_queue_ready(value == 1),
            REG_QUEUE_NOTIFY => {
                if let Some(evt) = self.queue_evts.get(value as usize) {
                    let _ = evt.write(1);
                }
            }
            REG_INTERRUPT_ACK => self.interrupt.ack(value),
            REG_STATUS => self.set_status(value),
            REG_QUEUE_DESC_LOW => self.set_queue_addr(0, false, value),
            REG_QUEUE_DESC_HIGH => self.set_queue_addr(0, true, value),
            REG_QUEUE_DRIVER_LOW => self.set_queue_addr(1, false, value),
            REG_QUEUE_DRIVER_HIGH => self.set_queue_addr(1, true, value),
            REG_QUEUE_DEVICE_LOW => self.set_queue_addr(2, false, value),
            REG_QUEUE_DEVICE_HIGH => self.set_queue_addr(2, true, value),
            _ => crate::warn!(
                "{}: write to read-only or unknown register {offset:#x}",
                self.name
            ),
        }
    }
}

impl<D: VirtioDevice> MmioDevice for MmioTransport<D> {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        if offset >= CONFIG_SPACE {
            self.device.read_config(offset - CONFIG_SPACE, data);
        } else if data.len() == 4 && offset.is_multiple_of(4) {
            data.copy_from_slice(&self.read_reg(offset).to_le_bytes());
        } else {
            crate::warn!(
                "{}: {}-byte read at {offset:#x} ignored",
                self.name,
                data.len()
            );
            data.fill(0);
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        if offset >= CONFIG_SPACE {
            self.device.write_config(offset - CONFIG_SPACE, data);
        } else if data.len() == 4 && offset.is_multiple_of(4) {
            let value = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
            self.write_reg(offset, value);
        } else {
            crate::warn!(
                "{}: {}-byte write at {offset:#x} ignored",
                self.name,
                data.len()
            );
        }
    }
}

#[cfg(test)]
#[path = "mmio_tests.rs"]
mod tests;
