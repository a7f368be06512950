//! The device thread: one epoll loop for the virtio-console.
//!
//! It waits on the console's queue notification EventFds (KVM ioeventfds), on stdin (when the
//! console is interactive) and on a stop EventFd. Transmit notifications move guest output to
//! the sink; receive notifications and new stdin bytes move buffered input into the guest's
//! receive buffers. Stdin that epoll cannot watch (a regular file, `/dev/null`) is read once,
//! up front, as if typed.

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use vmm_sys_util::epoll::{ControlOperation, Epoll, EpollEvent, EventSet};
use vmm_sys_util::eventfd::EventFd;

use super::lock;
use super::virtio::console::{Console, MAX_PENDING_INPUT, RX_QUEUE};
use super::virtio::mmio::MmioTransport;

const TOKEN_STOP: u64 = 0;
const TOKEN_STDIN: u64 = 1;
const TOKEN_QUEUE: u64 = 2;

pub type ConsoleTransport = Arc<Mutex<MmioTransport<Console>>>;

/// The running device thread; [`EventLoopHandle::stop`] ends it.
pub struct EventLoopHandle {
    stop: EventFd,
    thread: Option<JoinHandle<()>>,
}

impl EventLoopHandle {
    pub fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let _ = self.stop.write(1);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for EventLoopHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Starts the device thread for `console`; with `stdin`, its input comes from fd 0.
pub fn spawn(console: ConsoleTransport, stdin: bool) -> std::io::Result<EventLoopHandle> {
    let epoll = Epoll::new()?;
    let stop = EventFd::new(libc::EFD_NONBLOCK)?;
    let add = |fd: i32, token: u64| {
        epoll.ctl(
            ControlOperation::Add,
            fd,
            EpollEvent::new(EventSet::IN, token),
        )
    };
    add(raw_fd(&stop), TOKEN_STOP)?;
    let queue_evts: Vec<EventFd> = lock(&console)
        .queue_evts()
        .iter()
        .map(EventFd::try_clone)
        .collect::<Result<_, _>>()?;
    for (i, evt) in queue_evts.iter().enumerate() {
        add(raw_fd(evt), TOKEN_QUEUE + i as u64)?;
    }
    if stdin && add(libc::STDIN_FILENO, TOKEN_STDIN).is_err() {
        // Not pollable (regular file, /dev/null): take what is there now.
        let mut input = Vec::new();
        let _ = std::io::stdin()
            .take(MAX_PENDING_INPUT as u64)
            .read_to_end(&mut input);
        lock(&console).device_mut().push_input(&input);
    }
    let thread = std::thread::Builder::new()
        .name("virtio".into())
        .stack_size(256 * 1024)
        .spawn(move || run(epoll, console, queue_evts))?;
    Ok(EventLoopHandle {
        stop,
        thread: Some(thread),
    })
}

fn raw_fd(evt: &EventFd) -> i32 {
    use std::os::fd::AsRawFd;
    evt.as_raw_fd()
}

fn run(epoll: Epoll, console: ConsoleTransport, queue_evts: Vec<EventFd>) {
    let mut events = vec![EpollEvent::default(); 8];
    loop {
        let n = match epoll.wait(-1, &mut events) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                crate::warn!("device thread: epoll: {e}");
                return;
            }
        };
        for ev in &events[..n] {
            match ev.data() {
                TOKEN_STOP => return,
                TOKEN_STDIN => {
                    let mut buf = [0u8; 1024];
                    // SAFETY: reads into a local buffer of the length passed.
                    let got = unsafe {
                        libc::read(libc::STDIN_FILENO, buf.as_mut_ptr().cast(), buf.len())
                    };
                    if got <= 0 {
                        let interrupted = got < 0
                            && std::io::Error::last_os_error().kind()
                                == std::io::ErrorKind::Interrupted;
                        if !interrupted {
                            // EOF or error: stop watching stdin.
                            let _ = epoll.ctl(
                                ControlOperation::Delete,
                                libc::STDIN_FILENO,
                                EpollEvent::default(),
                            );
                        }
                        continue;
                    }
                    let mut c = lock(&console);
                    c.device_mut().push_input(&buf[..got as usize]);
                    c.notify(RX_QUEUE);
                }
                token => {
                    let q = (token - TOKEN_QUEUE) as usize;
                    if let Some(evt) = queue_evts.get(q) {
                        let _ = evt.read();
                    }
                    lock(&console).notify(q);
                }
            }
        }
    }
}
