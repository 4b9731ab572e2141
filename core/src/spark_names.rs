//! Duplicate result column names, which Spark allows and DataFusion does
//! not.
//!
//! Spark keeps `SELECT k, t.k`, `SELECT count(1), count(*)` or two items
//! aliased alike as columns of one name; DataFusion wants every name of a
//! projection unique. Kiln's SQL rewrite gives the second and later
//! holders of a name a hidden suffix ([`mark_duplicate`]), and every place
//! a result leaves the engine (rows printed by `kiln run`, the schema a
//! Spark Connect client reads, the columns of a written file) shows the
//! name without it ([`display_name`], [`display_schema`],
//! [`display_names_for_write`]).
//!
//! A later reference to such a name is refused as ambiguous, as Spark
//! does ([`crate::ambiguous_names`]).

use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{plan_err, Result};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder};

/// Separates a name from the suffix that keeps it unique: an invisible
/// separator (U+2063) that no written name contains.
const MARK: char = '\u{2063}';

/// `name` with the hidden suffix of its `n`-th duplicate (`n` from 1).
pub fn mark_duplicate(name: &str, n: usize) -> String {
    format!("{name}{MARK}{n}")
}

/// The names of one list (a select list, a column alias list) given so
/// far, compared as Spark compares them: ignoring case.
#[derive(Debug, Default)]
pub struct NameList {
    taken: std::collections::HashSet<String>,
    duplicates: usize,
}

impl NameList {
    /// Takes `name` for the next column: `None` when no earlier column has
    /// it, else the name with the next duplicate's suffix.
    pub fn claim(&mut self, name: &str) -> Option<String> {
        if self.taken.insert(name.to_lowercase()) {
            return None;
        }
        self.duplicates += 1;
        Some(mark_duplicate(name, self.duplicates))
    }
}

/// The name a column shows: without a duplicate's suffix.
pub fn display_name(name: &str) -> &str {
    name.split(MARK).next().unwrap_or(name)
}

/// Whether any field of `schema` carries a duplicate's suffix.
fn has_marks(schema: &Schema) -> bool {
    schema.fields().iter().any(|f| f.name().contains(MARK))
}

/// `schema` with each field named as it shows ([`display_name`]).
pub fn display_schema(schema: &SchemaRef) -> SchemaRef {
    if !has_marks(schema) {
        return schema.clone();
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_name(display_name(f.name())))
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `batches` under [`display_schema`] of `schema`.
pub fn display_batches(schema: &SchemaRef, batches: Vec<RecordBatch>) -> Vec<RecordBatch> {
    if !has_marks(schema) {
        return batches;
    }
    let shown = display_schema(schema);
    batches
        .into_iter()
        .map(|b| {
            // Same columns, renamed fields: cannot fail, but keep the batch
            // as it was rather than lose it if it did.
            RecordBatch::try_new(shown.clone(), b.columns().to_vec()).unwrap_or(b)
        })
        .collect()
}

/// The input of a file write, renamed to the names its columns show. Two
/// columns that then share a name fail, as Spark refuses to write them
/// (`COLUMN_ALREADY_EXISTS`).
pub fn display_names_for_write(input: LogicalPlan) -> Result<LogicalPlan> {
    let schema = input.schema().clone();
    if !has_marks(schema.as_arrow()) {
        return Ok(input);
    }
    let mut seen = std::collections::HashSet::new();
    let mut exprs: Vec<Expr> = vec![];
    for (qualifier, field) in schema.iter() {
        let shown = display_name(field.name());
        if !seen.insert(shown.to_lowercase()) {
            return plan_err!(
                "[COLUMN_ALREADY_EXISTS] The column `{shown}` already exists; rename one of the \
                 columns of that name before writing them"
            );
        }
        let c = datafusion::common::Column::new(qualifier.cloned(), field.name());
        exprs.push(Expr::Column(c).alias(shown));
    }
    LogicalPlanBuilder::from(input).project(exprs)?.build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::DataType;

    #[test]
    fn marks_are_hidden_where_names_show() {
        let marked = mark_duplicate("k", 1);
        assert_ne!(marked, "k");
        assert_eq!(display_name(&marked), "k");
        assert_eq!(display_name("plain"), "plain");
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int32, true),
            Field::new(&marked, DataType::Int32, true),
        ]));
        let shown = display_schema(&schema);
        assert_eq!(shown.field(0).name(), "k");
        assert_eq!(shown.field(1).name(), "k");
    }

    #[test]
    fn names_claimed_twice_are_marked_ignoring_case() {
        let mut names = NameList::default();
        assert_eq!(names.claim("k"), None);
        assert_eq!(names.claim("K"), Some(mark_duplicate("K", 1)));
        assert_eq!(names.claim("j"), None);
        assert_eq!(names.claim("k"), Some(mark_duplicate("k", 2)));
    }

    #[test]
    fn a_write_shows_plain_names_and_refuses_two_alike() {
        use datafusion::logical_expr::{col, lit};
        let plan = |names: [&str; 2]| {
            LogicalPlanBuilder::values(vec![vec![lit(1), lit(2)]])
                .and_then(|b| {
                    b.project(vec![
                        col("column1").alias(names[0]),
                        col("column2").alias(names[1]),
                    ])
                })
                .and_then(|b| b.build())
                .unwrap()
        };
        let renamed = display_names_for_write(plan(["a", &mark_duplicate("b", 1)])).unwrap();
        let shown: Vec<_> = renamed
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(shown, ["a", "b"]);
        let err = display_names_for_write(plan(["k", &mark_duplicate("K", 1)])).unwrap_err();
        assert!(err.to_string().contains("COLUMN_ALREADY_EXISTS"), "{err}");
        let untouched = plan(["x", "y"]);
        assert_eq!(
            display_names_for_write(untouched.clone()).unwrap(),
            untouched
        );
    }
}
