//! Checks of the file tools: ls, mkdir, touch, mv, cp, rm, rmdir, ln, mkfifo, stat, cat, head,
//! tail, wc and grep.

use std::os::unix::fs::{FileTypeExt, MetadataExt};

use guest_user::check::{pass, pass_with, Check, Context};
use guest_user::ensure;

use crate::{expect_error, run, run_ok, run_with_input, scratch};

/// Every tool `coreutils --list` names is linked in /bin and runs as that tool.
pub fn applets_linked() -> Check {
    let list = run_ok(&["/bin/coreutils", "--list"])?;
    let names: Vec<&str> = list.lines().collect();
    ensure!(names.len() >= 29, "only {} tools: {names:?}", names.len());
    for n in &names {
        let target = std::fs::read_link(format!("/bin/{n}")).ctx(&format!("readlink /bin/{n}"))?;
        ensure!(
            target.to_str() == Some("coreutils"),
            "/bin/{n} -> {target:?}"
        );
    }
    // By argv[0] and by first argument.
    ensure!(run_ok(&["/bin/echo", "hi"])? == "hi\n", "echo by argv[0]");
    ensure!(
        run_ok(&["/bin/coreutils", "echo", "hi"])? == "hi\n",
        "echo by argument"
    );
    expect_error(
        &["/bin/coreutils", "nosuchtool"],
        127,
        "coreutils: nosuchtool: applet not found\n",
    )?;
    pass_with(format!("{} tools", names.len()))
}

pub fn ls_long_dev_null() -> Check {
    let out = run_ok(&["/bin/ls", "-l", "/dev/null"])?;
    ensure!(
        out.starts_with("crw-rw-rw- 1 root root 1, 3 ") && out.ends_with(" /dev/null\n"),
        "ls -l /dev/null: {out:?}"
    );
    // The whole of /dev: aligned device numbers, console 5,1 and null 1,3.
    let dev = run_ok(&["/bin/ls", "-l", "/dev"])?;
    ensure!(dev.starts_with("total 0\n"), "{dev}");
    let null = dev.lines().find(|l| l.ends_with(" null")).unwrap_or("");
    ensure!(
        null.starts_with("crw-rw-rw- 1 root root   1,  3 "),
        "ls -l /dev null line: {null:?}\n{dev}"
    );
    ensure!(
        dev.lines()
            .any(|l| l.starts_with("crw------- 1 root root   5,  1 ") && l.ends_with(" console")),
        "{dev}"
    );
    pass_with(out.trim_end())
}

pub fn ls_listing() -> Check {
    let d = scratch("ls")?;
    std::fs::write(format!("{d}/b"), "12345").ctx("write b")?;
    std::fs::write(format!("{d}/a"), "").ctx("write a")?;
    std::fs::write(format!("{d}/.hidden"), "").ctx("write .hidden")?;
    std::os::unix::fs::symlink("a", format!("{d}/link")).ctx("symlink")?;
    std::fs::create_dir(format!("{d}/sub")).ctx("mkdir")?;
    let plain = run_ok(&["/bin/ls", &d])?;
    ensure!(plain == "a\nb\nlink\nsub\n", "ls: {plain:?}");
    let all = run_ok(&["/bin/ls", "-a1", &d])?;
    ensure!(
        all == ".\n..\n.hidden\na\nb\nlink\nsub\n",
        "ls -a1: {all:?}"
    );
    let long = run_ok(&["/bin/ls", "-l", &d])?;
    let lines: Vec<&str> = long.lines().collect();
    ensure!(lines.len() == 5 && lines[0].starts_with("total "), "{long}");
    ensure!(
        lines[2].starts_with("-rw-r--r-- 1 root root 5 ") && lines[2].ends_with(" b"),
        "{long}"
    );
    ensure!(
        lines[1].starts_with("-rw-r--r-- 1 root root 0 "),
        "sizes right-aligned: {long}"
    );
    ensure!(
        lines[3].starts_with("lrwxrwxrwx 1 root root 1 ") && lines[3].ends_with(" link -> a"),
        "{long}"
    );
    ensure!(lines[4].starts_with("drwxr-xr-x 2 root root "), "{long}");
    let numeric = run_ok(&["/bin/ls", "-ln", &format!("{d}/b")])?;
    ensure!(numeric.starts_with("-rw-r--r-- 1 0 0 5 "), "{numeric}");
    let ino = std::fs::metadata(format!("{d}/b")).ctx("stat")?.ino();
    let with_ino = run_ok(&["/bin/ls", "-i", &format!("{d}/b")])?;
    ensure!(with_ino == format!("{ino} {d}/b\n"), "ls -i: {with_ino:?}");
    let dir_itself = run_ok(&["/bin/ls", "-ld", &d])?;
    ensure!(
        dir_itself.starts_with("drwxr-xr-x 3 root root ")
            && dir_itself.ends_with(&format!(" {d}\n")),
        "ls -ld: {dir_itself:?}"
    );
    // Files first, then each directory under a header.
    let multi = run_ok(&["/bin/ls", &format!("{d}/sub"), &format!("{d}/a")])?;
    ensure!(
        multi == format!("{d}/a\n\n{d}/sub:\n"),
        "ls FILE DIR: {multi:?}"
    );
    std::fs::write(format!("{d}/big"), vec![0u8; 5000]).ctx("write big")?;
    let human = run_ok(&["/bin/ls", "-lh", &format!("{d}/big")])?;
    ensure!(
        human.starts_with("-rw-r--r-- 1 root root 4.9K "),
        "ls -lh: {human:?}"
    );
    pass()
}

