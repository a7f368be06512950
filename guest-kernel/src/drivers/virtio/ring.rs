//! Split-virtqueue bookkeeping that needs no device: queue sizing, ring index arithmetic and the
//! descriptor free list with validation of what the device hands back.
//!
//! Kept free of MMIO and `crate::` paths so that main.rs can also compile it for host unit tests.
//! Each in-flight buffer is one descriptor (the console never chains); a descriptor carries a
//! caller token (e.g. which buffer it points at) that comes back when the device uses it.

/// Largest queue we set up; the console needs far fewer entries.
pub const MAX_QUEUE: usize = 64;

const NONE: u16 = u16::MAX;

/// Queue size to use for a device maximum: the largest power of two <= min(max, MAX_QUEUE).
/// `None` when the queue is unavailable (`max == 0`).
pub fn queue_size(max: u32) -> Option<u16> {
    if max == 0 {
        return None;
    }
    let n = max.min(MAX_QUEUE as u32);
    Some(1u16 << (31 - n.leading_zeros()))
}

/// Ring slot of free-running index `idx` in a queue of `num` (a power of two dividing 65536,
/// so the slot sequence stays continuous across the u16 wrap).
pub fn slot(idx: u16, num: u16) -> usize {
    (idx & (num - 1)) as usize
}

/// Used elements published but not yet consumed; an error if the device claims more than the
/// queue could ever hold (garbage index).
pub fn used_pending(last_used: u16, used_idx: u16, num: u16) -> Result<u16, UsedError> {
    let n = used_idx.wrapping_sub(last_used);
    if n <= num {
        Ok(n)
    } else {
        Err(UsedError::BadIndex(used_idx))
    }
}

/// Why a used element from the device was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsedError {
    /// The id is not a descriptor of this queue.
    OutOfRange(u32),
    /// The descriptor was not posted (free already, or returned twice).
    NotInFlight(u32),
    /// The used index moved by more than the queue size (or backwards).
    BadIndex(u16),
}

/// Descriptor free list plus, per descriptor, whether it is with the device and its token.
pub struct DescState {
    num: u16,
    free_head: u16,
    num_free: u16,
    next: [u16; MAX_QUEUE],
    in_flight: [bool; MAX_QUEUE],
    token: [u16; MAX_QUEUE],
}

impl DescState {
    /// All `num` (<= MAX_QUEUE) descriptors free.
    pub fn new(num: u16) -> Self {
        let num = num.min(MAX_QUEUE as u16);
        let mut next = [NONE; MAX_QUEUE];
        for (i, n) in next.iter_mut().enumerate().take(num as usize) {
            *n = if i + 1 < num as usize {
                i as u16 + 1
            } else {
                NONE
            };
        }
        DescState {
            num,
            free_head: if num == 0 { NONE } else { 0 },
            num_free: num,
            next,
            in_flight: [false; MAX_QUEUE],
            token: [0; MAX_QUEUE],
        }
    }

    pub fn num_free(&self) -> u16 {
        self.num_free
    }

    /// Whether nothing is with the device.
    pub fn all_free(&self) -> bool {
        self.num_free == self.num
    }

    /// Take a free descriptor for a buffer identified by `token`.
    pub fn alloc(&mut self, token: u16) -> Option<u16> {
        if self.free_head == NONE {
            return None;
        }
        let id = self.free_head;
        self.free_head = self.next[id as usize];
        self.next[id as usize] = NONE;
        self.num_free -= 1;
        self.in_flight[id as usize] = true;
        self.token[id as usize] = token;
        Some(id)
    }

    /// The device used descriptor `id`: validate it, free it and return its token.
    pub fn complete(&mut self, id: u32) -> Result<u16, UsedError> {
        if id >= self.num as u32 {
            return Err(UsedError::OutOfRange(id));
        }
        let i = id as usize;
        if !self.in_flight[i] {
            return Err(UsedError::NotInFlight(id));
        }
        self.in_flight[i] = false;
        self.next[i] = self.free_head;
        self.free_head = id as u16;
        self.num_free += 1;
        Ok(self.token[i])
    }
}

/// Bytes of a used buffer to trust: the device's `len`, clamped to the buffer's size.
pub fn clamp_len(len: u32, buf_len: usize) -> usize {
    (len as usize).min(buf_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_size_is_power_of_two_and_capped() {
        assert_eq!(queue_size(0), None);
        assert_eq!(queue_size(1), Some(1));
        assert_eq!(queue_size(3), Some(2));
        assert_eq!(queue_size(64), Some(64));
        assert_eq!(queue_size(100), Some(64));
        assert_eq!(queue_size(1024), Some(64));
        assert_eq!(queue_size(u32::MAX), Some(64));
    }

    #[test]
    fn ring_indices_wrap_at_65536() {
        assert_eq!(slot(65535, 64), 63);
        assert_eq!(slot(0, 64), 0);
        assert_eq!(slot(65535u16.wrapping_add(1), 64), 0);
        assert_eq!(used_pending(65534, 2, 64), Ok(4));
        assert_eq!(used_pending(7, 7, 64), Ok(0));
        assert_eq!(used_pending(0, 64, 64), Ok(64));
        assert_eq!(used_pending(0, 65, 64), Err(UsedError::BadIndex(65)));
        assert_eq!(used_pending(10, 9, 64), Err(UsedError::BadIndex(9))); // went backwards
    }

    #[test]
    fn free_list_hands_out_every_descriptor_once() {
        let mut d = DescState::new(8);
        let mut ids: [u16; 8] = [0; 8];
        for (i, id) in ids.iter_mut().enumerate() {
            *id = d.alloc(i as u16 + 100).unwrap();
        }
        assert_eq!(d.alloc(0), None);
        assert_eq!(d.num_free(), 0);
        let mut sorted = ids;
        sorted.sort();
        assert_eq!(sorted, [0, 1, 2, 3, 4, 5, 6, 7]);
        for (i, &id) in ids.iter().enumerate().rev() {
            assert_eq!(d.complete(id as u32), Ok(i as u16 + 100));
        }
        assert!(d.all_free());
        // Reuse after completion.
        let id = d.alloc(5).unwrap();
        assert_eq!(d.complete(id as u32), Ok(5));
    }

    #[test]
    fn garbage_used_ids_are_rejected_without_corrupting_state() {
        let mut d = DescState::new(4);
        let a = d.alloc(1).unwrap();
        assert_eq!(d.complete(4), Err(UsedError::OutOfRange(4)));
        assert_eq!(d.complete(u32::MAX), Err(UsedError::OutOfRange(u32::MAX)));
        let other = (a + 1) % 4;
        assert_eq!(
            d.complete(other as u32),
            Err(UsedError::NotInFlight(other as u32))
        );
        assert_eq!(d.num_free(), 3);
        assert_eq!(d.complete(a as u32), Ok(1));
        assert_eq!(d.complete(a as u32), Err(UsedError::NotInFlight(a as u32)));
        assert_eq!(d.num_free(), 4);
        // The free list still yields four distinct descriptors.
        let mut seen = [false; 4];
        for _ in 0..4 {
            let id = d.alloc(0).unwrap() as usize;
            assert!(!seen[id]);
            seen[id] = true;
        }
        assert_eq!(d.alloc(0), None);
    }

    #[test]
    fn lengths_are_clamped_to_the_buffer() {
        assert_eq!(clamp_len(10, 256), 10);
        assert_eq!(clamp_len(256, 256), 256);
        assert_eq!(clamp_len(u32::MAX, 256), 256);
    }
}
