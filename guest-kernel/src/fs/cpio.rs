//! The cpio `newc` format of initramfs archives (Linux's init/initramfs.c reads the same).
//!
//! Each entry: a 110-byte ASCII header ("070701" + 13 eight-digit hex fields), the NUL-ended
//! name padded to 4 bytes, then the data padded to 4 bytes. "TRAILER!!!" ends the archive.
//! The parser borrows from the archive: file data is never copied here.

#[cfg(test)]
use super::inode::{S_IFDIR, S_IFMT, S_IFREG};

#[derive(Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    pub name: &'a str,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: u32,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    pub data: &'a [u8],
}

#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    BadMagic { offset: usize },
    Truncated { offset: usize },
    BadHeader { offset: usize },
    BadName { offset: usize },
}

pub struct Reader<'a> {
    archive: &'a [u8],
    offset: usize,
    done: bool,
}

impl<'a> Reader<'a> {
    pub fn new(archive: &'a [u8]) -> Self {
        Reader {
            archive,
            offset: 0,
            done: false,
        }
    }
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn hex_field(header: &[u8], index: usize) -> Option<u32> {
    let field = header.get(6 + index * 8..6 + index * 8 + 8)?;
    let mut v = 0u32;
    for &c in field {
        // Byte arithmetic, not `char::to_digit`: every boot parses these, instruction by
        // emulated instruction.
        let digit = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        v = v << 4 | u32::from(digit);
    }
    Some(v)
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<Entry<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        // Archives may be concatenated and padded with zeros; skip the padding.
        while self.archive.get(self.offset) == Some(&0) {
            self.offset += 1;
        }
        if self.offset >= self.archive.len() {
            return None;
        }
        let result = self.parse_one();
        if !matches!(result, Ok(Some(_))) {
            self.done = true;
        }
        result.transpose()
    }
}

impl<'a> Reader<'a> {
    fn parse_one(&mut self) -> Result<Option<Entry<'a>>, Error> {
        let offset = self.offset;
        let header = self
            .archive
            .get(offset..offset + 110)
            .ok_or(Error::Truncated { offset })?;
        if &header[..6] != b"070701" && &header[..6] != b"070702" {
            return Err(Error::BadMagic { offset });
        }
        let field = |i| hex_field(header, i).ok_or(Error::BadHeader { offset });
        let (mode, uid, gid, mtime) = (field(1)?, field(2)?, field(3)?, field(5)?);
        let filesize = field(6)? as usize;
        let (rdev_major, rdev_minor) = (field(9)?, field(10)?);
        let namesize = field(11)? as usize;
        if namesize == 0 {
            return Err(Error::BadName { offset });
        }
        let name_start = offset + 110;
        let name_bytes = self
            .archive
            .get(name_start..name_start + namesize)
            .ok_or(Error::Truncated { offset })?;
        let name = core::str::from_utf8(&name_bytes[..namesize - 1])
            .map_err(|_| Error::BadName { offset })?;
        let data_start = align4(name_start + namesize);
        let data_end = data_start
            .checked_add(filesize)
            .ok_or(Error::Truncated { offset })?;
        let data = self
            .archive
            .get(data_start..data_end)
            .ok_or(Error::Truncated { offset })?;
        self.offset = align4(data_end);
        if name == "TRAILER!!!" {
            // A later archive may follow (concatenated initramfs); keep going.
            return match self.next() {
                Some(r) => r.map(Some),
                None => Ok(None),
            };
        }
        Ok(Some(Entry {
            name,
            mode,
            uid,
            gid,
            mtime,
            rdev_major,
            rdev_minor,
            data,
        }))
    }
}

/// Build a newc archive (host tests and tools use the same layout).
#[cfg(test)]
pub fn build(entries: &[(&str, u32, &[u8])]) -> alloc::vec::Vec<u8> {
    use alloc::format;
    let mut out = alloc::vec::Vec::new();
    let mut push = |name: &str, mode: u32, data: &[u8]| {
        let header =
            format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            1, mode, 0, 0, 1, 0, data.len(), 0, 0, 0, 0, name.len() + 1, 0
        );
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out.extend_from_slice(data);
        while out.len() % 4 != 0 {
            out.push(0);
        }
    };
    for (name, mode, data) in entries {
        push(name, *mode, data);
    }
    push("TRAILER!!!", 0, &[]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_entries_in_order_with_their_data() {
        let a = build(&[
            ("sbin", S_IFDIR | 0o755, b""),
            ("sbin/init", S_IFREG | 0o755, b"\x7fELFxyz"),
        ]);
        let entries: Vec<_> = Reader::new(&a).map(|e| e.unwrap()).collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].name, "sbin");
        assert_eq!(entries[0].mode & S_IFMT, S_IFDIR);
        assert_eq!(entries[1].name, "sbin/init");
        assert_eq!(entries[1].data, b"\x7fELFxyz");
    }

    #[test]
    fn concatenated_archives_are_all_read() {
        let mut a = build(&[("a", S_IFREG, b"1")]);
        a.extend_from_slice(&[0; 8]);
        a.extend(build(&[("b", S_IFREG, b"22")]));
        let names: Vec<_> = Reader::new(&a).map(|e| e.unwrap().name).collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn truncated_and_corrupt_archives_give_errors_not_panics() {
        let a = build(&[("file", S_IFREG, b"hello world")]);
        for cut in [5, 110, 115, 120, 125] {
            let r: Vec<_> = Reader::new(&a[..cut]).collect();
            assert!(matches!(r.last(), Some(Err(_))), "cut at {cut}: {r:?}");
        }
        let mut bad = a.clone();
        bad[0] = b'X';
        assert_eq!(
            Reader::new(&bad).next(),
            Some(Err(Error::BadMagic { offset: 0 }))
        );
        let mut bad = a.clone();
        bad[20] = b'g';
        assert!(matches!(
            Reader::new(&bad).next(),
            Some(Err(Error::BadHeader { .. }))
        ));
        // A huge file size must not overflow.
        let mut bad = a;
        bad[54..62].copy_from_slice(b"ffffffff");
        assert!(matches!(
            Reader::new(&bad).next(),
            Some(Err(Error::Truncated { .. }))
        ));
    }
}
