//! Embeds the kernel's function symbols into its reserved `.kallsyms` section, in place, so
//! backtraces print `function+0xoff` (format: see guest-kernel/src/kernel/kallsyms.rs).

use anyhow::{bail, Context, Result};
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};

/// Build the table for an ELF image.
pub fn table(elf: &[u8], capacity: usize) -> Result<Vec<u8>> {
    let file = object::File::parse(elf).context("kernel is not a valid ELF file")?;
    let mut syms: Vec<(u64, String)> = file
        .symbols()
        .filter(|s| s.kind() == SymbolKind::Text && s.address() >= 0xffff_ffff_8000_0000)
        .filter_map(|s| {
            Some((
                s.address(),
                format!("{:#}", rustc_demangle::demangle(s.name().ok()?)),
            ))
        })
        .collect();
    syms.sort();
    syms.dedup_by_key(|s| s.0);
    // Long generic names are cut: the prefix is what a reader needs in a backtrace.
    for s in syms.iter_mut() {
        if s.1.len() > 80 {
            let mut cut = 80;
            while !s.1.is_char_boundary(cut) {
                cut -= 1;
            }
            s.1.truncate(cut);
        }
    }
    let size = 8 + syms.len() * 12 + syms.iter().map(|s| s.1.len() + 1).sum::<usize>();
    if size > capacity {
        bail!(
            "kallsyms: {} symbols need {size} bytes, only {capacity} reserved",
            syms.len()
        );
    }
    let mut out = Vec::new();
    out.extend_from_slice(&(syms.len() as u64).to_le_bytes());
    for (addr, _) in &syms {
        out.extend_from_slice(&addr.to_le_bytes());
    }
    let mut names = Vec::new();
    for (_, name) in &syms {
        out.extend_from_slice(&(names.len() as u32).to_le_bytes());
        names.extend_from_slice(name.as_bytes());
        names.push(0);
    }
    out.extend_from_slice(&names);
    Ok(out)
}

/// Write the table into the `.kallsyms` section of `elf` (same size: nothing moves).
pub fn embed(elf: &mut [u8]) -> Result<usize> {
    let (offset, size) = {
        let file = object::File::parse(&*elf).context("kernel is not a valid ELF file")?;
        let section = file
            .section_by_name(".kallsyms")
            .context("kernel has no .kallsyms section")?;
        let (offset, size) = section.file_range().context(".kallsyms has no file data")?;
        (offset as usize, size as usize)
    };
    let table = table(elf, size)?;
    elf[offset..offset + table.len()].copy_from_slice(&table);
    Ok(table.len())
}
