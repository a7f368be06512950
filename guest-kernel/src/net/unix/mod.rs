//! AF_UNIX (Linux's net/unix/): local sockets named in the filesystem or the abstract
//! namespace, with descriptor passing.

pub mod addr;
#[cfg(not(test))]
pub mod af_unix;
#[cfg(not(test))]
mod garbage;
#[cfg(not(test))]
mod msg;
pub mod skb;
