//! Spark's `histogram_numeric(expr, nb)` aggregate: an approximate histogram
//! of the non-NULL values of `expr` in at most `nb` bins, as an
//! `ARRAY<STRUCT<x, y: DOUBLE>>` of bin centres (`x`, of `expr`'s type) and
//! heights (`y`), ordered by `x`; NULL when there are no values.
//!
//! This module owns the streaming histogram Spark uses (Ben-Haim and
//! Tom-Tov's algorithm, as Spark's and Hive's `NumericHistogram`): values
//! are kept as doubles in sorted bins; a value equal to a bin's centre adds
//! one to its height, any other value becomes a bin of its own, and while
//! there are more than `nb` bins the two closest neighbours are merged into
//! one at their weighted mean. Equally close pairs are chosen between at
//! random with Java's `java.util.Random` seeded as Spark seeds it, so that
//! the same rows in the same partitions give Spark's bins. Partial
//! histograms travel between processes as their bins' centres and heights
//! and are merged by sorting both sets of bins together and trimming again.

use std::cmp::Ordering;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Decimal128Array, DurationMicrosecondArray, Float32Array,
    Float64Array, Int16Array, Int32Array, Int64Array, Int8Array, IntervalYearMonthArray, ListArray,
    RecordBatch, StructArray, TimestampMicrosecondArray, UInt16Array, UInt32Array, UInt64Array,
    UInt8Array,
};
use arrow::buffer::OffsetBuffer;
use arrow::compute::cast;
use arrow::datatypes::{
    DataType, Date32Type, Field, FieldRef, Fields, Float64Type, Int64Type, IntervalUnit,
    IntervalYearMonthType, Schema, TimeUnit,
};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, Signature, Volatility,
};

/// The aggregate functions of this module: `histogram_numeric`.
pub fn functions() -> Vec<Arc<AggregateUDF>> {
    vec![Arc::new(AggregateUDF::new_from_impl(HistogramNumeric {
        signature: Signature::user_defined(Volatility::Immutable),
    }))]
}

/// The seed of Spark's tie-breaking generator (`NumericHistogram`'s).
const SPARK_SEED: i64 = 31183;

#[derive(Debug, PartialEq, Eq, Hash)]
struct HistogramNumeric {
    signature: Signature,
}

/// Whether Spark takes values of type `t` (its numbers, dates, timestamps
/// and intervals, whose internal values are numbers).
fn is_histogram_input(t: &DataType) -> bool {
    use DataType::*;
    t.is_integer()
        || matches!(
            t,
            Float32
                | Float64
                | Decimal128(_, _)
                | Date32
                | Timestamp(_, _)
                | Duration(_)
                | Interval(IntervalUnit::YearMonth)
        )
}

/// The bin type of a histogram of `x`s of type `x`.
fn bin_type(x: &DataType) -> DataType {
    DataType::Struct(Fields::from(vec![
        Field::new("x", x.clone(), true),
        Field::new("y", DataType::Float64, true),
    ]))
}

/// A list of `Float64`s, the type of a partial histogram's centres and
/// heights.
fn doubles_list() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)))
}

impl AggregateUDFImpl for HistogramNumeric {
    fn name(&self) -> &str {
        "histogram_numeric"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [value, nb] = arg_types else {
            return plan_err!(
                "histogram_numeric takes 2 arguments (expr, nb), got {}",
                arg_types.len()
            );
        };
        // Spark casts NULLs and strings to DOUBLE and nb to INT.
        let value = match value {
            DataType::Null | DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                DataType::Float64
            }
            t if is_histogram_input(t) => t.clone(),
            t => return plan_err!("histogram_numeric: expr must be a number, a date, a timestamp or an interval, got {t}"),
        };
        if !(nb.is_numeric() || *nb == DataType::Null) {
            return plan_err!("histogram_numeric: nb must be an INT, got {nb}");
        }
        Ok(vec![value, DataType::Int32])
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let Some(x) = arg_types.first() else {
            return plan_err!("histogram_numeric takes 2 arguments (expr, nb)");
        };
        Ok(DataType::List(Arc::new(Field::new_list_field(
            bin_type(x),
            true,
        ))))
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let (Some(nb), Some(x)) = (acc_args.exprs.get(1), acc_args.expr_fields.first()) else {
            return plan_err!("histogram_numeric takes 2 arguments (expr, nb)");
        };
        // As Spark: nb must be a constant, not NULL, and at least 2.
        let empty = RecordBatch::new_empty(Arc::new(Schema::empty()));
        let nb = match nb.evaluate(&empty) {
            Ok(ColumnarValue::Scalar(s)) => s.cast_to(&DataType::Int32)?,
            _ => return plan_err!("histogram_numeric: nb must be a constant"),
        };
        let nb = match nb {
            ScalarValue::Int32(Some(n)) if n >= 2 => n as usize,
            ScalarValue::Int32(Some(n)) => {
                return plan_err!(
                    "histogram_numeric: nb must be between 2 and {}, got {n}",
                    i32::MAX
                )
            }
            _ => return plan_err!("histogram_numeric: nb must not be NULL"),
        };
        Ok(Box::new(HistogramAccumulator {
            histogram: Histogram::new(nb),
            x_type: x.data_type().clone(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format!("{}[nb]", args.name),
                DataType::Int32,
                true,
            )),
            Arc::new(Field::new(
                format!("{}[x]", args.name),
                doubles_list(),
                true,
            )),
            Arc::new(Field::new(
                format!("{}[y]", args.name),
                doubles_list(),
                true,
            )),
        ])
    }
}