pub fn ls_errors() -> Check {
    expect_error(
        &["/bin/ls", "/nonexistent"],
        2,
        "ls: cannot access '/nonexistent': No such file or directory\n",
    )?;
    // Existing operands are still listed, and the status is still 2.
    let o = run(&["/bin/ls", "/nonexistent", "/dev/null"])?;
    ensure!(
        o.code == 2 && o.out == "/dev/null\n",
        "{:?} {:?}",
        o.code,
        o.out
    );
    expect_error(
        &["/bin/ls", "-Z"],
        2,
        "ls: invalid option -- 'Z'\nTry 'ls --help' for more information.\n",
    )?;
    pass()
}

pub fn mkdir_touch_mv_cp_rm() -> Check {
    let d = scratch("round")?;
    run_ok(&["/bin/mkdir", "-p", &format!("{d}/x/y/z")])?;
    ensure!(
        std::fs::metadata(format!("{d}/x/y/z"))
            .ctx("stat")?
            .is_dir(),
        "mkdir -p made no tree"
    );
    expect_error(
        &["/bin/mkdir", &format!("{d}/x")],
        1,
        &format!("mkdir: cannot create directory '{d}/x': File exists\n"),
    )?;
    run_ok(&["/bin/touch", &format!("{d}/f")])?;
    ensure!(
        std::fs::metadata(format!("{d}/f")).ctx("stat f")?.len() == 0,
        "touch made no empty file"
    );
    std::fs::write(format!("{d}/f"), "data\n").ctx("write")?;
    run_ok(&["/bin/mv", &format!("{d}/f"), &format!("{d}/g")])?;
    ensure!(
        !std::path::Path::new(&format!("{d}/f")).exists(),
        "mv left the source"
    );
    // Into a directory, keeping the name.
    run_ok(&["/bin/mv", &format!("{d}/g"), &format!("{d}/x")])?;
    ensure!(
        std::fs::read_to_string(format!("{d}/x/g")).ctx("read x/g")? == "data\n",
        "mv into dir"
    );
    run_ok(&["/bin/cp", &format!("{d}/x/g"), &format!("{d}/copy")])?;
    ensure!(
        run_ok(&["/bin/cat", &format!("{d}/copy")])? == "data\n",
        "cp content"
    );
    expect_error(
        &["/bin/mv", &format!("{d}/none"), &format!("{d}/x")],
        1,
        &format!("mv: cannot stat '{d}/none': No such file or directory\n"),
    )?;
    run_ok(&["/bin/rm", "-r", &format!("{d}/x")])?;
    run_ok(&["/bin/rm", &format!("{d}/copy")])?;
    let left: Vec<_> = std::fs::read_dir(&d).ctx("readdir")?.collect();
    ensure!(left.is_empty(), "left behind: {left:?}");
    pass()
}

pub fn cp_recursive() -> Check {
    let d = scratch("cpr")?;
    std::fs::create_dir_all(format!("{d}/src/deep/er")).ctx("mkdir")?;
    std::fs::write(format!("{d}/src/deep/er/file"), "payload").ctx("write")?;
    std::os::unix::fs::symlink("er/file", format!("{d}/src/deep/ln")).ctx("symlink")?;
    expect_error(
        &["/bin/cp", &format!("{d}/src"), &format!("{d}/dst")],
        1,
        &format!("cp: -r not specified; omitting directory '{d}/src'\n"),
    )?;
    run_ok(&["/bin/cp", "-r", &format!("{d}/src"), &format!("{d}/dst")])?;
    ensure!(
        std::fs::read_to_string(format!("{d}/dst/deep/er/file")).ctx("read copy")? == "payload",
        "cp -r content"
    );
    let link = std::fs::read_link(format!("{d}/dst/deep/ln")).ctx("readlink copy")?;
    ensure!(
        link.to_str() == Some("er/file"),
        "symlink copied as {link:?}"
    );
    pass()
}

