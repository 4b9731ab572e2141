//! Spark's `count_min_sketch(col, eps, confidence, seed)` aggregate: Spark's
//! own `CountMinSketchImpl` (not DataSketches), `ceil(2 / eps)` counters in
//! each of `ceil(-ln(1 - confidence) / ln 2)` rows, with the rows' hash
//! multipliers drawn from `java.util.Random(seed)`. Integers hash by
//! Spark's multiply-shift modulo 2^31 - 1, strings and bytes by Spark's
//! Murmur3 (`hashUnsafeBytes`) twice; the result is Spark's serialised
//! sketch (big-endian: version 1, total count, depth, width, the
//! multipliers, the counters), so the bytes are Spark's own.

use arrow::array::{ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};

use super::shared::SketchBuffer;
use crate::histogram::JavaRandom;

const PRIME_MODULUS: i64 = (1 << 31) - 1;

/// The type `count_min_sketch` reads a column of type `t` as.
pub(super) fn input_type(name: &str, t: &DataType) -> Result<DataType> {
    use DataType::*;
    Ok(match t {
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | Null => Int64,
        Utf8 | LargeUtf8 | Utf8View => Utf8,
        Binary | LargeBinary | BinaryView => Binary,
        t => return plan_err!("{name}: values must be integers, STRING or BINARY, got {t}"),
    })
}

/// A count-min sketch under construction.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct CountMin {
    total: i64,
    depth: usize,
    width: usize,
    hash_a: Vec<i64>,
    /// `depth` rows of `width` counters.
    table: Vec<i64>,
}

impl CountMin {
    /// Spark's `CountMinSketch.create(eps, confidence, seed)`.
    pub(super) fn new(name: &str, consts: &[ScalarValue]) -> Result<Self> {
        let double =
            |i: usize, what: &str| match consts.get(i).map(|v| v.cast_to(&DataType::Float64)) {
                Some(Ok(ScalarValue::Float64(Some(v)))) => Ok(v),
                _ => plan_err!("{name}: {what} must be a DOUBLE constant, not NULL"),
            };
        let eps = double(0, "eps")?;
        let confidence = double(1, "confidence")?;
        let seed = match consts.get(2).map(|v| v.cast_to(&DataType::Int64)) {
            // Spark reads the seed as an INT: a BIGINT keeps its low 32 bits.
            Some(Ok(ScalarValue::Int64(Some(v)))) => v as i32,
            _ => return plan_err!("{name}: seed must be an INT constant, not NULL"),
        };
        if eps <= 0.0 || eps.is_nan() {
            return plan_err!("{name}: eps must be greater than 0, got {eps}");
        }
        if !(confidence > 0.0 && confidence < 1.0) {
            return plan_err!(
                "{name}: confidence must be between 0 and 1 (exclusive), got {confidence}"
            );
        }
        let width = (2.0 / eps).ceil() as usize;
        let depth = (-(1.0 - confidence).ln() / 2f64.ln()).ceil() as usize;
        let mut random = JavaRandom::new(i64::from(seed));
        let hash_a = (0..depth)
            .map(|_| i64::from(random.next_int(i32::MAX)))
            .collect();
        Ok(CountMin {
            total: 0,
            depth,
            width,
            hash_a,
            table: vec![0; depth * width],
        })
    }

    fn add_long(&mut self, item: i64) {
        for row in 0..self.depth {
            let mut hash = self.hash_a[row].wrapping_mul(item);
            hash = hash.wrapping_add(hash >> 32);
            hash &= PRIME_MODULUS;
            let bucket = (hash as i32) % self.width as i32;
            self.table[row * self.width + bucket as usize] += 1;
        }
        self.total += 1;
    }

    fn add_bytes(&mut self, item: &[u8]) {
        let h1 = murmur3_unsafe_bytes(item, 0);
        let h2 = murmur3_unsafe_bytes(item, h1);
        for row in 0..self.depth {
            let combined = h1.wrapping_add((row as i32).wrapping_mul(h2));
            let bucket = (combined % self.width as i32).unsigned_abs() as usize;
            self.table[row * self.width + bucket] += 1;
        }
        self.total += 1;
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(20 + 8 * (self.depth + self.table.len()));
        out.extend(1i32.to_be_bytes());
        out.extend(self.total.to_be_bytes());
        out.extend((self.depth as i32).to_be_bytes());
        out.extend((self.width as i32).to_be_bytes());
        for a in &self.hash_a {
            out.extend(a.to_be_bytes());
        }
        for c in &self.table {
            out.extend(c.to_be_bytes());
        }
        out
    }

