//! Host tests of the line discipline's editing: what a reader gets, what is echoed, which
//! signals keys raise.

use super::n_tty::*;

fn typed(keys: &[u8]) -> (NTty, Vec<u32>) {
    let mut n = NTty::new();
    let sigs = n.receive_buf(keys);
    (n, sigs)
}

fn read_line(n: &mut NTty) -> Option<Vec<u8>> {
    let mut buf = [0u8; 256];
    n.read_canon(&mut buf).map(|len| buf[..len].to_vec())
}

fn echo_of(n: &mut NTty) -> String {
    String::from_utf8_lossy(&n.take_echo()).into_owned()
}

#[test]
fn canonical_line_is_readable_only_once_complete_and_echoed() {
    let (mut n, sigs) = typed(b"ls -l");
    assert!(sigs.is_empty());
    assert!(!n.input_available(1));
    assert_eq!(read_line(&mut n), None);
    n.receive_buf(b"\r");
    assert!(n.input_available(1));
    assert_eq!(read_line(&mut n).unwrap(), b"ls -l\n");
    // ICRNL turned CR into NL; ONLCR shows it as CR NL.
    assert_eq!(echo_of(&mut n), "ls -l\r\n");
}

#[test]
fn erase_with_del_and_backspace_rubs_out_on_screen() {
    let (mut n, _) = typed(b"abc\x7f\x7fx\x08y\n");
    assert_eq!(read_line(&mut n).unwrap(), b"ay\n");
    assert_eq!(
        echo_of(&mut n),
        "abc\x08 \x08\x08 \x08x\x08 \x08y\r\n",
        "ECHOE erases with backspace-space-backspace"
    );
    // Erasing an empty line does nothing.
    let (mut n, _) = typed(b"\x7f\x7fz\n");
    assert_eq!(read_line(&mut n).unwrap(), b"z\n");
    assert_eq!(echo_of(&mut n), "z\r\n");
}

#[test]
fn kill_erases_the_whole_line_and_werase_a_word() {
    let (mut n, _) = typed(b"hello world\x15bye\n");
    assert_eq!(read_line(&mut n).unwrap(), b"bye\n");
    let echo = echo_of(&mut n);
    assert_eq!(echo.matches("\x08 \x08").count(), 11, "{echo:?}");
    let (mut n, _) = typed(b"cat foo-bar  \x17baz\n");
    assert_eq!(read_line(&mut n).unwrap(), b"cat foo-baz\n");
    let (mut n, _) = typed(b"one two\x17\x17x\n");
    assert_eq!(read_line(&mut n).unwrap(), b"x\n");
}

#[test]
fn kill_without_echoke_shows_the_key_and_a_new_line() {
    let mut n = NTty::new();
    let mut t = n.termios;
    t.lflag &= !ECHOKE;
    n.set_termios(t);
    n.receive_buf(b"abc\x15d\n");
    assert_eq!(read_line(&mut n).unwrap(), b"d\n");
    assert_eq!(echo_of(&mut n), "abc^U\r\nd\r\n");
}

#[test]
fn eof_ends_a_partial_line_or_reads_as_end_of_file() {
    let (mut n, _) = typed(b"part\x04\x04");
    assert_eq!(read_line(&mut n).unwrap(), b"part");
    assert_eq!(
        read_line(&mut n).unwrap(),
        b"",
        "the second ^D is an end of file"
    );
    assert_eq!(read_line(&mut n), None);
    assert_eq!(echo_of(&mut n), "part", "EOF is not echoed");
}

#[test]
fn a_short_read_takes_part_of_a_line_and_never_crosses_lines() {
    let (mut n, _) = typed(b"abcdef\nxy\n");
    let mut buf = [0u8; 4];
    assert_eq!(n.read_canon(&mut buf), Some(4));
    assert_eq!(&buf, b"abcd");
    let mut big = [0u8; 64];
    assert_eq!(n.read_canon(&mut big), Some(3));
    assert_eq!(&big[..3], b"ef\n");
    assert_eq!(n.readable_len(), 3);
    assert_eq!(n.read_canon(&mut big), Some(3));
}

#[test]
fn control_keys_echo_as_caret_letters_and_raise_signals() {
    let (mut n, sigs) = typed(b"sleep 9\x03");
    assert_eq!(sigs, vec![SIGINT]);
    assert_eq!(echo_of(&mut n), "sleep 9^C");
    assert!(!n.input_available(1), "ISIG flushes the line");
    n.receive_buf(b"x\n");
    assert_eq!(read_line(&mut n).unwrap(), b"x\n");
    let (_, sigs) = typed(b"\x1a\x1c");
    assert_eq!(sigs, vec![SIGTSTP, SIGQUIT]);
    let (mut n, _) = typed(b"a\x01b\n");
    assert_eq!(echo_of(&mut n), "a^Ab\r\n");
    assert_eq!(read_line(&mut n).unwrap(), b"a\x01b\n");
}

#[test]
fn noflsh_keeps_the_line_and_without_isig_keys_are_data() {
    let mut n = NTty::new();
    let mut t = n.termios;
    t.lflag |= NOFLSH;
    n.set_termios(t);
    assert_eq!(n.receive_buf(b"ab\x03c\n"), vec![SIGINT]);
    assert_eq!(read_line(&mut n).unwrap(), b"abc\n");
    t.lflag &= !ISIG;
    n.set_termios(t);
    assert!(n.receive_buf(b"\x03\n").is_empty());
    assert_eq!(read_line(&mut n).unwrap(), b"\x03\n");
}

