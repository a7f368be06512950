//! The N_TTY line discipline (Linux's drivers/tty/n_tty.c), as pure state over a line buffer:
//! what the driver receives goes through [`NTty::receive_buf`], which edits the line, queues
//! the echo and returns the signals the keys raise; readers take completed lines (canonical
//! mode) or bytes (raw mode) from it; writes go through [`NTty::opost`].
//!
//! Invariants: `ready` holds what a read may take; in canonical mode it is a sequence of
//! completed lines whose lengths are `lines` (a zero-length line is an end of file), and
//! `edit` is the line being typed. In raw mode `lines` is empty and `edit` unused. `column`
//! is the output column after everything written or echoed so far (for erasing tabs).
//! The caller holds one lock over all of it and does the waking, signalling and output.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

// c_iflag
pub const ISTRIP: u32 = 0o40;
pub const INLCR: u32 = 0o100;
pub const IGNCR: u32 = 0o200;
pub const ICRNL: u32 = 0o400;
pub const IXON: u32 = 0o2000;
pub const IXANY: u32 = 0o4000;
pub const IUTF8: u32 = 0o40000;
// c_oflag
pub const OPOST: u32 = 0o1;
pub const ONLCR: u32 = 0o4;
pub const OCRNL: u32 = 0o10;
pub const ONLRET: u32 = 0o40;
pub const XTABS: u32 = 0o14000;
// c_lflag
pub const ISIG: u32 = 0o1;
pub const ICANON: u32 = 0o2;
pub const ECHO: u32 = 0o10;
pub const ECHOE: u32 = 0o20;
pub const ECHOK: u32 = 0o40;
pub const ECHONL: u32 = 0o100;
pub const NOFLSH: u32 = 0o200;
pub const TOSTOP: u32 = 0o400;
pub const ECHOCTL: u32 = 0o1000;
pub const ECHOKE: u32 = 0o4000;
pub const IEXTEN: u32 = 0o100000;
// c_cc indexes
pub const VINTR: usize = 0;
pub const VQUIT: usize = 1;
pub const VERASE: usize = 2;
pub const VKILL: usize = 3;
pub const VEOF: usize = 4;
pub const VTIME: usize = 5;
pub const VMIN: usize = 6;
pub const VSTART: usize = 8;
pub const VSTOP: usize = 9;
pub const VSUSP: usize = 10;
pub const VEOL: usize = 11;
pub const VREPRINT: usize = 12;
pub const VWERASE: usize = 14;
pub const VLNEXT: usize = 15;
pub const VEOL2: usize = 16;
pub const NCCS: usize = 19;

pub const SIGINT: u32 = 2;
pub const SIGQUIT: u32 = 3;
pub const SIGTSTP: u32 = 20;

/// Longest line canonical mode keeps (Linux's N_TTY_BUF_SIZE less the newline).
pub const N_TTY_BUF_SIZE: usize = 4096;

/// The kernel's `struct termios` (36 bytes on x86_64: what TCGETS and TCSETS copy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Termios {
    pub iflag: u32,
    pub oflag: u32,
    pub cflag: u32,
    pub lflag: u32,
    pub line: u8,
    pub cc: [u8; NCCS],
}

pub const TERMIOS_SIZE: usize = 36;

impl Termios {
    /// Linux's `tty_std_termios`: ICRNL IXON; OPOST ONLCR; B38400 CS8 CREAD HUPCL; ISIG
    /// ICANON ECHO ECHOE ECHOK ECHOCTL ECHOKE IEXTEN; ^C ^\ ^? ^U ^D, TIME 0, MIN 1, ^Z, ^R
    /// ^W ^V.
    pub const fn std() -> Termios {
        Termios {
            iflag: ICRNL | IXON,
            oflag: OPOST | ONLCR,
            cflag: 0o2277,
            lflag: ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN,
            line: 0,
            cc: [
                3, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22, 0, 0, 0,
            ],
        }
    }

    pub fn from_bytes(b: &[u8; TERMIOS_SIZE]) -> Termios {
        let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut cc = [0; NCCS];
        cc.copy_from_slice(&b[17..17 + NCCS]);
        Termios {
            iflag: word(0),
            oflag: word(4),
            cflag: word(8),
            lflag: word(12),
            line: b[16],
            cc,
        }
    }

