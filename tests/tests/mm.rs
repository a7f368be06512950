//! Reclaim and the OOM killer in a small guest (`oomtest`, guest-user): kswapd0 under a
//! page-cache-heavy load, and an unbounded allocator killed while init and a process
//! protected by oom_score_adj survive; compaction (`compacttest`) rebuilding high-order blocks
//! under two processes sharing their pages.

use std::time::Duration;

use vm_tests::{boot_mem, boot_traced_mem};

const SMALL: u64 = 32 << 20;

#[test]
fn kswapd_reclaims_page_cache_under_pressure() {
    let o = boot_mem("quiet -- /bin/oomtest pagecache", 2, SMALL);
    assert!(
        o.console.contains("oomtest: all checks passed"),
        "{}",
        o.console
    );
    // kswapd0's runtime shows in /proc/<pid>/stat's utime+stime, not just in the scheduler:
    // here, where kernel code is emulated, it works well over a 10 ms tick.
    let line = o
        .console
        .lines()
        .find_map(|l| {
            l.strip_prefix(
                "oomtest: kswapd0 ran: CPU time in /proc/<pid>/stat and sched: ok Some((",
            )
        })
        .unwrap_or_else(|| panic!("{}", o.console));
    let ticks: u64 = line
        .split([',', ')'])
        .nth(1)
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0);
    assert!(ticks > 0, "{line}");
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

#[test]
fn slabinfo_lists_the_slub_caches_and_meminfo_counts_their_pages() {
    let o = boot_mem(
        "quiet -- /bin/oomtest cat /proc/slabinfo /proc/meminfo",
        2,
        SMALL,
    );
    let c = &o.console;
    assert!(c.contains("slabinfo - version: 2.1\n# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>\n"), "{c}");
    // name, active, num, objsize, objperslab, pagesperslab; num_slabs.
    let caches: Vec<(&str, Vec<u64>, u64)> = c
        .lines()
        .filter(|l| l.contains(" : tunables    0    0    0 : slabdata "))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let nums = w[1..6].iter().map(|v| v.parse().unwrap()).collect();
            (w[0], nums, w[w.len() - 2].parse().unwrap())
        })
        .collect();
    let names: Vec<&str> = caches.iter().map(|c| c.0).collect();
    for size in [
        "8", "16", "32", "64", "96", "128", "192", "256", "512", "1k", "2k", "4k", "8k",
    ] {
        assert!(names.contains(&&*format!("kmalloc-{size}")), "{c}");
    }
    let mut slab_pages = 0;
    for (name, n, slabs) in &caches {
        // active <= num = slabs * objperslab, and objperslab objects fit the slab.
        assert!(n[0] <= n[1] && n[1] == slabs * n[3], "{name}: {c}");
        assert!(n[2] * n[3] <= n[4] * 4096, "{name}: {c}");
        slab_pages += slabs * n[4];
    }
    // init and oomtest have address spaces in the mm_struct cache.
    let mm = caches.iter().find(|c| c.0 == "mm_struct").expect(c);
    assert!(mm.1[0] >= 2, "{c}");
    let kb = |key: &str| -> u64 {
        let line = c.lines().find(|l| l.starts_with(key)).expect(key);
        line[key.len()..]
            .trim()
            .trim_end_matches(" kB")
            .trim()
            .parse()
            .unwrap()
    };
    let slab = kb("Slab:");
    assert_eq!(slab, kb("SReclaimable:") + kb("SUnreclaim:"), "{c}");
    // Slab counts the caches' pages and kmalloc's large blocks besides (less what the CPUs'
    // vmstat differences, a few pages each, have not folded in yet).
    assert!(
        slab + 64 >= slab_pages * 4 && slab_pages > 0,
        "{slab} kB, {slab_pages} pages\n{c}"
    );
    assert_eq!(o.status(), 0, "{c}");
}

#[test]
fn compact_memory_rebuilds_high_order_blocks_and_keeps_the_data() {
    let o = boot_mem("quiet -- /bin/compacttest", 2, 48 << 20);
    let c = &o.console;
    assert!(c.contains("compacttest: all checks passed"), "{c}");
    assert_eq!(o.status(), 0, "{c}");
}

