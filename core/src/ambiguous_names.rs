//! References to a duplicated result name, which Spark refuses as
//! ambiguous.
//!
//! A relation may have two columns of one name (`SELECT k, t.k`, `WITH
//! t(x, x)`); inside the engine the second carries a hidden suffix
//! ([`crate::spark_names`]), so DataFusion resolves the plain name to the
//! first one and answered with it. Spark reports `AMBIGUOUS_REFERENCE`
//! unless both columns are the same value (`SELECT a, a`). The analyzer
//! rule [`AmbiguousReferences`] runs first and fails a plan that refers to
//! a name its input has twice, except where the node reads both columns
//! (a `*` expands to every column, which Spark allows).

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{plan_err, Column, DFSchema, Result};
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::optimizer::AnalyzerRule;

use crate::spark_names::display_name;

/// The analyzer rule of this module (see the module documentation).
#[derive(Debug, Default)]
pub struct AmbiguousReferences;

/// Puts [`AmbiguousReferences`] first into `builder`'s analyzer.
pub fn register(builder: &mut datafusion::execution::SessionStateBuilder) {
    let mut analyzer = builder.analyzer().take().unwrap_or_default();
    analyzer.rules.insert(0, Arc::new(AmbiguousReferences));
    *builder.analyzer() = Some(analyzer);
}

impl AnalyzerRule for AmbiguousReferences {
    fn name(&self) -> &str {
        "spark_ambiguous_references"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.apply_with_subqueries(|node| {
            check(node)?;
            Ok(TreeNodeRecursion::Continue)
        })?;
        Ok(plan)
    }
}

/// Fails when `node` reads a column whose name another column of the same
/// input has too (a different value), without reading that other column.
fn check(node: &LogicalPlan) -> Result<()> {
    let inputs = node.inputs();
    if inputs.is_empty() {
        return Ok(());
    }
    let mut read: Vec<Column> = vec![];
    node.apply_expressions(|e| {
        read.extend(e.column_refs().into_iter().cloned());
        Ok(TreeNodeRecursion::Continue)
    })?;
    for c in &read {
        if display_name(&c.name) != c.name {
            continue;
        }
        for input in &inputs {
            let schema: &DFSchema = input.schema();
            let Some(first) = schema.maybe_index_of_column(c) else {
                continue;
            };
            for (i, (qualifier, field)) in schema.iter().enumerate() {
                let twin = i != first
                    && qualifier == c.relation.as_ref()
                    && field.name() != &c.name
                    && display_name(field.name()).eq_ignore_ascii_case(&c.name);
                if !twin {
                    continue;
                }
                let other = Column::new(qualifier.cloned(), field.name());
                let same = match (definition(input, first), definition(input, i)) {
                    (Some(a), Some(b)) => a == b,
                    _ => false,
                };
                if !same && !read.contains(&other) {
                    return plan_err!(
                        "[AMBIGUOUS_REFERENCE] Reference `{}` is ambiguous: the input has two \
                         columns of that name; alias one of them differently",
                        c.name
                    );
                }
            }
        }
    }
    Ok(())
}

/// The expression that computes column `index` of `plan`, when `plan` is a
/// projection (under aliases of relations).
fn definition(plan: &LogicalPlan, index: usize) -> Option<Expr> {
    match plan {
        LogicalPlan::Projection(p) => p.expr.get(index).map(|e| e.clone().unalias()),
        LogicalPlan::SubqueryAlias(s) => definition(&s.input, index),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    async fn run(sql: &str) -> Result<usize, String> {
        let batches = crate::test_support::job_batches(sql).await?;
        Ok(batches.iter().map(|b| b.num_rows()).sum())
    }

    #[tokio::test]
    async fn a_name_held_twice_is_ambiguous() {
        let e = run("SELECT x FROM (SELECT 1 AS x, 2 AS x) t")
            .await
            .unwrap_err();
        assert!(e.contains("AMBIGUOUS_REFERENCE"), "{e}");
        let e = run("SELECT 1 FROM (SELECT 1 AS x, 2 AS x) t WHERE x > 0")
            .await
            .unwrap_err();
        assert!(e.contains("AMBIGUOUS_REFERENCE"), "{e}");
    }

    #[tokio::test]
    async fn star_and_equal_columns_are_not() {
        assert_eq!(run("SELECT * FROM (SELECT 1 AS x, 2 AS x) t").await, Ok(1));
        assert_eq!(
            run("SELECT a FROM (SELECT a, a FROM (VALUES (1)) v(a)) t").await,
            Ok(1)
        );
    }
}
