//! Sketch keys as DataSketches Java hashes them, so that Kiln's sketches
//! of a column hold the hashes Spark's hold.

use std::hash::{Hash, Hasher};

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::common::{exec_err, Result};
use datasketches::hash::value::{canonical_float, raw_bytes};

/// A value as DataSketches Java hashes it: integers as 64-bit longs,
/// floating point numbers as canonical doubles, strings as their UTF-8
/// bytes, bytes and arrays of integers as their little-endian bytes.
#[derive(Debug, Clone)]
pub(crate) enum Key {
    Long(i64),
    Double(f64),
    Bytes(Vec<u8>),
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            Key::Long(v) => v.hash(state),
            Key::Double(v) => canonical_float::from_f64(*v).hash(state),
            Key::Bytes(b) => raw_bytes::from_slice(b).hash(state),
        }
    }
}

/// The keys of a column (of a type `theta::key_type` or
/// `hll::input_type` allowed), `None` for the rows DataSketches skips:
/// NULLs, empty strings, bytes and arrays.
pub(crate) fn keys(column: &ArrayRef) -> Result<Vec<Option<Key>>> {
    use arrow::datatypes::{Float64Type, Int32Type, Int64Type};
    let non_empty = |b: Vec<u8>| (!b.is_empty()).then_some(Key::Bytes(b));
    Ok(match column.data_type() {
        DataType::Int32 | DataType::Int64 => {
            let c = cast(column, &DataType::Int64)?;
            c.as_primitive::<Int64Type>()
                .iter()
                .map(|v| v.map(Key::Long))
                .collect()
        }
        DataType::Float32 | DataType::Float64 => {
            let c = cast(column, &DataType::Float64)?;
            c.as_primitive::<Float64Type>()
                .iter()
                .map(|v| v.map(Key::Double))
                .collect()
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let c = cast(column, &DataType::Utf8)?;
            c.as_string::<i32>()
                .iter()
                .map(|v| v.and_then(|s| non_empty(s.as_bytes().to_vec())))
                .collect()
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            let c = cast(column, &DataType::Binary)?;
            c.as_binary::<i32>()
                .iter()
                .map(|v| v.and_then(|b| non_empty(b.to_vec())))
                .collect()
        }
        DataType::List(f) if f.data_type() == &DataType::Int32 => list_keys(column, |v| {
            v.as_primitive::<Int32Type>()
                .values()
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect()
        }),
        DataType::List(f) if f.data_type() == &DataType::Int64 => list_keys(column, |v| {
            v.as_primitive::<Int64Type>()
                .values()
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect()
        }),
        t => return exec_err!("sketch keys of type {t} are not supported"),
    })
}

/// The keys of a list column: each non-empty list as the bytes `bytes`
/// makes of its values (Java hashes `int[]` and `long[]` as their
/// little-endian bytes).
fn list_keys(column: &ArrayRef, bytes: impl Fn(&ArrayRef) -> Vec<u8>) -> Vec<Option<Key>> {
    let list = column.as_list::<i32>();
    (0..list.len())
        .map(|i| {
            if list.is_null(i) {
                return None;
            }
            let b = bytes(&list.value(i));
            (!b.is_empty()).then_some(Key::Bytes(b))
        })
        .collect()
}

/// Calls `f` with each key of an aggregate's first column (the rows
/// DataSketches skips left out).
pub(crate) fn for_each_key(columns: &[ArrayRef], mut f: impl FnMut(Key)) -> Result<()> {
    if let Some(column) = columns.first() {
        keys(column)?.into_iter().flatten().for_each(&mut f);
    }
    Ok(())
}
