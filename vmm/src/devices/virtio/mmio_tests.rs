//! Register state machine tests for the virtio-mmio transport, driving a console device.

use std::sync::{Arc, Mutex};

use vm_memory::{Bytes, GuestAddress};
use vmm_sys_util::eventfd::EventFd;

use super::*;
use crate::devices::virtio::console::{Console, RX_QUEUE, TX_QUEUE};
use crate::devices::virtio::VIRTIO_MMIO_INT_VRING;
use crate::devices::ConsoleSink;

const DESC: u64 = 0x10000;
const AVAIL: u64 = 0x11000;
const USED: u64 = 0x12000;
const SIZE: u32 = 16;

struct Fixture {
    t: MmioTransport<Console>,
    mem: GuestMemory,
    out: Arc<Mutex<Vec<u8>>>,
}

fn fixture() -> Fixture {
    let mem = crate::memory::create(16 << 20).unwrap();
    let out = Arc::new(Mutex::new(Vec::new()));
    let console = Console::new(ConsoleSink::Capture(out.clone()));
    let irq = Interrupt::new(EventFd::new(libc::EFD_NONBLOCK).unwrap());
    let t = MmioTransport::new("test", console, mem.clone(), irq).unwrap();
    Fixture { t, mem, out }
}

fn r(t: &mut MmioTransport<Console>, off: u64) -> u32 {
    let mut b = [0u8; 4];
    t.read(off, &mut b);
    u32::from_le_bytes(b)
}

fn w(t: &mut MmioTransport<Console>, off: u64, v: u32) {
    t.write(off, &v.to_le_bytes());
}

