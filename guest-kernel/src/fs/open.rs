//! Opening and closing files and changing their attributes (Linux's fs/open.c): `openat`,
//! `close`, `close_range`, `chdir`, `fchdir`, `chroot`, `umask`, `faccessat`, `chmod`, `chown`,
//! `truncate`, `fsync`.

use alloc::string::String;
use alloc::sync::Arc;

use super::file::*;
use super::inode::*;
use super::namei::{LinkTarget, Walker, MAXSYMLINKS, PATH_MAX};
use super::namespace::Path;
use super::read_write::{fdget, fdget_raw};
use crate::kernel::errno::*;
use crate::kernel::task::current;
use crate::mm::usercopy::{copy_to_user, strncpy_from_user};

pub const AT_FDCWD: i64 = -100;
pub const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
pub const AT_REMOVEDIR: u64 = 0x200;
pub const AT_SYMLINK_FOLLOW: u64 = 0x400;
pub const AT_EACCESS: u64 = 0x200;
pub const AT_EMPTY_PATH: u64 = 0x1000;

/// The calling task's view of the tree: its root, cwd and filesystem credentials.
pub fn walker() -> Walker {
    let task = current();
    let (root, cwd) = {
        let fs = task.fs();
        let fs = fs.lock();
        (fs.root.clone(), fs.pwd.clone())
    };
    let cred = *task.cred.lock();
    Walker {
        root,
        cwd,
        fsuid: cred.euid,
        fsgid: cred.egid,
    }
}

/// Copy a path name in from user space (`getname`): PATH_MAX counts the terminating NUL, so
/// a name of PATH_MAX bytes or more is `ENAMETOOLONG`.
pub fn getname(addr: u64) -> KResult<String> {
    let s = strncpy_from_user(addr, PATH_MAX)?;
    if s.len() >= PATH_MAX {
        return Err(ENAMETOOLONG);
    }
    Ok(s)
}

/// Where a `*at` call starts: `dirfd`'s directory, or the cwd for `AT_FDCWD`. Absolute
/// paths ignore it (the walker starts them at the root).
pub fn start_at(w: &Walker, dirfd: u64, path: &str) -> KResult<Path> {
    if path.starts_with('/') || dirfd as i32 as i64 == AT_FDCWD {
        return Ok(w.cwd.clone());
    }
    let file = fdget_raw(dirfd)?;
    if !file.inode.is_dir() {
        return Err(ENOTDIR);
    }
    Ok(file.path.clone())
}

/// Resolve a user path for a `*at` call (`user_path_at`); `AT_EMPTY_PATH` with `""` names
/// `dirfd` itself.
pub fn user_path_at(dirfd: u64, path: u64, follow: bool, flags: u64) -> KResult<Path> {
    let name = getname(path)?;
    if name.is_empty() && flags & AT_EMPTY_PATH != 0 {
        if dirfd as i32 as i64 == AT_FDCWD {
            return Ok(walker().cwd);
        }
        return Ok(fdget_raw(dirfd)?.path.clone());
    }
    let w = walker();
    let start = start_at(&w, dirfd, &name)?;
    w.lookup(&start, &name, follow)
}

/// The file operations of an `O_PATH` descriptor: a handle on a place, no I/O.
struct PathOnly;
impl FileOps for PathOnly {}

/// The last step of an O_CREAT open (`open_last_lookups`): the file that is there, or a new
/// one. A final symlink is followed unless O_NOFOLLOW or O_EXCL says otherwise, and if what it
/// names does not exist, that is what gets created (as Linux does); `links` bounds the chain.
fn open_or_create(
    w: &Walker,
    start: &Path,
    name: &str,
    flags: u32,
    mode: u32,
    links: u32,
) -> KResult<Path> {
    let last = w.parent(start, name)?;
    if last.trailing_slash {
        return Err(EISDIR);
    }
    let child = w.child(&last)?;
    match child.dentry.inode() {
        Some(_) if flags & O_EXCL != 0 => Err(EEXIST),
        Some(inode) if inode.is_symlink() && flags & O_NOFOLLOW == 0 => {
            match inode.ops.get_link(&inode)? {
                LinkTarget::Path(p) => Ok(p),
                LinkTarget::Text(_) if links == 0 => Err(ELOOP),
                LinkTarget::Text(target) => {
                    open_or_create(w, &last.parent, &target, flags, mode, links - 1)
                }
            }
        }
        Some(_) => Ok(child),
        None => {
            let umask = current().fs().lock().umask;
            w.create(&last, S_IFREG | (mode & 0o7777 & !umask), 0)
        }
    }
}

