//! Spark's meaning of SQL operators where DataFusion's differs.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{BinaryExpr, Cast, Expr, ExprSchemable, Operator};
use datafusion::sql::sqlparser::ast::BinaryOperator;

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, AsArray, Float64Array};
use datafusion::arrow::compute::cast;
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
        let (l, r) = (
            l.as_primitive::<datafusion::arrow::datatypes::Float64Type>(),
            r.as_primitive::<datafusion::arrow::datatypes::Float64Type>(),
        );
        let mut out = Vec::with_capacity(l.len());
        for i in 0..l.len() {
            if l.is_null(i) || r.is_null(i) {
                out.push(None);
            } else if r.value(i) == 0.0 {
                if ansi {
                    return exec_err!(
                        "[DIVIDE_BY_ZERO] Divide by zero (set spark.sql.ansi.enabled=false for NULL instead)"
                    );
                }
                out.push(None);
            } else {
                out.push(Some(l.value(i) / r.value(i)));
            }
        }
        input.answer(Arc::new(Float64Array::from(out)))
    }
}
