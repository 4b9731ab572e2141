//! The `df.stat` relations that aggregate their input to one row, as Spark
//! answers them: StatCorr and StatCov (one DOUBLE: the Pearson correlation
//! or the sample covariance of two numeric columns), StatApproxQuantile and
//! StatFreqItems; and the helpers the describe/summary statistics share.

use arrow::datatypes::DataType;
use datafusion::common::Column;
use datafusion::execution::session_state::SessionState;
use datafusion::execution::FunctionRegistry;
use datafusion::functions_aggregate::expr_fn::{corr, covar_samp};
use datafusion::logical_expr::expr::{AggregateFunction, ScalarFunction};
use datafusion::logical_expr::{cast, col, lit, when, Expr, LogicalPlan, LogicalPlanBuilder};

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
    let (q, f) = find_column(input, name)?;
    if !f.data_type().is_numeric() {
        return Err(ConnectError::IllegalArgument(format!(
            "Currently correlation and covariance calculations are supported only for numeric columns, and `{name}` is {}",
            f.data_type()
        )));
    }
    let column = Expr::Column(Column::new(q, f.name()));
    Ok(cast(column, DataType::Float64))
}

/// A call of the session's scalar function `name`: the registry's, so the
/// executors resolve the same function by name.
pub fn scalar_call(state: &SessionState, name: &str, args: Vec<Expr>) -> Result<Expr> {
    let f = state.udf(name)?;
    Ok(Expr::ScalarFunction(ScalarFunction::new_udf(f, args)))
}

/// A call of the session's aggregate function `name`.
pub fn aggregate_call(state: &SessionState, name: &str, args: Vec<Expr>) -> Result<Expr> {
    let f = state.udaf(name)?;
    Ok(Expr::AggregateFunction(AggregateFunction::new_udf(
        f,
        args,
        false,
        None,
        vec![],
        None,
    )))
}

/// The aggregate of `e`'s non-NULL values as an ascending array.
pub fn sorted_values(state: &SessionState, e: Expr) -> Result<Expr> {
    let f = state.udaf("array_agg")?;
    Ok(Expr::AggregateFunction(AggregateFunction::new_udf(
        f,
        vec![e.clone()],
        false,
        Some(Box::new(e.clone().is_not_null())),
        vec![e.sort(true, false)],
        None,
    )))
}

/// The `q` quantile of the ascending array `sorted` as Spark's quantile
/// summaries answer it while they hold every value: the first value for
/// `q <= relative_error`, the last for `q >= 1 - relative_error`, else the
/// value of rank `ceil(q * n)`. NULL for an empty array.
pub fn quantile_at(
    state: &SessionState,
    sorted: Expr,
    q: f64,
    relative_error: f64,
) -> Result<Expr> {
    let n = cast(
        scalar_call(state, "cardinality", vec![sorted.clone()])?,
        DataType::Int64,
    );
    let rank = if q <= relative_error {
        lit(1i64)
    } else if q >= 1.0 - relative_error {
        n
    } else {
        // ceil(q * n) with operators only.
        let exact = lit(q) * cast(n, DataType::Float64);
        let floor = cast(exact.clone(), DataType::Int64);
        floor.clone()
            + when(cast(floor, DataType::Float64).lt(exact), lit(1i64)).otherwise(lit(0i64))?
    };
    scalar_call(state, "array_element", vec![sorted, rank])
}

/// `df.stat.approxQuantile(cols, probabilities, relativeError)`: one row,
/// one column: per column (as DOUBLE), its quantiles (see [`quantile_at`];
/// Kiln's are exact ranks, which Spark's equal while its sketch holds
/// every value, up to about 10000 values per partition).
pub fn approx_quantile(
    state: &SessionState,
    input: LogicalPlan,
    a: &proto::StatApproxQuantile,
) -> Result<LogicalPlan> {
    if a.relative_error < 0.0 {
        return Err(ConnectError::IllegalArgument(format!(
            "Relative Error must be non-negative but got {}",
            a.relative_error
        )));
    }
    if let Some(p) = a.probabilities.iter().find(|p| !(0.0..=1.0).contains(*p)) {
        return Err(ConnectError::IllegalArgument(format!(
            "percentile should be in the range [0.0, 1.0], got {p}"
        )));
    }
    let mut sorted = vec![];
    for (i, name) in a.cols.iter().enumerate() {
        let c = numeric(&input, name)?;
        sorted.push(sorted_values(state, c)?.alias(format!("__kiln_sorted{i}")));
    }
    let aggregated = LogicalPlanBuilder::from(input)
        .aggregate(Vec::<Expr>::new(), sorted)?
        .build()?;
    let per_column = (0..a.cols.len())
        .map(|i| {
            let quantiles = a
                .probabilities
                .iter()
                .map(|q| {
                    quantile_at(
                        state,
                        col(format!("__kiln_sorted{i}")),
                        *q,
                        a.relative_error,
                    )
                })
                .collect::<Result<Vec<_>>>()?;
            scalar_call(state, "make_array", quantiles)
        })
        .collect::<Result<Vec<_>>>()?;
    let all = scalar_call(state, "make_array", per_column)?;
    Ok(LogicalPlanBuilder::from(aggregated)
        .project(vec![all.alias("approx_quantile")])?
        .build()?)
}

/// `df.stat.freqItems(cols, support)`: one row, per column
/// `<col>_freqItems`, the column's distinct values. Spark's answer (its
/// frequent-items sketch with `1 / support` counters) is every distinct
/// value while a column has at most that many; Kiln always answers every
/// distinct value (no false negatives, more false positives than Spark's
/// on columns with many distinct values).
pub fn freq_items(
    state: &SessionState,
    input: LogicalPlan,
    f: &proto::StatFreqItems,
) -> Result<LogicalPlan> {
    let support = f.support.unwrap_or(0.01);
    if !(support > 1e-4 && support <= 1.0) {
        return Err(ConnectError::IllegalArgument(format!(
            "Support ({support}) must be greater than 1e-4 and at most 1."
        )));
    }
    let mut aggs = vec![];
    for name in &f.cols {
        let (q, field) = find_column(&input, name)?;
        let c = Expr::Column(Column::new(q, field.name()));
        let values = aggregate_call(state, "array_agg", vec![c.clone()])?;
        let values = match values {
            Expr::AggregateFunction(mut a) => {
                a.params.distinct = true;
                Expr::AggregateFunction(a)
            }
            other => other,
        };
        aggs.push(values.alias(format!("{}_freqItems", field.name())));
    }
    Ok(LogicalPlanBuilder::from(input)
        .aggregate(Vec::<Expr>::new(), aggs)?
        .build()?)
}

/// The column `name` of `input`, found as Spark finds it (case-insensitively).
fn find_column(
    input: &LogicalPlan,
    name: &str,
) -> Result<(
    Option<datafusion::common::TableReference>,
    arrow::datatypes::FieldRef,
)> {
    input
        .schema()
        .iter()
        .find(|(_, f)| f.name().eq_ignore_ascii_case(name))
        .map(|(q, f)| (q.cloned(), f.clone()))
        .ok_or_else(|| ConnectError::Analysis {
            class: "UNRESOLVED_COLUMN.WITH_SUGGESTION",
            message: format!("Cannot resolve column name \"{name}\" among the input's columns."),
        })
}
