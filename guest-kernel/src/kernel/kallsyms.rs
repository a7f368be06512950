//! Kernel symbol lookup for backtraces (Linux's kallsyms).
//!
//! The kernel reserves [`KALLSYMS_SIZE`] bytes in `.kallsyms`; after linking, xtask writes a
//! table of every function's (address, name) into that space in the ELF file, so nothing
//! moves. Format: u64 count, then `count` sorted u64 addresses, then `count` u32 offsets into
//! the NUL-separated name blob that follows. A zero count means no table.

pub const KALLSYMS_SIZE: usize = 512 * 1024;

#[used]
#[link_section = ".kallsyms"]
static KALLSYMS: [u8; KALLSYMS_SIZE] = [0; KALLSYMS_SIZE];

extern "C" {
    static __kallsyms_start: u8;
    static __kallsyms_end: u8;
}

fn table() -> &'static [u8] {
    // SAFETY: the linker script defines both symbols around the (possibly empty) table.
    unsafe {
        let start = core::ptr::addr_of!(__kallsyms_start);
        let end = core::ptr::addr_of!(__kallsyms_end);
        core::slice::from_raw_parts(start, end as usize - start as usize)
    }
}

pub struct Symbol {
    pub name: &'static str,
    pub offset: u64,
}

pub fn lookup(addr: u64) -> Option<Symbol> {
    let t = table();
    let word = |i: usize| {
        t.get(i * 8..i * 8 + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
    };
    let count = word(0)? as usize;
    if count == 0 || t.len() < 8 + count * 12 {
        return None;
    }
    // Binary search for the last address <= addr.
    let (mut lo, mut hi) = (0usize, count);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if word(1 + mid)? <= addr {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let start = word(1 + lo)?;
    if start > addr {
        return None;
    }
    let offs = 8 + count * 8;
    let name_off =
        u32::from_le_bytes(t.get(offs + lo * 4..offs + lo * 4 + 4)?.try_into().ok()?) as usize;
    let names = &t[offs + count * 4..];
    let rest = names.get(name_off..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    Some(Symbol {
        name: core::str::from_utf8(&rest[..end]).ok()?,
        offset: addr - start,
    })
}

/// `name+0x12` for an address, or `?` when unknown.
pub fn describe(addr: u64) -> DisplaySym {
    DisplaySym(lookup(addr))
}

/// `describe` for a return address (Linux's `%pB`): named after the call before it, which
/// may be the last instruction of its function when the callee never returns.
pub fn describe_return(addr: u64) -> DisplaySym {
    DisplaySym(lookup(addr.wrapping_sub(1)).map(|mut s| {
        s.offset += 1;
        s
    }))
}

pub struct DisplaySym(Option<Symbol>);

impl core::fmt::Display for DisplaySym {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match &self.0 {
            Some(s) => write!(f, "{}+{:#x}", s.name, s.offset),
            None => write!(f, "?"),
        }
    }
}
