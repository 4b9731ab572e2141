//! Spark's random number generators, bit for bit, so a seeded sample keeps
//! the rows Spark keeps: `XORShiftRandom` (Spark's `rand(seed)` and
//! Bernoulli sampling), `java.util.Random` (the per-partition seeds of
//! sampling with replacement) and commons-math's `Well19937c` with its
//! Poisson sampler (sampling with replacement).

/// Spark's `org.apache.spark.util.random.XORShiftRandom`: the one the
/// `rand(seed)` function uses.
pub use kiln_functions::XorShiftRandom;

/// `java.util.Random` (a 48-bit linear congruential generator).
#[derive(Debug, Clone)]
pub struct JavaRandom {
    seed: u64,
}

const JAVA_MULTIPLIER: u64 = 0x5_DEEC_E66D;
const JAVA_MASK: u64 = (1 << 48) - 1;

impl JavaRandom {
    /// `new java.util.Random(seed)`.
    pub fn new(seed: i64) -> Self {
        JavaRandom {
            seed: (seed as u64 ^ JAVA_MULTIPLIER) & JAVA_MASK,
        }
    }

    fn next(&mut self, bits: u32) -> i32 {
        self.seed = (self.seed.wrapping_mul(JAVA_MULTIPLIER).wrapping_add(0xB)) & JAVA_MASK;
        (self.seed >> (48 - bits)) as i64 as i32
    }

    /// `nextLong()`.
    pub fn next_long(&mut self) -> i64 {
        let high = i64::from(self.next(32)) << 32;
        high.wrapping_add(i64::from(self.next(32)))
    }
}

const WELL_R: usize = 624;
const WELL_M1: usize = 70;
const WELL_M2: usize = 179;
const WELL_M3: usize = 449;

/// commons-math3's `Well19937c`.
#[derive(Debug, Clone)]
pub struct Well19937c {
    v: Vec<u32>,
    index: usize,
}

impl Well19937c {
    /// Seeded with `setSeed(long)`.
    pub fn new(seed: i64) -> Self {
        let seed = seed as u64;
        let init = [(seed >> 32) as u32, seed as u32];
        let mut v = vec![0u32; WELL_R];
        v[..2].copy_from_slice(&init);
        for i in init.len()..WELL_R {
            // Java: `long l = v[i - len]` sign-extends, `>>` is arithmetic.
            let l = i64::from(v[i - init.len()] as i32);
            v[i] = (1_812_433_253i64
                .wrapping_mul(l ^ (l >> 30))
                .wrapping_add(i as i64)
                & 0xffff_ffff) as u32;
        }
        Well19937c { v, index: 0 }
    }

    fn next(&mut self, bits: u32) -> u32 {
        let r = WELL_R;
        let i = self.index;
        let rm1 = (i + r - 1) % r;
        let rm2 = (i + r - 2) % r;
        let v = &mut self.v;
        let v0 = v[i];
        let vm1 = v[(i + WELL_M1) % r];
        let vm2 = v[(i + WELL_M2) % r];
        let vm3 = v[(i + WELL_M3) % r];
        let z0 = (0x8000_0000 & v[rm1]) ^ (0x7FFF_FFFF & v[rm2]);
        let z1 = (v0 ^ (v0 << 25)) ^ (vm1 ^ (vm1 >> 27));
        let z2 = (vm2 >> 9) ^ (vm3 ^ (vm3 >> 1));
        let z3 = z1 ^ z2;
        let mut z4 = z0 ^ (z1 ^ (z1 << 9)) ^ (z2 ^ (z2 << 21)) ^ (z3 ^ (z3 >> 21));
        v[i] = z3;
        v[rm1] = z4;
        v[rm2] &= 0x8000_0000;
        self.index = rm1;
        // Matsumoto-Kurita tempering.
        z4 ^= (z4 << 7) & 0xe46e_1700;
        z4 ^= (z4 << 15) & 0x9b86_8000;
        z4 >> (32 - bits)
    }

    /// `BitsStreamGenerator.nextDouble()`.
    pub fn next_double(&mut self) -> f64 {
        let high = u64::from(self.next(26)) << 26;
        let low = u64::from(self.next(26));
        (high | low) as f64 * (1.0 / (1u64 << 52) as f64)
    }
}

/// Spark's `PoissonSampler` (without gap sampling, as its Sample operator
/// runs it): commons-math's `PoissonDistribution(mean).sample()` over a
/// `Well19937c`, for means below 40 (the product of uniforms).
#[derive(Debug, Clone)]
pub struct PoissonSampler {
    rng: Well19937c,
    mean: f64,
    limit: f64,
}

impl PoissonSampler {
    /// A sampler of `mean` (Spark's fraction) seeded with `seed`.
    pub fn new(mean: f64, seed: i64) -> Self {
        PoissonSampler {
            rng: Well19937c::new(seed),
            mean,
            limit: (-mean).exp(),
        }
    }

    /// The number of times the next row is kept.
    pub fn sample(&mut self) -> u64 {
        if self.mean <= 0.0 {
            return 0;
        }
        let mut n = 0u64;
        let mut r = 1.0f64;
        while (n as f64) < 1000.0 * self.mean {
            r *= self.rng.next_double();
            if r >= self.limit {
                n += 1;
            } else {
                return n;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values: Spark 4.2.1 `local[1]`, `spark.range(100)`, recorded by
    // running these samples on the oracle (classic PySpark) and checked against
    // the Python port of the same generators.
    #[test]
    fn bernoulli_keeps_the_rows_spark_keeps() {
        let mut r = XorShiftRandom::new(123);
        let kept: Vec<i64> = (0..100).filter(|_| r.next_double() < 0.1).collect();
        assert_eq!(kept, vec![36, 37, 41, 43, 56, 66, 69, 75, 83]);
    }

    #[test]
    fn poisson_repeats_the_rows_spark_repeats() {
        let seed = JavaRandom::new(123).next_long();
        let mut s = PoissonSampler::new(0.3, seed);
        let mut kept = vec![];
        for i in 0..100 {
            for _ in 0..s.sample() {
                kept.push(i);
            }
        }
        assert_eq!(
            kept,
            vec![
                0, 5, 9, 11, 14, 14, 16, 17, 21, 29, 33, 41, 42, 52, 52, 54, 58, 65, 65, 71, 76,
                79, 85, 96
            ]
        );
    }
}
