//! Driving a guest through its console as a user at a terminal would: the VM's console input
//! is a pipe the test types into, its output is collected as it comes, and the test waits
//! for text (a prompt, a message) before typing on. On our VMM (`vmm run`, console on
//! stdio) and on QEMU (a virtio console on stdio).

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{guest, qemu_machine};

pub struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    /// What the console printed, without carriage returns.
    output: Arc<Mutex<Vec<u8>>>,
    /// How much of the output earlier `expect`s have consumed.
    seen: usize,
    /// QEMU reports the guest's status as `(status << 1) | 1`.
    qemu: bool,
}

impl Session {
    /// Boot our kernel on our VMM with `cmdline`.
    pub fn vmm(cmdline: &str, cpus: u8) -> Session {
        let g = guest();
        let mut cmd = Command::new(&g.vmm);
        cmd.arg("run")
            .arg("--kernel")
            .arg(&g.kernel)
            .arg("--initrd")
            .arg(&g.initramfs)
            .args(["--cpus", &cpus.to_string(), "--cmdline", cmdline]);
        Session::spawn(cmd, false)
    }

    /// Boot our kernel under QEMU TCG (microvm) with a virtio console on the pipe.
    pub fn qemu(cmdline: &str) -> Session {
        let g = guest();
        let append = format!("virtio_mmio.device=512@0xfeb02e00:47 console=hvc0 {cmdline}");
        let mut cmd = qemu_machine(&g.kernel, &g.initramfs, &append, 2, "tcg");
        cmd.args(["-display", "none", "-monitor", "none", "-serial", "null"])
            .args(["-device", "virtio-serial-device"])
            .args(["-chardev", "stdio,id=hvc,signal=off"])
            .args(["-device", "virtconsole,chardev=hvc"]);
        Session::spawn(cmd, true)
    }

    fn spawn(mut cmd: Command, qemu: bool) -> Session {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut stdout = child.stdout.take().unwrap();
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                // Kept without carriage returns, as tests compare lines.
                let bytes = buf[..n].iter().filter(|&&b| b != b'\r');
                sink.lock().unwrap().extend(bytes);
            }
        });
        Session {
            stdin: child.stdin.take(),
            child,
            output,
            seen: 0,
            qemu,
        }
    }

    /// Everything the console printed so far, without carriage returns.
    pub fn transcript(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Type `bytes` on the console.
    pub fn send(&mut self, bytes: &[u8]) {
        if let Some(stdin) = &mut self.stdin {
            let _ = stdin.write_all(bytes).and_then(|_| stdin.flush());
        }
    }

    /// Type a line and press Enter.
    pub fn type_line(&mut self, line: &str) {
        self.send(format!("{line}\r").as_bytes());
    }

    /// Wait for `text` in the output after what earlier calls consumed; returns the output up
    /// to the end of the match. Panics with the transcript if it
    /// does not come within `timeout`.
    pub fn expect(&mut self, text: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            {
                let out = self.output.lock().unwrap();
                let rest = String::from_utf8_lossy(&out[self.seen..]).into_owned();
                if let Some(i) = rest.find(text) {
                    let end = i + text.len();
                    self.seen += rest[..end].len();
                    return rest[..end].to_string();
                }
            }
            if start.elapsed() > timeout {
                panic!(
                    "timed out waiting for {text:?}; console so far:\n{}",
                    self.transcript()
                );
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(200));
                let out = self.output.lock().unwrap();
                if !String::from_utf8_lossy(&out[self.seen..]).contains(text) {
                    drop(out);
                    panic!(
                        "VM ended ({status}) before {text:?}; console:\n{}",
                        self.transcript()
                    );
                }
                continue;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait for the VM to end (killing it after `timeout`); the guest's status, if it
    /// powered off.
    pub fn finish(&mut self, timeout: Duration) -> Option<i32> {
        self.stdin.take();
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s.code();
            }
            if start.elapsed() > timeout {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // Let the reader thread take the last output.
        std::thread::sleep(Duration::from_millis(100));
        status.map(|c| if self.qemu { c >> 1 } else { c })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
