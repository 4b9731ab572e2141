//! Filters over an aggregate without `GROUP BY` that do not depend on any
//! column, kept above it.
//!
//! An aggregate without grouping keys answers one row even for no input
//! rows. DataFusion's `push_down_filter` pushes a predicate below an
//! aggregate when every column it reads is a grouping key, which a
//! predicate that reads no column (`1 != 1`, after constants from a
//! projection are substituted) vacuously satisfies: below the aggregate
//! it removes input rows, and the aggregate still answers its one row.
//! `SELECT 1 FROM (SELECT 1 AS z, min(x) FROM t) b WHERE b.z != b.z`
//! then answered a row (Spark: none).
//!
//! [`GlobalAggregateFilter`], first among the optimizer's rules, finds the
//! conjuncts of a filter over such an aggregate (through projections and
//! aliases) that read no column of the aggregate, and writes them in
//! terms of constants only. DataFusion's expression simplifier then folds
//! them to `true` or `false`, and `eliminate_filter` drops the filter or
//! replaces the whole input with no rows before any push-down happens.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, Result};
use datafusion::logical_expr::utils::{conjunction, split_conjunction_owned};
use datafusion::logical_expr::{Expr, Filter, LogicalPlan};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

/// The optimizer rule of this module (see the module documentation).
#[derive(Debug, Default)]
pub struct GlobalAggregateFilter;

/// Puts [`GlobalAggregateFilter`] first among `builder`'s optimizer rules.
pub fn register(builder: &mut datafusion::execution::SessionStateBuilder) {
    let mut optimizer = builder.optimizer().take().unwrap_or_default();
    optimizer.rules.insert(0, Arc::new(GlobalAggregateFilter));
    *builder.optimizer() = Some(optimizer);
}

impl OptimizerRule for GlobalAggregateFilter {
    fn name(&self) -> &str {
        "kiln_global_aggregate_filter"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Filter(filter) = plan else {
            return Ok(Transformed::no(plan));
        };
        let Some(values) = values_over_global_aggregate(&filter.input) else {
            return Ok(Transformed::no(LogicalPlan::Filter(filter)));
        };
        let mut changed = false;
        let conjuncts = split_conjunction_owned(filter.predicate.clone())
            .into_iter()
            .map(|c| {
                let constant = substitute(c.clone(), &values)?;
                if constant.column_refs().is_empty() && !constant.is_volatile() && constant != c {
                    changed = true;
                    Ok(constant)
                } else {
                    Ok(c)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        if !changed {
            return Ok(Transformed::no(LogicalPlan::Filter(filter)));
        }
        let predicate = conjunction(conjuncts).unwrap_or(filter.predicate);
        Filter::try_new(predicate, filter.input).map(|f| Transformed::yes(LogicalPlan::Filter(f)))
    }
}

/// For a plan that is a global aggregate under projections and aliases:
/// each output column's value in terms of the aggregate's output columns.
fn values_over_global_aggregate(plan: &LogicalPlan) -> Option<HashMap<Column, Expr>> {
    match plan {
        LogicalPlan::Aggregate(a) if a.group_expr.is_empty() => Some(
            a.schema
                .columns()
                .into_iter()
                .map(|c| (c.clone(), Expr::Column(c)))
                .collect(),
        ),
        LogicalPlan::Projection(p) => {
            let below = values_over_global_aggregate(&p.input)?;
            let mut out = HashMap::new();
            for (c, e) in p.schema.columns().into_iter().zip(&p.expr) {
                out.insert(c, substitute(e.clone().unalias(), &below).ok()?);
            }
            Some(out)
        }
        LogicalPlan::SubqueryAlias(s) => {
            let below = values_over_global_aggregate(&s.input)?;
            let mut out = HashMap::new();
            for (c, inner) in s
                .schema
                .columns()
                .into_iter()
                .zip(s.input.schema().columns())
            {
                out.insert(c, below.get(&inner)?.clone());
            }
            Some(out)
        }
        _ => None,
    }
}

/// `e` with every column of `values` replaced by its value.
fn substitute(e: Expr, values: &HashMap<Column, Expr>) -> Result<Expr> {
    e.transform(|e| match &e {
        Expr::Column(c) => match values.get(c) {
            Some(v) => Ok(Transformed::yes(v.clone())),
            None => Ok(Transformed::no(e)),
        },
        _ => Ok(Transformed::no(e)),
    })
    .map(|t| t.data)
}

#[cfg(test)]
mod tests {
    async fn count(sql: &str) -> usize {
        let batches = crate::test_support::sql_batches(sql).await;
        batches.iter().map(|b| b.num_rows()).sum()
    }

    #[tokio::test]
    async fn a_false_constant_over_a_global_aggregate_keeps_no_row() {
        let sql = "SELECT 1 FROM (SELECT 1 AS z, MIN(a.x) FROM (SELECT 1 AS x) a WHERE false) b \
                   WHERE b.z != b.z";
        assert_eq!(count(sql).await, 0);
        let sql = "SELECT 1 FROM (SELECT 1 AS z, MIN(a.x) FROM (SELECT 1 AS x) a WHERE false) b \
                   WHERE b.z = b.z";
        assert_eq!(count(sql).await, 1);
    }

    #[tokio::test]
    async fn predicates_on_aggregates_stay() {
        let sql = "SELECT * FROM (SELECT count(*) AS n FROM (VALUES (1), (2)) t(x)) WHERE n > 1";
        assert_eq!(count(sql).await, 1);
        let sql = "SELECT * FROM (SELECT count(*) AS n FROM (VALUES (1), (2)) t(x)) WHERE n > 5";
        assert_eq!(count(sql).await, 0);
    }
}