    pub fn to_bytes(self) -> [u8; TERMIOS_SIZE] {
        let mut b = [0; TERMIOS_SIZE];
        for (i, w) in [self.iflag, self.oflag, self.cflag, self.lflag]
            .iter()
            .enumerate()
        {
            b[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
        }
        b[16] = self.line;
        b[17..17 + NCCS].copy_from_slice(&self.cc);
        b
    }

    fn l(&self, flag: u32) -> bool {
        self.lflag & flag != 0
    }

    fn i(&self, flag: u32) -> bool {
        self.iflag & flag != 0
    }

    /// Whether `c` is the (enabled) control character `idx`.
    fn is(&self, c: u8, idx: usize) -> bool {
        // A control character of 0 (_POSIX_VDISABLE) is off.
        self.cc[idx] != 0 && self.cc[idx] == c
    }

    pub fn canonical(&self) -> bool {
        self.l(ICANON)
    }
}

/// Backspace (^H) erases too while ERASE is DEL: terminals differ in which one the
/// backspace key sends, and the line should be editable from either (a deliberate extension:
/// Linux honours only VERASE).
fn bs_erase(t: &Termios, c: u8) -> bool {
    c == 0x08 && t.cc[VERASE] == 0x7f
}

fn is_cntrl(c: u8) -> bool {
    c < 0x20 || c == 0x7f
}

fn is_continuation(c: u8) -> bool {
    c & 0xc0 == 0x80
}

/// The line discipline's state for one terminal.
pub struct NTty {
    pub termios: Termios,
    /// The line being typed (canonical mode).
    edit: Vec<u8>,
    /// What reads may take.
    ready: VecDeque<u8>,
    /// Canonical mode: the lengths of the completed lines in `ready`, oldest first.
    lines: VecDeque<usize>,
    /// The output column, and where the line being typed started on screen.
    column: usize,
    canon_column: usize,
    /// The last key was VLNEXT: take the next one literally.
    lnext: bool,
    /// Echo waiting to be written to the device, output-processed already.
    echo: Vec<u8>,
    /// Output is held (`tty->flow.stopped`): by the STOP key with IXON, or by TCOOFF.
    pub stopped: bool,
    /// Held by TCOOFF (`flow.tco_stopped`): only TCOON lets it go.
    pub tco_stopped: bool,
}

impl Default for NTty {
    fn default() -> Self {
        Self::new()
    }
}

impl NTty {
    pub const fn new() -> NTty {
        NTty {
            termios: Termios::std(),
            edit: Vec::new(),
            ready: VecDeque::new(),
            lines: VecDeque::new(),
            column: 0,
            canon_column: 0,
            lnext: false,
            echo: Vec::new(),
            stopped: false,
            tco_stopped: false,
        }
    }

    /// Hold output (`stop_tty`).
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// Let output go again, unless TCOOFF holds it (`start_tty`).
    pub fn start(&mut self) {
        if !self.tco_stopped {
            self.stopped = false;
        }
    }

    /// The echo to write now: none while output is held (it goes out on restart).
    pub fn take_echo_unless_stopped(&mut self) -> Vec<u8> {
        if self.stopped {
            Vec::new()
        } else {
            self.take_echo()
        }
    }

    /// Process received bytes (`n_tty_receive_buf`); returns the signals they raise for the
    /// foreground process group, in order. The echo is in [`NTty::take_echo`].
    pub fn receive_buf(&mut self, bytes: &[u8]) -> Vec<u32> {
        let mut signals = Vec::new();
        for &b in bytes {
            if let Some(sig) = self.receive_char(b) {
                signals.push(sig);
            }
        }
        signals
    }

    fn receive_char(&mut self, mut c: u8) -> Option<u32> {
        let t = self.termios;
        if t.i(ISTRIP) {
            c &= 0x7f;
        }
        if self.lnext {
            self.lnext = false;
            if t.l(ECHO) && t.l(ECHOCTL) {
                // Take back the "^\b" shown for VLNEXT.
                self.echo_bytes(b"\x08");
            }
            self.add_char(c);
            return None;
        }
        // Flow control keys are never data (`n_tty_receive_char_flow_ctrl`); with IXANY any
        // other key restarts held output too.
        if t.i(IXON) {
            if t.is(c, VSTART) {
                self.start();
                return None;
            }
            if t.is(c, VSTOP) {
                self.stop();
                return None;
            }
            if t.i(IXANY) {
                self.start();
            }
        }
        if c == b'\r' {
            if t.i(IGNCR) {
                return None;
            }
            if t.i(ICRNL) {
                c = b'\n';
            }
        } else if c == b'\n' && t.i(INLCR) {
            c = b'\r';
        }
        if t.l(ISIG) {
            let sig = [(VINTR, SIGINT), (VQUIT, SIGQUIT), (VSUSP, SIGTSTP)]
                .into_iter()
                .find(|&(idx, _)| t.is(c, idx))
                .map(|(_, sig)| sig);
            if let Some(sig) = sig {
                // `isig` then `n_tty_receive_signal_char`: flush unless NOFLSH, restart
                // output, echo the key.
                if t.i(IXON) {
                    self.start();
                }
                if !t.l(NOFLSH) {
                    self.flush_input();
                }
                if t.l(ECHO) {
                    self.echo_char(c);
                }
                return Some(sig);
            }
        }
        if !t.canonical() {
            if t.l(ECHO) {
                self.echo_char(c);
            }
            self.ready.push_back(c);
            return None;
        }
        if t.is(c, VERASE) || t.is(c, VKILL) || (t.l(IEXTEN) && t.is(c, VWERASE)) || bs_erase(&t, c)
        {
            self.eraser(c);
            return None;
        }
        if t.l(IEXTEN) && t.is(c, VLNEXT) {
            self.lnext = true;
            if t.l(ECHO) && t.l(ECHOCTL) {
                self.echo_bytes(b"^\x08");
            }
            return None;
        }
        if t.l(IEXTEN) && t.is(c, VREPRINT) {
            self.reprint(c);
            return None;
        }
        if c == b'\n' {
            if t.l(ECHO) || t.l(ECHONL) {
                self.echo_bytes(b"\n");
            }
            self.edit.push(b'\n');
            self.commit_line();
            return None;
        }
        if t.is(c, VEOF) {
            // The line so far, without a terminator; on an empty line, end of file.
            self.commit_line();
            return None;
        }
        if t.is(c, VEOL) || t.is(c, VEOL2) {
            if t.l(ECHO) {
                self.echo_char(c);
            }
            self.edit.push(c);
            self.commit_line();
            return None;
        }
        self.add_char(c);
        None
    }

