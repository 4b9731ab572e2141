//! Spark SQL's functions and operator semantics for Kiln sessions.
//!
//! One registry for every session Kiln builds (driver, executors, the
//! Connect server): plans travel between processes with functions named,
//! so the driver and each executor must resolve the same names to the same
//! implementations. [`with_spark_sql`] is the only place that decides them:
//! DataFusion's built-ins, replaced by datafusion-spark's where Spark's
//! differ, then Kiln's own where neither has Spark's function.

mod aggregates;
mod aliases;
mod args;
mod assertions;
mod average;
mod base64;
mod binary;
pub mod catalog;
mod charset;
mod collection;
mod csv;
mod datetime;
mod datetime_arith;
mod datetime_epoch;
mod datetime_interval;
mod datetime_make;
mod datetime_parse;
mod datetime_parts;
mod datetime_pattern;
mod datetime_value;
mod datetime_zone;
pub mod ddl;
mod doc_udf;
mod format_number;
mod hash;
mod histogram;
mod json;
mod kinded;
mod lambda;
mod like;
mod listagg;
mod math;
mod max_by;
mod misc;
mod murmur3;
mod number_format;
mod numbers;
mod operators;
mod pad;
mod random;
mod regexp;
mod reverse;
mod sentences;
pub mod settings;
mod shuffle;
mod simplified;
mod sketch;
mod spark_args;
mod spark_map;
mod statistics;
mod string;
mod string_edit;
#[cfg(test)]
mod test_support;
mod time_window;
mod try_arith;
mod xml;

use std::sync::Arc;

use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::{AggregateUDF, HigherOrderUDF, ScalarUDF};
use datafusion_spark::SessionStateBuilderSpark;

pub use datetime::cast_string_to_timestamp;
pub use json::write::java_double;
pub use operators::SparkOperatorPlanner;
pub use random::{bind_to_partition, XorShiftRandom};

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
    let own = own_functions();
    builder
        .scalar_functions()
        .get_or_insert_with(Vec::new)
        .extend(own.scalar);
    builder
        .aggregate_functions()
        .get_or_insert_with(Vec::new)
        .extend(own.aggregate);
    builder
        .higher_order_functions()
        .get_or_insert_with(Vec::new)
        .extend(own.higher_order);
    aliases::add(&mut builder);
    builder
}

/// The functions Kiln registers on top of datafusion-spark's, in
/// registration order (a later one wins a name). [`with_spark_sql`]
/// registers them and [`catalog`] attributes names to them, so both read
/// this one list.
pub(crate) struct OwnFunctions {
    /// Scalar functions.
    pub scalar: Vec<Arc<ScalarUDF>>,
    /// Aggregate functions.
    pub aggregate: Vec<Arc<AggregateUDF>>,
    /// Higher-order functions (the ones taking lambdas).
    pub higher_order: Vec<Arc<HigherOrderUDF>>,
}

/// Kiln's own functions ([`OwnFunctions`]).
pub(crate) fn own_functions() -> OwnFunctions {
    // Spark's plan-only functions, made runnable on executors.
    let plan_only = simplified::wrap(
        datafusion_spark::all_default_scalar_functions(),
        &datafusion::functions::all_default_functions(),
    );
    let scalar = plan_only
        .into_iter()
        .chain(datetime::functions())
        .chain(datetime_parts::functions())
        .chain(datetime_epoch::functions())
        .chain(datetime_make::functions())
        .chain(datetime_arith::functions())
        .chain(datetime_zone::functions())
        .chain(datetime_interval::functions())
        .chain(time_window::functions())
        .chain(string::functions())
        .chain(collection::functions())
        .chain(binary::functions())
        .chain(base64::functions())
        .chain(number_format::functions())
        .chain(try_arith::functions())
        .chain(misc::functions())
        .chain(charset::functions())
        .chain(pad::functions())
        .chain(math::functions())
        .chain(spark_map::functions())
        .chain(reverse::functions())
        .chain(shuffle::functions())
        .chain(sketch::scalar_functions())
        .chain(random::functions())
        .chain(hash::functions())
        .chain(numbers::functions())
        .chain(format_number::functions())
        .chain(regexp::functions())
        .chain(string_edit::functions())
        .chain(sentences::functions())
        .chain(assertions::functions())
        .chain(like::functions())
        .chain(spark_args::wrap(
            &datafusion::functions::all_default_functions()
                .into_iter()
                .chain(datafusion_spark::all_default_scalar_functions())
                .collect::<Vec<_>>(),
        ))
        .chain(json::functions())
        .chain(csv::functions())
        .chain(xml::functions())
        .chain([operators::spark_divide()])
        .collect();
    // Spark averages a DECIMAL(p, s) as a DECIMAL(p + 4, s + 4) rounded half
    // up, and other numbers as a DOUBLE; datafusion-spark's averages
    // everything as a DOUBLE (TPC-H q1 then differed), DataFusion's truncates.
    let aggregate = std::iter::once(average::avg())
        .chain(statistics::functions())
        .chain(histogram::functions())
        .chain(sketch::aggregate_functions())
        .chain(aggregates::functions())
        .chain(listagg::functions())
        .chain(max_by::functions())
        .collect();
    OwnFunctions {
        scalar,
        aggregate,
        higher_order: lambda::functions(),
    }
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
            "year",
            "dayofmonth",
            "unix_seconds",
            "make_timestamp",
            "localtimestamp",
            "timestampadd",
            "dateadd",
            "datediff",
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
            "variance",
        ] {
            assert!(state.aggregate_functions().contains_key(f), "aggregate {f}");
        }
    }

    #[test]
    fn decimals_average_as_decimals() {
        use arrow::datatypes::DataType;
        let state = with_spark_sql(SessionStateBuilder::new().with_default_features()).build();
        let avg = &state.aggregate_functions()["avg"];
        // Spark: avg(decimal(15,2)) is decimal(19,6); avg(int) is double.
        assert_eq!(
            avg.return_type(&[DataType::Decimal128(15, 2)]).unwrap(),
            DataType::Decimal128(19, 6)
        );
        assert_eq!(
            avg.return_type(&[DataType::Int32]).unwrap(),
            DataType::Float64
        );
    }
}
