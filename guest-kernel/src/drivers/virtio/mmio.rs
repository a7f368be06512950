//! The virtio-mmio transport (virtio 1.x §4.2): register access and the device status dance.
//!
//! Registers are 32-bit, reached with volatile accesses through the direct map. Version 2
//! (modern) is the main path; version 1 (legacy) devices are driven with the legacy queue
//! registers (GuestPageSize/QueueAlign/QueuePFN), which works because every queue uses one
//! layout that satisfies both (see `virtqueue`). Failures are reported as `&'static str` so that
//! the caller logs once and sets FAILED.

use crate::arch::iomem::IoMem;

use super::ring;
use super::virtqueue::Virtqueue;

const MAGIC_VALUE: u64 = 0x000;
const VERSION: u64 = 0x004;
const DEVICE_ID: u64 = 0x008;
const DEVICE_FEATURES: u64 = 0x010;
const DEVICE_FEATURES_SEL: u64 = 0x014;
const DRIVER_FEATURES: u64 = 0x020;
const DRIVER_FEATURES_SEL: u64 = 0x024;
const GUEST_PAGE_SIZE: u64 = 0x028; // legacy
const QUEUE_SEL: u64 = 0x030;
const QUEUE_NUM_MAX: u64 = 0x034;
const QUEUE_NUM: u64 = 0x038;
const QUEUE_ALIGN: u64 = 0x03c; // legacy
const QUEUE_PFN: u64 = 0x040; // legacy
const QUEUE_READY: u64 = 0x044;
const QUEUE_NOTIFY: u64 = 0x050;
const INTERRUPT_STATUS: u64 = 0x060;
const INTERRUPT_ACK: u64 = 0x064;
const STATUS: u64 = 0x070;
const QUEUE_DESC_LOW: u64 = 0x080;
const QUEUE_DESC_HIGH: u64 = 0x084;
const QUEUE_DRIVER_LOW: u64 = 0x090;
const QUEUE_DRIVER_HIGH: u64 = 0x094;
const QUEUE_DEVICE_LOW: u64 = 0x0a0;
const QUEUE_DEVICE_HIGH: u64 = 0x0a4;
/// Start of the device-specific configuration space.
const CONFIG: u64 = 0x100;

const MAGIC: u32 = 0x7472_6976; // "virt"

const STATUS_ACKNOWLEDGE: u32 = 1;
const STATUS_DRIVER: u32 = 2;
const STATUS_DRIVER_OK: u32 = 4;
const STATUS_FEATURES_OK: u32 = 8;
const STATUS_FAILED: u32 = 128;

/// VIRTIO_F_VERSION_1, the only feature we accept (bit 32: high word, bit 0).
const F_VERSION_1_HIGH: u32 = 1 << 0;

/// Smallest register window that holds the registers we use.
const MIN_WINDOW: u64 = 0x110;

pub struct Transport {
    regs: IoMem,
    legacy: bool,
}

