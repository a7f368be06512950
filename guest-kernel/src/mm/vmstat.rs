//! Memory statistics: the global event and page counters behind `/proc/vmstat` and
//! `/proc/meminfo`, and their renderers in Linux's formats (mm/vmstat.c, fs/proc/meminfo.c).
//!
//! Counters are relaxed atomics, each updated with one atomic add where the event happens and
//! read without a lock when rendered, so a report is a near-instant snapshot, as in Linux.
//! Lines for machinery we don't have (swap, writeback, huge pages) are honest zeros;
//! configuration-dependent lines we would only ever print as zero (zswap, THP, CMA, memory
//! failure) are left out, as a Linux kernel built without those options leaves them out.

#![deny(unsafe_code)]

use alloc::string::String;
use core::fmt::Write;
use core::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use super::arch::percpu::{cpu_id, MAX_CPUS};

/// Events counted since boot (Linux's `vm_event_item`).
#[derive(Clone, Copy, Debug)]
#[repr(usize)]
pub enum VmEvent {
    /// Pages handed out by the page allocator (`pgalloc_normal`).
    PgAlloc,
    /// Pages returned to it (`pgfree`).
    PgFree,
    /// Page faults on user addresses (`pgfault`).
    PgFault,
    /// Faults that needed I/O (`pgmajfault`; none until there is swap or a page cache).
    PgMajFault,
    /// Write faults that reused a page they would have copied (`pgreuse`).
    PgReuse,
    /// Copy-on-write copies (no line of its own in Linux's /proc/vmstat).
    CowFault,
    /// Pages moved to an active LRU list (`pgactivate`) and back (`pgdeactivate`).
    PgActivate,
    PgDeactivate,
    /// Pages scanned and reclaimed by kswapd (`pgscan_kswapd`, `pgsteal_kswapd`) and by
    /// allocations reclaiming themselves (`pgscan_direct`, `pgsteal_direct`).
    PgScanKswapd,
    PgStealKswapd,
    PgScanDirect,
    PgStealDirect,
    /// Allocations that had to reclaim themselves (`allocstall_normal`).
    AllocStall,
    /// Processes killed by the OOM killer (`oom_kill`).
    OomKill,
    /// Pages migrated, and pages that stayed (`pgmigrate_success`, `pgmigrate_fail`).
    PgMigrateSuccess,
    PgMigrateFail,
    /// Compaction's scanners: frames looked at, pages isolated (`compact_migrate_scanned`,
    /// `compact_free_scanned`, `compact_isolated`).
    CompactMigrateScanned,
    CompactFreeScanned,
    CompactIsolated,
    /// Allocations that compacted themselves, and whether they then got their pages
    /// (`compact_stall`, `compact_fail`, `compact_success`).
    CompactStall,
    CompactFail,
    CompactSuccess,
    /// kcompactd's wake-ups and scans (`compact_daemon_wake`, `compact_daemon_*_scanned`).
    CompactDaemonWake,
    CompactDaemonMigrateScanned,
    CompactDaemonFreeScanned,
}
const NR_VM_EVENTS: usize = 25;

static EVENTS: [AtomicU64; NR_VM_EVENTS] = [const { AtomicU64::new(0) }; NR_VM_EVENTS];

pub fn count_vm_event(e: VmEvent) {
    EVENTS[e as usize].fetch_add(1, Relaxed);
}

pub fn count_vm_events(e: VmEvent, n: u64) {
    EVENTS[e as usize].fetch_add(n, Relaxed);
}

pub fn vm_event(e: VmEvent) -> u64 {
    EVENTS[e as usize].load(Relaxed)
}

