//! devtmpfs (Linux's drivers/base/devtmpfs.c): a tmpfs instance whose device nodes are made
//! by the `kdevtmpfs` kernel thread as drivers register devices, so `/dev` matches the
//! devices the kernel has without any help from user space.

use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::sync::Arc;

use spin::{Mutex, Once};

use super::dcache::DentryRef;
use super::inode::{mkdev, SuperBlock, S_IFCHR};
use super::namei::Walker;
use super::namespace::{kern_mount, Path};
use crate::kernel::errno::*;
use crate::kernel::task::TASK_INTERRUPTIBLE;
use crate::sched::completion::Completion;
use crate::sched::wait::WaitQueue;

struct Request {
    name: String,
    mode: u32,
    rdev: u64,
    done: Arc<Completion>,
}

static REQUESTS: Mutex<VecDeque<Request>> = Mutex::new(VecDeque::new());
static KDEVTMPFS_WAIT: WaitQueue = WaitQueue::new();
/// The one devtmpfs instance: every mount of it shows the same nodes.
static INSTANCE: Once<(Arc<SuperBlock>, DentryRef)> = Once::new();

fn instance() -> (Arc<SuperBlock>, DentryRef) {
    INSTANCE
        .call_once(|| super::tmpfs::fill_super("devtmpfs", 0o755))
        .clone()
}

pub fn devtmpfs_mount(_source: &str) -> KResult<(Arc<SuperBlock>, DentryRef)> {
    Ok(instance())
}

/// Make the nodes for new devices and wait until they exist (Linux's `devtmpfs_create_node`,
/// for several devices at once): one request per node, one wake-up of `kdevtmpfs`, so the
/// boot's devices cost one hand-over to the thread, not one each.
pub fn devtmpfs_create_nodes<'a>(nodes: impl IntoIterator<Item = (&'a str, u32, u64)>) {
    let mut pending = alloc::vec::Vec::new();
    {
        let mut requests = REQUESTS.lock();
        for (name, mode, rdev) in nodes {
            let done = Arc::new(Completion::new());
            requests.push_back(Request {
                name: name.to_string(),
                mode,
                rdev,
                done: done.clone(),
            });
            pending.push(done);
        }
    }
    KDEVTMPFS_WAIT.wake_up();
    for done in pending {
        done.wait_for_completion();
    }
}

/// The body of `kdevtmpfs`: make the nodes drivers ask for, in the filesystem's own root.
fn devtmpfsd() {
    let (sb, root) = instance();
    let root = Path {
        mnt: kern_mount(sb, root.clone(), "devtmpfs"),
        dentry: root,
    };
    let w = Walker {
        root: root.clone(),
        cwd: root,
        fsuid: 0,
        fsgid: 0,
    };
    loop {
        let _ =
            KDEVTMPFS_WAIT.wait_event(TASK_INTERRUPTIBLE, false, || !REQUESTS.lock().is_empty());
        let next = REQUESTS.lock().pop_front();
        if let Some(req) = next {
            let made = w
                .parent(&w.cwd, &req.name)
                .and_then(|last| w.create(&last, req.mode, req.rdev));
            if let Err(e) = made {
                crate::pr_err!("devtmpfs: cannot create /dev/{}: error -{}", req.name, e);
            }
            req.done.complete();
        }
    }
}

/// Start `kdevtmpfs` and create the nodes of the devices every boot has (`devtmpfs_init`).
pub fn devtmpfs_init() {
    if crate::kernel::kthread::kthread_run("kdevtmpfs", devtmpfsd).is_none() {
        crate::pr_err!("devtmpfs: unable to create kdevtmpfs");
        return;
    }
    devtmpfs_create_nodes(
        super::char_dev::DEVICES
            .iter()
            .map(|&(name, perm, major, minor)| (name, S_IFCHR | perm, mkdev(major, minor))),
    );
    crate::pr_info!("devtmpfs: initialized");
}
