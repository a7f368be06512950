//! Reading command lines. On a terminal: a line editor in raw mode (no echo, no signal keys,
//! byte at a time) with history — left/right, Home/End, Backspace, Delete, Ctrl-A/E/U/W/K/L,
//! up/down through earlier lines, Ctrl-C to drop the line, Ctrl-D on an empty line for end
//! of input; the terminal's settings are restored before the line is run. Otherwise: plain
//! lines, read a byte at a time so that the commands run get the rest of the input.

use std::io::Write;

/// Read one byte from fd 0; `None` at end of input or on an error other than EINTR.
fn read_byte() -> Option<u8> {
    let mut b = 0u8;
    loop {
        // SAFETY: reading one byte into a valid buffer.
        let n = unsafe { libc::read(0, (&mut b as *mut u8).cast(), 1) };
        match n {
            1 => return Some(b),
            -1 if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) => {}
            _ => return None,
        }
    }
}

/// A line from a non-terminal: `None` at end of input (a last unterminated line is kept).
pub fn read_plain() -> Option<String> {
    let mut line = Vec::new();
    loop {
        match read_byte() {
            Some(b'\n') => break,
            Some(b) => line.push(b),
            None if line.is_empty() => return None,
            None => break,
        }
    }
    Some(String::from_utf8_lossy(&line).into_owned())
}

pub struct Editor {
    pub history: Vec<String>,
}

/// Raw mode for as long as it lives.
struct Raw {
    saved: libc::termios,
}

impl Raw {
    fn new() -> Option<Raw> {
        // SAFETY: termios is plain data; tcgetattr fills it.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: valid descriptor and termios pointer.
        if unsafe { libc::tcgetattr(0, &mut saved) } != 0 {
            return None;
        }
        let mut raw = saved;
        raw.c_lflag &= !(libc::ICANON | libc::ECHO | libc::ISIG | libc::IEXTEN);
        raw.c_iflag &= !(libc::ICRNL | libc::INLCR | libc::IXON);
        raw.c_cc[libc::VMIN] = 1;
        raw.c_cc[libc::VTIME] = 0;
        // SAFETY: valid descriptor and termios pointer.
        unsafe { libc::tcsetattr(0, libc::TCSADRAIN, &raw) };
        Some(Raw { saved })
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        // SAFETY: valid descriptor and termios pointer.
        unsafe { libc::tcsetattr(0, libc::TCSADRAIN, &self.saved) };
    }
}

/// The line being edited and where the cursor is.
struct Line {
    buf: Vec<char>,
    cursor: usize,
}

impl Line {
    /// Redraw from the line's start: prompt, text, clear the rest, cursor back in place.
    fn redraw(&self, out: &mut Vec<u8>, prompt: &str) {
        let text: String = self.buf.iter().collect();
        out.extend_from_slice(format!("\r{prompt}{text}\x1b[K").as_bytes());
        let back = self.buf.len() - self.cursor;
        if back > 0 {
            out.extend_from_slice(format!("\x1b[{back}D").as_bytes());
        }
    }

    /// Delete `from..to` of the buffer, leaving the cursor at `from`.
    fn delete(&mut self, from: usize, to: usize) {
        self.buf.drain(from..to);
        self.cursor = from;
    }

    fn word_start(&self) -> usize {
        let mut i = self.cursor;
        while i > 0 && self.buf[i - 1] == ' ' {
            i -= 1;
        }
        while i > 0 && self.buf[i - 1] != ' ' {
            i -= 1;
        }
        i
    }
}

enum Key {
    Char(char),
    Ctrl(u8),
    Up,
    Down,
    Left,
    Right,
    Home,
    End,
    Delete,
    Other,
}