impl Transport {
    /// Check the window and magic; `Ok(None)` for an empty slot (device id 0).
    pub fn probe(phys: u64, size: u64) -> Result<Option<(Transport, u32)>, &'static str> {
        // The direct map covers the first 4 GiB, where MMIO windows live.
        if size < MIN_WINDOW
            || phys & 3 != 0
            || phys.checked_add(size).is_none_or(|end| end > 1 << 32)
        {
            return Err("bad register window");
        }
        let mut t = Transport {
            // SAFETY: the command line announced a virtio-mmio window here; the checks above
            // keep it inside the direct map, and the magic value is checked next.
            regs: unsafe { IoMem::new(phys, size) },
            legacy: false,
        };
        if t.read(MAGIC_VALUE) != MAGIC {
            return Err("bad magic value");
        }
        match t.read(VERSION) {
            1 => t.legacy = true,
            2 => {}
            _ => return Err("unsupported version"),
        }
        let id = t.read(DEVICE_ID);
        Ok((id != 0).then_some((t, id)))
    }

    pub fn legacy(&self) -> bool {
        self.legacy
    }

    fn read(&self, reg: u64) -> u32 {
        self.regs.readl(reg)
    }

    fn write(&self, reg: u64, value: u32) {
        self.regs.writel(reg, value)
    }

    fn status(&self) -> u32 {
        self.read(STATUS)
    }

    fn add_status(&self, bits: u32) {
        self.write(STATUS, self.status() | bits);
    }

    /// Mark the device broken (after any failure).
    pub fn fail(&self) {
        self.add_status(STATUS_FAILED);
    }

    /// Reset and ACKNOWLEDGE; with `want_driver` also DRIVER and feature negotiation:
    /// VIRTIO_F_VERSION_1 only (nothing on legacy) and, on modern devices, FEATURES_OK verified.
    pub fn begin_init(&self, want_driver: bool) -> Result<(), &'static str> {
        self.write(STATUS, 0);
        // The device reads back 0 once the reset is done (bounded; normally at once).
        if !(0..1000).any(|_| self.status() == 0) {
            return Err("reset did not complete");
        }
        self.add_status(STATUS_ACKNOWLEDGE);
        if !want_driver {
            return Ok(());
        }
        self.add_status(STATUS_DRIVER);
        if self.legacy {
            self.write(DRIVER_FEATURES_SEL, 0);
            self.write(DRIVER_FEATURES, 0);
            self.write(GUEST_PAGE_SIZE, 4096);
            return Ok(());
        }
        self.write(DEVICE_FEATURES_SEL, 1);
        if self.read(DEVICE_FEATURES) & F_VERSION_1_HIGH == 0 {
            return Err("device does not offer VIRTIO_F_VERSION_1");
        }
        self.write(DRIVER_FEATURES_SEL, 0);
        self.write(DRIVER_FEATURES, 0);
        self.write(DRIVER_FEATURES_SEL, 1);
        self.write(DRIVER_FEATURES, F_VERSION_1_HIGH);
        self.add_status(STATUS_FEATURES_OK);
        if self.status() & STATUS_FEATURES_OK == 0 {
            return Err("device rejected our features");
        }
        Ok(())
    }

    /// Queue size to use for queue `index`.
    pub fn queue_size(&self, index: u32) -> Result<u16, &'static str> {
        self.write(QUEUE_SEL, index);
        let in_use = if self.legacy {
            self.read(QUEUE_PFN)
        } else {
            self.read(QUEUE_READY)
        };
        if in_use != 0 {
            return Err("queue already in use");
        }
        ring::queue_size(self.read(QUEUE_NUM_MAX)).ok_or("queue not available")
    }

    /// Tell the device where queue `vq` lives and enable it.
    pub fn setup_queue(&self, vq: &Virtqueue) {
        self.write(QUEUE_SEL, vq.index());
        self.write(QUEUE_NUM, vq.num() as u32);
        if self.legacy {
            self.write(QUEUE_ALIGN, 4096);
            self.write(QUEUE_PFN, (vq.desc_phys() >> 12) as u32);
            return;
        }
        let split = |a: u64| (a as u32, (a >> 32) as u32);
        let (lo, hi) = split(vq.desc_phys());
        self.write(QUEUE_DESC_LOW, lo);
        self.write(QUEUE_DESC_HIGH, hi);
        let (lo, hi) = split(vq.avail_phys());
        self.write(QUEUE_DRIVER_LOW, lo);
        self.write(QUEUE_DRIVER_HIGH, hi);
        let (lo, hi) = split(vq.used_phys());
        self.write(QUEUE_DEVICE_LOW, lo);
        self.write(QUEUE_DEVICE_HIGH, hi);
        self.write(QUEUE_READY, 1);
    }

    /// A 32-bit field of the device's configuration space.
    pub fn read_config32(&self, offset: u64) -> u32 {
        self.read(CONFIG + offset)
    }

    pub fn write_config32(&self, offset: u64, value: u32) {
        self.write(CONFIG + offset, value)
    }

    pub fn driver_ok(&self) {
        self.add_status(STATUS_DRIVER_OK);
    }

    pub fn notify(&self, queue: u32) {
        self.write(QUEUE_NOTIFY, queue);
    }

    /// Read and acknowledge the interrupt cause (bit 0: used buffer, bit 1: config change).
    pub fn ack_interrupt(&self) -> u32 {
        let isr = self.read(INTERRUPT_STATUS);
        if isr != 0 {
            self.write(INTERRUPT_ACK, isr);
        }
        isr
    }
}
