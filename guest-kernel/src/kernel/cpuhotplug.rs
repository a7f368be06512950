//! The CPU hotplug state machine's table and stepping (Linux's include/linux/cpuhotplug.h and
//! the pure half of kernel/cpu.c), host-tested; `kernel::cpu` runs it.
//!
//! A CPU's hotplug state climbs from `CPUHP_OFFLINE` to `CPUHP_ONLINE` when it comes up and
//! falls back when it goes down; every state on the way may have a startup callback (run
//! when the state is entered going up) and a teardown callback (run when it is left going
//! down), so teardown runs the startups' mirror images in reverse order. Where a callback runs
//! depends on the state's section, as in Linux:
//!
//! - up to `CPUHP_BRINGUP_CPU`, and `CPUHP_TEARDOWN_CPU`: on the control CPU (the "BP"), in
//!   the task that asked (`PREPARE` and `DEAD` callbacks);
//! - `CPUHP_AP_IDLE_DEAD` ..= `CPUHP_AP_ONLINE`: on the CPU itself with interrupts off, while
//!   it starts or from the stopper as it dies (`STARTING` / `DYING` callbacks);
//! - above `CPUHP_AP_ONLINE_IDLE`: on the CPU itself, in its hotplug thread `cpuhp/N`.
//!
//! Only states with a callback here are listed (Linux has dozens); the numbers are ours, the
//! names are Linux's, as `/sys/devices/system/cpu/hotplug/states` shows them. Linux's
//! `timers:prepare`/`hrtimers:prepare` are absent on purpose: this kernel's timer bases are
//! global and expire on CPU 0, which never goes offline, so a dying CPU has no timers to hand
//! over.

use alloc::string::String;
use core::fmt::Write;

pub type CpuhpState = u32;

pub const CPUHP_OFFLINE: CpuhpState = 0;
pub const CPUHP_SOFTIRQ_DEAD: CpuhpState = 1;
pub const CPUHP_BRINGUP_CPU: CpuhpState = 2;
pub const CPUHP_AP_IDLE_DEAD: CpuhpState = 3;
pub const CPUHP_AP_OFFLINE: CpuhpState = 4;
pub const CPUHP_AP_SCHED_STARTING: CpuhpState = 5;
pub const CPUHP_AP_ONLINE: CpuhpState = 6;
pub const CPUHP_TEARDOWN_CPU: CpuhpState = 7;
pub const CPUHP_AP_ONLINE_IDLE: CpuhpState = 8;
pub const CPUHP_AP_SMPBOOT_THREADS: CpuhpState = 9;
pub const CPUHP_AP_WATCHDOG_ONLINE: CpuhpState = 10;
pub const CPUHP_AP_WORKQUEUE_ONLINE: CpuhpState = 11;
pub const CPUHP_AP_ACTIVE: CpuhpState = 12;
pub const CPUHP_ONLINE: CpuhpState = 13;

/// The callbacks the states name; `kernel::cpu` maps each to its function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Callback {
    /// Move the dead CPU's tasklets here (`takeover_tasklets`).
    TakeoverTasklets,
    /// Wake the parked CPU and wait until it runs its idle loop (`bringup_cpu`).
    BringupCpu,
    SchedCpuStarting,
    /// Move every task off the dying CPU (`sched_cpu_dying`).
    SchedCpuDying,
    /// Park `cpuhp/N`, stop the CPU from its stopper, wait for it to die (`takedown_cpu`).
    TakedownCpu,
    SmpbootUnparkThreads,
    SmpbootParkThreads,
    LockupDetectorOnlineCpu,
    LockupDetectorOfflineCpu,
    /// Bind the CPU's worker pools to it again (`workqueue_online_cpu`).
    WorkqueueOnlineCpu,
    /// Let the CPU's worker pools run anywhere (`workqueue_offline_cpu`).
    WorkqueueOfflineCpu,
    SchedCpuActivate,
    /// Take the CPU out of the active mask: nothing new is placed there (`sched_cpu_deactivate`).
    SchedCpuDeactivate,
}

/// One state (`struct cpuhp_step`).
pub struct CpuhpStep {
    pub name: &'static str,
    pub startup: Option<Callback>,
    pub teardown: Option<Callback>,
}

const fn step(
    name: &'static str,
    startup: Option<Callback>,
    teardown: Option<Callback>,
) -> CpuhpStep {
    CpuhpStep {
        name,
        startup,
        teardown,
    }
}

use Callback::*;

