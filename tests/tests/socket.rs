//! eventfd, epoll and AF_UNIX sockets, checked by the guest's `sockettest` program on a
//! 2-CPU VM, and all together on the second platform (QEMU with TCG).

use std::time::Duration;

use vm_tests::{assert_checks_passed, boot, qemu_boot};

const EVENTFD: &[&str] = &[
    "eventfd_counter",
    "eventfd_semaphore",
    "eventfd_overflow",
    "eventfd_wakes_reader",
];

const EPOLL: &[&str] = &[
    "epoll_ctl_errors",
    "epoll_level_triggered",
    "epoll_edge_triggered",
    "epoll_oneshot",
    "epoll_hup_and_err",
    "epoll_timeout",
    "epoll_signal_eintr",
    "epoll_wakes_waiter",
    "epoll_nested",
    "epoll_close_removes",
    "epoll_maxevents",
];

const UNIX: &[&str] = &[
    "unix_socket_errors",
    "unix_stream_echo_path",
    "unix_abstract_and_autobind",
    "unix_dgram_boundaries",
    "unix_seqpacket",
    "unix_scm_rights",
    "unix_epipe_sigpipe",
    "unix_econnrefused",
    "unix_shutdown",
    "unix_poll_epoll",
    "unix_options_and_peek",
    "unix_stream_large_transfer",
    "unix_proc_net_unix",
    "unix_gc_in_flight_cycles",
];

/// Run sockettest with `checks` as init's child on our VMM with 2 CPUs.
fn run_sockettest(checks: &[&str]) {
    let o = boot(&format!("quiet -- /bin/sockettest {}", checks.join(" ")), 2);
    assert_checks_passed("sockettest", checks, Some(o.status()), &o.console);
}

#[test]
fn eventfd_counter_semaphore_and_limits() {
    run_sockettest(EVENTFD);
}

#[test]
fn epoll_level_edge_oneshot_nesting_and_errors() {
    run_sockettest(EPOLL);
}

#[test]
fn unix_sockets_stream_dgram_seqpacket_fd_passing_and_errors() {
    run_sockettest(UNIX);
}

#[test]
fn qemu_tcg_runs_every_sockettest_check() {
    let all: Vec<&str> = [EVENTFD, EPOLL, UNIX].concat();
    let (status, out) = qemu_boot(
        &format!("console=ttyS0 quiet -- /bin/sockettest {}", all.join(" ")),
        Duration::from_secs(600),
    );
    assert_checks_passed("sockettest", &all, status, &out);
}
