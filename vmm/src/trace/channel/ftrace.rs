//! Dynamic function tracing, host side (Linux's dynamic ftrace, done from outside the guest).
//!
//! The kernel is built with a 5-byte NOP at every function entry; the linker lists the sites in
//! `__patchable_function_entries`. [`KernelText`] reads them from the kernel ELF with the
//! symbols that name them, the bytes the ELF holds there, and the trampolines the guest offers
//! (`arch/x86_64/ftrace.rs`). To probe a function, [`TraceChannel::patch_functions`] stops every
//! vCPU and rewrites its NOP into `call <trampoline>`; [`TraceChannel::unpatch_functions`] puts
//! the ELF's bytes back, so that the guest's text is again byte for byte the ELF's.
//!
//! Functions of the tracer itself (`kernel::trace::…`, the arch trampolines' module) are never
//! offered: probing them would recurse.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use object::elf::PT_LOAD;
use object::read::elf::{ElfFile64, ProgramHeader};
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};
use vm_memory::{Bytes, GuestAddress};

use super::TraceChannel;
use crate::stop_machine::StopTimeout;
use crate::symbols::demangle;

/// The NOPs a patch site may hold in the ELF (`nopl 0x0(%rax,%rax,1)` and LLVM's variant).
const NOPS: [[u8; 5]; 2] = [
    [0x0f, 0x1f, 0x44, 0x00, 0x00],
    [0x0f, 0x1f, 0x44, 0x00, 0x08],
];
const CALL_REL32: u8 = 0xe8;

/// Module paths whose functions are the tracer's own.
const NOTRACE: [&str; 2] = ["kernel::trace::", "kernel::arch::x86_64::ftrace::"];

/// What a patched site asks of the guest: a record at entry, a hooked return, or both. Each
/// has its own trampoline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hook {
    Entry,
    Return,
    Both,
}

impl Hook {
    pub fn with(self, other: Hook) -> Hook {
        if self == other {
            self
        } else {
            Hook::Both
        }
    }

    fn trampoline_symbol(self) -> &'static str {
        match self {
            Hook::Entry => "ftrace_caller",
            Hook::Return => "ftrace_graph_caller",
            Hook::Both => "ftrace_caller_graph",
        }
    }
}

