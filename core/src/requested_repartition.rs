//! Keeps the partitioning a user asked for (`df.repartition(n)`,
//! `df.coalesce(n)`, `repartition(n, cols)`) through DataFusion's physical
//! optimizer, as Spark keeps it: `coalesce(1)` before a write writes one
//! file, `repartition(4)` four.
//!
//! DataFusion's `EnforceDistribution` strips every `RepartitionExec` it
//! meets and adds its own exchanges for what the parents require, so a
//! user's exchange would be lost or changed. [`KeepRequested`] runs first,
//! while the only `RepartitionExec`s in the plan are the ones planned from
//! the query's own repartitions, and hides each behind a
//! [`RequestedRepartitionExec`] the other rules leave alone;
//! [`RestoreRequested`] runs last and puts the plain `RepartitionExec` back
//! for a hash exchange, which the distributed planner then cuts into a
//! stage as any other. A round-robin one stays behind its marker: the
//! planner deals its rows one by one, as Spark's `repartition(n)` does,
//! where DataFusion's own round-robin exchanges move whole batches.

use std::fmt;
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::execution::TaskContext;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::execution_plan::replace_children_if_necessary;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};

/// A user's repartition during physical optimization: the same exchange as
/// the `RepartitionExec` it wraps, under a name `EnforceDistribution` does
/// not remove.
#[derive(Debug)]
pub struct RequestedRepartitionExec {
    /// The `RepartitionExec` planned from the query.
    inner: Arc<dyn ExecutionPlan>,
}

impl RequestedRepartitionExec {
    /// The exchange the query asked for.
    pub fn repartition(&self) -> Option<&RepartitionExec> {
        self.inner.downcast_ref::<RepartitionExec>()
    }
}

impl DisplayAs for RequestedRepartitionExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "RequestedRepartitionExec: ")?;
        match self.inner.downcast_ref::<RepartitionExec>() {
            Some(r) => r.fmt_as(t, f),
            None => write!(f, "{}", self.inner.name()),
        }
    }
}

impl ExecutionPlan for RequestedRepartitionExec {
    fn name(&self) -> &str {
        "RequestedRepartitionExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.inner.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        self.inner.children()
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.inner.apply_expressions(f)
    }

    // The exchange redistributes its input anyway: another round-robin
    // below it would only add a shuffle.
    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(RequestedRepartitionExec {
            inner: replace_children_if_necessary(Arc::clone(&self.inner), children)?,
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.inner.execute(partition, context)
    }
}

/// First physical rule: hides the query's own `RepartitionExec`s from the
/// rules that would remove them.
#[derive(Debug, Default)]
pub struct KeepRequested;

impl PhysicalOptimizerRule for KeepRequested {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            if node.is::<RepartitionExec>() {
                let kept: Arc<dyn ExecutionPlan> =
                    Arc::new(RequestedRepartitionExec { inner: node });
                Ok(Transformed::yes(kept))
            } else {
                Ok(Transformed::no(node))
            }
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "kiln_keep_requested_repartition"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Last physical rule: the hidden hash repartitions become plain
/// `RepartitionExec`s again; round-robin ones keep their marker for the
/// distributed planner.
#[derive(Debug, Default)]
pub struct RestoreRequested;

impl PhysicalOptimizerRule for RestoreRequested {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(
            |node| match node.downcast_ref::<RequestedRepartitionExec>() {
                Some(r) if !is_round_robin(r) => Ok(Transformed::yes(Arc::clone(&r.inner))),
                _ => Ok(Transformed::no(node)),
            },
        )
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "kiln_restore_requested_repartition"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

fn is_round_robin(r: &RequestedRepartitionExec) -> bool {
    r.repartition().is_some_and(|rep| {
        matches!(
            rep.partitioning(),
            datafusion::physical_plan::Partitioning::RoundRobinBatch(_)
        )
    })
}

/// DataFusion's physical rules between [`KeepRequested`] and
/// [`RestoreRequested`].
pub fn physical_rules() -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let mut rules: Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> =
        vec![Arc::new(KeepRequested)];
    rules.extend(datafusion::physical_optimizer::optimizer::PhysicalOptimizer::new().rules);
    rules.push(Arc::new(RestoreRequested));
    rules
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::physical_plan::{displayable, ExecutionPlanProperties};
    use datafusion::prelude::{SessionConfig, SessionContext};

    async fn physical(ctx: &SessionContext, sql: &str) -> String {
        let df = ctx.sql(sql).await.unwrap();
        let plan = df.create_physical_plan().await.unwrap();
        let text = displayable(plan.as_ref()).indent(false).to_string();
        text
    }

    fn ctx() -> SessionContext {
        let config = SessionConfig::new().with_target_partitions(2);
        let state = datafusion::execution::SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .with_physical_optimizer_rules(physical_rules())
            .build();
        SessionContext::new_with_state(state)
    }

    #[tokio::test]
    async fn a_requested_repartition_survives_the_optimizer() {
        use datafusion::logical_expr::Partitioning;
        let ctx = ctx();
        for (n, expect) in [(1, "RoundRobinBatch(1)"), (4, "RoundRobinBatch(4)")] {
            let df = ctx
                .sql("SELECT * FROM (VALUES (1), (2), (3)) t(x)")
                .await
                .unwrap()
                .repartition(Partitioning::RoundRobinBatch(n))
                .unwrap();
            let plan = df.create_physical_plan().await.unwrap();
            let text = displayable(plan.as_ref()).indent(false).to_string();
            assert!(text.contains(expect), "{text}");
            // Round-robin: the marker stays for the distributed planner.
            assert!(text.contains("RequestedRepartitionExec"), "{text}");
            assert_eq!(plan.output_partitioning().partition_count(), n, "{text}");
        }
        // A hash exchange becomes a plain RepartitionExec again.
        let df = ctx
            .sql("SELECT * FROM (VALUES (1), (2), (3)) t(x)")
            .await
            .unwrap();
        let x = df.schema().columns()[0].clone();
        let df = df
            .repartition(Partitioning::Hash(vec![datafusion::prelude::col(x)], 3))
            .unwrap();
        let plan = df.create_physical_plan().await.unwrap();
        let text = displayable(plan.as_ref()).indent(false).to_string();
        assert!(text.contains("Hash("), "{text}");
        assert!(!text.contains("RequestedRepartitionExec"), "{text}");
        // Without a requested exchange the plan is DataFusion's own.
        let text = physical(&ctx, "SELECT 1").await;
        assert!(!text.contains("Repartition"), "{text}");
    }
}
