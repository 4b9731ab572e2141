//! Spark's DataSketches functions: HyperLogLog (`hll_*`), Theta
//! (`theta_*`), KLL quantiles (`kll_*`) and Tuple sketches (`tuple_*`);
//! and Spark's own summaries of the same shape: `count_min_sketch` and
//! the bitmap aggregates (`bitmap_*_agg`).
//!
//! Spark keeps these sketches as BINARY values in Apache DataSketches'
//! serialised formats; Kiln computes them with the `datasketches` crate
//! (Apache DataSketches for Rust), hashing values as DataSketches Java does
//! (integers widened to 64 bits, doubles canonicalised, strings as their
//! UTF-8 bytes) so that estimates match Spark's. This module owns the
//! function list; [`plumbing`] and [`scalar`] are the DataFusion side
//! ([`shared`] what they share with the families): the aggregates'
//! state is the sketch's own bytes, so partial aggregates travel between
//! executors as the same BINARY values the functions return.

mod bitmap;
mod count_min;
mod hll;
mod keys;
mod kll;
mod kll_item;
mod kll_text;
mod plumbing;
mod scalar;
mod shared;
mod theta;
mod tuple;
mod tuple_ops;

use std::sync::Arc;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};

use bitmap::BitmapOp;
use plumbing::{AggKind, SketchAggregate};
use scalar::{ScalarKind, SketchScalar};

/// The item types of Spark's KLL functions (`_bigint`, `_float`, `_double`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum KllItem {
    Bigint,
    Float,
    Double,
}

impl KllItem {
    const ALL: [KllItem; 3] = [KllItem::Bigint, KllItem::Float, KllItem::Double];

    /// Spark's suffix of the function names.
    fn suffix(self) -> &'static str {
        match self {
            KllItem::Bigint => "bigint",
            KllItem::Float => "float",
            KllItem::Double => "double",
        }
    }
}

/// The summary types of Spark's Tuple functions (`_double`, `_integer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum SummaryType {
    Double,
    Integer,
}

impl SummaryType {
    const ALL: [SummaryType; 2] = [SummaryType::Double, SummaryType::Integer];

    /// Spark's suffix of the function names.
    fn suffix(self) -> &'static str {
        match self {
            SummaryType::Double => "double",
            SummaryType::Integer => "integer",
        }
    }
}

/// The scalar sketch functions.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    let mut kinds = vec![
        ScalarKind::HllEstimate,
        ScalarKind::HllUnion,
        ScalarKind::ThetaEstimate,
        ScalarKind::ThetaUnion,
        ScalarKind::ThetaIntersection,
        ScalarKind::ThetaDifference,
    ];
    for t in KllItem::ALL {
        kinds.extend([
            ScalarKind::KllN(t),
            ScalarKind::KllQuantile(t),
            ScalarKind::KllRank(t),
            ScalarKind::KllMerge(t),
            ScalarKind::KllToString(t),
        ]);
    }
    for s in SummaryType::ALL {
        kinds.extend([
            ScalarKind::TupleEstimate(s),
            ScalarKind::TupleSummary(s),
            ScalarKind::TupleTheta(s),
            ScalarKind::TupleUnion(s),
            ScalarKind::TupleIntersection(s),
            ScalarKind::TupleDifference(s),
            ScalarKind::TupleUnionTheta(s),
            ScalarKind::TupleIntersectionTheta(s),
            ScalarKind::TupleDifferenceTheta(s),
        ]);
    }
    kinds
        .into_iter()
        .map(|k| Arc::new(ScalarUDF::new_from_impl(SketchScalar::new(k))))
        .collect()
}

/// The aggregate sketch functions.
pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    let mut kinds = vec![
        AggKind::HllSketch,
        AggKind::HllUnion,
        AggKind::ThetaSketch,
        AggKind::ThetaUnion,
        AggKind::ThetaIntersection,
    ];
    for t in KllItem::ALL {
        kinds.extend([AggKind::KllSketch(t), AggKind::KllMerge(t)]);
    }
    for s in SummaryType::ALL {
        kinds.extend([
            AggKind::TupleSketch(s),
            AggKind::TupleUnion(s),
            AggKind::TupleIntersection(s),
        ]);
    }
    kinds.extend([
        AggKind::Bitmap(BitmapOp::Construct),
        AggKind::Bitmap(BitmapOp::Or),
        AggKind::Bitmap(BitmapOp::And),
        AggKind::CountMin,
    ]);
    kinds
        .into_iter()
        .map(|k| Arc::new(AggregateUDF::new_from_impl(SketchAggregate::new(k))))
        .collect()
}
