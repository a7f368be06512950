//! The trace device (`abi::trace::VIRTIO_ID_TRACE`): no queues, only a config-space field in
//! which we tell the host where the trace area is (see `crate::trace`). After that the device is
//! never touched again: records flow through memory, with no VM exit per event.

use abi::trace::{config, TRACE_ABI_VERSION};

use super::mmio::Transport;

/// Allocate the rings and hand the area to the device. Returns the number of per-CPU rings.
pub fn init(t: Transport) -> Result<usize, &'static str> {
    t.begin_init(true)?;
    if t.read_config32(config::VERSION) != TRACE_ABI_VERSION {
        t.fail();
        return Err("trace ABI version mismatch");
    }
    let rings = crate::trace::ring::init();
    if rings == 0 {
        t.fail();
        return Err("no memory for the trace rings");
    }
    let area = crate::trace::area_phys();
    t.write_config32(config::AREA_GPA_LO, area as u32);
    t.write_config32(config::AREA_GPA_HI, (area >> 32) as u32);
    t.driver_ok();
    Ok(rings)
}
