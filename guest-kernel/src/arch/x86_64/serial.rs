//! 16550 UART on COM1: early and panic output, polled.
//!
//! The VMM's UART is always ready to transmit, so a write costs one status read and one data
//! write (two port exits); that is the whole cost of early output.

use abi::ports::COM1;

use super::cpu::{inb, outb};

const THR: u16 = 0;
const IER: u16 = 1;
const FCR: u16 = 2;
const LCR: u16 = 3;
const MCR: u16 = 4;
const LSR: u16 = 5;
const LSR_THR_EMPTY: u8 = 0x20;

/// Program 115200 8N1 with FIFOs; harmless on a UART that ignores it.
pub fn init() {
    outb(COM1 + IER, 0);
    outb(COM1 + LCR, 0x80); // DLAB
    outb(COM1, 1); // divisor 1: 115200 baud
    outb(COM1 + IER, 0);
    outb(COM1 + LCR, 0x03); // 8N1
    outb(COM1 + FCR, 0x07);
    outb(COM1 + MCR, 0x03);
}

pub fn write_bytes(bytes: &[u8]) {
    for &b in bytes {
        if b == b'\n' {
            put(b'\r');
        }
        put(b);
    }
}

fn put(b: u8) {
    // Bounded wait: a missing UART must not hang the kernel.
    for _ in 0..100_000 {
        if inb(COM1 + LSR) & LSR_THR_EMPTY != 0 {
            break;
        }
    }
    outb(COM1 + THR, b);
}
