//! Helpers shared by the guest-user programs (they are ordinary static Linux programs, so all of
//! this also runs on the host):
//!
//! - [`sys`]: thin wrappers over the system calls std does not offer (fork, wait, affinity,
//!   shared anonymous memory for talking to forked children, raw clone/vfork in assembly);
//! - [`check`]: the report format of the test programs (`ok:` / `FAIL:` / `skip:` lines, a
//!   summary, exit status 0 only if nothing failed) and a per-check watchdog;
//! - [`procfs`]: parsing `/proc/<pid>/stat` and friends the way procps does;
//! - [`signals`]: signal names and numbers as `kill -l` prints them;
//! - [`cli`]: one-line usage errors with the exit status the real tool uses.

pub mod check;
pub mod cli;
pub mod procfs;
pub mod signals;
pub mod sys;
