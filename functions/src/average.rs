//! Spark's `avg`: DataFusion's, with a DECIMAL average rounded half up.
//!
//! DataFusion's `avg` already gives Spark's type for a DECIMAL(p, s) input,
//! DECIMAL(p + 4, s + 4), and averages other numbers as a DOUBLE (as Spark
//! does), but it truncates the decimal quotient where Spark rounds it half up
//! (TPC-H q1's `avg(l_discount)` differed from Spark in the last digit). The
//! wrapper asks DataFusion's accumulators for one more digit of scale and
//! rounds that digit away; the partial state (count and sum) and its merging
//! stay DataFusion's, so partial and final aggregation may run in different
//! processes unchanged.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, BooleanArray};
use arrow::datatypes::{DataType, Decimal128Type, Field, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::functions_aggregate::average::Avg;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator,
    ReversedUDAF, Signature,
};

/// Spark's `avg` (and its alias `mean`), registered under DataFusion's name.
pub(crate) fn avg() -> Arc<AggregateUDF> {
    Arc::new(AggregateUDF::from(SparkAvg { inner: Avg::new() }))
}

/// Spark's `avg`: [`Avg`] with a half-up rounded DECIMAL result.
#[derive(Debug, PartialEq, Eq, Hash)]
struct SparkAvg {
    inner: Avg,
}

/// Where a DECIMAL average needs rounding: the type DataFusion computes it
/// in (one more digit of scale) and the type Spark returns.
#[derive(Debug, Clone, Copy)]
struct Rounding {
    wide: (u8, i8),
    result: (u8, i8),
}

impl Rounding {
    /// `None` when the average needs no rounding (not a DECIMAL(38) input,
    /// DISTINCT) or there is no room for the extra digit: an input of more
    /// than 33 digits or scale over 33 keeps DataFusion's truncated average
    /// rather than risk an overflow Spark would not have.
    fn of(args: &AccumulatorArgs) -> Option<Rounding> {
        let (DataType::Decimal128(p, s), DataType::Decimal128(rp, rs)) = (
            args.expr_fields.first()?.data_type(),
            args.return_field.data_type(),
        ) else {
            return None;
        };
        if args.is_distinct || *p > 33 || *s > 33 || *s < 0 {
            return None;
        }
        Some(Rounding {
            wide: (rp + 1, rs + 1),
            result: (*rp, *rs),
        })
    }

    /// The accumulator arguments with the wider result type.
    fn widen<'a>(&self, args: AccumulatorArgs<'a>) -> AccumulatorArgs<'a> {
        let field = args.return_field.as_ref().clone();
        let wide = DataType::Decimal128(self.wide.0, self.wide.1);
        AccumulatorArgs {
            return_field: Arc::new(Field::new(field.name(), wide, field.is_nullable())),
            ..args
        }
    }

    /// A wide average as Spark's: the last digit rounded half up (away from
    /// zero). Rounding the truncated wide quotient equals rounding the exact
    /// one, since truncation keeps the digit that decides.
    fn round(wide: i128) -> i128 {
        let (q, r) = (wide / 10, wide % 10);
        match r {
            5.. => q + 1,
            ..=-5 => q - 1,
            _ => q,
        }
    }

    fn scalar(&self, value: ScalarValue) -> ScalarValue {
        match value {
            ScalarValue::Decimal128(v, _, _) => {
                ScalarValue::Decimal128(v.map(Self::round), self.result.0, self.result.1)
            }
            other => other,
        }
    }

    fn array(&self, values: ArrayRef) -> Result<ArrayRef> {
        let Some(wide) = values.as_primitive_opt::<Decimal128Type>() else {
            return Ok(values);
        };
        let rounded = wide
            .unary::<_, Decimal128Type>(Self::round)
            .with_precision_and_scale(self.result.0, self.result.1)?;
        Ok(Arc::new(rounded))
    }
}

