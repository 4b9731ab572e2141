//! The aggregate sketch functions' DataFusion side: one UDF type told
//! apart by [`AggKind`], with Spark's names, argument types and defaults;
//! the families' modules only compute on sketches.
//!
//! Aggregates keep a `SketchBuffer`; their state is one BINARY value, the
//! sketch's serialised bytes (empty when nothing was seen yet), so a
//! partial aggregate merges on another executor exactly as a sketch
//! column does.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef, Schema};
use datafusion::common::{plan_err, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, ColumnarValue, Signature, Volatility,
};

use super::bitmap::{BitmapAgg, BitmapOp};
use super::shared::{binary_type, lg_default, mode_default, Params, SketchBuffer};
use super::{count_min, hll, kll, theta, tuple, KllItem, SummaryType};

/// The aggregate sketch functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum AggKind {
    HllSketch,
    HllUnion,
    ThetaSketch,
    ThetaUnion,
    ThetaIntersection,
    KllSketch(KllItem),
    KllMerge(KllItem),
    TupleSketch(SummaryType),
    TupleUnion(SummaryType),
    TupleIntersection(SummaryType),
    Bitmap(BitmapOp),
    CountMin,
}

impl AggKind {
    fn name(self) -> String {
        match self {
            AggKind::HllSketch => "hll_sketch_agg".into(),
            AggKind::HllUnion => "hll_union_agg".into(),
            AggKind::ThetaSketch => "theta_sketch_agg".into(),
            AggKind::ThetaUnion => "theta_union_agg".into(),
            AggKind::ThetaIntersection => "theta_intersection_agg".into(),
            AggKind::KllSketch(t) => format!("kll_sketch_agg_{}", t.suffix()),
            AggKind::KllMerge(t) => format!("kll_merge_agg_{}", t.suffix()),
            AggKind::TupleSketch(s) => format!("tuple_sketch_agg_{}", s.suffix()),
            AggKind::TupleUnion(s) => format!("tuple_union_agg_{}", s.suffix()),
            AggKind::TupleIntersection(s) => format!("tuple_intersection_agg_{}", s.suffix()),
            AggKind::Bitmap(op) => op.name().into(),
            AggKind::CountMin => "count_min_sketch".into(),
        }
    }

    /// The parameters after the first (the values or sketches aggregated,
    /// whose type [`AggKind::coerce`] decides).
    fn params(self) -> Params {
        use DataType::*;
        match self {
            AggKind::HllSketch | AggKind::ThetaSketch | AggKind::ThetaUnion => {
                Params::new(vec![], vec![(Int32, lg_default())])
            }
            AggKind::HllUnion => Params::new(vec![], vec![(Boolean, ScalarValue::from(false))]),
            AggKind::ThetaIntersection => Params::new(vec![], vec![(Int32, lg_default())]),
            AggKind::KllSketch(_) | AggKind::KllMerge(_) => {
                Params::new(vec![], vec![(Int32, ScalarValue::Null)])
            }
            AggKind::TupleSketch(s) => Params::new(
                vec![tuple::summary_sql_type(s)],
                vec![(Int32, lg_default()), (Utf8, mode_default())],
            ),
            AggKind::TupleUnion(_) => {
                Params::new(vec![], vec![(Int32, lg_default()), (Utf8, mode_default())])
            }
            AggKind::TupleIntersection(_) => Params::new(vec![], vec![(Utf8, mode_default())]),
            AggKind::Bitmap(_) => Params::new(vec![], vec![]),
            // Spark's client always sends the seed (a random one when the
            // caller gives none); a missing argument is an error there.
            AggKind::CountMin => Params::new(
                vec![],
                vec![
                    (Float64, ScalarValue::Null),
                    (Float64, ScalarValue::Null),
                    (Int64, ScalarValue::Null),
                ],
            ),
        }
    }

    fn coerce(self, given: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name();
        let Some(first) = given.first() else {
            return plan_err!("{name} takes at least 1 argument, got 0");
        };
        let first = match self {
            AggKind::HllSketch => hll::input_type(&name, first)?,
            AggKind::ThetaSketch | AggKind::TupleSketch(_) => theta::key_type(&name, first)?,
            AggKind::KllSketch(t) => kll::input_type(&name, t, first)?,
            AggKind::CountMin => count_min::input_type(&name, first)?,
            AggKind::Bitmap(BitmapOp::Construct) => match first {
                t if t.is_integer() || *t == DataType::Null => DataType::Int64,
                t => return plan_err!("{name}: bit positions must be integers, got {t}"),
            },
            _ => binary_type(&name, first)?,
        };
        let mut types = vec![first];
        types.extend(self.params().coerce(&name, &given[1..])?);
        Ok(types)
    }
}

