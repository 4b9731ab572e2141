//! Two flags of window functions that datafusion-proto 55 does not carry
//! to executors, restored after a stage plan is decoded
//! ([`crate::codec::decode_plan`]). Both lost silently, giving wrong
//! answers rather than errors:
//!
//! - `IGNORE NULLS` (`last_value(v) IGNORE NULLS OVER ...`, `first_value`,
//!   `lead`, `lag`, `nth_value`): encoded as `false`, as the encoder cannot
//!   read it back from the expression.
//! - the reversal DataFusion's planner applies to a window ordered against
//!   another window's sort (`lead(v) OVER (ORDER BY id)` beside `... OVER
//!   (ORDER BY id DESC)`): the evaluator of `lead`, `lag` and `nth_value`
//!   must know it runs reversed, and then `lead` answered as `lag`.
//!
//! The expression's name keeps what was written (` IGNORE NULLS`, the
//! `ORDER BY [...]` directions), and the expressions are rebuilt from it.

use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use datafusion::physical_plan::ExecutionPlan;

/// `plan` (just decoded) with its window expressions' lost flags restored.
pub fn restore(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    use datafusion::logical_expr::{WindowFrame, WindowFunctionDefinition};
    use datafusion::physical_expr::PhysicalSortExpr;
    use datafusion::physical_plan::windows::{
        create_window_expr, schema_add_window_field, BoundedWindowAggExec, StandardWindowExpr,
        WindowAggExec, WindowExpr, WindowUDFExpr,
    };

    fn repaired(
        exprs: &[Arc<dyn WindowExpr>],
        input: &Arc<dyn ExecutionPlan>,
    ) -> Result<Option<Vec<Arc<dyn WindowExpr>>>> {
        let mut changed = false;
        let mut out = Vec::with_capacity(exprs.len());
        for e in exprs {
            let udf = e
                .as_any()
                .downcast_ref::<StandardWindowExpr>()
                .and_then(|s| {
                    s.get_standard_func_expr()
                        .as_any()
                        .downcast_ref::<WindowUDFExpr>()
                });
            let ignore_nulls = e.name().contains(" IGNORE NULLS");
            let reversed = udf.is_some_and(|u| {
                matches!(u.fun().name(), "lead" | "lag" | "nth_value") && written_reversed(e)
            });
            let Some(udf) = udf.filter(|_| ignore_nulls || reversed) else {
                out.push(Arc::clone(e));
                continue;
            };
            let fun = WindowFunctionDefinition::WindowUDF(Arc::clone(udf.fun()));
            let schema = schema_add_window_field(udf.args(), &input.schema(), &fun, e.name())?;
            let build = |order_by: &[PhysicalSortExpr], frame: Arc<WindowFrame>| {
                create_window_expr(
                    &fun,
                    e.name().to_string(),
                    udf.args(),
                    e.partition_by(),
                    order_by,
                    frame,
                    Arc::clone(&schema),
                    ignore_nulls,
                    false,
                    None,
                )
            };
            let rebuilt = if reversed {
                // The expression as written, then reversed by DataFusion's
                // own rule: the evaluator is told it runs reversed.
                let written: Vec<PhysicalSortExpr> =
                    e.order_by().iter().map(|o| o.reverse()).collect();
                let original = build(&written, Arc::new(e.get_window_frame().reverse()))?;
                match original.get_reverse_expr() {
                    Some(r) => r,
                    None => {
                        return Err(DataFusionError::Internal(format!(
                            "window function {} cannot run reversed",
                            e.name()
                        )))
                    }
                }
            } else {
                build(e.order_by(), Arc::clone(e.get_window_frame()))?
            };
            out.push(rebuilt);
            changed = true;
        }
        Ok(changed.then_some(out))
    }

    /// Whether `e` runs in the reverse of the order it was written with:
    /// its name keeps the written `ORDER BY [...]`, and DataFusion's planner
    /// may flip a window's order to share a sort with another window; the
    /// flag that tells lead/lag/nth_value so is not on the wire either.
    fn written_reversed(e: &Arc<dyn WindowExpr>) -> bool {
        let name = e.name();
        let Some(start) = name.find(" ORDER BY [") else {
            return false;
        };
        let rest = &name[start + " ORDER BY [".len()..];
        let Some(end) = rest.rfind(']') else {
            return false;
        };
        let written: Vec<bool> = rest[..end]
            .split(", ")
            .filter_map(|key| {
                if key.ends_with(" DESC NULLS FIRST") || key.ends_with(" DESC NULLS LAST") {
                    Some(true)
                } else if key.ends_with(" ASC NULLS FIRST") || key.ends_with(" ASC NULLS LAST") {
                    Some(false)
                } else {
                    None
                }
            })
            .collect();
        let actual: Vec<bool> = e.order_by().iter().map(|o| o.options.descending).collect();
        !actual.is_empty()
            && written.len() == actual.len()
            && written.iter().zip(&actual).all(|(w, a)| w != a)
    }

    plan.transform_up(|node| {
        if let Some(w) = node.downcast_ref::<BoundedWindowAggExec>() {
            if let Some(exprs) = repaired(w.window_expr(), w.input())? {
                let can_repartition = !w.partition_keys().is_empty();
                let rebuilt = BoundedWindowAggExec::try_new(
                    exprs,
                    Arc::clone(w.input()),
                    w.input_order_mode.clone(),
                    can_repartition,
                )?;
                return Ok(Transformed::yes(Arc::new(rebuilt) as Arc<dyn ExecutionPlan>));
            }
        } else if let Some(w) = node.downcast_ref::<WindowAggExec>() {
            if let Some(exprs) = repaired(w.window_expr(), w.input())? {
                let can_repartition = !w.partition_keys().is_empty();
                let rebuilt =
                    WindowAggExec::try_new(exprs, Arc::clone(w.input()), can_repartition)?;
                return Ok(Transformed::yes(Arc::new(rebuilt) as Arc<dyn ExecutionPlan>));
            }
        }
        Ok(Transformed::no(node))
    })
    .map(|t| t.data)
}

