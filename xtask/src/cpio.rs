//! Writing cpio `newc` archives (the initramfs format the kernel unpacks).

/// One archive member.
pub enum Member<'a> {
    Dir(&'a str),
    File {
        path: &'a str,
        mode: u32,
        data: &'a [u8],
    },
    CharDev {
        path: &'a str,
        major: u32,
        minor: u32,
    },
    Symlink {
        path: &'a str,
        target: &'a str,
    },
}

fn push_entry(out: &mut Vec<u8>, ino: u32, name: &str, mode: u32, data: &[u8], rdev: (u32, u32)) {
    let header = format!(
        "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
        ino,
        mode,
        0,
        0,
        1,
        0,
        data.len(),
        0,
        0,
        rdev.0,
        rdev.1,
        name.len() + 1,
        0
    );
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

pub fn archive(members: &[Member]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let ino = i as u32 + 1;
        match m {
            Member::Dir(path) => push_entry(&mut out, ino, path, 0o040755, &[], (0, 0)),
            Member::File { path, mode, data } => {
                push_entry(&mut out, ino, path, 0o100000 | mode, data, (0, 0))
            }
            Member::CharDev { path, major, minor } => {
                push_entry(&mut out, ino, path, 0o020600, &[], (*major, *minor))
            }
            Member::Symlink { path, target } => {
                push_entry(&mut out, ino, path, 0o120777, target.as_bytes(), (0, 0))
            }
        }
    }
    push_entry(&mut out, 0, "TRAILER!!!", 0, &[], (0, 0));
    // Pad to 512 bytes like cpio(1) does.
    while out.len() % 512 != 0 {
        out.push(0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_newc() {
        let a = archive(&[
            Member::Dir("bin"),
            Member::File {
                path: "bin/x",
                mode: 0o755,
                data: b"abc",
            },
        ]);
        assert!(a.starts_with(b"070701"));
        assert_eq!(&a[110..114], b"bin\0");
        let second = 116; // 110 + "bin\0" padded to 4 bytes → 116
        assert_eq!(&a[second..second + 6], b"070701");
        assert_eq!(&a[second + 54..second + 62], b"00000003");
        assert_eq!(a.len() % 512, 0);
        assert!(a.windows(10).any(|w| w == b"TRAILER!!!"));
    }
}
