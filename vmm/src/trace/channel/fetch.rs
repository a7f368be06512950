//! Pointer paths compiled for the guest to read at the event (`abi::trace::fetch`), and their
//! values read back from a record's fetch trailer.
//!
//! Both directions run the same DWARF walk as a drain-time read ([`KernelDebug::follow`]), over
//! a symbolic memory: compiling records which addresses the walk reads (each pointer it loads
//! is a token naming its level), and decoding serves those same reads from the trailer's bytes.
//! So a fetched field reads exactly as the drain-time walk would read it at the event.

use std::cell::RefCell;

use abi::trace::fetch::{self, Fetch, Trailer, MAX_DEREFS, MAX_FETCHES, MAX_LEN, TRAILER_SIZE};

use super::dwarf::{KernelDebug, KernelMemory, Param, Place};
use crate::trace::Value;

/// Tokens: non-canonical addresses (never a kernel address) naming a pointer level and an
/// offset from it.
const TOKEN: u64 = 0x7e00_0000_0000_0000;
const TOKEN_MASK: u64 = 0xff00_0000_0000_0000;
const LEVEL_SHIFT: u32 = 40;
const OFFSET_MASK: u64 = (1 << LEVEL_SHIFT) - 1;

fn token(level: usize) -> u64 {
    TOKEN | (level as u64) << LEVEL_SHIFT
}

/// The level and offset of a token address.
fn untoken(addr: u64) -> Option<(usize, u64)> {
    (addr & TOKEN_MASK == TOKEN).then_some((
        ((addr >> LEVEL_SHIFT) & 0xffff) as usize,
        addr & OFFSET_MASK,
    ))
}

/// Where a path starts.
#[derive(Debug, Clone, Copy)]
pub enum Root<'a> {
    /// `args->NAME->...` of the function with these parameters.
    Args(&'a [Param]),
    /// `curtask->...`.
    Task,
}

/// Runs the DWARF walk of `path` from `root` over `mem`.
fn walk(debug: &KernelDebug, root: Root, path: &[String], mem: &dyn KernelMemory) -> Option<Value> {
    match root {
        Root::Args(params) => debug.arg_path(params, &[token(0); 6], path, mem),
        Root::Task => {
            let ty = debug.struct_named(abi::trace::TASK_TYPE_NAME)?;
            debug.follow(ty, Place::Memory(token(0)), path, mem)
        }
    }
}

/// Records the walk's reads; each returns the token of the next level.
struct Recorder(RefCell<Vec<(usize, u64, usize)>>);

impl KernelMemory for Recorder {
    fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
        let Some((level, offset)) = untoken(addr) else {
            return false;
        };
        self.0.borrow_mut().push((level, offset, buf.len()));
        let next = token(level + 1).to_le_bytes();
        let n = buf.len().min(8);
        buf[..n].copy_from_slice(&next[..n]);
        true
    }
}

/// The fetch that reads `path` from `root` at the events of `site`, if the path goes through
/// memory and fits a [`Fetch`] (a plain argument register needs none).
pub fn compile(debug: &KernelDebug, site: u64, root: Root, path: &[String]) -> Option<Fetch> {
    let rec = Recorder(RefCell::new(Vec::new()));
    walk(debug, root, path, &rec)?;
    let reads = rec.0.into_inner();
    let (&(level, at, len), loads) = reads.split_last()?;
    // A chain: load `i` reads from level `i`, 8 bytes; the final read from the last level.
    let chain = loads
        .iter()
        .enumerate()
        .all(|(i, &(l, _, n))| l == i && n == 8);
    if !chain || level != loads.len() || loads.len() > MAX_DEREFS || len == 0 || len > MAX_LEN {
        return None;
    }
    let mut offsets = [0u32; MAX_DEREFS + 1];
    for (slot, &(_, off, _)) in offsets.iter_mut().zip(loads) {
        *slot = u32::try_from(off).ok()?;
    }
    offsets[loads.len()] = u32::try_from(at).ok()?;
    let base = match root {
        Root::Args(params) => {
            let name = path.first()?;
            params.iter().find(|p| &p.name == name)?.reg?
        }
        Root::Task => fetch::BASE_TASK,
    };
    let f = Fetch {
        site,
        base,
        derefs: loads.len() as u8,
        len: len as u8,
        reserved: [0; 5],
        offsets,
    };
    f.is_valid().then_some(f)
}

/// A fetch's bytes in the control page.
pub fn encode(f: &Fetch) -> [u8; std::mem::size_of::<Fetch>()] {
    let mut b = [0; std::mem::size_of::<Fetch>()];
    b[..8].copy_from_slice(&f.site.to_le_bytes());
    b[8..11].copy_from_slice(&[f.base, f.derefs, f.len]);
    for (i, o) in f.offsets.iter().enumerate() {
        b[16 + 4 * i..20 + 4 * i].copy_from_slice(&o.to_le_bytes());
    }
    b
}

/// Serves the walk's reads from a fetch's bytes.
struct Replay<'a> {
    fetch: &'a Fetch,
    bytes: &'a [u8],
}