/// Global state counters (Linux's `node_stat_item`), in pages unless named otherwise.
#[derive(Clone, Copy, Debug)]
#[repr(usize)]
pub enum NodeStat {
    /// Private anonymous pages of user processes (`NR_ANON_MAPPED`).
    AnonPages,
    /// Pages of shared anonymous memory (`NR_SHMEM`).
    Shmem,
    /// User page-table pages (`NR_PAGETABLE`).
    PageTables,
    /// Pages under kmalloc, slab caches and large blocks (`NR_SLAB_UNRECLAIMABLE_B`).
    SlabUnreclaimable,
    /// Pages of slab caches whose objects reclaim can free (`NR_SLAB_RECLAIMABLE_B`).
    SlabReclaimable,
    /// Kernel stacks, in kB (`NR_KERNEL_STACK_KB`); the task code accounts them.
    KernelStackKb,
    /// Committed address space, pages (`vm_committed_as`).
    Committed,
    /// Pages in files' page caches (`NR_FILE_PAGES`, without shmem).
    FilePages,
    /// Page-cache pages mapped into some page table (`NR_FILE_MAPPED`).
    FileMapped,
}
const NR_NODE_STATS: usize = 9;

static NODE_STATS: [AtomicI64; NR_NODE_STATS] = [const { AtomicI64::new(0) }; NR_NODE_STATS];

/// Each CPU's changes not yet folded into `NODE_STATS` (`vm_node_stat_diff`).
static VM_NODE_STAT_DIFF: [[AtomicI64; NR_NODE_STATS]; MAX_CPUS] =
    [const { [const { AtomicI64::new(0) }; NR_NODE_STATS] }; MAX_CPUS];
/// How far a CPU's difference may drift before it is folded at once (`stat_threshold`).
/// 0, until `init_mm_internals` sets it (and in host tests), folds every change.
static STAT_THRESHOLD: AtomicI64 = AtomicI64::new(0);

/// Add `delta` to a CPU's difference, folding it into `global` once it passes `threshold`.
/// Every delta ends up in exactly one of the two, even with concurrent updaters.
fn mod_stat_diff(diff: &AtomicI64, global: &AtomicI64, delta: i64, threshold: i64) {
    let x = diff.fetch_add(delta, Relaxed) + delta;
    if x.abs() > threshold {
        global.fetch_add(diff.swap(0, Relaxed), Relaxed);
    }
}

/// Count a change on this CPU; the global count sees it when the difference grows past the
/// threshold or when `vmstat_update` folds it (`mod_node_page_state`).
pub fn mod_node_page_state(item: NodeStat, delta: i64) {
    mod_stat_diff(
        &VM_NODE_STAT_DIFF[cpu_id()][item as usize],
        &NODE_STATS[item as usize],
        delta,
        STAT_THRESHOLD.load(Relaxed),
    );
}

/// The global count, without the CPUs' unfolded differences (`global_node_page_state`).
pub fn node_page_state(item: NodeStat) -> u64 {
    NODE_STATS[item as usize].load(Relaxed).max(0) as u64
}

/// Fold `cpu`'s differences into the global counts; true if there were any
/// (`refresh_cpu_vm_stats`).
pub fn refresh_cpu_vm_stats(cpu: usize) -> bool {
    let mut changes = false;
    for (diff, global) in VM_NODE_STAT_DIFF[cpu].iter().zip(&NODE_STATS) {
        let v = diff.swap(0, Relaxed);
        if v != 0 {
            global.fetch_add(v, Relaxed);
            changes = true;
        }
    }
    changes
}

/// Whether `cpu` has differences to fold (`need_update`).
pub fn need_update(cpu: usize) -> bool {
    VM_NODE_STAT_DIFF[cpu].iter().any(|d| d.load(Relaxed) != 0)
}

/// The drift threshold in use (`/proc/zoneinfo`'s "vm stats threshold").
pub fn stat_threshold() -> i64 {
    STAT_THRESHOLD.load(Relaxed)
}

