//! CPU hotplug (Linux's kernel/cpu.c): the CPU masks, and taking a CPU offline and back
//! online through the state machine of `kernel::cpuhotplug`.
//!
//! Masks: *possible* = *present* = the CPUs started at boot (no physical hotplug); *online*
//! = running kernel code and taking interrupts; *active* = the scheduler may place tasks
//! there. A CPU leaves *active* first and *online* last, and comes back the other way.
//!
//! Going down (`cpu_down`, from a write to `/sys/devices/system/cpu/cpuN/online`), run by a
//! control task on another CPU: the CPU's hotplug thread `cpuhp/N` runs the teardowns above
//! `cpu:teardown` on the CPU itself (deactivate, unbind its worker pools, stop its watchdog,
//! park its per-CPU threads); then the control task parks `cpuhp/N` and has the CPU's stopper
//! `migration/N` run `take_cpu_down` there: leave *online*, stop the tick, move interrupts
//! and every queued task away, park the stopper. The CPU then runs only its idle task, which
//! reports it dead and halts (`arch::smp::play_dead`); the control task hands its tasklets to
//! a live CPU.
//!
//! Coming up (`cpu_up`): the control task wakes the halted CPU (an IPI and a flag: it never
//! left the kernel, so no INIT/SIPI is needed); the CPU restarts its tick, runs the starting
//! states, joins *online*, unparks its stopper and reports in; the control task unparks
//! `cpuhp/N`, which runs the startups up to `sched:active` (unpark the threads, start the
//! watchdog, rebind the worker pools, join *active*). The load balancer then moves work back.
//!
//! CPU 0 never goes offline (it runs the global timers, as x86 without CPU 0 hotplug):
//! sysfs gives it no `online` file. Hotplug operations are serialized by
//! `CPU_ADD_REMOVE_LOCK`; callbacks cannot fail, so there is no rollback.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::*};

use crate::arch::percpu::{nr_cpu_ids, MAX_CPUS};
use crate::kernel::cpuhotplug::*;
use crate::kernel::cpumask::{cpus_below, for_each_cpu};
use crate::kernel::errno::*;
use crate::kernel::kthread::{kthread_park, kthread_unpark};
use crate::kernel::locking::mutex::SleepingMutex;
use crate::kernel::smpboot::{smpboot_register_percpu_thread, SmpHotplugThread};
use crate::sched::completion::Completion;

static CPU_ONLINE_MASK: AtomicU64 = AtomicU64::new(0);
static CPU_ACTIVE_MASK: AtomicU64 = AtomicU64::new(0);

/// The CPUs that exist (`cpu_possible_mask`); the same as present here.
pub fn cpu_possible_mask() -> u64 {
    cpus_below(nr_cpu_ids())
}

pub fn cpu_present_mask() -> u64 {
    cpu_possible_mask()
}

pub fn cpu_online_mask() -> u64 {
    CPU_ONLINE_MASK.load(Acquire)
}

pub fn cpu_active_mask() -> u64 {
    CPU_ACTIVE_MASK.load(Acquire)
}

pub fn cpu_online(cpu: usize) -> bool {
    cpu_online_mask() & (1 << cpu) != 0
}

pub fn num_online_cpus() -> usize {
    cpu_online_mask().count_ones() as usize
}

fn set_bit(mask: &AtomicU64, cpu: usize, on: bool) {
    if on {
        mask.fetch_or(1 << cpu, AcqRel);
    } else {
        mask.fetch_and(!(1 << cpu), AcqRel);
    }
}

pub fn set_cpu_online(cpu: usize, online: bool) {
    set_bit(&CPU_ONLINE_MASK, cpu, online);
}

pub fn set_cpu_active(cpu: usize, active: bool) {
    set_bit(&CPU_ACTIVE_MASK, cpu, active);
}

