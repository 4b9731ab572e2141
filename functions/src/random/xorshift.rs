//! Spark's random number generator, bit for bit: `XORShiftRandom` (a
//! `java.util.Random` whose `next(bits)` is Marsaglia's xorshift with the
//! shifts 21, 35, 4), seeded through Scala's `MurmurHash3.bytesHash` as
//! Spark seeds it, so a seeded `rand(42)` gives Spark's numbers.

use crate::murmur3::{finalize, mix, mix_last};

/// Scala's `MurmurHash3.arraySeed`, the seed of `bytesHash(bytes)`.
const ARRAY_SEED: i32 = 0x3c07_4a61;

/// Scala's `MurmurHash3.bytesHash(data, seed)`: little-endian 4-byte
/// blocks, the tail mixed once.
fn bytes_hash(data: &[u8], seed: i32) -> i32 {
    let mut h = seed;
    let mut blocks = data.chunks_exact(4);
    for b in &mut blocks {
        h = mix(h, i32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let mut k = 0i32;
        for (i, byte) in tail.iter().enumerate() {
            k ^= i32::from(*byte) << (8 * i);
        }
        h = mix_last(h, k);
    }
    finalize(h, data.len() as i32)
}

/// Spark's `XORShiftRandom.hashSeed`: the seed's 8 big-endian bytes hashed
/// twice, the two hashes the high and low halves.
fn hash_seed(seed: i64) -> i64 {
    let bytes = seed.to_be_bytes();
    let low = bytes_hash(&bytes, ARRAY_SEED);
    let high = bytes_hash(&bytes, low);
    (i64::from(high) << 32) | (i64::from(low) & 0xFFFF_FFFF)
}

/// Spark's `XORShiftRandom` with `java.util.Random`'s derived draws.
#[derive(Debug, Clone)]
pub struct XorShiftRandom {
    seed: i64,
    /// `nextGaussian` draws two values and keeps the second for the next call.
    next_gaussian: Option<f64>,
}

impl XorShiftRandom {
    /// The generator Spark builds with `new XORShiftRandom(init)`.
    pub fn new(init: i64) -> Self {
        XorShiftRandom {
            seed: hash_seed(init),
            next_gaussian: None,
        }
    }

    /// `next(bits)`: the low `bits` bits of the next state.
    fn next(&mut self, bits: u32) -> i32 {
        let mut s = self.seed;
        s ^= s << 21;
        s ^= ((s as u64) >> 35) as i64;
        s ^= s << 4;
        self.seed = s;
        (s & ((1i64 << bits) - 1)) as i32
    }

    /// `nextInt()`.
    pub fn next_int(&mut self) -> i32 {
        self.next(32)
    }

    /// `java.util.Random.nextInt(bound)`: uniform in `0..bound`
    /// (`bound` > 0), as Spark's `shuffle` draws.
    pub fn next_int_below(&mut self, bound: i32) -> i32 {
        let mut r = self.next(31);
        let m = bound - 1;
        if bound & m == 0 {
            return ((i64::from(bound) * i64::from(r)) >> 31) as i32;
        }
        let mut u = r;
        loop {
            r = u % bound;
            if u.wrapping_sub(r).wrapping_add(m) >= 0 {
                return r;
            }
            u = self.next(31);
        }
    }

    /// `nextDouble()`: uniform in [0, 1) from 53 random bits.
    pub fn next_double(&mut self) -> f64 {
        let high = i64::from(self.next(26)) << 27;
        let low = i64::from(self.next(27));
        (high + low) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `nextGaussian()`: Marsaglia's polar method as `java.util.Random` runs
    /// it, with `StrictMath`'s logarithm (fdlibm, as `libm`).
    pub fn next_gaussian(&mut self) -> f64 {
        if let Some(g) = self.next_gaussian.take() {
            return g;
        }
        loop {
            let v1 = 2.0 * self.next_double() - 1.0;
            let v2 = 2.0 * self.next_double() - 1.0;
            let s = v1 * v1 + v2 * v2;
            if s < 1.0 && s != 0.0 {
                let multiplier = (-2.0 * libm::log(s) / s).sqrt();
                self.next_gaussian = Some(v2 * multiplier);
                return v1 * multiplier;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples of Spark's own documentation of `rand` and `randn`
    /// (`SELECT rand(0)`, `SELECT randn(0)`: one partition, index 0).
    #[test]
    fn sparks_documented_first_draws() {
        assert_eq!(XorShiftRandom::new(0).next_double(), 0.7604953758285915);
        assert_eq!(XorShiftRandom::new(0).next_gaussian(), 1.6034991609278433);
    }
}
