//! The scalar sketch functions' DataFusion side: one UDF type told apart
//! by [`ScalarKind`], with Spark's names, argument types, defaults and
//! result types; a row's answer comes from the family's module.

use arrow::datatypes::DataType;
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::shared::{binary_type, kll_item_type, lg_default, mode_default, Params};
use super::{hll, kll, theta, tuple_ops, KllItem, SummaryType};
use crate::args::Arrays;

/// The scalar sketch functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum ScalarKind {
    HllEstimate,
    HllUnion,
    ThetaEstimate,
    ThetaUnion,
    ThetaIntersection,
    ThetaDifference,
    KllN(KllItem),
    KllQuantile(KllItem),
    KllRank(KllItem),
    KllMerge(KllItem),
    KllToString(KllItem),
    TupleEstimate(SummaryType),
    TupleSummary(SummaryType),
    TupleTheta(SummaryType),
    TupleUnion(SummaryType),
    TupleIntersection(SummaryType),
    TupleDifference(SummaryType),
    TupleUnionTheta(SummaryType),
    TupleIntersectionTheta(SummaryType),
    TupleDifferenceTheta(SummaryType),
}

/// The scalar UDF of every scalar sketch function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct SketchScalar {
    kind: ScalarKind,
    name: String,
    signature: Signature,
}

impl ScalarKind {
    fn name(self) -> String {
        use ScalarKind::*;
        match self {
            HllEstimate => "hll_sketch_estimate".into(),
            HllUnion => "hll_union".into(),
            ThetaEstimate => "theta_sketch_estimate".into(),
            ThetaUnion => "theta_union".into(),
            ThetaIntersection => "theta_intersection".into(),
            ThetaDifference => "theta_difference".into(),
            KllN(t) => format!("kll_sketch_get_n_{}", t.suffix()),
            KllQuantile(t) => format!("kll_sketch_get_quantile_{}", t.suffix()),
            KllRank(t) => format!("kll_sketch_get_rank_{}", t.suffix()),
            KllMerge(t) => format!("kll_sketch_merge_{}", t.suffix()),
            KllToString(t) => format!("kll_sketch_to_string_{}", t.suffix()),
            TupleEstimate(s) => format!("tuple_sketch_estimate_{}", s.suffix()),
            TupleSummary(s) => format!("tuple_sketch_summary_{}", s.suffix()),
            TupleTheta(s) => format!("tuple_sketch_theta_{}", s.suffix()),
            TupleUnion(s) => format!("tuple_union_{}", s.suffix()),
            TupleIntersection(s) => format!("tuple_intersection_{}", s.suffix()),
            TupleDifference(s) => format!("tuple_difference_{}", s.suffix()),
            TupleUnionTheta(s) => format!("tuple_union_theta_{}", s.suffix()),
            TupleIntersectionTheta(s) => format!("tuple_intersection_theta_{}", s.suffix()),
            TupleDifferenceTheta(s) => format!("tuple_difference_theta_{}", s.suffix()),
        }
    }

    fn params(self) -> Params {
        use DataType::*;
        use ScalarKind::*;
        let one = || Params::new(vec![Binary], vec![]);
        let two = || Params::new(vec![Binary, Binary], vec![]);
        match self {
            HllEstimate | ThetaEstimate | KllN(_) | KllToString(_) | TupleEstimate(_)
            | TupleTheta(_) => one(),
            HllUnion => Params::new(vec![Binary, Binary], vec![(Boolean, false.into())]),
            ThetaUnion => Params::new(vec![Binary, Binary], vec![(Int32, lg_default())]),
            ThetaIntersection
            | ThetaDifference
            | KllMerge(_)
            | TupleDifference(_)
            | TupleDifferenceTheta(_) => two(),
            KllQuantile(_) => Params::new(vec![Binary, Float64], vec![]),
            KllRank(t) => Params::new(vec![Binary, kll_item_type(t)], vec![]),
            TupleSummary(_) => Params::new(vec![Binary], vec![(Utf8, mode_default())]),
            TupleUnion(_) | TupleUnionTheta(_) => Params::new(
                vec![Binary, Binary],
                vec![(Int32, lg_default()), (Utf8, mode_default())],
            ),
            TupleIntersection(_) | TupleIntersectionTheta(_) => {
                Params::new(vec![Binary, Binary], vec![(Utf8, mode_default())])
            }
        }
    }

    fn return_type(self) -> DataType {
        use ScalarKind::*;
        match self {
            HllEstimate | ThetaEstimate | KllN(_) => DataType::Int64,
            KllQuantile(t) => kll_item_type(t),
            KllRank(_) | TupleEstimate(_) | TupleTheta(_) => DataType::Float64,
            KllToString(_) => DataType::Utf8,
            TupleSummary(SummaryType::Double) => DataType::Float64,
            TupleSummary(SummaryType::Integer) => DataType::Int64,
            HllUnion
            | ThetaUnion
            | ThetaIntersection
            | ThetaDifference
            | KllMerge(_)
            | TupleUnion(_)
            | TupleIntersection(_)
            | TupleDifference(_)
            | TupleUnionTheta(_)
            | TupleIntersectionTheta(_)
            | TupleDifferenceTheta(_) => DataType::Binary,
        }
    }