/// A CPU's place in the state machine (`struct cpuhp_cpu_state`).
struct CpuhpCpuState {
    /// The state reached; written by whoever runs the CPU's steps at the time.
    state: AtomicU32,
    target: AtomicU32,
    /// Direction of the steps `cpuhp/N` has been kicked to run.
    bringup: AtomicBool,
    /// `cpuhp/N` has steps to run.
    should_run: AtomicBool,
    /// The CPU reached `ap:online-idle`, or `cpuhp/N` finished its startups (`done_up`).
    done_up: Completion,
    /// `cpuhp/N` finished its teardowns, or the CPU reported itself dead (`done_down`).
    done_down: Completion,
}

static CPUHP_STATE: [CpuhpCpuState; MAX_CPUS] = [const {
    CpuhpCpuState {
        state: AtomicU32::new(CPUHP_OFFLINE),
        target: AtomicU32::new(CPUHP_OFFLINE),
        bringup: AtomicBool::new(false),
        should_run: AtomicBool::new(false),
        done_up: Completion::new(),
        done_down: Completion::new(),
    }
}; MAX_CPUS];

/// Serializes CPU hotplug operations (`cpu_add_remove_lock`).
static CPU_ADD_REMOVE_LOCK: SleepingMutex = SleepingMutex::new();

/// A CPU brought up at boot is online and active, its state machine at the top
/// (`boot_cpu_hotplug_init` for CPU 0; the boot-time bring-up for the others).
pub fn boot_cpu_online(cpu: usize) {
    let st = &CPUHP_STATE[cpu];
    st.state.store(CPUHP_ONLINE, Release);
    st.target.store(CPUHP_ONLINE, Release);
    set_cpu_online(cpu, true);
    set_cpu_active(cpu, true);
}

/// The hotplug state of `cpu` and its target, for sysfs.
pub fn cpuhp_state(cpu: usize) -> (CpuhpState, CpuhpState) {
    let st = &CPUHP_STATE[cpu];
    (st.state.load(Acquire), st.target.load(Acquire))
}

// ---------------------------------------------------------------------------------------
// Running the steps

/// Run `state`'s callback for `cpu` on the way to `target` (`cpuhp_invoke_callback`), between
/// the `cpuhp:cpuhp_enter` and `cpuhp:cpuhp_exit` tracepoints (callbacks here cannot fail:
/// `ret` is 0).
fn cpuhp_invoke_callback(cpu: usize, state: CpuhpState, target: CpuhpState, cb: Callback) {
    use crate::kernel::{smpboot, softirq, watchdog, workqueue};
    use crate::sched;
    let fun: fn(usize) = match cb {
        Callback::TakeoverTasklets => softirq::takeover_tasklets,
        Callback::BringupCpu => bringup_cpu,
        Callback::SchedCpuStarting => sched::sched_cpu_starting,
        Callback::SchedCpuDying => sched::sched_cpu_dying,
        Callback::TakedownCpu => takedown_cpu,
        Callback::SmpbootUnparkThreads => smpboot::smpboot_unpark_threads,
        Callback::SmpbootParkThreads => smpboot::smpboot_park_threads,
        Callback::LockupDetectorOnlineCpu => watchdog::lockup_detector_online_cpu,
        Callback::LockupDetectorOfflineCpu => watchdog::lockup_detector_offline_cpu,
        Callback::WorkqueueOnlineCpu => workqueue::workqueue_online_cpu,
        Callback::WorkqueueOfflineCpu => workqueue::workqueue_offline_cpu,
        Callback::SchedCpuActivate => sched::sched_cpu_activate,
        Callback::SchedCpuDeactivate => sched::sched_cpu_deactivate,
    };
    crate::trace::trace_cpuhp_enter(cpu, target, state, fun as usize as u64);
    fun(cpu);
    let now = CPUHP_STATE[cpu].state.load(Acquire);
    crate::trace::trace_cpuhp_exit(cpu, now, state, 0);
}

