//! A small, fast pseudo-random generator (xorshift64*): the scenarios pick
//! articles and channels at random without a dependency. Every generator
//! draws a different stream, in this run and across runs, so that share
//! client ids never repeat (a repeat would not count).

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::SystemTime,
};

/// A generator seeded per worker.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator of its own stream, `seed` telling workers apart.
    pub fn new(seed: u64) -> Self {
        static MADE: AtomicU64 = AtomicU64::new(0);
        let run = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos() as u64);
        let made = MADE.fetch_add(1, Ordering::Relaxed);
        let mixed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ run.rotate_left(17)
            ^ made.wrapping_mul(0xD1B5_4A32_D192_ED03);
        Self(mixed | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound.max(1) as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_stay_below_the_bound_and_cover_it() {
        let mut rng = Rng::new(7);
        let mut seen = [false; 10];
        for _ in 0..1_000 {
            let n = rng.below(10);
            seen[n] = true;
        }
        assert!(seen.iter().all(|&hit| hit));
    }
}
