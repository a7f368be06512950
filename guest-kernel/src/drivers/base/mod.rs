//! The driver core (Linux's drivers/base/): devices as sysfs sees them.

pub mod cpu;
