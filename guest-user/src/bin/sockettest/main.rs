//! `sockettest [CHECK...]`: tests eventfd, epoll and AF_UNIX sockets as Linux defines them,
//! errno for errno: the eventfd counter and semaphore, epoll's level- and edge-triggered and
//! one-shot reports over pipes, eventfds and sockets, nesting, timeouts and signals; unix
//! stream, datagram and seqpacket sockets between forked processes, names in the filesystem
//! and the abstract namespace, descriptor passing, credentials and the errors of each call.
//!
//! Prints `ok:` / `FAIL:` / `skip:` per check (see `guest_user::check`) and exits 0 only if
//! none failed. Runs in the guest and on a Linux host (where it shows what Linux does).

mod epoll;
mod eventfd;
mod unix;
mod unixconn;
mod unixgc;
mod unixsock;
#[path = "../fstest/util.rs"]
#[allow(dead_code)]
mod util;

use guest_user::check::{NamedCheck, Report};

const CHECKS: &[NamedCheck] = &[
    ("eventfd_counter", eventfd::eventfd_counter),
    ("eventfd_semaphore", eventfd::eventfd_semaphore),
    ("eventfd_overflow", eventfd::eventfd_overflow),
    ("eventfd_wakes_reader", eventfd::eventfd_wakes_reader),
    ("epoll_ctl_errors", epoll::epoll_ctl_errors),
    ("epoll_level_triggered", epoll::epoll_level_triggered),
    ("epoll_edge_triggered", epoll::epoll_edge_triggered),
    ("epoll_oneshot", epoll::epoll_oneshot),
    ("epoll_hup_and_err", epoll::epoll_hup_and_err),
    ("epoll_timeout", epoll::epoll_timeout),
    ("epoll_signal_eintr", epoll::epoll_signal_eintr),
    ("epoll_wakes_waiter", epoll::epoll_wakes_waiter),
    ("epoll_nested", epoll::epoll_nested),
    ("epoll_close_removes", epoll::epoll_close_removes),
    ("epoll_maxevents", epoll::epoll_maxevents),
    ("unix_socket_errors", unix::unix_socket_errors),
    ("unix_stream_echo_path", unix::unix_stream_echo_path),
    (
        "unix_abstract_and_autobind",
        unix::unix_abstract_and_autobind,
    ),
    ("unix_dgram_boundaries", unix::unix_dgram_boundaries),
    ("unix_seqpacket", unix::unix_seqpacket),
    ("unix_scm_rights", unixconn::unix_scm_rights),
    ("unix_epipe_sigpipe", unixconn::unix_epipe_sigpipe),
    ("unix_econnrefused", unixconn::unix_econnrefused),
    ("unix_shutdown", unixconn::unix_shutdown),
    ("unix_poll_epoll", unixconn::unix_poll_epoll),
    ("unix_options_and_peek", unixconn::unix_options_and_peek),
    (
        "unix_stream_large_transfer",
        unixconn::unix_stream_large_transfer,
    ),
    ("unix_proc_net_unix", unixgc::unix_proc_net_unix),
    ("unix_gc_in_flight_cycles", unixgc::unix_gc_in_flight_cycles),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    util::umask(0o022);
    let mut report = Report::new("sockettest");
    report.run_table(CHECKS, &args);
    report.finish();
}
