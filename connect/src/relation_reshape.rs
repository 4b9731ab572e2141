//! Relations that reshape their input's columns: Unpivot (`unpivot`/`melt`),
//! ToSchema (`df.to(schema)`) and the pivot of `groupBy().pivot()`.

use arrow::datatypes::DataType;
use datafusion::common::{Column, ScalarValue};
use datafusion::execution::session_state::SessionState;
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::{
    binary_expr, cast, col, lit, when, Expr, ExprSchemable, LogicalPlan, LogicalPlanBuilder,
    Operator,
};
use datafusion::prelude::coalesce;

use crate::error::{ConnectError, Result};
use crate::expression::{named, to_expr};
use crate::proto;
use crate::relation::Planner;
use crate::relation_stat::scalar_call;
use crate::types;

/// The column that carries an unpivoted row's (name, value) pairs.
const PAIRS: &str = "__kiln_unpivot";

impl Planner<'_> {
    /// `unpivot(ids, values, variableColumnName, valueColumnName)`: each input
    /// row becomes one row per value column, in the value columns' order (as
    /// Spark's Expand emits them), the values cast to their common type.
    pub(crate) async fn unpivot(&mut self, u: &proto::Unpivot) -> Result<LogicalPlan> {
        let input = self.input(&u.input).await?;
        let scope = self.scope(input.schema());
        let ids = u
            .ids
            .iter()
            .map(|e| Ok(named(e, to_expr(e, &scope)?, &scope)))
            .collect::<Result<Vec<_>>>()?;
        let values: Vec<Expr> = match &u.values {
            Some(v) => v
                .values
                .iter()
                .map(|e| Ok(named(e, to_expr(e, &scope)?, &scope)))
                .collect::<Result<_>>()?,
            // No values: every column that is not an id.
            None => input
                .schema()
                .iter()
                .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())))
                .filter(|c| !ids.contains(c))
                .collect(),
        };
        if values.is_empty() {
            return Err(ConnectError::Analysis {
                class: "UNPIVOT_REQUIRES_VALUE_COLUMNS",
                message: "At least one value column needs to be specified for UNPIVOT, all \
                          columns specified as ids."
                    .into(),
            });
        }
        let value_types = values
            .iter()
            .map(|v| v.get_type(input.schema()))
            .collect::<datafusion::common::Result<Vec<_>>>()?;
        let common = types::least_common_type(
            &value_types,
            "UNPIVOT_VALUE_DATA_TYPE_MISMATCH",
            |names| {
                format!(
                    "Unpivot value columns must share a least common type, some types do not: {names}"
                )
            },
        )?;
        let rows = values
            .iter()
            .map(|v| {
                let name = match v {
                    Expr::Alias(a) => a.name.clone(),
                    Expr::Column(c) => c.name.clone(),
                    other => other.schema_name().to_string(),
                };
                vec![
                    (u.variable_column_name.clone(), lit(name)),
                    (
                        u.value_column_name.clone(),
                        cast(v.clone().unalias(), common.clone()),
                    ),
                ]
            })
            .collect();
        expand(&self.state, input, ids, rows)
    }

    /// `df.to(schema)`: the schema's columns, found by name
    /// (case-insensitively), in its order, cast to its types.
    pub(crate) async fn conform_to_schema(&mut self, t: &proto::ToSchema) -> Result<LogicalPlan> {
        let input = self.input(&t.input).await?;
        let target = t
            .schema
            .as_ref()
            .ok_or_else(|| ConnectError::IllegalArgument("to(schema) without a schema".into()))?;
        let DataType::Struct(fields) = types::from_spark(target)? else {
            return Err(ConnectError::IllegalArgument(
                "to(schema) takes a StructType".into(),
            ));
        };
        let mut exprs = vec![];
        for f in fields.iter() {
            let (q, have) = input
                .schema()
                .iter()
                .find(|(_, c)| c.name().eq_ignore_ascii_case(f.name()))
                .ok_or_else(|| ConnectError::Analysis {
                    class: "UNRESOLVED_COLUMN.WITH_SUGGESTION",
                    message: format!(
                        "A column or function parameter with name `{}` cannot be resolved.",
                        f.name()
                    ),
                })?;
            let c = Expr::Column(Column::new(q.cloned(), have.name()));
            let c = if have.data_type() == f.data_type() {
                c
            } else {
                cast(c, f.data_type().clone())
            };
            exprs.push(c.alias(f.name()));
        }
        Ok(LogicalPlanBuilder::from(input).project(exprs)?.build()?)
    }

    /// `groupBy(groups).pivot(column, values).agg(aggs)`.
    pub(crate) async fn pivot(
        &mut self,
        input: LogicalPlan,
        groups: Vec<Expr>,
        aggs: Vec<Expr>,
        pivot: Expr,
        given: &[proto::expression::Literal],
    ) -> Result<LogicalPlan> {
        let values = self.pivot_values(&input, &pivot, given).await?;
        let (computed, columns) = pivot_aggregates(&pivot, &values, &aggs)?;
        let aggregated = self
            .df(input)
            .aggregate(groups, computed)?
            .into_unoptimized_plan();
        let mut out: Vec<Expr> = aggregated
            .schema()
            .iter()
            .filter(|(_, f)| !f.name().starts_with("__kiln_pivot"))
            .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())))
            .collect();
        out.extend(columns);
        Ok(LogicalPlanBuilder::from(aggregated).project(out)?.build()?)
    }

    /// `df.crosstab(col1, col2)`: per value of `col1` (as a string, in the
    /// column `col1_col2`), the number of rows with each value of `col2`
    /// (columns named by the values as strings, in string order).
    pub(crate) async fn crosstab(&mut self, c: &proto::StatCrosstab) -> Result<LogicalPlan> {
        let input = self.input(&c.input).await?;
        let scope = self.scope(input.schema());
        let key = |name: &str| -> Result<Expr> {
            let column = crate::expression::resolve_column(
                &crate::expression::parse_identifier(name)?,
                None,
                &scope,
            )?;
            Ok(coalesce(vec![cast(column, DataType::Utf8), lit("null")]))
        };
        let (first, second) = (key(&c.col1)?, key(&c.col2)?);
        let values = self.pivot_values(&input, &second, &[]).await?;
        let counts = values
            .iter()
            .map(|v| {
                let name = match v {
                    ScalarValue::Utf8(Some(s)) => s.clone(),
                    other => other.to_string(),
                };
                Ok(with_filter(count(lit(1)), &second.clone().eq(lit(v.clone())))?.alias(name))
            })
            .collect::<Result<Vec<_>>>()?;
        let table = format!("{}_{}", c.col1, c.col2);
        Ok(self
            .df(input)
            .aggregate(vec![first.alias(table)], counts)?
            .into_unoptimized_plan())
    }

    /// The pivot values of `groupBy().pivot(col, values)`; without values,
    /// the column's distinct values in ascending order, as Spark collects
    /// them (a query run on the driver first).
    async fn pivot_values(
        &self,
        input: &LogicalPlan,
        pivot: &Expr,
        given: &[proto::expression::Literal],
    ) -> Result<Vec<ScalarValue>> {
        if !given.is_empty() {
            return given.iter().map(crate::expression::literal).collect();
        }
        let distinct = self
            .df(input.clone())
            .select(vec![pivot.clone().alias("v")])?
            .distinct()?
            .sort(vec![col("v").sort(true, true)])?;
        let mut values = vec![];
        for b in distinct.collect().await? {
            for i in 0..b.num_rows() {
                values.push(ScalarValue::try_from_array(b.column(0), i)?);
            }
        }
        Ok(values)
    }
}

