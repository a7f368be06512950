//! What a tracepoint costs the guest, in kernel instructions, counted from QEMU's exec log as
//! `bench_insns` counts the boot path.
//!
//! - **Disabled:** every site is `cmpb $0, CONTROL+id(%rip)` and a conditional jump. The bench
//!   finds the sites in the kernel's text (the `cmpb` against the control page and the `jcc`
//!   after it), checks that every one has that shape, and counts how often the boot path
//!   passes them.
//! - **Enabled:** the boot runs with `trace_event=` (all tracepoints on, rings allocated
//!   without a host). A hit runs from the site through the argument set-up to a direct call of
//!   the event's out-of-line `record` function, and on until that call returns (callees
//!   included); all of it is counted. A hit that enters the event's `record_slow` (the ring
//!   wants a `TaskInfo` record first because the CPU's task changed, or is at its wrap or full)
//!   is counted apart from one that stays on the fast path.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::{Context, Result};
use object::{Object, ObjectSegment, ObjectSymbol};
use vmm::symbols::demangle;

use crate::bench_insns::{count_run, each_instruction, BOOT_APPEND};

/// Every tracepoint system, for `trace_event=`.
const ALL_EVENTS: &str =
    "sched,task,irq,timer,raw_syscalls,exceptions,kmem,signal,oom,vmscan,workqueue,cpuhp";
/// Instructions of a disabled site: `cmpb` and `jcc`.
const SITE_INSNS: u64 = 2;
/// Most instructions from an enabled site to its record call (the jump, argument set-up).
const MAX_SITE_TO_CALL: u64 = 64;

pub struct TracepointCost {
    /// Sites in the kernel text, and how many have the two-instruction shape.
    pub sites: usize,
    pub two_instruction_sites: usize,
    /// Sites passed on the boot path with every tracepoint off.
    pub disabled_passes: u64,
    /// Hits with every tracepoint on, and their instructions (site included).
    pub hits: u64,
    pub enabled_instructions: u64,
    /// Of those, the hits that stayed on the fast path, and their instructions.
    pub fast_hits: u64,
    pub fast_instructions: u64,
    /// Per event, by the record function's event name.
    pub by_event: Vec<EventCost>,
}

/// One event's hits.
#[derive(Debug, Clone, Default)]
pub struct EventCost {
    pub event: String,
    /// (hits, instructions) on the fast path, and through `record_slow`.
    pub fast: (u64, u64),
    pub slow: (u64, u64),
}

impl EventCost {
    fn hits(&self) -> u64 {
        self.fast.0 + self.slow.0
    }
}

/// The kernel's code, to look at instruction bytes.
struct Text {
    segments: Vec<(u64, Vec<u8>)>,
}

impl Text {
    fn bytes(&self, addr: u64, n: usize) -> Option<&[u8]> {
        self.segments.iter().find_map(|(start, data)| {
            let off = usize::try_from(addr.checked_sub(*start)?).ok()?;
            data.get(off..off.checked_add(n)?)
        })
    }

    fn contains(&self, addr: u64) -> bool {
        self.bytes(addr, 1).is_some()
    }
}

/// The tracepoint sites: `80 3d disp32 00` (`cmpb $0, disp(%rip)`) whose target is a byte of
/// the control page. Returns each site's address and whether a `jcc` follows it.
fn sites(text: &Text, control: u64) -> Vec<(u64, bool)> {
    let mut out = Vec::new();
    for (start, data) in &text.segments {
        for i in 0..data.len().saturating_sub(7) {
            if data[i] != 0x80 || data[i + 1] != 0x3d || data[i + 6] != 0 {
                continue;
            }
            let disp = i32::from_le_bytes(data[i + 2..i + 6].try_into().expect("4 bytes"));
            let next = start + i as u64 + 7;
            let target = next.wrapping_add_signed(i64::from(disp));
            if !(control..control + abi::trace::MAX_EVENTS as u64).contains(&target) {
                continue;
            }
            let jcc = match data.get(i + 7..i + 9) {
                Some([0x0f, b]) => (0x80..=0x8f).contains(b),
                Some([b, _]) => (0x70..=0x7f).contains(b),
                _ => false,
            };
            out.push((start + i as u64, jcc));
        }
    }
    out
}

