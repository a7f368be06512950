//! The console TTY that user space's fds 0-2 point at (`/dev/console`), also reached as
//! /dev/hvc0, /dev/ttyS0 and, as a controlling terminal (`tty_jobctrl`), /dev/tty.
//!
//! Output goes to the virtio console (`hvc0`) once its driver is up, else to the UART
//! (`ttyS0`), through the line discipline's output processing. Input arrives from the driver
//! into a flip buffer; a worker hands it to the N_TTY line discipline (`n_tty`), as Linux's
//! `flush_to_ldisc` does, which edits lines, echoes and raises the signal keys' signals for
//! the foreground process group. Readers sleep on `INPUT_WAIT` until the discipline has what
//! their mode (canonical, or raw with VMIN/VTIME) asks for. With IXON the STOP key (^S) holds
//! output, writers and echo alike, until the START key (^Q), or any key with IXANY; TCXONC
//! does the same from a program.
//!
//! Locks: `LDISC` and `FLIP` are taken with interrupts off and never held across output to
//! the device, a sleep or a signal.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use spin::Mutex;

use crate::arch::{cpu, tsc};
use crate::fs::file::{File, FileOps, PollTable, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
use crate::kernel::errno::*;
use crate::kernel::signal::{SIGTTIN, SIGTTOU};
use crate::kernel::task::{current_arc, TASK_INTERRUPTIBLE};
use crate::kernel::timer::Hrtimer;
use crate::sched::wait::WaitQueue;

pub mod n_tty;
mod tty_hangup;
mod tty_ioctl;
pub mod tty_jobctrl;

use n_tty::{NTty, TOSTOP, VMIN, VTIME};

pub struct Backend {
    pub name: &'static str,
    pub write: fn(&[u8]),
}

static BACKEND: Mutex<Option<Backend>> = Mutex::new(None);
/// The line discipline's state: settings, the line being typed, what readers may take.
static LDISC: Mutex<NTty> = Mutex::new(NTty::new());

/// Make `backend` the console (the virtio-console driver calls this).
pub fn register(backend: Backend) {
    crate::pr_info!("console [{}] enabled", backend.name);
    cpu::without_interrupts(|| *BACKEND.lock() = Some(backend));
}

/// The name of the device the console writes to, once a driver has registered it.
pub fn backend_name() -> Option<&'static str> {
    cpu::without_interrupts(|| BACKEND.lock().as_ref().map(|b| b.name))
}

fn with_ldisc<R>(f: impl FnOnce(&mut NTty) -> R) -> R {
    cpu::without_interrupts(|| f(&mut LDISC.lock()))
}

/// Send output-processed bytes to the device.
fn emit(out: &[u8], unprocessed: &[u8]) {
    let backend = cpu::without_interrupts(|| BACKEND.lock().as_ref().map(|b| b.write));
    match backend {
        Some(write) => write(out),
        // The early UART does its own NL to CR NL.
        None => crate::arch::serial::write_bytes(unprocessed),
    }
}

/// Write to the terminal through the line discipline's output processing (ONLCR and the
/// column it tracks for erasing).
pub fn write(data: &[u8]) {
    let out = with_ldisc(|l| {
        let mut out = Vec::with_capacity(data.len() + 8);
        l.opost(data, &mut out);
        out
    });
    emit(&out, data);
}

/// Bytes the driver received that the line discipline has not taken yet (`tty_bufhead`).
static FLIP: Mutex<VecDeque<u8>> = Mutex::new(VecDeque::new());
/// Moves `FLIP` to the line discipline, on `events_unbound` (`buf->work`).
static FLUSH_WORK: spin::Lazy<Arc<crate::kernel::workqueue::Work>> =
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

/// Give received bytes to the line discipline (`flush_to_ldisc` → `n_tty_receive_buf`): echo
/// what it echoes, signal the foreground process group for the signal keys, wake readers.
fn flush_to_ldisc() {
    let bytes: Vec<u8> = cpu::without_interrupts(|| FLIP.lock().drain(..).collect());
    if bytes.is_empty() {
        return;
    }
    let (signals, echo) = with_ldisc(|l| (l.receive_buf(&bytes), l.take_echo_unless_stopped()));
    if !echo.is_empty() {
        emit(&echo, &echo);
    }
    // The START key may have let held writers go.
    OUTPUT_WAIT.wake_up_all();
    for sig in signals {
        tty_jobctrl::isig(sig);
    }
    INPUT_WAIT.wake_up_all();
}

/// A hang-up: sleepers look again at their file (`tty_hangup`).
fn wake_readers_and_writers() {
    INPUT_WAIT.wake_up_all();
    OUTPUT_WAIT.wake_up_all();
}

