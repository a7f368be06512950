//! What the CPUs know about one address space's TLB entries (the mechanism half of Linux's
//! arch/x86/mm/tlb.c; the policy, which CPUs to flush and when, is `mm/tlb.rs`).
//!
//! Every change to an address space's page tables that needs a flush bumps its generation
//! (`mm->context.tlb_gen`); each CPU records the generation its TLB has caught up with
//! (`cpu_tlbstate`). A CPU either runs a task of the address space (its bit is set in
//! `cpumask`, Linux's `mm_cpumask`, and flushes are sent to it at once), or only keeps it
//! loaded while it runs kernel threads or idles (lazy TLB: no bit, nothing is sent to it, and it
//! compares generations when a task of the address space comes back).
//!
//! The state is reached without the mm lock: the scheduler switches address spaces without it,
//! and a remote flush ([`flush_tlb_func`]) runs in NMI context, where no lock may be
//! taken. Everything here is atomics, CR3 and `invlpg`.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::cpu;
use super::percpu::{cpu_id, MAX_CPUS};

/// Per CPU: whether its bit is set in the `cpumask` of the address space it has loaded, i.e.
/// it runs a task of it rather than keeping it loaded lazily (Linux's `!cpu_tlbstate.is_lazy`).
static RUNS_LOADED_MM: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];

pub struct TlbState {
    /// The root table (fixed for the address space's life).
    pml4: u64,
    /// Bumped by every flush of this address space.
    tlb_gen: AtomicU64,
    /// The generation each CPU's TLB last caught up with.
    cpu_tlb_gen: [AtomicU64; MAX_CPUS],
    /// CPUs running a task of this address space now (set and cleared by the scheduler on the
    /// CPU itself; read by whoever flushes).
    cpumask: AtomicU64,
}

impl TlbState {
    pub fn new(pml4: u64) -> Self {
        TlbState {
            pml4,
            tlb_gen: AtomicU64::new(0),
            cpu_tlb_gen: [const { AtomicU64::new(0) }; MAX_CPUS],
            cpumask: AtomicU64::new(0),
        }
    }

    /// Whether this CPU runs on this address space now.
    #[inline(always)]
    pub fn is_active(&self) -> bool {
        cpu::read_cr3() & super::paging::ADDR_MASK == self.pml4
    }

    /// Load this address space on this CPU (a CR3 load, which also flushes its TLB).
    #[inline(always)]
    pub fn activate(&self) {
        // The generation is read first: a change made after it leaves this CPU stale, never
        // falsely current.
        let gen = self.tlb_gen.load(Ordering::SeqCst);
        // SAFETY: the table maps the kernel half identically to every other address space.
        unsafe { cpu::write_cr3(self.pml4) }
        self.cpu_tlb_gen[cpu_id()].store(gen, Ordering::Release);
    }

    /// Before running a task of this address space on a CPU that kept it loaded: flush if
    /// it changed since this CPU's TLB last caught up (`switch_mm_irqs_off`'s generation check).
    pub fn sync_lazy_tlb(&self) {
        if self.tlb_stale_here() {
            self.activate();
        }
    }

    /// Whether this address space changed since this CPU's TLB last caught up with it.
    pub fn tlb_stale_here(&self) -> bool {
        self.cpu_tlb_gen[cpu_id()].load(Ordering::Acquire) != self.tlb_gen.load(Ordering::SeqCst)
    }

