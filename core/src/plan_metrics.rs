//! Per-operator metrics of a stage plan, as a task reports them and the
//! driver names them: which of DataFusion's metrics travel, under which of
//! Spark's names and types, and how the operators of a plan are numbered
//! (parents first, depth first) on both sides.

use std::sync::Arc;

use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::ExecutionPlan;
use kiln_proto::OperatorMetric;

/// The operator metrics the UI shows: DataFusion's name, Spark's display
/// name, Spark's metric type.
pub const OPERATOR_METRICS: [(&str, &str, &str); 3] = [
    ("output_rows", "number of output rows", "sum"),
    ("elapsed_compute", "time", "nsTiming"),
    ("spilled_bytes", "spill size", "size"),
];

/// The operators of `plan`, parents first, depth first: the numbering
/// tasks report their metrics under. Yield points ([`CooperativeExec`],
/// which executors add where they see fit) are not operators.
pub fn operators(plan: &Arc<dyn ExecutionPlan>) -> Vec<Arc<dyn ExecutionPlan>> {
    let mut out = vec![];
    let mut todo = vec![plan.clone()];
    while let Some(node) = todo.pop() {
        for child in node.children().into_iter().rev() {
            todo.push(child.clone());
        }
        if !is_yield_point(&node) {
            out.push(node);
        }
    }
    out
}

/// Whether `plan` is only a yield point, not an operator of the query.
pub fn is_yield_point(plan: &Arc<dyn ExecutionPlan>) -> bool {
    plan.is::<CooperativeExec>()
}

/// What each operator of `plan` measured, summed over the partitions it ran.
pub fn operator_metrics(plan: &Arc<dyn ExecutionPlan>) -> Vec<OperatorMetric> {
    let mut out = vec![];
    for (i, node) in operators(plan).iter().enumerate() {
        let Some(set) = node.metrics() else { continue };
        for (name, _, _) in OPERATOR_METRICS {
            // By the value's own name: DataFusion's `sum_by_name` skips the
            // built-in kinds (output rows, compute time, spill).
            if let Some(v) = set.sum(|m| m.value().name() == name) {
                out.push(OperatorMetric {
                    node: i as u32,
                    name: name.to_string(),
                    value: v.as_usize() as u64,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    use super::*;

    #[tokio::test]
    async fn operators_are_numbered_depth_first_and_report_rows() {
        let ctx = SessionContext::new();
        let df = ctx
            .sql("SELECT a FROM (VALUES (1), (2), (3)) t(a) WHERE a > 1")
            .await
            .unwrap();
        let plan = df.create_physical_plan().await.unwrap();
        let names: Vec<String> = operators(&plan)
            .iter()
            .map(|p| p.name().to_string())
            .collect();
        assert_eq!(names.first().map(String::as_str), Some(plan.name()));
        let task_ctx = ctx.task_ctx();
        datafusion::physical_plan::collect(plan.clone(), task_ctx)
            .await
            .unwrap();
        let m = operator_metrics(&plan);
        let root_rows = m
            .iter()
            .find(|m| m.node == 0 && m.name == "output_rows")
            .map(|m| m.value);
        assert_eq!(root_rows, Some(2), "{names:?} {m:?}");
    }
}
