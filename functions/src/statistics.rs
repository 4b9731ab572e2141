//! Spark's `skewness` and `kurtosis` aggregates: the population skewness
//! `sqrt(n) * m3 / m2^1.5` and excess kurtosis `n * m4 / m2^2 - 3` of the
//! non-NULL values, as DOUBLEs; NULL with no values or when they are all
//! equal (Spark's answer to its zero divisor).
//!
//! Central moments are kept as running sums (n, mean, m2, m3, m4), updated
//! one value at a time and merged across partitions with the pairwise
//! formulas.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

/// The aggregate functions of this module.
pub fn functions() -> Vec<Arc<AggregateUDF>> {
    [true, false]
        .into_iter()
        .map(|skewness| {
            Arc::new(AggregateUDF::new_from_impl(Moment {
                skewness,
                signature: Signature::user_defined(Volatility::Immutable),
            }))
        })
        .collect()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Moment {
    /// `skewness`, else `kurtosis`.
    skewness: bool,
    signature: Signature,
}

impl AggregateUDFImpl for Moment {
    fn name(&self) -> &str {
        if self.skewness {
            "skewness"
        } else {
            "kurtosis"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [t] if t.is_numeric()
                || *t == DataType::Null
                || matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) =>
            {
                Ok(vec![DataType::Float64])
            }
            _ => exec_err!("{} takes one number, got {arg_types:?}", self.name()),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn accumulator(&self, _acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Moments {
            skewness: self.skewness,
            ..Default::default()
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(["n", "mean", "m2", "m3", "m4"]
            .iter()
            .map(|part| {
                Arc::new(Field::new(
                    format!("{}[{part}]", args.name),
                    DataType::Float64,
                    true,
                ))
            })
            .collect())
    }
}

/// Running central moments of the values seen.
#[derive(Debug, Default)]
struct Moments {
    skewness: bool,
    n: f64,
    mean: f64,
    m2: f64,
    m3: f64,
    m4: f64,
}

impl Moments {
    fn add(&mut self, x: f64) {
        let n = self.n + 1.0;
        let delta = x - self.mean;
        let delta_n = delta / n;
        let m2 = self.m2 + delta * (delta - delta_n);
        let (delta2, delta_n2) = (delta * delta, delta_n * delta_n);
        let m3 = self.m3 - 3.0 * delta_n * m2 + delta * (delta2 - delta_n2);
        let m4 = self.m4 - 4.0 * delta_n * m3 - 6.0 * delta_n2 * m2
            + delta * (delta * delta2 - delta_n * delta_n2);
        *self = Moments {
            skewness: self.skewness,
            n,
            mean: self.mean + delta_n,
            m2,
            m3,
            m4,
        };
    }

    fn merge(&mut self, o: &Moments) {
        if o.n == 0.0 {
            return;
        }
        if self.n == 0.0 {
            *self = Moments {
                skewness: self.skewness,
                ..*o
            };
            return;
        }
        let (n1, n2) = (self.n, o.n);
        let n = n1 + n2;
        let delta = o.mean - self.mean;
        let delta_n = delta / n;
        let m2 = self.m2 + o.m2 + delta * delta_n * n1 * n2;
        let m3 = self.m3
            + o.m3
            + delta_n * delta_n * delta * n1 * n2 * (n1 - n2)
            + 3.0 * delta_n * (n1 * o.m2 - n2 * self.m2);
        let m4 = self.m4
            + o.m4
            + delta_n * delta_n * delta_n * delta * n1 * n2 * (n1 * n1 - n1 * n2 + n2 * n2)
            + 6.0 * delta_n * delta_n * (n1 * n1 * o.m2 + n2 * n2 * self.m2)
            + 4.0 * delta_n * (n1 * o.m3 - n2 * self.m3);
        *self = Moments {
            skewness: self.skewness,
            n,
            mean: self.mean + delta_n * n2,
            m2,
            m3,
            m4,
        };
    }
}

fn floats(a: &ArrayRef) -> Result<ArrayRef> {
    Ok(cast(a, &DataType::Float64)?)
}

impl Accumulator for Moments {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let Some(v) = values.first() else {
            return Ok(());
        };
        let v = floats(v)?;
        for x in v.as_primitive::<Float64Type>().iter().flatten() {
            self.add(x);
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        if states.len() != 5 {
            return exec_err!(
                "skewness/kurtosis: expected 5 state columns, got {}",
                states.len()
            );
        }
        let states: Vec<ArrayRef> = states.iter().map(floats).collect::<Result<_>>()?;
        let cols: Vec<_> = states
            .iter()
            .map(|s| s.as_primitive::<Float64Type>())
            .collect();
        for row in 0..cols[0].len() {
            if cols.iter().any(|c| c.is_null(row)) {
                continue;
            }
            let other = Moments {
                skewness: self.skewness,
                n: cols[0].value(row),
                mean: cols[1].value(row),
                m2: cols[2].value(row),
                m3: cols[3].value(row),
                m4: cols[4].value(row),
            };
            self.merge(&other);
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok([self.n, self.mean, self.m2, self.m3, self.m4]
            .into_iter()
            .map(|v| ScalarValue::Float64(Some(v)))
            .collect())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        if self.n == 0.0 || self.m2 == 0.0 {
            return Ok(ScalarValue::Float64(None));
        }
        let v = if self.skewness {
            self.n.sqrt() * self.m3 / (self.m2 * self.m2 * self.m2).sqrt()
        } else {
            self.n * self.m4 / (self.m2 * self.m2) - 3.0
        };
        Ok(ScalarValue::Float64(Some(v)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::query;

    #[test]
    fn moments_as_spark() {
        // Spark 4.2.1 runs.
        assert_eq!(
            query("select skewness(x), kurtosis(x) from (values (1), (2), (3), (10)) t(x)"),
            vec!["1.0182337649086284|-0.7696000000000001"]
        );
        assert_eq!(
            query(
                "select skewness(x), kurtosis(x) from (values (1.5), (2.5), (7.25), (null)) t(x)"
            ),
            vec!["0.6237520947068693|-1.5"]
        );
        for values in ["(1), (1)", "(5)", "(cast(null as int))"] {
            assert_eq!(
                query(&format!(
                    "select skewness(x), kurtosis(x) from (values {values}) t(x)"
                )),
                vec!["NULL|NULL"],
                "{values}"
            );
        }
    }

    #[test]
    fn merged_partitions_agree_with_one_pass() {
        let mut whole = Moments::default();
        let (mut a, mut b) = (Moments::default(), Moments::default());
        for (i, x) in [1.0, 2.0, 3.0, 10.0, -4.5, 8.25].into_iter().enumerate() {
            whole.add(x);
            if i % 2 == 0 {
                a.add(x)
            } else {
                b.add(x)
            }
        }
        a.merge(&b);
        for (x, y) in [(whole.m2, a.m2), (whole.m3, a.m3), (whole.m4, a.m4)] {
            assert!((x - y).abs() < 1e-9 * x.abs().max(1.0), "{x} {y}");
        }
    }
}
