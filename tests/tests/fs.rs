//! The file system calls, checked by the guest's `fstest` program on a 2-CPU VM, family by
//! family, and all together on the second platform (QEMU with TCG).

use std::time::Duration;

use vm_tests::{assert_checks_passed, boot, qemu_boot};

const FILES: &[&str] = &[
    "open_creat_excl",
    "open_trunc",
    "open_append",
    "read_write_vectors",
    "append_from_two_processes",
    "lseek_holes",
    "truncate_sizes",
    "stat_family",
    "timestamps",
    "statx_fields",
    "open_directory_on_file",
    "open_dir_for_write",
    "unlink_while_open",
    "cloexec_on_exec",
];

const MAPPINGS: &[&str] = &[
    "shared_map_and_read_write",
    "shared_map_two_processes",
    "msync_args",
    "sigbus_past_eof",
    "sparse_file_holes",
    "big_file_counted_once",
    "shared_map_needs_write_access",
];

const NAMES: &[&str] = &[
    "mkdir_rmdir",
    "at_calls_with_dirfd",
    "readdir_listing",
    "rename_rules",
    "hard_links",
    "symlink_readlink",
    "symlink_loops",
    "open_nofollow",
    "trailing_slash",
    "name_too_long",
    "cwd_and_dotdot",
    "getcwd_removed_dir",
    "umask_modes",
    "chmod_access",
    "permissions_non_root",
    "mknod_fifo_and_device",
];

const DESCRIPTORS: &[&str] = &[
    "dup_family",
    "fcntl_fd_flags",
    "fcntl_status_flags",
    "close_range",
    "fork_shares_offsets",
    "ioctl_generic",
    "ebadf",
    "emfile",
    "rlimit_nofile",
];

const PIPES: &[&str] = &[
    "pipe_basic",
    "pipe_eof",
    "sigpipe_kills",
    "epipe_when_ignored",
    "pipe_nonblock",
    "pipe_capacity",
    "pipe_setsize",
    "pipe_buf_atomic",
    "pipe_fionread",
    "pipe_read_interrupted",
    "pipe_large_transfer",
    "pipe_wakes_reader",
    "pipe_wakes_writer",
    "command_output",
    "fifo_between_processes",
    "fifo_open_race",
];

const POLL: &[&str] = &[
    "poll_pipe_states",
    "poll_files_always_ready",
    "poll_timeout",
    "poll_woken_by_writer",
    "poll_survives_stop_and_continue",
    "select_pipes",
    "ppoll_sigmask",
];

const DEVICES_AND_PROC: &[&str] = &[
    "dev_null",
    "dev_zero",
    "dev_full",
    "dev_urandom",
    "devtmpfs_mounted",
    "dev_numbers",
    "dev_seek_and_pread",
    "proc_self_stat",
    "proc_self_exe",
    "proc_self_fd",
    "proc_self_cwd",
    "proc_net_link",
    "proc_sys_pid_max",
    "proc_filesystems",
    "sys_kernel_attributes",
    "proc_names_are_fixed",
];

const BAD_INPUT: &[&str] = &[
    "efault_paths",
    "efault_buffers",
    "efault_pipe_poll_getdents",
    "bad_iovecs",
    "bad_arguments",
];

/// Run fstest with `checks` as init's child on our VMM with 2 CPUs; returns the console.
fn run_fstest(checks: &[&str]) -> String {
    let o = boot(&format!("quiet -- /bin/fstest {}", checks.join(" ")), 2);
    assert_checks_passed("fstest", checks, Some(o.status()), &o.console);
    o.console
}

#[test]
fn file_mappings_share_the_page_cache() {
    run_fstest(MAPPINGS);
}

#[test]
fn files_open_read_write_seek_truncate_stat() {
    run_fstest(FILES);
}

#[test]
fn names_directories_links_renames_path_walk_and_permissions() {
    run_fstest(NAMES);
}

#[test]
fn descriptors_dup_fcntl_close_range_and_limits() {
    run_fstest(DESCRIPTORS);
}

#[test]
fn pipes_and_fifos() {
    run_fstest(PIPES);
}

#[test]
fn poll_select_and_ppoll() {
    run_fstest(POLL);
}

#[test]
fn devices_and_procfs() {
    let out = run_fstest(DEVICES_AND_PROC);
    assert!(out.contains("ok: proc_self_exe (/bin/fstest)"), "{out}");
}

#[test]
fn bad_pointers_get_efault() {
    run_fstest(BAD_INPUT);
}

#[test]
fn qemu_tcg_runs_every_fstest_check() {
    let all: Vec<&str> = [
        FILES,
        MAPPINGS,
        NAMES,
        DESCRIPTORS,
        PIPES,
        POLL,
        DEVICES_AND_PROC,
        BAD_INPUT,
    ]
    .concat();
    let (status, out) = qemu_boot(
        &format!("console=ttyS0 quiet -- /bin/fstest {}", all.join(" ")),
        Duration::from_secs(600),
    );
    assert_checks_passed("fstest", &all, status, &out);
    assert!(out.contains("ok: proc_self_exe (/bin/fstest)"), "{out}");
}