/// Run the steps from the current state to `target` here (`cpuhp_invoke_callback_range`).
/// The state is re-read after each step: `takedown_cpu` moves it on the dying CPU.
fn cpuhp_invoke_callback_range(cpu: usize, bringup: bool, target: CpuhpState) {
    let st = &CPUHP_STATE[cpu];
    loop {
        let mut state = st.state.load(Acquire);
        let next = cpuhp_next_state(bringup, &mut state, target);
        st.state.store(state, Release);
        let Some((s, cb)) = next else { return };
        cpuhp_invoke_callback(cpu, s, target, cb);
    }
}

fn cpuhp_should_run(cpu: usize) -> bool {
    CPUHP_STATE[cpu].should_run.load(Acquire)
}

/// One step of `cpuhp/N`, which its smpboot loop calls while there are steps to run
/// (`cpuhp_thread_fun`); the last one tells the control task.
fn cpuhp_thread_fun(cpu: usize) {
    let st = &CPUHP_STATE[cpu];
    let bringup = st.bringup.load(Acquire);
    let target = st.target.load(Acquire);
    let mut state = st.state.load(Acquire);
    let next = cpuhp_next_state(bringup, &mut state, target);
    st.state.store(state, Release);
    if let Some((s, cb)) = next {
        debug_assert!(cpuhp_is_ap_state(s) && !cpuhp_is_atomic_state(s));
        cpuhp_invoke_callback(cpu, s, target, cb);
    }
    if st.state.load(Acquire) == target {
        st.should_run.store(false, Release);
        complete_ap_thread(st, bringup);
    }
}

fn complete_ap_thread(st: &CpuhpCpuState, bringup: bool) {
    if bringup {
        st.done_up.complete();
    } else {
        st.done_down.complete();
    }
}

fn wait_for_ap_thread(st: &CpuhpCpuState, bringup: bool) {
    if bringup {
        st.done_up.wait_for_completion();
    } else {
        st.done_down.wait_for_completion();
    }
}

/// The hotplug threads, `cpuhp/N` (`cpuhp_threads`).
static CPUHP_THREADS: SmpHotplugThread =
    SmpHotplugThread::new("cpuhp/", cpuhp_should_run, cpuhp_thread_fun).self_parking();

/// Have `cpuhp/N` run the steps up or down to `target` and wait for it (`cpuhp_kick_ap`).
fn cpuhp_kick_ap(cpu: usize, target: CpuhpState) {
    let st = &CPUHP_STATE[cpu];
    let bringup = st.state.load(Acquire) < target;
    st.target.store(target, Release);
    st.bringup.store(bringup, Release);
    st.should_run.store(true, Release);
    if let Some(t) = CPUHP_THREADS.task(cpu) {
        crate::sched::wake_up_process(t);
    }
    wait_for_ap_thread(st, bringup);
}