#[cfg(test)]
mod tests {
    use arrow::util::pretty::pretty_format_batches;

    /// Rows of `sql` run in one process, and after its physical plan went
    /// through the wire encoding as a stage plan does.
    async fn before_and_after_the_wire(sql: &str) -> (String, String) {
        let conf = crate::config::EngineConf::parse(&Default::default()).unwrap();
        let config = conf.session_config(2).unwrap();
        let runtime = crate::config::runtime_env(None, None).unwrap();
        let ctx = crate::config::spark_session(config, runtime);
        let mut stmts = crate::sql::parse_job(sql, "spark", "test").unwrap();
        let mut stmt = stmts.remove(0).statement;
        crate::sql::prepare(&mut stmt, &Default::default());
        let plan = ctx.state().statement_to_plan(stmt).await.unwrap();
        let physical = ctx
            .execute_logical_plan(plan)
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        let bytes = crate::codec::encode_plan(physical.clone()).unwrap();
        let decoded = crate::codec::decode_plan(&bytes, &ctx.task_ctx()).unwrap();
        let run = |p| async {
            let batches = datafusion::physical_plan::collect(p, ctx.task_ctx())
                .await
                .unwrap();
            pretty_format_batches(&batches).unwrap().to_string()
        };
        (run(physical).await, run(decoded).await)
    }

    const ROWS: &str = "(VALUES (1, 12.5), (2, 7.0), (3, NULL), (4, 30.25)) t(id, fare)";

    #[tokio::test]
    async fn ignore_nulls_survives_the_wire() {
        let (here, there) = before_and_after_the_wire(&format!(
            "SELECT id, last_value(fare) IGNORE NULLS OVER (ORDER BY id) AS f, \
             lead(fare) IGNORE NULLS OVER (ORDER BY id) AS l FROM {ROWS} ORDER BY id"
        ))
        .await;
        assert_eq!(here, there);
        assert!(here.contains("| 3  | 7.00  | 30.25 |"), "{here}");
    }

    #[tokio::test]
    async fn a_reversed_window_runs_reversed_after_the_wire() {
        let (here, there) = before_and_after_the_wire(&format!(
            "SELECT id, lead(fare) OVER (ORDER BY id) AS l, nth_value(fare, 2) OVER (ORDER BY id) AS n, \
             first_value(fare) OVER (ORDER BY id DESC) AS d FROM {ROWS} ORDER BY id"
        ))
        .await;
        assert_eq!(here, there);
    }
}