/// Open `path` and return the new file (`do_filp_open`).
pub fn do_filp_open(
    w: &Walker,
    start: &Path,
    name: &str,
    flags: u32,
    mode: u32,
) -> KResult<FileRef> {
    let follow = flags & O_NOFOLLOW == 0;
    if flags & O_TMPFILE == O_TMPFILE {
        return Err(EOPNOTSUPP);
    }
    let path = if flags & O_CREAT != 0 {
        open_or_create(w, start, name, flags, mode, MAXSYMLINKS)?
    } else {
        w.lookup(start, name, follow)?
    };
    let inode = path.inode()?;
    if flags & O_PATH != 0 {
        if flags & O_DIRECTORY != 0 && !inode.is_dir() {
            return Err(ENOTDIR);
        }
        return Ok(File::new(
            path,
            inode,
            Arc::new(PathOnly),
            flags & (O_PATH | O_DIRECTORY),
        ));
    }
    if inode.is_symlink() {
        return Err(ELOOP); // O_NOFOLLOW on a symlink
    }
    if flags & O_DIRECTORY != 0 && !inode.is_dir() {
        return Err(ENOTDIR);
    }
    let acc = flags & O_ACCMODE;
    if inode.is_dir() && (acc != O_RDONLY || flags & O_CREAT != 0) {
        return Err(EISDIR);
    }
    let mask = match acc {
        O_RDONLY => 4,
        O_WRONLY => 2,
        _ => 6,
    };
    inode.permission(w.fsuid, w.fsgid, mask)?;
    if flags & O_TRUNC != 0 && acc != O_RDONLY && inode.is_reg() {
        inode.ops.truncate(&inode, 0)?;
        inode.touch_mtime();
    }
    let ops = inode.ops.open(&inode, flags)?;
    Ok(File::new(path, inode, ops, flags))
}

pub fn do_sys_open(dirfd: u64, path: u64, flags: u64, mode: u64) -> KResult<i64> {
    let name = getname(path)?;
    // Every open is a large-file open on a 64-bit kernel (`force_o_largefile`), and F_GETFL
    // says so whether or not the caller's C library asked.
    let flags = flags as u32 | O_LARGEFILE;
    let w = walker();
    let start = start_at(&w, dirfd, &name)?;
    let file = do_filp_open(&w, &start, &name, flags, mode as u32)?;
    let fd = current()
        .files()
        .lock()
        .install(file, flags & O_CLOEXEC != 0)?;
    Ok(fd as i64)
}

pub fn sys_openat(dirfd: u64, path: u64, flags: u64, mode: u64) -> KResult<i64> {
    do_sys_open(dirfd, path, flags, mode)
}

pub fn sys_open(path: u64, flags: u64, mode: u64) -> KResult<i64> {
    do_sys_open(AT_FDCWD as u64, path, flags, mode)
}

pub fn sys_creat(path: u64, mode: u64) -> KResult<i64> {
    do_sys_open(
        AT_FDCWD as u64,
        path,
        (O_CREAT | O_WRONLY | O_TRUNC) as u64,
        mode,
    )
}

pub fn sys_close(fd: u64) -> KResult<i64> {
    let file = current().files().lock().close(fd)?;
    drop(file); // release outside the table's lock
    Ok(0)
}

pub fn sys_close_range(first: u64, last: u64, flags: u64) -> KResult<i64> {
    const CLOSE_RANGE_UNSHARE: u64 = 2;
    const CLOSE_RANGE_CLOEXEC: u64 = 4;
    if flags & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) != 0 || first > last {
        return Err(EINVAL);
    }
    let cloexec = flags & CLOSE_RANGE_CLOEXEC != 0;
    let closed = current().files().lock().close_range(
        first.min(usize::MAX as u64) as usize,
        last.min(usize::MAX as u64) as usize,
        cloexec,
    );
    drop(closed);
    Ok(0)
}

fn set_pwd(path: Path) -> KResult<i64> {
    let w = walker();
    let inode = path.inode()?;
    if !inode.is_dir() {
        return Err(ENOTDIR);
    }
    inode.permission(w.fsuid, w.fsgid, 1)?;
    current().fs().lock().pwd = path;
    Ok(0)
}

pub fn sys_chdir(path: u64) -> KResult<i64> {
    set_pwd(user_path_at(AT_FDCWD as u64, path, true, 0)?)
}

pub fn sys_fchdir(fd: u64) -> KResult<i64> {
    set_pwd(fdget_raw(fd)?.path.clone())
}

pub fn sys_chroot(path: u64) -> KResult<i64> {
    let path = user_path_at(AT_FDCWD as u64, path, true, 0)?;
    if !path.inode()?.is_dir() {
        return Err(ENOTDIR);
    }
    if current().cred.lock().euid != 0 {
        return Err(EPERM);
    }
    current().fs().lock().root = path;
    Ok(0)
}