pub fn rm_rmdir_errors() -> Check {
    let d = scratch("rm")?;
    expect_error(
        &["/bin/rm", &format!("{d}/none")],
        1,
        &format!("rm: cannot remove '{d}/none': No such file or directory\n"),
    )?;
    expect_error(&["/bin/rm", "-f", &format!("{d}/none")], 0, "")?;
    std::fs::create_dir(format!("{d}/dir")).ctx("mkdir")?;
    std::fs::write(format!("{d}/dir/f"), "").ctx("write")?;
    expect_error(
        &["/bin/rm", &format!("{d}/dir")],
        1,
        &format!("rm: cannot remove '{d}/dir': Is a directory\n"),
    )?;
    expect_error(
        &["/bin/rmdir", &format!("{d}/dir")],
        1,
        &format!("rmdir: failed to remove '{d}/dir': Directory not empty\n"),
    )?;
    run_ok(&["/bin/rm", &format!("{d}/dir/f")])?;
    run_ok(&["/bin/rmdir", &format!("{d}/dir")])?;
    expect_error(
        &["/bin/rm"],
        1,
        "rm: missing operand\nTry 'rm --help' for more information.\n",
    )?;
    pass()
}

pub fn ln_and_mkfifo() -> Check {
    let d = scratch("ln")?;
    std::fs::write(format!("{d}/t"), "x").ctx("write")?;
    run_ok(&["/bin/ln", &format!("{d}/t"), &format!("{d}/hard")])?;
    ensure!(
        std::fs::metadata(format!("{d}/t")).ctx("stat")?.nlink() == 2,
        "hard link count"
    );
    run_ok(&["/bin/ln", "-s", "t", &format!("{d}/soft")])?;
    ensure!(
        std::fs::read_to_string(format!("{d}/soft")).ctx("read via link")? == "x",
        "symlink"
    );
    expect_error(
        &["/bin/ln", "-s", "t", &format!("{d}/soft")],
        1,
        &format!("ln: failed to create symbolic link '{d}/soft': File exists\n"),
    )?;
    run_ok(&["/bin/mkfifo", &format!("{d}/fifo")])?;
    let ft = std::fs::metadata(format!("{d}/fifo"))
        .ctx("stat fifo")?
        .file_type();
    ensure!(ft.is_fifo(), "mkfifo made {ft:?}");
    let l = run_ok(&["/bin/ls", "-l", &format!("{d}/fifo")])?;
    ensure!(l.starts_with("prw-r--r-- 1 root root 0 "), "{l}");
    pass()
}

pub fn touch_times() -> Check {
    let d = scratch("touch")?;
    let f = format!("{d}/old");
    std::fs::write(&f, "").ctx("write")?;
    let c = std::ffi::CString::new(f.clone()).unwrap();
    let times = [libc::timespec {
        tv_sec: 1_000_000_000,
        tv_nsec: 0,
    }; 2];
    // SAFETY: a NUL-terminated path and two timespecs.
    let r = unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), 0) };
    ensure!(r == 0, "utimensat: {}", std::io::Error::last_os_error());
    let m = std::fs::metadata(&f).ctx("stat")?;
    ensure!(
        m.mtime() == 1_000_000_000 && m.atime() == 1_000_000_000,
        "times not set"
    );
    let ls = run_ok(&["/bin/ls", "-l", &f])?;
    ensure!(ls.contains(" Sep  9  2001 "), "old mtime in ls -l: {ls}");
    run_ok(&["/bin/touch", &f])?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let m = std::fs::metadata(&f).ctx("stat")?;
    ensure!(
        (m.mtime() - now).abs() < 60,
        "touch left mtime {}",
        m.mtime()
    );
    run_ok(&["/bin/touch", "-c", &format!("{d}/absent")])?;
    ensure!(
        !std::path::Path::new(&format!("{d}/absent")).exists(),
        "touch -c created"
    );
    pass()
}

pub fn stat_fields() -> Check {
    let out = run_ok(&["/bin/stat", "/dev/null"])?;
    let l: Vec<&str> = out.lines().collect();
    ensure!(l.len() == 8, "{out}");
    ensure!(l[0] == "  File: /dev/null", "{out}");
    ensure!(
        l[1] == "  Size: 0         \tBlocks: 0          IO Block: 4096   character special file",
        "{out}"
    );
    ensure!(
        l[2].starts_with("Device: 0,") && l[2].ends_with("Links: 1     Device type: 1,3"),
        "{out}"
    );
    ensure!(
        l[3] == "Access: (0666/crw-rw-rw-)  Uid: (    0/    root)   Gid: (    0/    root)",
        "{out}"
    );
    ensure!(
        l[4].starts_with("Access: 20") && l[4].ends_with(" +0000") && l[7] == " Birth: -",
        "{out}"
    );
    let d = scratch("stat")?;
    std::fs::write(format!("{d}/f"), "hello").ctx("write")?;
    let c = run_ok(&["/bin/stat", "-c", "%s %a %A %U %G %F %h", &format!("{d}/f")])?;
    ensure!(
        c == "5 644 -rw-r--r-- root root regular file 1\n",
        "stat -c: {c:?}"
    );
    expect_error(
        &["/bin/stat", "/nonexistent"],
        1,
        "stat: cannot statx '/nonexistent': No such file or directory\n",
    )?;
    pass()
}

