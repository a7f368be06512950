//! virtio over MMIO: transport discovery and the console driver.
//!
//! `mmio` is the register-level transport, `virtqueue` a split queue in memory, `ring` the
//! pure bookkeeping behind it (host-tested), `console` and `trace` the device drivers. Devices we
//! have no driver for are acknowledged and left alone, as Linux does.

pub mod console;
mod mmio;
mod ring;
mod trace;
mod virtqueue;

use crate::kernel::cmdline::VirtioMmioDevice;

fn device_name(id: u32) -> &'static str {
    match id {
        1 => "network card",
        2 => "block device",
        3 => "console",
        4 => "entropy source",
        5 => "memory balloon",
        8 => "SCSI host",
        9 => "9P transport",
        16 => "GPU",
        18 => "input device",
        19 => "vsock",
        26 => "file system",
        abi::trace::VIRTIO_ID_TRACE => "trace channel",
        _ => "unknown device",
    }
}

/// Probe every device announced on the command line; the first console becomes `hvc0`.
pub fn probe(devices: &[VirtioMmioDevice]) {
    for d in devices {
        let (t, id) = match mmio::Transport::probe(d.base, d.size) {
            Ok(Some(found)) => found,
            Ok(None) => continue, // empty slot
            Err(e) => {
                crate::pr_err!("virtio_mmio: device at {:#x}: {}", d.base, e);
                continue;
            }
        };
        let legacy = if t.legacy() { " (legacy)" } else { "" };
        let name = device_name(id);
        if id == 3 && !console::present() {
            match console::init(t, d.irq) {
                Ok(()) => {
                    crate::pr_info!(
                        "virtio_mmio: device at {:#x} irq {}: {} (id {}){}",
                        d.base,
                        d.irq,
                        name,
                        id,
                        legacy
                    );
                    console::register_tty();
                }
                Err(e) => crate::pr_err!(
                    "virtio_mmio: device at {:#x} irq {}: {} (id {}): {}",
                    d.base,
                    d.irq,
                    name,
                    id,
                    e
                ),
            }
        } else if id == abi::trace::VIRTIO_ID_TRACE {
            match trace::init(t) {
                Ok(rings) => crate::pr_info!(
                    "virtio_mmio: device at {:#x} irq {}: {} (id {:#x}), {} ring{} of {} KiB",
                    d.base,
                    d.irq,
                    name,
                    id,
                    rings,
                    if rings == 1 { "" } else { "s" },
                    (4096usize << crate::trace::ring::RING_ORDER) / 1024
                ),
                Err(e) => crate::pr_err!(
                    "virtio_mmio: device at {:#x} irq {}: {}: {}",
                    d.base,
                    d.irq,
                    name,
                    e
                ),
            }
        } else {
            // No driver (or a second console): acknowledge it and leave it alone.
            let _ = t.begin_init(false);
            crate::pr_info!(
                "virtio_mmio: device at {:#x} irq {}: {} (id {}){}, no driver",
                d.base,
                d.irq,
                name,
                id,
                legacy
            );
        }
    }
}
