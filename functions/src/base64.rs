//! Spark's `base64(bin)` and `unbase64(str)`, run as DataFusion's
//! `encode`/`decode` with the padded base64 format.
//!
//! datafusion-spark's versions simplify into a call of DataFusion's
//! `encode(x, 'base64pad')`; a plan names functions, and on an executor
//! `encode` is Spark's `encode(str, charset)`, which refuses the format.
//! These keep their own names in plans and call DataFusion's code.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field};
use datafusion::common::{plan_err, Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF};

use crate::kinded;

/// The functions of this module.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    kinded::functions([
        (
            Base64 {
                inner: datafusion::functions::encoding::encode(),
            },
            "base64",
        ),
        (
            Base64 {
                inner: datafusion::functions::encoding::decode(),
            },
            "unbase64",
        ),
    ])
}

/// `base64` (with DataFusion's `encode`) or `unbase64` (`decode`).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Base64 {
    inner: Arc<ScalarUDF>,
}

impl kinded::Kind for Base64 {
    fn coerce_types(&self, name: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [DataType::LargeBinary] => Ok(vec![DataType::LargeBinary]),
            [DataType::Binary
            | DataType::BinaryView
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Null] => Ok(vec![DataType::Binary]),
            _ => plan_err!("{} takes a string or a binary, got {arg_types:?}", name),
        }
    }

    fn return_type(&self, _name: &str, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(&[
            arg_types.first().cloned().unwrap_or(DataType::Binary),
            DataType::Utf8,
        ])
    }

    fn invoke(&self, _name: &str, mut args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        args.args.push(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
            "base64pad".into(),
        ))));
        args.arg_fields
            .push(Arc::new(Field::new("format", DataType::Utf8, false)));
        self.inner.invoke_with_args(args)
    }
}
