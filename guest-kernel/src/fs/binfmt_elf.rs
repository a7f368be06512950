//! Reading static ELF64 executables (Linux's fs/binfmt_elf.c, without the interpreter).
//!
//! `parse` checks the headers and returns the load plan: the segments to map and where the
//! program starts. ET_EXEC loads at its addresses; ET_DYN (static-pie) gets a load bias.
//! Everything here is pure and tested on the host; `exec.rs` carries the plan out.

use alloc::vec::Vec;

use crate::kernel::errno::*;

pub const PT_LOAD: u32 = 1;
pub const PT_INTERP: u32 = 3;
pub const PT_PHDR: u32 = 6;
pub const PT_GNU_STACK: u32 = 0x6474_e551;
pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
pub const PF_R: u32 = 4;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const EM_X86_64: u16 = 62;
/// Where static-pie executables are placed (Linux's ELF_ET_DYN_BASE is 2/3 of TASK_SIZE;
/// a low fixed base keeps addresses readable).
pub const ET_DYN_BASE: u64 = 0x5555_5555_4000;
pub const USER_LIMIT: u64 = 0x0000_7fff_ffff_f000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: u64,
    pub memsz: u64,
    pub offset: u64,
    pub filesz: u64,
    pub flags: u32,
}

#[derive(Debug, PartialEq, Eq)]
pub struct LoadPlan {
    pub entry: u64,
    pub bias: u64,
    pub segments: Vec<Segment>,
    /// Address of the program headers in the loaded image (AT_PHDR).
    pub phdr: u64,
    pub phnum: u64,
    pub phent: u64,
    /// Highest address the image uses: the initial program break goes above it.
    pub end: u64,
    /// PT_GNU_STACK asks for an executable stack (PF_X). Without PT_GNU_STACK the stack is
    /// not executable either, as on x86_64 Linux.
    pub executable_stack: bool,
}

fn u16_at(b: &[u8], off: usize) -> KResult<u16> {
    Ok(u16::from_le_bytes(
        b.get(off..off + 2).ok_or(ENOEXEC)?.try_into().unwrap(),
    ))
}
fn u32_at(b: &[u8], off: usize) -> KResult<u32> {
    Ok(u32::from_le_bytes(
        b.get(off..off + 4).ok_or(ENOEXEC)?.try_into().unwrap(),
    ))
}
fn u64_at(b: &[u8], off: usize) -> KResult<u64> {
    Ok(u64::from_le_bytes(
        b.get(off..off + 8).ok_or(ENOEXEC)?.try_into().unwrap(),
    ))
}

pub fn is_elf(image: &[u8]) -> bool {
    image.starts_with(b"\x7fELF")
}

/// Parse a whole file's bytes.
#[cfg(test)]
pub fn parse(image: &[u8]) -> KResult<LoadPlan> {
    parse_headers(image, image.len() as u64)
}

/// Where the program headers end (what exec reads of the file), if `head` has the ELF header.
pub fn headers_end(head: &[u8]) -> Option<usize> {
    let phoff = usize::try_from(u64_at(head, 32).ok()?).ok()?;
    let phent = u16_at(head, 54).ok()? as usize;
    let phnum = u16_at(head, 56).ok()? as usize;
    phoff.checked_add(phent * phnum)
}

/// The load plan from the start of a file of `file_size` bytes (`head`: its headers).
pub fn parse_headers(image: &[u8], file_size: u64) -> KResult<LoadPlan> {
    if !is_elf(image) || image.len() < 64 || image[4] != 2 || image[5] != 1 {
        return Err(ENOEXEC);
    }
    let kind = u16_at(image, 16)?;
    if u16_at(image, 18)? != EM_X86_64 || (kind != ET_EXEC && kind != ET_DYN) {
        return Err(ENOEXEC);
    }
    let entry = u64_at(image, 24)?;
    let phoff = u64_at(image, 32)? as usize;
    let phent = u16_at(image, 54)? as usize;
    let phnum = u16_at(image, 56)? as usize;
    if phent < 56 || phnum == 0 || phnum > 64 {
        return Err(ENOEXEC);
    }
    let bias = if kind == ET_DYN { ET_DYN_BASE } else { 0 };
    let mut segments = Vec::new();
    let mut phdr = None;
    let mut first_load_offset_vaddr = None;
    let mut executable_stack = false;
    for i in 0..phnum {
        let ph = phoff.checked_add(i * phent).ok_or(ENOEXEC)?;
        let p_type = u32_at(image, ph)?;
        let flags = u32_at(image, ph + 4)?;
        let offset = u64_at(image, ph + 8)?;
        let vaddr = u64_at(image, ph + 16)?;
        let filesz = u64_at(image, ph + 32)?;
        let memsz = u64_at(image, ph + 40)?;
        match p_type {
            PT_INTERP => return Err(ENOEXEC), // dynamic linking is not supported
            PT_PHDR => phdr = Some(vaddr + bias),
            PT_GNU_STACK => executable_stack = flags & PF_X != 0,
            PT_LOAD => {
                let end = vaddr
                    .checked_add(memsz)
                    .and_then(|e| e.checked_add(bias))
                    .ok_or(ENOEXEC)?;
                let file_end = offset.checked_add(filesz).ok_or(ENOEXEC)?;
                if filesz > memsz || file_end > file_size || end > USER_LIMIT {
                    return Err(ENOEXEC);
                }
                if vaddr % 4096 != offset % 4096 {
                    return Err(ENOEXEC);
                }
                first_load_offset_vaddr.get_or_insert((offset, vaddr));
                segments.push(Segment {
                    vaddr: vaddr + bias,
                    memsz,
                    offset,
                    filesz,
                    flags,
                });
            }
            _ => {}
        }
    }
    if segments.is_empty() {
        return Err(ENOEXEC);
    }
    // Without PT_PHDR, the headers are found in the first segment if it maps the file start.
    let phdr = match phdr {
        Some(p) => p,
        None => {
            let (off, vaddr) = first_load_offset_vaddr.unwrap();
            vaddr + bias + phoff as u64 - off
        }
    };
    let end = segments.iter().map(|s| s.vaddr + s.memsz).max().unwrap();
    Ok(LoadPlan {
        entry: entry + bias,
        bias,
        segments,
        phdr,
        phnum: phnum as u64,
        phent: phent as u64,
        end,
        executable_stack,
    })
}

