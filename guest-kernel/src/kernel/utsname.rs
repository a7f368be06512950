//! The host and domain names `uname` reports (Linux's `init_uts_ns` fields set by
//! `sethostname` and `setdomainname` in kernel/sys.c). Changing them needs root
//! (`CAP_SYS_ADMIN`); names are at most `__NEW_UTS_LEN` (64) bytes.

use alloc::string::String;

use spin::Mutex;

use crate::kernel::errno::*;
use crate::kernel::task::current;
use crate::mm::usercopy::copy_from_user;

/// `__NEW_UTS_LEN`: the longest name (its `utsname` field has one more byte for the NUL).
pub const NEW_UTS_LEN: usize = 64;

/// The node name (`hostname`) and NIS domain name once set; `uts_sem` guards them in Linux.
static UTS: Mutex<(Option<String>, Option<String>)> = Mutex::new((None, None));

/// The node name: "watchvm" until `sethostname` changes it.
pub fn nodename() -> String {
    UTS.lock()
        .0
        .clone()
        .unwrap_or_else(|| String::from("watchvm"))
}

/// The domain name: "(none)" until `setdomainname` changes it.
pub fn domainname() -> String {
    UTS.lock()
        .1
        .clone()
        .unwrap_or_else(|| String::from("(none)"))
}

/// Sets the node name (the `kernel.hostname` sysctl), at most 64 bytes.
pub fn set_nodename(name: &str) -> KResult<()> {
    if name.len() > NEW_UTS_LEN {
        return Err(EINVAL);
    }
    UTS.lock().0 = Some(String::from(name));
    Ok(())
}

/// Sets the domain name (the `kernel.domainname` sysctl).
pub fn set_domainname(name: &str) -> KResult<()> {
    if name.len() > NEW_UTS_LEN {
        return Err(EINVAL);
    }
    UTS.lock().1 = Some(String::from(name));
    Ok(())
}

/// A name from user space for `sethostname`/`setdomainname`: root only, at most 64 bytes.
fn user_name(name: u64, len: u64) -> KResult<String> {
    if current().cred.lock().euid != 0 {
        return Err(EPERM);
    }
    if len as usize > NEW_UTS_LEN {
        return Err(EINVAL);
    }
    let mut buf = [0u8; NEW_UTS_LEN];
    copy_from_user(&mut buf[..len as usize], name)?;
    // The field is fixed-size and NUL-padded: a NUL inside ends the name.
    let bytes = &buf[..len as usize];
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    Ok(String::from_utf8_lossy(&bytes[..end]).into_owned())
}

pub fn sys_sethostname(name: u64, len: u64) -> KResult<i64> {
    set_nodename(&user_name(name, len)?)?;
    Ok(0)
}

pub fn sys_setdomainname(name: u64, len: u64) -> KResult<i64> {
    set_domainname(&user_name(name, len)?)?;
    Ok(0)
}
