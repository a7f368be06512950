//! TLB shootdowns: a thread spinning on a page on one CPU while another thread of the process
//! changes the mapping on the other CPU. Once munmap or mremap has returned, no thread may
//! still reach the old page through a translation its CPU cached: the reader faults, or it
//! sees the new page, never the old one. A kernel that only flushes the calling CPU fails
//! both: the reader keeps reading the old frame through its stale TLB entry for as long as it
//! spins.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use guest_user::check::{pass_with, skip, Check, Context, Fail};
use guest_user::sys;
use guest_user::{ensure, fail};

const PAGE: usize = 4096;
const OLD: u64 = 0x01d0_01d0_01d0_01d0;
const NEW: u64 = 0x0e30_0e30_0e30_0e30;
/// Exit status of a child whose reader read the unmapped page without faulting.
const READ_STALE: i32 = 3;
/// Exit status of a child whose reader never started.
const NO_READER: i32 = 4;
/// Exit status of a child whose reader neither faulted nor reported a stale read.
const NEVER_FAULTED: i32 = 5;

/// A fresh private anonymous page holding `value` in its first word.
fn page_with(value: u64) -> std::io::Result<NonNull<u64>> {
    // SAFETY: a new anonymous mapping; no existing memory is affected.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    let p = p.cast::<u64>();
    // SAFETY: the page is mapped writable.
    unsafe { p.write_volatile(value) };
    Ok(NonNull::new(p).expect("mmap returned NULL"))
}

/// The page's address, to hand to another thread (raw pointers are not `Send`).
fn addr(p: NonNull<u64>) -> usize {
    p.as_ptr() as usize
}

/// Reads the first word of the page at `addr`, which may be gone by now: the read may fault.
fn read_word(addr: usize) -> u64 {
    // SAFETY: a volatile read of an address this process mapped; if another thread has
    // unmapped it since, the kernel delivers SIGSEGV, which is what the caller tests for.
    unsafe { (addr as *const u64).read_volatile() }
}

fn need_two_cpus() -> Option<Check> {
    (sys::online_cpus() < 2).then(|| skip("needs two CPUs"))
}

/// munmap while a thread of ours reads the page on the other CPU: once munmap has returned,
/// the reader's next read faults (SIGSEGV ends the child) instead of reading the old frame.
pub(crate) fn tlb_munmap() -> Check {
    if let Some(s) = need_two_cpus() {
        return s;
    }
    let pid = sys::fork_child(|| {
        let Ok(page) = page_with(OLD) else {
            return 1;
        };
        let at = addr(page);
        let started = std::sync::Arc::new(AtomicBool::new(false));
        let unmapped = std::sync::Arc::new(AtomicBool::new(false));
        let (s, u) = (started.clone(), unmapped.clone());
        let reader = std::thread::spawn(move || {
            if sys::pin_to(1).is_err() {
                return;
            }
            loop {
                // The flag first: if munmap had returned, the page read must fault.
                let gone = u.load(SeqCst);
                let v = read_word(at);
                if gone {
                    // Read the page after munmap returned: stale translation.
                    sys::exit_now(READ_STALE);
                }
                if v == OLD {
                    s.store(true, SeqCst);
                }
            }
        });
        if sys::pin_to(0).is_err() {
            return 1;
        }
        if !sys::wait_until(Duration::from_secs(10), || started.load(SeqCst)) {
            return NO_READER;
        }
        // Let the reader spin on the page with its translation cached.
        sys::burn(Duration::from_millis(20));
        // SAFETY: the page is ours; the reader is meant to fault on it from now on.
        if unsafe { libc::munmap(page.as_ptr().cast(), PAGE) } != 0 {
            return 1;
        }
        unmapped.store(true, SeqCst);
        // The reader ends the process, by SIGSEGV or by reporting a stale read.
        sys::sleep(Duration::from_secs(10));
        drop(reader);
        NEVER_FAULTED
    })
    .ctx("fork")?;
    let status = sys::wait_status(pid).ctx("waitpid")?;
    ensure!(
        !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == READ_STALE),
        "a thread on the other CPU read the page after munmap had returned (stale TLB entry)"
    );
    ensure!(
        libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGSEGV,
        "child {}, want killed by SIGSEGV (4: the reader never started, 5: it never faulted)",
        sys::describe_status(status)
    );
    pass_with("the reader on CPU 1 faulted")
}