/// One patchable function entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSite {
    /// Kernel virtual address of the function (and of its NOP).
    pub addr: u64,
    /// Where the NOP is in guest physical memory.
    pub gpa: u64,
    /// The name probes use: the last path segment (`copy_process`).
    pub name: String,
    /// The demangled path (`kernel::kernel::fork::copy_process`).
    pub path: String,
    /// The ELF's bytes at the site.
    pub original: [u8; 5],
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FtraceError {
    #[error("cannot read the kernel ELF {0}")]
    Elf(String),
    #[error(
        "the kernel has no patchable function entries (built without -Z patchable-function-entry)"
    )]
    NoSites,
    #[error("the kernel has no function-tracer trampoline `{0}`")]
    NoTrampoline(&'static str),
    #[error("{0}")]
    Stop(#[from] StopTimeout),
    #[error("guest text at {addr:#x} ({name}) is not what the host expects: {found:02x?}")]
    UnexpectedText {
        addr: u64,
        name: String,
        found: [u8; 5],
    },
    #[error("guest memory at {0:#x} is not accessible")]
    Memory(u64),
}

/// The kernel's patchable functions and trampolines, read from its ELF.
#[derive(Debug, Default)]
pub struct KernelText {
    sites: Vec<FunctionSite>,
    /// The functions' arguments and the kernel's types, from DWARF (empty without it).
    debug: super::dwarf::KernelDebug,
    by_name: HashMap<String, Vec<usize>>,
    by_addr: HashMap<u64, usize>,
    trampolines: HashMap<Hook, u64>,
}

/// The name a probe uses for a demangled path: its last segment without generic arguments
/// (`<kernel::fs::pipe::Pipe as kernel::fs::File>::read` → `read`). `None` for closures and
/// compiler shims, which have no name of their own.
pub fn short_name(path: &str) -> Option<&str> {
    let mut depth = 0i32;
    let mut start = 0;
    let bytes = path.as_bytes();
    let mut segments = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'<' => depth += 1,
            b'>' => depth -= 1,
            b':' if depth == 0 && bytes.get(i + 1) == Some(&b':') => {
                segments.push(&path[start..i]);
                start = i + 2;
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    segments.push(&path[start..]);
    // A trailing `::<T>` is the generic arguments of the segment before it.
    let last = segments
        .iter()
        .rev()
        .find(|s| !s.starts_with('<') || segments.len() == 1)?;
    let name = last.split('<').next().unwrap_or(last);
    let named = !name.is_empty()
        && !name.starts_with('{')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    named.then_some(name)
}

fn elf_error(e: impl std::fmt::Display) -> FtraceError {
    FtraceError::Elf(e.to_string())
}

impl KernelText {
    pub fn from_elf(path: &Path) -> Result<KernelText, FtraceError> {
        let data =
            std::fs::read(path).map_err(|e| elf_error(format!("{}: {e}", path.display())))?;
        Self::parse(&data)
    }

    pub fn parse(data: &[u8]) -> Result<KernelText, FtraceError> {
        let elf = ElfFile64::<object::Endianness>::parse(data).map_err(elf_error)?;
        let endian = elf.endian();
        let entries = elf
            .section_by_name("__patchable_function_entries")
            .ok_or(FtraceError::NoSites)?
            .data()
            .map_err(elf_error)?;
        let mut names: HashMap<u64, String> = HashMap::new();
        let mut trampolines = HashMap::new();
        for s in elf.symbols() {
            let Ok(raw) = s.name() else { continue };
            for hook in [Hook::Entry, Hook::Return, Hook::Both] {
                if raw == hook.trampoline_symbol() {
                    trampolines.insert(hook, s.address());
                }
            }
            if s.kind() == SymbolKind::Text && s.address() != 0 {
                names.entry(s.address()).or_insert_with(|| demangle(raw));
            }
        }
        for hook in [Hook::Entry, Hook::Return, Hook::Both] {
            if !trampolines.contains_key(&hook) {
                return Err(FtraceError::NoTrampoline(hook.trampoline_symbol()));
            }
        }
        // Virtual to physical and to file bytes, through the loadable segments.
        let segments: Vec<(u64, u64, u64, &[u8])> = elf
            .elf_program_headers()
            .iter()
            .filter(|p| p.p_type(endian) == PT_LOAD)
            .filter_map(|p| {
                let bytes = p.data(endian, data).ok()?;
                Some((
                    p.p_vaddr(endian),
                    p.p_paddr(endian),
                    p.p_filesz(endian),
                    bytes,
                ))
            })
            .collect();
        let locate = |addr: u64| {
            segments.iter().find_map(|&(vaddr, paddr, filesz, bytes)| {
                let off = addr.checked_sub(vaddr)?;
                let original: [u8; 5] = bytes
                    .get(off as usize..(off + 5) as usize)
                    .filter(|_| off + 5 <= filesz)?
                    .try_into()
                    .ok()?;
                Some((paddr + off, original))
            })
        };
        let mut text = KernelText {
            trampolines,
            // A kernel without DWARF still offers its functions, with arg0..arg5 only.
            debug: super::dwarf::KernelDebug::parse(data).unwrap_or_default(),
            ..KernelText::default()
        };
        for chunk in entries.chunks_exact(8) {
            let addr = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            let Some(path) = names.get(&addr) else {
                continue;
            };
            let own = |p: &str| {
                path.starts_with(p) || path.strip_prefix('<').is_some_and(|r| r.starts_with(p))
            };
            if NOTRACE.iter().any(|p| own(p)) {
                continue;
            }
            let Some(name) = short_name(path) else {
                continue;
            };
            let Some((gpa, original)) = locate(addr) else {
                continue;
            };
            if !NOPS.contains(&original) || text.by_addr.contains_key(&addr) {
                continue;
            }
            let index = text.sites.len();
            text.by_name
                .entry(name.to_string())
                .or_default()
                .push(index);
            text.by_addr.insert(addr, index);
            text.sites.push(FunctionSite {
                addr,
                gpa,
                name: name.to_string(),
                path: path.clone(),
                original,
            });
        }
        if text.sites.is_empty() {
            return Err(FtraceError::NoSites);
        }
        Ok(text)
    }

    pub fn debug(&self) -> &super::dwarf::KernelDebug {
        &self.debug
    }

    /// Every probe-able function name, sorted, each once.
    pub fn function_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// The sites of every function called `name`.
    pub fn sites_named(&self, name: &str) -> impl Iterator<Item = &FunctionSite> {
        self.by_name
            .get(name)
            .into_iter()
            .flatten()
            .map(|&i| &self.sites[i])
    }

    pub fn site_at(&self, addr: u64) -> Option<&FunctionSite> {
        self.by_addr.get(&addr).map(|&i| &self.sites[i])
    }

    pub fn sites(&self) -> &[FunctionSite] {
        &self.sites
    }

    /// The bytes that make `site` call the trampoline of `hook`.
    pub fn call_bytes(&self, site: &FunctionSite, hook: Hook) -> [u8; 5] {
        let target = self.trampolines[&hook];
        let rel = target.wrapping_sub(site.addr + 5) as i64 as i32;
        let r = rel.to_le_bytes();
        [CALL_REL32, r[0], r[1], r[2], r[3]]
    }

    /// Whether `bytes` is one of our calls (any trampoline) from `site`.
    fn is_our_call(&self, site: &FunctionSite, bytes: [u8; 5]) -> bool {
        [Hook::Entry, Hook::Return, Hook::Both]
            .into_iter()
            .any(|h| self.call_bytes(site, h) == bytes)
    }
}

impl TraceChannel {
    /// Makes exactly the `wanted` sites (by address) call their trampolines, and restores every
    /// other site this channel patched, all while the vCPUs are stopped. Every site is checked
    /// first: the guest's bytes must be the ELF's NOP or one of our calls.
    pub fn patch_functions(
        &self,
        text: &KernelText,
        wanted: &BTreeMap<u64, Hook>,
    ) -> Result<(), FtraceError> {
        let mut patched = crate::devices::lock(&self.patched);
        let mut writes: Vec<(&FunctionSite, [u8; 5])> = Vec::new();
        for (&addr, &hook) in wanted {
            if let Some(site) = text.site_at(addr) {
                writes.push((site, text.call_bytes(site, hook)));
            }
        }
        for addr in patched.keys().filter(|a| !wanted.contains_key(a)) {
            if let Some(site) = text.site_at(*addr) {
                writes.push((site, site.original));
            }
        }
        self.stop_machine.run(|| {
            for &(site, _) in &writes {
                let found = self.read_text(site.gpa)?;
                if found != site.original && !text.is_our_call(site, found) {
                    return Err(FtraceError::UnexpectedText {
                        addr: site.addr,
                        name: site.path.clone(),
                        found,
                    });
                }
            }
            for &(site, bytes) in &writes {
                self.mem
                    .write_slice(&bytes, GuestAddress(site.gpa))
                    .map_err(|_| FtraceError::Memory(site.gpa))?;
            }
            Ok(())
        })??;
        patched.clear();
        patched.extend(wanted.iter().map(|(&a, &h)| (a, h)));
        Ok(())
    }

    /// Restores every site this channel patched to the ELF's bytes.
    pub fn unpatch_functions(&self, text: &KernelText) -> Result<(), FtraceError> {
        self.patch_functions(text, &BTreeMap::new())
    }

    /// The sites currently patched, and how.
    pub fn patched_functions(&self) -> BTreeMap<u64, Hook> {
        crate::devices::lock(&self.patched).clone()
    }

    fn read_text(&self, gpa: u64) -> Result<[u8; 5], FtraceError> {
        let mut b = [0u8; 5];
        self.mem
            .read_slice(&mut b, GuestAddress(gpa))
            .map_err(|_| FtraceError::Memory(gpa))?;
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names() {
        assert_eq!(
            short_name("kernel::kernel::fork::copy_process"),
            Some("copy_process")
        );
        assert_eq!(
            short_name("<kernel::fs::pipe::Pipe as kernel::fs::File>::read"),
            Some("read")
        );
        assert_eq!(
            short_name("core::ptr::drop_in_place::<kernel::fs::Inode>"),
            Some("drop_in_place")
        );
        assert_eq!(short_name("kernel::sched::Foo<T>::bar"), Some("bar"));
        assert_eq!(short_name("kernel::init::start_kernel::{closure#0}"), None);
        assert_eq!(short_name("schedule"), Some("schedule"));
        assert_eq!(short_name(""), None);
    }

    #[test]
    fn a_call_reaches_its_trampoline() {
        let mut text = KernelText::default();
        for (i, hook) in [Hook::Entry, Hook::Return, Hook::Both]
            .into_iter()
            .enumerate()
        {
            text.trampolines
                .insert(hook, 0xffff_ffff_8010_a000 + 0x40 * i as u64);
        }
        let site = FunctionSite {
            addr: 0xffff_ffff_8014_0390,
            gpa: 0x14_0390,
            name: "copy_process".into(),
            path: "kernel::kernel::fork::copy_process".into(),
            original: NOPS[1],
        };
        let b = text.call_bytes(&site, Hook::Entry);
        assert_eq!(b[0], CALL_REL32);
        let rel = i32::from_le_bytes(b[1..].try_into().unwrap()) as i64;
        assert_eq!((site.addr as i64 + 5 + rel) as u64, 0xffff_ffff_8010_a000);
        assert!(text.is_our_call(&site, b));
        assert!(!text.is_our_call(&site, NOPS[1]));
    }

    #[test]
    fn garbage_is_not_a_kernel() {
        assert!(matches!(
            KernelText::parse(b"not an elf"),
            Err(FtraceError::Elf(_))
        ));
        // Our own test binary is an ELF without patch sites.
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(KernelText::parse(&exe).unwrap_err(), FtraceError::NoSites);
    }
}
