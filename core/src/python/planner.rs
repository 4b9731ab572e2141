//! Physical planning of Python nodes: Kiln's query planner is DataFusion's
//! with extension planners for [`PythonPlan`] and Spark's sample nodes
//! ([`crate::sample`]).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::error::Result;
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{LogicalPlan, UserDefinedLogicalNode};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};

use super::exec::PythonExec;
use super::logical::PythonPlan;
use super::{ArrowBatchSize, DEFAULT_MAX_RECORDS_PER_BATCH};

/// DataFusion's planner, plus Python and sample nodes.
#[derive(Debug, Default)]
pub struct KilnQueryPlanner;

#[async_trait]
impl QueryPlanner for KilnQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session_state: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(KilnNodePlanner)])
            .create_physical_plan(logical_plan, session_state)
            .await
    }
}

/// Plans Kiln's extension nodes: Python nodes and Spark's samples.
struct KilnNodePlanner;

#[async_trait]
impl ExtensionPlanner for KilnNodePlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        session_state: &dyn Session,
        _planning_ctx: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(p) = node.as_any().downcast_ref::<PythonPlan>() else {
            return crate::sample::plan_sample(node, physical_inputs);
        };
        let batch = session_state
            .config()
            .get_extension::<ArrowBatchSize>()
            .map_or(DEFAULT_MAX_RECORDS_PER_BATCH, |b| b.0);
        Ok(Some(Arc::new(PythonExec::try_new(
            p.op.clone(),
            physical_inputs.to_vec(),
            batch,
        )?)))
    }
}
