//! virtio-console (device id 3) as the TTY backend `hvc0`.
//!
//! Single port, no MULTIPORT: receiveq 0 and transmitq 1. Eight 512-byte RX buffers (one page)
//! stay posted; a tasklet scheduled by the interrupt handler hands what arrives to `tty::receive` and re-posts. Output
//! is copied into a pool of eight 4 KiB TX buffers (descriptor token = buffer index; `tx_free`
//! is the bitmask of buffers not with the device). Used TX buffers are reclaimed both in the
//! interrupt handler and on every write. When none is free the writer waits: halting for the
//! interrupt if it came with interrupts enabled, else polling the used ring; both bounded by
//! time, after which output is dropped (logged once) rather than hanging the kernel.
//!
//! Lock: `CONSOLE`, also taken by the interrupt handler, so always with interrupts disabled.

use core::sync::atomic::{AtomicBool, Ordering};

use spin::Mutex;

use crate::arch::{cpu, phys_to_virt, tsc};
use crate::drivers::tty;
use crate::mm::page_alloc;

use super::mmio::Transport;
use super::ring::{clamp_len, UsedError};
use super::virtqueue::Virtqueue;

const RX_QUEUE: u32 = 0;
const TX_QUEUE: u32 = 1;
const RX_BUFS: usize = 8;
const RX_BUF_SIZE: usize = 512;
const TX_BUFS: usize = 8;
const TX_BUF_SIZE: usize = 4096;
const TX_ORDER: usize = 3; // TX_BUFS pages

/// How long a write waits for a free TX buffer, and flush for all of them.
const WRITE_TIMEOUT_NS: u64 = 5_000_000_000;
const FLUSH_TIMEOUT_NS: u64 = 2_000_000_000;

struct Console {
    transport: Transport,
    rx: Virtqueue,
    tx: Virtqueue,
    rx_phys: u64,
    tx_phys: u64,
    tx_free: u8,
}

static CONSOLE: Mutex<Option<Console>> = Mutex::new(None);
/// Our interrupt handler is installed (else waiting means polling).
static IRQ_OK: AtomicBool = AtomicBool::new(false);
/// A wait timed out and output was dropped; until the device returns a buffer, don't wait again.
static STALLED: AtomicBool = AtomicBool::new(false);
static BAD_USED_LOGGED: AtomicBool = AtomicBool::new(false);

/// Whether a console has been set up already (we drive only the first).
pub fn present() -> bool {
    cpu::without_interrupts(|| CONSOLE.lock().is_some())
}

/// Bring the device up (status dance, queues, RX buffers, DRIVER_OK, interrupt). On failure
/// the device is marked FAILED and the reason returned for the caller's log line.
pub fn init(transport: Transport, irq: u32) -> Result<(), &'static str> {
    let console = match setup(transport) {
        Ok(c) => c,
        Err((t, e)) => {
            t.fail();
            return Err(e);
        }
    };
    cpu::without_interrupts(|| *CONSOLE.lock() = Some(console));
    if crate::arch::irq::request_irq(irq, "virtio0", handle_irq) {
        IRQ_OK.store(true, Ordering::Relaxed);
    } else {
        crate::pr_err!("virtio_console: cannot use irq {}; polling, no input", irq);
    }
    Ok(())
}

/// Make the console the TTY backend (after the caller's log line).
pub fn register_tty() {
    tty::register(tty::Backend {
        name: "hvc0",
        write,
    });
}

fn setup(t: Transport) -> Result<Console, (Transport, &'static str)> {
    macro_rules! try_or {
        ($e:expr) => {
            match $e {
                Ok(v) => v,
                Err(e) => return Err((t, e)),
            }
        };
    }
    try_or!(t.begin_init(true));
    let rx = try_or!(t
        .queue_size(RX_QUEUE)
        .and_then(|n| Virtqueue::new(RX_QUEUE, n)));
    let tx = try_or!(t
        .queue_size(TX_QUEUE)
        .and_then(|n| Virtqueue::new(TX_QUEUE, n)));
    let rx_phys = try_or!(page_alloc::alloc_page().ok_or("out of memory"));
    let Some(tx_phys) = page_alloc::alloc_pages(crate::mm::gfp::GFP_KERNEL, TX_ORDER) else {
        page_alloc::free_page(rx_phys);
        return Err((t, "out of memory"));
    };
    t.setup_queue(&rx);
    t.setup_queue(&tx);
    t.driver_ok();
    let mut c = Console {
        transport: t,
        rx,
        tx,
        rx_phys,
        tx_phys,
        tx_free: u8::MAX,
    };
    for i in 0..RX_BUFS {
        c.post_rx(i as u16);
    }
    c.rx.before_notify();
    c.transport.notify(RX_QUEUE);
    Ok(c)
}

impl Console {
    fn post_rx(&mut self, buf: u16) {
        let phys = self.rx_phys + buf as u64 * RX_BUF_SIZE as u64;
        // Fails only if the queue is smaller than RX_BUFS; then fewer buffers are posted.
        let _ = self.rx.add_buf(phys, RX_BUF_SIZE as u32, true, buf);
    }

