//! The scalar Tuple sketch functions of Spark:
//! `tuple_sketch_estimate_*`, `tuple_sketch_summary_*`,
//! `tuple_sketch_theta_*`, and the set operations `tuple_union_*`,
//! `tuple_intersection_*`, `tuple_difference_*` and their `_theta_`
//! forms, whose second sketch is a Theta sketch: its keys take the
//! mode's starting summary (Java's `new DoubleSummary(mode)`), as Spark
//! gives them.

use datafusion::common::{exec_err, Result, ScalarValue};
use datasketches::codec::SketchBytes;
use datasketches::theta::CompactThetaSketch;
use datasketches::tuple::{CompactTupleSketch, TupleANotB, TupleIntersection, TupleSummaryValue};

use super::theta::lg_nom;
use super::tuple::{read, union_of, Mode, ModePolicy, Number, Summary};
use super::{theta, SummaryType};

/// The Tuple sketch of a Theta sketch's keys, each with `summary`, built
/// through the compact Tuple format (the crate builds compact sketches
/// only from bytes or set operations).
fn theta_as_tuple<N: Number>(
    name: &str,
    sketch: &CompactThetaSketch,
    summary: Summary<N>,
) -> Result<CompactTupleSketch<Summary<N>>> {
    // Preamble: longs, serial version 3, family TUPLE (9), sketch type 1,
    // unused, flags, seed hash.
    const READ_ONLY_COMPACT_ORDERED: u8 = (1 << 1) | (1 << 3) | (1 << 4);
    const EMPTY: u8 = 1 << 2;
    let mut bytes = SketchBytes::with_capacity(24 + sketch.num_retained() * 17);
    if sketch.is_empty() {
        for b in [1, 3, 9, 1, 0, READ_ONLY_COMPACT_ORDERED | EMPTY, 0, 0] {
            bytes.write_u8(b);
        }
    } else {
        for b in [3, 3, 9, 1, 0, READ_ONLY_COMPACT_ORDERED] {
            bytes.write_u8(b);
        }
        bytes.write_u16_le(sketch.seed_hash());
        bytes.write_u32_le(sketch.num_retained() as u32);
        bytes.write_u32_le(0);
        bytes.write_u64_le(sketch.theta64());
        let mut hashes: Vec<u64> = sketch.iter().map(|e| e.hash()).collect();
        hashes.sort_unstable();
        for hash in hashes {
            bytes.write_u64_le(hash);
            summary.serialize_value(&mut bytes);
        }
    }
    read::<N>(name, &bytes.into_bytes())
}

/// The second sketch of a set operation: a Tuple sketch, or a Theta
/// sketch whose keys take the mode's starting summary.
fn second<N: Number>(
    name: &str,
    bytes: &[u8],
    is_theta: bool,
    mode: Mode,
) -> Result<CompactTupleSketch<Summary<N>>> {
    if is_theta {
        theta_as_tuple(name, &theta::read(name, bytes)?, Summary::new(mode))
    } else {
        read::<N>(name, bytes)
    }
}

fn binary(sketch: &CompactTupleSketch<Summary<impl Number>>) -> ScalarValue {
    ScalarValue::Binary(Some(sketch.serialize()))
}

/// Runs a generic body with `N` the summary number of `s`.
macro_rules! with_number {
    ($s:expr, $n:ident => $body:expr) => {
        match $s {
            SummaryType::Double => {
                type $n = f64;
                $body
            }
            SummaryType::Integer => {
                type $n = i32;
                $body
            }
        }
    };
}

/// `tuple_sketch_estimate_*(sketch)`.
pub(super) fn estimate(name: &str, s: SummaryType, bytes: &[u8]) -> Result<ScalarValue> {
    let e = with_number!(s, N => read::<N>(name, bytes)?.estimate());
    Ok(ScalarValue::Float64(Some(e)))
}

/// `tuple_sketch_theta_*(sketch)`: the sampling fraction theta.
pub(super) fn theta(name: &str, s: SummaryType, bytes: &[u8]) -> Result<ScalarValue> {
    let t = with_number!(s, N => read::<N>(name, bytes)?.theta());
    Ok(ScalarValue::Float64(Some(t)))
}

