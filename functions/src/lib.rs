//! Spark SQL's functions and operator semantics for Kiln sessions.
//!
//! One registry for every session Kiln builds (driver, executors, the
//! Connect server): plans travel between processes with functions named,
//! so the driver and each executor must resolve the same names to the same
//! implementations. [`with_spark_sql`] is the only place that decides them:
//! DataFusion's built-ins, replaced by datafusion-spark's where Spark's
//! differ, then Kiln's own where neither has Spark's function.

mod aliases;
mod args;
mod binary;
mod collection;
mod datetime;
mod datetime_pattern;
mod misc;
mod number_format;
mod operators;
mod simplified;
mod statistics;
mod string;
#[cfg(test)]
mod test_support;
mod try_arith;

use std::sync::Arc;

use datafusion::execution::SessionStateBuilder;
use datafusion_spark::SessionStateBuilderSpark;

pub use operators::SparkOperatorPlanner;

/// Adds Spark SQL's functions and Spark's operator semantics (integer `/`
/// gives a double) to a session builder that already has DataFusion's
/// defaults.
pub fn with_spark_sql(builder: SessionStateBuilder) -> SessionStateBuilder {
    let mut builder = builder.with_spark_features();
    // Planners run in order; Spark's operators come before DataFusion's.
    builder
        .expr_planners()
        .get_or_insert_with(Vec::new)
        .insert(0, Arc::new(SparkOperatorPlanner));
    // Spark's plan-only functions, made runnable on executors.
    let plan_only = simplified::wrap(
        datafusion_spark::all_default_scalar_functions(),
        &datafusion::functions::all_default_functions(),
    );
    let own = plan_only
        .into_iter()
        .chain(datetime::functions())
        .chain(string::functions())
        .chain(collection::functions())
        .chain(binary::functions())
        .chain(number_format::functions())
        .chain(try_arith::functions())
        .chain(misc::functions())
        .chain([operators::spark_divide()]);
    builder
        .scalar_functions()
        .get_or_insert_with(Vec::new)
        .extend(own);
    builder
        .aggregate_functions()
        .get_or_insert_with(Vec::new)
        .extend(statistics::functions());
    aliases::add(&mut builder);
    builder
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparks_names_and_kilns_functions_are_registered() {
        let state = with_spark_sql(SessionStateBuilder::new().with_default_features()).build();
        for f in [
            "date_format",
            "split",
            "sort_array",
            "spark_divide",
            "startswith",
            "date_part",
            "to_char",
            "to_varchar",
            "to_number",
            "to_binary",
            "try_add",
            "try_mod",
            "typeof",
            "zeroifnull",
            "decode",
            "validate_utf8",
        ] {
            assert!(state.scalar_functions().contains_key(f), "scalar {f}");
        }
        for f in [
            "every",
            "any",
            "some",
            "first",
            "approx_count_distinct",
            "collect_list",
            "skewness",
            "kurtosis",
        ] {
            assert!(state.aggregate_functions().contains_key(f), "aggregate {f}");
        }
    }
}