pub const AT_NULL: u64 = 0;
pub const AT_PHDR: u64 = 3;
pub const AT_PHENT: u64 = 4;
pub const AT_PHNUM: u64 = 5;
pub const AT_PAGESZ: u64 = 6;
pub const AT_BASE: u64 = 7;
pub const AT_FLAGS: u64 = 8;
pub const AT_ENTRY: u64 = 9;
pub const AT_UID: u64 = 11;
pub const AT_EUID: u64 = 12;
pub const AT_GID: u64 = 13;
pub const AT_EGID: u64 = 14;
pub const AT_HWCAP: u64 = 16;
pub const AT_CLKTCK: u64 = 17;
pub const AT_SECURE: u64 = 23;
pub const AT_RANDOM: u64 = 25;
pub const AT_EXECFN: u64 = 31;

/// The initial user stack image (System V x86_64 ABI §3.4.1), built for a stack whose top is
/// `top`: returns the bytes to place so that they end at `top`, and the initial `%rsp`.
pub fn build_stack(
    top: u64,
    argv: &[&[u8]],
    envp: &[&[u8]],
    auxv: &[(u64, u64)],
    random: [u8; 16],
) -> (Vec<u8>, u64) {
    // Strings area, placed just below `top`: AT_RANDOM bytes, execfn, argv and envp strings.
    let mut strings = Vec::new();
    let mut string_offsets = Vec::new();
    for s in argv.iter().chain(envp) {
        string_offsets.push(strings.len());
        strings.extend_from_slice(s);
        strings.push(0);
    }
    let random_off = strings.len();
    strings.extend_from_slice(&random);
    let strings_base = (top - strings.len() as u64) & !0xf;
    let addr = |off: usize| strings_base + off as u64;

    let mut words: Vec<u64> = Vec::new();
    words.push(argv.len() as u64);
    words.extend((0..argv.len()).map(|i| addr(string_offsets[i])));
    words.push(0);
    words.extend((0..envp.len()).map(|i| addr(string_offsets[argv.len() + i])));
    words.push(0);
    for &(k, v) in auxv {
        words.push(k);
        words.push(v);
    }
    words.push(AT_RANDOM);
    words.push(addr(random_off));
    if let Some(&first) = string_offsets.first() {
        words.push(AT_EXECFN);
        words.push(addr(first));
    }
    words.push(AT_NULL);
    words.push(0);
    // %rsp must be 16-byte aligned at process entry, pointing at argc.
    let rsp = (strings_base - words.len() as u64 * 8) & !0xf;
    let mut image = Vec::with_capacity((top - rsp) as usize);
    for w in &words {
        image.extend_from_slice(&w.to_le_bytes());
    }
    image.resize((strings_base - rsp) as usize, 0);
    image.extend_from_slice(&strings);
    image.resize((top - rsp) as usize, 0);
    (image, rsp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(kind: u16, phdrs: &[(u32, u32, u64, u64, u64, u64)]) -> Vec<u8> {
        let mut b = vec![0u8; 64 + 56 * phdrs.len()];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[16..18].copy_from_slice(&kind.to_le_bytes());
        b[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
        b[24..32].copy_from_slice(&0x401000u64.to_le_bytes());
        b[32..40].copy_from_slice(&64u64.to_le_bytes());
        b[54..56].copy_from_slice(&56u16.to_le_bytes());
        b[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
        for (i, &(t, f, off, va, fsz, msz)) in phdrs.iter().enumerate() {
            let p = 64 + i * 56;
            b[p..p + 4].copy_from_slice(&t.to_le_bytes());
            b[p + 4..p + 8].copy_from_slice(&f.to_le_bytes());
            b[p + 8..p + 16].copy_from_slice(&off.to_le_bytes());
            b[p + 16..p + 24].copy_from_slice(&va.to_le_bytes());
            b[p + 32..p + 40].copy_from_slice(&fsz.to_le_bytes());
            b[p + 40..p + 48].copy_from_slice(&msz.to_le_bytes());
        }
        b.resize(0x2000, 0);
        b
    }

    #[test]
    fn static_executable_loads_at_its_addresses() {
        let image = elf(
            ET_EXEC,
            &[
                (PT_LOAD, PF_R | PF_X, 0, 0x400000, 0x1000, 0x1000),
                (PT_LOAD, PF_R | PF_W, 0x1000, 0x601000, 0x100, 0x3000),
            ],
        );
        let plan = parse(&image).unwrap();
        assert_eq!(plan.entry, 0x401000);
        assert_eq!(plan.bias, 0);
        assert_eq!(plan.phdr, 0x400040);
        assert_eq!(plan.end, 0x604000);
        assert_eq!(plan.segments.len(), 2);
        assert!(!plan.executable_stack);
    }

    #[test]
    fn pt_gnu_stack_decides_whether_the_stack_is_executable() {
        let with = |flags| {
            let load = (PT_LOAD, PF_R | PF_X, 0, 0x400000, 0x1000, 0x1000);
            parse(&elf(ET_EXEC, &[load, (PT_GNU_STACK, flags, 0, 0, 0, 0)]))
                .unwrap()
                .executable_stack
        };
        assert!(!with(PF_R | PF_W));
        assert!(with(PF_R | PF_W | PF_X));
    }

    #[test]
    fn static_pie_gets_a_load_bias() {
        let image = elf(
            ET_DYN,
            &[
                (PT_PHDR, PF_R, 64, 64, 112, 112),
                (PT_LOAD, PF_R | PF_X, 0, 0, 0x1000, 0x1000),
            ],
        );
        let plan = parse(&image).unwrap();
        assert_eq!(plan.entry, ET_DYN_BASE + 0x401000);
        assert_eq!(plan.phdr, ET_DYN_BASE + 64);
    }

    #[test]
    fn hostile_headers_are_rejected() {
        assert_eq!(parse(b"#!/bin/sh\n"), Err(ENOEXEC));
        assert_eq!(
            parse(&elf(
                ET_EXEC,
                &[(PT_LOAD, PF_R, 0, 0x400000, 0x9999, 0x1000)]
            )),
            Err(ENOEXEC)
        );
        assert_eq!(
            parse(&elf(
                ET_EXEC,
                &[(PT_LOAD, PF_R, 0x1000000, 0x400000, 0x10, 0x1000)]
            )),
            Err(ENOEXEC)
        );
        assert_eq!(
            parse(&elf(
                ET_EXEC,
                &[(PT_LOAD, PF_R, 0, u64::MAX - 10, 0, 0x1000)]
            )),
            Err(ENOEXEC)
        );
        assert_eq!(
            parse(&elf(ET_EXEC, &[(PT_INTERP, PF_R, 0, 0, 0, 0)])),
            Err(ENOEXEC)
        );
        assert_eq!(parse(&elf(ET_EXEC, &[])), Err(ENOEXEC));
        let mut truncated = elf(ET_EXEC, &[(PT_LOAD, PF_R, 0, 0x400000, 0x10, 0x10)]);
        truncated.truncate(80);
        assert_eq!(parse(&truncated), Err(ENOEXEC));
    }

    #[test]
    fn initial_stack_layout() {
        let top = 0x7fff_0000_0000u64;
        let (image, rsp) = build_stack(
            top,
            &[b"/sbin/init", b"x"],
            &[b"HOME=/"],
            &[(AT_PAGESZ, 4096)],
            [7; 16],
        );
        assert_eq!(rsp % 16, 0);
        assert_eq!(rsp + image.len() as u64, top);
        let word = |i: usize| u64::from_le_bytes(image[i * 8..i * 8 + 8].try_into().unwrap());
        let string_at = |addr: u64| {
            let off = (addr - rsp) as usize;
            let end = image[off..].iter().position(|&b| b == 0).unwrap();
            std::str::from_utf8(&image[off..off + end])
                .unwrap()
                .to_string()
        };
        assert_eq!(word(0), 2);
        assert_eq!(string_at(word(1)), "/sbin/init");
        assert_eq!(string_at(word(2)), "x");
        assert_eq!(word(3), 0);
        assert_eq!(string_at(word(4)), "HOME=/");
        assert_eq!(word(5), 0);
        assert_eq!((word(6), word(7)), (AT_PAGESZ, 4096));
        assert_eq!(word(8), AT_RANDOM);
        let random = (word(9) - rsp) as usize;
        assert_eq!(&image[random..random + 16], &[7; 16]);
        assert_eq!(word(10), AT_EXECFN);
        assert_eq!((word(12), word(13)), (AT_NULL, 0));
    }
}
