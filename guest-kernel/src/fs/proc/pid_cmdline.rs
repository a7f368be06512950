//! /proc/<pid>/cmdline and /proc/<pid>/environ (`proc_pid_cmdline_read` and `environ_read` of
//! Linux's fs/proc/base.c): read from the process's own memory, so a program that rewrites its
//! arguments is seen as it rewrote them.

use alloc::vec::Vec;

// --- /proc/<pid>/cmdline and environ -----------------------------------------------------

/// /proc/<pid>/cmdline from the process's own memory (`get_mm_cmdline`), `read` reading its
/// address space (returns the bytes it got). Normally the argument strings with their NULs;
/// if the program overwrote the last NUL (setproctitle), the first string of up to a page
/// starting at `arg_start`, running on into the environment.
pub fn get_mm_cmdline(
    mut read: impl FnMut(u64, &mut [u8]) -> usize,
    arg_start: u64,
    arg_end: u64,
    env_start: u64,
    env_end: u64,
) -> Vec<u8> {
    const PAGE_SIZE: usize = 4096;
    // Not far enough into exec to have arguments.
    if env_end == 0 || arg_start >= arg_end {
        return Vec::new();
    }
    // setproctitle() may run past the arguments, but only into the environment.
    let env_end = if env_start != arg_end || env_end < env_start {
        arg_end
    } else {
        env_end
    };
    let len = (env_end - arg_start) as usize;
    let mut last = [0u8];
    if read(arg_end - 1, &mut last) == 1 && last[0] != 0 {
        // `get_mm_proctitle`: up to the first NUL (kept), within a page.
        let mut page = alloc::vec![0u8; PAGE_SIZE.min(len)];
        let got = read(arg_start, &mut page);
        page.truncate(got);
        if let Some(nul) = page.iter().position(|&b| b == 0) {
            page.truncate(nul + 1);
        }
        return page;
    }
    let mut buf = alloc::vec![0u8; (arg_end - arg_start) as usize];
    let got = read(arg_start, &mut buf);
    buf.truncate(got);
    buf
}

/// /proc/<pid>/environ (`environ_read`): the bytes from `env_start` to `env_end`.
pub fn get_mm_environ(
    mut read: impl FnMut(u64, &mut [u8]) -> usize,
    env_start: u64,
    env_end: u64,
) -> Vec<u8> {
    if env_end == 0 || env_start >= env_end {
        return Vec::new();
    }
    let mut buf = alloc::vec![0u8; (env_end - env_start) as usize];
    let got = read(env_start, &mut buf);
    buf.truncate(got);
    buf
}

#[cfg(not(test))]
pub use self::task::*;

#[cfg(not(test))]
mod task {
    use alloc::vec::Vec;

    use super::*;
    use crate::kernel::task::{Task, TaskRef};

    /// The argument and environment bounds, and a reader of the process's memory.
    fn read_args<R>(
        task: &Task,
        f: impl FnOnce(&mut dyn FnMut(u64, &mut [u8]) -> usize, [u64; 4]) -> R,
    ) -> Option<R> {
        let mm = task.get_task_mm()?;
        let mut mm = mm.lock();
        Some({
            let bounds = [mm.arg_start, mm.arg_end, mm.env_start, mm.env_end];
            let mut read = |addr: u64, buf: &mut [u8]| mm.access_remote_vm(addr, buf);
            f(&mut read, bounds)
        })
    }

    /// `/proc/<pid>/cmdline`: the arguments as the process holds them now, each followed by
    /// a NUL; empty for kernel threads and zombies.
    pub fn proc_pid_cmdline(task: &TaskRef) -> Vec<u8> {
        read_args(task, |read, [a0, a1, e0, e1]| {
            get_mm_cmdline(read, a0, a1, e0, e1)
        })
        .unwrap_or_default()
    }

    /// `/proc/<pid>/environ`.
    pub fn proc_pid_environ(task: &TaskRef) -> Vec<u8> {
        read_args(task, |read, [_, _, e0, e1]| get_mm_environ(read, e0, e1)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake address space: `mem` mapped at `base`.
    fn reader(base: u64, mem: &[u8]) -> impl FnMut(u64, &mut [u8]) -> usize + '_ {
        move |addr, buf| {
            let Some(off) = addr.checked_sub(base) else {
                return 0;
            };
            let off = off as usize;
            if off >= mem.len() {
                return 0;
            }
            let n = buf.len().min(mem.len() - off);
            buf[..n].copy_from_slice(&mem[off..off + n]);
            n
        }
    }

    #[test]
    fn cmdline_is_the_argument_area() {
        let mem = b"/bin/sh\0-c\0echo hi\0HOME=/\0TERM=linux\0";
        let base = 0x7fff_0000;
        let (a0, a1) = (base, base + 19);
        let (e0, e1) = (a1, base + mem.len() as u64);
        assert_eq!(
            get_mm_cmdline(reader(base, mem), a0, a1, e0, e1),
            b"/bin/sh\0-c\0echo hi\0"
        );
        assert_eq!(
            get_mm_environ(reader(base, mem), e0, e1),
            b"HOME=/\0TERM=linux\0"
        );
        // Nothing yet (no exec): empty.
        assert!(get_mm_cmdline(reader(base, mem), 0, 0, 0, 0).is_empty());
        assert!(get_mm_environ(reader(base, mem), 0, 0).is_empty());
        // The area is gone (unmapped): as much as can be read.
        assert!(get_mm_cmdline(reader(base, &mem[..0]), a0, a1, e0, e1).is_empty());
    }

    #[test]
    fn cmdline_after_setproctitle_runs_into_the_environment() {
        // The program overwrote its arguments, NUL of the last one included.
        let mut mem = *b"/bin/sh\0-c\0echo hi\0HOME=/\0TERM=linux\0";
        let title = b"worker: idle and waiting";
        mem[..title.len()].copy_from_slice(title);
        mem[title.len()] = 0;
        let base = 0x1000;
        let (a0, a1) = (base, base + 19);
        let e1 = base + mem.len() as u64;
        let got = get_mm_cmdline(reader(base, &mem), a0, a1, a1, e1);
        assert_eq!(got, b"worker: idle and waiting\0");
        // Without an environment right after the arguments, only the argument area counts.
        let got = get_mm_cmdline(reader(base, &mem), a0, a1, a1 + 1, e1);
        assert_eq!(got, &mem[..19]);
    }
}