/// Java's `java.util.Random` (a 48-bit linear congruential generator, as
/// its documentation specifies it), for Spark's tie-breaking (and the
/// hash seeds of `count_min_sketch`).
#[derive(Debug, Clone)]
pub(crate) struct JavaRandom {
    seed: u64,
}

impl JavaRandom {
    const MULTIPLIER: u64 = 0x5_DEEC_E66D;
    const MASK: u64 = (1 << 48) - 1;

    pub(crate) fn new(seed: i64) -> Self {
        JavaRandom {
            seed: (seed as u64 ^ Self::MULTIPLIER) & Self::MASK,
        }
    }

    /// The next `bits` (at most 31) random bits.
    fn next(&mut self, bits: u32) -> u64 {
        self.seed = (self.seed.wrapping_mul(Self::MULTIPLIER).wrapping_add(0xB)) & Self::MASK;
        self.seed >> (48 - bits)
    }

    /// A double in [0, 1) from 53 random bits, as `Random.nextDouble`.
    fn next_double(&mut self) -> f64 {
        let high = self.next(26) << 27;
        let bits = high + self.next(27);
        bits as f64 / (1u64 << 53) as f64
    }

    /// An int in [0, bound), as `Random.nextInt(bound)` (bound > 0).
    pub(crate) fn next_int(&mut self, bound: i32) -> i32 {
        let mut r = self.next(31) as i32;
        let m = bound.wrapping_sub(1);
        if bound & m == 0 {
            return ((i64::from(bound) * i64::from(r)) >> 31) as i32;
        }
        let mut u = r;
        loop {
            r = u % bound;
            // Java's overflow test: reject the last, partial range.
            if u.wrapping_sub(r).wrapping_add(m) >= 0 {
                return r;
            }
            u = self.next(31) as i32;
        }
    }
}

/// One bin: its centre and its height.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bin {
    x: f64,
    y: f64,
}

/// Java's `Double.compare`: NaN above everything, -0.0 below 0.0.
fn java_compare(a: f64, b: f64) -> Ordering {
    let canonical = |v: f64| if v.is_nan() { f64::NAN } else { v };
    canonical(a).total_cmp(&canonical(b))
}

/// A streaming histogram of at most `nb` bins, sorted by centre.
#[derive(Debug, Clone)]
struct Histogram {
    nb: usize,
    bins: Vec<Bin>,
    random: JavaRandom,
}

impl Histogram {
    fn new(nb: usize) -> Self {
        Histogram {
            nb,
            bins: Vec::new(),
            random: JavaRandom::new(SPARK_SEED),
        }
    }

    /// Adds one value.
    fn add(&mut self, v: f64) {
        // Spark's binary search: stops at a bin centred on `v`, else ends
        // where a new bin for `v` goes. Kept as Spark's so NaN and
        // duplicate centres land where they land in Spark.
        let (mut lo, mut hi, mut at) = (0, self.bins.len(), 0);
        while lo < hi {
            at = (lo + hi) / 2;
            let x = self.bins[at].x;
            if x > v {
                hi = at;
            } else if x < v {
                at += 1;
                lo = at;
            } else {
                break;
            }
        }
        match self.bins.get_mut(at) {
            Some(bin) if bin.x == v => bin.y += 1.0,
            _ => {
                self.bins.insert(at, Bin { x: v, y: 1.0 });
                self.trim();
            }
        }
    }

