//! `sysinfo(2)` (Linux's `do_sysinfo` in kernel/sys.c): uptime, load averages, memory and the
//! number of tasks in one struct, which `free`, `uptime` and busybox read.

use crate::kernel::errno::*;
use crate::mm::usercopy::write_user;

/// `SI_LOAD_SHIFT`: sysinfo's load averages are fixed point with 16 fractional bits.
const SI_LOAD_SHIFT: u32 = 16;

/// `struct sysinfo` on x86_64: 112 bytes.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct Sysinfo {
    pub uptime: i64,
    pub loads: [u64; 3],
    pub totalram: u64,
    pub freeram: u64,
    pub sharedram: u64,
    pub bufferram: u64,
    pub totalswap: u64,
    pub freeswap: u64,
    pub procs: u16,
    /// Explicit padding, so no uninitialized byte reaches user space.
    pub pad: [u16; 3],
    pub totalhigh: u64,
    pub freehigh: u64,
    pub mem_unit: u32,
    pub _f: [u8; 4],
}

const _: () = assert!(core::mem::size_of::<Sysinfo>() == 112);
const _: () = assert!(core::mem::offset_of!(Sysinfo, procs) == 80);
const _: () = assert!(core::mem::offset_of!(Sysinfo, totalhigh) == 88);
const _: () = assert!(core::mem::offset_of!(Sysinfo, mem_unit) == 104);

/// `do_sysinfo`: memory in pages of `mem_unit` bytes (the page size; Linux uses 1 when the
/// byte counts fit, which they always do on 64-bit, so does that).
pub fn do_sysinfo() -> Sysinfo {
    use crate::sched::loadavg::{AVENRUN, FSHIFT};
    let ns = crate::arch::tsc::ns_since_boot();
    // Uptime rounds up a partial second, as Linux's does.
    let uptime = ns.div_ceil(1_000_000_000) as i64;
    let loads = AVENRUN.get(0).map(|l| l << (SI_LOAD_SHIFT - FSHIFT));
    let page = crate::mm::vma::PAGE_SIZE;
    let info = crate::mm::vmstat::MemInfo::snapshot(
        crate::mm::page_alloc::total_pages(),
        crate::mm::page_alloc::free_page_count(),
        0,
    );
    let procs = crate::kernel::tasklist::lock()
        .nr_threads()
        .min(u16::MAX as usize) as u16;
    Sysinfo {
        uptime,
        loads,
        totalram: info.total * page,
        freeram: info.free * page,
        sharedram: info.shmem * page,
        procs,
        mem_unit: 1,
        ..Sysinfo::default()
    }
}

pub fn sys_sysinfo(buf: u64) -> KResult<i64> {
    write_user(buf, &do_sysinfo())?;
    Ok(0)
}
