//! The item types of Spark's KLL functions (BIGINT, FLOAT, DOUBLE): how
//! a column, a SQL value and Java's text of each map to the items of a
//! DataSketches KLL sketch.

use std::fmt::Debug;

use arrow::array::{ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float32Type, Float64Type, Int64Type};
use datafusion::common::{Result, ScalarValue};
use datasketches::kll::{KllFloat, KllValue};

/// The items of one of Spark's KLL sketch types.
pub(super) trait Item: KllValue + Ord + Clone + Send + Sync + Debug + 'static {
    /// The SQL type of the items.
    const TYPE: DataType;
    /// Java's class name of the sketch.
    const SKETCH: &'static str;
    /// The bytes of one item in Java's images.
    const BYTES: u64;
    /// The column's items; NaNs are skipped, as DataSketches skips them.
    fn column(column: &ArrayRef) -> Result<Vec<Self>>;
    /// An item from a SQL value of [`Item::TYPE`].
    fn from_scalar(v: &ScalarValue) -> Option<Self>;
    /// The SQL value of an item.
    fn to_scalar(&self) -> ScalarValue;
    /// The item as Java prints it.
    fn java_text(&self) -> String;
}

impl Item for i64 {
    const TYPE: DataType = DataType::Int64;
    const SKETCH: &'static str = "KllLongsSketch";
    const BYTES: u64 = 8;

    fn column(column: &ArrayRef) -> Result<Vec<Self>> {
        let c = cast(column, &DataType::Int64)?;
        Ok(c.as_primitive::<Int64Type>().iter().flatten().collect())
    }

    fn from_scalar(v: &ScalarValue) -> Option<Self> {
        match v.cast_to(&DataType::Int64).ok()? {
            ScalarValue::Int64(v) => v,
            _ => None,
        }
    }

    fn to_scalar(&self) -> ScalarValue {
        ScalarValue::Int64(Some(*self))
    }

    fn java_text(&self) -> String {
        self.to_string()
    }
}

impl Item for KllFloat<f32> {
    const TYPE: DataType = DataType::Float32;
    const SKETCH: &'static str = "KllFloatsSketch";
    const BYTES: u64 = 4;

    fn column(column: &ArrayRef) -> Result<Vec<Self>> {
        let c = cast(column, &DataType::Float32)?;
        Ok(c.as_primitive::<Float32Type>()
            .iter()
            .flatten()
            .filter_map(|v| KllFloat::<f32>::new(v).ok())
            .collect())
    }

    fn from_scalar(v: &ScalarValue) -> Option<Self> {
        match v.cast_to(&DataType::Float32).ok()? {
            ScalarValue::Float32(Some(v)) => KllFloat::<f32>::new(v).ok(),
            _ => None,
        }
    }

    fn to_scalar(&self) -> ScalarValue {
        ScalarValue::Float32(Some(**self))
    }

    fn java_text(&self) -> String {
        java_float(f64::from(**self), true)
    }
}

impl Item for KllFloat<f64> {
    const TYPE: DataType = DataType::Float64;
    const SKETCH: &'static str = "KllDoublesSketch";
    const BYTES: u64 = 8;

    fn column(column: &ArrayRef) -> Result<Vec<Self>> {
        let c = cast(column, &DataType::Float64)?;
        Ok(c.as_primitive::<Float64Type>()
            .iter()
            .flatten()
            .filter_map(|v| KllFloat::<f64>::new(v).ok())
            .collect())
    }

    fn from_scalar(v: &ScalarValue) -> Option<Self> {
        match v.cast_to(&DataType::Float64).ok()? {
            ScalarValue::Float64(Some(v)) => KllFloat::<f64>::new(v).ok(),
            _ => None,
        }
    }

    fn to_scalar(&self) -> ScalarValue {
        ScalarValue::Float64(Some(**self))
    }

    fn java_text(&self) -> String {
        java_float(**self, false)
    }
}

/// Java's `Float.toString` / `Double.toString` of a finite number (the
/// shortest decimal that reads back, with at least one fractional digit,
/// and scientific notation outside [1e-3, 1e7)).
pub(super) fn java_float(v: f64, single: bool) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let shortest = if single {
        format!("{:e}", v as f32)
    } else {
        format!("{v:e}")
    };
    let (mantissa, exp) = shortest.split_once('e').unwrap_or((shortest.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let abs = v.abs();
    if v == 0.0 || (1e-3..1e7).contains(&abs) {
        let plain = if single {
            format!("{}", v as f32)
        } else {
            format!("{v}")
        };
        if plain.contains('.') {
            plain
        } else {
            format!("{plain}.0")
        }
    } else {
        let mantissa = if mantissa.contains('.') {
            mantissa.to_string()
        } else {
            format!("{mantissa}.0")
        };
        format!("{mantissa}E{exp}")
    }
}
