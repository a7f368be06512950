//! Reclaim and the OOM killer in a small guest (`oomtest`, guest-user): kswapd0 under a
//! page-cache-heavy load, and an unbounded allocator killed while init and a process
//! protected by oom_score_adj survive.

use vm_tests::boot_mem;

const SMALL: u64 = 32 << 20;

#[test]
fn kswapd_reclaims_page_cache_under_pressure() {
    let o = boot_mem("quiet -- /bin/oomtest pagecache", 2, SMALL);
    assert!(
        o.console.contains("oomtest: all checks passed"),
        "{}",
        o.console
    );
    assert_eq!(o.status(), 0, "{}", o.console);
}

#[test]
fn zoneinfo_shows_the_watermarks() {
    let o = boot_mem(
        "quiet -- /bin/oomtest cat /proc/zoneinfo /proc/buddyinfo /proc/sys/vm/min_free_kbytes",
        1,
        SMALL,
    );
    let c = &o.console;
    // 32 MiB: all of it is DMA32; Normal is empty.
    assert!(c.contains("Node 0, zone    DMA32\n  pages free"), "{c}");
    assert!(
        c.contains("Node 0, zone   Normal\n  pages free     0\n"),
        "{c}"
    );
    let min: u64 = c
        .lines()
        .find_map(|l| l.trim().strip_prefix("min      "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // min_free_kbytes = sqrt(16 * ~22000 kB) ~ 600 kB: ~150 pages of min.
    assert!((100..250).contains(&min), "min {min}\n{c}");
    assert!(c.contains("Node 0, zone    DMA32      "), "{c}");
    assert_eq!(o.status(), 0, "{c}");
}

#[test]
fn an_unbounded_allocator_is_oom_killed_and_a_protected_process_survives() {
    let o = boot_mem("quiet -- /bin/oomtest oom", 2, SMALL);
    let c = &o.console;
    assert!(c.contains("oomtest: all checks passed"), "{c}");
    // Linux's line, naming the hog (oomtest's second child) with its sizes.
    let line = c
        .lines()
        .find(|l| l.contains("Out of memory: Killed process "))
        .unwrap_or_else(|| panic!("no OOM line\n{c}"));
    assert!(line.contains("(oomtest) total-vm:"), "{line}");
    assert!(
        line.contains("kB, UID:0 pgtables:") && line.ends_with("kB oom_score_adj:0"),
        "{line}"
    );
    // init survived and powered the machine off with the test's status.
    assert_eq!(o.status(), 0, "{c}");
}