#[test]
fn erasing_a_control_character_takes_both_columns_and_a_tab_its_width() {
    let (mut n, _) = typed(b"a\x01\x7f");
    assert_eq!(echo_of(&mut n), "a^A\x08 \x08\x08 \x08");
    let mut n = NTty::new();
    let mut out = Vec::new();
    n.opost(b"$ ", &mut out);
    n.receive_buf(b"ab\t\x7f");
    let echo = echo_of(&mut n);
    // The prompt leaves column 2, "ab" column 4, the tab column 8: erase 4 columns.
    assert_eq!(echo, "ab\t\x08\x08\x08\x08");
}

#[test]
fn cr_nl_input_mappings() {
    let mut n = NTty::new();
    let mut t = n.termios;
    t.iflag = IGNCR;
    n.set_termios(t);
    n.receive_buf(b"a\rb\n");
    assert_eq!(read_line(&mut n).unwrap(), b"ab\n");
    t.iflag = INLCR;
    t.lflag &= !ICANON;
    n.set_termios(t);
    n.receive_buf(b"\n\r");
    let mut buf = [0u8; 8];
    assert_eq!(n.read_raw(&mut buf), 2);
    assert_eq!(
        &buf[..2],
        b"\r\r",
        "INLCR maps NL to CR; CR stays without ICRNL"
    );
}

#[test]
fn raw_mode_passes_every_byte_and_switching_modes_keeps_input() {
    let mut n = NTty::new();
    n.receive_buf(b"half");
    let mut t = n.termios;
    t.lflag &= !(ICANON | ECHO);
    n.set_termios(t);
    assert!(n.input_available(4));
    assert!(!n.input_available(5), "VMIN 5 is not met by 4 bytes");
    n.receive_buf(b"\x7f\x15\x04\n");
    let mut buf = [0u8; 16];
    assert_eq!(n.read_raw(&mut buf), 8);
    assert_eq!(&buf[..8], b"half\x7f\x15\x04\n");
    assert_eq!(echo_of(&mut n), "half", "echoed while canonical only");
    // Back to canonical: unread raw input becomes the line being typed.
    n.receive_buf(b"xy");
    t.lflag |= ICANON;
    n.set_termios(t);
    n.receive_buf(b"\x7fz\n");
    assert_eq!(read_line(&mut n).unwrap(), b"xz\n");
}

#[test]
fn lnext_quotes_the_next_key() {
    let (mut n, sigs) = typed(b"\x16\x03\x16\x7f\n");
    assert!(sigs.is_empty());
    assert_eq!(read_line(&mut n).unwrap(), b"\x03\x7f\n");
}

#[test]
fn lines_are_capped_and_utf8_erases_whole_characters() {
    let (mut n, _) = typed(&[b'x'; 5000]);
    n.receive_buf(b"\n");
    let mut buf = vec![0u8; 8192];
    assert_eq!(n.read_canon(&mut buf), Some(N_TTY_BUF_SIZE));
    let mut n = NTty::new();
    let mut t = n.termios;
    t.iflag |= IUTF8;
    n.set_termios(t);
    n.receive_buf("aé\x7f\n".as_bytes());
    assert_eq!(read_line(&mut n).unwrap(), b"a\n");
}

#[test]
fn output_processing_and_termios_layout() {
    let mut n = NTty::new();
    let mut out = Vec::new();
    n.opost(b"a\nb", &mut out);
    assert_eq!(out, b"a\r\nb");
    let mut t = n.termios;
    t.oflag &= !OPOST;
    n.set_termios(t);
    out.clear();
    n.opost(b"a\nb", &mut out);
    assert_eq!(out, b"a\nb");
    let std = Termios::std();
    let bytes = std.to_bytes();
    // Linux's default console settings, word by word.
    assert_eq!(
        &bytes[..16],
        &[0, 5, 0, 0, 5, 0, 0, 0, 0xbf, 4, 0, 0, 0x3b, 0x8a, 0, 0]
    );
    assert_eq!(bytes[17 + VINTR], 3);
    assert_eq!(bytes[17 + VMIN], 1);
    assert_eq!(Termios::from_bytes(&bytes), std);
}

#[test]
fn stop_and_start_keys_hold_output_and_are_not_data() {
    // ^S holds output and its echo; ^Q lets it go; neither reaches the reader.
    let (mut n, _) = typed(b"ab\x13cd");
    assert!(n.stopped);
    assert!(n.take_echo_unless_stopped().is_empty());
    n.receive_buf(b"\x11\n");
    assert!(!n.stopped);
    assert_eq!(
        String::from_utf8_lossy(&n.take_echo_unless_stopped()),
        "abcd\r\n"
    );
    assert_eq!(read_line(&mut n).unwrap(), b"abcd\n");
    // Without IXANY another key does not restart; with it, any key does (and is data).
    n.receive_buf(b"\x13x");
    assert!(n.stopped);
    let mut t = n.termios;
    t.iflag |= IXANY;
    n.set_termios(t);
    n.receive_buf(b"y\n");
    assert!(!n.stopped);
    assert_eq!(read_line(&mut n).unwrap(), b"xy\n");
    // A signal key restarts output under IXON; turning IXON off does too, and makes the
    // keys data.
    n.receive_buf(b"\x13\x03");
    assert!(!n.stopped);
    n.receive_buf(b"\x13");
    t.iflag &= !IXON;
    n.set_termios(t);
    assert!(!n.stopped);
    n.receive_buf(b"\x13\x11\n");
    assert_eq!(read_line(&mut n).unwrap(), b"\x13\x11\n");
}

#[test]
fn tcooff_holds_output_against_the_start_key() {
    let mut n = NTty::new();
    n.tco_stopped = true;
    n.stop();
    n.receive_buf(b"\x11");
    assert!(n.stopped, "only TCOON restarts after TCOOFF");
    n.tco_stopped = false;
    n.start();
    assert!(!n.stopped);
}
