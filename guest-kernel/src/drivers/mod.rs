//! Device drivers.

pub mod acpi;
pub mod base;
pub mod char;
pub mod random;
pub mod tty;
pub mod virtio;
