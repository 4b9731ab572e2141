//! What `spark.catalog` lists: catalogs, databases, tables and temp views,
//! and a table's columns, as rows shaped like Spark's answers (the client
//! reads them by position into its `Table`, `Column`, `Database` and
//! `CatalogMetadata` records). Kiln has Spark's one catalog and one database,
//! `default`, whose tables are the session's tables over files; temp views
//! are the session's other tables, and global temp views live in the
//! `global_temp` schema every session shares.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, ListBuilder, RecordBatch, StringArray, StringBuilder};
use arrow::datatypes::{Field, Schema};
use datafusion::catalog::TableProvider;
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::MemTable;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use kiln_driver::managed_table::{managed_folder, warehouse};

use crate::error::{ConnectError, Result};
use crate::types::simple_string;

/// The schema of global temp views, as Spark names it.
pub const GLOBAL_TEMP: &str = "global_temp";

/// The name of Spark's one catalog.
pub const SPARK_CATALOG: &str = "spark_catalog";

/// Spark's one database.
pub const DEFAULT_DATABASE: &str = "default";

/// One entry of `listTables`.
struct TableEntry {
    name: String,
    /// `None` for a temp view, Spark's database for a table.
    database: Option<String>,
    /// Spark's `tableType`: MANAGED, EXTERNAL or TEMPORARY.
    kind: &'static str,
}

/// `listCatalogs(pattern)`: Spark's one catalog.
pub fn list_catalogs(ctx: &SessionContext, pattern: Option<&str>) -> Result<LogicalPlan> {
    let names: Vec<&str> = [SPARK_CATALOG]
        .into_iter()
        .filter(|n| matches_pattern(n, pattern))
        .collect();
    rows(
        ctx,
        vec![
            ("name", strings(names.iter().map(|n| Some(*n)))),
            ("description", strings(names.iter().map(|_| None))),
        ],
    )
}

/// `listDatabases(pattern)` and `getDatabase(name)`: the `default` database.
pub fn list_databases(ctx: &SessionContext, pattern: Option<&str>) -> Result<LogicalPlan> {
    let shown = [DEFAULT_DATABASE]
        .into_iter()
        .filter(|n| matches_pattern(n, pattern))
        .collect::<Vec<_>>();
    let location = location_uri(&warehouse(ctx));
    rows(
        ctx,
        vec![
            ("name", strings(shown.iter().map(|n| Some(*n)))),
            (
                "catalog",
                strings(shown.iter().map(|_| Some(SPARK_CATALOG))),
            ),
            (
                "description",
                strings(shown.iter().map(|_| Some("default database"))),
            ),
            (
                "locationUri",
                strings(shown.iter().map(|_| Some(location.as_str()))),
            ),
        ],
    )
}

/// `getDatabase(name)`: Spark's error for any database but `default`.
pub fn get_database(ctx: &SessionContext, name: &str) -> Result<LogicalPlan> {
    if !is_default_database(name) {
        return Err(schema_not_found(name));
    }
    list_databases(ctx, None)
}

/// Whether `name` is Spark's `default` database (or `spark_catalog.default`).
pub fn is_default_database(name: &str) -> bool {
    let name = name.trim_matches('`');
    let db = name
        .strip_prefix(SPARK_CATALOG)
        .and_then(|r| r.strip_prefix('.'))
        .unwrap_or(name);
    db.eq_ignore_ascii_case(DEFAULT_DATABASE)
}

/// `listTables(dbName, pattern)`: a database's tables sorted by name, then
/// the session's temp views (and, for `global_temp`, the global ones first).
pub async fn list_tables(
    ctx: &SessionContext,
    database: Option<&str>,
    pattern: Option<&str>,
) -> Result<LogicalPlan> {
    let global = database.is_some_and(|d| d.eq_ignore_ascii_case(GLOBAL_TEMP));
    if let Some(db) = database.filter(|d| !global && !is_default_database(d)) {
        return Err(schema_not_found(db));
    }
    let (mut tables, mut views) = session_tables(ctx).await?;
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    views.sort_by(|a, b| a.name.cmp(&b.name));
    let mut listed = vec![];
    if global {
        let mut shared = global_views(ctx);
        shared.sort_by(|a, b| a.name.cmp(&b.name));
        listed.extend(shared);
    } else {
        listed.extend(tables);
    }
    listed.extend(views);
    listed.retain(|t| matches_pattern(&t.name, pattern));
    table_rows(ctx, &listed)
}

/// `getTable(name)`: one table or temp view, or Spark's not-found error.
pub async fn get_table(
    ctx: &SessionContext,
    name: &str,
    database: Option<&str>,
) -> Result<LogicalPlan> {
    let (tables, views) = session_tables(ctx).await?;
    let (db, table) = split_name(name, database);
    let found = match db.as_deref() {
        Some(d) if d.eq_ignore_ascii_case(GLOBAL_TEMP) => global_views(ctx)
            .into_iter()
            .find(|t| t.name.eq_ignore_ascii_case(&table)),
        Some(d) if !is_default_database(d) => None,
        Some(_) => tables
            .into_iter()
            .find(|t| t.name.eq_ignore_ascii_case(&table)),
        None => views
            .into_iter()
            .chain(tables)
            .find(|t| t.name.eq_ignore_ascii_case(&table)),
    };
    match found {
        Some(t) => table_rows(ctx, &[t]),
        None => Err(not_found(name, database)),
    }
}

