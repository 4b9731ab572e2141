//! Spark's meaning of SQL operators where DataFusion's differs.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{BinaryExpr, Cast, Expr, ExprSchemable, Operator};
use datafusion::sql::sqlparser::ast::BinaryOperator;

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::Float64Array;
use datafusion::arrow::compute::kernels::cmp::eq;
use datafusion::arrow::compute::kernels::numeric::div;
use datafusion::arrow::compute::{cast, nullif};
use datafusion::common::exec_err;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::args::Arrays;

/// Plans `/` and `DIV` the way Spark does: `/` with integer (or NULL)
/// operands on both sides divides as doubles (`7 / 2` is 3.5, not 3);
/// `DIV` is a BIGINT quotient truncated toward zero.
#[derive(Debug, Default)]
pub struct SparkOperatorPlanner;

fn integral_or_null(t: &DataType) -> bool {
    t.is_integer() || matches!(t, DataType::Null)
}

fn as_double(e: Expr) -> Expr {
    Expr::Cast(Cast::new(Box::new(e), DataType::Float64))
}

fn as_bigint(e: Expr) -> Expr {
    Expr::Cast(Cast::new(Box::new(e), DataType::Int64))
}

fn divide(l: Expr, r: Expr) -> Expr {
    Expr::BinaryExpr(BinaryExpr::new(Box::new(l), Operator::Divide, Box::new(r)))
}

impl ExprPlanner for SparkOperatorPlanner {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        if !matches!(
            expr.op,
            BinaryOperator::Divide | BinaryOperator::MyIntegerDivide
        ) {
            return Ok(PlannerResult::Original(expr));
        }
        // A type that cannot be worked out here (an outer reference) is
        // left to DataFusion's rules.
        let (Ok(l), Ok(r)) = (expr.left.get_type(schema), expr.right.get_type(schema)) else {
            return Ok(PlannerResult::Original(expr));
        };
        let integral = integral_or_null(&l) && integral_or_null(&r);
        let planned = match (&expr.op, integral) {
            (BinaryOperator::Divide, true) => Expr::ScalarFunction(ScalarFunction::new_udf(
                spark_divide(),
                vec![as_double(expr.left), as_double(expr.right)],
            )),
            (BinaryOperator::Divide, false) => return Ok(PlannerResult::Original(expr)),
            // `a DIV b` is a BIGINT, truncated toward zero, for any numbers.
            (_, true) => divide(as_bigint(expr.left), as_bigint(expr.right)),
            (_, false) => as_bigint(divide(expr.left, expr.right)),
        };
        Ok(PlannerResult::Planned(planned))
    }
}

/// Spark's `/` of two integers, as doubles: a zero divisor is an error in
/// ANSI mode (Spark's `DIVIDE_BY_ZERO`) and NULL outside it, never
/// `Infinity`.
pub fn spark_divide() -> Arc<ScalarUDF> {
    static UDF: LazyLock<Arc<ScalarUDF>> =
        LazyLock::new(|| Arc::new(ScalarUDF::new_from_impl(SparkDivide::default())));
    UDF.clone()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SparkDivide {
    signature: Signature,
}

impl Default for SparkDivide {
    fn default() -> Self {
        SparkDivide {
            signature: Signature::exact(
                vec![DataType::Float64, DataType::Float64],
                Volatility::Immutable,
            ),
        }
    }
}

impl ScalarUDFImpl for SparkDivide {
    fn name(&self) -> &str {
        "spark_divide"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ansi = args.config_options.execution.enable_ansi_mode;
        let input = Arrays::new(&args.args, args.number_rows)?;
        let (Some(l), Some(r)) = (input.arrays.first(), input.arrays.get(1)) else {
            return exec_err!("spark_divide takes two arguments");
        };
        let (l, r) = (cast(l, &DataType::Float64)?, cast(r, &DataType::Float64)?);
        let zero = eq(&r, &Float64Array::new_scalar(0.0))?;
        if ansi && zero.true_count() > 0 {
            return exec_err!(
                "[DIVIDE_BY_ZERO] Divide by zero (set spark.sql.ansi.enabled=false for NULL instead)"
            );
        }
        let out = div(&l, &nullif(&r, &zero)?)?;
        input.answer(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{Field, Float64Type};
    use datafusion::common::config::ConfigOptions;

    fn divide(ansi: bool, l: Vec<f64>, r: Vec<f64>) -> Result<Vec<Option<f64>>> {
        let mut config = ConfigOptions::default();
        config.execution.enable_ansi_mode = ansi;
        let rows = l.len();
        let field = Arc::new(Field::new("x", DataType::Float64, true));
        let out = spark_divide().invoke_with_args(ScalarFunctionArgs {
            args: vec![
                ColumnarValue::Array(Arc::new(Float64Array::from(l))),
                ColumnarValue::Array(Arc::new(Float64Array::from(r))),
            ],
            arg_fields: vec![field.clone(), field.clone()],
            number_rows: rows,
            return_field: field,
            config_options: Arc::new(config),
        })?;
        let ColumnarValue::Array(a) = out else {
            panic!("an array for array arguments");
        };
        let a = a.as_primitive::<Float64Type>();
        Ok((0..a.len())
            .map(|i| (!a.is_null(i)).then(|| a.value(i)))
            .collect())
    }

    #[test]
    fn zero_divisor_is_null_outside_ansi_and_an_error_in_it() {
        assert_eq!(
            divide(false, vec![7.0, 1.0], vec![2.0, 0.0]).unwrap(),
            vec![Some(3.5), None]
        );
        let e = divide(true, vec![7.0, 1.0], vec![2.0, 0.0]).unwrap_err();
        assert!(e.to_string().contains("DIVIDE_BY_ZERO"), "{e}");
        assert_eq!(divide(true, vec![7.0], vec![2.0]).unwrap(), vec![Some(3.5)]);
    }
}
