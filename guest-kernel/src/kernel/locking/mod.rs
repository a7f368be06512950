//! Sleeping locks (Linux's kernel/locking/): for sections that may block, where a spin lock
//! would stall the CPU of whoever waits for it.

pub mod mutex;
