pub mod console;
use crate::kernel::cmdline::VirtioMmioDevice;
pub fn probe(devices: &[VirtioMmioDevice]) {
    for d in devices {
        crate::pr_info!("virtio-mmio: device at {:#x} irq {}", d.base, d.irq);
    }
}
