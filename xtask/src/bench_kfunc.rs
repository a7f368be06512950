//! What a `kfunc`/`kretfunc` hit costs the guest, in kernel instructions, counted from QEMU's
//! exec log as [`crate::bench_tracepoint`] counts tracepoint hits.
//!
//! Under QEMU there is no host to patch the function-entry NOPs, so the bench does what the
//! host would (`vmm`'s `KernelText::call_bytes`): it writes a copy of the kernel ELF whose
//! chosen NOPs call the entry trampoline (`kfunc:`) or the return-hooking one (`kretfunc:`),
//! and boots that copy with `trace_event=ftrace` (the function events on, rings allocated
//! without a host). The chosen functions run while the initramfs is unpacked, once the rings
//! exist.
//!
//! - A `kfunc` hit runs from the patched `call` through the trampoline and the handler back to
//!   the instruction after the call.
//! - A `kretfunc` hit is that entry half (the handler saves the return address and swaps it)
//!   plus the return half: from `return_to_handler` to its `jmp` back to the real caller.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use object::{Object, ObjectSegment, ObjectSymbol};
use vmm::trace::channel::ftrace::{FunctionSite, Hook, KernelText};

use crate::bench_insns::{each_instruction, BOOT_APPEND};

/// The probed functions, by short name and a piece of their path: the initramfs's unpacking
/// (`populate_rootfs`) calls them a few dozen times, after `trace_event=` allocated the rings.
const KFUNC: (&str, &str) = ("create", "kernel::fs::namei::Walker");
const KRETFUNC: (&str, &str) = ("parent", "kernel::fs::namei::Walker");
/// `jmp r11`, the last instruction of `return_to_handler`.
const JMP_R11: [u8; 3] = [0x41, 0xff, 0xe3];

/// Instructions of every hit of one probe kind.
#[derive(Debug, Default)]
pub struct Hits {
    pub per_hit: Vec<u64>,
}

impl Hits {
    pub fn mean(&self) -> f64 {
        self.per_hit.iter().sum::<u64>() as f64 / self.per_hit.len().max(1) as f64
    }

    /// The typical hit (the ring's fast path; a hit after a task change writes a TaskInfo).
    pub fn median(&self) -> u64 {
        let mut v = self.per_hit.clone();
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or(0)
    }
}

pub struct KfuncCost {
    pub kfunc: Hits,
    /// The entry halves and the return halves of the `kretfunc` hits, in order.
    pub kretfunc_entry: Hits,
    pub kretfunc_return: Hits,
}

/// The site of the one function called `name` whose path contains `module`.
fn site<'a>(text: &'a KernelText, (name, module): (&str, &str)) -> Result<&'a FunctionSite> {
    let mut found = text.sites_named(name).filter(|s| s.path.contains(module));
    let site = found
        .next()
        .with_context(|| format!("the kernel has no patchable {module}…::{name}"))?;
    if found.next().is_some() {
        bail!("more than one patchable {module}…::{name}");
    }
    Ok(site)
}

/// A copy of the kernel ELF with `patches` (address, bytes) written where the loadable
/// segments put those addresses.
fn patched_copy(kernel: &Path, patches: &[(u64, [u8; 5])]) -> Result<PathBuf> {
    let mut elf =
        std::fs::read(kernel).with_context(|| format!("cannot read {}", kernel.display()))?;
    let file = object::File::parse(&*elf).context("kernel is not a valid ELF file")?;
    let mut writes = Vec::new();
    for &(addr, bytes) in patches {
        let offset = file
            .segments()
            .find_map(|s| {
                let off = addr.checked_sub(s.address())?;
                let (start, size) = s.file_range();
                (off + 5 <= size).then_some(start + off)
            })
            .with_context(|| format!("{addr:#x} is in no loadable segment"))?;
        writes.push((offset as usize, bytes));
    }
    for (offset, bytes) in writes {
        elf[offset..offset + 5].copy_from_slice(&bytes);
    }
    let out = kernel.with_extension("kfunc-bench");
    std::fs::write(&out, &elf).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(out)
}

