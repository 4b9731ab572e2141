//! Spark's meaning of SQL operators where DataFusion's differs.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{BinaryExpr, Cast, Expr, ExprSchemable, Operator};
use datafusion::sql::sqlparser::ast::BinaryOperator;

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
            (BinaryOperator::Divide, true) => divide(as_double(expr.left), as_double(expr.right)),
            (BinaryOperator::Divide, false) => return Ok(PlannerResult::Original(expr)),
            // `a DIV b` is a BIGINT, truncated toward zero, for any numbers.
            (_, true) => divide(as_bigint(expr.left), as_bigint(expr.right)),
            (_, false) => as_bigint(divide(expr.left, expr.right)),
        };
        Ok(PlannerResult::Planned(planned))
    }
}
