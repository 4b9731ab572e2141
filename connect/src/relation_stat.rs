//! `df.stat.corr` and `df.stat.cov` (the StatCorr and StatCov relations) as
//! Spark answers them: one row, one DOUBLE column, the Pearson correlation
//! or the sample covariance of two numeric columns of the input.

use arrow::datatypes::DataType;
use datafusion::common::Column;
use datafusion::functions_aggregate::expr_fn::{corr, covar_samp};
use datafusion::logical_expr::{cast, Expr, LogicalPlan, LogicalPlanBuilder};

use crate::error::{ConnectError, Result};
use crate::proto;

/// `df.stat.corr(col1, col2, method)`: only Spark's one method, Pearson.
pub fn corr_of(input: LogicalPlan, c: &proto::StatCorr) -> Result<LogicalPlan> {
    let method = c.method.as_deref().unwrap_or("pearson");
    if method != "pearson" {
        return Err(ConnectError::IllegalArgument(format!(
            "Currently only the calculation of the Pearson Correlation coefficient is supported, not `{method}`"
        )));
    }
    let (a, b) = (numeric(&input, &c.col1)?, numeric(&input, &c.col2)?);
    one_value(input, corr(a, b), "corr")
}

/// `df.stat.cov(col1, col2)`: the sample covariance.
pub fn cov_of(input: LogicalPlan, c: &proto::StatCov) -> Result<LogicalPlan> {
    let (a, b) = (numeric(&input, &c.col1)?, numeric(&input, &c.col2)?);
    one_value(input, covar_samp(a, b), "cov")
}

fn one_value(input: LogicalPlan, agg: Expr, name: &str) -> Result<LogicalPlan> {
    Ok(LogicalPlanBuilder::from(input)
        .aggregate(Vec::<Expr>::new(), vec![agg.alias(name)])?
        .build()?)
}

/// The column `name` of `input` (case-insensitively, as Spark resolves it)
/// as a DOUBLE; Spark refuses columns that are not numeric.
fn numeric(input: &LogicalPlan, name: &str) -> Result<Expr> {
    let schema = input.schema();
    let (q, f) = schema
        .iter()
        .find(|(_, f)| f.name().eq_ignore_ascii_case(name))
        .ok_or_else(|| ConnectError::Analysis {
            class: "UNRESOLVED_COLUMN.WITH_SUGGESTION",
            message: format!("Cannot resolve column name \"{name}\" among the input's columns."),
        })?;
    if !f.data_type().is_numeric() {
        return Err(ConnectError::IllegalArgument(format!(
            "Currently correlation and covariance calculations are supported only for numeric columns, and `{name}` is {}",
            f.data_type()
        )));
    }
    let column = Expr::Column(Column::new(q.cloned(), f.name()));
    Ok(cast(column, DataType::Float64))
}