/// Folds the retained summaries by `mode`, as Spark's
/// `aggregateNumericSummaries`: a sum, a minimum or a maximum (0 when
/// there are none), or the count of keys for `alwaysone`.
fn fold(values: impl Iterator<Item = f64>, mode: Mode) -> f64 {
    let mut values = values.peekable();
    if values.peek().is_none() && matches!(mode, Mode::Min | Mode::Max) {
        return 0.0;
    }
    match mode {
        Mode::Sum => values.sum(),
        Mode::Min => values.fold(f64::INFINITY, f64::min),
        Mode::Max => values.fold(f64::NEG_INFINITY, f64::max),
        Mode::AlwaysOne => values.count() as f64,
    }
}

/// `tuple_sketch_summary_*(sketch[, mode])`.
pub(super) fn summary(
    name: &str,
    s: SummaryType,
    bytes: &[u8],
    mode: &ScalarValue,
) -> Result<ScalarValue> {
    let mode = Mode::parse(name, mode)?;
    Ok(match s {
        SummaryType::Double => {
            let sketch = read::<f64>(name, bytes)?;
            ScalarValue::Float64(Some(fold(sketch.iter().map(|e| e.summary().value), mode)))
        }
        SummaryType::Integer => {
            // Spark sums INTEGER summaries as BIGINTs: exact for any
            // number of keys a sketch retains.
            let sketch = read::<i32>(name, bytes)?;
            let values = sketch.iter().map(|e| i64::from(e.summary().value));
            let v = match mode {
                Mode::Sum => values.sum(),
                Mode::Min => values.min().unwrap_or(0),
                Mode::Max => values.max().unwrap_or(0),
                Mode::AlwaysOne => values.count() as i64,
            };
            ScalarValue::Int64(Some(v))
        }
    })
}

/// `tuple_union_*(a, b[, lgNomEntries[, mode]])` and
/// `tuple_union_theta_*`.
pub(super) fn union(
    name: &str,
    s: SummaryType,
    a: &[u8],
    b: &[u8],
    b_is_theta: bool,
    options: &[ScalarValue],
) -> Result<ScalarValue> {
    let lg = lg_nom(name, options.first())?;
    let mode = match options.get(1) {
        Some(m) => Mode::parse(name, m)?,
        None => Mode::Sum,
    };
    with_number!(s, N => {
        let first = read::<N>(name, a)?;
        let second = second::<N>(name, b, b_is_theta, mode)?;
        let mut union = union_of::<N>(name, lg, mode)?;
        union
            .update(&first)
            .and_then(|_| union.update(&second))
            .or_else(|e| exec_err!("{name}: {e}"))?;
        Ok(binary(&union.to_sketch(true)))
    })
}

/// `tuple_intersection_*(a, b[, mode])` and `tuple_intersection_theta_*`.
pub(super) fn intersection(
    name: &str,
    s: SummaryType,
    a: &[u8],
    b: &[u8],
    b_is_theta: bool,
    mode: &ScalarValue,
) -> Result<ScalarValue> {
    let mode = Mode::parse(name, mode)?;
    with_number!(s, N => {
        let first = read::<N>(name, a)?;
        let second = second::<N>(name, b, b_is_theta, mode)?;
        let mut intersection = TupleIntersection::new(ModePolicy::<N>::new(mode));
        intersection
            .update(&first)
            .and_then(|_| intersection.update(&second))
            .or_else(|e| exec_err!("{name}: {e}"))?;
        match intersection.to_sketch(true) {
            Some(r) => Ok(binary(&r)),
            None => exec_err!("{name}: the intersection has no result"),
        }
    })
}

/// `tuple_difference_*(a, b)` and `tuple_difference_theta_*`: the keys of
/// `a` (with their summaries) not in `b`.
pub(super) fn difference(
    name: &str,
    s: SummaryType,
    a: &[u8],
    b: &[u8],
    b_is_theta: bool,
) -> Result<ScalarValue> {
    with_number!(s, N => {
        let first = read::<N>(name, a)?;
        let second = second::<N>(name, b, b_is_theta, Mode::Sum)?;
        let d = TupleANotB::default()
            .compute(&first, &second, true)
            .or_else(|e| exec_err!("{name}: {e}"))?;
        Ok(binary(&d))
    })
}
