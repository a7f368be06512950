//! The console as a terminal, typed into from the host: the line discipline through
//! `ttytest`, and a scripted session with the shell init starts when it has no program to
//! run — pipelines, redirection, `$?`, a loop typed over several lines, background jobs, Ctrl-C, Ctrl-Z with `bg`/`fg`,
//! `exit` (init starts a new shell) and `poweroff` (the VM ends with status 0). On our VMM
//! and under QEMU TCG.

use std::time::Duration;

use vm_tests::console::Session;

const SECS: Duration = Duration::from_secs(60);
const PROMPT: &str = "/ # ";

fn ttytest(mut s: Session) {
    s.expect("READY canon", SECS);
    s.send(b"abc\x7fd\x15xyz\x08w\n");
    s.send(b"one two\x17three\n");
    s.send(b"part\x04\x04");
    s.expect("READY vmin", SECS);
    s.send(b"ab");
    std::thread::sleep(Duration::from_millis(500));
    s.send(b"cd");
    s.expect("READY isig", SECS);
    s.send(b"junk\x03");
    s.expect("READY ixon", SECS);
    // ^S: the line is read, but its echo and a writer's text are held until ^Q. ttytest
    // says it has checked by sending a ^Q of its own (tcflow TCION).
    s.send(b"\x13stop\n");
    let held = s.expect("\x11", SECS);
    assert!(
        !held.contains("HELD-OUTPUT") && !held.contains("stop"),
        "output went out while stopped: {held:?}"
    );
    s.send(b"\x11go\n");
    let after = s.expect("HELD-OUTPUT", SECS);
    assert!(
        after.contains("stop"),
        "the held echo never came: {after:?}"
    );
    s.expect("ttytest: ", SECS);
    let status = s.finish(SECS);
    let out = s.transcript();
    for check in [
        "canon", "vmin", "vtime", "isig", "sigttin", "tostop", "winsz", "ixon", "hangup",
    ] {
        assert!(out.contains(&format!("ok: {check}")), "{check}:\n{out}");
    }
    // What the discipline echoed: the rubbed-out characters, ^C for the interrupt.
    assert!(out.contains("abc\x08 \x08d"), "{out:?}");
    assert!(out.contains("junk^C"), "{out:?}");
    assert_eq!(status, Some(0), "{out}");
}

#[test]
fn line_discipline_edits_signals_and_stops_background_readers() {
    ttytest(Session::vmm("quiet -- /bin/ttytest", 2));
}

#[test]
fn qemu_tcg_line_discipline() {
    ttytest(Session::qemu("quiet -- /bin/ttytest"));
}

/// Type `line`, wait for the shell's next prompt; returns what was printed in between.
fn run(s: &mut Session, line: &str) -> String {
    s.type_line(line);
    s.expect(PROMPT, SECS)
}

fn shell_session(mut s: Session, ctrl_z: bool) {
    s.expect(PROMPT, SECS * 2);
    let out = run(&mut s, "echo hello shell | readline");
    assert!(out.contains("readline: got 12 bytes: hello shell"), "{out}");
    run(
        &mut s,
        "echo 'one  two' \"$HOME\" > /tmp/f; echo more >> /tmp/f",
    );
    let out = run(&mut s, "readline < /tmp/f");
    assert!(out.contains("got 11 bytes: one  two /"), "{out}");
    let out = run(&mut s, "readline < /no/such; echo status=$?");
    assert!(
        out.contains("can't open /no/such") && out.contains("status=1"),
        "{out}"
    );
    let out = run(
        &mut s,
        "X=a; false || echo \"or $X\" && nosuchcmd 2>&1; echo st=$?",
    );
    assert!(
        out.contains("or a\n") && out.contains("nosuchcmd: not found"),
        "{out}"
    );
    assert!(out.contains("st=127"), "{out}");

    // A compound command over several lines: the shell asks for the rest with `> `.
    s.type_line("for i in 1 2 3");
    s.expect("> ", SECS);
    s.type_line("do echo sq=$((i*i))");
    s.expect("> ", SECS);
    let out = run(&mut s, "done");
    assert!(
        out.contains("sq=1") && out.contains("sq=4") && out.contains("sq=9"),
        "{out}"
    );

    // A background job, listed.
    let out = run(&mut s, "sleep 30 &");
    assert!(out.contains("[1] "), "{out}");
    let out = run(&mut s, "jobs");
    assert!(
        out.contains("[1]+  Running                 sleep 30 &"),
        "{out}"
    );

    // Ctrl-C ends the foreground job only: the shell is still there.
    s.type_line("sleep 30");
    std::thread::sleep(Duration::from_secs(1));
    s.send(b"\x03");
    let out = s.expect(PROMPT, SECS);
    assert!(out.contains("^C"), "{out}");
    let out = run(&mut s, "echo st=$?");
    assert!(out.contains("st=130"), "{out}");

    if ctrl_z {
        // Ctrl-Z stops it; bg runs it on; fg brings it back, Ctrl-C ends it.
        s.type_line("sleep 40");
        std::thread::sleep(Duration::from_secs(1));
        s.send(b"\x1a");
        let out = s.expect(PROMPT, SECS);
        assert!(
            out.contains("[2]+  Stopped                 sleep 40"),
            "{out}"
        );
        let out = run(&mut s, "bg");
        assert!(out.contains("[2]+ sleep 40 &"), "{out}");
        let out = run(&mut s, "jobs");
        assert!(
            out.contains("[2]+  Running                 sleep 40 &"),
            "{out}"
        );
        s.type_line("fg %2");
        s.expect("sleep 40\n", SECS);
        std::thread::sleep(Duration::from_millis(500));
        s.send(b"\x03");
        s.expect(PROMPT, SECS);
        let out = run(&mut s, "jobs; echo st=$?");
        assert!(!out.contains("sleep 40"), "{out}");
        assert!(out.contains("[1]+  Running"), "{out}");
    }

    // `exit`: init starts a new shell (another PID).
    let first = run(&mut s, "echo pid=$$");
    s.type_line("exit");
    s.expect(PROMPT, SECS);
    let second = run(&mut s, "echo pid=$$");
    // The last "pid=": the first is the typed command's echo.
    let pid = |out: &str| {
        out.rsplit("pid=")
            .next()
            .map(|r| r.lines().next().unwrap_or("").to_string())
    };
    assert_ne!(pid(&first), pid(&second), "{first} / {second}");

    s.type_line("poweroff");
    s.expect("init: requesting system poweroff", SECS);
    let status = s.finish(SECS);
    let out = s.transcript();
    assert!(out.contains("init: sent SIGKILL to all processes"), "{out}");
    // reboot(2) powered off (init reports a failed one, then exits).
    assert!(!out.contains("init: reboot:"), "{out}");
    assert_eq!(status, Some(0), "{out}");
}

#[test]
fn shell_session_on_the_console() {
    shell_session(Session::vmm("quiet", 2), true);
}

#[test]
fn qemu_tcg_shell_session_on_the_console() {
    shell_session(Session::qemu("quiet"), false);
}
