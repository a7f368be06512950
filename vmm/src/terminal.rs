//! Raw mode for an interactive stdin.
//!
//! When the console is stdio and stdin is a terminal, line editing, echo and signal keys are
//! turned off (like Firecracker: `ICANON | ECHO | ISIG`), so keys, Ctrl-C included, go to the
//! guest; output processing stays on. The saved settings are restored when the
//! [`RawModeGuard`] drops (every return path of `Vmm::run`), and by a handler for SIGTERM,
//! SIGHUP and SIGQUIT that restores them before letting the signal kill the process.

use std::sync::OnceLock;

/// The terminal settings before raw mode; read by the signal handler.
static SAVED: OnceLock<libc::termios> = OnceLock::new();

/// Restores the terminal when dropped.
pub struct RawModeGuard {
    saved: libc::termios,
}

fn stdin_is_tty() -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(libc::STDIN_FILENO) == 1 }
}

impl RawModeGuard {
    /// Puts stdin in raw mode if it is a terminal; `None` if it isn't (or can't be).
    pub fn new() -> Option<Self> {
        if !stdin_is_tty() {
            return None;
        }
        // SAFETY: termios is plain data; tcgetattr fills it and we check the result.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: valid descriptor and pointer to a termios.
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut saved) } != 0 {
            return None;
        }
        let _ = SAVED.set(saved);
        install_restore_handlers();
        let mut raw = saved;
        raw.c_lflag &= !(libc::ICANON | libc::ECHO | libc::ISIG);
        raw.c_cc[libc::VMIN] = 1;
        raw.c_cc[libc::VTIME] = 0;
        // SAFETY: valid descriptor and pointer to a termios.
        if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &raw) } != 0 {
            return None;
        }
        Some(RawModeGuard { saved })
    }
}

impl Drop for RawModeGuard {
    fn drop(&mut self) {
        // SAFETY: valid descriptor and pointer to a termios.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.saved) };
    }
}

extern "C" fn restore_and_reraise(
    sig: libc::c_int,
    _info: *mut libc::siginfo_t,
    _ctx: *mut libc::c_void,
) {
    if let Some(saved) = SAVED.get() {
        // SAFETY: tcsetattr, signal and raise are async-signal-safe; `saved` is initialized.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, saved) };
    }
    // SAFETY: back to the default action, then deliver the signal again to die of it.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

fn install_restore_handlers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for sig in [libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT, libc::SIGINT] {
            let _ = vmm_sys_util::signal::register_signal_handler(sig, restore_and_reraise);
        }
    });
}