/// mremap moves another page over the one a thread of ours reads on the other CPU: once
/// mremap has returned, the reader sees the new page's data, never the old page's. The new
/// page's frame is a different one (both exist at once), so a stale translation would show.
pub(crate) fn tlb_remap() -> Check {
    if let Some(s) = need_two_cpus() {
        return s;
    }
    let target = page_with(OLD).ctx("mmap")?;
    let source = page_with(NEW).ctx("mmap")?;
    let at = addr(target);
    let started = std::sync::Arc::new(AtomicBool::new(false));
    let replaced = std::sync::Arc::new(AtomicBool::new(false));
    // What the reader saw after mremap returned: NEW, or the stale value.
    let seen = std::sync::Arc::new(AtomicU64::new(0));
    let (s, r, out) = (started.clone(), replaced.clone(), seen.clone());
    let reader = std::thread::spawn(move || {
        if sys::pin_to(1).is_err() {
            return false;
        }
        loop {
            let done = r.load(SeqCst);
            let v = read_word(at);
            if done {
                out.store(v, SeqCst);
                return true;
            }
            if v == OLD {
                s.store(true, SeqCst);
            }
        }
    });
    let mut flushes_before = None;
    let affinity = sys::get_affinity(0).ctx("sched_getaffinity")?;
    let result = (|| -> Result<(), Fail> {
        sys::pin_to(0).ctx("pinning to CPU 0")?;
        flushes_before = tlb_shootdowns(1);
        ensure!(
            sys::wait_until(Duration::from_secs(10), || started.load(SeqCst)),
            "the reader thread never read the page"
        );
        sys::burn(Duration::from_millis(20));
        // SAFETY: both pages are ours; the source moves over the target.
        let moved = unsafe {
            libc::mremap(
                source.as_ptr().cast(),
                PAGE,
                PAGE,
                libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                target.as_ptr().cast::<libc::c_void>(),
            )
        };
        ensure!(
            moved == target.as_ptr().cast(),
            "mremap returned {moved:?} (errno {}), want {:?}",
            sys::errno(),
            target
        );
        replaced.store(true, SeqCst);
        Ok(())
    })();
    // Released either way, so the reader stops.
    replaced.store(true, SeqCst);
    let _ = sys::set_affinity(0, &affinity);
    let pinned = reader
        .join()
        .map_err(|_| Fail("reader thread panicked".into()))?;
    result?;
    ensure!(pinned, "the reader could not pin itself to CPU 1");
    let v = seen.load(SeqCst);
    if v != NEW {
        fail!(
            "after mremap returned, the thread on CPU 1 read {v:#x} at the page, want the new \
             page's {NEW:#x} (stale TLB entry; the old page held {OLD:#x})"
        );
    }
    // SAFETY: the page is ours and nobody uses it any more.
    unsafe { libc::munmap(target.as_ptr().cast(), PAGE) };
    // Where the hypervisor keeps the guest's TLB coherent itself (shadow paging), a missing
    // shootdown would not show above; the count of flushes CPU 1 ran for others does.
    let (before, after) = (flushes_before, tlb_shootdowns(1));
    match (before, after) {
        (Some(b), Some(a)) => {
            ensure!(
                a > b,
                "/proc/interrupts: CPU 1 ran no TLB shootdown ({b} before, {a} after)"
            );
            pass_with(format_args!(
                "the reader on CPU 1 saw the new page at once; {} shootdown(s) there",
                a - b
            ))
        }
        _ => fail!("no TLB row for CPU 1 in /proc/interrupts"),
    }
}

/// CPU `cpu`'s count in the `TLB:` row of /proc/interrupts.
fn tlb_shootdowns(cpu: usize) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/interrupts").ok()?;
    let row = text.lines().find(|l| l.trim_start().starts_with("TLB:"))?;
    row.split_whitespace().nth(1 + cpu)?.parse().ok()
}

