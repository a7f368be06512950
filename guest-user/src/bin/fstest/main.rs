//! `fstest [CHECK...]`: tests the filesystem system calls as Linux defines them, errno for
//! errno: files (open flags, reads and writes, seeks, sizes, attributes), names (directories,
//! links, renames, path walk rules, the working directory, permissions), descriptors (dup,
//! fcntl, close_range, limits), pipes and FIFOs, poll and select, the memory devices, the
//! basics of procfs, and bad pointers answered with EFAULT.
//!
//! Prints `ok:` / `FAIL:` / `skip:` per check (see `guest_user::check`) and exits 0 only if
//! none failed. Every check fails on a kernel that lacks the behaviour it names. Runs in the
//! guest (as init's child, as root) and on a Linux host (where it shows what Linux does);
//! each check works in its own directory under /tmp.
//!
//! `fstest --fds-open FD...`, `--emit-output` and `--write-to FILE TEXT` are helper modes
//! that checks exec.

mod devices;
mod dirs;
mod efault;
mod fds;
mod files;
mod mapping;
mod perms;
mod pipes;
mod poll;
mod procfs;
mod util;

use guest_user::check::{NamedCheck, Report};
use guest_user::sys;

const CHECKS: &[NamedCheck] = &[
    ("open_creat_excl", files::open_creat_excl),
    ("open_trunc", files::open_trunc),
    ("open_append", files::open_append),
    ("read_write_vectors", files::read_write_vectors),
    (
        "append_from_two_processes",
        files::append_from_two_processes,
    ),
    ("lseek_holes", files::lseek_holes),
    ("truncate_sizes", files::truncate_sizes),
    ("stat_family", files::stat_family),
    ("timestamps", files::timestamps),
    ("statx_fields", files::statx_fields),
    ("open_directory_on_file", files::open_directory_on_file),
    ("open_dir_for_write", files::open_dir_for_write),
    ("unlink_while_open", files::unlink_while_open),
    ("cloexec_on_exec", files::cloexec_on_exec),
    (
        "shared_map_and_read_write",
        mapping::shared_map_and_read_write,
    ),
    (
        "shared_map_two_processes",
        mapping::shared_map_two_processes,
    ),
    ("msync_args", mapping::msync_args),
    ("sigbus_past_eof", mapping::sigbus_past_eof),
    ("sparse_file_holes", mapping::sparse_file_holes),
    ("big_file_counted_once", mapping::big_file_counted_once),
    (
        "shared_map_needs_write_access",
        mapping::shared_map_needs_write_access,
    ),
    ("mkdir_rmdir", dirs::mkdir_rmdir),
    ("at_calls_with_dirfd", dirs::at_calls_with_dirfd),
    ("readdir_listing", dirs::readdir_listing),
    ("rename_rules", dirs::rename_rules),
    ("hard_links", dirs::hard_links),
    ("symlink_readlink", dirs::symlink_readlink),
    ("symlink_loops", dirs::symlink_loops),
    ("open_nofollow", dirs::open_nofollow),
    ("trailing_slash", dirs::trailing_slash),
    ("name_too_long", dirs::name_too_long),
    ("cwd_and_dotdot", dirs::cwd_and_dotdot),
    ("getcwd_removed_dir", dirs::getcwd_removed_dir),
    ("umask_modes", perms::umask_modes),
    ("chmod_access", perms::chmod_access),
    ("permissions_non_root", perms::permissions_non_root),
    ("mknod_fifo_and_device", perms::mknod_fifo_and_device),
    ("dup_family", fds::dup_family),
    ("fcntl_fd_flags", fds::fcntl_fd_flags),
    ("fcntl_status_flags", fds::fcntl_status_flags),
    ("close_range", fds::close_range),
    ("fork_shares_offsets", fds::fork_shares_offsets),
    ("ioctl_generic", fds::ioctl_generic),
    ("ebadf", fds::ebadf),
    ("emfile", fds::emfile),
    ("rlimit_nofile", fds::rlimit_nofile),
    ("pipe_basic", pipes::pipe_basic),
    ("pipe_eof", pipes::pipe_eof),
    ("sigpipe_kills", pipes::sigpipe_kills),
    ("epipe_when_ignored", pipes::epipe_when_ignored),
    ("pipe_nonblock", pipes::pipe_nonblock),
    ("pipe_capacity", pipes::pipe_capacity),
    ("pipe_setsize", pipes::pipe_setsize),
    ("pipe_buf_atomic", pipes::pipe_buf_atomic),
    ("pipe_fionread", pipes::pipe_fionread),
    ("pipe_read_interrupted", pipes::pipe_read_interrupted),
    ("pipe_large_transfer", pipes::pipe_large_transfer),
    ("pipe_wakes_reader", pipes::pipe_wakes_reader),
    ("pipe_wakes_writer", pipes::pipe_wakes_writer),
    ("command_output", pipes::command_output),
    ("fifo_between_processes", pipes::fifo_between_processes),
    ("fifo_open_race", pipes::fifo_open_race),
    ("poll_pipe_states", poll::poll_pipe_states),
    ("poll_files_always_ready", poll::poll_files_always_ready),
    ("poll_timeout", poll::poll_timeout),
    ("poll_woken_by_writer", poll::poll_woken_by_writer),
    (
        "poll_survives_stop_and_continue",
        poll::poll_survives_stop_and_continue,
    ),
    ("select_pipes", poll::select_pipes),
    ("ppoll_sigmask", poll::ppoll_sigmask),
    ("dev_null", devices::dev_null),
    ("dev_zero", devices::dev_zero),
    ("dev_full", devices::dev_full),
    ("dev_urandom", devices::dev_urandom),
    ("devtmpfs_mounted", devices::devtmpfs_mounted),
    ("dev_numbers", devices::dev_numbers),
    ("dev_seek_and_pread", devices::dev_seek_and_pread),
    ("proc_self_stat", procfs::proc_self_stat),
    ("proc_self_exe", procfs::proc_self_exe),
    ("proc_self_fd", procfs::proc_self_fd),
    ("proc_self_cwd", procfs::proc_self_cwd),
    ("proc_net_link", procfs::proc_net_link),
    ("proc_sys_pid_max", procfs::proc_sys_pid_max),
    ("proc_filesystems", procfs::proc_filesystems),
    ("sys_kernel_attributes", procfs::sys_kernel_attributes),
    ("proc_names_are_fixed", procfs::proc_names_are_fixed),
    ("efault_paths", efault::efault_paths),
    ("efault_buffers", efault::efault_buffers),
    (
        "efault_pipe_poll_getdents",
        efault::efault_pipe_poll_getdents,
    ),
    ("bad_iovecs", efault::bad_iovecs),
    ("bad_arguments", efault::bad_arguments),
];

/// The modes in which a check runs this program as its helper; `None` for a normal run.
fn helper(args: &[String]) -> Option<i32> {
    match args.first()?.as_str() {
        // Exit status: bit i set if the i-th descriptor named is open.
        "--fds-open" => Some(
            args[1..]
                .iter()
                .enumerate()
                .filter(|(_, fd)| fd.parse().is_ok_and(util::is_open))
                .fold(0, |bits, (i, _)| bits | 1 << i),
        ),
        "--emit-output" => {
            println!("to stdout");
            eprintln!("to stderr");
            Some(7)
        }
        // Open FILE for writing (waiting for a FIFO's reader) and write TEXT: 0 if done.
        "--write-to" => {
            let (file, text) = (args.get(1)?, args.get(2)?);
            let written = util::open(file, libc::O_WRONLY, 0)
                .and_then(|fd| util::write(std::os::fd::AsRawFd::as_raw_fd(&fd), text.as_bytes()));
            Some(if written.is_ok() { 0 } else { 1 })
        }
        _ => None,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(code) = helper(&args) {
        sys::exit_now(code);
    }
    // The mode checks assume the usual umask.
    util::umask(0o022);
    let mut report = Report::new("fstest");
    report.run_table(CHECKS, &args);
    report.finish();
}
