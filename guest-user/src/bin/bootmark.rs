//! The boot benchmark's init, the same binary for our kernel and for Linux: it marks that user
//! space was reached, then powers the machine off at once. On Linux it gets port access with
//! `ioperm` and writes QEMU's isa-debug-exit port; on our kernel init exiting powers off.
//! Linux may still hold the line in the serial driver's transmit buffer when `write` returns
//! (with two CPUs it went missing in a third of the boots), so it waits for the line to be
//! sent first.

fn main() {
    println!("bootmark: user space reached");
    // SAFETY: ioperm only changes this process's I/O permission bitmap.
    if unsafe { libc::ioperm(0xf4, 4, 1) } == 0 {
        // SAFETY: tcdrain only waits for output queued on the descriptor to be transmitted.
        unsafe { libc::tcdrain(1) };
        // SAFETY: the port was granted; writing it powers the VM off (QEMU isa-debug-exit).
        unsafe { core::arch::asm!("out dx, eax", in("dx") 0xf4u16, in("eax") 0u32) };
    }
    std::process::exit(0);
}
