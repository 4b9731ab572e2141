//! `INTERSECT ALL` and `EXCEPT ALL` with Spark's multiset meaning.
//!
//! DataFusion plans `a INTERSECT ALL b` as a semi join of `a` with `b`, and
//! `a EXCEPT ALL b` as an anti join: every copy of a row of `a` is kept
//! (or dropped) as soon as `b` has one copy of it. Spark keeps a row
//! `min(m, n)` times for `INTERSECT ALL` and `max(m - n, 0)` times for
//! `EXCEPT ALL`, where `a` has it `m` times and `b` `n` times.
//! [`SparkSetOperations`] numbers the copies of each distinct row on both
//! sides (`row_number()` over a window partitioned by every column) and
//! joins on the row and its number: the k-th copy of a row of `a` is in
//! the intersection when `b` has a k-th copy, and in the difference when
//! it has not.
//!
//! DataFusion's plan of these operators is recognized by its shape: a
//! semi or anti join without a filter, NULLs equal, whose keys are every
//! column of both sides in order, and whose left side is not a `DISTINCT`
//! (`INTERSECT` and `EXCEPT` without `ALL` deduplicate the left side, and
//! the join is then right as it is). A join written in SQL never has that
//! shape: `ON` and `USING` joins treat NULLs as unequal.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult};
use datafusion::common::{Column, NullEquality, Result};
use datafusion::execution::SessionStateBuilder;
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::{
    Expr, ExprFunctionExt, Join, JoinConstraint, JoinType, LogicalPlan, LogicalPlanBuilder,
};
use datafusion::optimizer::AnalyzerRule;

/// The column holding each row's copy number on both sides of the join.
const COPY_NUMBER: &str = "__kiln_copy_number";

/// The analyzer rule that gives `INTERSECT ALL` and `EXCEPT ALL` Spark's
/// meaning (see the module documentation).
#[derive(Debug, Default)]
pub struct SparkSetOperations;

impl AnalyzerRule for SparkSetOperations {
    fn name(&self) -> &str {
        "spark_set_operations"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|plan| match plan {
            LogicalPlan::Join(join) if is_set_operation_all(&join) => {
                multiset_join(join).map(Transformed::yes)
            }
            plan => Ok(Transformed::no(plan)),
        })
        .data()
    }
}

/// Whether `join` is DataFusion's plan of `INTERSECT ALL` or `EXCEPT ALL`.
fn is_set_operation_all(join: &Join) -> bool {
    if !matches!(join.join_type, JoinType::LeftSemi | JoinType::LeftAnti)
        || join.filter.is_some()
        || join.null_equality != NullEquality::NullEqualsNull
        || join.join_constraint != JoinConstraint::On
        || join.null_aware
        || matches!(join.left.as_ref(), LogicalPlan::Distinct(_))
    {
        return false;
    }
    let (left, right) = (join.left.schema(), join.right.schema());
    if left.fields().len() != join.on.len()
        || right.fields().len() != join.on.len()
        || left.fields().iter().any(|f| f.name() == COPY_NUMBER)
    {
        return false;
    }
    join.on.iter().enumerate().all(|(i, pair)| match pair {
        (Expr::Column(l), Expr::Column(r)) => {
            let (lq, lf) = left.qualified_field(i);
            let (rq, rf) = right.qualified_field(i);
            l.name == *lf.name()
                && r.name == *rf.name()
                && l.relation.as_ref() == lq
                && r.relation.as_ref() == rq
        }
        _ => false,
    })
}

/// Puts [`SparkSetOperations`] first into `builder`'s analyzer.
pub fn register(builder: &mut SessionStateBuilder) {
    let mut analyzer = builder.analyzer().take().unwrap_or_default();
    analyzer.rules.insert(0, Arc::new(SparkSetOperations));
    *builder.analyzer() = Some(analyzer);
}

/// `input` with each row's copy number among the rows equal to it.
fn numbered(input: LogicalPlan) -> Result<(LogicalPlan, Vec<Column>)> {
    let columns: Vec<Column> = input.schema().columns();
    let partition = columns.iter().cloned().map(Expr::Column).collect();
    let copy = row_number()
        .partition_by(partition)
        .build()?
        .alias(COPY_NUMBER);
    let plan = LogicalPlanBuilder::from(input)
        .window(vec![copy])?
        .build()?;
    Ok((plan, columns))
}

/// The join of `join`'s sides on their rows and copy numbers, with the
/// left side's columns.
fn multiset_join(join: Join) -> Result<LogicalPlan> {
    let (left, mut left_keys) = numbered(Arc::unwrap_or_clone(join.left))?;
    let (right, mut right_keys) = numbered(Arc::unwrap_or_clone(join.right))?;
    let output: Vec<Expr> = left_keys.iter().cloned().map(Expr::Column).collect();
    left_keys.push(Column::from_name(COPY_NUMBER));
    right_keys.push(Column::from_name(COPY_NUMBER));
    LogicalPlanBuilder::from(left)
        .join_detailed(
            right,
            join.join_type,
            (left_keys, right_keys),
            None,
            NullEquality::NullEqualsNull,
        )?
        .project(output)?
        .build()
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::util::pretty::pretty_format_batches;

    async fn rows(sql: &str) -> String {
        let batches = crate::test_support::sql_batches(sql).await;
        pretty_format_batches(&batches).unwrap().to_string()
    }

    fn count_rows(table: &str) -> usize {
        table.lines().filter(|l| l.starts_with("| ")).count() - 1
    }

    #[tokio::test]
    async fn intersect_all_keeps_the_smaller_count() {
        // `1` twice on the left and three times on the right, `2` three
        // times and once, NULL once and twice: 2 + 1 + 1 rows.
        let out = rows(
            "SELECT a FROM (VALUES (1), (1), (2), (2), (2), (NULL), (3)) t(a) \
             INTERSECT ALL SELECT b FROM (VALUES (1), (1), (1), (2), (NULL), (NULL)) u(b) \
             ORDER BY a",
        )
        .await;
        assert_eq!(count_rows(&out), 4, "{out}");
        assert_eq!(out.matches("| 1 ").count(), 2, "{out}");
        assert_eq!(out.matches("| 2 ").count(), 1, "{out}");
    }

    #[tokio::test]
    async fn except_all_subtracts_counts() {
        let out = rows(
            "SELECT a FROM (VALUES (1), (1), (2), (2), (2), (NULL), (NULL)) t(a) \
             EXCEPT ALL SELECT b FROM (VALUES (1), (2), (NULL)) u(b) ORDER BY a",
        )
        .await;
        // One 1, two 2s and one NULL remain.
        assert_eq!(count_rows(&out), 4, "{out}");
        assert_eq!(out.matches("| 2 ").count(), 2, "{out}");
    }

    #[tokio::test]
    async fn distinct_forms_are_unchanged() {
        let out = rows(
            "SELECT a FROM (VALUES (1), (1), (2)) t(a) INTERSECT SELECT b FROM (VALUES (1), (1)) u(b)",
        )
        .await;
        assert_eq!(count_rows(&out), 1, "{out}");
    }
}
