//! Spark's array functions under their Spark names and argument orders,
//! where DataFusion has the operation under another shape.

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::functions_nested::sort::array_sort_udf;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, Signature, Volatility,
};

use crate::kinded;

/// The functions of this module.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    kinded::functions([(SortArray, "sort_array")])
}

/// `sort_array(array[, ascending])`: ascending puts NULLs first,
/// descending last, as Spark does; DataFusion's `array_sort` does the
/// sorting.
#[derive(Debug, PartialEq, Eq, Hash)]
struct SortArray;

impl kinded::Kind for SortArray {
    fn signature(&self) -> Signature {
        Signature::variadic_any(Volatility::Immutable)
    }

    fn return_type(&self, _name: &str, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [t] | [t, DataType::Boolean] => Ok(t.clone()),
            _ => exec_err!("sort_array takes an array and an optional boolean, got {arg_types:?}"),
        }
    }

    fn invoke(&self, _name: &str, mut args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ascending = match args.args.get(1) {
            None => true,
            Some(ColumnarValue::Scalar(ScalarValue::Boolean(Some(b)))) => *b,
            Some(_) => {
                return exec_err!("sort_array: the second argument must be a boolean literal")
            }
        };
        args.args.truncate(1);
        let (order, nulls) = if ascending {
            ("ASC", "NULLS FIRST")
        } else {
            ("DESC", "NULLS LAST")
        };
        args.args
            .push(ColumnarValue::Scalar(ScalarValue::Utf8(Some(order.into()))));
        args.args
            .push(ColumnarValue::Scalar(ScalarValue::Utf8(Some(nulls.into()))));
        let field = args.arg_fields.first().cloned();
        args.arg_fields.truncate(0);
        if let Some(f) = field {
            args.arg_fields.push(f);
            for name in ["order", "nulls"] {
                args.arg_fields.push(Arc::new(arrow::datatypes::Field::new(
                    name,
                    DataType::Utf8,
                    false,
                )));
            }
        }
        array_sort_udf().invoke_with_args(args)
    }
}