fn negotiate(t: &mut MmioTransport<Console>) {
    w(t, REG_STATUS, 0);
    w(t, REG_STATUS, STATUS_ACKNOWLEDGE);
    w(t, REG_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    w(t, REG_DRIVER_FEATURES_SEL, 1);
    w(t, REG_DRIVER_FEATURES, 1); // VERSION_1 (bit 32)
    w(t, REG_DRIVER_FEATURES_SEL, 0);
    w(t, REG_DRIVER_FEATURES, 0);
    w(
        t,
        REG_STATUS,
        STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK,
    );
}

/// Sets up queue `q` with rings at DESC/AVAIL/USED + q * 0x4000.
fn setup_queue(t: &mut MmioTransport<Console>, q: u32) {
    let base = q as u64 * 0x4000;
    w(t, REG_QUEUE_SEL, q);
    w(t, REG_QUEUE_NUM, SIZE);
    w(t, REG_QUEUE_DESC_LOW, (DESC + base) as u32);
    w(t, REG_QUEUE_DESC_HIGH, 0);
    w(t, REG_QUEUE_DRIVER_LOW, (AVAIL + base) as u32);
    w(t, REG_QUEUE_DRIVER_HIGH, 0);
    w(t, REG_QUEUE_DEVICE_LOW, (USED + base) as u32);
    w(t, REG_QUEUE_DEVICE_HIGH, 0);
    w(t, REG_QUEUE_READY, 1);
    assert_eq!(r(t, REG_QUEUE_READY), 1);
}

fn ready_device(f: &mut Fixture) {
    negotiate(&mut f.t);
    setup_queue(&mut f.t, RX_QUEUE as u32);
    setup_queue(&mut f.t, TX_QUEUE as u32);
    let s = r(&mut f.t, REG_STATUS);
    w(&mut f.t, REG_STATUS, s | STATUS_DRIVER_OK);
    assert_ne!(r(&mut f.t, REG_STATUS) & STATUS_DRIVER_OK, 0);
}

/// Puts a one-descriptor chain (buffer at `addr`, `len`, `write`-only or not) in slot `slot`
/// of queue `q` and publishes avail index `slot + 1`.
fn post(mem: &GuestMemory, q: u64, slot: u16, addr: u64, len: u32, write: bool) {
    let base = q * 0x4000;
    let desc = DESC + base + slot as u64 * 16;
    mem.write_obj(addr, GuestAddress(desc)).unwrap();
    mem.write_obj(len, GuestAddress(desc + 8)).unwrap();
    mem.write_obj(if write { 2u16 } else { 0 }, GuestAddress(desc + 12))
        .unwrap();
    mem.write_obj(0u16, GuestAddress(desc + 14)).unwrap();
    mem.write_obj(slot, GuestAddress(AVAIL + base + 4 + slot as u64 * 2))
        .unwrap();
    mem.write_obj(slot + 1, GuestAddress(AVAIL + base + 2))
        .unwrap();
}

fn used_idx(mem: &GuestMemory, q: u64) -> u16 {
    mem.read_obj(GuestAddress(USED + q * 0x4000 + 2)).unwrap()
}

#[test]
fn identification_registers() {
    let mut f = fixture();
    assert_eq!(r(&mut f.t, REG_MAGIC), 0x7472_6976);
    assert_eq!(r(&mut f.t, REG_VERSION), 2);
    assert_eq!(r(&mut f.t, REG_DEVICE_ID), 3);
    assert_eq!(r(&mut f.t, REG_VENDOR_ID), VENDOR_ID);
    w(&mut f.t, REG_DEVICE_FEATURES_SEL, 1);
    assert_eq!(r(&mut f.t, REG_DEVICE_FEATURES), 1);
    w(&mut f.t, REG_DEVICE_FEATURES_SEL, 0);
    assert_eq!(r(&mut f.t, REG_DEVICE_FEATURES), 0);
    w(&mut f.t, REG_DEVICE_FEATURES_SEL, 7);
    assert_eq!(r(&mut f.t, REG_DEVICE_FEATURES), 0);
    // Config space: zeros, any width.
    let mut b = [0xffu8; 2];
    f.t.read(CONFIG_SPACE + 2, &mut b);
    assert_eq!(b, [0, 0]);
    // Partial-width register accesses are ignored.
    let mut b = [0xffu8; 2];
    f.t.read(REG_MAGIC, &mut b);
    assert_eq!(b, [0, 0]);
    f.t.write(REG_STATUS, &[1]);
    assert_eq!(r(&mut f.t, REG_STATUS), 0);
}

#[test]
fn feature_negotiation() {
    let mut f = fixture();
    negotiate(&mut f.t);
    assert_ne!(r(&mut f.t, REG_STATUS) & STATUS_FEATURES_OK, 0);

    // Without VERSION_1: refused.
    w(&mut f.t, REG_STATUS, 0);
    w(&mut f.t, REG_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    w(
        &mut f.t,
        REG_STATUS,
        STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK,
    );
    assert_eq!(r(&mut f.t, REG_STATUS) & STATUS_FEATURES_OK, 0);

    // A feature we don't offer: refused.
    negotiate(&mut f.t);
    w(&mut f.t, REG_STATUS, 0);
    w(&mut f.t, REG_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    w(&mut f.t, REG_DRIVER_FEATURES_SEL, 1);
    w(&mut f.t, REG_DRIVER_FEATURES, 1 | 2);
    w(
        &mut f.t,
        REG_STATUS,
        STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK,
    );
    assert_eq!(r(&mut f.t, REG_STATUS) & STATUS_FEATURES_OK, 0);

    // Bits beyond 63: refused.
    w(&mut f.t, REG_STATUS, 0);
    w(&mut f.t, REG_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    w(&mut f.t, REG_DRIVER_FEATURES_SEL, 1);
    w(&mut f.t, REG_DRIVER_FEATURES, 1);
    w(&mut f.t, REG_DRIVER_FEATURES_SEL, 5);
    w(&mut f.t, REG_DRIVER_FEATURES, 1);
    w(
        &mut f.t,
        REG_STATUS,
        STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK,
    );
    assert_eq!(r(&mut f.t, REG_STATUS) & STATUS_FEATURES_OK, 0);

    // DRIVER_OK without FEATURES_OK: ignored.
    w(
        &mut f.t,
        REG_STATUS,
        STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_DRIVER_OK,
    );
    assert_eq!(r(&mut f.t, REG_STATUS) & STATUS_DRIVER_OK, 0);
}

#[test]
fn hostile_queue_configuration() {
    let mut f = fixture();
    negotiate(&mut f.t);
    w(&mut f.t, REG_QUEUE_SEL, 0);
    assert_eq!(r(&mut f.t, REG_QUEUE_NUM_MAX), 256);
    // Out-of-range queue: max 0, writes ignored.
    w(&mut f.t, REG_QUEUE_SEL, 2);
    assert_eq!(r(&mut f.t, REG_QUEUE_NUM_MAX), 0);
    w(&mut f.t, REG_QUEUE_NUM, 8);
    w(&mut f.t, REG_QUEUE_READY, 1);
    w(&mut f.t, REG_QUEUE_NOTIFY, 99);
    w(&mut f.t, REG_QUEUE_SEL, u32::MAX);
    w(&mut f.t, REG_QUEUE_DESC_LOW, 0x1000);
    assert_eq!(r(&mut f.t, REG_QUEUE_READY), 0);
    // Bad sizes are ignored, a good one sticks.
    w(&mut f.t, REG_QUEUE_SEL, 0);
    for bad in [0, 3, 512, 0x1_0000, u32::MAX] {
        w(&mut f.t, REG_QUEUE_NUM, bad);
        assert_eq!(f.t.queues[0].size(), 256, "{bad}");
    }
    w(&mut f.t, REG_QUEUE_NUM, 16);
    assert_eq!(f.t.queues[0].size(), 16);
    // Misaligned rings are ignored.
    w(&mut f.t, REG_QUEUE_DESC_LOW, 0x10008);
    assert_eq!(f.t.queues[0].desc_table(), 0);
    // Rings outside guest memory: QueueReady refused, device needs reset.
    w(&mut f.t, REG_QUEUE_DESC_LOW, 0);
    w(&mut f.t, REG_QUEUE_DESC_HIGH, 0x10);
    w(&mut f.t, REG_QUEUE_READY, 1);
    assert_eq!(r(&mut f.t, REG_QUEUE_READY), 0);
    assert_ne!(r(&mut f.t, REG_STATUS) & STATUS_DEVICE_NEEDS_RESET, 0);
    // Reset clears it all.
    w(&mut f.t, REG_STATUS, 0);
    assert_eq!(r(&mut f.t, REG_STATUS), 0);
    assert_eq!(f.t.queues[0].desc_table(), 0);
    assert_eq!(f.t.queues[0].size(), 256);
}

#[test]
fn transmit_and_receive() {
    let mut f = fixture();
    ready_device(&mut f);

    // TX: "hello" from guest memory to the sink, with a used-buffer interrupt.
    f.mem.write_slice(b"hello", GuestAddress(0x20000)).unwrap();
    post(&f.mem, 1, 0, 0x20000, 5, false);
    f.t.notify(TX_QUEUE);
    assert_eq!(&*f.out.lock().unwrap(), b"hello");
    assert_eq!(used_idx(&f.mem, 1), 1);
    assert_eq!(r(&mut f.t, REG_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_VRING, 1);
    w(&mut f.t, REG_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
    assert_eq!(r(&mut f.t, REG_INTERRUPT_STATUS), 0);

    // RX: input waits for a buffer, then fills it.
    f.t.device_mut().push_input(b"ls\n");
    f.t.notify(RX_QUEUE);
    assert_eq!(used_idx(&f.mem, 0), 0);
    post(&f.mem, 0, 0, 0x30000, 2, true);
    f.t.notify(RX_QUEUE);
    assert_eq!(used_idx(&f.mem, 0), 1);
    let mut got = [0u8; 2];
    f.mem.read_slice(&mut got, GuestAddress(0x30000)).unwrap();
    assert_eq!(&got, b"ls");
    assert_eq!(f.t.device().pending_input(), 1);
    let used_len: u32 = f.mem.read_obj(GuestAddress(USED + 4 + 4)).unwrap();
    assert_eq!(used_len, 2);
}

#[test]
fn hostile_rings_need_reset() {
    let mut f = fixture();
    ready_device(&mut f);
    // A descriptor pointing outside guest memory.
    post(&f.mem, 1, 0, 0xf_0000_0000, 16, false);
    f.t.notify(TX_QUEUE);
    assert_ne!(r(&mut f.t, REG_STATUS) & STATUS_DEVICE_NEEDS_RESET, 0);
    // Further notifications are ignored until reset.
    f.t.notify(TX_QUEUE);

    let mut f = fixture();
    ready_device(&mut f);
    // An available index far ahead of the device.
    f.mem
        .write_obj(1000u16, GuestAddress(AVAIL + 0x4000 + 2))
        .unwrap();
    f.t.notify(TX_QUEUE);
    assert_ne!(r(&mut f.t, REG_STATUS) & STATUS_DEVICE_NEEDS_RESET, 0);

    let mut f = fixture();
    ready_device(&mut f);
    // A descriptor index out of range.
    f.mem
        .write_obj(200u16, GuestAddress(AVAIL + 0x4000 + 4))
        .unwrap();
    f.mem
        .write_obj(1u16, GuestAddress(AVAIL + 0x4000 + 2))
        .unwrap();
    f.t.notify(TX_QUEUE);
    assert!(f.out.lock().unwrap().is_empty());
    // Clearing status bits other than by reset is ignored.
    w(&mut f.t, REG_STATUS, STATUS_ACKNOWLEDGE);
    assert_ne!(r(&mut f.t, REG_STATUS) & STATUS_DRIVER_OK, 0);
}
