//! `df.describe(cols)` and `df.summary(statistics)` (the StatDescribe and
//! StatSummary relations) as Spark answers them: a `summary` column naming
//! each statistic, then one STRING column per numeric or string input
//! column, one row per statistic in the order asked.
//!
//! Everything is one aggregate over the input; its single row is then
//! expanded into one row per statistic. Percentiles (`"25%"`) are the
//! values at Spark's ranks (`ceil(p * n)`), which is what Spark's sketch
//! gives while it holds every value (inputs up to its compression
//! threshold); Kiln keeps the column's values for it.

use arrow::datatypes::DataType;
use datafusion::common::{Column, ScalarValue};
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::{cast, col, lit, try_cast, Expr, LogicalPlan, LogicalPlanBuilder};

use crate::error::{ConnectError, Result};
use crate::proto;
use crate::relation::Planner;
use crate::relation_reshape::expand;
use crate::relation_stat::{aggregate_call, quantile_at, sorted_values};

/// Spark's statistics of `summary()` without arguments.
const DEFAULT_SUMMARY: [&str; 8] = ["count", "mean", "stddev", "min", "25%", "50%", "75%", "max"];

/// The statistics of `describe()`.
const DESCRIBE: [&str; 5] = ["count", "mean", "stddev", "min", "max"];

/// The relative error of Spark's percentiles in `summary()` (its default
/// percentile accuracy, 10000).
const SUMMARY_RELATIVE_ERROR: f64 = 1.0 / 10000.0;

impl Planner<'_> {
    /// `df.describe(cols)`: `summary` of the given columns (all if none).
    pub(crate) async fn describe(&mut self, d: &proto::StatDescribe) -> Result<LogicalPlan> {
        let input = self.input(&d.input).await?;
        let input = if d.cols.is_empty() {
            input
        } else {
            let scope = self.scope(input.schema());
            let cols = d
                .cols
                .iter()
                .map(|c| {
                    crate::expression::resolve_column(
                        &crate::expression::parse_identifier(c)?,
                        None,
                        &scope,
                    )
                })
                .collect::<Result<Vec<_>>>()?;
            LogicalPlanBuilder::from(input).project(cols)?.build()?
        };
        summarize(&self.state, input, &DESCRIBE.map(String::from))
    }

    /// `df.summary(statistics)`.
    pub(crate) async fn summary(&mut self, s: &proto::StatSummary) -> Result<LogicalPlan> {
        let input = self.input(&s.input).await?;
        let stats: Vec<String> = if s.statistics.is_empty() {
            DEFAULT_SUMMARY.map(String::from).to_vec()
        } else {
            s.statistics.clone()
        };
        summarize(&self.state, input, &stats)
    }
}

/// One statistic of one column: the aggregates it needs and its value
/// over their (hidden) outputs.
fn statistic(
    state: &SessionState,
    stat: &str,
    column: &Expr,
    numeric: &Expr,
    hidden: &mut Vec<Expr>,
) -> Result<Expr> {
    // Each aggregate once (the percentiles of a column share its values).
    let mut keep = |e: Expr| {
        let i = match hidden.iter().position(|h| h.clone().unalias() == e) {
            Some(i) => i,
            None => {
                hidden.push(e.alias(format!("__kiln_stat{}", hidden.len())));
                hidden.len() - 1
            }
        };
        col(format!("__kiln_stat{i}"))
    };
    let value = match stat.to_ascii_lowercase().as_str() {
        "count" => keep(aggregate_call(state, "count", vec![column.clone()])?),
        "count_distinct" => keep(distinct(aggregate_call(
            state,
            "count",
            vec![column.clone()],
        )?)),
        "approx_count_distinct" => keep(aggregate_call(
            state,
            "approx_count_distinct",
            vec![column.clone()],
        )?),
        "mean" => keep(aggregate_call(state, "avg", vec![numeric.clone()])?),
        "stddev" => keep(aggregate_call(state, "stddev", vec![numeric.clone()])?),
        "min" => keep(aggregate_call(state, "min", vec![column.clone()])?),
        "max" => keep(aggregate_call(state, "max", vec![column.clone()])?),
        p if p.ends_with('%') => {
            let q = p
                .trim_end_matches('%')
                .parse::<f64>()
                .ok()
                .filter(|q| (0.0..=100.0).contains(q))
                .ok_or_else(|| unknown_statistic(stat))?;
            let sorted = keep(sorted_values(state, numeric.clone())?);
            quantile_at(state, sorted, q / 100.0, SUMMARY_RELATIVE_ERROR)?
        }
        _ => return Err(unknown_statistic(stat)),
    };
    Ok(cast(value, DataType::Utf8))
}

/// The aggregate `e` over distinct values.
fn distinct(e: Expr) -> Expr {
    match e {
        Expr::AggregateFunction(mut f) => {
            f.params.distinct = true;
            Expr::AggregateFunction(f)
        }
        other => other,
    }
}

fn unknown_statistic(stat: &str) -> ConnectError {
    ConnectError::IllegalArgument(format!("{stat} is not a recognised statistic."))
}

/// The `summary` table of `input`'s numeric and string columns.
fn summarize(state: &SessionState, input: LogicalPlan, stats: &[String]) -> Result<LogicalPlan> {
    let columns: Vec<(String, Expr, Expr)> = input
        .schema()
        .iter()
        .filter(|(_, f)| f.data_type().is_numeric() || is_string(f.data_type()))
        .map(|(q, f)| {
            let c = Expr::Column(Column::new(q.cloned(), f.name()));
            // Spark averages a string column's values as doubles (NULL
            // where one is not a number).
            let numeric = if is_string(f.data_type()) {
                try_cast(c.clone(), DataType::Float64)
            } else {
                c.clone()
            };
            (f.name().clone(), c, numeric)
        })
        .collect();
    let mut hidden = vec![];
    let mut rows = vec![];
    for stat in stats {
        let mut row = vec![("summary".to_string(), lit(stat.as_str()))];
        for (name, c, numeric) in &columns {
            row.push((
                name.clone(),
                statistic(state, stat, c, numeric, &mut hidden)?,
            ));
        }
        rows.push(row);
    }
    if hidden.is_empty() {
        // No column to describe: the statistics' names alone.
        hidden.push(lit(ScalarValue::Null).alias("__kiln_stat0"));
        let one = LogicalPlanBuilder::empty(true).project(hidden)?.build()?;
        return expand(state, one, vec![], rows);
    }
    let aggregated = LogicalPlanBuilder::from(input)
        .aggregate(Vec::<Expr>::new(), hidden)?
        .build()?;
    expand(state, aggregated, vec![], rows)
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}
