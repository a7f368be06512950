//! `/proc/version` (Linux's fs/proc/version.c): the `linux_proc_banner`,
//! "Linux version <release> (<user>@<host>) (<compiler>) <version>".

use alloc::string::String;
use core::fmt::Write;

/// Who built the kernel, where (Linux's LINUX_COMPILE_BY, LINUX_COMPILE_HOST): fixed, so
/// that builds are reproducible, as with KBUILD_BUILD_USER/HOST.
pub const LINUX_COMPILE_BY: &str = "watchvm";
pub const LINUX_COMPILE_HOST: &str = "watchvm";
/// The compiler that built the kernel (`rustc --version`, from build.rs).
pub const LINUX_COMPILER: &str = env!("WATCHVM_COMPILER");

pub fn version_format(sysname: &str, release: &str, version: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{sysname} version {release} ({LINUX_COMPILE_BY}@{LINUX_COMPILE_HOST}) \
         ({LINUX_COMPILER}) {version}"
    );
    s
}

/// `/proc/version`, from what uname(2) reports.
#[cfg(not(test))]
pub fn version_proc_show() -> String {
    use crate::kernel::sys::{UTS_RELEASE, UTS_SYSNAME, UTS_VERSION};
    version_format(UTS_SYSNAME, UTS_RELEASE, UTS_VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banner_layout() {
        let v = version_format("Linux", "6.1.0-watchvm", "#1 SMP PREEMPT watchvm 0.1.0");
        assert!(
            v.starts_with("Linux version 6.1.0-watchvm (watchvm@watchvm) (rustc "),
            "{v}"
        );
        assert!(v.ends_with(") #1 SMP PREEMPT watchvm 0.1.0\n"), "{v}");
        assert_eq!(v.matches('\n').count(), 1);
    }
}
