//! Stand-in for the architecture layer in host unit tests.

pub mod cpu {
    pub fn without_interrupts<R>(f: impl FnOnce() -> R) -> R {
        f()
    }
}

pub mod tsc {
    pub fn ns_since_boot() -> u64 {
        0
    }
}

pub fn console_write(_bytes: &[u8]) {}
