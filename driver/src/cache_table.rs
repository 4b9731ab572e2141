//! Spark's `CACHE [LAZY] TABLE name [AS query]` and `UNCACHE TABLE [IF
//! EXISTS] name`. Kiln's executors keep no cached partitions yet, so a
//! cached table is recomputed when read, as a persisted DataFrame is; the
//! statements are accepted with Spark's checks (the table must exist), and
//! `CACHE TABLE name AS query` creates the temporary view Spark creates.
//! The session remembers what it marked, for `spark.catalog.isCached`.

use std::sync::Arc;

use datafusion::common::plan_err;
use datafusion::error::Result;
use datafusion::logical_expr::{CreateView, DdlStatement, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement;
use datafusion::sql::planner::object_name_to_table_reference;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;

/// Whether `stmt` is a `CACHE TABLE` or `UNCACHE TABLE`.
pub fn is_cache_statement(stmt: &Statement) -> bool {
    matches!(stmt, Statement::Statement(s)
        if matches!(s.as_ref(), SqlStatement::Cache { .. } | SqlStatement::UNCache { .. }))
}

/// The plans of a `CACHE TABLE` / `UNCACHE TABLE` statement: none (the
/// table is checked), or the temporary view of `CACHE TABLE name AS query`.
pub async fn plan_cache_statement(
    ctx: &SessionContext,
    stmt: &Statement,
) -> Result<Vec<LogicalPlan>> {
    let Statement::Statement(s) = stmt else {
        return Ok(vec![]);
    };
    match s.as_ref() {
        SqlStatement::Cache {
            table_name, query, ..
        } => {
            let name = object_name_to_table_reference(table_name.clone(), true)?;
            let Some(query) = query else {
                if !ctx.table_exist(name.clone())? {
                    return not_found(&name.to_string());
                }
                kiln_core::cached_tables::mark(ctx, &name.to_string(), true);
                return Ok(vec![]);
            };
            if ctx.table_exist(name.clone())? {
                return plan_err!(
                    "[TEMP_TABLE_OR_VIEW_ALREADY_EXISTS] Cannot create the temporary view `{name}` because it already exists."
                );
            }
            let input = ctx
                .state()
                .statement_to_plan(Statement::Statement(Box::new(SqlStatement::Query(
                    query.clone(),
                ))))
                .await?;
            kiln_core::cached_tables::mark(ctx, &name.to_string(), true);
            Ok(vec![LogicalPlan::Ddl(DdlStatement::CreateView(
                CreateView {
                    name,
                    input: Arc::new(input),
                    or_replace: false,
                    definition: None,
                    // A session's views are its own (DataFusion refuses its TEMPORARY flag).
                    temporary: false,
                },
            ))])
        }
        SqlStatement::UNCache {
            table_name,
            if_exists,
        } => {
            let name = object_name_to_table_reference(table_name.clone(), true)?;
            if !if_exists && !ctx.table_exist(name.clone())? {
                return not_found(&name.to_string());
            }
            kiln_core::cached_tables::mark(ctx, &name.to_string(), false);
            Ok(vec![])
        }
        _ => Ok(vec![]),
    }
}

fn not_found(name: &str) -> Result<Vec<LogicalPlan>> {
    plan_err!(
        "[TABLE_OR_VIEW_NOT_FOUND] The table or view `{name}` cannot be found. Verify the spelling and correctness of the schema and catalog."
    )
}
