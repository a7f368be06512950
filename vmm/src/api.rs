//! The control socket (`vmm run --api-sock PATH`, as Firecracker has one) and its client,
//! `vmm trace --sock PATH`.
//!
//! One request per connection: the client sends a trace program; the VMM compiles it against
//! the guest, runs it over the trace channel and streams its output back until the client
//! half-closes the connection (Ctrl-C), the program calls `exit()` or the VM ends. Then the
//! VMM turns the guest's tracepoints off again, runs END, prints the maps, and closes: the guest
//! runs on exactly as before. One session at a time per VM.
//!
//! Frames, both ways: a kind byte, a little-endian u32 length, the bytes.
//! Client → VMM: options ([`FRAME_WANT_TIMELINE`], [`FRAME_FORMAT`] with `text` or `json`),
//! then [`FRAME_PROGRAM`] with `file name \0 program text`; or [`FRAME_LIST`] with a pattern,
//! answered with the matching probe names (`vmm trace -l`, which needs the guest's kernel and
//! therefore the VM).
//! VMM → client: [`FRAME_STDOUT`] and [`FRAME_STDERR`] text, the [`FRAME_TIMELINE`] JSON if one
//! was asked for, then one [`FRAME_EXIT`] with the exit status as a u32.

use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::symbols::SymbolTable;
use crate::trace::channel::catalog::probe_catalog;
use crate::trace::channel::TraceChannel;
use crate::trace::session::{self, GuestFilter, Tracer, POLL_INTERVAL};
use crate::trace::{OutputFormat, Program};