    /// Merges another histogram's bins into this one.
    fn merge(&mut self, other: &[Bin]) {
        if self.bins.is_empty() {
            self.bins = other.to_vec();
            return;
        }
        self.bins.extend_from_slice(other);
        // Stable, as Java's sort: equal centres keep this histogram's first.
        self.bins.sort_by(|a, b| java_compare(a.x, b.x));
        self.trim();
    }

    /// Merges the closest neighbours until there are at most `nb` bins.
    fn trim(&mut self) {
        while self.bins.len() > self.nb && self.bins.len() >= 2 {
            let mut closest = 0;
            let mut gap = self.bins[1].x - self.bins[0].x;
            let mut ties = 1u32;
            for i in 1..self.bins.len() - 1 {
                let d = self.bins[i + 1].x - self.bins[i].x;
                if d < gap {
                    (closest, gap, ties) = (i, d, 1);
                } else if d == gap {
                    // Reservoir choice among equal gaps: the generator is
                    // only drawn from on a tie, as in Spark.
                    ties += 1;
                    if self.random.next_double() <= 1.0 / f64::from(ties) {
                        closest = i;
                    }
                }
            }
            let (a, b) = (self.bins[closest], self.bins[closest + 1]);
            let y = a.y + b.y;
            // Spark's order of operations, for its exact doubles.
            let x = a.x * (a.y / y) + b.x / y * b.y;
            self.bins[closest] = Bin { x, y };
            self.bins.remove(closest + 1);
        }
    }
}

/// `values` (of a type [`is_histogram_input`] takes) as the doubles Spark
/// computes with: numbers' values, dates' days, timestamps' and day-time
/// intervals' microseconds, year-month intervals' months.
fn to_doubles(values: &ArrayRef) -> Result<Float64Array> {
    let micros = |unit_type: DataType| -> Result<Float64Array> {
        let i = cast(&cast(values, &unit_type)?, &DataType::Int64)?;
        Ok(i.as_primitive::<Int64Type>().unary(|v| v as f64))
    };
    match values.data_type() {
        DataType::Date32 => Ok(values.as_primitive::<Date32Type>().unary(f64::from)),
        DataType::Interval(IntervalUnit::YearMonth) => Ok(values
            .as_primitive::<IntervalYearMonthType>()
            .unary(f64::from)),
        DataType::Timestamp(_, tz) => {
            micros(DataType::Timestamp(TimeUnit::Microsecond, tz.clone()))
        }
        DataType::Duration(_) => micros(DataType::Duration(TimeUnit::Microsecond)),
        _ => Ok(cast(values, &DataType::Float64)?
            .as_primitive::<Float64Type>()
            .clone()),
    }
}

/// Bin centres back in the input's type `t`, converted as Spark converts
/// its doubles (Java's narrowing casts: toward zero, saturating, NaN to 0;
/// `BYTE` and `SHORT` through `INT`).
fn from_doubles(xs: &[f64], t: &DataType) -> Result<ArrayRef> {
    let values = xs.iter().copied();
    let array: ArrayRef = match t {
        DataType::Int8 => Arc::new(Int8Array::from_iter_values(values.map(|x| x as i32 as i8))),
        DataType::Int16 => Arc::new(Int16Array::from_iter_values(
            values.map(|x| x as i32 as i16),
        )),
        DataType::Int32 => Arc::new(Int32Array::from_iter_values(values.map(|x| x as i32))),
        DataType::Int64 => Arc::new(Int64Array::from_iter_values(values.map(|x| x as i64))),
        DataType::UInt8 => Arc::new(UInt8Array::from_iter_values(values.map(|x| x as u8))),
        DataType::UInt16 => Arc::new(UInt16Array::from_iter_values(values.map(|x| x as u16))),
        DataType::UInt32 => Arc::new(UInt32Array::from_iter_values(values.map(|x| x as u32))),
        DataType::UInt64 => Arc::new(UInt64Array::from_iter_values(values.map(|x| x as u64))),
        DataType::Float32 => Arc::new(Float32Array::from_iter_values(values.map(|x| x as f32))),
        DataType::Float64 => Arc::new(Float64Array::from_iter_values(values)),
        DataType::Decimal128(precision, scale) => {
            // Rounded half away from zero at the scale; NULL when the
            // centre does not fit the precision.
            let limit = 10f64.powi(i32::from(*precision));
            let factor = 10f64.powi(i32::from(*scale));
            let unscaled = values.map(|x| {
                let v = (x * factor).round();
                (v.is_finite() && v.abs() < limit).then_some(v as i128)
            });
            Arc::new(
                Decimal128Array::from_iter(unscaled)
                    .with_precision_and_scale(*precision, *scale)?,
            )
        }
        DataType::Date32 => Arc::new(Date32Array::from_iter_values(values.map(|x| x as i32))),
        DataType::Interval(IntervalUnit::YearMonth) => Arc::new(
            IntervalYearMonthArray::from_iter_values(values.map(|x| x as i32)),
        ),
        DataType::Timestamp(_, tz) => {
            let micros = TimestampMicrosecondArray::from_iter_values(values.map(|x| x as i64))
                .with_timezone_opt(tz.clone());
            cast(&micros, t)?
        }
        DataType::Duration(_) => {
            let micros = DurationMicrosecondArray::from_iter_values(values.map(|x| x as i64));
            cast(&micros, t)?
        }
        other => return exec_err!("histogram_numeric: unsupported input type {other}"),
    };
    Ok(array)
}

