//! Which CPUs' trace rings have described a task to the host's current session: a context
//! switch to such a task needs no `TaskInfo` record, as the host derives it from the
//! `sched_switch` (see `abi::trace`'s module comment).

use core::sync::atomic::{AtomicU64, Ordering};

/// Which CPUs' rings have described a task (a `TaskInfo` record since its identity last
/// changed), and to which host session: the session in the high half, a bit per CPU in the low half.
pub struct DescribedIn(AtomicU64);

impl DescribedIn {
    pub const fn new() -> DescribedIn {
        DescribedIn(AtomicU64::new(0))
    }

    /// Whether the ring whose bit is `cpu_bit` described the task to the host's current
    /// session.
    #[inline(always)]
    pub(super) fn has(&self, cpu_bit: u64) -> bool {
        let word = self.0.load(Ordering::Acquire);
        word >> 32 == u64::from(super::session()) && word & cpu_bit != 0
    }

    /// The word and the host's session, read before a `TaskInfo` is: [`Self::add`] applies
    /// only if the identity did not change meanwhile, and for the session that can have read
    /// the record (a host attaching drops what was written before).
    pub(super) fn before_describing(&self) -> (u64, u32) {
        (self.0.load(Ordering::Acquire), super::session())
    }

    /// The ring whose bit is `cpu_bit` wrote a `TaskInfo` after `before` was read: add it,
    /// unless `forget_task` came in between (a compare-exchange that then fails).
    pub(super) fn add(&self, (before, session): (u64, u32), cpu_bit: u64) {
        let session = u64::from(session);
        let cpus = if before >> 32 == session { before } else { 0 } & 0xffff_ffff;
        let word = session << 32 | cpus | cpu_bit;
        let _ = self
            .0
            .compare_exchange(before, word, Ordering::AcqRel, Ordering::Relaxed);
    }

    pub(super) fn clear(&self) {
        self.0.store(0, Ordering::SeqCst);
    }
}

impl Default for DescribedIn {
    fn default() -> Self {
        DescribedIn::new()
    }
}
