//! Networking (Linux's net/): the socket layer and the one family we have, AF_UNIX.

pub mod scm;
#[cfg(not(test))]
pub mod socket;
pub mod unix;
