//! Kernel random numbers for AT_RANDOM and `getrandom`.
//!
//! `rdrand` is off limits (it ends the VM under kvm-pvm), so the pool is seeded from TSC
//! readings taken at different events and stirred with SplitMix64. That is unpredictable enough
//! for hash seeds and stack canaries in a test guest, but it is not a cryptographic RNG.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::cpu::rdtsc;
use crate::kernel::errno::*;
use crate::mm::usercopy::copy_to_user;

static STATE: AtomicU64 = AtomicU64::new(0x243f_6a88_85a3_08d3);

fn splitmix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub fn next_u64() -> u64 {
    let s = STATE.fetch_add(
        0x9e37_79b9_7f4a_7c15 ^ (rdtsc() & 0xffff),
        Ordering::Relaxed,
    );
    splitmix(s ^ rdtsc().rotate_left(32))
}

pub fn fill(buf: &mut [u8]) {
    for chunk in buf.chunks_mut(8) {
        let v = next_u64().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

pub fn sys_getrandom(buf: u64, len: u64, flags: u64) -> KResult<i64> {
    if flags & !7 != 0 {
        return Err(EINVAL);
    }
    let len = len.min(1 << 20) as usize;
    let mut chunk = [0u8; 256];
    let mut done = 0;
    while done < len {
        let n = chunk.len().min(len - done);
        fill(&mut chunk[..n]);
        copy_to_user(buf + done as u64, &chunk[..n])?;
        done += n;
    }
    Ok(len as i64)
}