impl KernelMemory for Replay<'_> {
    fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
        let Some((level, offset)) = untoken(addr) else {
            return false;
        };
        let derefs = usize::from(self.fetch.derefs);
        let expected = self.fetch.offsets.get(level).copied().map(u64::from);
        if level > derefs || expected != Some(offset) {
            return false;
        }
        if level < derefs {
            if buf.len() != 8 {
                return false;
            }
            buf.copy_from_slice(&token(level + 1).to_le_bytes());
            return true;
        }
        match self.bytes.get(..buf.len()) {
            Some(src) => {
                buf.copy_from_slice(src);
                true
            }
            None => false,
        }
    }
}

/// The value of `path` from `root` given its fetch's bytes, or `None` if the fetch failed at
/// the event: then it reads as bpftrace reads a bad pointer, 0 or an empty string.
pub fn value(
    debug: &KernelDebug,
    root: Root,
    path: &[String],
    fetch: &Fetch,
    bytes: Option<&[u8]>,
) -> Option<Value> {
    const ZEROS: [u8; MAX_LEN] = [0; MAX_LEN];
    let bytes = bytes.unwrap_or(&ZEROS);
    walk(debug, root, path, &Replay { fetch, bytes })
}

/// A record's fetch trailer: the values of its site's fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fetched<'a> {
    pub trailer: Trailer,
    /// The values' slots.
    pub slots: &'a [u8],
}

impl<'a> Fetched<'a> {
    /// The trailer that ends at `end` in `payload`, after the payload struct's `fixed` bytes:
    /// `Some((trailer, where it starts))`, `None` if it is malformed.
    pub fn parse(payload: &'a [u8], end: usize, fixed: usize) -> Option<(Fetched<'a>, usize)> {
        let at = end.checked_sub(TRAILER_SIZE)?;
        let trailer = Trailer::from_bytes(payload.get(at..end)?.try_into().ok()?);
        let bytes = trailer.bytes as usize;
        if !bytes.is_multiple_of(8)
            || bytes > MAX_FETCHES * MAX_LEN
            || trailer.count as usize > MAX_FETCHES
        {
            return None;
        }
        let start = at.checked_sub(bytes).filter(|&s| s >= fixed)?;
        let slots = &payload[start..at];
        Some((Fetched { trailer, slots }, start))
    }

    /// The bytes of the `i`th of `fetches` (the fetches of the record's site, in table order),
    /// `None` if it failed at the event or the trailer doesn't match them.
    pub fn get(&self, fetches: &[Fetch], i: usize) -> Option<&'a [u8]> {
        let total: usize = fetches.iter().map(fetch::slot_size).sum();
        if fetches.len() != self.trailer.count as usize || total != self.slots.len() {
            return None;
        }
        let f = fetches.get(i)?;
        if i >= 64 || self.trailer.ok & (1 << i) == 0 {
            return None;
        }
        let start: usize = fetches[..i].iter().map(fetch::slot_size).sum();
        self.slots.get(start..start + usize::from(f.len))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::dwarf::{Member, TypeDesc};
    use super::*;

    /// `struct Task { pid: i32, comm: [u8; 16] @8, real_parent: *const Task @24 }`, and a
    /// function at 0x1000 taking `p: *const Task` in rsi and `n: i32` in rdi.
    fn tables() -> KernelDebug {
        let member = |name: &str, offset, ty| Member {
            name: name.into(),
            offset,
            ty,
        };
        let types = vec![
            TypeDesc::Int {
                size: 4,
                signed: true,
            },
            TypeDesc::Int {
                size: 1,
                signed: false,
            },
            TypeDesc::Array { elem: 1, count: 16 },
            TypeDesc::Pointer { target: Some(4) },
            TypeDesc::Struct {
                size: 32,
                members: vec![
                    member("pid", 0, 0),
                    member("comm", 8, 2),
                    member("real_parent", 24, 3),
                ],
            },
        ];
        let param = |name: &str, reg, ty| Param {
            name: name.into(),
            reg: Some(reg),
            ty: Some(ty),
        };
        KernelDebug {
            params: HashMap::from([(0x1000, vec![param("n", 0, 0), param("p", 1, 3)])]),
            types,
            structs: HashMap::from([("Task".to_string(), 4)]),
        }
    }

    fn path(p: &str) -> Vec<String> {
        p.split("->").map(String::from).collect()
    }