/// Linux's per-CPU drift threshold for a zone of `managed_pages` 4 KiB pages on `cpus` CPUs
/// (`calculate_normal_threshold`): 2 * fls(cpus) * (1 + fls(memory in 128 MiB units)),
/// at most 125.
pub fn calculate_normal_threshold(managed_pages: u64, cpus: usize) -> i64 {
    let fls = |x: u64| (u64::BITS - x.leading_zeros()) as i64;
    let mem = managed_pages >> (27 - 12);
    (2 * fls(cpus as u64) * (1 + fls(mem))).min(125)
}

/// Size of the kernel's address range for vmalloc on x86_64 with 4-level paging, in kB.
const VMALLOC_TOTAL_KB: u64 = 34_359_738_367;

/// What `/proc/meminfo` and `/proc/vmstat` report, in pages unless named otherwise.
#[derive(Clone, Debug, Default)]
pub struct MemInfo {
    pub total: u64,
    pub free: u64,
    pub anon: u64,
    pub shmem: u64,
    pub page_tables: u64,
    /// Slab pages: unreclaimable (kmalloc, most caches) and reclaimable (dentry, inode).
    pub slab: u64,
    pub slab_reclaimable: u64,
    pub kernel_stack_kb: u64,
    pub committed: u64,
    pub direct_map_4k_kb: u64,
    pub direct_map_2m_kb: u64,
    /// LRU list sizes: inactive anon, active anon, inactive file, active file.
    pub lru: [u64; 4],
    pub file_pages: u64,
    pub file_mapped: u64,
    /// Free pages the allocator keeps back (the zones' high watermarks and reserves), and
    /// the zones' low watermarks: what MemAvailable leaves out.
    pub totalreserve: u64,
    pub wmark_low: u64,
}

impl MemInfo {
    /// The counters now, with the allocator's totals.
    pub fn snapshot(total: u64, free: u64, direct_map_2m_kb: u64) -> Self {
        use super::swap::{nr_lru_pages, LruList::*};
        MemInfo {
            lru: [InactiveAnon, ActiveAnon, InactiveFile, ActiveFile].map(nr_lru_pages),
            file_pages: node_page_state(NodeStat::FilePages),
            file_mapped: node_page_state(NodeStat::FileMapped),
            totalreserve: 0,
            wmark_low: 0,
            total,
            free,
            anon: node_page_state(NodeStat::AnonPages),
            shmem: node_page_state(NodeStat::Shmem),
            page_tables: node_page_state(NodeStat::PageTables),
            slab: node_page_state(NodeStat::SlabUnreclaimable),
            slab_reclaimable: node_page_state(NodeStat::SlabReclaimable),
            kernel_stack_kb: node_page_state(NodeStat::KernelStackKb),
            committed: node_page_state(NodeStat::Committed),
            direct_map_4k_kb: 0,
            direct_map_2m_kb,
        }
    }
}

/// `show_val_kb`: a 16-column label, the value in kB right-aligned in 8.
fn kb_line(out: &mut String, label: &str, kb: u64) {
    let _ = writeln!(out, "{label:<16}{kb:>8} kB");
}