/// `listColumns(name)`: the columns of a table or view, partition columns
/// marked (a listing table's partition columns come last).
pub async fn list_columns(
    ctx: &SessionContext,
    name: &str,
    database: Option<&str>,
) -> Result<LogicalPlan> {
    let (db, table) = split_name(name, database);
    let qualified = match &db {
        Some(d) if d.eq_ignore_ascii_case(GLOBAL_TEMP) => format!("{GLOBAL_TEMP}.{table}"),
        Some(d) if !is_default_database(d) => return Err(not_found(name, database)),
        _ => table.clone(),
    };
    let provider = ctx
        .table_provider(qualified.as_str())
        .await
        .map_err(|_| not_found(name, database))?;
    let partitions: Vec<String> = provider
        .downcast_ref::<ListingTable>()
        .map(|l| {
            l.options()
                .table_partition_cols
                .iter()
                .map(|(n, _)| n.clone())
                .collect()
        })
        .unwrap_or_default();
    let schema = provider.schema();
    let fields = schema.fields();
    let no = |n: usize| -> ArrayRef { Arc::new(BooleanArray::from(vec![false; n])) };
    rows(
        ctx,
        vec![
            (
                "name",
                strings(fields.iter().map(|f| Some(f.name().as_str()))),
            ),
            ("description", strings(fields.iter().map(|_| None))),
            (
                "dataType",
                Arc::new(StringArray::from_iter_values(
                    fields.iter().map(|f| simple_string(f.data_type())),
                )),
            ),
            (
                "nullable",
                Arc::new(BooleanArray::from(
                    fields
                        .iter()
                        // A partition folder's value may be Hive's null.
                        .map(|f| f.is_nullable() || partitions.contains(f.name()))
                        .collect::<Vec<_>>(),
                )),
            ),
            (
                "isPartition",
                Arc::new(BooleanArray::from(
                    fields
                        .iter()
                        .map(|f| partitions.contains(f.name()))
                        .collect::<Vec<_>>(),
                )),
            ),
            ("isBucket", no(fields.len())),
            ("isCluster", no(fields.len())),
        ],
    )
}

/// Whether the table or view `name` exists. Kiln's tables live in the
/// session's default schema: `default.t` and `spark_catalog.default.t` name
/// `t`.
pub fn table_exists(ctx: &SessionContext, name: &str) -> Result<bool> {
    Ok(match split_name(name, None) {
        (Some(db), table) if is_default_database(&db) => ctx.table_exist(table.as_str())?,
        _ => ctx.table_exist(name)?,
    })
}

/// Spark's not-found error unless the table or view `name` exists.
pub fn require_table(ctx: &SessionContext, name: &str) -> Result<()> {
    if table_exists(ctx, name)? {
        Ok(())
    } else {
        Err(not_found(name, None))
    }
}

/// `functionExists(name)`: whether the session's registry has it.
pub fn function_exists(ctx: &SessionContext, name: &str) -> bool {
    let state = ctx.state();
    let name = name.to_ascii_lowercase();
    state.scalar_functions().contains_key(&name)
        || state.aggregate_functions().contains_key(&name)
        || state.window_functions().contains_key(&name)
}

/// The session's tables over files (`MANAGED` under the warehouse,
/// `EXTERNAL` elsewhere) and its temp views, unsorted.
async fn session_tables(ctx: &SessionContext) -> Result<(Vec<TableEntry>, Vec<TableEntry>)> {
    let options = ctx.state().config().options().catalog.clone();
    let Some(schema) = ctx
        .catalog(&options.default_catalog)
        .and_then(|c| c.schema(&options.default_schema))
    else {
        return Ok((vec![], vec![]));
    };
    let (mut tables, mut views) = (vec![], vec![]);
    for name in schema.table_names() {
        let Some(provider) = schema.table(&name).await? else {
            continue;
        };
        let entry = |database: Option<String>, kind| TableEntry {
            name: name.clone(),
            database,
            kind,
        };
        match listing_kind(ctx, provider.as_ref()) {
            Some(kind) => tables.push(entry(Some(DEFAULT_DATABASE.to_string()), kind)),
            None => views.push(entry(None, "TEMPORARY")),
        }
    }
    Ok((tables, views))
}