pub fn measure(kernel: &Path, initrd: &Path) -> Result<TracepointCost> {
    let elf = std::fs::read(kernel).with_context(|| format!("cannot read {}", kernel.display()))?;
    let file = object::File::parse(&*elf).context("kernel is not a valid ELF file")?;
    let text = Text {
        segments: file
            .segments()
            .filter_map(|s| Some((s.address(), s.data().ok()?.to_vec())))
            .collect(),
    };
    let control = file
        .symbols()
        .find(|s| {
            s.name()
                .is_ok_and(|n| demangle(n) == "kernel::trace::CONTROL")
        })
        .context("the kernel has no trace control page")?
        .address();
    // Each event's out-of-line record function, by entry address; and the slow halves.
    let record_fn = |suffix: &'static str| -> HashMap<u64, String> {
        file.symbols()
            .filter_map(|s| {
                let name = demangle(s.name().ok()?);
                let event = name
                    .strip_prefix("kernel::trace::events::trace_")?
                    .strip_suffix(suffix)?
                    .to_string();
                Some((s.address(), event))
            })
            .collect()
    };
    let records = record_fn("::record");
    let slow: HashSet<u64> = record_fn("::record_slow").into_keys().collect();
    let found = sites(&text, control);
    let site_set: HashSet<u64> = found.iter().map(|s| s.0).collect();

    let mut disabled_passes = 0u64;
    each_instruction(
        kernel,
        initrd,
        BOOT_APPEND,
        file.entry(),
        |pc| text.contains(pc),
        |pc, _| {
            disabled_passes += u64::from(site_set.contains(&pc));
        },
    )?;

    // The record calls in progress: return address, event, instructions so far, and whether
    // the slow half ran; and the instructions since the last site passed (its jump, argument
    // set-up and call).
    let mut open: Vec<(u64, usize, u64, bool)> = Vec::new();
    let mut since_site: Option<u64> = None;
    let mut events: Vec<String> = Vec::new();
    let mut per_event: HashMap<usize, EventCost> = HashMap::new();
    let append = format!("{BOOT_APPEND} trace_event={ALL_EVENTS}");
    each_instruction(
        kernel,
        initrd,
        &append,
        file.entry(),
        |pc| text.contains(pc),
        |pc, prev| {
            if let Some(hit) = open.last_mut() {
                if pc != hit.0 {
                    hit.2 += 1;
                    hit.3 |= slow.contains(&pc);
                    return;
                }
                let (_, ev, insns, went_slow) = open.pop().expect("an open hit");
                let e = per_event.entry(ev).or_default();
                let side = if went_slow { &mut e.slow } else { &mut e.fast };
                side.0 += 1;
                side.1 += insns;
            }
            if site_set.contains(&pc) {
                since_site = Some(1);
                return;
            }
            let Some(n) = since_site.as_mut() else {
                return;
            };
            *n += 1;
            match records.get(&pc) {
                // Only a direct `call rel32` tells where the call returns.
                Some(event) if text.bytes(prev, 1) == Some(&[0xe8]) => {
                    let ev = events.iter().position(|e| e == event).unwrap_or_else(|| {
                        events.push(event.clone());
                        events.len() - 1
                    });
                    open.push((prev + 5, ev, *n, false));
                    since_site = None;
                }
                // A site not taken (its event is off) leads to no record.
                _ if *n > MAX_SITE_TO_CALL => since_site = None,
                _ => {}
            }
        },
    )?;
    let mut by_event: Vec<EventCost> = per_event
        .into_iter()
        .map(|(ev, cost)| EventCost {
            event: events[ev].clone(),
            ..cost
        })
        .collect();
    by_event.sort_by(|a, b| b.hits().cmp(&a.hits()).then_with(|| a.event.cmp(&b.event)));
    Ok(TracepointCost {
        sites: found.len(),
        two_instruction_sites: found.iter().filter(|s| s.1).count(),
        disabled_passes,
        hits: by_event.iter().map(EventCost::hits).sum(),
        enabled_instructions: by_event.iter().map(|e| e.fast.1 + e.slow.1).sum(),
        fast_hits: by_event.iter().map(|e| e.fast.0).sum(),
        fast_instructions: by_event.iter().map(|e| e.fast.1).sum(),
        by_event,
    })
}