/// Every state, indexed by its number (`cpuhp_hp_states`).
pub const CPUHP_HP_STATES: [CpuhpStep; CPUHP_ONLINE as usize + 1] = {
    let mut t = [const { step("", None, None) }; CPUHP_ONLINE as usize + 1];
    t[CPUHP_OFFLINE as usize] = step("offline", None, None);
    t[CPUHP_SOFTIRQ_DEAD as usize] = step("softirq:dead", None, Some(TakeoverTasklets));
    t[CPUHP_BRINGUP_CPU as usize] = step("cpu:bringup", Some(BringupCpu), None);
    t[CPUHP_AP_IDLE_DEAD as usize] = step("idle:dead", None, None);
    t[CPUHP_AP_OFFLINE as usize] = step("ap:offline", None, None);
    t[CPUHP_AP_SCHED_STARTING as usize] = step(
        "sched:starting",
        Some(SchedCpuStarting),
        Some(SchedCpuDying),
    );
    t[CPUHP_AP_ONLINE as usize] = step("ap:online", None, None);
    t[CPUHP_TEARDOWN_CPU as usize] = step("cpu:teardown", None, Some(TakedownCpu));
    t[CPUHP_AP_ONLINE_IDLE as usize] = step("ap:online-idle", None, None);
    t[CPUHP_AP_SMPBOOT_THREADS as usize] = step(
        "smpboot/threads:online",
        Some(SmpbootUnparkThreads),
        Some(SmpbootParkThreads),
    );
    t[CPUHP_AP_WATCHDOG_ONLINE as usize] = step(
        "lockup_detector:online",
        Some(LockupDetectorOnlineCpu),
        Some(LockupDetectorOfflineCpu),
    );
    t[CPUHP_AP_WORKQUEUE_ONLINE as usize] = step(
        "workqueue:online",
        Some(WorkqueueOnlineCpu),
        Some(WorkqueueOfflineCpu),
    );
    t[CPUHP_AP_ACTIVE as usize] = step(
        "sched:active",
        Some(SchedCpuActivate),
        Some(SchedCpuDeactivate),
    );
    t[CPUHP_ONLINE as usize] = step("online", None, None);
    t
};

/// The callback of `state` in the direction of travel.
pub fn cpuhp_callback(state: CpuhpState, bringup: bool) -> Option<Callback> {
    let s = &CPUHP_HP_STATES[state as usize];
    if bringup {
        s.startup
    } else {
        s.teardown
    }
}

/// The next state whose callback must run on the way from `*state` to `target`, moving
/// `*state` past it (`cpuhp_next_state`): going up the state is entered first and its startup
/// runs; going down the teardown of the state being left runs. States without a callback in
/// that direction are passed over. None once `target` is reached.
pub fn cpuhp_next_state(
    bringup: bool,
    state: &mut CpuhpState,
    target: CpuhpState,
) -> Option<(CpuhpState, Callback)> {
    loop {
        let to_run = if bringup {
            if *state >= target {
                return None;
            }
            *state += 1;
            *state
        } else {
            if *state <= target {
                return None;
            }
            *state -= 1;
            *state + 1
        };
        if let Some(cb) = cpuhp_callback(to_run, bringup) {
            return Some((to_run, cb));
        }
    }
}

/// States run on the CPU that changes, not the control CPU (`cpuhp_is_ap_state`).
pub fn cpuhp_is_ap_state(state: CpuhpState) -> bool {
    state > CPUHP_BRINGUP_CPU && state != CPUHP_TEARDOWN_CPU
}

/// States run with interrupts off on the CPU itself (`cpuhp_is_atomic_state`).
pub fn cpuhp_is_atomic_state(state: CpuhpState) -> bool {
    (CPUHP_AP_IDLE_DEAD..CPUHP_AP_ONLINE).contains(&state)
}

