//! Spark SQL's functions for Kiln sessions.
//!
//! One registry for every session Kiln builds (driver, executors, the
//! Connect server): plans travel between processes with functions named,
//! so the driver and each executor must resolve the same names to the same
//! implementations.

use datafusion::execution::FunctionRegistry;

/// Registers datafusion-spark's Spark-compatible functions (and Kiln's own
/// where datafusion-spark has none) into `registry`, replacing DataFusion's
/// built-ins of the same name so Spark's semantics win.
pub fn register(registry: &mut dyn FunctionRegistry) -> datafusion::error::Result<()> {
    datafusion_spark::register_all(registry)
}