    /// An ordinary character for the line (or, raw, for the reader).
    fn add_char(&mut self, c: u8) {
        if !self.termios.canonical() {
            if self.termios.l(ECHO) {
                self.echo_char(c);
            }
            self.ready.push_back(c);
            return;
        }
        // Room is kept for the newline that ends the line.
        if self.edit.len() >= N_TTY_BUF_SIZE - 1 {
            return;
        }
        if self.termios.l(ECHO) {
            if self.edit.is_empty() {
                self.canon_column = self.column;
            }
            self.echo_char(c);
        }
        self.edit.push(c);
    }

    fn commit_line(&mut self) {
        self.lines.push_back(self.edit.len());
        self.ready.extend(self.edit.drain(..));
        self.canon_column = self.column;
    }

    /// ERASE, WERASE and KILL (`eraser`).
    fn eraser(&mut self, c: u8) {
        let t = self.termios;
        if self.edit.is_empty() {
            return;
        }
        let kill = t.is(c, VKILL) && !bs_erase(&t, c);
        if kill {
            if !t.l(ECHO) {
                self.edit.clear();
                return;
            }
            if !t.l(ECHOK) || !t.l(ECHOKE) || !t.l(ECHOE) {
                // Show the key and, with ECHOK, start a fresh line.
                self.edit.clear();
                self.echo_char(c);
                if t.l(ECHOK) {
                    self.echo_bytes(b"\n");
                }
                return;
            }
        }
        // WERASE takes what ends the line up to and including a word of letters, digits and
        // underscores (BSD's ALTWERASE, as Linux does).
        let word = t.is(c, VWERASE);
        let mut seen_word = false;
        while let Some(&last) = self.edit.last() {
            if word {
                let alnum = last.is_ascii_alphanumeric() || last == b'_';
                if !alnum && seen_word {
                    break;
                }
                seen_word |= alnum;
            }
            self.erase_one();
            if !kill && !word {
                break;
            }
        }
    }

    /// Take the last character (all of a UTF-8 sequence) off the line and off the screen.
    fn erase_one(&mut self) {
        let t = self.termios;
        let mut c = match self.edit.pop() {
            Some(c) => c,
            None => return,
        };
        while t.i(IUTF8) && is_continuation(c) && !self.edit.is_empty() {
            c = self.edit.pop().unwrap_or(0);
        }
        if !t.l(ECHO) {
            return;
        }
        if !t.l(ECHOE) {
            self.echo_char(t.cc[VERASE]);
            return;
        }
        if c == b'\t' {
            // Back to where the tab started: replay the rest of the line's columns.
            let col = self.edit.iter().fold(self.canon_column, |col, &b| match b {
                b'\t' => (col | 7) + 1,
                b if is_cntrl(b) && t.l(ECHOCTL) => col + 2,
                b if is_cntrl(b) || is_continuation(b) => col,
                _ => col + 1,
            });
            let n = self.column.saturating_sub(col);
            for _ in 0..n {
                self.echo_bytes(b"\x08");
            }
        } else if is_cntrl(c) && t.l(ECHOCTL) {
            self.echo_bytes(b"\x08 \x08\x08 \x08");
        } else if !is_cntrl(c) {
            self.echo_bytes(b"\x08 \x08");
        }
    }

