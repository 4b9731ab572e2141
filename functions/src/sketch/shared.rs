//! What the sketch families and the DataFusion side share: Spark's
//! defaults and argument checks, and [`SketchBuffer`], the sketch an
//! aggregate builds (its state is the sketch's serialised bytes).

use arrow::array::{ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::common::{plan_err, Result, ScalarValue};

use super::KllItem;

/// Spark's default log2 of K of HLL sketches and of nominal entries of
/// Theta and Tuple sketches.
pub(super) const DEFAULT_LG: i32 = 12;

/// The SQL type of a KLL sketch's items.
pub(super) fn kll_item_type(t: KllItem) -> DataType {
    match t {
        KllItem::Bigint => DataType::Int64,
        KllItem::Float => DataType::Float32,
        KllItem::Double => DataType::Float64,
    }
}

pub(super) fn mode_default() -> ScalarValue {
    ScalarValue::Utf8(Some("sum".into()))
}

pub(super) fn lg_default() -> ScalarValue {
    ScalarValue::Int32(Some(DEFAULT_LG))
}

/// A function's parameters: the types of those it requires, then the
/// types and defaults of those it may leave out.
pub(super) struct Params {
    pub(super) required: Vec<DataType>,
    pub(super) optional: Vec<(DataType, ScalarValue)>,
}

impl Params {
    pub(super) fn new(required: Vec<DataType>, optional: Vec<(DataType, ScalarValue)>) -> Self {
        Params { required, optional }
    }

    /// The types the arguments `given` are cast to, checking their number.
    pub(super) fn coerce(&self, name: &str, given: &[DataType]) -> Result<Vec<DataType>> {
        let (min, max) = (
            self.required.len(),
            self.required.len() + self.optional.len(),
        );
        if given.len() < min || given.len() > max {
            let count = if min == max {
                min.to_string()
            } else {
                format!("{min} to {max}")
            };
            return plan_err!("{name} takes {count} arguments, got {}", given.len());
        }
        Ok(self
            .required
            .iter()
            .chain(self.optional.iter().map(|(t, _)| t))
            .take(given.len())
            .cloned()
            .collect())
    }
}

/// BINARY for a sketch argument; anything but bytes (or NULL) is an error.
pub(super) fn binary_type(name: &str, t: &DataType) -> Result<DataType> {
    match t {
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_)
        | DataType::Null => Ok(DataType::Binary),
        t => plan_err!("{name}: a sketch must be BINARY, got {t}"),
    }
}

/// An aggregate's sketch under construction.
pub(super) trait SketchBuffer: Send + Sync + std::fmt::Debug {
    /// Merges one sketch: a partial state ([`SketchBuffer::state`] of
    /// another buffer), or a row of the aggregates whose rows are sketches.
    fn add_sketch(&mut self, bytes: &[u8]) -> Result<()>;
    /// Adds a batch of input rows (the aggregate's argument columns); by
    /// default the rows are sketches, merged one by one.
    fn update(&mut self, columns: &[ArrayRef]) -> Result<()> {
        if let Some(column) = columns.first() {
            for bytes in sketches(column)? {
                self.add_sketch(&bytes)?;
            }
        }
        Ok(())
    }
    /// The partial state: the sketch's bytes, empty when nothing was seen.
    fn state(&self) -> Result<Vec<u8>>;
    /// The aggregate's answer.
    fn result(&self) -> Result<Vec<u8>> {
        self.state()
    }
}

/// The non-NULL byte strings of a sketch column.
pub(super) fn sketches(column: &ArrayRef) -> Result<Vec<Vec<u8>>> {
    let column = cast(column, &DataType::Binary)?;
    Ok(column
        .as_binary::<i32>()
        .iter()
        .flatten()
        .map(<[u8]>::to_vec)
        .collect())
}

/// A constant INT argument, checked against Spark's bounds.
pub(super) fn int_constant(
    name: &str,
    what: &str,
    value: Option<&ScalarValue>,
    range: std::ops::RangeInclusive<i32>,
) -> Result<Option<i32>> {
    match value {
        None | Some(ScalarValue::Null) | Some(ScalarValue::Int32(None)) => Ok(None),
        Some(ScalarValue::Int32(Some(v))) if range.contains(v) => Ok(Some(*v)),
        Some(ScalarValue::Int32(Some(v))) => plan_err!(
            "{name}: {what} must be between {} and {}, got {v}",
            range.start(),
            range.end()
        ),
        Some(other) => plan_err!("{name}: {what} must be an INT, got {other}"),
    }
}
