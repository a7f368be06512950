//! Device drivers.

pub mod random;
pub mod tty;
pub mod virtio;
