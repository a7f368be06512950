//! Garbage collection of unix sockets in flight (Linux's net/unix/garbage.c, `unix_gc`).
//!
//! A socket sent over a socket is held by the message until it is received. Send a socket
//! over itself (or two sockets each over the other) and close the descriptors: each file is
//! now held only by a message in a queue that nobody can read, and reference counting never
//! frees them. The collector finds such sockets:
//!
//! 1. Count, for every socket file, the references messages in unix queues hold
//!    (`inflight`). A socket whose file has no other references is a candidate.
//! 2. Take away the references held in candidates' own queues (a listener's queue includes
//!    those of the connections waiting to be accepted, as `scan_children` does). A candidate
//!    left with any is held from outside: it and everything its queue holds are alive.
//! 3. The other candidates are garbage: empty their queues. The files in them drop, and with
//!    them the sockets.
//!
//! The snapshot is taken one socket lock at a time, so it is only good if no descriptor
//! entered or left a queue meanwhile (`INFLIGHT_GEN`); otherwise it is taken again. Other
//! changes can only make a socket look more referenced than it is: a file gains references
//! only from a descriptor table (so it is not a candidate) or by being received.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use super::af_unix::{all_sockets, UnixSock};
use super::skb::INFLIGHT_GEN;
use crate::fs::file::FileRef;

/// One collection at a time; the files it frees close sockets, which would start another.
static GC_IN_PROGRESS: AtomicBool = AtomicBool::new(false);

/// A socket with a file, as the snapshot saw it.
struct Node {
    sock: Arc<UnixSock>,
    file: FileRef,
    /// The files its queue (and its embryos' queues) hold, by address.
    children: Vec<usize>,
}

fn key(f: &FileRef) -> usize {
    Arc::as_ptr(f) as usize
}

/// The file addresses in `sock`'s queue and, for a listener, its embryos' queues.
fn scan_children(sock: &UnixSock) -> Vec<usize> {
    let (mut children, embryos) = {
        let i = sock.inner.lock();
        let c: Vec<usize> = i.queue.fds().map(key).collect();
        (c, i.accept_q.iter().cloned().collect::<Vec<_>>())
    };
    for e in &embryos {
        children.extend(e.inner.lock().queue.fds().map(key));
    }
    children
}

/// The sockets to free, or `None` if descriptors moved while looking.
fn find_garbage() -> Option<Vec<Arc<UnixSock>>> {
    let gen = INFLIGHT_GEN.load(Ordering::Acquire);
    let nodes: Vec<Node> = all_sockets()
        .into_iter()
        .filter_map(|sock| {
            let file = sock.file.get()?.upgrade()?;
            let children = scan_children(&sock);
            Some(Node {
                sock,
                file,
                children,
            })
        })
        .collect();
    let mut inflight: BTreeMap<usize, usize> = BTreeMap::new();
    for n in &nodes {
        for &c in &n.children {
            *inflight.entry(c).or_default() += 1;
        }
    }
    // Candidates: every reference is in flight (ours from the snapshot aside), with what
    // stays once the references from candidates' queues are taken away.
    let mut remaining: BTreeMap<usize, usize> = nodes
        .iter()
        .filter_map(|n| {
            let k = key(&n.file);
            let held = *inflight.get(&k)?;
            (Arc::strong_count(&n.file) - 1 == held).then_some((k, held))
        })
        .collect();
    let by_key: BTreeMap<usize, &Node> = nodes.iter().map(|n| (key(&n.file), n)).collect();
    for k in remaining.keys().copied().collect::<Vec<_>>() {
        for c in &by_key[&k].children {
            if let Some(r) = remaining.get_mut(c) {
                *r -= 1;
            }
        }
    }
    // Candidates held from outside, and all they hold, are alive (`unix_collect_skb`'s
    // complement).
    let mut alive: BTreeSet<usize> = BTreeSet::new();
    let mut stack: Vec<usize> = remaining
        .iter()
        .filter(|(_, &r)| r > 0)
        .map(|(&k, _)| k)
        .collect();
    while let Some(k) = stack.pop() {
        if !alive.insert(k) {
            continue;
        }
        stack.extend(
            by_key[&k]
                .children
                .iter()
                .filter(|c| remaining.contains_key(c) && !alive.contains(c)),
        );
    }
    let garbage: Vec<Arc<UnixSock>> = remaining
        .keys()
        .filter(|k| !alive.contains(k))
        .map(|k| by_key[k].sock.clone())
        .collect();
    (INFLIGHT_GEN.load(Ordering::Acquire) == gen).then_some(garbage)
}

/// Free the sockets held only by descriptors in flight in each other's queues.
pub fn unix_gc() {
    if GC_IN_PROGRESS.swap(true, Ordering::Acquire) {
        return;
    }
    // Three tries: a system busy passing descriptors gets collected by a later close.
    let garbage = (0..3).find_map(|_| find_garbage()).unwrap_or_default();
    let mut purged = Vec::new();
    for sk in &garbage {
        let embryos: Vec<Arc<UnixSock>> = {
            let mut i = sk.inner.lock();
            purged.push(i.queue.drain());
            i.accept_q.iter().cloned().collect()
        };
        for e in embryos {
            purged.push(e.inner.lock().queue.drain());
        }
    }
    // The files go with no lock held; their sockets' releases find a collection running.
    drop(purged);
    drop(garbage);
    GC_IN_PROGRESS.store(false, Ordering::Release);
}