/// The aggregates of a pivot: each of `aggs` once per value, over the rows
/// whose pivot column holds that value. Returns the plain aggregates to
/// compute (under hidden names) and the output columns over them: NULL for
/// a group without such rows (as Spark's PivotFirst gives), named `value`
/// (one aggregate) or `value_aggregate` (several).
pub fn pivot_aggregates(
    pivot: &Expr,
    values: &[ScalarValue],
    aggs: &[Expr],
) -> Result<(Vec<Expr>, Vec<Expr>)> {
    let (mut computed, mut columns) = (vec![], vec![]);
    for v in values {
        let cond = binary_expr(pivot.clone(), Operator::IsNotDistinctFrom, lit(v.clone()));
        let label = if v.is_null() {
            "null".to_string()
        } else {
            v.to_string()
        };
        for a in aggs {
            let agg_name = match a {
                Expr::Alias(x) => x.name.clone(),
                other => other.schema_name().to_string(),
            };
            let filtered = with_filter(a.clone().unalias(), &cond)?;
            let rows = with_filter(count(lit(1)), &cond)?;
            let i = computed.len();
            computed.push(filtered.alias(format!("__kiln_pivot{i}")));
            computed.push(rows.alias(format!("__kiln_pivot{}", i + 1)));
            let name = if aggs.len() == 1 {
                label.clone()
            } else {
                format!("{label}_{agg_name}")
            };
            let value = col(format!("__kiln_pivot{i}"));
            let present = col(format!("__kiln_pivot{}", i + 1)).gt(lit(0i64));
            columns.push(when(present, value).end()?.alias(name));
        }
    }
    Ok((computed, columns))
}

/// The aggregate `agg` over only the rows where `cond` holds.
fn with_filter(agg: Expr, cond: &Expr) -> Result<Expr> {
    match agg {
        Expr::AggregateFunction(mut f) => {
            f.params.filter = Some(Box::new(match f.params.filter.take() {
                Some(old) => (*old).and(cond.clone()),
                None => cond.clone(),
            }));
            Ok(Expr::AggregateFunction(f))
        }
        other => Err(ConnectError::Unsupported(format!(
            "pivot of `{other}` (Kiln pivots aggregate functions)"
        ))),
    }
}

/// `plan` with each row repeated once per entry of `rows`: the columns
/// `keep`, then the entry's (name, value) columns (the same names in every
/// entry), the repetitions of a row one after another (as Spark's Expand).
pub fn expand(
    state: &SessionState,
    plan: LogicalPlan,
    keep: Vec<Expr>,
    rows: Vec<Vec<(String, Expr)>>,
) -> Result<LogicalPlan> {
    let names: Vec<String> = rows
        .first()
        .map(|r| r.iter().map(|(n, _)| n.clone()).collect())
        .unwrap_or_default();
    let structs: Vec<Expr> = rows
        .into_iter()
        .map(|r| {
            scalar_call(
                state,
                "named_struct",
                r.into_iter()
                    .enumerate()
                    .flat_map(|(i, (_, v))| [lit(format!("f{i}")), v])
                    .collect(),
            )
        })
        .collect::<Result<_>>()?;
    let mut first = keep;
    first.push(scalar_call(state, "make_array", structs)?.alias(PAIRS));
    let exploded = LogicalPlanBuilder::from(plan)
        .project(first)?
        .unnest_column(PAIRS)?
        .build()?;
    let mut out: Vec<Expr> = exploded
        .schema()
        .iter()
        .filter(|(_, f)| f.name() != PAIRS)
        .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())))
        .collect();
    for (i, n) in names.iter().enumerate() {
        let field = scalar_call(state, "get_field", vec![col(PAIRS), lit(format!("f{i}"))])?;
        out.push(field.alias(n));
    }
    Ok(LogicalPlanBuilder::from(exploded).project(out)?.build()?)
}
