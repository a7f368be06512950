//! The console TTY that user space's fds 0-2 point at (`/dev/console`), also reached as
//! /dev/hvc0, /dev/ttyS0 and, as a controlling terminal (`tty_jobctrl`), /dev/tty.
//!
//! Output goes to the virtio console (`hvc0`) once its driver is up, else to the UART
//! (`ttyS0`), with the output post-processing Linux's default termios does (ONLCR: `\n` →
//! `\r\n`). Input arrives from the driver into a flip buffer, a worker moves it to the ring
//! readers wait on, as Linux's `flush_to_ldisc` does.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use spin::Mutex;

use super::tty_jobctrl;
use crate::arch::cpu;
use crate::fs::file::{File, FileOps, PollTable, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
use crate::kernel::errno::*;
use crate::mm::usercopy::{copy_from_user, copy_to_user, write_user};
use crate::sched::wait::WaitQueue;

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

/// The name of the device the console writes to, once a driver has registered it.
pub fn backend_name() -> Option<&'static str> {
    cpu::without_interrupts(|| BACKEND.lock().as_ref().map(|b| b.name))
}

pub fn write(data: &[u8]) {
    let out = onlcr(data);
    let backend = cpu::without_interrupts(|| BACKEND.lock().as_ref().map(|b| b.write));
    match backend {
        Some(write) => write(&out),
        None => crate::arch::serial::write_bytes(data),
    }
}

/// Bytes the driver received that the line discipline has not taken yet (`tty_bufhead`).
static FLIP: Mutex<VecDeque<u8>> = Mutex::new(VecDeque::new());
/// Moves `FLIP` to the readers, on `events_unbound` (`buf->work`).
static FLUSH_WORK: spin::Lazy<alloc::sync::Arc<crate::kernel::workqueue::Work>> =
    spin::Lazy::new(|| crate::kernel::workqueue::Work::new(flush_to_ldisc));

/// Bytes typed on the console (from the driver's receive tasklet): stored in the flip
/// buffer, which a worker hands to the line discipline (`tty_insert_flip_string` and
/// `tty_flip_buffer_push`, which queues `flush_to_ldisc` on `system_unbound_wq`).
pub fn receive(data: &[u8]) {
    cpu::without_interrupts(|| FLIP.lock().extend(data));
    match crate::kernel::workqueue::system_unbound_wq() {
        Some(wq) => {
            crate::kernel::workqueue::queue_work(wq, &FLUSH_WORK);
        }
        None => flush_to_ldisc(),
    }
}

/// Give received bytes to the readers, CR read as NL (ICRNL), and wake them
/// (`flush_to_ldisc`).
fn flush_to_ldisc() {
    cpu::without_interrupts(|| {
        let bytes = core::mem::take(&mut *FLIP.lock());
        INPUT.lock().extend(
            bytes
                .into_iter()
                .map(|b| if b == b'\r' { b'\n' } else { b }),
        )
    });
    INPUT_WAIT.wake_up();
}

/// Readers (and pollers) sleep here until input arrives.
static INPUT_WAIT: spin::Lazy<alloc::sync::Arc<WaitQueue>> =
    spin::Lazy::new(|| alloc::sync::Arc::new(WaitQueue::new()));

