//! Device drivers.

pub mod acpi;
pub mod base;
pub mod char;
pub mod random;
pub mod rtc;
pub mod tty;
pub mod virtio;
