//! `vmm run --timeline`: the Chrome trace-event JSON file has a track per CPU, slices named
//! as Linux names the tasks (kernel threads included), and wake-ups as instant events.

/// Boots 2 CPUs running `cmdline` with `--timeline`; the file's trace events.
fn timeline(cmdline: &str) -> Vec<serde_json::Value> {
    let g = vm_tests::guest();
    let path = std::env::temp_dir().join(format!(
        "watchvm-timeline-{}-{}.json",
        std::process::id(),
        cmdline.len()
    ));
    let out = std::process::Command::new(&g.vmm)
        .args(["run", "--cpus", "2", "--cmdline", cmdline, "--timeline"])
        .arg(&path)
        .arg("--kernel")
        .arg(&g.kernel)
        .arg("--initrd")
        .arg(&g.initramfs)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run vmm");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&path).expect("timeline written");
    let _ = std::fs::remove_file(&path);
    let json: serde_json::Value = serde_json::from_str(&text).expect("timeline is JSON");
    json["traceEvents"].as_array().expect("traceEvents").clone()
}

#[test]
fn timeline_has_a_track_per_cpu() {
    let events = timeline("quiet -- /bin/procbench --iters 10 ctx_switch");
    let tracks: Vec<&str> = events
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .filter_map(|e| e["args"]["name"].as_str())
        .collect();
    assert_eq!(tracks, ["CPU 0", "CPU 1"]);
    // Perfetto takes pid/tid 0 for the idle task: CPU N is tid N + 1 of pid 1.
    assert!(
        events.iter().all(|e| e["pid"] == 1 && e["tid"] != 0),
        "no event on pid or tid 0"
    );
    let ran = |tid: u64, name: &str| {
        events.iter().any(|e| {
            e["ph"] == "X" && e["tid"] == tid && e["name"] == name && e["dur"].as_f64().is_some()
        })
    };
    assert!(
        ran(1, "swapper/0") || ran(1, "procbench"),
        "CPU 0 has slices"
    );
    assert!(ran(2, "swapper/1"), "CPU 1 has slices");
    assert!(
        events
            .iter()
            .any(|e| e["name"] == "procbench" && e["ph"] == "X"),
        "procbench ran"
    );
    assert!(
        events
            .iter()
            .any(|e| e["ph"] == "i" && e["name"].as_str().is_some_and(|n| n.starts_with("wakeup "))),
        "wake-ups are instant events"
    );
}

#[test]
fn timeline_names_kworkers_by_workqueue() {
    // vmstat_update runs every second on `mm_percpu_wq`; the worker that ran it reads as `ps`
    // names it.
    let events = timeline("quiet -- /bin/sleep 2");
    let kworkers: Vec<&str> = events
        .iter()
        .filter(|e| e["ph"] == "X")
        .filter_map(|e| e["name"].as_str())
        .filter(|n| n.starts_with("kworker/"))
        .collect();
    assert!(
        kworkers.iter().any(|n| n.ends_with("-mm_percpu_wq")),
        "{kworkers:?}"
    );
}
