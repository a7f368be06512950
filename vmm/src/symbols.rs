//! Kernel symbols, to name the function a crashing RIP falls in.
//!
//! Loaded from the kernel ELF's `.symtab` (through `object`, reading only the sections it
//! needs) on the crash path only; the lookup itself is a pure binary search over symbols
//! sorted by address. Rust's legacy mangling (`_ZN...17h<hash>E`) is turned into a path.

use std::fs::File;
use std::path::Path;

use object::{
    Object, ObjectSection, ObjectSymbol, ReadCache, SectionKind, SymbolKind, SymbolSection,
};

/// A function symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    pub addr: u64,
    pub size: u64,
    pub name: String,
}

/// Function symbols sorted by address.
#[derive(Debug, Default)]
pub struct SymbolTable {
    symbols: Vec<Symbol>,
}

impl SymbolTable {
    /// Builds a table from symbols in any order.
    pub fn new(mut symbols: Vec<Symbol>) -> Self {
        symbols.sort_by_key(|s| s.addr);
        SymbolTable { symbols }
    }

    /// Reads the function symbols of an ELF file; `None` if it has none or can't be read.
    pub fn from_elf(path: &Path) -> Option<Self> {
        let file = File::open(path).ok()?;
        let cache = ReadCache::new(file);
        let elf = object::File::parse(&cache).ok()?;
        let in_code = |s: &object::Symbol<'_, '_, _>| match s.section() {
            SymbolSection::Section(index) => elf
                .section_by_index(index)
                .is_ok_and(|sec| sec.kind() == SectionKind::Text),
            _ => false,
        };
        let symbols: Vec<Symbol> = elf
            .symbols()
            .filter(|s| {
                // Functions, and untyped labels in code (assembly entry points).
                let code =
                    s.kind() == SymbolKind::Text || (s.kind() == SymbolKind::Unknown && in_code(s));
                code && s.address() != 0
            })
            .filter_map(|s| {
                Some(Symbol {
                    addr: s.address(),
                    size: s.size(),
                    name: demangle(s.name().ok()?),
                })
            })
            .collect();
        (!symbols.is_empty()).then(|| SymbolTable::new(symbols))
    }

    /// The symbol `addr` falls in and the offset into it.
    pub fn lookup(&self, addr: u64) -> Option<(&Symbol, u64)> {
        lookup(&self.symbols, addr)
    }
}

/// `ksym()` and `kstack` names for `vmm trace`.
impl crate::trace::Symbolizer for std::sync::Arc<SymbolTable> {
    fn ksym(&self, addr: u64) -> Option<(String, u64)> {
        self.lookup(addr).map(|(s, off)| (s.name.clone(), off))
    }
}

/// How far past an label symbol (an assembly label) an address may still be attributed to it.
const UNSIZED_REACH: u64 = 0x10000;

/// The symbol containing `addr` in `sorted` (by address): the last one starting at or below
/// `addr`, if `addr` is inside its size. A symbol of size 0 (an assembly label) extends to the
/// next symbol, at most [`UNSIZED_REACH`] bytes.
pub fn lookup(sorted: &[Symbol], addr: u64) -> Option<(&Symbol, u64)> {
    let idx = sorted.partition_point(|s| s.addr <= addr).checked_sub(1)?;
    let start = sorted[idx].addr;
    let next = sorted.get(idx + 1).map_or(u64::MAX, |s| s.addr);
    let off = addr - start;
    let same_start = sorted[..=idx].iter().rev().take_while(|s| s.addr == start);
    let mut label = None;
    for s in same_start {
        if s.size == 0 {
            label = label.or(Some(s));
        } else if off < s.size {
            return Some((s, off));
        }
    }
    let s = label?;
    (addr < next && off < UNSIZED_REACH).then_some((s, off))
}

/// Demangles Rust symbols, legacy (`_ZN4core3fmt5write17h0123456789abcdefE`) and v0
/// (`_RNvNtCs..._6kernel4fork12copy_process`), without the hash: `core::fmt::write`. Other names
/// are returned unchanged.
pub fn demangle(name: &str) -> String {
    format!("{:#}", rustc_demangle::demangle(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(addr: u64, size: u64, name: &str) -> Symbol {
        Symbol {
            addr,
            size,
            name: name.into(),
        }
    }

    #[test]
    fn lookups() {
        let table = SymbolTable::new(vec![
            sym(0x2000, 0x100, "schedule"),
            sym(0x1000, 0x80, "kernel_main"),
            sym(0x3000, 0, "marker"),
            sym(0x2000, 0, "schedule_alias"),
        ]);
        assert_eq!(table.lookup(0xfff), None);
        let (s, off) = table.lookup(0x1010).unwrap();
        assert_eq!((s.name.as_str(), off), ("kernel_main", 0x10));
        assert_eq!(table.lookup(0x1080), None);
        let (s, off) = table.lookup(0x20ff).unwrap();
        assert_eq!((s.name.as_str(), off), ("schedule", 0xff));
        // Unsized labels reach to the next symbol, within limits.
        assert_eq!(table.lookup(0x3000).unwrap().0.name, "marker");
        assert_eq!(
            table.lookup(0x3001).unwrap(),
            (&sym(0x3000, 0, "marker"), 1)
        );
        assert_eq!(table.lookup(0x3000 + UNSIZED_REACH), None);
        assert_eq!(table.lookup(u64::MAX), None);
        let (s, off) = table.lookup(0x2100).unwrap();
        assert_eq!((s.name.as_str(), off), ("schedule_alias", 0x100));
        assert_eq!(table.lookup(0x2fff).unwrap().0.name, "schedule_alias");
    }

    #[test]
    fn demangling() {
        assert_eq!(
            demangle("_ZN4core3fmt5write17h0123456789abcdefE"),
            "core::fmt::write"
        );
        assert_eq!(
            demangle("_ZN6kernel5sched8schedule17h0123456789abcdefE"),
            "kernel::sched::schedule"
        );
        assert_eq!(
            demangle("_RNvNtNtCs5z60GuxycJv_6kernel6kernel4fork12copy_process.llvm.1066416827"),
            "kernel::kernel::fork::copy_process"
        );
        assert_eq!(demangle("copy_process"), "copy_process");
    }

    #[test]
    fn reads_our_own_symbols() {
        let exe = std::env::current_exe().unwrap();
        let table = SymbolTable::from_elf(&exe).unwrap();
        assert!(!table.symbols.is_empty());
    }
}
