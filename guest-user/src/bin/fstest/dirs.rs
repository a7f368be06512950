//! Names: directories, listings, renames, hard and symbolic links, the path walk's rules
//! (loops, O_NOFOLLOW, trailing slashes, length limits) and the working directory.

use std::os::fd::AsRawFd;

use guest_user::check::{in_child, pass, Check, Fail};
use guest_user::ensure;
use guest_user::sys::cvt;

use crate::util::*;

/// mkdir and rmdir with their errors: EEXIST, ENOENT, ENOTDIR, ENOTEMPTY, EINVAL, EISDIR.
pub(crate) fn mkdir_rmdir() -> Check {
    let dir = Scratch::new("mkdir")?;
    let d = dir.path("d");
    mkdir(&d, 0o755).ctx("mkdir")?;
    expect_errno(
        mkdir(&d, 0o755),
        libc::EEXIST,
        "mkdir of an existing directory",
    )?;
    let f = dir.file("f", b"x")?;
    expect_errno(mkdir(&f, 0o755), libc::EEXIST, "mkdir over a file")?;
    expect_errno(
        mkdir(dir.path("no/such"), 0o755),
        libc::ENOENT,
        "mkdir in a missing parent",
    )?;
    expect_errno(
        mkdir(dir.path("f/sub"), 0o755),
        libc::ENOTDIR,
        "mkdir under a file",
    )?;
    mkdir(dir.path("d/sub"), 0o755).ctx("mkdir d/sub")?;
    expect_errno(rmdir(&d), libc::ENOTEMPTY, "rmdir of a non-empty directory")?;
    expect_errno(rmdir(&f), libc::ENOTDIR, "rmdir of a file")?;
    expect_errno(unlink(&d), libc::EISDIR, "unlink of a directory")?;
    expect_errno(rmdir(dir.path("d/sub/.")), libc::EINVAL, "rmdir of d/sub/.")?;
    expect_errno(
        rmdir(dir.path("d/sub/..")),
        libc::ENOTEMPTY,
        "rmdir of d/sub/..",
    )?;
    let links = stat(&d).ctx("stat d")?.st_nlink;
    rmdir(dir.path("d/sub")).ctx("rmdir d/sub")?;
    let after = stat(&d).ctx("stat d")?.st_nlink;
    ensure!(
        after == links - 1,
        "parent nlink {links} → {after} after rmdir of a subdirectory"
    );
    rmdir(&d).ctx("rmdir d")?;
    expect_errno(rmdir(&d), libc::ENOENT, "second rmdir")?;
    expect_errno(stat(&d), libc::ENOENT, "stat of a removed directory")?;
    expect_errno(rmdir("/proc"), libc::EBUSY, "rmdir of a mount point")?;
    pass()
}

