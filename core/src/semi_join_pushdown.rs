//! A semi or anti join against a grouped subquery, pushed below the inner
//! joins that do not need it (Spark's `PushLeftSemiLeftAntiThroughJoin`).
//!
//! DataFusion turns `WHERE o_orderkey IN (SELECT l_orderkey ... GROUP BY
//! l_orderkey HAVING ...)` into a semi join above all of the query's inner
//! joins (TPC-H q18: above `customer ⋈ orders ⋈ lineitem`), so the joins
//! below it run over every row first. When the semi join's keys come from one
//! input of an inner join, [`SemiJoinPushdown`] moves it down to that input:
//! the same rows come out (an inner join pairs each row on its own), and the
//! joins above see only the few rows that pass.
//!
//! Only semi joins against a grouped (so usually small) subquery move: one
//! against a large table (q21's `EXISTS` over `lineitem`) is cheaper after
//! the inner joins have cut its input down.

use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, DFSchema, JoinType, Result};
use datafusion::logical_expr::{Join, LogicalPlan};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

/// The optimizer rule of this module (see the module documentation).
#[derive(Debug, Default)]
pub struct SemiJoinPushdown;

impl OptimizerRule for SemiJoinPushdown {
    fn name(&self) -> &str {
        "kiln_semi_join_pushdown"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Join(semi) = &plan else {
            return Ok(Transformed::no(plan));
        };
        if !matches!(semi.join_type, JoinType::LeftSemi | JoinType::LeftAnti)
            || !grouped(&semi.right)
        {
            return Ok(Transformed::no(plan));
        }
        let needed = left_columns(semi);
        match push(&semi.left, semi, &needed, false)? {
            Some(pushed) => Ok(Transformed::yes(pushed)),
            None => Ok(Transformed::no(plan)),
        }
    }
}

/// Whether a plan ends in a grouping (under projections, filters, aliases).
fn grouped(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Aggregate(a) => !a.group_expr.is_empty(),
        LogicalPlan::Projection(p) => grouped(&p.input),
        LogicalPlan::Filter(f) => grouped(&f.input),
        LogicalPlan::SubqueryAlias(s) => grouped(&s.input),
        _ => false,
    }
}

/// The columns of the semi join's left input that its keys and filter read.
fn left_columns(semi: &Join) -> Vec<Column> {
    let schema = semi.left.schema();
    let mut cols: Vec<Column> = semi
        .on
        .iter()
        .flat_map(|(l, _)| l.column_refs())
        .chain(semi.filter.iter().flat_map(|f| f.column_refs()))
        .filter(|c| schema.has_column(c))
        .cloned()
        .collect();
    cols.sort_by_key(|c| c.flat_name());
    cols.dedup();
    cols
}

fn has_all(schema: &DFSchema, cols: &[Column]) -> bool {
    cols.iter().all(|c| schema.has_column(c))
}