/// `/proc/meminfo` (fs/proc/meminfo.c, Linux 6.1 on x86_64).
pub fn render_meminfo(i: &MemInfo, out: &mut String) {
    let p = |pages: u64| pages * 4;
    // Shared anonymous memory lives in the page cache (Cached, Shmem) and on the anon lists,
    // as in Linux; Mapped counts the cache pages (tmpfs's and shared anonymous ones included)
    // that some page table maps.
    let [inactive_anon, active_anon, inactive_file, active_file] = i.lru;
    let lines: [(&str, u64); 33] = [
        ("MemTotal:", p(i.total)),
        ("MemFree:", p(i.free)),
        ("MemAvailable:", p(si_mem_available(i))),
        ("Buffers:", 0),
        ("Cached:", p(i.file_pages + i.shmem)),
        ("SwapCached:", 0),
        ("Active:", p(active_anon + active_file)),
        ("Inactive:", p(inactive_anon + inactive_file)),
        ("Active(anon):", p(active_anon)),
        ("Inactive(anon):", p(inactive_anon)),
        ("Active(file):", p(active_file)),
        ("Inactive(file):", p(inactive_file)),
        ("Unevictable:", 0),
        ("Mlocked:", 0),
        ("SwapTotal:", 0),
        ("SwapFree:", 0),
        ("Dirty:", 0),
        ("Writeback:", 0),
        ("AnonPages:", p(i.anon)),
        ("Mapped:", p(i.file_mapped)),
        ("Shmem:", p(i.shmem)),
        ("KReclaimable:", p(i.slab_reclaimable)),
        ("Slab:", p(i.slab + i.slab_reclaimable)),
        ("SReclaimable:", p(i.slab_reclaimable)),
        ("SUnreclaim:", p(i.slab)),
        ("KernelStack:", i.kernel_stack_kb),
        ("PageTables:", p(i.page_tables)),
        ("NFS_Unstable:", 0),
        ("Bounce:", 0),
        ("WritebackTmp:", 0),
        // vm.overcommit_ratio = 50, no swap.
        ("CommitLimit:", p(i.total / 2)),
        ("Committed_AS:", p(i.committed)),
        ("VmallocTotal:", VMALLOC_TOTAL_KB),
    ];
    for (label, kb) in lines {
        kb_line(out, label, kb);
    }
    kb_line(out, "VmallocUsed:", 0);
    kb_line(out, "VmallocChunk:", 0);
    kb_line(out, "Percpu:", 0);
    let _ = write!(
        out,
        "HugePages_Total:   {:>5}\nHugePages_Free:    {:>5}\nHugePages_Rsvd:    {:>5}\n\
         HugePages_Surp:    {:>5}\nHugepagesize:   {:>8} kB\nHugetlb:        {:>8} kB\n",
        0, 0, 0, 0, 2048, 0
    );
    let _ = writeln!(out, "DirectMap4k:    {:>8} kB", i.direct_map_4k_kb);
    let _ = writeln!(out, "DirectMap2M:    {:>8} kB", i.direct_map_2m_kb);
}

/// Memory available for new work without swapping (Linux's `si_mem_available`): free pages
/// above the reserves, plus the page cache that reclaim could drop (all but what the low
/// watermarks would keep), and likewise the reclaimable slab.
pub fn si_mem_available(i: &MemInfo) -> u64 {
    let pagecache = i.lru[2] + i.lru[3];
    let reclaimable = i.slab_reclaimable;
    (i.free + pagecache + reclaimable)
        .saturating_sub(i.totalreserve)
        .saturating_sub((pagecache / 2).min(i.wmark_low))
        .saturating_sub((reclaimable / 2).min(i.wmark_low))
}

