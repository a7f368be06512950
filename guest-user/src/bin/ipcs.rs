//! `ipcs [-a] [-q] [-m] [-s]`: the System V IPC objects, as util-linux's `ipcs` prints them by
//! default (message queues, then shared memory segments, then semaphore arrays, each a
//! section with util-linux's header and columns), read from /proc/sysvipc/{msg,shm,sem}.
//! Owners are named from /etc/passwd when it has them, else shown as numbers.

use std::collections::HashMap;

use guest_user::cli::usage_error;

const USAGE: &str = "ipcs [-a] [-q] [-m] [-s]";
const SHM_DEST: u32 = 0o1000;
const SHM_LOCKED: u32 = 0o2000;

/// The rows of a /proc/sysvipc file: its columns by header name.
fn rows(name: &str) -> Vec<HashMap<String, String>> {
    let Ok(text) = std::fs::read_to_string(format!("/proc/sysvipc/{name}")) else {
        return Vec::new();
    };
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    lines
        .map(|l| {
            header
                .iter()
                .zip(l.split_whitespace())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn num(row: &HashMap<String, String>, col: &str) -> i64 {
    row.get(col).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// uid → login name, from /etc/passwd.
fn users() -> HashMap<i64, String> {
    let text = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((f.get(2)?.parse().ok()?, f.first()?.to_string()))
        })
        .collect()
}

/// `0x%08x %-10d ` and the owner (`%-10.10s` or `%-10u`), then ` %-10o ` for the rights.
fn lead(row: &HashMap<String, String>, id_col: &str, users: &HashMap<i64, String>) -> String {
    let uid = num(row, "uid");
    let owner = match users.get(&uid) {
        Some(name) => format!("{:<10.10}", name),
        None => format!("{uid:<10}"),
    };
    let mode = u32::from_str_radix(row.get("perms").map_or("0", |s| s), 8).unwrap_or(0);
    format!(
        "0x{:08x} {:<10} {owner} {:<10o} ",
        num(row, "key") as u32,
        num(row, id_col),
        mode & 0o777
    )
}

fn do_msg(users: &HashMap<i64, String>) {
    println!("------ Message Queues --------");
    println!(
        "{:<10} {:<10} {:<10} {:<10} {:<12} {:<12}",
        "key", "msqid", "owner", "perms", "used-bytes", "messages"
    );
    for r in rows("msg") {
        println!(
            "{}{:<12} {:<12}",
            lead(&r, "msqid", users),
            num(&r, "cbytes"),
            num(&r, "qnum")
        );
    }
}

fn do_shm(users: &HashMap<i64, String>) {
    println!("------ Shared Memory Segments --------");
    println!(
        "{:<10} {:<10} {:<10} {:<10} {:<10} {:<10} {:<12}",
        "key", "shmid", "owner", "perms", "bytes", "nattch", "status"
    );
    for r in rows("shm") {
        let mode = u32::from_str_radix(r.get("perms").map_or("0", |s| s), 8).unwrap_or(0);
        println!(
            "{}{:<10} {:<10} {:<6} {:<6}",
            lead(&r, "shmid", users),
            num(&r, "size"),
            num(&r, "nattch"),
            if mode & SHM_DEST != 0 { "dest" } else { " " },
            if mode & SHM_LOCKED != 0 {
                "locked"
            } else {
                " "
            }
        );
    }
}

fn do_sem(users: &HashMap<i64, String>) {
    println!("------ Semaphore Arrays --------");
    println!(
        "{:<10} {:<10} {:<10} {:<10} {:<10}",
        "key", "semid", "owner", "perms", "nsems"
    );
    for r in rows("sem") {
        println!("{}{:<10}", lead(&r, "semid", users), num(&r, "nsems"));
    }
}

fn main() {
    let (mut msg, mut shm, mut sem) = (false, false, false);
    for arg in std::env::args().skip(1) {
        let Some(flags) = arg.strip_prefix('-').filter(|f| !f.is_empty()) else {
            usage_error("ipcs", format!("invalid argument '{arg}'"), USAGE, 1);
        };
        for c in flags.chars() {
            match c {
                'a' => (msg, shm, sem) = (true, true, true),
                'q' => msg = true,
                'm' => shm = true,
                's' => sem = true,
                _ => usage_error("ipcs", format!("invalid option -- '{c}'"), USAGE, 1),
            }
        }
    }
    if !(msg || shm || sem) {
        (msg, shm, sem) = (true, true, true);
    }
    let users = users();
    println!();
    if msg {
        do_msg(&users);
        println!();
    }
    if shm {
        do_shm(&users);
        println!();
    }
    if sem {
        do_sem(&users);
        println!();
    }
}
