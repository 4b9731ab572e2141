//! What the Kiln driver and executors share.
//!
//! - [`manifest`]: the `SparkApplication` manifest a job is described by.
//! - [`config`]: engine settings (`spec.conf`) and the DataFusion session built from them.
//! - [`fault_injection`]: the `kiln.test.*` hooks of Kiln's fault tests (feature `fault-injection` only).
//! - [`sql`]: splitting a job into statements and Spark-style identifier resolution.
//! - [`spark_dialect`]: the SQL dialect Spark SQL is parsed with (Spark's string escapes).
//! - [`spark_coercion`]: Spark's implicit type coercions where DataFusion's differ.
//! - [`global_aggregate_filter`]: constant filters kept above an aggregate without `GROUP BY`.
//! - [`ambiguous_names`]: references to a duplicated result name refused, as Spark does.
//! - [`spark_cte`]: nested `WITH` clauses that reuse an outer name, as Spark scopes them.
//! - [`spark_names`]: duplicate result column names, which Spark allows.
//! - [`spark_using`]: the key columns of `JOIN ... USING` as Spark resolves them.
//! - [`spark_set_ops`]: `INTERSECT ALL` and `EXCEPT ALL` counting copies, as Spark does.
//! - [`shuffle`]: the shuffle writer/reader plan nodes and the on-disk block layout.
//! - [`write`]: the node that ends a write stage: tasks writing their partition's files.
//! - [`codec`]: the datafusion-proto extension codec that carries our plan nodes.
//! - [`window_flags`]: window-function flags datafusion-proto loses, restored after decoding.
//! - [`python`]: Python UDFs as plan nodes, run on the executors' Python workers.
//! - [`sample`]: seeded sampling with Spark's own random generators.
//! - [`security`]: the application secret, message size caps and TLS of every gRPC/Flight channel.
//! - [`events`]: the driver's event stream (Spark's listener events) and its bus.
//! - [`plan_metrics`]: per-operator metrics, as tasks report them.
//! - [`error`]: the error type every Kiln crate returns.
//! - [`cast_columns`]: a batch's columns cast to a schema's types.

/// The `ExecutionPlan` methods Kiln's plan nodes write alike, inside an
/// `impl ExecutionPlan`: `name`, `properties` (the node's cached `properties`
/// field), with `input` its one child `self.input`, and with `no_expressions`
/// an `apply_expressions` for a node that holds no physical expressions.
macro_rules! plan_node_basics {
    ($name:literal $(, $part:ident)*) => {
        fn name(&self) -> &str {
            $name
        }

        fn properties(&self) -> &std::sync::Arc<datafusion::physical_plan::PlanProperties> {
            &self.properties
        }

        $(plan_node_basics!(@$part);)*
    };
    (@input) => {
        fn children(&self) -> Vec<&std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
            vec![&self.input]
        }
    };
    (@no_expressions) => {
        fn apply_expressions(
            &self,
            _f: &mut dyn FnMut(
                &std::sync::Arc<dyn datafusion::physical_expr::PhysicalExpr>,
            ) -> datafusion::error::Result<datafusion::common::tree_node::TreeNodeRecursion>,
        ) -> datafusion::error::Result<datafusion::common::tree_node::TreeNodeRecursion> {
            Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
        }
    };
}

/// Calls `f` on each of `exprs` in turn until one asks to stop: the body of
/// `ExecutionPlan::apply_expressions` for a node that holds expressions.
pub fn apply_each<'a>(
    exprs: impl IntoIterator<Item = &'a std::sync::Arc<dyn datafusion::physical_expr::PhysicalExpr>>,
    f: &mut dyn FnMut(
        &std::sync::Arc<dyn datafusion::physical_expr::PhysicalExpr>,
    ) -> datafusion::error::Result<
        datafusion::common::tree_node::TreeNodeRecursion,
    >,
) -> datafusion::error::Result<datafusion::common::tree_node::TreeNodeRecursion> {
    use datafusion::common::tree_node::TreeNodeRecursion;
    for e in exprs {
        if f(e)? == TreeNodeRecursion::Stop {
            return Ok(TreeNodeRecursion::Stop);
        }
    }
    Ok(TreeNodeRecursion::Continue)
}

pub mod ambiguous_names;
pub mod cached_tables;
pub mod cast_columns;
pub mod codec;
pub mod config;
pub mod error;
pub mod events;
pub mod fault_injection;
pub mod file_splits;
pub mod global_aggregate_filter;
pub mod listing;
pub mod manifest;
pub mod nullable_partitions;
pub mod objectstore;
pub mod plan_metrics;
pub mod python;
pub mod requested_repartition;
pub mod runtime_filter;
pub mod sample;
pub mod security;
pub mod semi_join_pushdown;
pub mod settings;
pub mod shuffle;
pub mod spark_coercion;
pub mod spark_cte;
pub mod spark_ddl;
pub mod spark_dialect;
pub mod spark_expr_name;
pub mod spark_generator;
pub mod spark_names;
pub mod spark_set_ops;
pub mod spark_sql;
pub mod spark_using;
pub mod spark_window;
pub mod sql;
pub mod window_flags;
pub mod write;

#[cfg(test)]
mod test_support;

pub use error::{KilnError, Result};