/// The global temp views every session shares.
fn global_views(ctx: &SessionContext) -> Vec<TableEntry> {
    let options = ctx.state().config().options().catalog.clone();
    ctx.catalog(&options.default_catalog)
        .and_then(|c| c.schema(GLOBAL_TEMP))
        .map(|s| {
            s.table_names()
                .into_iter()
                .map(|name| TableEntry {
                    name,
                    database: Some(GLOBAL_TEMP.to_string()),
                    kind: "TEMPORARY",
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `MANAGED` or `EXTERNAL` for a table over files, `None` for a view.
fn listing_kind(ctx: &SessionContext, provider: &dyn TableProvider) -> Option<&'static str> {
    let listing = provider.downcast_ref::<ListingTable>()?;
    Some(if managed_folder(ctx, listing).is_some() {
        "MANAGED"
    } else {
        "EXTERNAL"
    })
}

/// The rows `listTables`/`getTable` answer.
fn table_rows(ctx: &SessionContext, tables: &[TableEntry]) -> Result<LogicalPlan> {
    let mut namespace = ListBuilder::new(StringBuilder::new());
    for t in tables {
        if let Some(db) = &t.database {
            namespace.values().append_value(db);
        }
        namespace.append(true);
    }
    let is_temp = |t: &TableEntry| t.kind == "TEMPORARY";
    rows(
        ctx,
        vec![
            (
                "name",
                strings(tables.iter().map(|t| Some(t.name.as_str()))),
            ),
            (
                "catalog",
                strings(
                    tables
                        .iter()
                        .map(|t| (!is_temp(t)).then_some(SPARK_CATALOG)),
                ),
            ),
            ("namespace", Arc::new(namespace.finish())),
            ("description", strings(tables.iter().map(|_| None))),
            ("tableType", strings(tables.iter().map(|t| Some(t.kind)))),
            (
                "isTemporary",
                Arc::new(BooleanArray::from(
                    tables.iter().map(is_temp).collect::<Vec<_>>(),
                )),
            ),
        ],
    )
}

/// A plan over one batch of `columns` (every column nullable).
fn rows(ctx: &SessionContext, columns: Vec<(&str, ArrayRef)>) -> Result<LogicalPlan> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, a)| Field::new(*name, a.data_type().clone(), true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns.into_iter().map(|c| c.1).collect())
        .map_err(|e| ConnectError::Execution(e.to_string()))?;
    let table = MemTable::try_new(schema, vec![vec![batch]])?;
    Ok(ctx.read_table(Arc::new(table))?.into_unoptimized_plan())
}

fn strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(StringArray::from(values.collect::<Vec<_>>()))
}

/// Spark's listing pattern: alternatives split by `|`, `*` any run of
/// characters, matched case-insensitively against the whole name.
fn matches_pattern(name: &str, pattern: Option<&str>) -> bool {
    let Some(pattern) = pattern else {
        return true;
    };
    pattern.split('|').any(|p| {
        let regex = format!("(?i)^{}$", p.trim().replace('*', ".*"));
        regex::Regex::new(&regex).is_ok_and(|r| r.is_match(name))
    })
}

/// A name's database (from `db.name` or the deprecated `dbName`) and table.
fn split_name(name: &str, database: Option<&str>) -> (Option<String>, String) {
    let name = name.trim_matches('`');
    match (database, name.rsplit_once('.')) {
        (Some(db), _) => (Some(db.to_string()), name.to_string()),
        (None, Some((db, table))) => (Some(db.to_string()), table.to_string()),
        (None, None) => (None, name.to_string()),
    }
}

/// A warehouse folder as Spark writes a location URI.
fn location_uri(folder: &str) -> String {
    match folder.strip_prefix("file://") {
        Some(path) => format!("file:{path}"),
        None if folder.starts_with('/') => format!("file:{folder}"),
        None => folder.to_string(),
    }
}

fn not_found(name: &str, database: Option<&str>) -> ConnectError {
    let mut parts: Vec<String> = database.map(str::to_string).into_iter().collect();
    parts.extend(name.split('.').map(str::to_string));
    ConnectError::table_not_found(&parts)
}

fn schema_not_found(name: &str) -> ConnectError {
    ConnectError::Analysis {
        class: "SCHEMA_NOT_FOUND",
        message: format!(
            "The schema `{}` cannot be found. Verify the spelling and correctness of the schema and catalog.",
            name.trim_matches('`')
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_alternatives_with_stars_matched_whole_and_without_case() {
        assert!(matches_pattern("sales", Some("s*")));
        assert!(matches_pattern("Sales_CSV", Some("x|sales_*")));
        assert!(!matches_pattern("recent", Some("s*")));
        assert!(!matches_pattern("sales", Some("sale")));
        assert!(matches_pattern("anything", None));
        // A pattern that is not a valid regular expression matches nothing.
        assert!(!matches_pattern("a(b", Some("a(b")));
    }

    #[test]
    fn names_take_their_database_from_a_prefix_or_the_old_argument() {
        assert_eq!(split_name("t", None), (None, "t".to_string()));
        assert_eq!(
            split_name("global_temp.v", None),
            (Some("global_temp".to_string()), "v".to_string())
        );
        assert_eq!(
            split_name("t", Some("default")),
            (Some("default".to_string()), "t".to_string())
        );
        assert!(is_default_database("spark_catalog.default"));
        assert!(is_default_database("DEFAULT"));
        assert!(!is_default_database("other"));
    }

    #[test]
    fn a_local_warehouse_is_a_file_uri() {
        assert_eq!(location_uri("/tmp/w"), "file:/tmp/w");
        assert_eq!(location_uri("file:///tmp/w"), "file:/tmp/w");
        assert_eq!(location_uri("s3://b/w"), "s3://b/w");
    }
}