/// `/proc/vmstat` (mm/vmstat.c): `name value` lines in Linux's order, for the items we keep.
pub fn render_vmstat(i: &MemInfo, out: &mut String) {
    let [inactive_anon, active_anon, inactive_file, active_file] = i.lru;
    let e = vm_event;
    let lines: [(&str, u64); 60] = [
        ("nr_free_pages", i.free),
        ("nr_zone_inactive_anon", inactive_anon),
        ("nr_zone_active_anon", active_anon),
        ("nr_zone_inactive_file", inactive_file),
        ("nr_zone_active_file", active_file),
        ("nr_zone_unevictable", 0),
        ("nr_zone_write_pending", 0),
        ("nr_mlock", 0),
        ("nr_bounce", 0),
        ("nr_free_cma", 0),
        ("nr_inactive_anon", inactive_anon),
        ("nr_active_anon", active_anon),
        ("nr_inactive_file", inactive_file),
        ("nr_active_file", active_file),
        ("nr_unevictable", 0),
        ("nr_slab_reclaimable", i.slab_reclaimable),
        ("nr_slab_unreclaimable", i.slab),
        ("nr_anon_pages", i.anon),
        ("nr_mapped", i.file_mapped),
        ("nr_file_pages", i.file_pages + i.shmem),
        ("nr_dirty", 0),
        ("nr_writeback", 0),
        ("nr_shmem", i.shmem),
        ("nr_kernel_stack", i.kernel_stack_kb),
        ("nr_page_table_pages", i.page_tables),
        ("nr_swapcached", 0),
        ("pgpgin", 0),
        ("pgpgout", 0),
        ("pswpin", 0),
        ("pswpout", 0),
        ("pgalloc_dma", 0),
        ("pgalloc_dma32", 0),
        ("pgalloc_normal", e(VmEvent::PgAlloc)),
        ("pgalloc_movable", 0),
        ("allocstall_dma32", 0),
        ("allocstall_normal", e(VmEvent::AllocStall)),
        ("pgfree", e(VmEvent::PgFree)),
        ("pgactivate", e(VmEvent::PgActivate)),
        ("pgdeactivate", e(VmEvent::PgDeactivate)),
        ("pgfault", e(VmEvent::PgFault)),
        ("pgmajfault", e(VmEvent::PgMajFault)),
        ("pgreuse", e(VmEvent::PgReuse)),
        ("pgsteal_kswapd", e(VmEvent::PgStealKswapd)),
        ("pgsteal_direct", e(VmEvent::PgStealDirect)),
        ("pgscan_kswapd", e(VmEvent::PgScanKswapd)),
        ("pgscan_direct", e(VmEvent::PgScanDirect)),
        (
            "pgscan_file",
            e(VmEvent::PgScanKswapd) + e(VmEvent::PgScanDirect),
        ),
        (
            "pgsteal_file",
            e(VmEvent::PgStealKswapd) + e(VmEvent::PgStealDirect),
        ),
        ("oom_kill", e(VmEvent::OomKill)),
        ("pgmigrate_success", e(VmEvent::PgMigrateSuccess)),
        ("pgmigrate_fail", e(VmEvent::PgMigrateFail)),
        ("compact_migrate_scanned", e(VmEvent::CompactMigrateScanned)),
        ("compact_free_scanned", e(VmEvent::CompactFreeScanned)),
        ("compact_isolated", e(VmEvent::CompactIsolated)),
        ("compact_stall", e(VmEvent::CompactStall)),
        ("compact_fail", e(VmEvent::CompactFail)),
        ("compact_success", e(VmEvent::CompactSuccess)),
        ("compact_daemon_wake", e(VmEvent::CompactDaemonWake)),
        (
            "compact_daemon_migrate_scanned",
            e(VmEvent::CompactDaemonMigrateScanned),
        ),
        (
            "compact_daemon_free_scanned",
            e(VmEvent::CompactDaemonFreeScanned),
        ),
    ];
    for (name, value) in lines {
        let _ = writeln!(out, "{name} {value}");
    }
}

/// `/proc/meminfo` for the running kernel.
#[allow(dead_code)] // until procfs calls it
pub fn meminfo_proc_show(out: &mut String) {
    render_meminfo(&snapshot(), out);
}

/// `/proc/vmstat` for the running kernel.
#[allow(dead_code)] // until procfs calls it
pub fn vmstat_show(out: &mut String) {
    render_vmstat(&snapshot(), out);
}

fn snapshot() -> MemInfo {
    use super::page_alloc;
    let (totalreserve, wmark_low) = page_alloc::reserve_pages();
    MemInfo {
        totalreserve,
        wmark_low,
        ..MemInfo::snapshot(
            page_alloc::total_pages(),
            page_alloc::free_page_count(),
            super::arch::paging::DIRECT_MAP_BYTES >> 10,
        )
    }
}

/// `/proc/sys/vm/stat_interval`, in jiffies: how often the CPUs' differences are folded
/// (`sysctl_stat_interval`, 1 s).
#[cfg(not(test))]
pub static SYSCTL_STAT_INTERVAL: AtomicU64 = AtomicU64::new(crate::kernel::time::HZ);

