//! AF_UNIX addresses (`struct sockaddr_un`): a name in the filesystem or in the abstract
//! namespace (a leading NUL byte), as `unix_validate_addr` and `unix_mkname` read them.

use alloc::vec::Vec;

use crate::kernel::errno::*;

pub const AF_UNIX: u16 = 1;
/// `offsetof(struct sockaddr_un, sun_path)`.
const SUN_PATH_OFFSET: usize = 2;
/// `sizeof(struct sockaddr_un)`.
pub const SOCKADDR_UN_SIZE: usize = SUN_PATH_OFFSET + 108;

/// A socket's name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum UnixAddr {
    /// A path in the filesystem (without its NUL).
    Path(Vec<u8>),
    /// An abstract name: the bytes after the leading NUL, any bytes, exactly as long as given.
    Abstract(Vec<u8>),
}

/// What a user's `sockaddr_un` asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum SockAddr {
    /// Only the family: bind picks an abstract name (autobind).
    Unnamed,
    Named(UnixAddr),
}

/// Read `raw` (all `addrlen` bytes of it): `EINVAL` for a wrong length or family.
pub fn parse_sockaddr(raw: &[u8]) -> KResult<SockAddr> {
    if raw.len() < SUN_PATH_OFFSET || raw.len() > SOCKADDR_UN_SIZE {
        return Err(EINVAL);
    }
    if u16::from_ne_bytes([raw[0], raw[1]]) != AF_UNIX {
        return Err(EINVAL);
    }
    let name = &raw[SUN_PATH_OFFSET..];
    Ok(match name.first() {
        None => SockAddr::Unnamed,
        Some(0) => SockAddr::Named(UnixAddr::Abstract(name[1..].to_vec())),
        Some(_) => {
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            SockAddr::Named(UnixAddr::Path(name[..end].to_vec()))
        }
    })
}

/// The `sockaddr_un` getsockname and recvfrom give back (its length is the vector's): just
/// the family for an unnamed socket, a path with its NUL, an abstract name as bound.
pub fn sockaddr_bytes(addr: Option<&UnixAddr>) -> Vec<u8> {
    let mut out = AF_UNIX.to_ne_bytes().to_vec();
    match addr {
        None => {}
        Some(UnixAddr::Path(p)) => {
            out.extend_from_slice(p);
            out.push(0);
        }
        Some(UnixAddr::Abstract(n)) => {
            out.push(0);
            out.extend_from_slice(n);
        }
    }
    out
}

/// The name autobind gives: five hex digits in the abstract namespace (`unix_autobind`).
pub fn autobind_name(n: u32) -> UnixAddr {
    UnixAddr::Abstract(alloc::format!("{:05x}", n & 0xfffff).into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(name: &[u8]) -> Vec<u8> {
        let mut v = AF_UNIX.to_ne_bytes().to_vec();
        v.extend_from_slice(name);
        v
    }

    #[test]
    fn paths_stop_at_their_nul_and_abstract_names_keep_every_byte() {
        assert_eq!(
            parse_sockaddr(&raw(b"/tmp/s\0junk")),
            Ok(SockAddr::Named(UnixAddr::Path(b"/tmp/s".to_vec())))
        );
        assert_eq!(
            parse_sockaddr(&raw(b"/tmp/s")),
            Ok(SockAddr::Named(UnixAddr::Path(b"/tmp/s".to_vec())))
        );
        assert_eq!(
            parse_sockaddr(&raw(b"\0ab\0c")),
            Ok(SockAddr::Named(UnixAddr::Abstract(b"ab\0c".to_vec())))
        );
        assert_eq!(parse_sockaddr(&raw(b"")), Ok(SockAddr::Unnamed));
    }

    #[test]
    fn bad_lengths_and_families_are_einval() {
        assert_eq!(parse_sockaddr(&[1]), Err(EINVAL));
        assert_eq!(parse_sockaddr(&raw(&[b'a'; 109])), Err(EINVAL));
        assert!(parse_sockaddr(&raw(&[b'a'; 108])).is_ok());
        assert_eq!(parse_sockaddr(&[2, 0, b'a']), Err(EINVAL));
    }

    #[test]
    fn names_read_back_as_linux_writes_them() {
        assert_eq!(sockaddr_bytes(None), raw(b""));
        let p = UnixAddr::Path(b"/s".to_vec());
        assert_eq!(sockaddr_bytes(Some(&p)), raw(b"/s\0"));
        let a = UnixAddr::Abstract(b"x".to_vec());
        assert_eq!(sockaddr_bytes(Some(&a)), raw(b"\0x"));
        assert_eq!(autobind_name(0x1a), UnixAddr::Abstract(b"0001a".to_vec()));
    }
}