    fn from_bytes(bytes: &[u8]) -> Option<CountMin> {
        let int = |at: usize| {
            bytes
                .get(at..at + 4)
                .map(|b| i32::from_be_bytes(b.try_into().unwrap_or([0; 4])))
        };
        let long = |at: usize| {
            bytes
                .get(at..at + 8)
                .map(|b| i64::from_be_bytes(b.try_into().unwrap_or([0; 8])))
        };
        if int(0)? != 1 {
            return None;
        }
        let total = long(4)?;
        let depth = usize::try_from(int(12)?).ok()?;
        let width = usize::try_from(int(16)?).ok()?;
        let mut at = 20;
        let mut next = || {
            let v = long(at);
            at += 8;
            v
        };
        let hash_a = (0..depth).map(|_| next()).collect::<Option<Vec<_>>>()?;
        let table = (0..depth * width)
            .map(|_| next())
            .collect::<Option<Vec<_>>>()?;
        Some(CountMin {
            total,
            depth,
            width,
            hash_a,
            table,
        })
    }
}

impl SketchBuffer for CountMin {
    fn update(&mut self, columns: &[ArrayRef]) -> Result<()> {
        let Some(column) = columns.first() else {
            return Ok(());
        };
        match column.data_type() {
            DataType::Utf8 => {
                for s in column.as_string::<i32>().iter().flatten() {
                    self.add_bytes(s.as_bytes());
                }
            }
            DataType::Binary => {
                for b in column.as_binary::<i32>().iter().flatten() {
                    self.add_bytes(b);
                }
            }
            _ => {
                let c = cast(column, &DataType::Int64)?;
                for v in c.as_primitive::<Int64Type>().iter().flatten() {
                    self.add_long(v);
                }
            }
        }
        Ok(())
    }

    fn add_sketch(&mut self, state: &[u8]) -> Result<()> {
        let Some(other) = CountMin::from_bytes(state) else {
            return exec_err!("count_min_sketch: a partial sketch is corrupt");
        };
        if (other.depth, other.width, &other.hash_a) != (self.depth, self.width, &self.hash_a) {
            return exec_err!(
                "count_min_sketch: cannot merge sketches of different shapes or seeds"
            );
        }
        for (c, o) in self.table.iter_mut().zip(&other.table) {
            *c += o;
        }
        self.total += other.total;
        Ok(())
    }

    fn state(&self) -> Result<Vec<u8>> {
        Ok(self.to_bytes())
    }
}

/// Spark's `Murmur3_x86_32.hashUnsafeBytes`: Murmur3 over the 4-byte
/// words, then each trailing byte mixed in as a word of its own (Spark's
/// historical variant), then the final mix with the length.
fn murmur3_unsafe_bytes(data: &[u8], seed: i32) -> i32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mix_k1 = |k: u32| k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    let mix_h1 = |h: u32, k: u32| {
        (h ^ k)
            .rotate_left(13)
            .wrapping_mul(5)
            .wrapping_add(0xe654_6b64)
    };
    let aligned = data.len() - data.len() % 4;
    let mut h1 = seed as u32;
    for word in data[..aligned].chunks_exact(4) {
        let k = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        h1 = mix_h1(h1, mix_k1(k));
    }
    for &b in &data[aligned..] {
        // The byte is read signed, as Java's `getByte`.
        h1 = mix_h1(h1, mix_k1(i32::from(b as i8) as u32));
    }
    h1 ^= data.len() as u32;
    h1 ^= h1 >> 16;
    h1 = h1.wrapping_mul(0x85eb_ca6b);
    h1 ^= h1 >> 13;
    h1 = h1.wrapping_mul(0xc2b2_ae35);
    h1 ^= h1 >> 16;
    h1 as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sketch(eps: f64, confidence: f64, seed: i64) -> CountMin {
        let consts = [
            ScalarValue::Float64(Some(eps)),
            ScalarValue::Float64(Some(confidence)),
            ScalarValue::Int64(Some(seed)),
        ];
        CountMin::new("count_min_sketch", &consts).expect("sketch")
    }

    #[test]
    fn bytes_round_trip_and_merges_add_counters() {
        let mut a = sketch(0.5, 0.5, 1);
        let mut b = sketch(0.5, 0.5, 1);
        for v in [1, 2, 1] {
            a.add_long(v);
        }
        b.add_bytes(b"x");
        let back = CountMin::from_bytes(&a.to_bytes()).expect("round trip");
        assert_eq!(back, a);
        a.add_sketch(&b.to_bytes()).expect("merge");
        assert_eq!(a.total, 4);
        assert_eq!(a.table.iter().sum::<i64>(), 4 * a.depth as i64);
    }

    #[test]
    fn sketches_of_other_seeds_do_not_merge() {
        let mut a = sketch(0.5, 0.5, 1);
        let b = sketch(0.5, 0.5, 2);
        assert!(a.add_sketch(&b.to_bytes()).is_err());
        assert!(a.add_sketch(b"junk").is_err());
    }

    #[test]
    fn bad_parameters_are_errors() {
        let consts = [
            ScalarValue::Float64(Some(0.0)),
            ScalarValue::Float64(Some(0.5)),
            ScalarValue::Int64(Some(1)),
        ];
        assert!(CountMin::new("count_min_sketch", &consts).is_err());
        let consts = [
            ScalarValue::Float64(Some(0.1)),
            ScalarValue::Float64(Some(1.0)),
            ScalarValue::Int64(Some(1)),
        ];
        assert!(CountMin::new("count_min_sketch", &consts).is_err());
    }
}
