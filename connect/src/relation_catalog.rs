//! The Catalog relation (`spark.catalog.*`): the calls Kiln answers from the
//! session's catalog, at once, as Spark runs them eagerly: dropping temp and
//! global temp views, whether a table exists, the current database and
//! catalog. Global temp views live in the `global_temp` schema that every
//! session of the server shares ([`crate::session::Sessions`]).

use datafusion::logical_expr::{lit, Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::prelude::SessionContext;
use kiln_core::cached_tables;

use crate::catalog_listing::{self as listing, SPARK_CATALOG};
use crate::error::{ConnectError, Result};
use crate::proto;
use crate::proto::catalog::CatType;

pub use crate::catalog_listing::GLOBAL_TEMP;

/// The one-row answer of a catalog call.
pub async fn catalog(ctx: &SessionContext, c: &proto::Catalog) -> Result<LogicalPlan> {
    let Some(t) = &c.cat_type else {
        return Err(ConnectError::IllegalArgument(
            "a catalog call without a type".into(),
        ));
    };
    let value = match t {
        CatType::DropTempView(v) => {
            cached_tables::mark(ctx, &v.view_name, false);
            lit(drop_view(ctx, &v.view_name)?)
        }
        CatType::DropGlobalTempView(v) => {
            lit(drop_view(ctx, &format!("{GLOBAL_TEMP}.{}", v.view_name))?)
        }
        CatType::TableExists(t) => {
            let name = match t.db_name.as_deref() {
                Some(db) => format!("{db}.{}", t.table_name),
                None => t.table_name.clone(),
            };
            lit(listing::table_exists(ctx, &name)?)
        }
        CatType::CurrentDatabase(_) => lit(ctx
            .state()
            .config()
            .options()
            .catalog
            .default_schema
            .clone()),
        CatType::CurrentCatalog(_) => lit(SPARK_CATALOG),
        CatType::ListCatalogs(l) => return listing::list_catalogs(ctx, l.pattern.as_deref()),
        CatType::ListDatabases(l) => return listing::list_databases(ctx, l.pattern.as_deref()),
        CatType::GetDatabase(d) => return listing::get_database(ctx, &d.db_name),
        CatType::DatabaseExists(d) => lit(listing::is_default_database(&d.db_name)),
        CatType::ListTables(l) => {
            return listing::list_tables(ctx, l.db_name.as_deref(), l.pattern.as_deref()).await
        }
        CatType::GetTable(t) => {
            return listing::get_table(ctx, &t.table_name, t.db_name.as_deref()).await
        }
        CatType::ListColumns(c) => {
            return listing::list_columns(ctx, &c.table_name, c.db_name.as_deref()).await
        }
        CatType::FunctionExists(f) => lit(listing::function_exists(ctx, &f.function_name)),
        CatType::SetCurrentDatabase(d) => {
            if !listing::is_default_database(&d.db_name) {
                return Err(ConnectError::Unsupported(format!(
                    "databases other than `default` (setCurrentDatabase(\"{}\"))",
                    d.db_name
                )));
            }
            lit(true)
        }
        // Kiln's tables list their files at every scan: nothing to refresh.
        CatType::RefreshTable(t) => lit(listing::table_exists(ctx, &t.table_name)?),
        // Accepted as `CACHE TABLE` is: executors keep no cached
        // partitions yet, so a cached table is recomputed when read.
        CatType::CacheTable(t) => {
            listing::require_table(ctx, &t.table_name)?;
            cached_tables::mark(ctx, &t.table_name, true);
            lit(true)
        }
        CatType::IsCached(t) => {
            listing::require_table(ctx, &t.table_name)?;
            lit(cached_tables::is_marked(ctx, &t.table_name))
        }
        CatType::UncacheTable(t) => {
            cached_tables::mark(ctx, &t.table_name, false);
            lit(true)
        }
        CatType::ClearCache(_) => {
            cached_tables::clear(ctx);
            lit(true)
        }
        other => {
            let call = format!("{other:?}");
            return Err(ConnectError::Unsupported(format!(
                "spark.catalog call {}",
                call.split('(').next().unwrap_or("unknown")
            )));
        }
    };
    one_row(value)
}

/// Drops the temp view `name`; whether there was one (Spark's answer).
fn drop_view(ctx: &SessionContext, name: &str) -> Result<bool> {
    if !ctx.table_exist(name)? {
        return Ok(false);
    }
    Ok(ctx.deregister_table(name)?.is_some())
}

fn one_row(value: Expr) -> Result<LogicalPlan> {
    Ok(LogicalPlanBuilder::empty(true)
        .project(vec![value.alias("value")])?
        .build()?)
}