/// Readers (and pollers) sleep here until input arrives.
static INPUT_WAIT: spin::Lazy<Arc<WaitQueue>> = spin::Lazy::new(|| Arc::new(WaitQueue::new()));
/// Writers (and pollers) sleep here while output is held (`tty->write_wait`).
static OUTPUT_WAIT: spin::Lazy<Arc<WaitQueue>> = spin::Lazy::new(|| Arc::new(WaitQueue::new()));

fn output_stopped() -> bool {
    with_ldisc(|l| l.stopped)
}

/// Output may go again (`start_tty`): write the echo held meanwhile, wake the writers.
fn start_tty() {
    let echo = with_ldisc(|l| {
        l.start();
        l.take_echo_unless_stopped()
    });
    if !echo.is_empty() {
        emit(&echo, &echo);
    }
    OUTPUT_WAIT.wake_up_all();
}

/// Wait until what the driver received has reached the line discipline
/// (`tty_buffer_flush_work`).
fn tty_buffer_flush_work() {
    crate::kernel::workqueue::flush_work(&FLUSH_WORK);
}

/// Whether a read would return at once (for poll): a line, or VMIN bytes in raw mode.
fn input_available() -> bool {
    with_ldisc(|l| {
        let min = if l.termios.cc[VTIME] == 0 {
            l.termios.cc[VMIN] as usize
        } else {
            1
        };
        l.input_available(min)
    })
}

/// Wait until the console has sent everything (before power-off).
pub fn flush() {
    crate::drivers::virtio::console::flush();
}

/// Read (`n_tty_read`): a background process gets SIGTTIN (or EIO); canonical mode returns
/// up to one line; raw mode follows VMIN and VTIME.
fn n_tty_read(buf: &mut [u8], nonblocking: bool, hung_up: &AtomicBool) -> KResult<usize> {
    if buf.is_empty() {
        return Ok(0);
    }
    tty_jobctrl::tty_check_change(SIGTTIN)?;
    if !input_available() {
        // What arrived may still sit in the flip buffer.
        tty_buffer_flush_work();
    }
    let termios = with_ldisc(|l| l.termios);
    if termios.canonical() {
        loop {
            if hung_up.load(Ordering::Acquire) {
                return Ok(0);
            }
            if let Some(n) = with_ldisc(|l| l.read_canon(buf)) {
                return Ok(n);
            }
            if nonblocking {
                return Err(EAGAIN);
            }
            INPUT_WAIT.wait_event(TASK_INTERRUPTIBLE, false, || {
                hung_up.load(Ordering::Acquire) || with_ldisc(|l| l.input_available(1))
            })?;
        }
    }
    read_raw(
        buf,
        nonblocking,
        termios.cc[VMIN],
        termios.cc[VTIME],
        hung_up,
    )
}

/// Non-canonical read: at least `min` bytes (capped at the buffer), or, with `time`
/// (tenths of a second), what arrived before the timer ran out. With `min` 0 the timer runs
/// from the call; otherwise between bytes, from the first one.
fn read_raw(
    buf: &mut [u8],
    nonblocking: bool,
    min: u8,
    time: u8,
    hung_up: &AtomicBool,
) -> KResult<usize> {
    let min = (min as usize).min(buf.len());
    let interval = time as u64 * 100_000_000;
    let mut deadline = (time != 0 && min == 0).then(|| tsc::ns_since_boot() + interval);
    let mut copied = 0;
    loop {
        if hung_up.load(Ordering::Acquire) {
            return Ok(copied);
        }
        let n = with_ldisc(|l| l.read_raw(&mut buf[copied..]));
        copied += n;
        if copied >= min.max(1) || (min == 0 && time == 0) {
            return Ok(copied);
        }
        if n > 0 && time != 0 {
            deadline = Some(tsc::ns_since_boot() + interval);
        }
        if deadline.is_some_and(|d| tsc::ns_since_boot() >= d) {
            return Ok(copied);
        }
        if nonblocking {
            return if copied > 0 { Ok(copied) } else { Err(EAGAIN) };
        }
        let expired = Arc::new(AtomicBool::new(false));
        let timer = deadline.map(|d| {
            let (task, expired) = (current_arc(), expired.clone());
            Hrtimer::start(d, move || {
                expired.store(true, Ordering::Release);
                crate::sched::wake_up_state(&task, TASK_INTERRUPTIBLE);
            })
        });
        let r = INPUT_WAIT.wait_event(TASK_INTERRUPTIBLE, false, || {
            expired.load(Ordering::Acquire)
                || hung_up.load(Ordering::Acquire)
                || with_ldisc(|l| l.input_available(1))
        });
        if let Some(t) = timer {
            t.cancel();
        }
        if let Err(e) = r {
            // A signal: what was read so far is the result.
            return if copied > 0 { Ok(copied) } else { Err(e) };
        }
    }
}