    /// A new generation (after the page tables changed): every CPU that has not flushed since
    /// is stale. Sequentially consistent with the `cpumask` updates, so that a CPU starting to
    /// run the address space either is seen in [`Self::other_cpus`] afterwards or sees the
    /// new generation.
    pub fn bump_tlb_gen(&self) -> u64 {
        self.tlb_gen.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// CPUs that run a task of this address space now.
    pub fn cpumask(&self) -> u64 {
        self.cpumask.load(Ordering::SeqCst)
    }

    /// CPUs other than this one that run a task of this address space now.
    pub fn other_cpus(&self) -> u64 {
        self.cpumask() & !(1u64 << cpu_id())
    }

    /// Drop this CPU's entries for generation `gen`'s change: all of them (`range` None, a CR3
    /// reload) or those of `pages` pages from `start`. Nothing to do if another address space
    /// is loaded: switching CR3 dropped ours.
    pub fn flush_local(&self, gen: u64, range: Option<(u64, u64)>) {
        if !self.is_active() {
            return;
        }
        match range {
            None => self.activate(),
            Some((start, pages)) => {
                for i in 0..pages {
                    cpu::invlpg(start + i * 4096);
                }
                // Current again only if it was current before this change.
                let _ = self.cpu_tlb_gen[cpu_id()].compare_exchange(
                    gen - 1,
                    gen,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
            }
        }
    }
}

/// Another CPU changed `tlb`'s address space (generation `gen`) and asks this one to flush
/// (Linux's `flush_tlb_func`, run from the shootdown NMI). A partial flush only if this CPU
/// was exactly one change behind and that change is the latest; otherwise everything, which
/// catches up with every change at once.
#[cfg_attr(not(test), patchable_function_entry(prefix_nops = 0, entry_nops = 0))]
pub fn flush_tlb_func(tlb: &TlbState, gen: u64, range: Option<(u64, u64)>) {
    if !tlb.is_active() {
        return;
    }
    let cpu = cpu_id();
    let local = tlb.cpu_tlb_gen[cpu].load(Ordering::Acquire);
    let latest = tlb.tlb_gen.load(Ordering::Acquire);
    if local == latest {
        return;
    }
    match range {
        Some((start, pages)) if gen == local + 1 && gen == latest => {
            for i in 0..pages {
                cpu::invlpg(start + i * 4096);
            }
            tlb.cpu_tlb_gen[cpu].store(gen, Ordering::Release);
        }
        _ => tlb.activate(),
    }
}

/// About to run a task of `next` on this CPU, which has `loaded` loaded now (Linux's
/// `switch_mm_irqs_off`): join `next`'s CPU mask, leave `loaded`'s if different, and load
/// `next` or catch up with changes made to it while this CPU held it lazily.
pub fn switch_mm_irqs_off(loaded: Option<&TlbState>, next: &TlbState) {
    let cpu = cpu_id();
    let bit = 1u64 << cpu;
    let was_running = RUNS_LOADED_MM[cpu].swap(true, Ordering::Relaxed);
    match loaded {
        Some(l) if core::ptr::eq(l, next) => {
            if !was_running {
                next.cpumask.fetch_or(bit, Ordering::SeqCst);
            }
            // Still loaded here from before: catch up with changes made on other CPUs while
            // this one was lazy (a CPU that kept running it was sent every flush).
            next.sync_lazy_tlb();
        }
        _ => {
            if let (true, Some(l)) = (was_running, loaded) {
                l.cpumask.fetch_and(!bit, Ordering::Release);
            }
            next.cpumask.fetch_or(bit, Ordering::SeqCst);
            next.activate();
        }
    }
}

/// About to run a kernel thread, keeping `loaded` loaded (Linux's `enter_lazy_tlb`): this CPU
/// no longer needs flushes sent to it; it checks the generation when it comes back.
pub fn enter_lazy_tlb(loaded: &TlbState) {
    let cpu = cpu_id();
    if RUNS_LOADED_MM[cpu].swap(false, Ordering::Relaxed) {
        loaded.cpumask.fetch_and(!(1u64 << cpu), Ordering::Release);
    }
}

/// A shootdown request: which address space, which change, which pages.
#[cfg(not(test))]
struct FlushTlbInfo<'a> {
    tlb: &'a TlbState,
    gen: u64,
    range: Option<(u64, u64)>,
}

/// Flush generation `gen`'s change (`range` as for [`TlbState::flush_local`]) out of the TLBs
/// of the CPUs in `cpus`, and return once all have (Linux's `native_flush_tlb_multi`).
#[cfg(not(test))]
pub fn native_flush_tlb_multi(cpus: u64, tlb: &TlbState, gen: u64, range: Option<(u64, u64)>) {
    let info = FlushTlbInfo { tlb, gen, range };
    super::smp::smp_call_function_many(
        cpus,
        flush_tlb_func_remote,
        &info as *const FlushTlbInfo as *const (),
    );
}

/// A shootdown's half on the target CPU, in NMI context.
#[cfg(not(test))]
#[patchable_function_entry(prefix_nops = 0, entry_nops = 0)]
fn flush_tlb_func_remote(info: *const ()) {
    // SAFETY: `native_flush_tlb_multi` passed a `FlushTlbInfo`, which lives until every
    // target, this one included, has returned from here.
    let f = unsafe { &*info.cast::<FlushTlbInfo>() };
    super::irq::this_cpu_irq_stat()
        .irq_tlb_count
        .fetch_add(1, Ordering::Relaxed);
    flush_tlb_func(f.tlb, f.gen, f.range);
}