/// The aggregate UDF of every sketch aggregate.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct SketchAggregate {
    kind: AggKind,
    name: String,
    signature: Signature,
}

impl SketchAggregate {
    pub(super) fn new(kind: AggKind) -> Self {
        SketchAggregate {
            kind,
            name: kind.name(),
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// The constant arguments of an aggregate after its first, with the
/// defaults of those left out.
fn constants(kind: AggKind, args: &AccumulatorArgs) -> Result<Vec<ScalarValue>> {
    let params = kind.params();
    let empty = RecordBatch::new_empty(Arc::new(Schema::empty()));
    let mut out = Vec::new();
    let all = params.required.iter().map(|t| (t.clone(), None)).chain(
        params
            .optional
            .iter()
            .map(|(t, d)| (t.clone(), Some(d.clone()))),
    );
    // The required parameters after the first are columns (a tuple
    // sketch's summaries), not constants.
    let skip = params.required.len();
    for (i, (t, default)) in all.enumerate().skip(skip) {
        match (args.exprs.get(i + 1), default) {
            (Some(e), _) => match e.evaluate(&empty) {
                Ok(ColumnarValue::Scalar(s)) => out.push(s.cast_to(&t)?),
                _ => return plan_err!("{}: argument {} must be a constant", kind.name(), i + 2),
            },
            (None, Some(d)) => out.push(d),
            (None, None) => {}
        }
    }
    Ok(out)
}

impl AggregateUDFImpl for SketchAggregate {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.kind.coerce(arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Binary)
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let name = self.name.as_str();
        let consts = constants(self.kind, &acc_args)?;
        let buffer: Box<dyn SketchBuffer> = match self.kind {
            AggKind::HllSketch => Box::new(hll::SketchAgg::new(name, &consts)?),
            AggKind::HllUnion => Box::new(hll::UnionAgg::new(name, &consts)?),
            AggKind::ThetaSketch => Box::new(theta::SketchAgg::new(name, &consts)?),
            AggKind::ThetaUnion => Box::new(theta::UnionAgg::new(name, &consts)?),
            AggKind::ThetaIntersection => Box::new(theta::IntersectionAgg::new(name)),
            AggKind::KllSketch(t) => kll::sketch_agg(name, t, &consts)?,
            AggKind::KllMerge(t) => kll::merge_agg(name, t, &consts)?,
            AggKind::TupleSketch(s) => tuple::sketch_agg(name, s, &consts)?,
            AggKind::TupleUnion(s) => tuple::union_agg(name, s, &consts)?,
            AggKind::TupleIntersection(s) => tuple::intersection_agg(name, s, &consts)?,
            AggKind::Bitmap(op) => Box::new(BitmapAgg::new(op)),
            AggKind::CountMin => Box::new(count_min::CountMin::new(name, &consts)?),
        };
        Ok(Box::new(SketchAccumulator { buffer }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[sketch]", args.name),
            DataType::Binary,
            true,
        ))])
    }
}

/// What an accumulator reports as its sketch's memory.
const SKETCH_SIZE_ESTIMATE: usize = 16 * 1024;

/// The accumulator of every sketch aggregate.
#[derive(Debug)]
struct SketchAccumulator {
    buffer: Box<dyn SketchBuffer>,
}

impl Accumulator for SketchAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.buffer.update(values)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let Some(states) = states.first() else {
            return Ok(());
        };
        let states = cast(states, &DataType::Binary)?;
        for state in states.as_binary::<i32>().iter().flatten() {
            if !state.is_empty() {
                self.buffer.add_sketch(state)?;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Binary(Some(self.buffer.state()?))])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Binary(Some(self.buffer.result()?)))
    }

    fn size(&self) -> usize {
        // Called after every batch, so not measured by serialising: the
        // sketches are bounded by their K, a few KiB at the defaults.
        std::mem::size_of_val(self) + SKETCH_SIZE_ESTIMATE
    }
}