pub fn sys_getcwd(buf: u64, size: u64) -> KResult<i64> {
    let (root, pwd) = {
        let fs = current().fs();
        let fs = fs.lock();
        (fs.root.clone(), fs.pwd.clone())
    };
    // A removed directory has no name to give (Linux: ENOENT, not a " (deleted)" path).
    if pwd.dentry.is_unlinked() {
        return Err(ENOENT);
    }
    let cwd = super::namespace::d_path(&pwd, &root);
    if (cwd.len() + 1) as u64 > size {
        return Err(ERANGE);
    }
    copy_to_user(buf, cwd.as_bytes())?;
    copy_to_user(buf + cwd.len() as u64, &[0])?;
    Ok(cwd.len() as i64 + 1)
}

pub fn sys_umask(mask: u64) -> KResult<i64> {
    let fs = current().fs();
    let mut fs = fs.lock();
    let old = fs.umask;
    fs.umask = mask as u32 & 0o777;
    Ok(old as i64)
}

pub fn sys_faccessat2(dirfd: u64, path: u64, mode: u64, flags: u64) -> KResult<i64> {
    if mode & !7 != 0 || flags & !(AT_SYMLINK_NOFOLLOW | AT_EACCESS | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    let path = user_path_at(dirfd, path, flags & AT_SYMLINK_NOFOLLOW == 0, flags)?;
    let inode = path.inode()?;
    if mode == 0 {
        return Ok(0);
    }
    // access() checks with the real ids, faccessat(AT_EACCESS) with the effective ones.
    let cred = *current().cred.lock();
    let (uid, gid) = if flags & AT_EACCESS != 0 {
        (cred.euid, cred.egid)
    } else {
        (cred.uid, cred.gid)
    };
    inode.permission(uid, gid, mode as u32)?;
    Ok(0)
}

fn chmod(path: &Path, mode: u64) -> KResult<i64> {
    let inode = path.inode()?;
    let euid = current().cred.lock().euid;
    let mut m = inode.meta.lock();
    if euid != 0 && euid != m.uid {
        return Err(EPERM);
    }
    m.mode = (m.mode & S_IFMT) | (mode as u32 & 0o7777);
    m.ctime = current_time();
    Ok(0)
}

pub fn sys_fchmodat(dirfd: u64, path: u64, mode: u64) -> KResult<i64> {
    chmod(&user_path_at(dirfd, path, true, 0)?, mode)
}

pub fn sys_fchmod(fd: u64, mode: u64) -> KResult<i64> {
    chmod(&fdget(fd)?.path, mode)
}

fn chown(path: &Path, uid: u64, gid: u64) -> KResult<i64> {
    let inode = path.inode()?;
    if current().cred.lock().euid != 0 {
        return Err(EPERM);
    }
    let mut m = inode.meta.lock();
    if uid as u32 != u32::MAX {
        m.uid = uid as u32;
    }
    if gid as u32 != u32::MAX {
        m.gid = gid as u32;
    }
    // A change of owner drops set-id bits, as Linux does for non-directories.
    if m.mode & S_IFMT != S_IFDIR {
        m.mode &= !0o6000;
    }
    m.ctime = current_time();
    Ok(0)
}

pub fn sys_fchownat(dirfd: u64, path: u64, uid: u64, gid: u64, flags: u64) -> KResult<i64> {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    let p = user_path_at(dirfd, path, flags & AT_SYMLINK_NOFOLLOW == 0, flags)?;
    chown(&p, uid, gid)
}

pub fn sys_fchown(fd: u64, uid: u64, gid: u64) -> KResult<i64> {
    chown(&fdget(fd)?.path, uid, gid)
}

fn do_truncate(inode: &Inode, length: i64) -> KResult<i64> {
    if length < 0 {
        return Err(EINVAL);
    }
    if inode.is_dir() {
        return Err(EISDIR);
    }
    if !inode.is_reg() {
        return Err(EINVAL);
    }
    inode.ops.truncate(inode, length as u64)?;
    inode.touch_mtime();
    Ok(0)
}

pub fn sys_truncate(path: u64, length: i64) -> KResult<i64> {
    let p = user_path_at(AT_FDCWD as u64, path, true, 0)?;
    let inode = p.inode()?;
    let w = walker();
    inode.permission(w.fsuid, w.fsgid, 2)?;
    do_truncate(&inode, length)
}

pub fn sys_ftruncate(fd: u64, length: i64) -> KResult<i64> {
    let file = fdget(fd)?;
    if !file.writable() {
        return Err(EINVAL);
    }
    do_truncate(&file.inode, length)
}

/// Memory filesystems are always in sync; the call checks only the descriptor.
pub fn sys_fsync(fd: u64) -> KResult<i64> {
    fdget(fd)?;
    Ok(0)
}
