//! Memory-management checks from user space: the zero page, shared anonymous memory, MAP_FIXED
//! and friends, PROT_NONE, stack growth, brk, `vm.max_map_count`, and (when the kernel has
//! them) mremap, madvise, mincore and msync. Prints one line per check and exits non-zero if any failed.
//!
//! A system call the kernel doesn't have yet (ENOSYS) skips its checks with a note, so the
//! program is useful both before and after those calls are wired into the syscall table.

use std::process::exit;

const P: usize = 4096;

struct Report {
    ok: bool,
}

impl Report {
    fn check(&mut self, name: &str, good: bool, detail: String) {
        println!(
            "mmtest: {name}: {} {detail}",
            if good { "ok" } else { "FAILED" }
        );
        self.ok &= good;
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn map(addr: usize, len: usize, prot: i32, flags: i32) -> *mut u8 {
    // SAFETY: an anonymous mapping; the kernel picks or validates the address.
    unsafe { libc::mmap(addr as *mut _, len, prot, flags, -1, 0) as *mut u8 }
}

const RW: i32 = libc::PROT_READ | libc::PROT_WRITE;
const PRIV: i32 = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
const SHARED: i32 = libc::MAP_SHARED | libc::MAP_ANONYMOUS;

/// Read and write through raw pointers into our own mappings.
fn get(p: *mut u8, off: usize) -> u8 {
    // SAFETY: callers pass offsets inside a live readable mapping.
    unsafe { p.add(off).read_volatile() }
}

fn set(p: *mut u8, off: usize, v: u8) {
    // SAFETY: callers pass offsets inside a live writable mapping.
    unsafe { p.add(off).write_volatile(v) }
}

fn zero_page(r: &mut Report) {
    let p = map(0, 4 * P, RW, PRIV);
    let all_zero = (0..4).all(|i| get(p, i * P) == 0 && get(p, i * P + P - 1) == 0);
    set(p, 0, 0x11);
    let others = (1..4).all(|i| get(p, i * P) == 0);
    r.check(
        "zero page: untouched pages read 0, a write stays private",
        all_zero && others && get(p, 0) == 0x11,
        String::new(),
    );
    // After mprotect back to writable, a page that was only read must still copy on write.
    // SAFETY: our own mapping.
    let a = unsafe { libc::mprotect(p as *mut _, 4 * P, libc::PROT_READ) };
    // SAFETY: our own mapping.
    let b = unsafe { libc::mprotect(p as *mut _, 4 * P, RW) };
    set(p, P, 0x22);
    r.check(
        "zero page: mprotect RO->RW then write",
        a == 0 && b == 0 && get(p, P) == 0x22 && get(p, 2 * P) == 0 && get(p, 0) == 0x11,
        String::new(),
    );
    let q = map(0, P, RW, PRIV);
    r.check(
        "zero page: a new mapping still reads 0",
        get(q, 0) == 0 && get(q, 100) == 0,
        String::new(),
    );
}

fn shared_memory(r: &mut Report) {
    let p = map(0, 2 * P, RW, SHARED);
    let fresh = get(p, 0) == 0 && get(p, P) == 0;
    set(p, P + 5, 0x33);
    r.check(
        "MAP_SHARED|MAP_ANONYMOUS: zero-filled, writable",
        p != libc::MAP_FAILED as *mut u8 && fresh && get(p, P + 5) == 0x33,
        String::new(),
    );
    // A second mapping of the same pages: mremap with old_size 0.
    // SAFETY: duplicating our own shared mapping.
    let q = unsafe { libc::mremap(p as *mut _, 0, 2 * P, libc::MREMAP_MAYMOVE) } as *mut u8;
    if q == libc::MAP_FAILED as *mut u8 && errno() == libc::ENOSYS {
        println!("mmtest: mremap not available (ENOSYS): shared-alias check skipped");
        return;
    }
    set(q, 7, 0x44);
    r.check(
        "MAP_SHARED: a second mapping (mremap old_size 0) sees the same pages",
        q != p && get(q, P + 5) == 0x33 && get(p, 7) == 0x44,
        format!("{p:?} {q:?}"),
    );
}

fn fixed_mappings(r: &mut Report) {
    let base = map(0, 4 * P, RW, PRIV);
    set(base, P, 1);
    let clash = map(
        base as usize + 3 * P,
        2 * P,
        RW,
        PRIV | libc::MAP_FIXED_NOREPLACE,
    );
    let clash_errno = errno();
    r.check(
        "MAP_FIXED_NOREPLACE over a mapping: EEXIST",
        clash == libc::MAP_FAILED as *mut u8 && clash_errno == libc::EEXIST,
        format!("errno={clash_errno}"),
    );
    let fixed = map(base as usize + P, P, RW, PRIV | libc::MAP_FIXED);
    r.check(
        "MAP_FIXED replaces the page under it",
        fixed as usize == base as usize + P && get(fixed, 0) == 0,
        String::new(),
    );
    let pop = map(0, 8 * P, RW, PRIV | libc::MAP_POPULATE);
    r.check(
        "MAP_POPULATE",
        pop != libc::MAP_FAILED as *mut u8 && get(pop, 7 * P) == 0,
        String::new(),
    );
    let bad = map(0, 0, RW, PRIV);
    let bad_errno = errno();
    r.check(
        "mmap of length 0: EINVAL",
        bad == libc::MAP_FAILED as *mut u8 && bad_errno == libc::EINVAL,
        String::new(),
    );
}

fn prot_none(r: &mut Report) {
    let p = map(0, 2 * P, RW, PRIV);
    set(p, 0, b'x');
    // SAFETY: our own mapping.
    unsafe { libc::mprotect(p as *mut _, P, libc::PROT_NONE) };
    // SAFETY: the kernel must refuse the buffer rather than read it.
    let w = unsafe { libc::write(1, p as *const _, 1) };
    let e = errno();
    r.check(
        "PROT_NONE buffer to write(2): EFAULT",
        w == -1 && e == libc::EFAULT,
        format!("ret={w} errno={e}"),
    );
    // SAFETY: our own mapping.
    unsafe { libc::mprotect(p as *mut _, P, RW) };
    r.check(
        "PROT_NONE then RW: data kept",
        get(p, 0) == b'x',
        String::new(),
    );
    // SAFETY: unmapping our own page.
    unsafe { libc::munmap(p.add(P) as *mut _, P) };
    // SAFETY: the kernel must refuse the unmapped buffer.
    let w = unsafe { libc::write(1, p.add(P) as *const _, 1) };
    let e = errno();
    r.check(
        "unmapped buffer to write(2): EFAULT",
        w == -1 && e == libc::EFAULT,
        format!("ret={w} errno={e}"),
    );
}

#[inline(never)]
fn recurse(depth: usize) -> u64 {
    let mut frame = [0u8; 4000];
    frame[depth % 4000] = depth as u8;
    let frame = std::hint::black_box(frame);
    if depth == 0 {
        return frame[0] as u64;
    }
    recurse(depth - 1) + frame[depth % 4000] as u64
}

fn stack_growth(r: &mut Report) {
    // About 600 KiB of stack: well beyond the 128 KiB mapped at exec.
    let sum = recurse(150);
    r.check(
        "main stack grows down on demand (600 KiB)",
        sum > 0,
        String::new(),
    );
    let hint = 0x5000_0000usize;
    let g = map(hint, P, RW, PRIV | libc::MAP_GROWSDOWN);
    set(g, 0, 1);
    // A touch below a MAP_GROWSDOWN mapping grows it.
    let below = g.wrapping_sub(2 * P);
    set(below, 0, 2);
    r.check(
        "MAP_GROWSDOWN grows on a touch below it",
        g != libc::MAP_FAILED as *mut u8 && get(below, 0) == 2 && get(g, 0) == 1,
        String::new(),
    );
}

fn brk(r: &mut Report) {
    // SAFETY: raw brk: query, grow, shrink.
    let (start, grown) = unsafe {
        let start = libc::syscall(libc::SYS_brk, 0) as usize;
        (start, libc::syscall(libc::SYS_brk, start + 3 * P) as usize)
    };
    let p = start as *mut u8;
    set(p, 2 * P, 9);
    // SAFETY: shrinking our own heap back.
    let back = unsafe { libc::syscall(libc::SYS_brk, start) } as usize;
    r.check(
        "brk grows and shrinks",
        grown == start + 3 * P && back == start,
        format!("{start:#x} {grown:#x} {back:#x}"),
    );
    // SAFETY: grow again: the page comes back zero-filled.
    unsafe { libc::syscall(libc::SYS_brk, start + 3 * P) };
    r.check(
        "brk: memory given back and taken again reads 0",
        get(p, 2 * P) == 0,
        String::new(),
    );
}

fn mremap(r: &mut Report) {
    let p = map(0, 4 * P, RW, PRIV);
    for i in 0..4 {
        set(p, i * P, 0x50 + i as u8);
    }
    // Block in-place growth, so the mapping has to move.
    map(
        p as usize + 4 * P,
        P,
        libc::PROT_READ,
        PRIV | libc::MAP_FIXED,
    );
    // SAFETY: resizing our own mapping.
    let q = unsafe { libc::mremap(p as *mut _, 4 * P, 16 * P, libc::MREMAP_MAYMOVE) } as *mut u8;
    if q == libc::MAP_FAILED as *mut u8 && errno() == libc::ENOSYS {
        println!("mmtest: mremap not available (ENOSYS): skipped");
        return;
    }
    let kept = (0..4).all(|i| get(q, i * P) == 0x50 + i as u8);
    r.check(
        "mremap MAYMOVE moves the pages, data kept",
        q != p && kept && get(q, 15 * P) == 0,
        format!("{p:?} -> {q:?}"),
    );
    // SAFETY: the old range must be gone: the kernel refuses it as a buffer.
    let w = unsafe { libc::write(1, p as *const _, 1) };
    r.check(
        "mremap: old range unmapped",
        w == -1 && errno() == libc::EFAULT,
        String::new(),
    );
    // SAFETY: shrinking in place.
    let s = unsafe { libc::mremap(q as *mut _, 16 * P, 2 * P, 0) } as *mut u8;
    r.check("mremap shrinks in place", s == q, String::new());
    // SAFETY: growing without MAYMOVE into free space above.
    let g = unsafe { libc::mremap(q as *mut _, 2 * P, 3 * P, 0) } as *mut u8;
    let e = errno();
    r.check(
        "mremap grows in place when the space above is free",
        g == q || e == libc::ENOMEM,
        format!("errno={e}"),
    );
    // SAFETY: invalid flags.
    let bad = unsafe { libc::mremap(q as *mut _, P, P, 0x100) } as *mut u8;
    r.check(
        "mremap with unknown flags: EINVAL",
        bad == libc::MAP_FAILED as *mut u8 && errno() == libc::EINVAL,
        String::new(),
    );
}

fn madvise(r: &mut Report) {
    let p = map(0, 2 * P, RW, PRIV);
    set(p, 0, 1);
    set(p, P, 2);
    // Tell a real madvise from a stub that accepts anything.
    // SAFETY: advice the kernel must reject.
    if unsafe { libc::madvise(p as *mut _, P, 12345) } == 0 {
        println!("mmtest: madvise is a no-op stub: skipped");
        return;
    }
    // SAFETY: dropping our own page.
    let d = unsafe { libc::madvise(p as *mut _, P, libc::MADV_DONTNEED) };
    r.check(
        "madvise(MADV_DONTNEED): private page reads 0 after",
        d == 0 && get(p, 0) == 0 && get(p, P) == 2,
        String::new(),
    );
    let s = map(0, P, RW, SHARED);
    set(s, 0, 3);
    // SAFETY: our own shared page.
    let d = unsafe { libc::madvise(s as *mut _, P, libc::MADV_DONTNEED) };
    r.check(
        "madvise(MADV_DONTNEED): shared page keeps its data",
        d == 0 && get(s, 0) == 3,
        String::new(),
    );
    // SAFETY: a range reaching past the mapping.
    let e = unsafe { libc::madvise(s as *mut _, 64 * P, libc::MADV_WILLNEED) };
    r.check(
        "madvise over a hole: ENOMEM",
        e == -1 && errno() == libc::ENOMEM,
        String::new(),
    );
}

fn mincore_msync(r: &mut Report) {
    let p = map(0, 4 * P, RW, PRIV);
    set(p, P, 1);
    set(p, 3 * P, 1);
    let mut vec = [0xffu8; 4];
    // SAFETY: `vec` has one byte per page.
    let m = unsafe { libc::mincore(p as *mut _, 4 * P, vec.as_mut_ptr()) };
    if m == -1 && errno() == libc::ENOSYS {
        println!("mmtest: mincore not available (ENOSYS): skipped");
    } else {
        r.check(
            "mincore reports the touched pages",
            m == 0 && vec == [0, 1, 0, 1],
            format!("{vec:?}"),
        );
    }
    // SAFETY: msync on our own mapping, then on bad ranges.
    let (ok, unaligned, hole) = unsafe {
        (
            libc::msync(p as *mut _, 4 * P, libc::MS_SYNC),
            libc::msync(p.add(1) as *mut _, P, libc::MS_SYNC),
            libc::msync(p as *mut _, 64 * P, libc::MS_ASYNC),
        )
    };
    if ok == -1 && errno() == libc::ENOSYS {
        println!("mmtest: msync not available (ENOSYS): skipped");
        return;
    }
    r.check(
        "msync: 0 on anonymous memory, EINVAL unaligned, ENOMEM over a hole",
        ok == 0 && unaligned == -1 && hole == -1,
        String::new(),
    );
}

/// The program's own segments: mapped from its file (named, with its inode and file offsets
/// in /proc/self/maps) and read in page by page as they are touched.
fn program_segments(r: &mut Report) {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let exe = std::env::args().next().unwrap_or_default();
    let ours: Vec<&str> = maps.lines().filter(|l| l.ends_with(&*exe)).collect();
    let text = ours
        .iter()
        .any(|l| l.split_whitespace().nth(1) == Some("r-xp"));
    // Every segment line: a file offset, a device and a nonzero inode, as Linux shows them.
    let fields_ok = ours.iter().all(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() == 6 && f[2].len() == 8 && f[3].contains(':') && f[4] != "0"
    });
    r.check(
        "the program's segments are file mappings named in /proc/self/maps",
        ours.len() >= 2 && text && fields_ok,
        format!("{ours:?}"),
    );
}

/// mmap of a file, privately: its bytes, copy-on-write, zeros past its end.
fn file_mappings(r: &mut Report) {
    use std::os::fd::AsRawFd;
    let exe = std::env::args().next().unwrap_or_default();
    let Ok(f) = std::fs::File::open(&exe) else {
        r.check("mmap of a file", false, format!("cannot open {exe}"));
        return;
    };
    let size = f.metadata().map_or(0, |m| m.len() as usize);
    let len = size.div_ceil(P) * P;
    // SAFETY: a private mapping of a file we opened for reading.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            RW,
            libc::MAP_PRIVATE,
            f.as_raw_fd(),
            0,
        ) as *mut u8
    };
    if p as isize == -1 {
        r.check("mmap of a file", false, format!("errno={}", errno()));
        return;
    }
    let elf = (0..4).map(|i| get(p, i)).collect::<Vec<u8>>() == b"\x7fELF";
    let tail_zero = len == size || get(p, len - 1) == 0;
    set(p, 0, b'X');
    let file_kept = std::fs::read(&exe).is_ok_and(|b| b.starts_with(b"\x7fELF"));
    r.check(
        "mmap(MAP_PRIVATE) of a file: its bytes, zeros past the end, writes stay private",
        elf && tail_zero && get(p, 0) == b'X' && file_kept,
        format!("elf={elf} tail_zero={tail_zero} file_kept={file_kept}"),
    );
    // SAFETY: our mapping, no longer used.
    unsafe { libc::munmap(p as *mut _, len) };
    // Linux's refusals: a file not open for reading, a file without mappable contents.
    let wronly = std::fs::OpenOptions::new().write(true).open("/dev/null");
    let refused = |fd: i32, flags: i32| {
        // SAFETY: a mapping the kernel is expected to refuse.
        let q = unsafe { libc::mmap(std::ptr::null_mut(), P, libc::PROT_READ, flags, fd, 0) };
        if q as isize == -1 {
            errno()
        } else {
            0
        }
    };
    let e_wronly = wronly.map_or(0, |w| refused(w.as_raw_fd(), libc::MAP_PRIVATE));
    let dir = std::fs::File::open("/");
    let e_dir = dir.map_or(0, |d| refused(d.as_raw_fd(), libc::MAP_PRIVATE));
    r.check(
        "mmap of a file not open for reading: EACCES; of a directory: ENODEV",
        e_wronly == libc::EACCES && e_dir == libc::ENODEV,
        format!("{e_wronly} {e_dir}"),
    );
}