/// A list array of one row holding `values`.
fn one_row_list(values: ArrayRef) -> ListArray {
    let field = Arc::new(Field::new_list_field(values.data_type().clone(), true));
    ListArray::new(
        field,
        OffsetBuffer::from_lengths([values.len()]),
        values,
        None,
    )
}

/// One group's histogram and the type its centres are shown in.
#[derive(Debug)]
struct HistogramAccumulator {
    histogram: Histogram,
    x_type: DataType,
}

impl Accumulator for HistogramAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let Some(v) = values.first() else {
            return Ok(());
        };
        for x in to_doubles(v)?.iter().flatten() {
            self.histogram.add(x);
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [_, xs, ys] = states else {
            return exec_err!(
                "histogram_numeric: expected 3 state columns, got {}",
                states.len()
            );
        };
        let (xs, ys) = (xs.as_list::<i32>(), ys.as_list::<i32>());
        for row in 0..xs.len() {
            if xs.is_null(row) || ys.is_null(row) {
                continue;
            }
            let (x, y) = (xs.value(row), ys.value(row));
            let (x, y) = (
                x.as_primitive::<Float64Type>(),
                y.as_primitive::<Float64Type>(),
            );
            if x.len() != y.len() {
                return exec_err!(
                    "histogram_numeric: partial state has {} centres and {} heights",
                    x.len(),
                    y.len()
                );
            }
            let bins: Vec<Bin> = x
                .values()
                .iter()
                .zip(y.values().iter())
                .map(|(&x, &y)| Bin { x, y })
                .collect();
            self.histogram.merge(&bins);
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let bins = &self.histogram.bins;
        let xs = Float64Array::from_iter_values(bins.iter().map(|b| b.x));
        let ys = Float64Array::from_iter_values(bins.iter().map(|b| b.y));
        let nb = i32::try_from(self.histogram.nb).unwrap_or(i32::MAX);
        Ok(vec![
            ScalarValue::Int32(Some(nb)),
            ScalarValue::List(Arc::new(one_row_list(Arc::new(xs)))),
            ScalarValue::List(Arc::new(one_row_list(Arc::new(ys)))),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let bins = &self.histogram.bins;
        if bins.is_empty() {
            let list = DataType::List(Arc::new(Field::new_list_field(
                bin_type(&self.x_type),
                true,
            )));
            return ScalarValue::try_from(&list);
        }
        let xs: Vec<f64> = bins.iter().map(|b| b.x).collect();
        let x = from_doubles(&xs, &self.x_type)?;
        let y: ArrayRef = Arc::new(Float64Array::from_iter_values(bins.iter().map(|b| b.y)));
        let DataType::Struct(fields) = bin_type(&self.x_type) else {
            return exec_err!("histogram_numeric: bins are structs");
        };
        let bins = StructArray::try_new(fields, vec![x, y], None)?;
        Ok(ScalarValue::List(Arc::new(one_row_list(Arc::new(bins)))))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.histogram.bins.capacity() * std::mem::size_of::<Bin>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{column_type, query, query_err};

    /// Spark's group-by.sql values: 1..=50 with 36 replaced by a second 3.
    fn group_by_values() -> Vec<f64> {
        (1..=50)
            .map(|v| if v == 36 { 3.0 } else { f64::from(v) })
            .collect()
    }

    /// The bins of `values` added in `parts` consecutive slices, each its
    /// own partial histogram, merged in order into a fresh one (as Spark's
    /// final aggregate does), with centres truncated as Spark's INT output.
    fn bins(values: &[f64], nb: usize, parts: usize) -> Vec<(i32, f64)> {
        let mut total = Histogram::new(nb);
        for p in 0..parts {
            let slice = &values[p * values.len() / parts..(p + 1) * values.len() / parts];
            let mut partial = Histogram::new(nb);
            for &v in slice {
                partial.add(v);
            }
            total.merge(&partial.bins);
        }
        total.bins.iter().map(|b| (b.x as i32, b.y)).collect()
    }

    #[test]
    fn java_random_as_java() {
        // `new java.util.Random(42).nextDouble()` in Java.
        assert_eq!(JavaRandom::new(42).next_double(), 0.7275636800328681);
    }

    #[test]
    fn sparks_golden_bins_over_two_partitions() {
        // Spark's group-by.sql.out, whose local[2] session splits the 50
        // VALUES rows into two partitions of 25.
        let values = group_by_values();
        assert_eq!(bins(&values, 2, 2), [(12, 26.0), (38, 24.0)]);
        assert_eq!(bins(&values, 3, 2), [(9, 20.0), (25, 11.0), (40, 19.0)]);
        assert_eq!(
            bins(&values, 5, 2),
            [(5, 11.0), (14, 8.0), (22, 7.0), (30, 10.0), (43, 14.0)]
        );
        assert_eq!(
            bins(&values, 10, 2),
            [
                (3, 6.0),
                (8, 6.0),
                (13, 4.0),
                (17, 3.0),
                (20, 4.0),
                (25, 6.0),
                (31, 7.0),
                (39, 5.0),
                (43, 4.0),
                (48, 5.0)
            ]
        );
    }

    #[test]
    fn equal_values_share_a_bin_and_heights_add_up() {
        let mut h = Histogram::new(3);
        for v in [5.0, 1.0, 5.0, 9.0, 5.0] {
            h.add(v);
        }
        let got: Vec<(f64, f64)> = h.bins.iter().map(|b| (b.x, b.y)).collect();
        assert_eq!(got, [(1.0, 1.0), (5.0, 3.0), (9.0, 1.0)]);
        // A fourth distinct value merges the closest pair: 9 and 10.
        h.add(10.0);
        let got: Vec<(f64, f64)> = h.bins.iter().map(|b| (b.x, b.y)).collect();
        assert_eq!(got, [(1.0, 1.0), (5.0, 3.0), (9.5, 2.0)]);
        let total: f64 = bins(&group_by_values(), 7, 3).iter().map(|b| b.1).sum();
        assert_eq!(total, 50.0);
    }

    #[test]
    fn state_round_trips_through_merge_batch() {
        let mut partial = HistogramAccumulator {
            histogram: Histogram::new(4),
            x_type: DataType::Int32,
        };
        let values: ArrayRef = Arc::new(Int32Array::from(vec![Some(1), None, Some(2), Some(7)]));
        partial.update_batch(&[values]).unwrap();
        let state: Vec<ArrayRef> = partial
            .state()
            .unwrap()
            .iter()
            .map(|s| s.to_array().unwrap())
            .collect();
        let mut last = HistogramAccumulator {
            histogram: Histogram::new(4),
            x_type: DataType::Int32,
        };
        last.merge_batch(&state).unwrap();
        assert_eq!(last.histogram.bins, partial.histogram.bins);
        assert_eq!(
            last.evaluate().unwrap().to_string(),
            "[{x: 1, y: 1.0}, {x: 2, y: 1.0}, {x: 7, y: 1.0}]"
        );
    }

    #[test]
    fn histograms_as_spark() {
        // Spark 4.2.0's group-by.sql.out.
        assert_eq!(
            query("SELECT histogram_numeric(col, 3) FROM VALUES (1), (2), (3) AS tab(col)"),
            ["[{x: 1, y: 1.0}, {x: 2, y: 1.0}, {x: 3, y: 1.0}]"]
        );
        assert_eq!(
            query(
                "SELECT histogram_numeric(col, 3) FROM VALUES (CAST(1 AS DECIMAL(4, 2))), \
                 (CAST(2 AS DECIMAL(4, 2))), (CAST(3 AS DECIMAL(4, 2))) AS tab(col)"
            ),
            ["[{x: 1.00, y: 1.0}, {x: 2.00, y: 1.0}, {x: 3.00, y: 1.0}]"]
        );
        assert_eq!(
            query("SELECT histogram_numeric(col, 3) FROM VALUES (NULL), (NULL) AS tab(col)"),
            ["NULL"]
        );
        assert_eq!(
            query("SELECT histogram_numeric(col, 2) FROM VALUES (CAST(1.5 AS DOUBLE)), (CAST(2.5 AS DOUBLE)), (CAST(10 AS DOUBLE)) AS tab(col)"),
            ["[{x: 2.0, y: 2.0}, {x: 10.0, y: 1.0}]"]
        );
        assert_eq!(
            column_type("SELECT histogram_numeric(col, 3) FROM VALUES (1L) AS tab(col)"),
            DataType::List(Arc::new(Field::new_list_field(
                bin_type(&DataType::Int64),
                true
            )))
        );
        assert_eq!(
            column_type("SELECT histogram_numeric(col, 3) FROM VALUES (NULL) AS tab(col)"),
            DataType::List(Arc::new(Field::new_list_field(
                bin_type(&DataType::Float64),
                true
            )))
        );
    }

    #[test]
    fn timestamps_keep_their_type() {
        assert_eq!(
            query(
                "SELECT histogram_numeric(col, 2) FROM VALUES (TIMESTAMP '2017-03-01 00:00:00'), \
                 (TIMESTAMP '2017-03-01 00:00:10'), (TIMESTAMP '2017-05-01 00:00:00') AS tab(col)"
            ),
            ["[{x: 2017-03-01T00:00:05, y: 2.0}, {x: 2017-05-01T00:00:00, y: 1.0}]"]
        );
    }

    #[test]
    fn centres_convert_back_as_java_casts() {
        // Java: (byte) (int) 200.7 == -56, (int) NaN == 0, (long) 1e30 saturates.
        let bytes = from_doubles(&[200.7, -1.9], &DataType::Int8).unwrap();
        assert_eq!(
            bytes.as_primitive::<arrow::datatypes::Int8Type>().values(),
            &[-56, -1]
        );
        let ints = from_doubles(&[f64::NAN, 2.99], &DataType::Int32).unwrap();
        assert_eq!(
            ints.as_primitive::<arrow::datatypes::Int32Type>().values(),
            &[0, 2]
        );
        let longs = from_doubles(&[1e30], &DataType::Int64).unwrap();
        assert_eq!(longs.as_primitive::<Int64Type>().values(), &[i64::MAX]);
        // Decimals round at their scale and are NULL past their precision.
        let decimals = from_doubles(&[1.004, 2.346, 123.0], &DataType::Decimal128(4, 2)).unwrap();
        let decimals = decimals.as_primitive::<arrow::datatypes::Decimal128Type>();
        assert_eq!(
            decimals.iter().collect::<Vec<_>>(),
            [Some(100), Some(235), None]
        );
        // Nanosecond timestamps and durations go through microseconds, as
        // Spark keeps them; months stay months.
        for t in [
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            DataType::Duration(TimeUnit::Nanosecond),
            DataType::Interval(IntervalUnit::YearMonth),
            DataType::Date32,
        ] {
            let back = from_doubles(&[1200.0, 5.0], &t).unwrap();
            assert_eq!(back.data_type(), &t);
            let doubles = to_doubles(&back).unwrap();
            assert_eq!(doubles.values(), &[1200.0, 5.0], "{t}");
        }
    }

    #[test]
    fn nb_must_be_a_constant_of_at_least_two() {
        for (sql, error) in [
            ("histogram_numeric(col, 1)", "between 2 and"),
            ("histogram_numeric(col, col)", "constant"),
            ("histogram_numeric(col, CAST(NULL AS INT))", "NULL"),
        ] {
            let e = query_err(&format!("SELECT {sql} FROM VALUES (1), (2) AS tab(col)"));
            assert!(e.contains(error), "{sql}: {e}");
        }
    }
}
