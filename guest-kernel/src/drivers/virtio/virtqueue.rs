//! A split virtqueue (virtio 1.x §2.7) in two physically contiguous pages.
//!
//! Layout, valid for both modern and legacy (QueueAlign 4096) devices with num <= 64:
//!   page 0: descriptor table at 0 (16 * num <= 1024 bytes), available ring at 1024;
//!   page 1: used ring at 4096.
//! Only the ring headers are zeroed: descriptors and ring entries are always written before
//! the index that publishes them. Bookkeeping (free list, validation) is in `ring`.

use core::sync::atomic::{fence, Ordering};

use crate::arch::phys_to_virt;
use crate::mm::page_alloc;

use super::ring::{self, DescState, UsedError};

const AVAIL_OFFSET: u64 = 1024;
const USED_OFFSET: u64 = 4096;
const ORDER: usize = 1;

const DESC_F_WRITE: u16 = 2;

pub struct Virtqueue {
    index: u32,
    num: u16,
    phys: u64,
    virt: u64,
    desc: DescState,
    avail_idx: u16,
    last_used: u16,
    /// The device published a garbage used index; stop trusting this queue.
    broken: bool,
}

impl Virtqueue {
    pub fn new(index: u32, num: u16) -> Result<Virtqueue, &'static str> {
        if num == 0 || num as usize > ring::MAX_QUEUE || !num.is_power_of_two() {
            return Err("bad queue size");
        }
        let phys = page_alloc::alloc_pages(crate::mm::gfp::GFP_KERNEL, ORDER)
            .ok_or("out of memory for a virtqueue")?;
        let virt = phys_to_virt(phys);
        // SAFETY: the two pages were just allocated and are mapped by the direct map; the
        // avail and used headers (flags, idx) lie inside them.
        unsafe {
            ((virt + AVAIL_OFFSET) as *mut u32).write_volatile(0);
            ((virt + USED_OFFSET) as *mut u32).write_volatile(0);
        }
        Ok(Virtqueue {
            index,
            num,
            phys,
            virt,
            desc: DescState::new(num),
            avail_idx: 0,
            last_used: 0,
            broken: false,
        })
    }

    pub fn index(&self) -> u32 {
        self.index
    }
    pub fn num(&self) -> u16 {
        self.num
    }
    pub fn desc_phys(&self) -> u64 {
        self.phys
    }
    pub fn avail_phys(&self) -> u64 {
        self.phys + AVAIL_OFFSET
    }
    pub fn used_phys(&self) -> u64 {
        self.phys + USED_OFFSET
    }
    pub fn num_free(&self) -> u16 {
        self.desc.num_free()
    }
    /// Whether the device holds no buffer of ours.
    pub fn idle(&self) -> bool {
        self.desc.all_free()
    }

    /// Post one buffer (device-readable, or device-writable if `writable`) tagged with `token`.
    /// The device may see it at once; tell it with [`Virtqueue::before_notify`] + a notify.
    pub fn add_buf(&mut self, phys: u64, len: u32, writable: bool, token: u16) -> Option<u16> {
        if self.broken {
            return None;
        }
        let id = self.desc.alloc(token)?;
        let flags = if writable { DESC_F_WRITE } else { 0 };
        let desc = self.virt + 16 * id as u64;
        let entry = self.virt + AVAIL_OFFSET + 4 + 2 * ring::slot(self.avail_idx, self.num) as u64;
        // SAFETY: `id < num` and `slot < num`, so the descriptor (16 bytes at 16 * id) and the
        // avail entry lie in this queue's pages, which only we and the device use.
        unsafe {
            (desc as *mut u64).write_volatile(phys);
            ((desc + 8) as *mut u32).write_volatile(len);
            ((desc + 12) as *mut u16).write_volatile(flags);
            ((desc + 14) as *mut u16).write_volatile(0);
            (entry as *mut u16).write_volatile(id);
        }
        // The descriptor and ring entry must be visible before the index that publishes them.
        fence(Ordering::Release);
        self.avail_idx = self.avail_idx.wrapping_add(1);
        // SAFETY: avail.idx lies in this queue's first page.
        unsafe { ((self.virt + AVAIL_OFFSET + 2) as *mut u16).write_volatile(self.avail_idx) };
        Some(id)
    }

    /// Order the published avail index before the device notification that follows.
    pub fn before_notify(&self) {
        fence(Ordering::SeqCst);
    }

    /// Take the next used buffer: `Ok((token, len))`, or an error for garbage from the device
    /// (the element is skipped). `None` when nothing is pending.
    pub fn pop_used(&mut self) -> Option<Result<(u16, u32), UsedError>> {
        if self.broken {
            return None;
        }
        // SAFETY: used.idx lies in this queue's second page; the device writes it.
        let used_idx = unsafe { ((self.virt + USED_OFFSET + 2) as *const u16).read_volatile() };
        match ring::used_pending(self.last_used, used_idx, self.num) {
            Ok(0) => return None,
            Ok(_) => {}
            Err(e) => {
                self.broken = true;
                return Some(Err(e));
            }
        }
        // Read the element only after seeing the index that published it.
        fence(Ordering::Acquire);
        let elem = self.virt + USED_OFFSET + 4 + 8 * ring::slot(self.last_used, self.num) as u64;
        // SAFETY: `slot < num`, so the 8-byte element lies in the used ring.
        let (id, len) = unsafe {
            (
                (elem as *const u32).read_volatile(),
                ((elem + 4) as *const u32).read_volatile(),
            )
        };
        self.last_used = self.last_used.wrapping_add(1);
        Some(self.desc.complete(id).map(|token| (token, len)))
    }
}

/// Only queues never handed to a device are dropped (setup failures); the console's lives
/// forever in a static.
impl Drop for Virtqueue {
    fn drop(&mut self) {
        page_alloc::free_pages(self.phys, ORDER);
    }
}
