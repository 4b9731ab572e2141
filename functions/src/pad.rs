//! Spark's `lpad` and `rpad`, which pad BINARY values as bytes.
//!
//! With a BINARY value and no pad, or a BINARY pad, Spark pads bytes:
//! `lpad(unhex('aabb'), 5)` is `000000AABB` (zero bytes by default), a
//! length below the value's keeps its first bytes, an empty pad leaves a
//! shorter value as it is. Everything else is DataFusion's string
//! padding, with the arguments cast to strings and a length as Spark
//! casts them. DataFusion cast the bytes to text and failed on bytes
//! that are not UTF-8.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF};

use crate::kinded;

use crate::args::Arrays;

/// `lpad` and `rpad`.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    kinded::functions([
        (
            Pad::new(true, datafusion::functions::unicode::lpad()),
            "lpad",
        ),
        (
            Pad::new(false, datafusion::functions::unicode::rpad()),
            "rpad",
        ),
    ])
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Pad {
    left: bool,
    text: Arc<ScalarUDF>,
}

impl Pad {
    fn new(left: bool, text: Arc<ScalarUDF>) -> Self {
        Pad { left, text }
    }
}

fn is_binary(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView
    )
}

/// Whether a call with these argument types pads bytes.
fn pads_bytes(types: &[DataType]) -> bool {
    types.first().is_some_and(is_binary) && types.get(2).is_none_or(is_binary)
}

impl kinded::Kind for Pad {
    fn coerce_types(&self, name: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if !(2..=3).contains(&arg_types.len()) {
            return exec_err!(
                "{} takes 2 or 3 arguments (the value, a length and a pad), got {}",
                name,
                arg_types.len()
            );
        }
        let value = if pads_bytes(arg_types) {
            DataType::Binary
        } else {
            DataType::Utf8
        };
        let mut types = vec![value.clone(), DataType::Int64];
        if arg_types.len() == 3 {
            types.push(value);
        }
        Ok(types)
    }

    fn return_type(&self, _name: &str, arg_types: &[DataType]) -> Result<DataType> {
        Ok(if pads_bytes(arg_types) {
            DataType::Binary
        } else {
            DataType::Utf8
        })
    }

    fn invoke(&self, _name: &str, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let types: Vec<DataType> = args.args.iter().map(|a| a.data_type()).collect();
        if !pads_bytes(&types) {
            return self.text.invoke_with_args(args);
        }
        let input = Arrays::new(&args.args, args.number_rows)?;
        let a = &input.arrays;
        let value = cast(&a[0], &DataType::Binary)?;
        let value = value.as_binary::<i32>();
        let len = cast(&a[1], &DataType::Int64)?;
        let len = len.as_primitive::<arrow::datatypes::Int64Type>();
        let pad: Option<ArrayRef> = a.get(2).map(|p| cast(p, &DataType::Binary)).transpose()?;
        let pad = pad.as_ref().map(|p| p.as_binary::<i32>());
        let mut out: Vec<Option<Vec<u8>>> = Vec::with_capacity(value.len());
        for row in 0..value.len() {
            let pad_bytes: Option<&[u8]> = match pad {
                Some(p) if p.is_null(row) => None,
                Some(p) => Some(p.value(row)),
                None => Some(&[0u8]),
            };
            if value.is_null(row) || len.is_null(row) {
                out.push(None);
                continue;
            }
            let Some(pad_bytes) = pad_bytes else {
                out.push(None);
                continue;
            };
            out.push(Some(pad_value(
                value.value(row),
                len.value(row),
                pad_bytes,
                self.left,
            )));
        }
        input.answer(Arc::new(BinaryArray::from_iter(out)))
    }
}

/// `bytes` padded (or cut) to `len` bytes with `pad` repeated.
fn pad_value(bytes: &[u8], len: i64, pad: &[u8], left: bool) -> Vec<u8> {
    let len = usize::try_from(len).unwrap_or(0);
    if len <= bytes.len() {
        return bytes[..len].to_vec();
    }
    if pad.is_empty() {
        return bytes.to_vec();
    }
    let fill: Vec<u8> = pad
        .iter()
        .copied()
        .cycle()
        .take(len - bytes.len())
        .collect();
    if left {
        [fill.as_slice(), bytes].concat()
    } else {
        [bytes, fill.as_slice()].concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_pad_as_spark_pads_them() {
        assert_eq!(
            pad_value(&[0xaa, 0xbb], 5, &[0], true),
            [0, 0, 0, 0xaa, 0xbb]
        );
        assert_eq!(pad_value(&[0xaa, 0xbb, 0xcc], 2, &[0], true), [0xaa, 0xbb]);
        assert_eq!(
            pad_value(&[0xaa], 6, &[0x1f, 0x2e], true),
            [0x1f, 0x2e, 0x1f, 0x2e, 0x1f, 0xaa]
        );
        assert_eq!(
            pad_value(&[0xaa], 5, &[0x1f, 0x2e], false),
            [0xaa, 0x1f, 0x2e, 0x1f, 0x2e]
        );
        assert_eq!(
            pad_value(&[0xaa, 0xbb, 0xcc], 6, &[], true),
            [0xaa, 0xbb, 0xcc]
        );
        assert_eq!(pad_value(&[0xaa], -1, &[0], false), Vec::<u8>::new());
    }
}
