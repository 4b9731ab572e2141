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
];

const AGGREGATE: &[(&str, &[&str])] = &[
    ("bool_and", &["every"]),
    ("bool_or", &["any", "some"]),
    ("approx_distinct", &["approx_count_distinct"]),
    ("first_value", &["first"]),
    ("last_value", &["last"]),
];

/// Registers the Spark names of [`SCALAR`] and [`AGGREGATE`] functions.
pub fn add(builder: &mut SessionStateBuilder) {
    if let Some(fns) = builder.scalar_functions() {
        let found: Vec<_> = SCALAR
            .iter()
            .filter(|(_, names)| !names.is_empty())
            .filter_map(|(name, names)| {
                let f = fns.iter().rev().find(|f| f.name() == *name)?;
                Some(Arc::new(
                    f.as_ref().clone().with_aliases(names.iter().copied()),
                ))
            })
            .collect();
        fns.extend(found);
    }
    if let Some(fns) = builder.aggregate_functions() {
        let found: Vec<_> = AGGREGATE
            .iter()
            .filter_map(|(name, names)| {
                let f = fns.iter().rev().find(|f| f.name() == *name)?;
                Some(Arc::new(
                    f.as_ref().clone().with_aliases(names.iter().copied()),
                ))
            })
            .collect();
        fns.extend(found);
    }
}