/// The per-CPU folding as Linux does it: `vmstat_update`, per-CPU delayed work on
/// `mm_percpu_wq`, folds a CPU's differences and comes back after `stat_interval` while there
/// were any; `vmstat_shepherd`, on `events` every `stat_interval`, restarts it on CPUs that
/// have differences again.
#[cfg(not(test))]
mod vmstat_work {
    use alloc::sync::Arc;
    use core::sync::atomic::Ordering::Relaxed;

    use spin::Once;

    use super::*;
    use crate::arch::percpu::nr_cpu_ids;
    use crate::kernel::timer_list::round_jiffies_relative;
    use crate::kernel::workqueue::*;

    static MM_PERCPU_WQ: Once<Workqueue> = Once::new();
    static VMSTAT_WORK: [Once<Arc<DelayedWork>>; MAX_CPUS] = [const { Once::new() }; MAX_CPUS];
    static SHEPHERD: Once<Arc<DelayedWork>> = Once::new();

    fn interval() -> u64 {
        round_jiffies_relative(SYSCTL_STAT_INTERVAL.load(Relaxed))
    }

    #[inline(never)] // kept as a symbol: Linux's name, for probes
    fn vmstat_update(cpu: usize) {
        if refresh_cpu_vm_stats(cpu) {
            // Counters changed, so more changes are likely: keep running.
            if let (Some(wq), Some(w)) = (MM_PERCPU_WQ.get(), VMSTAT_WORK[cpu].get()) {
                queue_delayed_work_on(cpu, wq, w, interval());
            }
        }
    }

    fn vmstat_shepherd() {
        if let Some(wq) = MM_PERCPU_WQ.get() {
            for (cpu, w) in VMSTAT_WORK.iter().enumerate().take(nr_cpu_ids()) {
                if let Some(w) = w.get() {
                    if !w.pending() && need_update(cpu) {
                        queue_delayed_work_on(cpu, wq, w, 0);
                    }
                }
            }
        }
        if let Some(s) = SHEPHERD.get() {
            schedule_delayed_work(s, interval());
        }
    }

    /// Create `mm_percpu_wq` and start the shepherd; set the drift threshold
    /// (`init_mm_internals`, `refresh_zone_stat_thresholds`).
    pub fn init_mm_internals() {
        MM_PERCPU_WQ.call_once(|| alloc_workqueue("mm_percpu_wq", WQ_MEM_RECLAIM, 0));
        for (cpu, w) in VMSTAT_WORK.iter().enumerate().take(nr_cpu_ids()) {
            w.call_once(|| DelayedWork::new(move || vmstat_update(cpu)));
        }
        STAT_THRESHOLD.store(
            calculate_normal_threshold(super::super::page_alloc::total_pages(), nr_cpu_ids()),
            Relaxed,
        );
        let shepherd = SHEPHERD.call_once(|| DelayedWork::new(vmstat_shepherd));
        schedule_delayed_work(shepherd, interval());
    }

    fn refresh_vm_stats() {
        refresh_cpu_vm_stats(crate::arch::percpu::cpu_id());
    }

