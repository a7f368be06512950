//! CPU masks as plain `u64` bitmaps, one bit per CPU (Linux's include/linux/cpumask.h), with
//! the text forms user space reads and writes: the list format of
//! `/sys/devices/system/cpu/online` (`0-1`, `0,2-3`; `cpumap_print_list_to_buf`) and the
//! booleans sysfs attributes accept (`kstrtobool`). Pure logic, host-tested.

use alloc::string::String;
use core::fmt::Write;

/// The CPUs in `mask`, lowest first (Linux's `for_each_cpu`): one step per CPU in the mask,
/// not per possible CPU, which matters on the wake-up path where kernel code is emulated.
pub fn for_each_cpu(mut mask: u64) -> impl Iterator<Item = usize> {
    core::iter::from_fn(move || {
        let cpu = mask.trailing_zeros() as usize;
        mask &= mask.wrapping_sub(1);
        (cpu < 64).then_some(cpu)
    })
}

/// The mask of CPUs `0..n` (`nr_cpu_ids` CPUs numbered from 0).
pub const fn cpus_below(n: usize) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

/// `mask` as a CPU list: ranges of consecutive CPUs joined by commas, empty for no CPU
/// (`bitmap_print_to_pagebuf(true, ...)` without its newline).
pub fn cpumap_print_list(mask: u64) -> String {
    let mut out = String::new();
    let mut cpus = for_each_cpu(mask).peekable();
    while let Some(first) = cpus.next() {
        let mut last = first;
        while cpus.peek() == Some(&(last + 1)) {
            last += 1;
            cpus.next();
        }
        if !out.is_empty() {
            out.push(',');
        }
        let _ = match last - first {
            0 => write!(out, "{first}"),
            _ => write!(out, "{first}-{last}"),
        };
    }
    out
}

/// A boolean as sysfs attributes take it (`kstrtobool`): `y`/`Y`/`t`/`T`/`1` or `on` for
/// true, `n`/`N`/`f`/`F`/`0` or `off` for false, judged by the first one or two characters;
/// anything else is invalid (the caller's EINVAL).
pub fn kstrtobool(s: &[u8]) -> Option<bool> {
    match s.first()? {
        b'y' | b'Y' | b't' | b'T' | b'1' => Some(true),
        b'n' | b'N' | b'f' | b'F' | b'0' => Some(false),
        b'o' | b'O' => match s.get(1)? {
            b'n' | b'N' => Some(true),
            b'f' | b'F' => Some(false),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_ranges_and_singles_like_linux() {
        assert_eq!(cpumap_print_list(0), "");
        assert_eq!(cpumap_print_list(0b1), "0");
        assert_eq!(cpumap_print_list(0b11), "0-1");
        assert_eq!(cpumap_print_list(0b1101), "0,2-3");
        assert_eq!(cpumap_print_list(0b1010_0101), "0,2,5,7");
        assert_eq!(cpumap_print_list(u64::MAX), "0-63");
        assert_eq!(cpumap_print_list(1 << 63 | 1), "0,63");
    }

    #[test]
    fn iterates_set_bits_in_order() {
        let v: alloc::vec::Vec<usize> = for_each_cpu(0b1001_0110).collect();
        assert_eq!(v, [1, 2, 4, 7]);
        assert_eq!(for_each_cpu(0).count(), 0);
        assert_eq!(for_each_cpu(u64::MAX).last(), Some(63));
        assert_eq!(cpus_below(2), 0b11);
        assert_eq!(cpus_below(0), 0);
        assert_eq!(cpus_below(64), u64::MAX);
    }

    #[test]
    fn booleans_as_kstrtobool_reads_them() {
        for yes in ["1", "1\n", "y", "Yes", "on", "ON\n", "true"] {
            assert_eq!(kstrtobool(yes.as_bytes()), Some(true), "{yes}");
        }
        for no in ["0", "0\n", "n", "No", "off", "oFF", "false"] {
            assert_eq!(kstrtobool(no.as_bytes()), Some(false), "{no}");
        }
        for bad in ["", "2", "2\n", "o", "ox", " 1", "-1", "\n"] {
            assert_eq!(kstrtobool(bad.as_bytes()), None, "{bad:?}");
        }
    }
}
