//! Spark's direct file references in a query: ``SELECT * FROM
//! parquet.`/data/trips` `` (also `json` and `csv`). The format reads as a
//! schema and the path as a table name, so each reference is registered,
//! before the statement is planned, as a table named by its path in a
//! schema named by its format; the planner then resolves it as any other
//! table. A path is registered once per session and listed again on each
//! read, as Spark does.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::catalog::{MemorySchemaProvider, SchemaProvider};
use datafusion::common::plan_datafusion_err;
use datafusion::error::Result;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{CopyToSource, Statement};
use datafusion::sql::sqlparser::ast::{visit_relations, ObjectName};

const FORMATS: &[&str] = &["parquet", "json", "csv"];

/// Registers the file references of `stmt` that are not yet tables.
pub async fn register_file_tables(ctx: &SessionContext, stmt: &Statement) -> Result<()> {
    for (format, path) in references(stmt) {
        let catalog_name = kiln_core::config::default_catalog(ctx);
        let catalog = ctx
            .catalog(&catalog_name)
            .ok_or_else(|| plan_datafusion_err!("no catalog `{catalog_name}`"))?;
        let schema = match catalog.schema(&format) {
            Some(s) => s,
            None => {
                let s: Arc<dyn SchemaProvider> = Arc::new(MemorySchemaProvider::new());
                catalog.register_schema(&format, s.clone())?;
                s
            }
        };
        if schema.table_exist(&path) {
            continue;
        }
        let options = if format == "csv" {
            // Spark reads CSV without a header line unless told.
            " OPTIONS ('format.has_header' 'false')"
        } else {
            ""
        };
        let sql = format!(
            "CREATE EXTERNAL TABLE \"{format}\".\"{}\" STORED AS {} LOCATION '{}'{options}",
            path.replace('"', "\"\""),
            format.to_uppercase(),
            path.replace('\'', "''"),
        );
        ctx.sql(&sql)
            .await
            .map_err(|e| plan_datafusion_err!("{format}.`{path}`: {e}"))?;
    }
    Ok(())
}

/// The `(format, path)` of each ``format.`path` `` relation in `stmt`.
fn references(stmt: &Statement) -> Vec<(String, String)> {
    let mut out = vec![];
    let mut visit = |name: &ObjectName| {
        if let [schema, table] = name.0.as_slice() {
            if let (Some(schema), Some(table)) = (schema.as_ident(), table.as_ident()) {
                let format = schema.value.to_ascii_lowercase();
                if schema.quote_style.is_none()
                    && table.quote_style.is_some()
                    && FORMATS.contains(&format.as_str())
                {
                    out.push((format, table.value.clone()));
                }
            }
        }
        ControlFlow::<()>::Continue(())
    };
    match stmt {
        Statement::Statement(s) => {
            let _ = visit_relations(s.as_ref(), &mut visit);
        }
        Statement::CopyTo(c) => {
            if let CopyToSource::Query(q) = &c.source {
                let _ = visit_relations(q.as_ref(), &mut visit);
            }
        }
        Statement::Explain(e) => return references(&e.statement),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(sql: &str) -> Vec<(String, String)> {
        let stmts = kiln_core::sql::parse_job(sql, "spark", "test").unwrap();
        references(&stmts[0].statement)
    }

    #[test]
    fn format_and_backticked_path() {
        assert_eq!(
            refs("SELECT * FROM parquet.`/d/trips` t JOIN JSON.`/d/x.json` ON true"),
            vec![
                ("parquet".to_string(), "/d/trips".to_string()),
                ("json".to_string(), "/d/x.json".to_string())
            ]
        );
        assert!(refs("SELECT * FROM parquet.trips").is_empty());
        assert!(refs("SELECT * FROM db.`t`").is_empty());
    }
}
