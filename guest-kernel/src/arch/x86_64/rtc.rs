//! The wall clock at boot (Linux's `read_persistent_clock64`): KVM's paravirtual clock when
//! the hypervisor is KVM (our VMM, which runs on KVM and emulates no CMOS, or QEMU with KVM),
//! else the CMOS real-time clock (QEMU TCG's microvm has one; arch/x86/kernel/rtc.c's
//! `mach_get_cmos_time`), else nothing.

use super::cpu::{inb, outb};
use super::kvmclock;
use crate::drivers::rtc::{CmosTime, RTC_UIP};

const RTC_PORT_INDEX: u16 = 0x70;
const RTC_PORT_DATA: u16 = 0x71;

const RTC_SECONDS: u8 = 0;
const RTC_MINUTES: u8 = 2;
const RTC_HOURS: u8 = 4;
const RTC_DAY_OF_MONTH: u8 = 7;
const RTC_MONTH: u8 = 8;
const RTC_YEAR: u8 = 9;
const RTC_REG_A: u8 = 10;
const RTC_REG_B: u8 = 11;

fn cmos_read(reg: u8) -> u8 {
    outb(RTC_PORT_INDEX, reg);
    inb(RTC_PORT_DATA)
}

fn cmos_time() -> CmosTime {
    CmosTime {
        sec: cmos_read(RTC_SECONDS),
        min: cmos_read(RTC_MINUTES),
        hour: cmos_read(RTC_HOURS),
        mday: cmos_read(RTC_DAY_OF_MONTH),
        mon: cmos_read(RTC_MONTH),
        year: cmos_read(RTC_YEAR),
        ctrl: cmos_read(RTC_REG_B),
    }
}

/// The CMOS clock's time, seconds since the epoch: read outside an update, twice alike.
pub fn mach_get_cmos_time() -> Option<u64> {
    // An absent chip reads as all ones, update-in-progress included: give up at once.
    if cmos_read(RTC_REG_B) == 0xff {
        return None;
    }
    for _ in 0..1000 {
        if cmos_read(RTC_REG_A) & RTC_UIP != 0 {
            continue;
        }
        let t = cmos_time();
        if cmos_read(RTC_REG_A) & RTC_UIP == 0 && cmos_time() == t {
            return t.to_time64();
        }
    }
    None
}

/// The wall clock now, in ns since the epoch, if the machine has one.
pub fn read_persistent_clock64() -> Option<u64> {
    kvmclock::kvm_get_wallclock().or_else(|| mach_get_cmos_time().map(|s| s * 1_000_000_000))
}