    /// VREPRINT (^R): show the key, then the line again on a new line.
    fn reprint(&mut self, c: u8) {
        if !self.termios.l(ECHO) {
            return;
        }
        self.echo_char(c);
        self.echo_bytes(b"\n");
        self.canon_column = self.column;
        let line = core::mem::take(&mut self.edit);
        for &b in &line {
            self.echo_char(b);
        }
        self.edit = line;
    }

    /// Echo one received character: control characters as `^X` with ECHOCTL (`echo_char`).
    fn echo_char(&mut self, c: u8) {
        if self.termios.l(ECHOCTL) && is_cntrl(c) && c != b'\t' && c != b'\n' {
            self.echo_bytes(&[b'^', c ^ 0o100]);
        } else {
            self.echo_bytes(&[c]);
        }
    }

    fn echo_bytes(&mut self, bytes: &[u8]) {
        let mut out = core::mem::take(&mut self.echo);
        self.opost(bytes, &mut out);
        self.echo = out;
    }

    /// The echo to write to the device, taken.
    pub fn take_echo(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.echo)
    }

    /// Output post-processing (`do_output_char`): ONLCR, OCRNL, ONLRET, XTABS, and the
    /// column it leaves the cursor in.
    pub fn opost(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let o = self.termios.oflag;
        if o & OPOST == 0 {
            out.extend_from_slice(data);
            for &c in data {
                self.track_column(c);
            }
            return;
        }
        for &c in data {
            match c {
                b'\n' if o & ONLCR != 0 => {
                    out.extend_from_slice(b"\r\n");
                    self.column = 0;
                }
                b'\r' if o & OCRNL != 0 => {
                    out.push(b'\n');
                    if o & ONLRET != 0 {
                        self.column = 0;
                    }
                }
                b'\t' if o & XTABS == XTABS => {
                    let n = 8 - (self.column & 7);
                    out.extend(core::iter::repeat_n(b' ', n));
                    self.column += n;
                }
                _ => {
                    out.push(c);
                    self.track_column(c);
                    if c == b'\n' && o & ONLRET != 0 {
                        self.column = 0;
                    }
                }
            }
        }
    }

    fn track_column(&mut self, c: u8) {
        match c {
            b'\r' => self.column = 0,
            b'\x08' => self.column = self.column.saturating_sub(1),
            b'\t' => self.column = (self.column | 7) + 1,
            c if is_cntrl(c) || is_continuation(c) => {}
            _ => self.column += 1,
        }
    }

    /// New settings (`n_tty_set_termios`): leaving canonical mode makes the line typed so
    /// far readable; entering it makes unread raw input the line being typed.
    pub fn set_termios(&mut self, new: Termios) {
        let was_canon = self.termios.canonical();
        // Turning IXON off lets output held by the STOP key go.
        if self.termios.i(IXON) && !new.i(IXON) {
            self.start();
        }
        self.termios = new;
        if was_canon && !new.canonical() {
            self.ready.extend(self.edit.drain(..));
            self.lines.clear();
        } else if !was_canon && new.canonical() {
            self.edit.extend(self.ready.drain(..));
            self.canon_column = self.column;
        }
        self.lnext = false;
    }

    /// Drop all unread input (`n_tty_flush_buffer`, TCIFLUSH).
    pub fn flush_input(&mut self) {
        self.edit.clear();
        self.ready.clear();
        self.lines.clear();
        self.lnext = false;
        self.canon_column = self.column;
    }

    /// Whether a read would take something now; in raw mode, at least `min` bytes
    /// (`input_available_p`).
    pub fn input_available(&self, min: usize) -> bool {
        if self.termios.canonical() {
            !self.lines.is_empty()
        } else {
            self.ready.len() >= min.max(1)
        }
    }

    /// Bytes a read could take now (FIONREAD): the completed lines, or all raw input.
    pub fn readable_len(&self) -> usize {
        self.ready.len()
    }

    /// Canonical read (`canon_copy_from_read_buf`): up to one line; `None` if no line is
    /// complete; `Some(0)` at an end of file.
    pub fn read_canon(&mut self, buf: &mut [u8]) -> Option<usize> {
        let len = self.lines.front_mut()?;
        let n = buf.len().min(*len);
        for (slot, b) in buf.iter_mut().zip(self.ready.drain(..n)) {
            *slot = b;
        }
        *len -= n;
        // A line read to its end is gone; an end of file is taken by the read that sees it.
        if *len == 0 {
            self.lines.pop_front();
        }
        Some(n)
    }

    /// Raw read (`copy_from_read_buf`): what is there, up to `buf.len()`.
    pub fn read_raw(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.ready.len());
        for (slot, b) in buf.iter_mut().zip(self.ready.drain(..n)) {
            *slot = b;
        }
        n
    }
}