/// `vm.max_map_count` caps the VMAs: with the limit a few above what the process has, new
/// mappings fail with ENOMEM once it is reached, and so do an munmap and an mprotect that
/// would split a VMA (madvise's EAGAIN); with the limit back, the same munmap works.
fn max_map_count(r: &mut Report) {
    const LIMIT: &str = "/proc/sys/vm/max_map_count";
    let Ok(old) = std::fs::read_to_string(LIMIT) else {
        println!("mmtest: no {LIMIT}: skipped");
        return;
    };
    r.check(
        "vm.max_map_count is Linux's default",
        old.trim() == "65530",
        old.trim().to_string(),
    );
    let count = || std::fs::read_to_string("/proc/self/maps").map_or(0, |m| m.lines().count());
    // Three pages to split later, then room for a few more one-page mappings side by side,
    // alternately read-only and read-write so that none merges with the next.
    let three = map(0, 3 * P, RW, PRIV);
    let hole = map(0, 34 * P, 0, PRIV);
    // SAFETY: the mapping just made, which nothing uses.
    unsafe { libc::munmap(hole.cast(), 34 * P) };
    let limit = count() + 8;
    let mut results = [(std::ptr::null_mut::<u8>(), 0); 32];
    std::fs::write(LIMIT, limit.to_string()).expect("write vm.max_map_count");
    // Nothing below may allocate: the process is at its limit.
    for (i, slot) in results.iter_mut().enumerate() {
        let prot = if i % 2 == 0 { libc::PROT_READ } else { RW };
        let at = hole as usize + (i + 1) * P;
        let p = map(at, P, prot, PRIV | libc::MAP_FIXED_NOREPLACE);
        *slot = (p, errno());
        if p == libc::MAP_FAILED.cast() {
            break;
        }
    }
    let middle = three as usize + P;
    // SAFETY: the middle page of `three`, which nothing uses.
    let unmap = (unsafe { libc::munmap(middle as *mut _, P) }, errno());
    // SAFETY: as above.
    let protect = (
        unsafe { libc::mprotect(middle as *mut _, P, libc::PROT_READ) },
        errno(),
    );
    // SAFETY: as above.
    let advise = (
        unsafe { libc::madvise(middle as *mut _, P, libc::MADV_DONTFORK) },
        errno(),
    );
    let _ = std::fs::write(LIMIT, &old);
    // SAFETY: as above, with the limit back.
    let unmap_after = unsafe { libc::munmap(middle as *mut _, P) };
    let mapped = results
        .iter()
        .take_while(|(p, _)| *p != libc::MAP_FAILED.cast())
        .count();
    let failed_with = results.get(mapped).map_or(0, |&(_, e)| e);
    r.check(
        "mmap past vm.max_map_count fails with ENOMEM",
        (1..=10).contains(&mapped) && failed_with == libc::ENOMEM,
        format!("{mapped} mapped under a limit of {limit}, then errno {failed_with}"),
    );
    r.check(
        "munmap, mprotect and madvise that would split a VMA at the limit fail",
        unmap == (-1, libc::ENOMEM)
            && protect == (-1, libc::ENOMEM)
            && advise == (-1, libc::EAGAIN)
            && unmap_after == 0,
        format!(
            "munmap {unmap:?} mprotect {protect:?} madvise {advise:?}, then munmap {unmap_after}"
        ),
    );
    for &(p, _) in &results[..mapped] {
        // SAFETY: the pages mapped above, unused.
        unsafe { libc::munmap(p.cast(), P) };
    }
    // SAFETY: what is left of `three`.
    unsafe { libc::munmap(three.cast(), 3 * P) };
}

fn main() {
    let mut r = Report { ok: true };
    program_segments(&mut r);
    file_mappings(&mut r);
    zero_page(&mut r);
    shared_memory(&mut r);
    fixed_mappings(&mut r);
    prot_none(&mut r);
    stack_growth(&mut r);
    brk(&mut r);
    mremap(&mut r);
    madvise(&mut r);
    mincore_msync(&mut r);
    max_map_count(&mut r);
    println!(
        "mmtest: {}",
        if r.ok {
            "all checks passed"
        } else {
            "some checks FAILED"
        }
    );
    exit(if r.ok { 0 } else { 1 });
}
