//! Spark's `product(x)` (the DOUBLE product of the non-NULL values) and
//! `mode(x[, deterministic])` (the most frequent non-NULL value; among
//! equally frequent ones Kiln answers the smallest, which is Spark's
//! answer when `deterministic` is true and one of its answers otherwise).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type};
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

/// The aggregate functions of this module.
pub fn functions() -> Vec<Arc<AggregateUDF>> {
    vec![
        Arc::new(AggregateUDF::new_from_impl(Product {
            signature: Signature::user_defined(Volatility::Immutable),
        })),
        Arc::new(AggregateUDF::new_from_impl(Mode {
            signature: Signature::user_defined(Volatility::Immutable),
        })),
    ]
}

/// `product(x)`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Product {
    signature: Signature,
}

impl AggregateUDFImpl for Product {
    fn name(&self) -> &str {
        "product"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [t] if t.is_numeric() || t.is_null() => Ok(vec![DataType::Float64]),
            _ => exec_err!("product takes one number, got {arg_types:?}"),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn accumulator(&self, _acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(ProductOf { product: None }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[product]", args.name),
            DataType::Float64,
            true,
        ))])
    }
}

/// The product so far (None: no value yet).
#[derive(Debug)]
struct ProductOf {
    product: Option<f64>,
}

impl ProductOf {
    fn times(&mut self, values: &ArrayRef) -> Result<()> {
        let values = cast(values, &DataType::Float64)?;
        for v in values.as_primitive::<Float64Type>().iter().flatten() {
            self.product = Some(self.product.unwrap_or(1.0) * v);
        }
        Ok(())
    }
}

impl Accumulator for ProductOf {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.times(&values[0])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.times(&states[0])
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Float64(self.product)])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(self.product))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

/// `mode(x[, deterministic])`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Mode {
    signature: Signature,
}

impl AggregateUDFImpl for Mode {
    fn name(&self) -> &str {
        "mode"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [t] => Ok(vec![t.clone()]),
            [t, DataType::Boolean | DataType::Null] => Ok(vec![t.clone(), DataType::Boolean]),
            _ => exec_err!("mode takes a column and an optional BOOLEAN, got {arg_types:?}"),
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types.first() {
            Some(t) => Ok(t.clone()),
            None => exec_err!("mode takes a column"),
        }
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Counts {
            data_type: acc_args.return_field.data_type().clone(),
            counts: HashMap::new(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = |t: DataType| DataType::List(Arc::new(Field::new_list_field(t, true)));
        Ok(vec![
            Arc::new(Field::new(
                format!("{}[values]", args.name),
                list(args.return_field.data_type().clone()),
                true,
            )),
            Arc::new(Field::new(
                format!("{}[counts]", args.name),
                list(DataType::Int64),
                true,
            )),
        ])
    }
}

/// How often each non-NULL value was seen.
#[derive(Debug)]
struct Counts {
    data_type: DataType,
    counts: HashMap<ScalarValue, i64>,
}

impl Accumulator for Counts {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let v = &values[0];
        for i in 0..v.len() {
            if v.is_valid(i) {
                *self
                    .counts
                    .entry(ScalarValue::try_from_array(v, i)?)
                    .or_insert(0) += 1;
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (values, counts) = (states[0].as_list::<i32>(), states[1].as_list::<i32>());
        for row in 0..values.len() {
            if values.is_null(row) || counts.is_null(row) {
                continue;
            }
            let (vs, cs) = (values.value(row), counts.value(row));
            let cs = cs.as_primitive::<Int64Type>();
            for i in 0..vs.len() {
                let v = ScalarValue::try_from_array(&vs, i)?;
                *self.counts.entry(v).or_insert(0) += cs.value(i);
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let (values, counts): (Vec<_>, Vec<_>) = self
            .counts
            .iter()
            .map(|(v, c)| (v.clone(), ScalarValue::Int64(Some(*c))))
            .unzip();
        Ok(vec![
            ScalarValue::List(ScalarValue::new_list_nullable(&values, &self.data_type)),
            ScalarValue::List(ScalarValue::new_list_nullable(&counts, &DataType::Int64)),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let mut best: Option<(&ScalarValue, i64)> = None;
        for (v, c) in &self.counts {
            let better = match best {
                None => true,
                Some((b, bc)) => {
                    *c > bc || (*c == bc && v.partial_cmp(b) == Some(std::cmp::Ordering::Less))
                }
            };
            if better {
                best = Some((v, *c));
            }
        }
        match best {
            Some((v, _)) => Ok(v.clone()),
            None => ScalarValue::try_from(&self.data_type),
        }
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self
                .counts
                .keys()
                .map(|k| k.size() + std::mem::size_of::<i64>())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::*;

    #[test]
    fn product_and_mode_by_group() {
        assert_eq!(
            query(
                "SELECT k, product(v), mode(v) FROM (VALUES (1, 2), (1, 3), (1, 3), (2, NULL), (3, 5), (3, 4)) AS t(k, v) GROUP BY k ORDER BY k"
            ),
            vec!["1|18.0|3", "2|NULL|NULL", "3|20.0|4"]
        );
    }
}