impl AggregateUDFImpl for SparkAvg {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        match Rounding::of(&args) {
            Some(rounding) => Ok(Box::new(RoundedAccumulator {
                inner: self.inner.accumulator(rounding.widen(args))?,
                rounding,
            })),
            None => self.inner.accumulator(args),
        }
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        // The state is a count and a sum of the input's type: the result
        // type does not enter it.
        self.inner.state_fields(args)
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        self.inner.groups_accumulator_supported(args)
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        match Rounding::of(&args) {
            Some(rounding) => Ok(Box::new(RoundedGroupsAccumulator {
                inner: self.inner.create_groups_accumulator(rounding.widen(args))?,
                rounding,
            })),
            None => self.inner.create_groups_accumulator(args),
        }
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

/// DataFusion's decimal average accumulator, rounded on evaluation.
#[derive(Debug)]
struct RoundedAccumulator {
    inner: Box<dyn Accumulator>,
    rounding: Rounding,
}

impl Accumulator for RoundedAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.inner.update_batch(values)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(self.rounding.scalar(self.inner.evaluate()?))
    }

    fn size(&self) -> usize {
        self.inner.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.inner.state()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.inner.merge_batch(states)
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.inner.retract_batch(values)
    }

    fn supports_retract_batch(&self) -> bool {
        self.inner.supports_retract_batch()
    }
}

/// DataFusion's decimal average groups accumulator, rounded on evaluation.
struct RoundedGroupsAccumulator {
    inner: Box<dyn GroupsAccumulator>,
    rounding: Rounding,
}

impl GroupsAccumulator for RoundedGroupsAccumulator {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.inner
            .update_batch(values, group_indices, opt_filter, total_num_groups)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        self.rounding.array(self.inner.evaluate(emit_to)?)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        self.inner.state(emit_to)
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.inner
            .merge_batch(values, group_indices, total_num_groups)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        self.inner.convert_to_state(values, opt_filter)
    }

    fn size(&self) -> usize {
        self.inner.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Decimal128Array;
    use arrow::datatypes::Schema;

    #[test]
    fn the_last_digit_rounds_half_up_away_from_zero() {
        assert_eq!(Rounding::round(499_965), 49_997);
        assert_eq!(Rounding::round(499_964), 49_996);
        assert_eq!(Rounding::round(-499_965), -49_997);
        assert_eq!(Rounding::round(-499_964), -49_996);
        assert_eq!(Rounding::round(0), 0);
    }

    fn average(values: &[i128], groups: bool) -> ScalarValue {
        let input = DataType::Decimal128(15, 2);
        let fields = [Arc::new(Field::new("x", input.clone(), true))];
        let schema = Schema::new(vec![Field::new("x", input.clone(), true)]);
        let exprs = [datafusion::physical_expr::expressions::col("x", &schema).unwrap()];
        let avg = SparkAvg { inner: Avg::new() };
        let result = avg.return_type(&[input]).unwrap();
        let args = || AccumulatorArgs {
            return_field: Arc::new(Field::new("avg", result.clone(), true)),
            schema: &schema,
            ignore_nulls: false,
            order_bys: &[],
            is_reversed: false,
            name: "avg(x)",
            is_distinct: false,
            exprs: &exprs,
            expr_fields: &fields,
        };
        let column: ArrayRef = Arc::new(
            Decimal128Array::from(values.to_vec())
                .with_precision_and_scale(15, 2)
                .unwrap(),
        );
        if groups {
            let mut acc = avg.create_groups_accumulator(args()).unwrap();
            acc.update_batch(&[column], &vec![0; values.len()], None, 1)
                .unwrap();
            ScalarValue::try_from_array(&acc.evaluate(EmitTo::All).unwrap(), 0).unwrap()
        } else {
            let mut acc = avg.accumulator(args()).unwrap();
            acc.update_batch(&[column]).unwrap();
            acc.evaluate().unwrap()
        }
    }

    #[test]
    fn decimal_averages_round_as_sparks_do() {
        // (0.01 + 0.02 + 0.02) / 3 = 0.0166666.. -> 0.016667 (DataFusion: 0.016666)
        for groups in [false, true] {
            assert_eq!(
                average(&[1, 2, 2], groups),
                ScalarValue::Decimal128(Some(16_667), 19, 6),
                "groups accumulator: {groups}"
            );
            assert_eq!(
                average(&[-1, -2, -2], groups),
                ScalarValue::Decimal128(Some(-16_667), 19, 6)
            );
        }
    }
}