/// `/sys/devices/system/cpu/hotplug/states`: `NNN: name` per state (`states_show`).
pub fn show_cpuhp_states() -> String {
    let mut out = String::new();
    for (i, s) in CPUHP_HP_STATES.iter().enumerate() {
        let _ = writeln!(out, "{i:3}: {}", s.name);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(bringup: bool, from: CpuhpState, to: CpuhpState) -> (alloc::vec::Vec<Callback>, u32) {
        let mut state = from;
        let mut out = alloc::vec::Vec::new();
        while let Some((s, cb)) = cpuhp_next_state(bringup, &mut state, to) {
            assert_eq!(cpuhp_callback(s, bringup), Some(cb));
            out.push(cb);
        }
        (out, state)
    }

    #[test]
    fn going_down_runs_the_teardowns_in_linuxs_order_split_by_section() {
        // The hotplug thread on the CPU: from online down to cpu:teardown.
        let (thread, at) = run(false, CPUHP_ONLINE, CPUHP_TEARDOWN_CPU);
        assert_eq!(
            thread,
            [
                SchedCpuDeactivate,
                WorkqueueOfflineCpu,
                LockupDetectorOfflineCpu,
                SmpbootParkThreads
            ]
        );
        assert_eq!(at, CPUHP_TEARDOWN_CPU);
        // The control CPU runs cpu:teardown; the state is then already one below it, as the
        // dying CPU's stopper expects.
        let mut state = CPUHP_TEARDOWN_CPU;
        assert_eq!(
            cpuhp_next_state(false, &mut state, CPUHP_OFFLINE),
            Some((CPUHP_TEARDOWN_CPU, TakedownCpu))
        );
        assert_eq!(state, CPUHP_AP_ONLINE);
        // The stopper on the dying CPU, interrupts off.
        let (dying, at) = run(false, CPUHP_AP_ONLINE, CPUHP_AP_OFFLINE);
        assert_eq!(dying, [SchedCpuDying]);
        assert_eq!(at, CPUHP_AP_OFFLINE);
        // Back on the control CPU once the CPU reported itself dead.
        let (dead, at) = run(false, CPUHP_AP_IDLE_DEAD, CPUHP_OFFLINE);
        assert_eq!(dead, [TakeoverTasklets]);
        assert_eq!(at, CPUHP_OFFLINE);
    }

    #[test]
    fn going_up_mirrors_going_down() {
        let (bp, at) = run(true, CPUHP_OFFLINE, CPUHP_BRINGUP_CPU);
        assert_eq!((bp, at), (alloc::vec![BringupCpu], CPUHP_BRINGUP_CPU));
        let (starting, at) = run(true, CPUHP_BRINGUP_CPU, CPUHP_AP_ONLINE);
        assert_eq!(
            (starting, at),
            (alloc::vec![SchedCpuStarting], CPUHP_AP_ONLINE)
        );
        // cpu:teardown has nothing to do going up; the thread starts above ap:online-idle.
        let (thread, at) = run(true, CPUHP_AP_ONLINE_IDLE, CPUHP_ONLINE);
        assert_eq!(
            thread,
            [
                SmpbootUnparkThreads,
                LockupDetectorOnlineCpu,
                WorkqueueOnlineCpu,
                SchedCpuActivate
            ]
        );
        assert_eq!(at, CPUHP_ONLINE);
        // The whole way up and the whole way down: one run per callback, none twice.
        let (up, _) = run(true, CPUHP_OFFLINE, CPUHP_ONLINE);
        let (down, _) = run(false, CPUHP_ONLINE, CPUHP_OFFLINE);
        let startups = CPUHP_HP_STATES.iter().filter(|s| s.startup.is_some());
        let teardowns = CPUHP_HP_STATES.iter().filter(|s| s.teardown.is_some());
        assert_eq!(
            (up.len(), down.len()),
            (startups.count(), teardowns.count())
        );
    }

    #[test]
    fn nothing_runs_when_already_there() {
        assert_eq!(run(true, CPUHP_ONLINE, CPUHP_ONLINE).0.len(), 0);
        assert_eq!(run(false, CPUHP_OFFLINE, CPUHP_OFFLINE).0.len(), 0);
        // Going up to a lower state does nothing either.
        assert_eq!(run(true, CPUHP_ONLINE, CPUHP_OFFLINE).1, CPUHP_ONLINE);
    }

    #[test]
    fn sections_are_linuxs() {
        assert!(!cpuhp_is_ap_state(CPUHP_SOFTIRQ_DEAD));
        assert!(!cpuhp_is_ap_state(CPUHP_BRINGUP_CPU));
        assert!(!cpuhp_is_ap_state(CPUHP_TEARDOWN_CPU));
        assert!(cpuhp_is_ap_state(CPUHP_AP_SCHED_STARTING));
        assert!(cpuhp_is_ap_state(CPUHP_AP_ACTIVE));
        assert!(cpuhp_is_atomic_state(CPUHP_AP_SCHED_STARTING));
        assert!(!cpuhp_is_atomic_state(CPUHP_AP_ONLINE));
        assert!(!cpuhp_is_atomic_state(CPUHP_AP_ACTIVE));
    }

    #[test]
    fn every_state_has_a_name() {
        assert!(CPUHP_HP_STATES.iter().all(|s| !s.name.is_empty()));
    }

    #[test]
    fn states_file_lists_every_state_by_number() {
        let s = show_cpuhp_states();
        assert!(s.starts_with("  0: offline\n  1: softirq:dead\n  2: cpu:bringup\n"));
        assert!(s.ends_with(" 12: sched:active\n 13: online\n"));
        assert_eq!(s.lines().count(), CPUHP_HP_STATES.len());
    }
}