/// The `*at` calls resolve relative names from their directory descriptor; unlinkat takes
/// AT_REMOVEDIR and nothing else; an open file whose names are all gone cannot be linked
/// back in (ENOENT), while a live one can, through linkat's AT_EMPTY_PATH.
pub(crate) fn at_calls_with_dirfd() -> Check {
    let dir = Scratch::new("at_calls")?;
    let dfd = open(dir.dir(), libc::O_RDONLY | libc::O_DIRECTORY, 0).ctx("open dir")?;
    let d = dfd.as_raw_fd();
    let c = |s: &str| cstr(s);
    let done = |r: i32| cvt(r).map(drop);
    // SAFETY: the names are NUL-terminated strings that outlive the calls (as below).
    done(unsafe { libc::mkdirat(d, c("sub").as_ptr(), 0o755) }).ctx("mkdirat")?;
    ensure!(
        stat(dir.path("sub")).ctx("stat")?.st_mode & libc::S_IFMT == libc::S_IFDIR,
        "mkdirat"
    );
    let f = openat(d, "sub/f", libc::O_CREAT | libc::O_WRONLY, 0o644).ctx("openat O_CREAT")?;
    write(f.as_raw_fd(), b"at").ctx("write")?;
    // SAFETY: as above.
    done(unsafe { libc::symlinkat(c("sub/f").as_ptr(), d, c("l").as_ptr()) }).ctx("symlinkat")?;
    let mut buf = [0u8; 16];
    // SAFETY: as above; the kernel writes at most 16 bytes into `buf`.
    let n = unsafe { libc::readlinkat(d, c("l").as_ptr(), buf.as_mut_ptr().cast(), 16) };
    ensure!(n == 5 && &buf[..5] == b"sub/f", "readlinkat returned {n}");
    // SAFETY: as above.
    done(unsafe { libc::linkat(d, c("sub/f").as_ptr(), d, c("hard").as_ptr(), 0) })
        .ctx("linkat")?;
    // SAFETY: as above.
    done(unsafe {
        libc::linkat(
            f.as_raw_fd(),
            c("").as_ptr(),
            d,
            c("viafd").as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    })
    .ctx("linkat AT_EMPTY_PATH")?;
    let links = stat(dir.path("sub/f")).ctx("stat")?.st_nlink;
    ensure!(links == 3, "nlink {links} after two linkat calls, want 3");
    // SAFETY: as above.
    done(unsafe { libc::renameat(d, c("hard").as_ptr(), d, c("moved").as_ptr()) })
        .ctx("renameat")?;
    // SAFETY: as above.
    done(unsafe { libc::fchmodat(d, c("moved").as_ptr(), 0o600, 0) }).ctx("fchmodat")?;
    let mode = stat(dir.path("moved")).ctx("stat")?.st_mode;
    ensure!(
        mode == libc::S_IFREG | 0o600,
        "mode {mode:#o} after fchmodat 0600"
    );
    // SAFETY: as above.
    done(unsafe { libc::faccessat(d, c("moved").as_ptr(), libc::R_OK, 0) }).ctx("faccessat")?;
    let unlinkat = |name: &str, flags: i32| {
        let name = cstr(name);
        // SAFETY: as above.
        cvt(unsafe { libc::unlinkat(d, name.as_ptr(), flags) }).map(drop)
    };
    expect_errno(unlinkat("sub", 0), libc::EISDIR, "unlinkat of a directory")?;
    expect_errno(
        unlinkat("sub", libc::AT_REMOVEDIR),
        libc::ENOTEMPTY,
        "unlinkat AT_REMOVEDIR of a non-empty directory",
    )?;
    expect_errno(
        unlinkat("l", libc::AT_REMOVEDIR),
        libc::ENOTDIR,
        "AT_REMOVEDIR of a link",
    )?;
    expect_errno(unlinkat("l", 0x1), libc::EINVAL, "unlinkat with flags 1")?;
    for name in ["sub/f", "moved", "viafd", "l"] {
        unlinkat(name, 0).ctx(format!("unlinkat {name}"))?;
    }
    unlinkat("sub", libc::AT_REMOVEDIR).ctx("unlinkat AT_REMOVEDIR")?;
    ensure!(
        names_in(dir.dir()).ctx("list")?.is_empty(),
        "names left after unlinkat"
    );
    // SAFETY: as above.
    let relinked = cvt(unsafe {
        libc::linkat(
            f.as_raw_fd(),
            c("").as_ptr(),
            d,
            c("back").as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    });
    expect_errno(
        relinked,
        libc::ENOENT,
        "linkat AT_EMPTY_PATH of a file with no names left",
    )?;
    pass()
}

/// getdents64 lists every name with its type, `.` and `..` once each, and follows unlinks
/// and renames; a listing longer than one buffer continues where it stopped.
pub(crate) fn readdir_listing() -> Check {
    let dir = Scratch::new("readdir")?;
    dir.file("a", b"")?;
    dir.file("b", b"")?;
    mkdir(dir.path("c"), 0o755).ctx("mkdir")?;
    symlink("a", dir.path("d")).ctx("symlink")?;
    let types: Vec<(String, &str)> = std::fs::read_dir(dir.dir())
        .ctx("read_dir")?
        .map(|e| {
            let e = e.map_err(|e| Fail(format!("read_dir: {e}")))?;
            let t = e.file_type().map_err(|e| Fail(format!("file_type: {e}")))?;
            let kind = if t.is_dir() {
                "dir"
            } else if t.is_symlink() {
                "link"
            } else {
                "file"
            };
            Ok((e.file_name().to_string_lossy().into_owned(), kind))
        })
        .collect::<Result<_, Fail>>()?;
    let mut sorted = types.clone();
    sorted.sort();
    let want = [("a", "file"), ("b", "file"), ("c", "dir"), ("d", "link")];
    ensure!(
        sorted
            .iter()
            .map(|(n, k)| (n.as_str(), *k))
            .eq(want.iter().copied()),
        "listing {sorted:?}, want {want:?}"
    );
    unlink(dir.path("b")).ctx("unlink")?;
    rename(dir.path("a"), dir.path("e")).ctx("rename")?;
    let names = names_in(dir.dir()).ctx("list")?;
    ensure!(
        names == ["c", "d", "e"],
        "after unlink b, rename a→e: {names:?}"
    );
    let fd = open(dir.dir(), libc::O_RDONLY | libc::O_DIRECTORY, 0).ctx("open dir")?;
    let raw = list_raw(fd.as_raw_fd()).ctx("getdents64")?;
    let dots: Vec<&(String, u8, u64)> = raw
        .iter()
        .filter(|(n, _, _)| n == "." || n == "..")
        .collect();
    ensure!(
        dots.len() == 2 && dots.iter().all(|(_, t, _)| *t == libc::DT_DIR),
        "`.` and `..` entries: {dots:?}"
    );
    ensure!(
        raw.len() == 5,
        "getdents64 gave {} entries, want 5: {raw:?}",
        raw.len()
    );
    let dot_ino = raw.iter().find(|(n, _, _)| n == ".").map(|e| e.2);
    let dir_ino = stat(dir.dir()).ctx("stat")?.st_ino;
    ensure!(
        dot_ino == Some(dir_ino),
        "`.` has inode {dot_ino:?}, want {dir_ino}"
    );
    ensure!(
        getdents64(fd.as_raw_fd(), 4096)
            .ctx("getdents64 at the end")?
            .is_empty(),
        "getdents64 at the end returned more entries"
    );
    // A record's d_off is a position to come back to (seekdir): the next record.
    lseek(fd.as_raw_fd(), 0, libc::SEEK_SET).ctx("rewind")?;
    let first = getdents64(fd.as_raw_fd(), 4096).ctx("getdents64")?;
    let d_off = i64::from_le_bytes(first[8..16].try_into().unwrap());
    lseek(fd.as_raw_fd(), d_off, libc::SEEK_SET).ctx("lseek to d_off")?;
    let again = parse_dirents(&getdents64(fd.as_raw_fd(), 4096).ctx("getdents64")?);
    ensure!(
        again.first().map(|e| &e.0) == parse_dirents(&first).get(1).map(|e| &e.0),
        "after seeking to the first record's d_off the listing restarts at {:?}",
        again.first()
    );
    lseek(fd.as_raw_fd(), 0, libc::SEEK_SET).ctx("rewind")?;
    expect_errno(
        getdents64(fd.as_raw_fd(), 8),
        libc::EINVAL,
        "getdents64 into 8 bytes",
    )?;
    let file = open(dir.path("e"), libc::O_RDONLY, 0).ctx("open file")?;
    expect_errno(
        getdents64(file.as_raw_fd(), 4096),
        libc::ENOTDIR,
        "getdents64 of a file",
    )?;
    let many = dir.path("many");
    mkdir(&many, 0o755).ctx("mkdir many")?;
    for i in 0..150 {
        std::fs::write(many.join(format!("entry-with-a-longish-name-{i:03}")), b"")
            .ctx("create")?;
    }
    let listed = names_in(&many).ctx("list many")?;
    ensure!(
        listed.len() == 150 && listed.windows(2).all(|w| w[0] < w[1]),
        "a 150-entry directory listed {} names",
        listed.len()
    );
    pass()
}

/// rename replaces files, refuses to move a directory into itself (EINVAL), onto a file
/// (ENOTDIR) or a non-empty directory (ENOTEMPTY), and RENAME_NOREPLACE keeps the target.
pub(crate) fn rename_rules() -> Check {
    let dir = Scratch::new("rename")?;
    let (one, two) = (dir.file("one", b"1")?, dir.file("two", b"2")?);
    let held = open(&two, libc::O_RDONLY, 0).ctx("open two")?;
    rename(&one, &two).ctx("rename file over file")?;
    ensure!(
        std::fs::read(&two).ctx("read")? == b"1",
        "target does not have the source's data"
    );
    expect_errno(stat(&one), libc::ENOENT, "stat of the old name")?;
    ensure!(
        pread_exact(held.as_raw_fd(), 1, 0).ctx("pread")? == b"2",
        "a descriptor on the replaced file lost its data"
    );
    let replaced = fstat(held.as_raw_fd()).ctx("fstat")?.st_nlink;
    ensure!(
        replaced == 0,
        "the replaced file has nlink {replaced}, want 0"
    );
    rename(&two, &two).ctx("rename onto itself")?;
    mkdir(dir.path("d"), 0o755).ctx("mkdir")?;
    mkdir(dir.path("d/sub"), 0o755).ctx("mkdir")?;
    expect_errno(
        rename(dir.path("d"), dir.path("d/sub/x")),
        libc::EINVAL,
        "rename of a directory into its own subdirectory",
    )?;
    expect_errno(
        rename(&two, dir.path("d")),
        libc::EISDIR,
        "rename of a file over a directory",
    )?;
    expect_errno(
        rename(dir.path("d"), &two),
        libc::ENOTDIR,
        "rename of a directory over a file",
    )?;
    mkdir(dir.path("e"), 0o755).ctx("mkdir")?;
    expect_errno(
        rename(dir.path("e"), dir.path("d")),
        libc::ENOTEMPTY,
        "rename over a non-empty directory",
    )?;
    let three = dir.file("three", b"3")?;
    expect_errno(
        renameat2(&three, &two, libc::RENAME_NOREPLACE),
        libc::EEXIST,
        "renameat2 RENAME_NOREPLACE onto an existing name",
    )?;
    ensure!(
        std::fs::read(&two).ctx("read")? == b"1",
        "RENAME_NOREPLACE changed the target"
    );
    renameat2(&three, dir.path("four"), libc::RENAME_NOREPLACE).ctx("RENAME_NOREPLACE")?;
    expect_errno(
        renameat2(dir.path("four"), dir.path("five"), 1 << 10),
        libc::EINVAL,
        "renameat2 with unknown flags",
    )?;
    expect_errno(
        rename(dir.path("nope"), dir.path("x")),
        libc::ENOENT,
        "rename of a missing file",
    )?;
    expect_errno(
        rename(&two, "/dev/fstest-x"),
        libc::EXDEV,
        "rename to another mount",
    )?;
    expect_errno(
        link(&two, "/dev/fstest-x"),
        libc::EXDEV,
        "link to another mount",
    )?;
    let before = stat(dir.dir()).ctx("stat")?.st_nlink;
    rename(dir.path("e"), dir.path("d/sub/e")).ctx("move a directory down")?;
    let after = stat(dir.dir()).ctx("stat")?.st_nlink;
    ensure!(
        after == before - 1,
        "parent nlink {before} → {after} after moving a subdirectory out"
    );
    let sub = stat(dir.path("d/sub")).ctx("stat")?;
    ensure!(
        sub.st_nlink == 3,
        "new parent's nlink is {}, want 3",
        sub.st_nlink
    );
    let up = stat(dir.path("d/sub/e/..")).ctx("stat d/sub/e/..")?;
    ensure!(
        up.st_ino == sub.st_ino,
        "`..` of a moved directory is not its new parent"
    );
    pass()
}

/// link adds a name to the same inode (st_nlink 2); directories cannot be linked (EPERM).
pub(crate) fn hard_links() -> Check {
    let dir = Scratch::new("link")?;
    let f = dir.file("f", b"shared")?;
    let g = dir.path("g");
    link(&f, &g).ctx("link")?;
    let (sf, sg) = (stat(&f).ctx("stat")?, stat(&g).ctx("stat")?);
    ensure!(
        sf.st_ino == sg.st_ino,
        "the two names have inodes {} and {}",
        sf.st_ino,
        sg.st_ino
    );
    ensure!(sf.st_nlink == 2, "nlink {} after link, want 2", sf.st_nlink);
    std::fs::write(&g, b"changed").ctx("write through g")?;
    ensure!(
        std::fs::read(&f).ctx("read")? == b"changed",
        "write through one name not seen through the other"
    );
    expect_errno(link(&f, &g), libc::EEXIST, "link onto an existing name")?;
    rename(&f, &g).ctx("rename onto another link of the same file")?;
    ensure!(
        stat(&f).is_ok() && stat(&g).is_ok(),
        "rename between two links of one file removed a name (POSIX: it does nothing)"
    );
    expect_errno(
        link(dir.dir(), dir.path("dirlink")),
        libc::EPERM,
        "link of a directory",
    )?;
    expect_errno(
        link(dir.path("missing"), dir.path("x")),
        libc::ENOENT,
        "link of a missing file",
    )?;
    unlink(&f).ctx("unlink")?;
    let sg = stat(&g).ctx("stat")?;
    ensure!(
        sg.st_nlink == 1,
        "nlink {} after unlinking one name, want 1",
        sg.st_nlink
    );
    ensure!(
        std::fs::read(&g).ctx("read")? == b"changed",
        "data lost with the first name"
    );
    pass()
}

/// symlink stores text; readlink returns it (truncated to the buffer, EINVAL on a
/// non-link); relative targets resolve from the link's directory.
pub(crate) fn symlink_readlink() -> Check {
    let dir = Scratch::new("symlink")?;
    dir.file("target-file", b"through the link")?;
    let l = dir.path("l");
    symlink("target-file", &l).ctx("symlink")?;
    ensure!(
        readlink(&l).ctx("readlink")? == "target-file",
        "readlink text differs"
    );
    ensure!(
        readlink_sized(&l, 3).ctx("readlink into 3 bytes")? == b"tar",
        "readlink into a 3-byte buffer did not truncate to \"tar\""
    );
    let st = lstat(&l).ctx("lstat")?;
    ensure!(
        st.st_mode == libc::S_IFLNK | 0o777 && st.st_size == 11,
        "lstat: mode {:#o} size {}, want 0120777 and 11",
        st.st_mode,
        st.st_size
    );
    ensure!(
        std::fs::read(&l).ctx("read through the link")? == b"through the link",
        "reading through the link gave other data"
    );
    expect_errno(
        readlink(dir.path("target-file")),
        libc::EINVAL,
        "readlink of a file",
    )?;
    expect_errno(
        symlink("x", &l),
        libc::EEXIST,
        "symlink onto an existing name",
    )?;
    expect_errno(
        symlink("", dir.path("empty")),
        libc::ENOENT,
        "symlink with an empty target",
    )?;
    mkdir(dir.path("d"), 0o755).ctx("mkdir")?;
    dir.file("d/inner", b"in d")?;
    symlink("d", dir.path("ld")).ctx("symlink to a directory")?;
    ensure!(
        std::fs::read(dir.path("ld/inner")).ctx("read ld/inner")? == b"in d",
        "a symlinked directory in the middle of a path was not followed"
    );
    symlink("../target-file", dir.path("d/up")).ctx("symlink ..")?;
    ensure!(
        std::fs::read(dir.path("ld/up")).ctx("read ld/up")? == b"through the link",
        "a relative target did not resolve from the link's own directory"
    );
    let abs = dir.path("target-file");
    symlink(abs.to_str().unwrap(), dir.path("labs")).ctx("absolute symlink")?;
    ensure!(
        stat(dir.path("labs")).is_ok(),
        "absolute symlink does not resolve"
    );
    symlink("nowhere", dir.path("dangling")).ctx("symlink")?;
    expect_errno(
        stat(dir.path("dangling")),
        libc::ENOENT,
        "stat of a dangling link",
    )?;
    lstat(dir.path("dangling")).ctx("lstat of a dangling link")?;
    pass()
}

/// Loops end in ELOOP; a chain of 40 links resolves and 41 do not (Linux's MAXSYMLINKS),
/// also when O_CREAT creates what the chain ends at.
pub(crate) fn symlink_loops() -> Check {
    let dir = Scratch::new("loops")?;
    symlink("b", dir.path("a")).ctx("symlink")?;
    symlink("a", dir.path("b")).ctx("symlink")?;
    symlink("self", dir.path("self")).ctx("symlink")?;
    expect_errno(
        open(dir.path("a"), libc::O_RDONLY, 0),
        libc::ELOOP,
        "open of a 2-link loop",
    )?;
    expect_errno(stat(dir.path("self")), libc::ELOOP, "stat of a self loop")?;
    expect_errno(stat(dir.path("a/x")), libc::ELOOP, "stat through a loop")?;
    lstat(dir.path("a")).ctx("lstat of a link in a loop")?;
    dir.file("end", b"end")?;
    // chain-0 → chain-1 → ... → chain-40 → end: 41 links from chain-0, 40 from chain-1.
    symlink("end", dir.path("chain-40")).ctx("symlink")?;
    for i in (0..40).rev() {
        symlink(&format!("chain-{}", i + 1), dir.path(&format!("chain-{i}"))).ctx("symlink")?;
    }
    stat(dir.path("chain-1")).ctx("stat through 40 links")?;
    expect_errno(
        stat(dir.path("chain-0")),
        libc::ELOOP,
        "stat through 41 links",
    )?;
    // The same limit holds for O_CREAT through a chain that ends nowhere.
    unlink(dir.path("end")).ctx("unlink")?;
    let create = |name: &str| open(dir.path(name), libc::O_CREAT | libc::O_WRONLY, 0o644);
    expect_errno(create("chain-0"), libc::ELOOP, "O_CREAT through 41 links")?;
    create("chain-1").ctx("O_CREAT through 40 links")?;
    ensure!(
        stat(dir.path("end")).is_ok(),
        "O_CREAT through 40 links made no file"
    );
    pass()
}

/// O_NOFOLLOW refuses a final symlink (ELOOP) but follows links earlier in the path;
/// with O_PATH it opens the link itself.
pub(crate) fn open_nofollow() -> Check {
    let dir = Scratch::new("nofollow")?;
    dir.file("f", b"x")?;
    symlink("f", dir.path("l")).ctx("symlink")?;
    mkdir(dir.path("d"), 0o755).ctx("mkdir")?;
    dir.file("d/g", b"y")?;
    symlink("d", dir.path("ld")).ctx("symlink")?;
    let nofollow = libc::O_RDONLY | libc::O_NOFOLLOW;
    expect_errno(
        open(dir.path("l"), nofollow, 0),
        libc::ELOOP,
        "O_NOFOLLOW on a symlink",
    )?;
    open(dir.path("f"), nofollow, 0).ctx("O_NOFOLLOW on a file")?;
    open(dir.path("ld/g"), nofollow, 0).ctx("O_NOFOLLOW with a symlink earlier in the path")?;
    let p = open(dir.path("l"), libc::O_PATH | libc::O_NOFOLLOW, 0).ctx("O_PATH|O_NOFOLLOW")?;
    let st = fstat(p.as_raw_fd()).ctx("fstat")?;
    ensure!(
        st.st_mode & libc::S_IFMT == libc::S_IFLNK,
        "O_PATH|O_NOFOLLOW opened mode {:#o}, want the link",
        st.st_mode
    );
    let mut buf = [0u8; 8];
    let empty = cstr("");
    // SAFETY: `empty` is NUL-terminated; the kernel writes at most 8 bytes into `buf`.
    let n = unsafe { libc::readlinkat(p.as_raw_fd(), empty.as_ptr(), buf.as_mut_ptr().cast(), 8) };
    ensure!(
        n == 1 && buf[0] == b'f',
        "readlinkat(O_PATH link fd, \"\") returned {n}"
    );
    pass()
}

/// A trailing slash demands a directory: ENOTDIR on files, EISDIR when creating; it is
/// fine on directories and follows a final symlink to one.
pub(crate) fn trailing_slash() -> Check {
    let dir = Scratch::new("slash")?;
    let f = dir.file("f", b"x")?;
    let fs = format!("{}/", f.display());
    expect_errno(
        open(&fs, libc::O_RDONLY, 0),
        libc::ENOTDIR,
        "open of \"file/\"",
    )?;
    expect_errno(stat(&fs), libc::ENOTDIR, "stat of \"file/\"")?;
    expect_errno(unlink(&fs), libc::ENOTDIR, "unlink of \"file/\"")?;
    expect_errno(
        open(dir.path("new/"), libc::O_CREAT | libc::O_WRONLY, 0o644),
        libc::EISDIR,
        "open(\"new/\", O_CREAT)",
    )?;
    mkdir(dir.path("d/"), 0o755).ctx("mkdir \"d/\"")?;
    stat(dir.path("d/")).ctx("stat \"d/\"")?;
    symlink("d", dir.path("ld")).ctx("symlink")?;
    let st = lstat(dir.path("ld/")).ctx("lstat \"ld/\"")?;
    ensure!(
        st.st_mode & libc::S_IFMT == libc::S_IFDIR,
        "lstat of \"link-to-dir/\" gave mode {:#o}, want the directory",
        st.st_mode
    );
    rmdir(dir.path("d/")).ctx("rmdir \"d/\"")?;
    pass()
}

/// A component longer than 255 bytes or a path of 4096 bytes or more is ENAMETOOLONG.
pub(crate) fn name_too_long() -> Check {
    let dir = Scratch::new("toolong")?;
    let long = dir.path(&"n".repeat(256));
    expect_errno(
        open(&long, libc::O_CREAT | libc::O_WRONLY, 0o644),
        libc::ENAMETOOLONG,
        "create with a 256-byte name",
    )?;
    expect_errno(
        mkdir(&long, 0o755),
        libc::ENAMETOOLONG,
        "mkdir with a 256-byte name",
    )?;
    expect_errno(stat(&long), libc::ENAMETOOLONG, "stat of a 256-byte name")?;
    let max = dir.path(&"n".repeat(255));
    open(&max, libc::O_CREAT | libc::O_WRONLY, 0o644).ctx("create with a 255-byte name")?;
    stat(&max).ctx("stat of a 255-byte name")?;
    stat("/".repeat(4095)).ctx("stat of a 4095-byte path")?;
    expect_errno(
        stat("/".repeat(4096)),
        libc::ENAMETOOLONG,
        "stat of a 4096-byte path",
    )?;
    pass()
}

/// chdir, fchdir and getcwd agree; `..` climbs out of the /proc mount to the root.
pub(crate) fn cwd_and_dotdot() -> Check {
    let dir = Scratch::new("cwd")?;
    let base = dir.dir().to_str().unwrap().to_string();
    mkdir(dir.path("sub"), 0o755).ctx("mkdir")?;
    let f = dir.file("f", b"")?;
    in_child(|| {
        chdir(&base).ctx("chdir")?;
        ensure!(getcwd().ctx("getcwd")? == base, "getcwd after chdir {base}");
        chdir("sub").ctx("chdir sub")?;
        ensure!(
            getcwd().ctx("getcwd")? == format!("{base}/sub"),
            "getcwd after chdir sub"
        );
        chdir("..").ctx("chdir ..")?;
        ensure!(getcwd().ctx("getcwd")? == base, "getcwd after chdir ..");
        let sub = open("sub", libc::O_RDONLY | libc::O_DIRECTORY, 0).ctx("open sub")?;
        fchdir(sub.as_raw_fd()).ctx("fchdir")?;
        ensure!(
            getcwd().ctx("getcwd")? == format!("{base}/sub"),
            "getcwd after fchdir"
        );
        let file = open(&f, libc::O_RDONLY, 0).ctx("open file")?;
        expect_errno(fchdir(file.as_raw_fd()), libc::ENOTDIR, "fchdir to a file")?;
        expect_errno(chdir(&f), libc::ENOTDIR, "chdir to a file")?;
        expect_errno(
            chdir("/no/such/dir"),
            libc::ENOENT,
            "chdir to a missing directory",
        )?;
        expect_errno(getcwd_sized(4), libc::ERANGE, "getcwd into 4 bytes")?;
        chdir("/proc").ctx("chdir /proc")?;
        ensure!(getcwd().ctx("getcwd")? == "/proc", "getcwd in /proc");
        let (up, root) = (stat("..").ctx("stat ..")?, stat("/").ctx("stat /")?);
        ensure!(
            (up.st_dev, up.st_ino) == (root.st_dev, root.st_ino),
            "/proc/.. is not /"
        );
        chdir("..").ctx("chdir .. from /proc")?;
        ensure!(
            getcwd().ctx("getcwd")? == "/",
            "getcwd after leaving /proc by .."
        );
        chdir("/proc/self/..").ctx("chdir /proc/self/..")?;
        ensure!(
            getcwd().ctx("getcwd")? == "/proc",
            "getcwd after chdir /proc/self/.."
        );
        chdir("/..").ctx("chdir /..")?;
        ensure!(getcwd().ctx("getcwd")? == "/", "/.. is not /");
        pass()
    })
}

/// A removed directory is a dead end: getcwd, creating in it and listing it are ENOENT.
pub(crate) fn getcwd_removed_dir() -> Check {
    let dir = Scratch::new("cwd_removed")?;
    let gone = dir.path("gone");
    mkdir(&gone, 0o755).ctx("mkdir")?;
    in_child(|| {
        chdir(&gone).ctx("chdir")?;
        rmdir(&gone).ctx("rmdir of the cwd")?;
        expect_errno(getcwd(), libc::ENOENT, "getcwd in a removed directory")?;
        expect_errno(
            open("new", libc::O_CREAT | libc::O_WRONLY, 0o644),
            libc::ENOENT,
            "create in a removed directory",
        )?;
        let here = open(".", libc::O_RDONLY | libc::O_DIRECTORY, 0).ctx("open .")?;
        let links = fstat(here.as_raw_fd()).ctx("fstat .")?.st_nlink;
        ensure!(links == 0, "a removed directory has nlink {links}, want 0");
        expect_errno(
            getdents64(here.as_raw_fd(), 1024),
            libc::ENOENT,
            "getdents64 of a removed directory",
        )?;
        pass()
    })
}
