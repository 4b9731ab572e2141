//! Spark SQL's functions and operator semantics for Kiln sessions.
//!
//! One registry for every session Kiln builds (driver, executors, the
//! Connect server): plans travel between processes with functions named,
//! so the driver and each executor must resolve the same names to the same
//! implementations. [`with_spark_sql`] is the only place that decides them.

mod operators;

use std::sync::Arc;

use datafusion::execution::SessionStateBuilder;
use datafusion_spark::SessionStateBuilderSpark;

pub use operators::SparkOperatorPlanner;

/// Adds Spark SQL's functions (datafusion-spark's, replacing DataFusion's
/// built-ins of the same name) and Spark's operator semantics (integer `/`
/// gives a double) to a session builder that already has DataFusion's
/// defaults.
pub fn with_spark_sql(builder: SessionStateBuilder) -> SessionStateBuilder {
    let mut builder = builder.with_spark_features();
    // Planners run in order; Spark's operators come before DataFusion's.
    builder
        .expr_planners()
        .get_or_insert_with(Vec::new)
        .insert(0, Arc::new(SparkOperatorPlanner));
    builder
}