/// Create `cpuhp/N` on every CPU and start them (`cpuhp_threads_init`); the CPUs being
/// online already, each thread is unparked at once.
pub fn cpuhp_threads_init() {
    smpboot_register_percpu_thread(&CPUHP_THREADS);
    for cpu in for_each_cpu(cpu_online_mask()) {
        if let Some(t) = CPUHP_THREADS.task(cpu) {
            kthread_unpark(t);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Going down

/// The dying CPU's last kernel work, from its stopper (`take_cpu_down`): stop taking
/// interrupts, run the dying callbacks, park the stopper. Then only idle runs there.
fn take_cpu_down(cpu: usize) {
    let st = &CPUHP_STATE[cpu];
    // `__cpu_disable`: no more interrupts here, no longer online.
    set_cpu_online(cpu, false);
    crate::arch::smp::cpu_disable();
    let target = st.target.load(Acquire).max(CPUHP_AP_OFFLINE);
    cpuhp_invoke_callback_range(cpu, false, target);
    crate::sched::stop_task::stop_machine_park(cpu);
}

/// `cpu:teardown`, on the control CPU (`takedown_cpu`).
fn takedown_cpu(cpu: usize) {
    let st = &CPUHP_STATE[cpu];
    if let Some(t) = CPUHP_THREADS.task(cpu) {
        kthread_park(t);
    }
    if !crate::sched::stop_task::stop_one_cpu(cpu, move || take_cpu_down(cpu)) {
        crate::pr_err!("smpboot: CPU {} has no stopper to take it down", cpu);
        return;
    }
    // The CPU's idle task reports it dead, then halts (`cpuhp_report_idle_dead`).
    wait_for_ap_thread(st, false);
    crate::arch::smp::cpu_die(cpu);
    crate::pr_info!("smpboot: CPU {} is now offline", cpu);
}

/// From the dying CPU's idle loop, once nothing else runs there: tell the control task,
/// halt until brought back, and start again (`cpuhp_report_idle_dead`, `arch_cpu_idle_dead`,
/// then what `start_secondary` does).
pub fn cpuhp_idle_dead(cpu: usize) {
    let st = &CPUHP_STATE[cpu];
    // Leave the last user address space: it may go away while we are halted.
    crate::sched::idle_task_exit();
    st.state.store(CPUHP_AP_IDLE_DEAD, Release);
    st.done_down.complete();
    crate::arch::smp::play_dead(cpu);
    // Woken by `bringup_cpu`: the tick runs again; the rest of the way up.
    notify_cpu_starting(cpu);
    set_cpu_online(cpu, true);
    cpuhp_online_idle(cpu);
}

/// Take `cpu` down to `target` (`_cpu_down`), on a CPU that stays.
fn _cpu_down(cpu: usize, target: CpuhpState) -> KResult<()> {
    if num_online_cpus() == 1 {
        return Err(EBUSY);
    }
    if cpu_present_mask() & (1 << cpu) == 0 {
        return Err(EINVAL);
    }
    let st = &CPUHP_STATE[cpu];
    st.target.store(target, Release);
    // The part above cpu:teardown runs in the CPU's hotplug thread.
    if st.state.load(Acquire) > CPUHP_TEARDOWN_CPU {
        cpuhp_kick_ap(cpu, target.max(CPUHP_TEARDOWN_CPU));
        if st.state.load(Acquire) > CPUHP_TEARDOWN_CPU {
            return Ok(());
        }
        st.target.store(target, Release);
    }
    // The rest here: take the CPU down, then the callbacks for a dead CPU.
    cpuhp_invoke_callback_range(cpu, false, target);
    Ok(())
}

/// Run `f` on `cpu` in a workqueue worker and return its result (`work_on_cpu`).
fn work_on_cpu<R: Send + 'static>(cpu: usize, f: impl FnOnce() -> R + Send + 'static) -> R {
    use crate::kernel::workqueue::{flush_work, queue_work_on, system_wq, Work};
    let slot: Arc<spin::Mutex<(Option<_>, Option<R>)>> =
        Arc::new(spin::Mutex::new((Some(f), None)));
    let s2 = slot.clone();
    let work = Work::new(move || {
        let f = s2.lock().0.take();
        if let Some(f) = f {
            let r = f();
            s2.lock().1 = Some(r);
        }
    });
    queue_work_on(cpu, system_wq(), &work);
    flush_work(&work);
    let r = slot.lock().1.take();
    r.expect("work_on_cpu: the work ran")
}

/// Take `cpu` offline (`cpu_device_down`, from `online` in sysfs). The control part runs
/// on another CPU, so the caller may well be running on the one going away.
pub fn cpu_device_down(cpu: usize) -> KResult<()> {
    if cpu == 0 || cpu >= nr_cpu_ids() {
        return Err(if cpu == 0 { EBUSY } else { EINVAL });
    }
    let _lock = CPU_ADD_REMOVE_LOCK.lock();
    if !cpu_online(cpu) {
        return Ok(());
    }
    let Some(control) = for_each_cpu(cpu_online_mask() & !(1 << cpu)).next() else {
        return Err(EBUSY);
    };
    work_on_cpu(control, move || _cpu_down(cpu, CPUHP_OFFLINE))
}

// ---------------------------------------------------------------------------------------
// Coming up

/// On the CPU coming up, interrupts off: the starting callbacks (`notify_cpu_starting`).
fn notify_cpu_starting(cpu: usize) {
    cpuhp_invoke_callback_range(cpu, true, CPUHP_AP_ONLINE);
}

/// On the CPU coming up, before it schedules: its stopper must be there before anything
/// else runs; then tell the control task (`cpuhp_online_idle`).
fn cpuhp_online_idle(cpu: usize) {
    let st = &CPUHP_STATE[cpu];
    crate::sched::stop_task::stop_machine_unpark(cpu);
    st.state.store(CPUHP_AP_ONLINE_IDLE, Release);
    complete_ap_thread(st, true);
}

/// `cpu:bringup`, on the control CPU: wake the halted CPU, wait until it idles online, then
/// let its hotplug thread take it the rest of the way (`bringup_cpu`, `bringup_wait_for_ap`).
fn bringup_cpu(cpu: usize) {
    let st = &CPUHP_STATE[cpu];
    crate::arch::smp::cpu_up(cpu);
    wait_for_ap_thread(st, true);
    if !cpu_online(cpu) {
        crate::pr_err!("smpboot: CPU {} did not come online", cpu);
        return;
    }
    if let Some(t) = CPUHP_THREADS.task(cpu) {
        kthread_unpark(t);
    }
    let target = st.target.load(Acquire);
    if target > CPUHP_AP_ONLINE_IDLE {
        cpuhp_kick_ap(cpu, target);
    }
}

/// Bring `cpu` up to `target` (`_cpu_up`).
fn _cpu_up(cpu: usize, target: CpuhpState) -> KResult<()> {
    let st = &CPUHP_STATE[cpu];
    if st.state.load(Acquire) >= target {
        return Ok(());
    }
    st.target.store(target, Release);
    cpuhp_invoke_callback_range(cpu, true, target.min(CPUHP_BRINGUP_CPU));
    Ok(())
}

/// Bring `cpu` online (`cpu_device_up`, from `online` in sysfs).
pub fn cpu_device_up(cpu: usize) -> KResult<()> {
    if cpu >= nr_cpu_ids() {
        return Err(EINVAL);
    }
    let _lock = CPU_ADD_REMOVE_LOCK.lock();
    if cpu_online(cpu) {
        return Ok(());
    }
    _cpu_up(cpu, CPUHP_ONLINE)
}

// ---------------------------------------------------------------------------------------
// sysfs

/// `/sys/devices/system/cpu/hotplug/states`: every state by number (`cpuhp_sysfs_init`).
pub fn cpuhp_sysfs_init() -> KResult<()> {
    let dir = crate::fs::sysfs::sysfs_create_dirs("devices/system/cpu/hotplug")?;
    crate::fs::sysfs::sysfs_create_file(
        &dir,
        "states",
        alloc::boxed::Box::new(|| Ok(show_cpuhp_states())),
        None,
    )
}

/// `cpuN/hotplug/state` and `target`: where the CPU's state machine is and where it goes.
pub fn cpuhp_sysfs_register_cpu(cpu: usize) -> KResult<()> {
    let dir = crate::fs::sysfs::sysfs_create_dirs(&alloc::format!(
        "devices/system/cpu/cpu{cpu}/hotplug"
    ))?;
    crate::fs::sysfs::sysfs_create_file(
        &dir,
        "state",
        alloc::boxed::Box::new(move || Ok(alloc::format!("{}\n", cpuhp_state(cpu).0))),
        None,
    )?;
    crate::fs::sysfs::sysfs_create_file(
        &dir,
        "target",
        alloc::boxed::Box::new(move || Ok(alloc::format!("{}\n", cpuhp_state(cpu).1))),
        None,
    )
}
