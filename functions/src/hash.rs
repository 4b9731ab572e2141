//! Spark's `hash(cols...)`: Murmur3 x86_32 with seed 42, bit for bit as
//! Spark's `Murmur3Hash` hashes each type (an INT as 4 bytes, a BIGINT as
//! 8, strings with Spark's byte-at-a-time tail), each column seeding the
//! next, NULLs leaving the running hash as it is.

use std::sync::Arc;

use arrow::array::{Array, AsArray, Int32Array};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, Int8Type, TimeUnit, TimestampMicrosecondType,
};
use datafusion::common::{exec_err, plan_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, Signature, Volatility,
};

use crate::kinded;

use crate::args::Arrays;
use crate::murmur3::{finalize, mix};

/// Spark's seed of `hash`.
const SEED: i32 = 42;

/// The functions of this module.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    kinded::functions([(Murmur3Hash, "hash")])
}

/// `hash(cols...)`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Murmur3Hash;

/// Spark's `hashInt`.
fn hash_int(v: i32, seed: i32) -> i32 {
    finalize(mix(seed, v), 4)
}

/// Spark's `hashLong`: the low word, then the high word.
fn hash_long(v: i64, seed: i32) -> i32 {
    let h = mix(seed, v as i32);
    finalize(mix(h, (v >> 32) as i32), 8)
}

/// Spark's `hashUnsafeBytes`: little-endian 4-byte words, then each
/// remaining (signed) byte mixed as a word of its own.
fn hash_bytes(bytes: &[u8], seed: i32) -> i32 {
    let mut h = seed;
    let mut words = bytes.chunks_exact(4);
    for w in &mut words {
        h = mix(h, i32::from_le_bytes([w[0], w[1], w[2], w[3]]));
    }
    for b in words.remainder() {
        h = mix(h, i32::from(*b as i8));
    }
    finalize(h, bytes.len() as i32)
}

/// Java's `BigInteger.toByteArray` of `v`: big-endian two's complement,
/// as few bytes as keep the sign.
fn big_integer_bytes(v: i128) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < 15 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        let redundant = (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    bytes[start..].to_vec()
}

/// The hash of row `row` of `a`, starting from `seed`.
fn hash_value(a: &dyn Array, row: usize, seed: i32) -> Result<i32> {
    if a.is_null(row) {
        return Ok(seed);
    }
    Ok(match a.data_type() {
        DataType::Null => seed,
        DataType::Boolean => hash_int(i32::from(a.as_boolean().value(row)), seed),
        DataType::Int8 => hash_int(i32::from(a.as_primitive::<Int8Type>().value(row)), seed),
        DataType::Int16 => hash_int(i32::from(a.as_primitive::<Int16Type>().value(row)), seed),
        DataType::Int32 => hash_int(a.as_primitive::<Int32Type>().value(row), seed),
        DataType::Date32 => hash_int(a.as_primitive::<Date32Type>().value(row), seed),
        DataType::Int64 => hash_long(a.as_primitive::<Int64Type>().value(row), seed),
        DataType::Timestamp(TimeUnit::Microsecond, _) => hash_long(
            a.as_primitive::<TimestampMicrosecondType>().value(row),
            seed,
        ),
        DataType::Float32 => {
            let v = a.as_primitive::<Float32Type>().value(row);
            // Java's floatToIntBits: -0.0 hashes as 0.0, every NaN as one NaN.
            let bits = if v == 0.0 {
                0
            } else if v.is_nan() {
                0x7fc0_0000
            } else {
                v.to_bits() as i32
            };
            hash_int(bits, seed)
        }
        DataType::Float64 => {
            let v = a.as_primitive::<Float64Type>().value(row);
            let bits = if v == 0.0 {
                0
            } else if v.is_nan() {
                0x7ff8_0000_0000_0000
            } else {
                v.to_bits() as i64
            };
            hash_long(bits, seed)
        }
        DataType::Decimal128(p, _) => {
            let v = a.as_primitive::<Decimal128Type>().value(row);
            if *p <= 18 {
                hash_long(v as i64, seed)
            } else {
                hash_bytes(&big_integer_bytes(v), seed)
            }
        }
        DataType::Utf8 => hash_bytes(a.as_string::<i32>().value(row).as_bytes(), seed),
        DataType::LargeUtf8 => hash_bytes(a.as_string::<i64>().value(row).as_bytes(), seed),
        DataType::Utf8View => hash_bytes(a.as_string_view().value(row).as_bytes(), seed),
        DataType::Binary => hash_bytes(a.as_binary::<i32>().value(row), seed),
        DataType::LargeBinary => hash_bytes(a.as_binary::<i64>().value(row), seed),
        DataType::BinaryView => hash_bytes(a.as_binary_view().value(row), seed),
        // Arrays and structs: each element or field seeds the next.
        DataType::List(_) => {
            let items = a.as_list::<i32>().value(row);
            (0..items.len()).try_fold(seed, |h, i| hash_value(&items, i, h))?
        }
        DataType::LargeList(_) => {
            let items = a.as_list::<i64>().value(row);
            (0..items.len()).try_fold(seed, |h, i| hash_value(&items, i, h))?
        }
        DataType::Struct(_) => a
            .as_struct()
            .columns()
            .iter()
            .try_fold(seed, |h, c| hash_value(c.as_ref(), row, h))?,
        other => return exec_err!("hash of a {other} is not supported by Kiln"),
    })
}

impl kinded::Kind for Murmur3Hash {
    fn signature(&self) -> Signature {
        Signature::variadic_any(Volatility::Immutable)
    }

    fn return_type(&self, _name: &str, arg_types: &[DataType]) -> Result<DataType> {
        if arg_types.is_empty() {
            return plan_err!("hash takes at least one argument");
        }
        Ok(DataType::Int32)
    }

    fn invoke(&self, _name: &str, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = Arrays::new(&args.args, args.number_rows)?;
        let out = (0..a.rows)
            .map(|row| {
                a.arrays
                    .iter()
                    .try_fold(SEED, |h, c| hash_value(c.as_ref(), row, h))
            })
            .collect::<Result<Vec<i32>>>()?;
        a.answer(Arc::new(Int32Array::from(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_big_integer_bytes() {
        assert_eq!(big_integer_bytes(0), vec![0]);
        assert_eq!(big_integer_bytes(127), vec![0x7f]);
        assert_eq!(big_integer_bytes(128), vec![0, 0x80]);
        assert_eq!(big_integer_bytes(-1), vec![0xff]);
        assert_eq!(big_integer_bytes(-129), vec![0xff, 0x7f]);
    }
}