#[test]
fn compaction_tracepoints_report_each_zone() {
    let t = vm_tests::boot_traced(
        "quiet -- /bin/compacttest compact",
        2,
        r#"tracepoint:compaction:mm_compaction_begin { printf("begin %d..%d\n", args->zone_start, args->zone_end); }
           tracepoint:compaction:mm_compaction_end { printf("end status %d\n", args->status); }"#,
        std::time::Duration::from_millis(5),
    );
    assert_eq!(t.outcome.status(), 0, "{}\n{}", t.outcome.console, t.output);
    // 256 MiB: one zone, DMA32, compacted whole until the scanners met (COMPACT_COMPLETE).
    assert!(t.output.contains("begin "), "{}", t.output);
    assert!(t.output.contains("end status 5\n"), "{}", t.output);
}

/// task_struct, filp, dentry, inode_cache and vm_area_struct count the objects fork, open,
/// creat and mmap make and exit, close, unlink and munmap free; SReclaimable is the dentry
/// and inode caches' pages.
#[test]
fn dedicated_slab_caches_count_tasks_files_dentries_and_inodes() {
    let o = boot_mem("quiet -- /bin/slabtest", 2, SMALL);
    let c = &o.console;
    for check in [
        "task_struct",
        "filp",
        "dentry_inode",
        "vm_area_struct",
        "sreclaimable",
    ] {
        assert!(c.contains(&format!("ok: {check} (")), "{check}:\n{c}");
    }
    assert!(c.contains("slabtest: 5 passed, 0 failed"), "{c}");
    assert_eq!(o.status(), 0, "{c}");
}

#[test]
fn mapped_counts_cache_pages_while_page_tables_map_them() {
    let o = boot_mem("quiet -- /bin/oomtest mapped", 2, SMALL);
    let c = &o.console;
    for check in [
        "a tmpfs file is Shmem, not Mapped",
        "mapping it MAP_SHARED adds its size to Mapped",
        "a forked child's copy of the mapping adds nothing",
        "munmap takes them out of Mapped",
        "shared anonymous memory is Mapped while mapped",
    ] {
        assert!(c.contains(&format!("oomtest: {check}: ok")), "{check}\n{c}");
    }
    assert!(c.contains("oomtest: all checks passed"), "{c}");
    assert_eq!(o.status(), 0, "{c}");
}

/// The number after `prefix` in the first line of `text` holding it.
fn number_after(text: &str, prefix: &str) -> Option<i32> {
    let rest = &text[text.find(prefix)? + prefix.len()..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

#[test]
fn the_oom_victim_is_marked_in_the_trace_and_reaped_by_oom_reaper() {
    // loglevel=7: the reaper's line is KERN_INFO, as in Linux.
    let t = boot_traced_mem(
        "loglevel=7 -- /bin/oomtest oom",
        2,
        r#"tracepoint:oom:mark_victim { printf("mark_victim pid %d\n", args->pid); }
           kfunc:oom_reap_task { printf("oom_reap_task pid %d in %s\n", args->tsk->pid, comm); }
           kfunc:zap_page_range /comm == "oom_reaper"/ { @reaper_zaps = count(); }
           kfunc:exit_mmap { @exit_mmap[pid] = count(); }"#,
        Duration::from_millis(5),
        SMALL,
    );
    let (c, out) = (&t.outcome.console, &t.output);
    assert!(c.contains("oomtest: all checks passed"), "{c}");
    let killed = number_after(c, "Out of memory: Killed process ").expect(c);
    // The tracepoint names the process the kernel log names, and so does the reaper's probe,
    // which fired in the oom_reaper thread.
    assert_eq!(
        number_after(out, "mark_victim pid "),
        Some(killed),
        "{out}\n{c}"
    );
    assert!(
        out.contains(&format!("oom_reap_task pid {killed} in oom_reaper\n")),
        "{out}\n{c}"
    );
    // The victim's private memory was unmapped, leaving no anonymous pages, as Linux's line
    // reports. By whom is a race, as on Linux: the reaper holds only `mm_count`, so the
    // victim's own exit (`exit_mmap`, the last `mmput`) may get there first, and then the
    // reaper finds the mappings gone.
    let reaper_zaps = number_after(out, "@reaper_zaps: ").unwrap_or(0);
    let victim_exit_mmap = out.contains(&format!("@exit_mmap[{killed}]: 1\n"));
    assert!(reaper_zaps >= 1 || victim_exit_mmap, "{out}");
    let reaped =
        format!("oom_reaper: reaped process {killed} (oomtest), now anon-rss:0kB, file-rss:");
    assert!(c.contains(&reaped), "{reaped}\n{c}");
    assert_eq!(t.outcome.status(), 0, "{c}");
}
