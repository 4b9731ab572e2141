//! Spark's `make_ym_interval([years[, months]])`: a year-month interval
//! (Arrow's `Interval(YearMonth)`, a count of months), an overflow of the
//! months an error as in Spark.

use std::sync::Arc;

use arrow::array::{Array, AsArray, IntervalYearMonthArray};
use arrow::datatypes::{DataType, Int32Type, IntervalUnit};
use datafusion::common::{exec_err, plan_err, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF};

use crate::args::Arrays;
use crate::kinded;

/// The functions of this module.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    kinded::functions([(MakeYmInterval, "make_ym_interval")])
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct MakeYmInterval;

impl kinded::Kind for MakeYmInterval {
    fn coerce_types(&self, _name: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() <= 2 && arg_types.iter().all(|t| t.is_integer() || t.is_null()) {
            Ok(vec![DataType::Int32; arg_types.len()])
        } else {
            plan_err!("make_ym_interval takes up to two INT arguments (years, months), got ({arg_types:?})")
        }
    }

    fn return_type(&self, _name: &str, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Interval(IntervalUnit::YearMonth))
    }

    fn invoke(&self, _name: &str, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = Arrays::new(&args.args, args.number_rows)?;
        let part = |i: usize, row: usize| -> Option<i32> {
            match a.arrays.get(i) {
                None => Some(0),
                Some(x) => {
                    let x = x.as_primitive::<Int32Type>();
                    x.is_valid(row).then(|| x.value(row))
                }
            }
        };
        let mut out = Vec::with_capacity(a.rows);
        for row in 0..a.rows {
            let (Some(y), Some(m)) = (part(0, row), part(1, row)) else {
                out.push(None);
                continue;
            };
            match y.checked_mul(12).and_then(|ym| ym.checked_add(m)) {
                Some(v) => out.push(Some(v)),
                None => {
                    return exec_err!(
                        "[ARITHMETIC_OVERFLOW] make_ym_interval({y}, {m}): integer overflow. If necessary set \"spark.sql.ansi.enabled\" to \"false\" to bypass this error."
                    )
                }
            }
        }
        a.answer(Arc::new(IntervalYearMonthArray::from(out)))
    }
}
