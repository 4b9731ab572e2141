//! KLL quantile sketches, as Spark's `kll_sketch_agg_*`, `kll_merge_agg_*`,
//! `kll_sketch_get_n_*`, `kll_sketch_get_quantile_*`,
//! `kll_sketch_get_rank_*`, `kll_sketch_merge_*` and
//! `kll_sketch_to_string_*` of BIGINT, FLOAT and DOUBLE items:
//! DataSketches KLL sketches (Java's `KllLongsSketch`, `KllFloatsSketch`
//! and `KllDoublesSketch`), k 8 to 65535 (default 200), ranks and
//! quantiles searched inclusively as Spark does.

use arrow::array::ArrayRef;
use arrow::datatypes::DataType;
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datasketches::common::SearchCriteria;
use datasketches::kll::{KllFloat, KllSketch};

use super::kll_item::Item;
use super::kll_text;
use super::shared::{int_constant, sketches, SketchBuffer};
use super::KllItem;

/// Spark's (DataSketches') default k.
const DEFAULT_K: i32 = 200;

/// The bounds of k.
const K: std::ops::RangeInclusive<i32> = 8..=65535;

/// The type `kll_sketch_agg_*` reads a column of type `t` as.
pub(super) fn input_type(name: &str, item: KllItem, t: &DataType) -> Result<DataType> {
    use DataType::*;
    match (item, t) {
        (KllItem::Bigint, Int8 | Int16 | Int32 | Int64 | Null) => Ok(Int64),
        (KllItem::Float, Int8 | Int16 | Int32 | Int64 | Float32 | Null) => Ok(Float32),
        (KllItem::Double, Int8 | Int16 | Int32 | Int64 | Float32 | Float64 | Null) => Ok(Float64),
        (KllItem::Bigint, t) => plan_err!("{name}: values must be integers, got {t}"),
        (KllItem::Float, t) => plan_err!("{name}: values must be FLOAT or integers, got {t}"),
        (KllItem::Double, t) => plan_err!("{name}: values must be numbers, got {t}"),
    }
}

/// A sketch's bytes read back, with Spark's error otherwise.
fn read<T: Item>(name: &str, bytes: &[u8]) -> Result<KllSketch<T>> {
    KllSketch::<T>::deserialize(bytes).or_else(|e| {
        exec_err!(
            "{name}: the input is not a valid {} binary representation ({e})",
            T::SKETCH
        )
    })
}

fn new_sketch<T: Item>(name: &str, k: i32) -> Result<KllSketch<T>> {
    KllSketch::<T>::new(k as u16).or_else(|e| plan_err!("{name}: k {k}: {e}"))
}

/// `kll_sketch_agg_*(expr[, k])` and `kll_merge_agg_*(sketch[, k])`.
#[derive(Debug)]
struct KllAgg<T: Item> {
    name: String,
    /// Whether the rows are sketches to merge rather than items.
    merging: bool,
    k: Option<i32>,
    sketch: Option<KllSketch<T>>,
}

impl<T: Item> KllAgg<T> {
    fn add(&mut self, other: &KllSketch<T>) -> Result<()> {
        match &mut self.sketch {
            Some(s) => s
                .merge(other)
                .or_else(|e| exec_err!("{}: sketches cannot be merged: {e}", self.name)),
            // Without a k of its own, a merge takes the first sketch's.
            None => {
                let mut s = match self.k {
                    Some(k) => new_sketch::<T>(&self.name, k)?,
                    None => other.clone(),
                };
                if self.k.is_some() {
                    s.merge(other)
                        .or_else(|e| exec_err!("{}: sketches cannot be merged: {e}", self.name))?;
                }
                self.sketch = Some(s);
                Ok(())
            }
        }
    }
}

impl<T: Item> SketchBuffer for KllAgg<T> {
    fn update(&mut self, columns: &[ArrayRef]) -> Result<()> {
        let Some(column) = columns.first() else {
            return Ok(());
        };
        if self.merging {
            for bytes in sketches(column)? {
                let other = read::<T>(&self.name, &bytes)?;
                self.add(&other)?;
            }
            return Ok(());
        }
        let items = T::column(column)?;
        let sketch = match &mut self.sketch {
            Some(s) => s,
            None => self
                .sketch
                .insert(new_sketch::<T>(&self.name, self.k.unwrap_or(DEFAULT_K))?),
        };
        for item in items {
            sketch.update(item);
        }
        Ok(())
    }

    fn add_sketch(&mut self, state: &[u8]) -> Result<()> {
        let other = read::<T>(&self.name, state)?;
        self.add(&other)
    }

    fn state(&self) -> Result<Vec<u8>> {
        Ok(self
            .sketch
            .as_ref()
            .map(KllSketch::serialize)
            .unwrap_or_default())
    }