/// Every CPU at once: a thread per CPU maps, fills, checks and unmaps pages of its own while
/// reading a region the main thread keeps write-protecting and unprotecting; every munmap and
/// mprotect shoots down the other CPUs, which are meanwhile faulting, waiting for the mm lock
/// or shooting down themselves. Nothing may hang, crash or read another page's data.
pub(crate) fn tlb_stress() -> Check {
    if let Some(s) = need_two_cpus() {
        return s;
    }
    const PAGES: usize = 8;
    const SPIN: Duration = Duration::from_millis(1500);
    let shared = page_with(OLD).ctx("mmap")?;
    let at = addr(shared);
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let cpus = sys::online_cpus();
    let progress: std::sync::Arc<Vec<AtomicU64>> =
        std::sync::Arc::new((0..cpus).map(|_| AtomicU64::new(0)).collect());
    let threads: Vec<_> = (0..cpus)
        .map(|cpu| {
            let (stop, progress) = (stop.clone(), progress.clone());
            std::thread::spawn(move || -> Result<u64, String> {
                sys::pin_to(cpu).map_err(|e| e.to_string())?;
                let mut rounds = 0u64;
                while !stop.load(SeqCst) {
                    // SAFETY: a new private mapping of our own.
                    let p = unsafe {
                        libc::mmap(
                            std::ptr::null_mut(),
                            PAGES * PAGE,
                            libc::PROT_READ | libc::PROT_WRITE,
                            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                            -1,
                            0,
                        )
                    };
                    if p == libc::MAP_FAILED {
                        return Err(format!("mmap: errno {}", sys::errno()));
                    }
                    let words = p.cast::<u64>();
                    let tag = |i: usize| ((cpu as u64) << 48) | (rounds << 8) | i as u64;
                    for i in 0..PAGES {
                        // SAFETY: inside the mapping.
                        unsafe { words.add(i * PAGE / 8).write_volatile(tag(i)) };
                    }
                    for i in 0..PAGES {
                        // SAFETY: as above.
                        let v = unsafe { words.add(i * PAGE / 8).read_volatile() };
                        if v != tag(i) {
                            return Err(format!(
                                "CPU {cpu} read {v:#x} in its page {i}, wrote {:#x}",
                                tag(i)
                            ));
                        }
                    }
                    if read_word(at) != OLD {
                        return Err(format!("CPU {cpu} read the shared page wrong"));
                    }
                    // SAFETY: our mapping, unmapped once.
                    unsafe { libc::munmap(p, PAGES * PAGE) };
                    rounds += 1;
                    progress[cpu].store(rounds, SeqCst);
                }
                Ok(rounds)
            })
        })
        .collect();
    let deadline = std::time::Instant::now() + SPIN;
    let mut flips = 0;
    while std::time::Instant::now() < deadline {
        let prot = if flips % 2 == 0 {
            libc::PROT_READ
        } else {
            libc::PROT_READ | libc::PROT_WRITE
        };
        // SAFETY: our page; readers only read it.
        unsafe { libc::mprotect(shared.as_ptr().cast(), PAGE, prot) };
        flips += 1;
    }
    // The spin locks are not fair: under contention a CPU may starve for a while. Once the
    // flipping stops, every thread must get on (a hang would not).
    let during: Vec<u64> = progress.iter().map(|p| p.load(SeqCst)).collect();
    let all_moved = sys::wait_until(Duration::from_secs(20), || {
        progress
            .iter()
            .zip(&during)
            .all(|(p, &d)| p.load(SeqCst) > d)
    });
    stop.store(true, SeqCst);
    let mut rounds = Vec::new();
    for t in threads {
        let r = t
            .join()
            .map_err(|_| Fail("a stress thread panicked".into()))?;
        rounds.push(r.map_err(Fail)?);
    }
    // SAFETY: our page; the threads are gone.
    unsafe { libc::munmap(shared.as_ptr().cast(), PAGE) };
    ensure!(
        all_moved,
        "a thread made no progress in 20 s: rounds per CPU {rounds:?}, {during:?} while the \
         protection flipped"
    );
    pass_with(format_args!(
        "{flips} mprotects; map/fill/unmap rounds per CPU {during:?} meanwhile"
    ))
}
