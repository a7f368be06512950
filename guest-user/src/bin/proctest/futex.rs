//! Futexes as Linux keys and queues them: FUTEX_CMP_REQUEUE and FUTEX_REQUEUE move sleepers to
//! a second futex without waking them, and a futex in MAP_SHARED memory is one futex for every
//! process that maps it, wherever each maps it.

use std::sync::atomic::{AtomicI32, AtomicU32, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use guest_user::check::{pass_with, Check, Context, Fail};
use guest_user::procfs::Stat;
use guest_user::sys::{self, Shared};
use guest_user::{ensure, fail};

const WAIT: i32 = libc::FUTEX_WAIT;
const WAKE: i32 = libc::FUTEX_WAKE;
const PRIVATE: i32 = libc::FUTEX_PRIVATE_FLAG;
/// Long enough for any wake-up this file expects; a sleeper still asleep after it failed.
const PATIENCE: Duration = Duration::from_secs(10);

/// The raw system call; `val2` is the timeout pointer or the requeue count, as the operation
/// reads it. Returns the result or the errno.
fn futex(
    word: *const AtomicU32,
    op: i32,
    val: i32,
    val2: usize,
    word2: *const AtomicU32,
    val3: u32,
) -> Result<i64, i32> {
    // SAFETY: the words are live atomics of this process; the kernel reads the timeout
    // pointer only for waits, which pass a valid one or NULL.
    let r = unsafe { libc::syscall(libc::SYS_futex, word, op, val, val2, word2, val3) };
    if r < 0 {
        Err(sys::errno())
    } else {
        Ok(r)
    }
}

/// FUTEX_WAIT for `PATIENCE` at most.
fn wait(word: *const AtomicU32, op: i32, val: u32) -> Result<i64, i32> {
    let ts = sys::timespec(PATIENCE);
    futex(
        word,
        op,
        val as i32,
        &ts as *const _ as usize,
        std::ptr::null(),
        0,
    )
}

fn wake(word: *const AtomicU32, op: i32, nr: i32) -> Result<i64, i32> {
    futex(word, op, nr, 0, std::ptr::null(), 0)
}

/// Whether task `tid` of this process sleeps (state S).
fn sleeping(tid: i32) -> bool {
    Stat::read(format!("/proc/self/task/{tid}/stat")).is_ok_and(|s| s.state == 'S')
}

/// Threads sleeping in FUTEX_WAIT on one word; each records what the call returned.
struct Sleepers {
    results: Arc<Vec<AtomicI32>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// Not returned yet.
const ASLEEP: i32 = i32::MIN;

impl Sleepers {
    /// `n` threads waiting on `word` (which holds 0), all asleep in the kernel on return.
    fn start(word: &Arc<AtomicU32>, n: usize) -> Result<Sleepers, Fail> {
        let results: Arc<Vec<AtomicI32>> =
            Arc::new((0..n).map(|_| AtomicI32::new(ASLEEP)).collect());
        let tids: Arc<Vec<AtomicI32>> = Arc::new((0..n).map(|_| AtomicI32::new(0)).collect());
        let threads = (0..n)
            .map(|i| {
                let (word, results, tids) = (word.clone(), results.clone(), tids.clone());
                std::thread::spawn(move || {
                    tids[i].store(sys::gettid(), SeqCst);
                    let r = wait(&*word, WAIT | PRIVATE, 0);
                    results[i].store(r.map_or_else(|e| -e, |v| v as i32), SeqCst);
                })
            })
            .collect();
        let s = Sleepers { results, threads };
        let asleep = sys::wait_until(PATIENCE, || {
            tids.iter().all(|t| {
                let tid = t.load(SeqCst);
                tid != 0 && sleeping(tid)
            })
        });
        ensure!(asleep, "the waiting threads did not all go to sleep");
        Ok(s)
    }

    fn woken(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.load(SeqCst) != ASLEEP)
            .count()
    }

    /// Wait until `n` have returned, then a little more to see that no more do.
    fn expect_woken(&self, n: usize, after: &str) -> Result<(), Fail> {
        sys::wait_until(PATIENCE, || self.woken() >= n);
        sys::sleep(Duration::from_millis(100));
        let woken = self.woken();
        ensure!(
            woken == n,
            "{woken} sleepers returned after {after}, want {n}"
        );
        Ok(())
    }

    /// Join the threads and check every wait returned 0 (woken, not timed out or failed).
    fn finish(self) -> Result<(), Fail> {
        for t in self.threads {
            t.join()
                .map_err(|_| Fail("a waiting thread panicked".into()))?;
        }
        let results: Vec<i32> = self.results.iter().map(|r| r.load(SeqCst)).collect();
        ensure!(
            results.iter().all(|&r| r == 0),
            "FUTEX_WAIT returned {results:?} (negative: -errno), want 0 for each"
        );
        Ok(())
    }
}

/// FUTEX_CMP_REQUEUE wakes `nr_wake` sleepers and moves `nr_requeue` to the second futex,
/// where they sleep on until FUTEX_WAKE there; the count it returns is woken plus moved, as is
/// FUTEX_REQUEUE's; a stale comparison value is EAGAIN and negative counts EINVAL.
pub(crate) fn futex_requeue() -> Check {
    let f1 = Arc::new(AtomicU32::new(0));
    let f2 = Arc::new(AtomicU32::new(0));
    let (p1, p2): (*const AtomicU32, *const AtomicU32) = (&*f1, &*f2);
    let cmp_requeue = |nr_wake: i32, nr_requeue: usize, val3: u32| {
        futex(
            p1,
            libc::FUTEX_CMP_REQUEUE | PRIVATE,
            nr_wake,
            nr_requeue,
            p2,
            val3,
        )
    };
    let s = Sleepers::start(&f1, 3)?;
    let r = cmp_requeue(1, 1, 1);
    ensure!(
        r == Err(libc::EAGAIN),
        "CMP_REQUEUE with a stale value: {r:?}, want EAGAIN"
    );
    let r = cmp_requeue(-1, 1, 0);
    ensure!(
        r == Err(libc::EINVAL),
        "CMP_REQUEUE waking -1: {r:?}, want EINVAL"
    );
    s.expect_woken(0, "a refused CMP_REQUEUE")?;
    let r = cmp_requeue(1, 1, 0);
    ensure!(
        r == Ok(2),
        "CMP_REQUEUE(wake 1, requeue 1) returned {r:?}, want 2 (woken + moved)"
    );
    s.expect_woken(1, "CMP_REQUEUE(wake 1, requeue 1)")?;
    let r = wake(p1, WAKE | PRIVATE, i32::MAX);
    ensure!(
        r == Ok(1),
        "FUTEX_WAKE on the first futex woke {r:?}, want the 1 left there"
    );
    s.expect_woken(
        2,
        "waking the first futex (the requeued sleeper must sleep on)",
    )?;
    let r = wake(p2, WAKE | PRIVATE, i32::MAX);
    ensure!(
        r == Ok(1),
        "FUTEX_WAKE on the second futex woke {r:?}, want the 1 moved there"
    );
    s.expect_woken(3, "waking the second futex")?;
    s.finish()?;

    // FUTEX_REQUEUE: no comparison; all moved, none woken.
    let s = Sleepers::start(&f1, 2)?;
    let r = futex(
        p1,
        libc::FUTEX_REQUEUE | PRIVATE,
        0,
        i32::MAX as usize,
        p2,
        0,
    );
    ensure!(
        r == Ok(2),
        "REQUEUE(wake 0, requeue all) returned {r:?}, want 2"
    );
    s.expect_woken(0, "REQUEUE(wake 0)")?;
    let r = wake(p1, WAKE | PRIVATE, i32::MAX);
    ensure!(
        r == Ok(0),
        "FUTEX_WAKE on the emptied futex woke {r:?}, want 0"
    );
    let r = wake(p2, WAKE | PRIVATE, i32::MAX);
    ensure!(
        r == Ok(2),
        "FUTEX_WAKE on the second futex woke {r:?}, want 2"
    );
    s.expect_woken(2, "waking the second futex")?;
    s.finish()?;
    pass_with(
        "3 sleepers: CMP_REQUEUE woke 1 and moved 1, which slept until its new futex was woken",
    )
}

/// A parent and its forked child wait for and wake each other on a word of a MAP_SHARED |
/// MAP_ANONYMOUS page; the child uses a second mapping of the page (another address). A
/// private-flag wake is a different futex and wakes nobody.
pub(crate) fn futex_shared_fork() -> Check {
    let word = Shared::new(AtomicU32::new(0)).ctx("mmap")?;
    let at: *const AtomicU32 = &*word;
    let parent = sys::getpid();
    let child = sys::fork_child(|| {
        // SAFETY: a second mapping of our shared page (old size 0); nothing else is touched.
        let alias = unsafe { libc::mremap(at as *mut libc::c_void, 0, 4096, libc::MREMAP_MAYMOVE) };
        if alias == libc::MAP_FAILED || alias as *const AtomicU32 == at {
            return 10;
        }
        let alias = alias as *const AtomicU32;
        // Wait for the parent's 1.
        // SAFETY: the alias maps the same live page.
        let value = || unsafe { (*alias).load(SeqCst) };
        while value() == 0 {
            if let Err(e) = wait(alias, WAIT, 0) {
                if e != libc::EAGAIN && e != libc::EINTR {
                    return 11;
                }
            }
        }
        // Wake the parent once it sleeps on its own mapping.
        if !sys::wait_until(PATIENCE, || Stat::of(parent).is_ok_and(|s| s.state == 'S')) {
            return 12;
        }
        // SAFETY: as above.
        unsafe { (*alias).store(2, SeqCst) };
        match wake(alias, WAKE, 1) {
            Ok(1) => 0,
            Ok(_) => 13,
            Err(_) => 14,
        }
    })
    .ctx("fork")?;
    let result = (|| -> Result<(), Fail> {
        ensure!(
            sys::wait_until(PATIENCE, || Stat::of(child).is_ok_and(|s| s.state == 'S')),
            "the child never went to sleep"
        );
        let r = wake(at, WAKE | PRIVATE, 1);
        ensure!(
            r == Ok(0),
            "a private-flag FUTEX_WAKE woke {r:?}, want 0 (another futex)"
        );
        word.store(1, SeqCst);
        let r = wake(at, WAKE, 1);
        ensure!(
            r == Ok(1),
            "FUTEX_WAKE on the shared page woke {r:?}, want the child sleeping on it"
        );
        while word.load(SeqCst) == 1 {
            match wait(at, WAIT, 1) {
                Ok(_) | Err(libc::EAGAIN) | Err(libc::EINTR) => {}
                Err(e) => fail!("FUTEX_WAIT on the shared page: errno {e} (110: never woken)"),
            }
        }
        Ok(())
    })();
    if let Err(e) = result {
        sys::kill_and_reap(child);
        return Err(e);
    }
    let status = sys::wait_status(child).ctx("waitpid")?;
    ensure!(
        status == 0,
        "child {} (10: no second mapping, 11: its wait failed, 12: we never slept, 13/14: its \
         wake found nobody / failed)",
        sys::describe_status(status)
    );
    pass_with("woke the child, then the child woke us, through one shared page")
}
