//! The elements of an array column (or the entries of a map column) of a
//! batch, back to back, with the row each belongs to: what a lambda is
//! evaluated over, and how its captured columns are spread to match.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int32Array, ListArray, UInt32Array};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::compute::{cast, take_arrays};
use arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::LambdaArgument;

/// The elements of every row of an array or map column.
pub(super) struct Elements {
    /// Row `i`'s elements are `values[offsets[i]..offsets[i + 1]]`.
    pub offsets: Vec<usize>,
    /// The elements; a map's are its entries (a struct of key and value).
    pub values: ArrayRef,
    /// The rows that are NULL.
    pub nulls: Option<NullBuffer>,
    /// The element field (a list's item, a map's entries).
    pub field: FieldRef,
}

impl Elements {
    /// The elements of an array column.
    pub fn of_list(array: &ArrayRef) -> Result<Self> {
        let array = match array.data_type() {
            DataType::List(_) => array.clone(),
            DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
                cast(array, &DataType::List(f.clone()))?
            }
            DataType::Null => cast(array, &DataType::new_list(DataType::Null, true))?,
            other => return exec_err!("expected an array, got {other}"),
        };
        let list = array.as_list::<i32>();
        let DataType::List(field) = list.data_type() else {
            return exec_err!("expected a list, got {}", list.data_type());
        };
        let (values, offsets) = relative(list.value_offsets(), list.values())?;
        Ok(Elements {
            offsets,
            values,
            nulls: list.nulls().cloned(),
            field: field.clone(),
        })
    }

    /// The entries of a map column.
    pub fn of_map(array: &ArrayRef) -> Result<Self> {
        let Some(map) = array.as_map_opt() else {
            return exec_err!("expected a map, got {}", array.data_type());
        };
        let DataType::Map(field, _) = map.data_type() else {
            return exec_err!("expected a map, got {}", map.data_type());
        };
        let entries: ArrayRef = Arc::new(map.entries().clone());
        let (values, offsets) = relative(map.value_offsets(), &entries)?;
        Ok(Elements {
            offsets,
            values,
            nulls: map.nulls().cloned(),
            field: field.clone(),
        })
    }

    /// The number of rows.
    pub fn rows_len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Row `i`'s element range.
    pub fn range(&self, i: usize) -> std::ops::Range<usize> {
        self.offsets[i]..self.offsets[i + 1]
    }

    /// Whether row `i` is NULL.
    pub fn is_null(&self, i: usize) -> bool {
        self.nulls.as_ref().is_some_and(|n| n.is_null(i))
    }

    /// The row of each element.
    pub fn rows(&self) -> UInt32Array {
        UInt32Array::from_iter_values(
            (0..self.rows_len()).flat_map(|i| std::iter::repeat_n(i as u32, self.range(i).len())),
        )
    }

    /// Each element's 0-based position in its row (Spark's INT index).
    pub fn positions(&self) -> Int32Array {
        Int32Array::from_iter_values(
            (0..self.rows_len()).flat_map(|i| 0..self.range(i).len() as i32),
        )
    }

    /// The offsets as Arrow's.
    pub fn offset_buffer(&self) -> Result<OffsetBuffer<i32>> {
        offsets_of(&self.offsets)
    }

    /// A list of `values` with these rows' offsets and NULLs.
    pub fn list_of(&self, field: FieldRef, values: ArrayRef) -> Result<ArrayRef> {
        let values = cast_to(values, field.data_type())?;
        Ok(Arc::new(ListArray::try_new(
            field,
            self.offset_buffer()?,
            values,
            self.nulls.clone(),
        )?))
    }
}

/// Arrow offsets from `offsets`, checked to fit.
pub(super) fn offsets_of(offsets: &[usize]) -> Result<OffsetBuffer<i32>> {
    let offsets = offsets
        .iter()
        .map(|o| i32::try_from(*o))
        .collect::<std::result::Result<Vec<i32>, _>>()
        .or_else(|_| exec_err!("an array of more than 2^31 elements"))?;
    Ok(OffsetBuffer::new(offsets.into()))
}

/// The values between the first and last offset, and the offsets from 0.
fn relative(offsets: &[i32], values: &ArrayRef) -> Result<(ArrayRef, Vec<usize>)> {
    let first = offsets.first().copied().unwrap_or(0) as usize;
    let last = offsets.last().copied().unwrap_or(0) as usize;
    if last < first || last > values.len() {
        return exec_err!("invalid array offsets");
    }
    let rel = offsets.iter().map(|o| *o as usize - first).collect();
    Ok((values.slice(first, last - first), rel))
}

/// `array` as `t` (a no-op when it already is).
pub(super) fn cast_to(array: ArrayRef, t: &DataType) -> Result<ArrayRef> {
    if array.data_type() == t {
        Ok(array)
    } else {
        Ok(cast(&array, t)?)
    }
}

/// `lambda` evaluated with `args` (one array per parameter, all as long as
/// `rows`), its captured columns taken at `rows`, the outer row of each
/// evaluated element.
pub(super) fn call(
    lambda: &LambdaArgument,
    args: &[ArrayRef],
    rows: &UInt32Array,
) -> Result<ArrayRef> {
    let closures: Vec<Box<dyn Fn() -> Result<ArrayRef>>> = args
        .iter()
        .map(|a| {
            let a = a.clone();
            Box::new(move || Ok(a.clone())) as Box<dyn Fn() -> Result<ArrayRef>>
        })
        .collect();
    let refs: Vec<&dyn Fn() -> Result<ArrayRef>> = closures.iter().map(|c| c.as_ref()).collect();
    lambda
        .evaluate(&refs, |captures| Ok(take_arrays(captures, rows, None)?))?
        .into_array(rows.len())
}

/// A boolean lambda result, NULLs kept.
pub(super) fn booleans(name: &str, result: &ArrayRef) -> Result<arrow::array::BooleanArray> {
    match result.as_boolean_opt() {
        Some(b) => Ok(b.clone()),
        None => exec_err!(
            "{name}'s lambda must return a boolean, not {}",
            result.data_type()
        ),
    }
}