    /// Hand received data to the TTY and give the buffers back to the device.
    fn drain_rx(&mut self) {
        let mut reposted = false;
        while let Some(used) = self.rx.pop_used() {
            match used {
                Ok((buf, len)) if (buf as usize) < RX_BUFS => {
                    let n = clamp_len(len, RX_BUF_SIZE);
                    let virt = phys_to_virt(self.rx_phys + buf as u64 * RX_BUF_SIZE as u64);
                    // SAFETY: the buffer lies in our RX page (buf < RX_BUFS, n <= RX_BUF_SIZE)
                    // and the device has returned it, so nothing writes it while we read.
                    let data = unsafe { core::slice::from_raw_parts(virt as *const u8, n) };
                    tty::receive(data);
                    self.post_rx(buf);
                    reposted = true;
                }
                Ok((buf, _)) => bad_used("receiveq", UsedError::NotInFlight(buf as u32)),
                Err(e) => bad_used("receiveq", e),
            }
        }
        if reposted {
            self.rx.before_notify();
            self.transport.notify(RX_QUEUE);
        }
    }

    /// Take back TX buffers the device is done with.
    fn reclaim_tx(&mut self) {
        while let Some(used) = self.tx.pop_used() {
            match used {
                Ok((buf, _)) if (buf as usize) < TX_BUFS => {
                    self.tx_free |= 1 << buf;
                    STALLED.store(false, Ordering::Relaxed);
                }
                Ok((buf, _)) => bad_used("transmitq", UsedError::NotInFlight(buf as u32)),
                Err(e) => bad_used("transmitq", e),
            }
        }
    }

    /// Copy `chunk` (<= TX_BUF_SIZE) into a free TX buffer and send it; false if none is free.
    fn try_send(&mut self, chunk: &[u8]) -> bool {
        if self.tx_free == 0 || self.tx.num_free() == 0 {
            return false;
        }
        let buf = self.tx_free.trailing_zeros() as u16;
        let phys = self.tx_phys + buf as u64 * TX_BUF_SIZE as u64;
        let len = chunk.len().min(TX_BUF_SIZE);
        // SAFETY: buffer `buf` lies in our TX pages and is free (not with the device); `len`
        // fits in it, and `chunk` is a distinct kernel buffer.
        unsafe {
            core::ptr::copy_nonoverlapping(chunk.as_ptr(), phys_to_virt(phys) as *mut u8, len)
        };
        if self.tx.add_buf(phys, len as u32, false, buf).is_none() {
            return false;
        }
        self.tx_free &= !(1 << buf);
        self.tx.before_notify();
        self.transport.notify(TX_QUEUE);
        true
    }
}

fn bad_used(queue: &str, e: UsedError) {
    if !BAD_USED_LOGGED.swap(true, Ordering::Relaxed) {
        crate::pr_err!(
            "virtio_console: device returned a bad used element on {}: {:?}; ignored",
            queue,
            e
        );
    }
}

fn handle_irq(_pin: u32) {
    let mut guard = CONSOLE.lock();
    let Some(c) = guard.as_mut() else { return };
    // Acknowledge first: anything the device uses after this raises a new interrupt.
    c.transport.ack_interrupt();
    c.reclaim_tx();
    // Passing input to the TTY (and waking its readers) is the deferrable half.
    crate::kernel::softirq::tasklet_schedule(alloc::boxed::Box::new(rx_tasklet));
}

/// The console's receive tasklet: hand what arrived to the TTY and re-post the buffers.
fn rx_tasklet() {
    if let Some(c) = CONSOLE.lock().as_mut() {
        c.drain_rx();
    }
}

/// Run `attempt` (after reclaiming TX buffers) until it succeeds, waiting in between; false
/// on timeout. True at once if there is no console.
fn wait_for(timeout_ns: u64, mut attempt: impl FnMut(&mut Console) -> bool) -> bool {
    let enabled = cpu::interrupts_enabled();
    let mut deadline = None;
    let done = loop {
        cpu::interrupts_disable();
        let done = match CONSOLE.lock().as_mut() {
            Some(c) => {
                c.reclaim_tx();
                attempt(c)
            }
            None => true,
        };
        if done {
            break true;
        }
        let now = tsc::ns_since_boot();
        let deadline = *deadline.get_or_insert(now + timeout_ns);
        if now >= deadline || STALLED.load(Ordering::Relaxed) {
            break false;
        }
        if enabled && IRQ_OK.load(Ordering::Relaxed) {
            // `sti; hlt`: the interrupt that returns a buffer cannot slip in before the halt.
            cpu::wait_for_interrupt();
        } else {
            core::hint::spin_loop();
        }
    };
    if enabled {
        cpu::interrupts_enable();
    }
    done
}

/// The TTY backend's write: send `data`, in TX_BUF_SIZE chunks.
fn write(data: &[u8]) {
    for chunk in data.chunks(TX_BUF_SIZE) {
        if !wait_for(WRITE_TIMEOUT_NS, |c| c.try_send(chunk)) {
            if !STALLED.swap(true, Ordering::Relaxed) {
                crate::pr_err!("virtio_console: device not returning TX buffers; dropping output");
            }
            return;
        }
    }
}

/// Wait (bounded) until the device has consumed every TX buffer.
pub fn flush() {
    if !wait_for(FLUSH_TIMEOUT_NS, |c| c.tx.idle()) {
        crate::pr_err!("virtio_console: flush timed out");
    }
}