    /// `/proc/sys/vm/stat_refresh`: fold every CPU's differences now, each on its own CPU,
    /// and return once all are done (`vmstat_refresh`).
    pub fn vmstat_refresh() {
        schedule_on_each_cpu(refresh_vm_stats);
    }
}
#[cfg(not(test))]
pub use vmstat_work::{init_mm_internals, vmstat_refresh};

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> MemInfo {
        MemInfo {
            total: 62_000,
            free: 50_000,
            anon: 300,
            shmem: 20,
            page_tables: 12,
            slab: 150,
            slab_reclaimable: 0,
            kernel_stack_kb: 64,
            committed: 4_000,
            direct_map_4k_kb: 0,
            direct_map_2m_kb: 4 << 20,
            lru: [320, 0, 700, 300],
            file_pages: 1000,
            file_mapped: 400,
            totalreserve: 1000,
            wmark_low: 600,
        }
    }

    #[test]
    fn meminfo_lines_have_linux_columns() {
        let mut s = String::new();
        render_meminfo(&sample(), &mut s);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "MemTotal:         248000 kB");
        assert_eq!(lines[1], "MemFree:          200000 kB");
        assert!(lines.contains(&"AnonPages:          1200 kB"));
        // free 50000 + cache 1000 - reserve 1000 - min(500, 600).
        assert!(lines.contains(&"MemAvailable:     198000 kB"));
        assert!(lines.contains(&"Cached:             4080 kB"));
        assert!(lines.contains(&"Active(file):       1200 kB"));
        assert!(lines.contains(&"Inactive:           4080 kB"));
        assert!(lines.contains(&"Mapped:             1600 kB"));
        assert!(lines.contains(&"Shmem:                80 kB"));
        assert!(lines.contains(&"PageTables:           48 kB"));
        assert!(lines.contains(&"KernelStack:          64 kB"));
        assert!(lines.contains(&"CommitLimit:      124000 kB"));
        assert!(lines.contains(&"VmallocTotal:   34359738367 kB"));
        assert!(lines.contains(&"HugePages_Total:       0"));
        assert!(lines.contains(&"Hugepagesize:       2048 kB"));
        assert_eq!(*lines.last().unwrap(), "DirectMap2M:     4194304 kB");
        // Every `kB` line puts its number's last digit in column 24.
        for l in lines.iter().filter(|l| l.ends_with(" kB")) {
            let n = l.len() - 3;
            assert!(n >= 24, "{l}");
            assert!(l.as_bytes()[n - 1].is_ascii_digit(), "{l}");
        }
        let keys: Vec<&str> = lines.iter().map(|l| l.split(':').next().unwrap()).collect();
        let order = [
            "MemTotal",
            "MemAvailable",
            "Cached",
            "SwapFree",
            "Slab",
            "Committed_AS",
        ];
        let pos: Vec<usize> = order
            .iter()
            .map(|k| keys.iter().position(|x| x == k).unwrap())
            .collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{pos:?}");
    }

    #[test]
    fn a_cpus_difference_folds_past_the_threshold_and_loses_nothing() {
        let (diff, global) = (AtomicI64::new(0), AtomicI64::new(100));
        mod_stat_diff(&diff, &global, 5, 12);
        mod_stat_diff(&diff, &global, 7, 12);
        assert_eq!((diff.load(Relaxed), global.load(Relaxed)), (12, 100));
        mod_stat_diff(&diff, &global, 1, 12);
        assert_eq!((diff.load(Relaxed), global.load(Relaxed)), (0, 113));
        mod_stat_diff(&diff, &global, -13, 12);
        assert_eq!((diff.load(Relaxed), global.load(Relaxed)), (0, 100));
        // Threshold 0 folds every change.
        mod_stat_diff(&diff, &global, 2, 0);
        assert_eq!((diff.load(Relaxed), global.load(Relaxed)), (0, 102));
    }

    #[test]
    fn stat_threshold_follows_linux() {
        // 256 MiB on 2 CPUs: 2 * fls(2) * (1 + fls(2)) = 12.
        assert_eq!(calculate_normal_threshold(65_536, 2), 12);
        assert_eq!(calculate_normal_threshold(65_536, 1), 6);
        assert_eq!(calculate_normal_threshold(1 << 20, 4), 2 * 3 * (1 + 6));
        assert_eq!(calculate_normal_threshold(1 << 30, 32), 125);
    }

    #[test]
    fn vmstat_is_name_space_value() {
        let mut s = String::new();
        render_vmstat(&sample(), &mut s);
        assert!(s.starts_with("nr_free_pages 50000\n"));
        assert!(s.contains("\nnr_anon_pages 300\n"));
        assert!(s.contains("\npgfault "));
        for l in s.lines() {
            let (k, v) = l.split_once(' ').unwrap();
            assert!(!k.is_empty() && v.parse::<u64>().is_ok(), "{l}");
        }
    }
}
