//! Spark's `raise_error(msg)` and `assert_true(cond[, msg])`: a task
//! fails with Spark's `USER_RAISED_EXCEPTION` and the message; otherwise
//! (every condition true) the answer is NULL. Volatile, so that planning
//! never evaluates them ahead of the rows (`when(true, 1).otherwise(
//! raise_error('unreachable'))` must not fail).

use std::sync::Arc;

use arrow::array::{Array, AsArray, NullArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::common::{plan_err, DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, Signature, Volatility,
};

use crate::args::Arrays;
use crate::kinded;

/// The functions of this module.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    kinded::functions([
        (Raise { assert: false }, "raise_error"),
        (Raise { assert: true }, "assert_true"),
    ])
}

/// `raise_error` or (with `assert`) `assert_true`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Raise {
    assert: bool,
}

fn raised(message: &str) -> DataFusionError {
    DataFusionError::Execution(format!("[USER_RAISED_EXCEPTION] {message} SQLSTATE: P0001"))
}

impl kinded::Kind for Raise {
    fn signature(&self) -> Signature {
        Signature::user_defined(Volatility::Volatile)
    }

    fn coerce_types(&self, name: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match (self.assert, arg_types) {
            (false, [_]) => Ok(vec![DataType::Utf8]),
            (true, [_]) => Ok(vec![DataType::Boolean]),
            (true, [_, _]) => Ok(vec![DataType::Boolean, DataType::Utf8]),
            _ => plan_err!(
                "{} takes {}, got {} argument(s)",
                name,
                if self.assert {
                    "a condition and an optional message"
                } else {
                    "a message"
                },
                arg_types.len()
            ),
        }
    }

    fn return_type(&self, _name: &str, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Null)
    }

    fn invoke(&self, _name: &str, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = Arrays::new(&args.args, args.number_rows)?;
        let null = || Ok(ColumnarValue::Scalar(ScalarValue::Null));
        if a.rows == 0 {
            return null();
        }
        let message_at = usize::from(self.assert);
        let message = |row: usize| -> Result<String> {
            match a.arrays.get(message_at) {
                Some(m) => {
                    let m = cast(m, &DataType::Utf8)?;
                    let m = m.as_string::<i32>();
                    Ok(if m.is_null(row) {
                        "null".to_string()
                    } else {
                        m.value(row).to_string()
                    })
                }
                None => Ok("the condition is not true!".to_string()),
            }
        };
        if !self.assert {
            return Err(raised(&message(0)?));
        }
        let cond = a.arrays[0].as_boolean();
        for row in 0..a.rows {
            if cond.is_null(row) || !cond.value(row) {
                return Err(raised(&message(row)?));
            }
        }
        a.answer(Arc::new(NullArray::new(a.rows)))
    }
}
