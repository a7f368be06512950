//! The architecture layer. Everything above it is architecture-neutral safe Rust.
//!
//! Host unit tests (`cargo test` on the build machine) get a stand-in with the same surface, so
//! pure kernel logic that logs or reads the clock still compiles and runs there.

#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub mod x86_64;
#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub use self::x86_64::*;

#[cfg(test)]
pub mod host;
#[cfg(test)]
pub use self::host::*;