/// Write (`n_tty_write`): with TOSTOP, a background process gets SIGTTOU (or EIO); while
/// output is held (^S, TCOOFF) the writer waits, or gets EAGAIN if it would not block.
fn n_tty_write(buf: &[u8], nonblocking: bool, hung_up: &AtomicBool) -> KResult<usize> {
    if with_ldisc(|l| l.termios.lflag & TOSTOP != 0) {
        tty_jobctrl::tty_check_change(SIGTTOU)?;
    }
    if output_stopped() {
        if nonblocking {
            return Err(EAGAIN);
        }
        OUTPUT_WAIT.wait_event(TASK_INTERRUPTIBLE, false, || {
            !output_stopped() || hung_up.load(Ordering::Acquire)
        })?;
    }
    if hung_up.load(Ordering::Acquire) {
        return Err(EIO);
    }
    write(buf);
    Ok(buf.len())
}

/// The console as an open file (`tty_fops`), through device `rdev` (for /dev/console, the
/// device behind it when opened).
pub struct TtyFile {
    rdev: u64,
    /// Hung up by the controlling process's exit (`tty_hangup`): from then on the file is
    /// `hung_up_tty_fops`.
    hung_up: AtomicBool,
}

/// Open a terminal device (Linux's `tty_open`): /dev/tty is the caller's controlling
/// terminal, or ENXIO; the other devices may become the caller's controlling terminal,
/// except /dev/console.
pub fn tty_open(rdev: u64, flags: u32) -> KResult<Arc<dyn FileOps>> {
    use crate::fs::char_dev::TTYAUX_MAJOR;
    use crate::fs::file::{O_ACCMODE, O_NOCTTY, O_WRONLY};
    use crate::fs::inode::mkdev;
    let console = rdev == mkdev(TTYAUX_MAJOR, 1);
    let rdev = if rdev == mkdev(TTYAUX_MAJOR, 0) {
        tty_jobctrl::tty_open_current_tty()?
    } else if console {
        tty_jobctrl::console_device()
    } else {
        if flags & O_NOCTTY == 0 {
            tty_jobctrl::tty_open_proc_set_tty(rdev, flags & O_ACCMODE != O_WRONLY);
        }
        rdev
    };
    let file = Arc::new(TtyFile {
        rdev,
        hung_up: AtomicBool::new(false),
    });
    // Files opened through /dev/console are not hung up (Linux's `redirected_tty_write`).
    if !console {
        tty_hangup::tty_add_file(&file);
    }
    Ok(file)
}

impl FileOps for TtyFile {
    fn read(&self, file: &File, buf: &mut [u8], _pos: &mut u64) -> KResult<usize> {
        if self.hung_up.load(Ordering::Acquire) {
            return Ok(0);
        }
        n_tty_read(buf, file.nonblocking(), &self.hung_up)
    }

    fn write(&self, file: &File, buf: &[u8], _pos: &mut u64) -> KResult<usize> {
        if self.hung_up.load(Ordering::Acquire) {
            return Err(EIO);
        }
        n_tty_write(buf, file.nonblocking(), &self.hung_up)
    }

    fn seekable(&self) -> bool {
        false
    }

    fn poll(&self, _file: &File, pt: Option<&mut PollTable>) -> u16 {
        if self.hung_up.load(Ordering::Acquire) {
            return tty_hangup::HUNG_UP_POLL;
        }
        if let Some(pt) = pt {
            pt.poll_wait(&INPUT_WAIT);
            pt.poll_wait(&OUTPUT_WAIT);
        }
        // Like `n_tty_poll`: look again after the flip buffer is flushed.
        let input = if input_available() || {
            tty_buffer_flush_work();
            input_available()
        } {
            POLLIN | POLLRDNORM
        } else {
            0
        };
        let output = if output_stopped() {
            0
        } else {
            POLLOUT | POLLWRNORM
        };
        input | output
    }

    fn ioctl(&self, file: &File, cmd: u32, arg: u64) -> KResult<i64> {
        if self.hung_up.load(Ordering::Acquire) {
            return tty_hangup::hung_up_tty_ioctl(cmd);
        }
        tty_ioctl::tty_ioctl(self.rdev, file, cmd, arg)
    }
}