pub const FRAME_PROGRAM: u8 = b'P';
pub const FRAME_STDOUT: u8 = b'o';
pub const FRAME_STDERR: u8 = b'e';
pub const FRAME_EXIT: u8 = b'x';
pub const FRAME_WANT_TIMELINE: u8 = b'T';
pub const FRAME_TIMELINE: u8 = b't';
pub const FRAME_FORMAT: u8 = b'F';
pub const FRAME_LIST: u8 = b'L';
/// Longest frame accepted (a program, one batch of output, a timeline).
pub const MAX_FRAME: usize = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0} already exists (another VM's socket, or a stale one to remove)")]
    Exists(PathBuf),
    #[error("cannot listen on {0}")]
    Bind(PathBuf, #[source] io::Error),
    #[error("cannot connect to {0}: no VM is listening there")]
    Connect(PathBuf, #[source] io::Error),
    #[error("the VM closed the connection without an exit status")]
    Truncated,
    #[error("bad frame from the peer")]
    BadFrame,
    #[error(transparent)]
    Io(#[from] io::Error),
}

pub fn write_frame(w: &mut impl Write, kind: u8, bytes: &[u8]) -> io::Result<()> {
    let mut buf = Vec::with_capacity(5 + bytes.len());
    buf.push(kind);
    buf.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    buf.extend_from_slice(bytes);
    w.write_all(&buf)?;
    w.flush()
}

/// The next frame, `None` at a clean end of stream.
pub fn read_frame(r: &mut impl Read) -> Result<Option<(u8, Vec<u8>)>, Error> {
    let mut head = [0u8; 5];
    match r.read_exact(&mut head[..1]) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    r.read_exact(&mut head[1..])?;
    let len = u32::from_le_bytes(head[1..].try_into().unwrap()) as usize;
    if len > MAX_FRAME {
        return Err(Error::BadFrame);
    }
    let mut bytes = vec![0u8; len];
    r.read_exact(&mut bytes)?;
    Ok(Some((head[0], bytes)))
}

/// A `Write` that sends everything as frames of one kind; errors (the client left) are
/// remembered and further output dropped.
#[derive(Clone)]
struct FrameWriter {
    stream: Arc<Mutex<UnixStream>>,
    kind: u8,
}

impl Write for FrameWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut s = crate::devices::lock(&self.stream);
        // A client that went away loses its output; the session still ends cleanly.
        let _ = write_frame(&mut *s, self.kind, buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The listening side, owned by `Vmm::run`.
pub struct ApiServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ApiServer {
    /// Listens on `path` and serves trace sessions on `channel` until [`ApiServer::stop`].
    pub fn start(
        path: &Path,
        channel: Arc<TraceChannel>,
        kernel: PathBuf,
    ) -> Result<ApiServer, Error> {
        if path.exists() {
            return Err(Error::Exists(path.to_path_buf()));
        }
        let listener = UnixListener::bind(path).map_err(|e| Error::Bind(path.into(), e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::Bind(path.into(), e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("api".into())
            .spawn(move || {
                // Loaded once, for every session's ksym() and stacks.
                let symbols = SymbolTable::from_elf(&kernel).map(Arc::new);
                serve(listener, channel, stop2, symbols)
            })?;
        Ok(ApiServer {
            path: path.to_path_buf(),
            stop,
            thread: Some(thread),
        })
    }

    /// The VM ended: finish the running session (final drain, END, maps) and stop listening.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn serve(
    listener: UnixListener,
    channel: Arc<TraceChannel>,
    vm_stopped: Arc<AtomicBool>,
    symbols: Option<Arc<SymbolTable>>,
) {
    let start = crate::process_start();
    while !vm_stopped.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(e) = serve_one(stream, &channel, &vm_stopped, start, symbols.clone()) {
                    crate::warn!("trace client: {}", crate::error_chain(&e));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                crate::warn!("api socket: {e}");
                return;
            }
        }
    }
}

/// One client: compile its program, trace until it hangs up, `exit()` or the VM's end.
fn serve_one(
    stream: UnixStream,
    channel: &Arc<TraceChannel>,
    vm_stopped: &Arc<AtomicBool>,
    start: Instant,
    symbols: Option<Arc<SymbolTable>>,
) -> Result<(), Error> {
    stream.set_nonblocking(false)?;
    let mut reader = stream.try_clone()?;
    let out = Arc::new(Mutex::new(stream));
    let mut stdout = FrameWriter {
        stream: out.clone(),
        kind: FRAME_STDOUT,
    };
    let mut stderr = FrameWriter {
        stream: out.clone(),
        kind: FRAME_STDERR,
    };
    let exit = |status: u32| {
        let mut s = crate::devices::lock(&out);
        let _ = write_frame(&mut *s, FRAME_EXIT, &status.to_le_bytes());
    };
    let catalog = probe_catalog(channel.kernel_text().map(|t| &**t));
    let mut want_timeline = false;
    let mut format = OutputFormat::Text;
    let body = loop {
        match read_frame(&mut reader)? {
            Some((FRAME_WANT_TIMELINE, _)) => want_timeline = true,
            Some((FRAME_FORMAT, f)) => match String::from_utf8_lossy(&f).parse() {
                Ok(f) => format = f,
                Err(e) => {
                    let _ = writeln!(stderr, "vmm trace: {e}");
                    exit(2);
                    return Ok(());
                }
            },
            Some((FRAME_LIST, pattern)) => {
                let pattern = String::from_utf8_lossy(&pattern);
                let mut names = String::new();
                for name in crate::trace::probe::list(&catalog, &pattern) {
                    names.push_str(&name);
                    names.push('\n');
                }
                let _ = stdout.write_all(names.as_bytes());
                exit(0);
                return Ok(());
            }
            Some((FRAME_PROGRAM, body)) => break body,
            _ => return Err(Error::BadFrame),
        }
    };
    let (name, text) = match body.iter().position(|&b| b == 0) {
        Some(i) => (&body[..i], &body[i + 1..]),
        None => (b"stdin".as_slice(), body.as_slice()),
    };
    let name = String::from_utf8_lossy(name);
    let text = String::from_utf8_lossy(text);
    let program = match Program::parse(&text, &name).and_then(|p| p.attach(&catalog)) {
        Ok(p) => p,
        Err(d) => {
            let _ = write!(stderr, "{d}");
            exit(2);
            return Ok(());
        }
    };
    let Some(_claim) = channel.claim() else {
        let _ = writeln!(
            stderr,
            "vmm trace: another trace session is attached to this VM"
        );
        exit(1);
        return Ok(());
    };
    match program.banner(format) {
        (text, true) => {
            let _ = stdout.write_all(text.as_bytes());
        }
        (text, false) => {
            let _ = stderr.write_all(text.as_bytes());
        }
    }
    // The client half-closes its side to detach.
    let hung_up = Arc::new(AtomicBool::new(false));
    let hung_up2 = hung_up.clone();
    std::thread::spawn(move || {
        let mut sink = [0u8; 64];
        while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
        hung_up2.store(true, Ordering::Release);
    });
    let mut tracer = Tracer::new(
        program,
        stdout.clone(),
        GuestFilter::default(),
        Box::new(stderr.clone()),
    );
    if let Some(symbols) = symbols {
        tracer = tracer.with_symbolizer(Box::new(symbols));
    }
    if want_timeline {
        tracer = tracer.with_timeline();
    }
    tracer.engine().set_format(format);
    let stop = || hung_up.load(Ordering::Acquire) || vm_stopped.load(Ordering::Acquire);
    let result = session::run(channel, &mut tracer, stop, start, POLL_INTERVAL);
    if let Some(json) = tracer.take_timeline() {
        let mut s = crate::devices::lock(&out);
        let _ = write_frame(&mut *s, FRAME_TIMELINE, json.as_bytes());
    }
    match result {
        Ok(stats) => {
            if stats.corrupt > 0 {
                let _ = writeln!(stderr, "{} corrupt records skipped", stats.corrupt);
            }
            exit(0);
        }
        Err(e) => {
            let _ = writeln!(stderr, "vmm trace: {}", crate::error_chain(&e));
            exit(1);
        }
    }
    let _ = stdout.flush();
    Ok(())
}

/// What a client asks for.
pub struct ClientRequest<'a> {
    pub sock: &'a Path,
    /// Names the program in diagnostics (`stdin` for `-e`).
    pub file_name: &'a str,
    pub program: &'a str,
    /// Also write the scheduling timeline here.
    pub timeline: Option<&'a Path>,
    pub format: OutputFormat,
}

/// The client: sends the program, copies the VM's output to ours until it ends, and
/// half-closes the connection once `detach` is set (Ctrl-C). Returns the session's exit status.
pub fn run_client(
    req: &ClientRequest<'_>,
    detach: &AtomicBool,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<i32, Error> {
    let ClientRequest {
        sock,
        file_name,
        program,
        timeline,
        format,
    } = *req;
    let mut stream = UnixStream::connect(sock).map_err(|e| Error::Connect(sock.into(), e))?;
    if timeline.is_some() {
        write_frame(&mut stream, FRAME_WANT_TIMELINE, &[])?;
    }
    if format == OutputFormat::Json {
        write_frame(&mut stream, FRAME_FORMAT, b"json")?;
    }
    let mut body = file_name.as_bytes().to_vec();
    body.push(0);
    body.extend_from_slice(program.as_bytes());
    write_frame(&mut stream, FRAME_PROGRAM, &body)?;
    relay(stream, detach, timeline, stdout, stderr)
}

/// `vmm trace -l PATTERN` against a running VM: the probe names it offers, one per line.
pub fn list_probes(
    sock: &Path,
    pattern: &str,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<i32, Error> {
    let mut stream = UnixStream::connect(sock).map_err(|e| Error::Connect(sock.into(), e))?;
    write_frame(&mut stream, FRAME_LIST, pattern.as_bytes())?;
    let never = AtomicBool::new(false);
    relay(stream, &never, None, stdout, stderr)
}

/// Copies the VM's frames to our output until its exit status arrives; half-closes the
/// connection once `detach` is set.
fn relay(
    stream: UnixStream,
    detach: &AtomicBool,
    timeline: Option<&Path>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<i32, Error> {
    let mut reader = stream.try_clone()?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || loop {
        let frame = read_frame(&mut reader);
        let end = !matches!(frame, Ok(Some(_)));
        if tx.send(frame).is_err() || end {
            return;
        }
    });
    let mut detached = false;
    loop {
        if !detached && detach.load(Ordering::Acquire) {
            detached = true;
            let _ = stream.shutdown(std::net::Shutdown::Write);
        }
        let frame = match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(frame) => frame?,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            Err(_) => return Err(Error::Truncated),
        };
        match frame {
            Some((FRAME_STDOUT, b)) => {
                stdout.write_all(&b)?;
                stdout.flush()?;
            }
            Some((FRAME_STDERR, b)) => stderr.write_all(&b)?,
            Some((FRAME_TIMELINE, b)) => {
                if let Some(path) = timeline {
                    std::fs::write(path, b)?;
                }
            }
            Some((FRAME_EXIT, b)) if b.len() == 4 => {
                return Ok(u32::from_le_bytes(b.try_into().unwrap()) as i32)
            }
            Some(_) => return Err(Error::BadFrame),
            None => return Err(Error::Truncated),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_bad_ones_are_refused() {
        let mut buf = Vec::new();
        write_frame(&mut buf, FRAME_STDOUT, b"hello").unwrap();
        write_frame(&mut buf, FRAME_EXIT, &0u32.to_le_bytes()).unwrap();
        let mut r = buf.as_slice();
        assert_eq!(
            read_frame(&mut r).unwrap(),
            Some((FRAME_STDOUT, b"hello".to_vec()))
        );
        assert_eq!(
            read_frame(&mut r).unwrap(),
            Some((FRAME_EXIT, vec![0, 0, 0, 0]))
        );
        assert_eq!(read_frame(&mut r).unwrap(), None);
        // A huge length is refused before allocating; a cut frame is an error.
        let mut huge = vec![FRAME_STDOUT];
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            read_frame(&mut huge.as_slice()),
            Err(Error::BadFrame)
        ));
        assert!(read_frame(&mut &buf[..3]).is_err());
    }

    #[test]
    fn no_vm_is_one_clear_error() {
        let path = std::env::temp_dir().join(format!("vmm-api-test-{}", std::process::id()));
        let req = ClientRequest {
            sock: &path,
            file_name: "stdin",
            program: "BEGIN { }",
            timeline: None,
            format: OutputFormat::Json,
        };
        let err = run_client(
            &req,
            &AtomicBool::new(false),
            &mut Vec::new(),
            &mut Vec::new(),
        )
        .unwrap_err();
        assert_eq!(
            crate::error_chain(&err),
            format!(
                "cannot connect to {}: no VM is listening there: No such file or directory",
                path.display()
            )
        );
    }
}
