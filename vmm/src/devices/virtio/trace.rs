//! The trace device (`abi::trace::VIRTIO_ID_TRACE`): no queues, a config space holding the ABI
//! version and the address of the guest's trace area. At DRIVER_OK the area is checked and
//! published to the [`TraceChannel`]; from then on tracers read it through guest memory, and
//! the device sees no more traffic — no VM exit per event.

use std::sync::Arc;

use abi::trace::{config, TRACE_ABI_VERSION};
use virtio_queue::Queue;

use super::{DeviceError, Interrupt, VirtioDevice};
use crate::memory::GuestMemory;
use crate::trace::channel::{Area, TraceChannel};

pub struct TraceDevice {
    channel: Arc<TraceChannel>,
    area_gpa: u64,
}

impl TraceDevice {
    pub fn new(channel: Arc<TraceChannel>) -> Self {
        TraceDevice {
            channel,
            area_gpa: 0,
        }
    }

    fn config_bytes(&self) -> [u8; config::SIZE] {
        let mut c = [0u8; config::SIZE];
        c[config::VERSION as usize..][..4].copy_from_slice(&TRACE_ABI_VERSION.to_le_bytes());
        c[config::AREA_GPA_LO as usize..][..8].copy_from_slice(&self.area_gpa.to_le_bytes());
        c
    }
}

impl VirtioDevice for TraceDevice {
    fn device_type(&self) -> u32 {
        abi::trace::VIRTIO_ID_TRACE
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &[]
    }

    fn features(&self) -> u64 {
        0
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        let c = self.config_bytes();
        for (i, b) in data.iter_mut().enumerate() {
            *b = offset
                .checked_add(i as u64)
                .and_then(|o| c.get(o as usize))
                .copied()
                .unwrap_or(0);
        }
    }

    fn write_config(&mut self, offset: u64, data: &[u8]) {
        // Only the area address is writable.
        let mut c = self.area_gpa.to_le_bytes();
        for (i, &b) in data.iter().enumerate() {
            let Some(o) = offset.checked_add(i as u64) else {
                return;
            };
            if (config::AREA_GPA_LO..config::AREA_GPA_LO + 8).contains(&o) {
                c[(o - config::AREA_GPA_LO) as usize] = b;
            }
        }
        self.area_gpa = u64::from_le_bytes(c);
    }

    fn activate(&mut self, mem: &GuestMemory) -> Result<(), DeviceError> {
        match Area::parse(mem, self.area_gpa) {
            Ok(area) => {
                self.channel.publish(Some(area));
                Ok(())
            }
            Err(e) => Err(DeviceError::Activate(e.to_string())),
        }
    }

    fn reset(&mut self) {
        self.area_gpa = 0;
        self.channel.publish(None);
    }

    fn process_queue(
        &mut self,
        _index: usize,
        _queues: &mut [Queue],
        _mem: &GuestMemory,
        _interrupt: &Interrupt,
    ) -> Result<(), DeviceError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_space() {
        let mem = crate::memory::create(1 << 20).unwrap();
        let ch = TraceChannel::new(mem.clone(), Default::default(), None);
        let mut dev = TraceDevice::new(ch.clone());
        let mut v = [0u8; 4];
        dev.read_config(config::VERSION, &mut v);
        assert_eq!(u32::from_le_bytes(v), TRACE_ABI_VERSION);
        dev.write_config(config::AREA_GPA_LO, &0x1234u32.to_le_bytes());
        dev.write_config(config::AREA_GPA_HI, &1u32.to_le_bytes());
        dev.write_config(config::VERSION, &[9, 9, 9, 9]); // read-only
        let mut all = [0u8; 20];
        dev.read_config(0, &mut all);
        assert_eq!(&all[0..4], &TRACE_ABI_VERSION.to_le_bytes());
        assert_eq!(&all[8..16], &0x1_0000_1234u64.to_le_bytes());
        assert_eq!(&all[16..], &[0; 4]);
        dev.read_config(u64::MAX, &mut v); // no overflow
                                           // Garbage at the address: activation fails, nothing is published.
        assert!(dev.activate(&mem).is_err());
        assert!(ch.area().is_none());
    }
}
