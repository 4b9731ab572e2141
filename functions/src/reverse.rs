//! Spark's `reverse`: a string's characters, a binary's bytes or an
//! array's elements in reverse order (DataFusion's `reverse` takes strings
//! only, its `array_reverse` arrays).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryArray, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::common::{exec_err, Result};
use datafusion::functions_nested::reverse::array_reverse_udf;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF};

use crate::kinded;

/// The functions of this module.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    kinded::functions([(Reverse, "reverse")])
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Reverse;

/// Whether `t` is an array type.
fn is_list(t: &DataType) -> bool {
    matches!(
        t,
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..)
    )
}

impl kinded::Kind for Reverse {
    fn coerce_types(&self, _name: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [t] if is_list(t) => Ok(vec![t.clone()]),
            [DataType::Binary | DataType::LargeBinary | DataType::BinaryView] => {
                Ok(vec![DataType::Binary])
            }
            [_] => Ok(vec![DataType::Utf8]),
            _ => exec_err!("reverse takes one argument, got {}", arg_types.len()),
        }
    }

    fn return_type(&self, _name: &str, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [t] => Ok(t.clone()),
            _ => exec_err!("reverse takes one argument"),
        }
    }

    fn invoke(&self, _name: &str, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(arg) = args.args.first() else {
            return exec_err!("reverse takes one argument");
        };
        if is_list(&arg.data_type()) {
            return array_reverse_udf().invoke_with_args(args);
        }
        let array = arg.to_array(args.number_rows)?;
        let out: ArrayRef = match array.data_type() {
            DataType::Binary => {
                let b = array.as_binary::<i32>();
                let v: BinaryArray = b
                    .iter()
                    .map(|x| x.map(|x| x.iter().rev().copied().collect::<Vec<u8>>()))
                    .collect();
                Arc::new(v)
            }
            _ => {
                let s = cast(&array, &DataType::Utf8)?;
                let v: StringArray = s
                    .as_string::<i32>()
                    .iter()
                    .map(|x| x.map(|x| x.chars().rev().collect::<String>()))
                    .collect();
                Arc::new(v)
            }
        };
        if array.len() == 1 && matches!(arg, ColumnarValue::Scalar(_)) {
            return Ok(ColumnarValue::Scalar(
                datafusion::common::ScalarValue::try_from_array(&out, 0)?,
            ));
        }
        Ok(ColumnarValue::Array(out))
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::query;

    #[test]
    fn strings_binaries_and_arrays_reverse() {
        assert_eq!(
            query(
                "SELECT reverse('Spark SQL'), hex(reverse(X'CAFE')), reverse(make_array(2, 1, 3))"
            ),
            ["LQS krapS|FECA|[3, 1, 2]"]
        );
    }
}