/// The next key: bytes, UTF-8 sequences and the escape sequences of the arrow keys.
fn read_key() -> Option<Key> {
    let b = read_byte()?;
    Some(match b {
        0x1b => match read_byte()? {
            b'[' | b'O' => match read_byte()? {
                b'A' => Key::Up,
                b'B' => Key::Down,
                b'C' => Key::Right,
                b'D' => Key::Left,
                b'H' => Key::Home,
                b'F' => Key::End,
                d @ b'0'..=b'9' => {
                    let mut n = vec![d];
                    while let Some(c) = read_byte() {
                        if !c.is_ascii_digit() {
                            break;
                        }
                        n.push(c);
                    }
                    match n.as_slice() {
                        b"1" | b"7" => Key::Home,
                        b"4" | b"8" => Key::End,
                        b"3" => Key::Delete,
                        _ => Key::Other,
                    }
                }
                _ => Key::Other,
            },
            _ => Key::Other,
        },
        0x7f => Key::Ctrl(b'H'),
        b if b < 0x20 => Key::Ctrl(b | 0x40),
        b if b < 0x80 => Key::Char(b as char),
        b => {
            let len = if b >= 0xf0 {
                4
            } else if b >= 0xe0 {
                3
            } else {
                2
            };
            let mut bytes = vec![b];
            for _ in 1..len {
                bytes.push(read_byte()?);
            }
            String::from_utf8_lossy(&bytes)
                .chars()
                .next()
                .map_or(Key::Other, Key::Char)
        }
    })
}

impl Editor {
    /// Edit one line after `prompt`; `None` at end of input.
    pub fn read_line(&mut self, prompt: &str) -> Option<String> {
        let Some(_raw) = Raw::new() else {
            print!("{prompt}");
            let _ = std::io::stdout().flush();
            return read_plain();
        };
        let mut line = Line {
            buf: Vec::new(),
            cursor: 0,
        };
        // Where in the history up/down is; the line being typed is kept when leaving it.
        let mut hist = self.history.len();
        let mut typed = String::new();
        let mut out = prompt.as_bytes().to_vec();
        loop {
            flush(&mut out);
            let key = read_key()?;
            match key {
                Key::Char(c) => {
                    line.buf.insert(line.cursor, c);
                    line.cursor += 1;
                    if line.cursor == line.buf.len() {
                        // Typing at the end: just show the character.
                        out.extend_from_slice(c.to_string().as_bytes());
                    } else {
                        line.redraw(&mut out, prompt);
                    }
                    continue;
                }
                Key::Ctrl(b'M' | b'J') => {
                    out.extend_from_slice(b"\n");
                    flush(&mut out);
                    let text: String = line.buf.iter().collect();
                    if !text.trim().is_empty() && self.history.last() != Some(&text) {
                        self.history.push(text.clone());
                    }
                    return Some(text);
                }
                Key::Ctrl(b'C') => {
                    out.extend_from_slice(b"^C\n");
                    flush(&mut out);
                    return Some(String::new());
                }
                Key::Ctrl(b'D') if line.buf.is_empty() => {
                    out.extend_from_slice(b"\n");
                    flush(&mut out);
                    return None;
                }
                Key::Ctrl(b'D') | Key::Delete if line.cursor < line.buf.len() => {
                    line.delete(line.cursor, line.cursor + 1)
                }
                Key::Ctrl(b'H') if line.cursor > 0 => line.delete(line.cursor - 1, line.cursor),
                Key::Ctrl(b'A') | Key::Home => line.cursor = 0,
                Key::Ctrl(b'E') | Key::End => line.cursor = line.buf.len(),
                Key::Ctrl(b'B') | Key::Left if line.cursor > 0 => line.cursor -= 1,
                Key::Ctrl(b'F') | Key::Right if line.cursor < line.buf.len() => line.cursor += 1,
                Key::Ctrl(b'U') => line.delete(0, line.cursor),
                Key::Ctrl(b'K') => line.delete(line.cursor, line.buf.len()),
                Key::Ctrl(b'W') => line.delete(line.word_start(), line.cursor),
                Key::Ctrl(b'L') => out.extend_from_slice(b"\x1b[H\x1b[2J"),
                Key::Up | Key::Ctrl(b'P') if hist > 0 => {
                    if hist == self.history.len() {
                        typed = line.buf.iter().collect();
                    }
                    hist -= 1;
                    line.buf = self.history[hist].chars().collect();
                    line.cursor = line.buf.len();
                }
                Key::Down | Key::Ctrl(b'N') if hist < self.history.len() => {
                    hist += 1;
                    let text = self.history.get(hist).unwrap_or(&typed);
                    line.buf = text.chars().collect();
                    line.cursor = line.buf.len();
                }
                _ => {
                    out.push(0x07);
                    continue;
                }
            }
            line.redraw(&mut out, prompt);
        }
    }
}

fn flush(out: &mut Vec<u8>) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out).and_then(|_| stdout.flush());
    out.clear();
}