    #[test]
    fn compiles_paths_into_fetches() {
        let debug = tables();
        let params = debug.params(0x1000).unwrap();
        let args = Root::Args(params);
        let f = compile(&debug, 0x1000, args, &path("p->comm")).unwrap();
        assert_eq!((f.site, f.base, f.derefs, f.len), (0x1000, 1, 0, 16));
        assert_eq!(f.offsets[0], 8);
        let f = compile(&debug, 0x1000, args, &path("p->real_parent->pid")).unwrap();
        assert_eq!((f.base, f.derefs, f.len), (1, 1, 4));
        assert_eq!(f.offsets[..2], [24, 0]);
        let f = compile(
            &debug,
            7,
            Root::Task,
            &path("real_parent->real_parent->comm"),
        )
        .unwrap();
        assert_eq!(
            (f.site, f.base, f.derefs, f.len),
            (7, fetch::BASE_TASK, 2, 16)
        );
        assert_eq!(f.offsets[..3], [24, 24, 8]);
        // Four loads are too many; a register needs no fetch; unknown names compile to nothing.
        let deep = path("real_parent->real_parent->real_parent->real_parent->pid");
        assert_eq!(compile(&debug, 7, Root::Task, &deep), None);
        assert_eq!(compile(&debug, 0x1000, args, &path("n")), None);
        assert_eq!(compile(&debug, 0x1000, args, &path("p->nope")), None);
        assert_eq!(compile(&debug, 0x1000, args, &path("q->pid")), None);
    }

    /// What the guest's slow path appends for `fetches`, given each one's value (None: failed).
    fn trailer(fetches: &[Fetch], values: &[Option<&[u8]>]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut ok = 0;
        for (i, (f, v)) in fetches.iter().zip(values).enumerate() {
            let mut slot = vec![0; fetch::slot_size(f)];
            if let Some(v) = v {
                slot[..v.len()].copy_from_slice(v);
                ok |= 1 << i;
            }
            out.extend(slot);
        }
        let t = Trailer {
            ok,
            count: fetches.len() as u32,
            bytes: out.len() as u32,
        };
        out.extend(t.to_bytes());
        out
    }

    #[test]
    fn reads_values_from_the_trailer() {
        let debug = tables();
        let parent_comm = path("real_parent->comm");
        let parent_pid = path("real_parent->pid");
        let fetches = [
            compile(&debug, 7, Root::Task, &parent_comm).unwrap(),
            compile(&debug, 7, Root::Task, &parent_pid).unwrap(),
        ];
        // A payload struct of 8 bytes, then the trailer.
        let mut payload = vec![0xaa; 8];
        payload.extend(trailer(
            &fetches,
            &[Some(b"init\0"), Some(&(-3i32).to_le_bytes())],
        ));
        let (got, start) = Fetched::parse(&payload, payload.len(), 8).unwrap();
        assert_eq!(start, 8);
        let v = |i: usize, p: &[String]| {
            value(&debug, Root::Task, p, &fetches[i], got.get(&fetches, i))
        };
        assert_eq!(v(0, &parent_comm), Some(Value::string(b"init")));
        assert_eq!(v(1, &parent_pid), Some(Value::Int(-3)));

        // A failed fetch reads as bpftrace's bad pointer: empty, 0.
        let mut payload = vec![0; 8];
        payload.extend(trailer(&fetches, &[None, None]));
        let (got, _) = Fetched::parse(&payload, payload.len(), 8).unwrap();
        assert_eq!(got.get(&fetches, 0), None);
        let v = |i: usize, p: &[String]| {
            value(&debug, Root::Task, p, &fetches[i], got.get(&fetches, i))
        };
        assert_eq!(v(0, &parent_comm), Some(Value::string(b"")));
        assert_eq!(v(1, &parent_pid), Some(Value::Int(0)));
        // A trailer for other fetches than the host's gives nothing.
        assert_eq!(got.get(&fetches[..1], 0), None);
    }

    #[test]
    fn corrupt_trailers_never_panic() {
        let debug = tables();
        let fetches = [compile(&debug, 7, Root::Task, &path("real_parent->comm")).unwrap()];
        let good = {
            let mut p = vec![0; 8];
            p.extend(trailer(&fetches, &[Some(b"sh")]));
            p
        };
        // Truncations, bad sizes and counts, and random bytes.
        for cut in 0..good.len() {
            let p = &good[..cut];
            if let Some((got, _)) = Fetched::parse(p, p.len(), 8) {
                let _ = got.get(&fetches, 0);
            }
        }
        for (count, bytes) in [(1, 7), (1, 24), (1, u32::MAX), (u32::MAX, 16), (65, 16)] {
            let mut p = good.clone();
            let t = Trailer {
                ok: u64::MAX,
                count,
                bytes,
            };
            let end = p.len();
            p[end - TRAILER_SIZE..].copy_from_slice(&t.to_bytes());
            if let Some((got, _)) = Fetched::parse(&p, p.len(), 8) {
                assert_eq!(got.get(&fetches, 0), None, "{count} {bytes}");
            }
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            let p: Vec<u8> = (0..seed as usize % 120)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            let end = seed as usize % (p.len() + 40);
            if let Some((got, _)) = Fetched::parse(&p, end, 8) {
                for i in 0..3 {
                    let bytes = got.get(&fetches, i);
                    let _ = value(
                        &debug,
                        Root::Task,
                        &path("real_parent->comm"),
                        &fetches[0],
                        bytes,
                    );
                }
            }
        }
        // A fetch the host never compiled replays to nothing rather than anything wrong.
        let bogus = Fetch {
            derefs: 3,
            ..fetches[0]
        };
        assert_eq!(
            value(&debug, Root::Task, &path("real_parent->comm"), &bogus, None),
            None
        );
    }
}
