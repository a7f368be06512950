//! Fields behind pointers, read at the event (`args->p->comm`, `curtask->real_parent->comm`),
//! as bpftrace's probes read them: reading them when the host drains the ring would see the
//! task after it changed or exited.
//!
//! The host compiles each pointer path a program reads from the kernel's DWARF into a
//! [`Fetch`]: a base (an argument register or the current task), up to [`MAX_DEREFS`] pointer
//! loads at offsets, and a final read of up to [`MAX_LEN`] bytes. The guest runs the fetches of
//! an event's site ([`Fetch::site`]) with [`run`] and appends their bytes to the record as a
//! trailer ([`Trailer`], flagged by [`EVENT_HAS_FETCH`](super::EVENT_HAS_FETCH)) before any
//! stack trailer. A fetch whose pointer is not a readable kernel address fails instead of
//! faulting; the host then reads the field as 0 or an empty string, as bpftrace does.

/// Most fetches in the control page.
pub const MAX_FETCHES: usize = 64;
/// Most fetches of one site (the host compiles no more; the guest runs no more).
pub const MAX_SITE_FETCHES: usize = 8;
/// Most bytes of a fetch trailer.
pub const MAX_TRAILER: usize = MAX_SITE_FETCHES * MAX_LEN + TRAILER_SIZE;
/// Most pointer loads in one fetch.
pub const MAX_DEREFS: usize = 3;
/// Most bytes one fetch reads at its end.
pub const MAX_LEN: usize = 64;
/// [`Fetch::base`] for the current task; 0..=5 are the argument registers (rdi .. r9).
pub const BASE_TASK: u8 = 6;

/// One compiled pointer path. An all-zero fetch (site 0) is an unused slot.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fetch {
    /// Where it runs: a function's entry address (kfunc records' `ip`), or a tracepoint's
    /// event id.
    pub site: u64,
    /// An argument register (0..=5) or [`BASE_TASK`].
    pub base: u8,
    /// How many of `offsets` load a pointer (at most [`MAX_DEREFS`]).
    pub derefs: u8,
    /// Bytes read at `offsets[derefs]` past the last pointer (1..=[`MAX_LEN`]).
    pub len: u8,
    pub reserved: [u8; 5],
    /// `offsets[..derefs]`: each loads the u64 at the address so far plus the offset;
    /// `offsets[derefs]`: where the final read starts.
    pub offsets: [u32; MAX_DEREFS + 1],
}

/// Bytes a fetch's value takes in the trailer.
pub const fn slot_size(f: &Fetch) -> usize {
    (f.len as usize + 7) & !7
}

impl Fetch {
    /// Whether the guest may run it (the host only writes such fetches).
    pub const fn is_valid(&self) -> bool {
        self.site != 0
            && self.base <= BASE_TASK
            && self.derefs as usize <= MAX_DEREFS
            && self.len != 0
            && self.len as usize <= MAX_LEN
    }
}

/// The end of a fetch trailer: `bytes` bytes of values (one 8-byte-aligned slot per fetch of the
/// record's site, in table order) precede it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trailer {
    /// Bit `i`: the `i`th fetch read its value (a failed one's slot is zeros).
    pub ok: u64,
    /// Fetches in the trailer.
    pub count: u32,
    /// Bytes of values before this struct.
    pub bytes: u32,
}

pub const TRAILER_SIZE: usize = core::mem::size_of::<Trailer>();

impl Trailer {
    pub fn to_bytes(self) -> [u8; TRAILER_SIZE] {
        let mut b = [0; TRAILER_SIZE];
        b[..8].copy_from_slice(&self.ok.to_le_bytes());
        b[8..12].copy_from_slice(&self.count.to_le_bytes());
        b[12..].copy_from_slice(&self.bytes.to_le_bytes());
        b
    }

    pub fn from_bytes(b: &[u8; TRAILER_SIZE]) -> Trailer {
        let word = |r: core::ops::Range<usize>| {
            let mut w = [0; 4];
            w.copy_from_slice(&b[r]);
            u32::from_le_bytes(w)
        };
        let mut ok = [0; 8];
        ok.copy_from_slice(&b[..8]);
        Trailer {
            ok: u64::from_le_bytes(ok),
            count: word(8..12),
            bytes: word(12..16),
        }
    }
}

