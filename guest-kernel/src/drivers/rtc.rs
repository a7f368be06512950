//! The MC146818 real-time clock's registers as the time they say (Linux's
//! drivers/rtc/rtc-mc146818-lib.c `mc146818_get_time`, and `mktime64`). Reading the chip is
//! the architecture's (`arch::rtc`); this is the decoding, tested on the host.

/// Register B: binary (not BCD) values.
pub const RTC_DM_BINARY: u8 = 0x04;
/// Register B: 24-hour (not 12-hour) mode.
pub const RTC_24H: u8 = 0x02;
/// Register A: an update is in progress; the time registers are not to be read.
pub const RTC_UIP: u8 = 0x80;

/// The time registers as read: seconds, minutes, hours, day of month, month, year (of the
/// century), and register B, which says how they are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CmosTime {
    pub sec: u8,
    pub min: u8,
    pub hour: u8,
    pub mday: u8,
    pub mon: u8,
    pub year: u8,
    pub ctrl: u8,
}

fn bcd2bin(v: u8) -> u8 {
    (v & 0x0f) + (v >> 4) * 10
}

impl CmosTime {
    /// Seconds since the epoch, or None if the registers hold no valid time (no chip there
    /// reads as all ones). Years below 70 are 20xx, as Linux reads them without a century
    /// register.
    pub fn to_time64(self) -> Option<u64> {
        let bin = |v: u8| {
            if self.ctrl & RTC_DM_BINARY != 0 {
                v
            } else {
                bcd2bin(v)
            }
        };
        let mut hour = bin(self.hour & 0x7f);
        if self.ctrl & RTC_24H == 0 {
            // 12-hour mode: 12 is 0, and bit 7 marks the afternoon.
            hour %= 12;
            if self.hour & 0x80 != 0 {
                hour += 12;
            }
        }
        let (sec, min, mday, mon, year) = (
            bin(self.sec),
            bin(self.min),
            bin(self.mday),
            bin(self.mon),
            bin(self.year),
        );
        if sec > 59
            || min > 59
            || hour > 23
            || !(1..=31).contains(&mday)
            || !(1..=12).contains(&mon)
        {
            return None;
        }
        if year > 99 {
            return None;
        }
        let year = year as u64 + if year < 70 { 2000 } else { 1900 };
        Some(mktime64(
            year,
            mon.into(),
            mday.into(),
            hour.into(),
            min.into(),
            sec.into(),
        ))
    }
}

/// Seconds since the epoch of a UTC date (Linux's `mktime64`, Gauss's algorithm counting
/// from March so that the leap day ends the year).
pub fn mktime64(year: u64, mon: u64, day: u64, hour: u64, min: u64, sec: u64) -> u64 {
    let (year, mon) = if mon <= 2 {
        (year - 1, mon + 10)
    } else {
        (year, mon - 2)
    };
    let days = year / 4 - year / 100 + year / 400 + 367 * mon / 12 + day + year * 365 - 719_499;
    ((days * 24 + hour) * 60 + min) * 60 + sec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mktime64_counts_leap_years_as_linux_does() {
        assert_eq!(mktime64(1970, 1, 1, 0, 0, 0), 0);
        assert_eq!(mktime64(1999, 12, 31, 23, 59, 59), 946_684_799);
        assert_eq!(mktime64(2000, 3, 1, 0, 0, 0), 951_868_800);
        assert_eq!(mktime64(2024, 2, 29, 23, 59, 59), 1_709_251_199);
    }

    #[test]
    fn bcd_24_hour_registers_as_qemu_shows_them() {
        // 2026-11-24 08:28:10, read from QEMU's RTC.
        let t = CmosTime {
            sec: 0x10,
            min: 0x28,
            hour: 0x08,
            mday: 0x24,
            mon: 0x11,
            year: 0x26,
            ctrl: RTC_24H,
        };
        assert_eq!(t.to_time64(), Some(1_795_508_890));
    }

    #[test]
    fn binary_and_12_hour_modes() {
        let t = CmosTime {
            sec: 59,
            min: 59,
            hour: 0x80 | 11, // 11 p.m.
            mday: 31,
            mon: 12,
            year: 99,
            ctrl: RTC_DM_BINARY,
        };
        assert_eq!(t.to_time64(), Some(946_684_799));
        let midnight = CmosTime { hour: 12, ..t };
        assert_eq!(midnight.to_time64(), Some(946_684_799 - 23 * 3600));
    }

    #[test]
    fn no_chip_reads_as_no_time() {
        let t = CmosTime {
            sec: 0xff,
            min: 0xff,
            hour: 0xff,
            mday: 0xff,
            mon: 0xff,
            year: 0xff,
            ctrl: 0xff,
        };
        assert_eq!(t.to_time64(), None);
    }
}
