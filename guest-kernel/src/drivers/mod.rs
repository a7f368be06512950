//! Device drivers.

pub mod char;
pub mod random;
pub mod tty;
pub mod virtio;