/// Runs `f` from the argument registers `regs` and the current task's address `task`, into
/// `out` (at least `f.len` bytes). `read` copies kernel memory into its buffer and must fail,
/// not fault, on an address it cannot read. False (and `out` zeroed) if any read failed or a
/// pointer was null.
pub fn run(
    f: &Fetch,
    regs: &[u64; 6],
    task: u64,
    read: &mut dyn FnMut(u64, &mut [u8]) -> bool,
    out: &mut [u8],
) -> bool {
    let len = f.len as usize;
    if !f.is_valid() || out.len() < len {
        out.fill(0);
        return false;
    }
    let mut addr = match f.base {
        BASE_TASK => task,
        r => regs[r as usize],
    };
    let done = 'walk: {
        for &off in &f.offsets[..f.derefs as usize] {
            let mut p = [0; 8];
            if addr == 0 || !read(addr.wrapping_add(off as u64), &mut p) {
                break 'walk false;
            }
            addr = u64::from_le_bytes(p);
        }
        let at = f.offsets[f.derefs as usize] as u64;
        addr != 0 && read(addr.wrapping_add(at), &mut out[..len])
    };
    if !done {
        out[..len].fill(0);
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kernel memory for tests: one buffer at a base.
    fn reader(base: u64, mem: &[u8]) -> impl FnMut(u64, &mut [u8]) -> bool + '_ {
        move |addr, buf| {
            let Some(off) = addr.checked_sub(base).map(|o| o as usize) else {
                return false;
            };
            match mem.get(off..off.saturating_add(buf.len())) {
                Some(src) => {
                    buf.copy_from_slice(src);
                    true
                }
                None => false,
            }
        }
    }

    #[test]
    fn layout() {
        assert_eq!(core::mem::size_of::<Fetch>(), 32);
        assert_eq!(TRAILER_SIZE, 16);
        let t = Trailer {
            ok: 5,
            count: 3,
            bytes: 24,
        };
        assert_eq!(Trailer::from_bytes(&t.to_bytes()), t);
    }

    #[test]
    fn follows_pointers_and_fails_safely() {
        const BASE: u64 = 0x1000;
        // A task at 0x1000 whose `parent` (offset 8) points at a task at 0x1040 named "init".
        let mut mem = [0u8; 0x80];
        mem[8..16].copy_from_slice(&(BASE + 0x40).to_le_bytes());
        mem[0x40 + 16..0x40 + 20].copy_from_slice(b"init");
        let parent_comm = Fetch {
            site: 42,
            base: BASE_TASK,
            derefs: 1,
            len: 16,
            offsets: [8, 16, 0, 0],
            ..Fetch::default()
        };
        let mut out = [0xffu8; 16];
        assert!(run(
            &parent_comm,
            &[0; 6],
            BASE,
            &mut reader(BASE, &mem),
            &mut out
        ));
        assert_eq!(&out[..5], b"init\0");
        // From an argument register instead.
        let from_reg = Fetch {
            base: 2,
            ..parent_comm
        };
        let regs = [0, 0, BASE, 0, 0, 0];
        assert!(run(&from_reg, &regs, 0, &mut reader(BASE, &mem), &mut out));
        // A bad pointer, a null one, an invalid fetch: false and zeros.
        for (f, task) in [
            (parent_comm, 0x9000),
            (parent_comm, 0),
            (
                Fetch {
                    len: 0,
                    ..parent_comm
                },
                BASE,
            ),
            (
                Fetch {
                    derefs: 4,
                    ..parent_comm
                },
                BASE,
            ),
            (
                Fetch {
                    base: 7,
                    ..parent_comm
                },
                BASE,
            ),
        ] {
            out.fill(0xff);
            assert!(!run(&f, &regs, task, &mut reader(BASE, &mem), &mut out));
            assert_eq!(out, [0; 16]);
        }
        // A pointer loaded from memory that leads nowhere.
        mem[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(!run(
            &parent_comm,
            &[0; 6],
            BASE,
            &mut reader(BASE, &mem),
            &mut out
        ));
        assert_eq!(slot_size(&parent_comm), 16);
        assert_eq!(
            slot_size(&Fetch {
                len: 4,
                ..parent_comm
            }),
            8
        );
    }
}