/// Read at least one byte, sleeping until input arrives (or a signal).
pub fn read(buf: &mut [u8]) -> KResult<usize> {
    if buf.is_empty() {
        return Ok(0);
    }
    if !input_ready() {
        // What arrived may still sit in the flip buffer (`n_tty_read`).
        tty_buffer_flush_work();
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

/// Wait until what the driver received has reached the readers (`tty_buffer_flush_work`).
fn tty_buffer_flush_work() {
    crate::kernel::workqueue::flush_work(&FLUSH_WORK);
}

/// Whether a read would return at once (for poll).
pub fn input_ready() -> bool {
    cpu::without_interrupts(|| !INPUT.lock().is_empty())
}

/// Wait until the console has sent everything (before power-off).
pub fn flush() {
    crate::drivers::virtio::console::flush();
}

/// The terminal settings (`struct termios`, 60 bytes on x86_64), kept so TCGETS returns what
/// TCSETS stored. The line discipline does not act on them yet.
/// `sizeof(struct termios)` in the kernel's ABI (asm-generic/termbits.h).
const KERNEL_TERMIOS_LEN: usize = 36;
static TERMIOS: Mutex<[u8; 60]> = Mutex::new(default_termios());
static WINSIZE: Mutex<[u16; 4]> = Mutex::new([24, 80, 0, 0]);

/// Linux's default console termios: ICRNL; OPOST|ONLCR; B38400 CS8 CREAD HUPCL; ISIG ICANON
/// ECHO ECHOE ECHOK ECHOCTL ECHOKE IEXTEN; and `tty_std_termios`'s control characters.
const fn default_termios() -> [u8; 60] {
    let mut t = [0u8; 60];
    let words = [0x0500u32, 0x0005, 0x04bf, 0x8a3b];
    let mut i = 0;
    while i < 4 {
        let b = words[i].to_le_bytes();
        t[i * 4] = b[0];
        t[i * 4 + 1] = b[1];
        t[i * 4 + 2] = b[2];
        t[i * 4 + 3] = b[3];
        i += 1;
    }
    // c_line = 0 at 16, c_cc from 17: INTR QUIT ERASE KILL EOF TIME MIN ...
    let cc = [3u8, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22];
    let mut j = 0;
    while j < cc.len() {
        t[17 + j] = cc[j];
        j += 1;
    }
    t
}

/// The console as an open file (`tty_fops`), through device `rdev` (for /dev/console, the
/// device behind it when opened).
pub struct TtyFile {
    rdev: u64,
}

/// Open a terminal device (Linux's `tty_open`): /dev/tty is the caller's controlling
/// terminal, or ENXIO; the other devices may become the caller's controlling terminal,
/// except /dev/console.
pub fn tty_open(rdev: u64, flags: u32) -> KResult<alloc::sync::Arc<dyn FileOps>> {
    use crate::fs::char_dev::TTYAUX_MAJOR;
    use crate::fs::file::{O_ACCMODE, O_NOCTTY, O_WRONLY};
    use crate::fs::inode::mkdev;
    let rdev = if rdev == mkdev(TTYAUX_MAJOR, 0) {
        tty_jobctrl::tty_open_current_tty()?
    } else if rdev == mkdev(TTYAUX_MAJOR, 1) {
        tty_jobctrl::console_device()
    } else {
        if flags & O_NOCTTY == 0 {
            tty_jobctrl::tty_open_proc_set_tty(rdev, flags & O_ACCMODE != O_WRONLY);
        }
        rdev
    };
    Ok(alloc::sync::Arc::new(TtyFile { rdev }))
}

impl FileOps for TtyFile {
    fn read(&self, file: &File, buf: &mut [u8], _pos: &mut u64) -> KResult<usize> {
        if file.nonblocking() && !input_ready() {
            return Err(EAGAIN);
        }
        read(buf)
    }

    fn write(&self, _file: &File, buf: &[u8], _pos: &mut u64) -> KResult<usize> {
        write(buf);
        Ok(buf.len())
    }

    fn seekable(&self) -> bool {
        false
    }

    fn poll(&self, _file: &File, pt: Option<&mut PollTable>) -> u16 {
        if let Some(pt) = pt {
            pt.poll_wait(&INPUT_WAIT);
        }
        // Like `n_tty_poll`: look again after the flip buffer is flushed.
        let input = if input_ready() || {
            tty_buffer_flush_work();
            input_ready()
        } {
            POLLIN | POLLRDNORM
        } else {
            0
        };
        input | POLLOUT | POLLWRNORM
    }

    fn ioctl(&self, file: &File, cmd: u32, arg: u64) -> KResult<i64> {
        const TCGETS: u32 = 0x5401;
        const TCSETS: u32 = 0x5402;
        const TCSETSW: u32 = 0x5403;
        const TCSETSF: u32 = 0x5404;
        const TIOCSCTTY: u32 = 0x540e;
        const TIOCGPGRP: u32 = 0x540f;
        const TIOCSPGRP: u32 = 0x5410;
        const TIOCGWINSZ: u32 = 0x5413;
        const TIOCSWINSZ: u32 = 0x5414;
        const FIONREAD: u32 = 0x541b;
        const TIOCNOTTY: u32 = 0x5422;
        const TIOCGSID: u32 = 0x5429;
        match cmd {
            // The kernel's `struct termios` is 36 bytes (no speeds, 19 control characters);
            // C libraries convert from their larger user-space struct, so copying more
            // overruns their stack buffers (glibc's canary catches it).
            TCGETS => {
                let t = *TERMIOS.lock();
                copy_to_user(arg, &t[..KERNEL_TERMIOS_LEN])?;
            }
            TCSETS | TCSETSW | TCSETSF => {
                let mut t = *TERMIOS.lock();
                copy_from_user(&mut t[..KERNEL_TERMIOS_LEN], arg)?;
                *TERMIOS.lock() = t;
            }
            TIOCGWINSZ => {
                let w = *WINSIZE.lock();
                write_user(arg, &w)?;
            }
            TIOCSWINSZ => {
                let w: [u16; 4] = crate::mm::usercopy::read_user(arg)?;
                *WINSIZE.lock() = w;
            }
            TIOCSCTTY => tty_jobctrl::tiocsctty(self.rdev, file.readable())?,
            TIOCNOTTY => tty_jobctrl::tiocnotty()?,
            TIOCGPGRP => write_user(arg, &tty_jobctrl::tiocgpgrp()?)?,
            TIOCSPGRP => {
                let pgrp: i32 = crate::mm::usercopy::read_user(arg)?;
                tty_jobctrl::tiocspgrp(pgrp)?;
            }
            TIOCGSID => write_user(arg, &tty_jobctrl::tiocgsid()?)?,
            FIONREAD => {
                let n = cpu::without_interrupts(|| INPUT.lock().len()) as i32;
                write_user(arg, &n)?;
            }
            _ => return Err(ENOTTY),
        }
        Ok(0)
    }
}
