//! KVM's paravirtual clock, for the wall clock only (Linux's arch/x86/kernel/kvmclock.c
//! `kvm_get_wallclock`): KVM writes the wall-clock time of its clock's zero into a structure
//! whose address the guest gives in an MSR, and the clock's current value into a per-CPU
//! structure given the same way. The kernel keeps time with the TSC; this is read once.
//!
//! Used on KVM itself (its CPUID signature) and on our VMM, which runs on KVM with its
//! paravirtual MSRs left in place (it replaces KVM's CPUID leaves with its own).

use core::sync::atomic::{fence, Ordering};

use super::cpu::{cpuid, hypervisor_signature, on_watchvm, rdtsc, wrmsr};

const MSR_KVM_WALL_CLOCK_NEW: u32 = 0x4b56_4d00;
const MSR_KVM_SYSTEM_TIME_NEW: u32 = 0x4b56_4d01;
const KVM_FEATURE_CLOCKSOURCE2: u32 = 1 << 3;
const KVM_SIGNATURE: [u8; 12] = *b"KVMKVMKVM\0\0\0";

/// `struct pvclock_wall_clock`.
#[repr(C, align(16))]
struct PvclockWallClock {
    version: u32,
    sec: u32,
    nsec: u32,
}

/// `struct pvclock_vcpu_time_info`; must not cross a page.
#[repr(C, align(32))]
struct PvclockVcpuTimeInfo {
    version: u32,
    pad0: u32,
    tsc_timestamp: u64,
    system_time: u64,
    tsc_to_system_mul: u32,
    tsc_shift: i8,
    flags: u8,
    pad: [u8; 2],
}

static mut WALL_CLOCK: PvclockWallClock = PvclockWallClock {
    version: 0,
    sec: 0,
    nsec: 0,
};

static mut TIME_INFO: PvclockVcpuTimeInfo = PvclockVcpuTimeInfo {
    version: 0,
    pad0: 0,
    tsc_timestamp: 0,
    system_time: 0,
    tsc_to_system_mul: 0,
    tsc_shift: 0,
    flags: 0,
    pad: [0; 2],
};

/// Whether KVM's clock MSRs are there.
fn kvm_clock_available() -> bool {
    on_watchvm()
        || (hypervisor_signature() == KVM_SIGNATURE
            && cpuid(0x4000_0001, 0).eax & KVM_FEATURE_CLOCKSOURCE2 != 0)
}

/// Read a structure KVM updates under a version number: odd while it writes, changed after.
fn read_versioned<T>(version: *const u32, read: impl Fn() -> T) -> Option<T> {
    for _ in 0..1000 {
        // SAFETY: `version` points into one of the statics above, which KVM writes; volatile
        // reads see its writes.
        let v = unsafe { version.read_volatile() };
        fence(Ordering::Acquire);
        let value = read();
        fence(Ordering::Acquire);
        // SAFETY: as above.
        if v & 1 == 0 && v != 0 && unsafe { version.read_volatile() } == v {
            return Some(value);
        }
    }
    None
}

/// The wall clock now, in ns since the epoch: the time of KVM's clock zero plus the clock's
/// value now (Linux's `pvclock_read_wallclock`). None off KVM or if KVM wrote nothing.
pub fn kvm_get_wallclock() -> Option<u64> {
    if !kvm_clock_available() {
        return None;
    }
    let (wall, info) = (
        core::ptr::addr_of_mut!(WALL_CLOCK),
        core::ptr::addr_of_mut!(TIME_INFO),
    );
    // SAFETY: the MSRs take the guest-physical addresses of the statics, which live as long
    // as the kernel; KVM writes them once per MSR write (the clock is turned off again below).
    unsafe {
        wrmsr(
            MSR_KVM_SYSTEM_TIME_NEW,
            super::virt_to_phys(info as u64) | 1,
        );
        wrmsr(MSR_KVM_WALL_CLOCK_NEW, super::virt_to_phys(wall as u64));
    }
    // Both structures start with their version (`repr(C)`).
    let wall_ns = read_versioned(wall.cast::<u32>(), || {
        // SAFETY: a volatile read of the static KVM has written.
        let w = unsafe { wall.read_volatile() };
        w.sec as u64 * 1_000_000_000 + w.nsec as u64
    });
    let clock_ns = read_versioned(info.cast::<u32>(), || {
        // SAFETY: as above.
        let t = unsafe { info.read_volatile() };
        let mut delta = rdtsc().wrapping_sub(t.tsc_timestamp);
        if t.tsc_shift < 0 {
            delta >>= -t.tsc_shift;
        } else {
            delta <<= t.tsc_shift;
        }
        t.system_time + ((delta as u128 * t.tsc_to_system_mul as u128) >> 32) as u64
    });
    // SAFETY: turning the per-CPU clock off stops KVM writing the structure.
    unsafe { wrmsr(MSR_KVM_SYSTEM_TIME_NEW, 0) };
    Some(wall_ns? + clock_ns?)
}
