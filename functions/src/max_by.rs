//! Spark's `max_by(x, y[, k])` and `min_by(x, y[, k])`: the `x` of the row
//! with the largest (smallest) `y`, or with `k` an array of the `x` of the
//! `k` rows with the largest (smallest) `y`, in that order; rows whose `y`
//! is NULL left out.

use std::cmp::Ordering;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};
use datafusion::physical_expr::expressions::Literal;

/// The aggregate functions of this module.
pub fn functions() -> Vec<Arc<AggregateUDF>> {
    [true, false]
        .into_iter()
        .map(|largest| {
            Arc::new(AggregateUDF::new_from_impl(ExtremeBy {
                largest,
                signature: Signature::user_defined(Volatility::Immutable),
            }))
        })
        .collect()
}

/// `max_by` or (not `largest`) `min_by`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ExtremeBy {
    largest: bool,
    signature: Signature,
}

fn list_of(t: &DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(t.clone(), true)))
}

impl AggregateUDFImpl for ExtremeBy {
    fn name(&self) -> &str {
        if self.largest {
            "max_by"
        } else {
            "min_by"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [x, y] => Ok(vec![x.clone(), y.clone()]),
            [x, y, k] if k.is_integer() => Ok(vec![x.clone(), y.clone(), DataType::Int64]),
            _ => plan_err!(
                "{} takes a value, an ordering and an optional INT count, got ({arg_types:?})",
                self.name()
            ),
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [x, _] => Ok(x.clone()),
            [x, _, _] => Ok(list_of(x)),
            _ => plan_err!("{} takes two or three arguments", self.name()),
        }
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let (k, as_array) = match acc_args.exprs.get(2) {
            None => (1, false),
            Some(e) => match e.downcast_ref::<Literal>().map(|l| l.value()) {
                Some(ScalarValue::Int64(Some(k))) if *k > 0 => (*k as usize, true),
                Some(other) => {
                    return exec_err!(
                        "{}: the count must be a positive INT, got {other}",
                        self.name()
                    )
                }
                None => return exec_err!("{}: the count must be a constant", self.name()),
            },
        };
        let field = |i: usize| acc_args.expr_fields.get(i).map(|f| f.data_type().clone());
        Ok(Box::new(Extremes {
            largest: self.largest,
            k,
            as_array,
            x_type: field(0).unwrap_or(DataType::Null),
            y_type: field(1).unwrap_or(DataType::Null),
            kept: vec![],
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let t = |i: usize| {
            args.input_fields
                .get(i)
                .map_or(DataType::Null, |f| f.data_type().clone())
        };
        Ok(vec![
            Arc::new(Field::new(
                format!("{}[x]", args.name),
                list_of(&t(0)),
                true,
            )),
            Arc::new(Field::new(
                format!("{}[y]", args.name),
                list_of(&t(1)),
                true,
            )),
        ])
    }
}

/// The (y, x) pairs kept so far, the best first once trimmed.
#[derive(Debug)]
struct Extremes {
    largest: bool,
    k: usize,
    as_array: bool,
    x_type: DataType,
    y_type: DataType,
    kept: Vec<(ScalarValue, ScalarValue)>,
}

impl Extremes {
    fn order(&self, a: &ScalarValue, b: &ScalarValue) -> Ordering {
        let o = a.partial_cmp(b).unwrap_or(Ordering::Equal);
        if self.largest {
            o.reverse()
        } else {
            o
        }
    }

    /// Keeps the best `k` pairs (stable: earlier rows win ties).
    fn trim(&mut self) {
        let mut kept = std::mem::take(&mut self.kept);
        kept.sort_by(|a, b| self.order(&a.0, &b.0));
        kept.truncate(self.k);
        self.kept = kept;
    }

    fn add(&mut self, xs: &dyn Array, ys: &dyn Array) -> Result<()> {
        for i in 0..ys.len() {
            if ys.is_valid(i) {
                self.kept.push((
                    ScalarValue::try_from_array(ys, i)?,
                    ScalarValue::try_from_array(xs, i)?,
                ));
            }
        }
        if self.kept.len() > self.k.saturating_mul(4).max(64) {
            self.trim();
        }
        Ok(())
    }
}

impl Accumulator for Extremes {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.add(values[0].as_ref(), values[1].as_ref())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (xs, ys) = (states[0].as_list::<i32>(), states[1].as_list::<i32>());
        for row in 0..xs.len() {
            if xs.is_valid(row) && ys.is_valid(row) {
                self.add(xs.value(row).as_ref(), ys.value(row).as_ref())?;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.trim();
        let xs: Vec<ScalarValue> = self.kept.iter().map(|(_, x)| x.clone()).collect();
        let ys: Vec<ScalarValue> = self.kept.iter().map(|(y, _)| y.clone()).collect();
        Ok(vec![
            ScalarValue::List(ScalarValue::new_list_nullable(&xs, &self.x_type)),
            ScalarValue::List(ScalarValue::new_list_nullable(&ys, &self.y_type)),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.trim();
        if self.as_array {
            let xs: Vec<ScalarValue> = self.kept.iter().map(|(_, x)| x.clone()).collect();
            return Ok(ScalarValue::List(ScalarValue::new_list_nullable(
                &xs,
                &self.x_type,
            )));
        }
        match self.kept.first() {
            Some((_, x)) => Ok(x.clone()),
            None => ScalarValue::try_from(&self.x_type),
        }
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self
                .kept
                .iter()
                .map(|(y, x)| y.size() + x.size())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::*;

    #[test]
    fn extremes_by_an_ordering() {
        assert_eq!(
            query("SELECT max_by(x, y), min_by(x, y), max_by(x, y, 2), min_by(x, y, 9) FROM (VALUES ('a', 10), ('b', 50), ('c', 20), ('d', NULL)) AS t(x, y)"),
            vec!["b|a|[b, c]|[a, c, b]"]
        );
    }
}
