//! Spark's meaning of SQL operators where DataFusion's differs.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{BinaryExpr, Cast, Expr, ExprSchemable, Operator};
use datafusion::sql::sqlparser::ast::BinaryOperator;

/// Plans `/` the way Spark does: with integer (or NULL) operands on both
/// sides it divides as doubles (`7 / 2` is 3.5, not 3). `DIV` stays
/// integer division.
#[derive(Debug, Default)]
pub struct SparkOperatorPlanner;

fn integral_or_null(t: &DataType) -> bool {
    t.is_integer() || matches!(t, DataType::Null)
}

fn as_double(e: Expr) -> Expr {
    Expr::Cast(Cast::new(Box::new(e), DataType::Float64))
}

impl ExprPlanner for SparkOperatorPlanner {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        if expr.op != BinaryOperator::Divide {
            return Ok(PlannerResult::Original(expr));
        }
        // A type that cannot be worked out here (an outer reference) is
        // left to DataFusion's rules.
        let (Ok(l), Ok(r)) = (expr.left.get_type(schema), expr.right.get_type(schema)) else {
            return Ok(PlannerResult::Original(expr));
        };
        if !(integral_or_null(&l) && integral_or_null(&r)) {
            return Ok(PlannerResult::Original(expr));
        }
        Ok(PlannerResult::Planned(Expr::BinaryExpr(BinaryExpr::new(
            Box::new(as_double(expr.left)),
            Operator::Divide,
            Box::new(as_double(expr.right)),
        ))))
    }
}