    fn result(&self) -> Result<Vec<u8>> {
        match &self.sketch {
            Some(s) => Ok(s.serialize()),
            None => Ok(new_sketch::<T>(&self.name, self.k.unwrap_or(DEFAULT_K))?.serialize()),
        }
    }
}

fn agg<T: Item>(
    name: &str,
    merging: bool,
    consts: &[ScalarValue],
) -> Result<Box<dyn SketchBuffer>> {
    let k = int_constant(name, "k", consts.first(), K)?;
    Ok(Box::new(KllAgg::<T> {
        name: name.to_string(),
        merging,
        k,
        sketch: None,
    }))
}

fn dispatch(
    name: &str,
    item: KllItem,
    merging: bool,
    consts: &[ScalarValue],
) -> Result<Box<dyn SketchBuffer>> {
    match item {
        KllItem::Bigint => agg::<i64>(name, merging, consts),
        KllItem::Float => agg::<KllFloat<f32>>(name, merging, consts),
        KllItem::Double => agg::<KllFloat<f64>>(name, merging, consts),
    }
}

/// `kll_sketch_agg_*(expr[, k])`.
pub(super) fn sketch_agg(
    name: &str,
    item: KllItem,
    consts: &[ScalarValue],
) -> Result<Box<dyn SketchBuffer>> {
    dispatch(name, item, false, consts)
}

/// `kll_merge_agg_*(sketch[, k])`.
pub(super) fn merge_agg(
    name: &str,
    item: KllItem,
    consts: &[ScalarValue],
) -> Result<Box<dyn SketchBuffer>> {
    dispatch(name, item, true, consts)
}

/// Runs `f` on the sketch of `bytes` with the item type of `item`.
macro_rules! with_item {
    ($item:expr, $t:ident => $body:expr) => {
        match $item {
            KllItem::Bigint => {
                type $t = i64;
                $body
            }
            KllItem::Float => {
                type $t = KllFloat<f32>;
                $body
            }
            KllItem::Double => {
                type $t = KllFloat<f64>;
                $body
            }
        }
    };
}

/// `kll_sketch_get_n_*(sketch)`: how many items the sketch saw.
pub(super) fn get_n(name: &str, item: KllItem, bytes: &[u8]) -> Result<ScalarValue> {
    let n = with_item!(item, T => read::<T>(name, bytes)?.n());
    Ok(ScalarValue::Int64(Some(n as i64)))
}

/// `kll_sketch_get_quantile_*(sketch, rank)`.
pub(super) fn get_quantile(
    name: &str,
    item: KllItem,
    bytes: &[u8],
    rank: &ScalarValue,
) -> Result<ScalarValue> {
    let rank = match rank.cast_to(&DataType::Float64)? {
        ScalarValue::Float64(Some(r)) if (0.0..=1.0).contains(&r) => r,
        other => return exec_err!("{name}: the rank must be between 0.0 and 1.0, got {other}"),
    };
    with_item!(item, T => {
        let sketch = read::<T>(name, bytes)?;
        match sketch.quantile(rank, SearchCriteria::Inclusive) {
            Ok(Some(q)) => Ok(q.to_scalar()),
            Ok(None) => Ok(ScalarValue::try_from(&T::TYPE)?),
            Err(e) => exec_err!("{name}: {e}"),
        }
    })
}

/// `kll_sketch_get_rank_*(sketch, quantile)`.
pub(super) fn get_rank(
    name: &str,
    item: KllItem,
    bytes: &[u8],
    quantile: &ScalarValue,
) -> Result<ScalarValue> {
    with_item!(item, T => {
        let sketch = read::<T>(name, bytes)?;
        let Some(q) = T::from_scalar(quantile) else {
            return exec_err!("{name}: the quantile must be a number, got {quantile}");
        };
        Ok(ScalarValue::Float64(sketch.rank(&q, SearchCriteria::Inclusive)))
    })
}

/// `kll_sketch_merge_*(left, right)`.
pub(super) fn merge(name: &str, item: KllItem, left: &[u8], right: &[u8]) -> Result<ScalarValue> {
    let bytes = with_item!(item, T => {
        let mut a = read::<T>(name, left)?;
        let b = read::<T>(name, right)?;
        a.merge(&b)
            .or_else(|e| exec_err!("{name}: sketches cannot be merged: {e}"))?;
        a.serialize()
    });
    Ok(ScalarValue::Binary(Some(bytes)))
}

/// `kll_sketch_to_string_*(sketch)`: DataSketches Java's summary text.
pub(super) fn to_string(name: &str, item: KllItem, bytes: &[u8]) -> Result<ScalarValue> {
    let text = with_item!(item, T => kll_text::summary(&read::<T>(name, bytes)?, bytes));
    Ok(ScalarValue::Utf8(Some(text)))
}
