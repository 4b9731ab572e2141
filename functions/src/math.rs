//! Spark's logarithms: `log(x)` is the natural logarithm (DataFusion's is
//! base 10), `log(base, x)`, `ln`, `log10`, `log2` and `log1p`, each NULL
//! where the logarithm is not defined (`x <= 0`, `x <= -1` for `log1p`, a
//! base `<= 0`) as in Spark, where DataFusion answers `-inf` or `NaN`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::common::{exec_err, plan_err, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF};

use crate::args::Arrays;
use crate::kinded;

kinded::family! {
    /// `log(x)` natural, `log(base, x)`.
    Log = "log",
    Ln = "ln",
    Log10 = "log10",
    Log2 = "log2",
    Log1p = "log1p",
}

/// The natural logarithm as Java's `StrictMath.log` computes it (fdlibm's
/// algorithm, which the `libm` crate ports), so answers match Spark's to
/// the last digit; Rust's `f64::ln` may differ there.
fn ln(v: f64) -> f64 {
    libm::log(v)
}

impl kinded::Kind for Kind {
    fn return_type(&self, _name: &str, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn coerce_types(&self, name: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let arity_ok = match *self {
            Kind::Log => matches!(arg_types.len(), 1 | 2),
            _ => arg_types.len() == 1,
        };
        if !arity_ok {
            return plan_err!(
                "{} takes {} argument(s), got {}",
                name,
                if *self == Kind::Log { "1 or 2" } else { "1" },
                arg_types.len()
            );
        }
        for t in arg_types {
            if !(t.is_numeric() || t.is_null() || matches!(t, DataType::Utf8 | DataType::Utf8View))
            {
                return plan_err!("{} takes numbers, got {t}", name);
            }
        }
        Ok(vec![DataType::Float64; arg_types.len()])
    }

    fn invoke(&self, name: &str, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = Arrays::new(&args.args, args.number_rows)?;
        let floats = a
            .arrays
            .iter()
            .map(|x| cast(x, &DataType::Float64))
            .collect::<std::result::Result<Vec<ArrayRef>, _>>()?;
        let column = |i: usize| -> Result<&Float64Array> {
            match floats[i].as_any().downcast_ref::<Float64Array>() {
                Some(c) => Ok(c),
                None => exec_err!("{}: argument {} is not a DOUBLE", name, i + 1),
            }
        };
        let out: Float64Array = match (*self, floats.len()) {
            (Kind::Log, 2) => {
                let (base, x) = (column(0)?, column(1)?);
                base.iter()
                    .zip(x.iter())
                    .map(|(b, v)| match (b, v) {
                        (Some(b), Some(v)) if b > 0.0 && v > 0.0 => Some(ln(v) / ln(b)),
                        _ => None,
                    })
                    .collect()
            }
            (kind, _) => {
                let x = column(0)?;
                x.iter()
                    .map(|v| {
                        let v = v?;
                        match kind {
                            Kind::Log1p => (v > -1.0).then(|| libm::log1p(v)),
                            _ if v <= 0.0 => None,
                            Kind::Log | Kind::Ln => Some(ln(v)),
                            Kind::Log10 => Some(libm::log10(v)),
                            Kind::Log2 => Some(ln(v) / ln(2.0)),
                        }
                    })
                    .collect()
            }
        };
        a.answer(Arc::new(out))
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::*;

    #[test]
    fn logarithms_as_spark() {
        assert_eq!(
            query("SELECT log(exp(2.0)), log(2, 8), log10(100), log2(8), ln(1), log1p(0)"),
            vec!["2.0|3.0|2.0|3.0|0.0|0.0"]
        );
        assert_eq!(
            query("SELECT log(0), log(-1), ln(0), log10(0), log2(-2), log1p(-1), log(0, 8), log(NULL)"),
            vec!["NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL"]
        );
    }
}