/// The bench's lines.
pub fn print(cost: &TracepointCost) {
    println!();
    println!("Tracepoint cost in kernel instructions (QEMU TCG, 1 CPU, counted on the boot path):");
    println!(
        "  disabled: {SITE_INSNS} per pass (cmpb + jcc; {} of {} sites have that shape), \
         {} passes to user space (target <= 2)",
        cost.two_instruction_sites, cost.sites, cost.disabled_passes
    );
    let per = |(hits, insns): (u64, u64)| {
        if hits == 0 {
            "-".to_string()
        } else {
            format!("{:.1}", insns as f64 / hits as f64)
        }
    };
    if cost.hits > 0 {
        println!(
            "  enabled: {} per hit on average over {} hits (site, record, ring write; \
             target <= 40); fast path {} per hit ({} hits), with a TaskInfo record or refill {} \
             ({} hits)",
            per((cost.hits, cost.enabled_instructions)),
            cost.hits,
            per((cost.fast_hits, cost.fast_instructions)),
            cost.fast_hits,
            per((
                cost.hits - cost.fast_hits,
                cost.enabled_instructions - cost.fast_instructions
            )),
            cost.hits - cost.fast_hits,
        );
    }
    println!("    event                      hits    all   fast   slow");
    for e in cost.by_event.iter().take(12) {
        println!(
            "    {:<24} {:>6} {:>6} {:>6} {:>6}",
            e.event,
            e.hits(),
            per((e.hits(), e.fast.1 + e.slow.1)),
            per(e.fast),
            per(e.slow)
        );
    }
}

/// `procbench ctx_switch` (two processes on one CPU bouncing a byte over pipes) counted under
/// QEMU TCG, untraced and with every `sched:` tracepoint on (`trace_event=sched`, rings the
/// guest allocated itself, big enough for the runs): instructions don't drift as the timed row
/// on a shared machine does. Each is run twice, with few and with many round trips, and the
/// difference divided by the extra round trips: the cost of one, without the boot's.
pub struct CtxSwitchInsns {
    /// Kernel instructions per round trip, untraced and traced.
    pub plain: f64,
    pub traced: f64,
}

/// Round trips per procbench run (few and many), and procbench's runs.
const CTX_ITERS: (u64, u64) = (20, 100);
const CTX_RUNS: u64 = 5;

pub fn measure_ctx_switch(kernel: &Path, initrd: &Path) -> Result<CtxSwitchInsns> {
    let per_round_trip = |params: &str| -> Result<f64> {
        let kernel_insns = |iters: u64| -> Result<u64> {
            let append = format!(
                "console=ttyS0 quiet {params} -- /bin/procbench --iters {iters} ctx_switch"
            );
            Ok(count_run(kernel, initrd, &append)?.0)
        };
        let (few, many) = (kernel_insns(CTX_ITERS.0)?, kernel_insns(CTX_ITERS.1)?);
        let extra = (CTX_ITERS.1 - CTX_ITERS.0) * CTX_RUNS;
        Ok(many.saturating_sub(few) as f64 / extra as f64)
    };
    Ok(CtxSwitchInsns {
        plain: per_round_trip("")?,
        traced: per_round_trip("trace_event=sched")?,
    })
}

pub fn print_ctx_switch(c: &CtxSwitchInsns) {
    println!(
        "  ctx_switch round trip, every sched: tracepoint on: {:.0} -> {:.0} kernel instructions \
         ({:+.1} %; target < 5 %)",
        c.plain,
        c.traced,
        (c.traced / c.plain - 1.0) * 100.0
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_control_page_sites_and_their_jumps() {
        let control = 0x9000;
        // cmpb $0, CONTROL+3(%rip) at 0x1000 (next 0x1007, disp 0x7ffc), then jne rel32.
        let mut code = vec![0x80, 0x3d];
        code.extend(0x7ffcu32.to_le_bytes());
        code.extend([0x00, 0x0f, 0x85, 1, 0, 0, 0]);
        // The same compare against another page, then a site followed by a plain mov.
        code.extend([0x80, 0x3d, 0, 0, 0, 0, 0x00, 0x90]);
        let at = 0x1000 + code.len() as u64 + 7;
        code.extend([0x80, 0x3d]);
        code.extend(((control + 5 - at) as u32).to_le_bytes());
        code.extend([0x00, 0x89, 0xc0]);
        let text = Text {
            segments: vec![(0x1000, code)],
        };
        assert_eq!(sites(&text, control), [(0x1000, true), (at - 7, false)]);
        assert!(text.contains(0x1000) && !text.contains(0x2000));
    }
}