    /// The answer for one row of non-NULL arguments (defaults filled in).
    fn eval(self, name: &str, args: &[ScalarValue]) -> Result<ScalarValue> {
        use ScalarKind::*;
        match self {
            HllEstimate => hll::estimate(name, bytes_arg(args, 0)?),
            HllUnion => hll::union(name, bytes_arg(args, 0)?, bytes_arg(args, 1)?, &args[2]),
            ThetaEstimate => theta::estimate(name, bytes_arg(args, 0)?),
            ThetaUnion => theta::union(name, bytes_arg(args, 0)?, bytes_arg(args, 1)?, &args[2]),
            ThetaIntersection => {
                theta::intersection(name, bytes_arg(args, 0)?, bytes_arg(args, 1)?)
            }
            ThetaDifference => theta::difference(name, bytes_arg(args, 0)?, bytes_arg(args, 1)?),
            KllN(t) => kll::get_n(name, t, bytes_arg(args, 0)?),
            KllQuantile(t) => kll::get_quantile(name, t, bytes_arg(args, 0)?, &args[1]),
            KllRank(t) => kll::get_rank(name, t, bytes_arg(args, 0)?, &args[1]),
            KllMerge(t) => kll::merge(name, t, bytes_arg(args, 0)?, bytes_arg(args, 1)?),
            KllToString(t) => kll::to_string(name, t, bytes_arg(args, 0)?),
            TupleEstimate(s) => tuple_ops::estimate(name, s, bytes_arg(args, 0)?),
            TupleSummary(s) => tuple_ops::summary(name, s, bytes_arg(args, 0)?, &args[1]),
            TupleTheta(s) => tuple_ops::theta(name, s, bytes_arg(args, 0)?),
            TupleUnion(s) | TupleUnionTheta(s) => tuple_ops::union(
                name,
                s,
                bytes_arg(args, 0)?,
                bytes_arg(args, 1)?,
                matches!(self, TupleUnionTheta(_)),
                &args[2..],
            ),
            TupleIntersection(s) | TupleIntersectionTheta(s) => tuple_ops::intersection(
                name,
                s,
                bytes_arg(args, 0)?,
                bytes_arg(args, 1)?,
                matches!(self, TupleIntersectionTheta(_)),
                &args[2],
            ),
            TupleDifference(s) | TupleDifferenceTheta(s) => tuple_ops::difference(
                name,
                s,
                bytes_arg(args, 0)?,
                bytes_arg(args, 1)?,
                matches!(self, TupleDifferenceTheta(_)),
            ),
        }
    }
}

/// Argument `i` of a row, a sketch's bytes.
fn bytes_arg(args: &[ScalarValue], i: usize) -> Result<&[u8]> {
    match args.get(i) {
        Some(ScalarValue::Binary(Some(b))) => Ok(b),
        other => exec_err!(
            "expected a BINARY sketch as argument {}, got {other:?}",
            i + 1
        ),
    }
}

impl SketchScalar {
    pub(super) fn new(kind: ScalarKind) -> Self {
        SketchScalar {
            kind,
            name: kind.name(),
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for SketchScalar {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let types = self.kind.params().coerce(&self.name, arg_types)?;
        for (given, wanted) in arg_types.iter().zip(&types) {
            if *wanted == DataType::Binary {
                binary_type(&self.name, given)?;
            }
        }
        Ok(types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.kind.return_type())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let input = Arrays::new(&args.args, args.number_rows)?;
        let params = self.kind.params();
        let defaults: Vec<ScalarValue> = params
            .optional
            .iter()
            .skip(input.arrays.len() - params.required.len())
            .map(|(_, d)| d.clone())
            .collect();
        let return_type = self.kind.return_type();
        let null = ScalarValue::try_from(&return_type)?;
        let mut out = Vec::with_capacity(input.rows);
        for row in 0..input.rows {
            let mut values = input
                .arrays
                .iter()
                .map(|a| ScalarValue::try_from_array(a, row))
                .collect::<Result<Vec<_>>>()?;
            if values.iter().any(ScalarValue::is_null) {
                out.push(null.clone());
                continue;
            }
            values.extend(defaults.iter().cloned());
            out.push(self.kind.eval(&self.name, &values)?);
        }
        let array = if out.is_empty() {
            arrow::array::new_empty_array(&return_type)
        } else {
            ScalarValue::iter_to_array(out)?
        };
        input.answer(array)
    }
}
