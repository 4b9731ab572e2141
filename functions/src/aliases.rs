//! Spark's names for functions DataFusion has under another name
//! (`every` is `bool_and`, `startswith` is `starts_with`).
//!
//! An alias resolves to the same implementation, and plans name it by its
//! DataFusion name, so executors decode it without knowing the alias.

use std::sync::Arc;

use datafusion::execution::SessionStateBuilder;

const SCALAR: &[(&str, &[&str])] = &[
    ("starts_with", &["startswith"]),
    ("ends_with", &["endswith"]),
    // datafusion-spark's make_interval answers NULL on overflow, which is
    // Spark's try_ form (Spark's make_interval fails instead).
    ("make_interval", &["try_make_interval"]),
];

const AGGREGATE: &[(&str, &[&str])] = &[
    ("bool_and", &["every"]),
    ("bool_or", &["any", "some"]),
    ("approx_distinct", &["approx_count_distinct"]),
    ("first_value", &["first"]),
    ("last_value", &["last"]),
    ("var", &["variance"]),
    ("percentile_cont", &["percentile"]),
    (
        "approx_percentile_cont",
        &["percentile_approx", "approx_percentile"],
    ),
];

/// Registers the Spark names of [`SCALAR`] and [`AGGREGATE`] functions.
pub fn add(builder: &mut SessionStateBuilder) {
    if let Some(fns) = builder.scalar_functions() {
        add_names(fns, SCALAR, |f| f.name(), |f, n| f.with_aliases(n));
    }
    if let Some(fns) = builder.aggregate_functions() {
        add_names(fns, AGGREGATE, |f| f.name(), |f, n| f.with_aliases(n));
    }
}

/// Appends, for each `(name, aliases)` of `table`, the last function of
/// `fns` called `name` again with `aliases` (the later registration wins).
fn add_names<F: Clone>(
    fns: &mut Vec<Arc<F>>,
    table: &[(&str, &[&'static str])],
    name: impl Fn(&F) -> &str,
    alias: impl Fn(F, Vec<&'static str>) -> F,
) {
    let found: Vec<_> = table
        .iter()
        .filter_map(|(wanted, names)| {
            let f = fns.iter().rev().find(|f| name(f) == *wanted)?;
            Some(Arc::new(alias(f.as_ref().clone(), names.to_vec())))
        })
        .collect();
    fns.extend(found);
}