pub fn cat_head_tail() -> Check {
    let d = scratch("text")?;
    let f = format!("{d}/lines");
    let text: String = (1..=20).map(|i| format!("line {i}\n")).collect();
    std::fs::write(&f, &text).ctx("write")?;
    ensure!(run_ok(&["/bin/cat", &f])? == text, "cat");
    let stdin = run_with_input(&["/bin/cat"], "from stdin\n")?;
    ensure!(stdin.out == "from stdin\n", "cat stdin: {:?}", stdin.out);
    expect_error(
        &["/bin/cat", "/nonexistent"],
        1,
        "cat: /nonexistent: No such file or directory\n",
    )?;
    let head = run_ok(&["/bin/head", "-n", "3", &f])?;
    ensure!(head == "line 1\nline 2\nline 3\n", "head -n 3: {head:?}");
    ensure!(
        run_ok(&["/bin/head", &f])?.lines().count() == 10,
        "head default"
    );
    let tail = run_ok(&["/bin/tail", "-n", "2", &f])?;
    ensure!(tail == "line 19\nline 20\n", "tail -n 2: {tail:?}");
    let from = run_ok(&["/bin/tail", "-n", "+19", &f])?;
    ensure!(from == "line 19\nline 20\n", "tail -n +19: {from:?}");
    let both = run_ok(&["/bin/head", "-n1", &f, &f])?;
    ensure!(
        both == format!("==> {f} <==\nline 1\n\n==> {f} <==\nline 1\n"),
        "{both:?}"
    );
    pass()
}

pub fn wc_counts() -> Check {
    let d = scratch("wc")?;
    let f = format!("{d}/f");
    std::fs::write(&f, "one two\nthree\n\nfour five six\n").ctx("write")?;
    ensure!(
        run_ok(&["/bin/wc", "-l", &f])? == format!("4 {f}\n"),
        "wc -l"
    );
    let all = run_ok(&["/bin/wc", &f])?;
    ensure!(all == format!(" 4  6 29 {f}\n"), "wc: {all:?}");
    let stdin = run_with_input(&["/bin/wc"], "a b\nc\n")?;
    ensure!(
        stdin.out == "      2       3       6\n",
        "wc stdin: {:?}",
        stdin.out
    );
    let w = run_with_input(&["/bin/wc", "-w"], "a b\nc\n")?;
    ensure!(w.out == "3\n", "wc -w: {:?}", w.out);
    pass()
}

pub fn grep_matching() -> Check {
    let d = scratch("grep")?;
    let f = format!("{d}/f");
    std::fs::write(&f, "apple\nBanana\ncherry 42\napricot\nzebra\n").ctx("write")?;
    ensure!(run_ok(&["/bin/grep", "-c", "ap", &f])? == "2\n", "grep -c");
    ensure!(
        run_ok(&["/bin/grep", "-n", "^a.*t$", &f])? == "4:apricot\n",
        "grep -n regex"
    );
    ensure!(
        run_ok(&["/bin/grep", "-i", "banana", &f])? == "Banana\n",
        "grep -i"
    );
    ensure!(
        run_ok(&["/bin/grep", "[0-9][0-9]*", &f])? == "cherry 42\n",
        "grep class"
    );
    ensure!(run_ok(&["/bin/grep", "-vc", "a", &f])? == "1\n", "grep -vc");
    let q = run(&["/bin/grep", "-q", "zebra", &f])?;
    ensure!(q.code == 0 && q.out.is_empty(), "grep -q match");
    let none = run(&["/bin/grep", "mango", &f])?;
    ensure!(none.code == 1 && none.out.is_empty(), "no match exits 1");
    expect_error(
        &["/bin/grep", "x", "/nonexistent"],
        2,
        "grep: /nonexistent: No such file or directory\n",
    )?;
    let piped = run_with_input(&["/bin/grep", "-F", "a.b"], "a.b\naxb\n")?;
    ensure!(piped.out == "a.b\n", "grep -F stdin: {:?}", piped.out);
    let two = run_ok(&["/bin/grep", "zebra", &f, &f])?;
    ensure!(two == format!("{f}:zebra\n{f}:zebra\n"), "{two:?}");
    pass()
}