/// `node` with the semi join applied as deep below it as it can go; `None`
/// when it cannot go below `node` at all (and `moved` is false).
fn push(
    node: &Arc<LogicalPlan>,
    semi: &Join,
    needed: &[Column],
    moved: bool,
) -> Result<Option<LogicalPlan>> {
    match node.as_ref() {
        // A projection that passes the needed columns through unchanged.
        LogicalPlan::Projection(p)
            if needed.iter().all(|c| {
                p.expr
                    .iter()
                    .any(|e| matches!(e, datafusion::logical_expr::Expr::Column(x) if x == c))
            }) =>
        {
            let Some(input) = push(&p.input, semi, needed, moved)? else {
                return Ok(None);
            };
            Ok(Some(node.with_new_exprs(node.expressions(), vec![input])?))
        }
        LogicalPlan::Join(j) if j.join_type == JoinType::Inner => {
            let (left, right) = if has_all(j.left.schema(), needed) {
                (push(&j.left, semi, needed, true)?, None)
            } else if has_all(j.right.schema(), needed) {
                (None, push(&j.right, semi, needed, true)?)
            } else {
                (None, None)
            };
            let inputs = match (left, right) {
                (Some(l), None) => vec![l, j.right.as_ref().clone()],
                (None, Some(r)) => vec![j.left.as_ref().clone(), r],
                _ => return Ok(None),
            };
            Ok(Some(node.with_new_exprs(node.expressions(), inputs)?))
        }
        _ if moved => {
            let semi = LogicalPlan::Join(semi.clone());
            let right = semi.inputs()[1].clone();
            Ok(Some(semi.with_new_exprs(
                semi.expressions(),
                vec![node.as_ref().clone(), right],
            )?))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::prelude::SessionContext;

    async fn optimized(ctx: &SessionContext, sql: &str) -> String {
        let plan = ctx.sql(sql).await.unwrap().into_optimized_plan().unwrap();
        let text = plan.display_indent().to_string();
        text
    }

    async fn session() -> SessionContext {
        let ctx = SessionContext::new();
        ctx.add_optimizer_rule(Arc::new(SemiJoinPushdown));
        for table in [
            "CREATE TABLE c (ck BIGINT, name BIGINT) AS VALUES (0, 0), (1, 1), (2, 2), (3, 3)",
            "CREATE TABLE o (ok BIGINT, ck2 BIGINT, price BIGINT) AS \
             VALUES (0, 0, 0), (1, 1, 1), (2, 2, 2), (3, 3, 3)",
            "CREATE TABLE l (ok2 BIGINT, qty BIGINT) AS VALUES (0, 0), (1, 1), (2, 2), (3, 3)",
        ] {
            ctx.sql(table).await.unwrap().collect().await.unwrap();
        }
        ctx
    }

    /// The depth (indentation) of the first line naming `what`.
    fn depth(plan: &str, what: &str) -> Option<usize> {
        plan.lines()
            .find(|l| l.contains(what))
            .map(|l| l.len() - l.trim_start().len())
    }

    #[tokio::test]
    async fn a_semi_join_on_a_grouped_subquery_goes_below_the_inner_joins() {
        let ctx = session().await;
        let sql = "SELECT name, ok, sum(qty) FROM c, o, l \
                   WHERE ok IN (SELECT ok2 FROM l GROUP BY ok2 HAVING sum(qty) > 1) \
                   AND ck = ck2 AND ok = ok2 GROUP BY name, ok";
        let plan = optimized(&ctx, sql).await;
        let semi = depth(&plan, "LeftSemi Join").expect("semi join");
        let inner = plan
            .lines()
            .filter(|l| l.contains("Inner Join"))
            .map(|l| l.len() - l.trim_start().len())
            .max()
            .expect("inner join");
        assert!(semi > inner, "{plan}");
        // Same rows as without the rule.
        let plain = SessionContext::new();
        for t in ["c", "o", "l"] {
            plain
                .register_table(t, ctx.table_provider(t).await.unwrap())
                .unwrap();
        }
        let sorted = |b: Vec<RecordBatch>| {
            let mut s: Vec<String> = datafusion::arrow::util::pretty::pretty_format_batches(&b)
                .unwrap()
                .to_string()
                .lines()
                .map(str::to_string)
                .collect();
            s.sort();
            s
        };
        let with = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let without = plain.sql(sql).await.unwrap().collect().await.unwrap();
        assert_eq!(sorted(with), sorted(without));
    }

    #[tokio::test]
    async fn a_semi_join_on_a_table_stays_above_the_joins() {
        let ctx = session().await;
        let plan = optimized(
            &ctx,
            "SELECT name FROM c, o WHERE ck = ck2 AND EXISTS (SELECT 1 FROM l WHERE ok2 = ok)",
        )
        .await;
        let semi = depth(&plan, "LeftSemi Join").expect("semi join");
        let inner = depth(&plan, "Inner Join").expect("inner join");
        assert!(semi < inner, "{plan}");
    }
}
