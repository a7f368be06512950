//! The console TTY that user space's fds 0-2 point at (`/dev/console`).
//!
//! Output goes to the virtio console (`hvc0`) once its driver is up, else to the UART
//! (`ttyS0`), with the output post-processing Linux's default termios does (ONLCR: `\n` →
//! `\r\n`). Input arrives from the driver's interrupt handler into a ring; readers wait for it.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use spin::Mutex;

use crate::arch::cpu;

pub struct Backend {
    pub name: &'static str,
    pub write: fn(&[u8]),
}

static BACKEND: Mutex<Option<Backend>> = Mutex::new(None);
static INPUT: Mutex<VecDeque<u8>> = Mutex::new(VecDeque::new());

/// Make `backend` the console (the virtio-console driver calls this).
pub fn register(backend: Backend) {
    crate::pr_info!("console [{}] enabled", backend.name);
    cpu::without_interrupts(|| *BACKEND.lock() = Some(backend));
}

pub fn name() -> &'static str {
    cpu::without_interrupts(|| BACKEND.lock().as_ref().map_or("ttyS0", |b| b.name))
}

/// Expand `\n` to `\r\n` (ONLCR).
pub fn onlcr(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 8);
    for &b in data {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

pub fn write(data: &[u8]) {
    let out = onlcr(data);
    let backend = cpu::without_interrupts(|| BACKEND.lock().as_ref().map(|b| b.write));
    match backend {
        Some(write) => write(&out),
        None => crate::arch::serial::write_bytes(data),
    }
}

/// Bytes typed on the console (called from the driver's interrupt handler).
pub fn receive(data: &[u8]) {
    cpu::without_interrupts(|| {
        INPUT
            .lock()
            .extend(data.iter().map(|&b| if b == b'\r' { b'\n' } else { b }))
    });
    INPUT_WAIT.wake_up();
}

/// Readers sleep here until input arrives.
static INPUT_WAIT: crate::sched::wait::WaitQueue = crate::sched::wait::WaitQueue::new();

/// Read at least one byte, sleeping until input arrives (or a signal).
pub fn read(buf: &mut [u8]) -> crate::kernel::errno::KResult<usize> {
    if buf.is_empty() {
        return Ok(0);
    }
    let mut n = 0;
    INPUT_WAIT.wait_event(crate::kernel::task::TASK_INTERRUPTIBLE, true, || {
        n = cpu::without_interrupts(|| {
            let mut input = INPUT.lock();
            let n = buf.len().min(input.len());
            for (slot, b) in buf.iter_mut().zip(input.drain(..n)) {
                *slot = b;
            }
            n
        });
        n > 0
    })?;
    Ok(n)
}

/// Whether a read would return at once (for poll).
pub fn input_ready() -> bool {
    cpu::without_interrupts(|| !INPUT.lock().is_empty())
}

/// Wait until the console has sent everything (before power-off).
pub fn flush() {
    crate::drivers::virtio::console::flush();
}
