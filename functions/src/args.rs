//! Argument handling shared by Kiln's row-at-a-time functions.

use arrow::array::ArrayRef;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::ColumnarValue;

/// A function's arguments as arrays of one length: one row when every
/// argument is a literal (and the answer is then a literal too), else the
/// batch's rows.
pub struct Arrays {
    /// One array per argument.
    pub arrays: Vec<ArrayRef>,
    /// How many rows each array has.
    pub rows: usize,
    all_scalar: bool,
}

impl Arrays {
    /// The arrays of `args` for a batch of `number_rows`.
    pub fn new(args: &[ColumnarValue], number_rows: usize) -> Result<Self> {
        let all_scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if all_scalar { 1 } else { number_rows };
        let arrays = args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<Vec<_>>>()?;
        Ok(Arrays {
            arrays,
            rows,
            all_scalar,
        })
    }

    /// The function's answer `out`, a literal when the arguments were.
    pub fn answer(&self, out: ArrayRef) -> Result<ColumnarValue> {
        if self.all_scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }
}