pub fn measure(kernel: &Path, initrd: &Path) -> Result<KfuncCost> {
    let text = KernelText::from_elf(kernel).map_err(|e| anyhow::anyhow!("{e}"))?;
    let entry = site(&text, KFUNC)?;
    let ret = site(&text, KRETFUNC)?;
    let copy = patched_copy(
        kernel,
        &[
            (entry.addr, text.call_bytes(entry, Hook::Entry)),
            (ret.addr, text.call_bytes(ret, Hook::Return)),
        ],
    )?;
    let elf = std::fs::read(&copy)?;
    let file = object::File::parse(&*elf).context("kernel is not a valid ELF file")?;
    let segments: Vec<(u64, Vec<u8>)> = file
        .segments()
        .filter_map(|s| Some((s.address(), s.data().ok()?.to_vec())))
        .collect();
    let bytes_at = |addr: u64, n: usize| {
        segments.iter().find_map(|(start, data)| {
            let off = usize::try_from(addr.checked_sub(*start)?).ok()?;
            data.get(off..off.checked_add(n)?)
        })
    };
    let handler = file
        .symbols()
        .find(|s| s.name() == Ok("return_to_handler"))
        .context("the kernel has no return_to_handler")?
        .address();
    let jmp = (handler..handler + 64)
        .find(|&a| bytes_at(a, 3) == Some(&JMP_R11[..]))
        .context("return_to_handler has no `jmp r11`")?;

    let mut cost = KfuncCost {
        kfunc: Hits::default(),
        kretfunc_entry: Hits::default(),
        kretfunc_return: Hits::default(),
    };
    // The hit being counted: where it ends (the instruction after the call, or the one after
    // the `jmp`), its instructions so far, and which kind it is.
    let mut open: Option<(u64, u64, u8)> = None;
    let append = format!("{BOOT_APPEND} trace_event=ftrace");
    each_instruction(
        &copy,
        initrd,
        &append,
        file.entry(),
        |pc| bytes_at(pc, 1).is_some(),
        |pc, prev| {
            if let Some((end, n, kind)) = open.as_mut() {
                let done = if *kind == 2 { prev == jmp } else { pc == *end };
                if !done {
                    *n += 1;
                    return;
                }
                let hits = match kind {
                    0 => &mut cost.kfunc,
                    1 => &mut cost.kretfunc_entry,
                    _ => &mut cost.kretfunc_return,
                };
                hits.per_hit.push(*n);
            }
            open = if pc == entry.addr {
                Some((pc + 5, 1, 0))
            } else if pc == ret.addr {
                Some((pc + 5, 1, 1))
            } else if pc == handler {
                Some((0, 1, 2))
            } else {
                None
            };
        },
    )?;
    let _ = std::fs::remove_file(&copy);
    if cost.kfunc.per_hit.is_empty() || cost.kretfunc_return.per_hit.is_empty() {
        bail!("the patched kernel never hit its probes (are the function events on?)");
    }
    Ok(cost)
}

/// The bench's lines.
pub fn print(cost: &KfuncCost) {
    let (e, r) = (&cost.kretfunc_entry, &cost.kretfunc_return);
    println!();
    println!(
        "kfunc/kretfunc cost in kernel instructions (QEMU TCG, 1 CPU, NOPs patched into a copy of \
         the kernel as the host patches them):"
    );
    println!(
        "  kfunc:{}: {} per hit typical, {:.1} on average over {} hits (call, trampoline, \
         handler, ring write, return)",
        KFUNC.0,
        cost.kfunc.median(),
        cost.kfunc.mean(),
        cost.kfunc.per_hit.len()
    );
    println!(
        "  kretfunc:{}: {} per hit typical, {:.1} on average over {} hits (entry {} + return {})",
        KRETFUNC.0,
        e.median() + r.median(),
        e.mean() + r.mean(),
        r.per_hit.len(),
        e.median(),
        r.median()
    );
}
