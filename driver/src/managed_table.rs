//! Spark's data-source tables in a session catalog: `CREATE TABLE` and the
//! files of managed tables.
//!
//! A `CREATE TABLE` (parsed by `kiln_core::spark_ddl`) becomes a listing
//! table over a folder: its `LOCATION`, or, for a managed table, a folder
//! named after the table under the warehouse (`spark.sql.warehouse.dir`).
//! `CREATE TABLE ... AS query` is planned as a write of the query into that
//! folder (the distributed write with its commit protocol) followed by the
//! table's registration with the query's schema, so an empty result still
//! gives a table with columns. `DROP TABLE` of a managed table deletes its
//! folder, as Spark does; a table with a `LOCATION` keeps its files.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::common::file_options::file_type::FileType;
use datafusion::common::{plan_datafusion_err, plan_err, Constraints, DFSchema, TableReference};
use datafusion::datasource::listing::{ListingTable, ListingTableUrl};
use datafusion::error::Result;
use datafusion::logical_expr::{
    CreateExternalTable, DdlStatement, LogicalPlan, LogicalPlanBuilder,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{CopyToSource, CopyToStatement, Statement};
use datafusion::sql::planner::object_name_to_table_reference;
use datafusion::sql::sqlparser::ast::{
    CreateTable, HiveIOFormat, Statement as SqlStatement, Value,
};
use futures::TryStreamExt;
use kiln_core::config::Warehouse;
use kiln_core::spark_ddl::{options_of, partition_columns};
use object_store::ObjectStoreExt;

/// The plans of a Spark `CREATE TABLE`, in the order they run: nothing
/// (`IF NOT EXISTS` of a table that exists), a table registration, or a
/// write and then a registration (`AS query`).
pub async fn plan_create_table(ctx: &SessionContext, ct: &CreateTable) -> Result<Vec<LogicalPlan>> {
    let state = ctx.state();
    let name = object_name_to_table_reference(ct.name.clone(), true)?;
    let shown = name.table().to_string();
    if ct.or_replace && !ct.temporary {
        return plan_err!(
            "CREATE OR REPLACE TABLE `{shown}`: replacing a table is not supported; DROP TABLE it first"
        );
    }
    if ctx.table_exist(name.clone())? && !(ct.temporary && ct.or_replace) {
        if ct.if_not_exists {
            return Ok(vec![]);
        }
        return plan_err!(
            "[TABLE_OR_VIEW_ALREADY_EXISTS] Cannot create table or view `{shown}` because it already exists."
        );
    }
    let hive = ct.hive_formats.as_ref();
    let format = match hive.and_then(|h| h.storage.as_ref()) {
        None => "parquet".to_string(),
        Some(HiveIOFormat::Using { format }) => format.value.to_ascii_lowercase(),
        Some(other) => {
            return plan_err!("CREATE TABLE `{shown}`: Hive storage `{other:?}` is not supported; use USING parquet, csv or json")
        }
    };
    let file_type = match format.as_str() {
        "parquet" => "PARQUET",
        "csv" => "CSV",
        "json" => "JSON",
        other => {
            return plan_err!(
                "CREATE TABLE `{shown}` USING {other}: Kiln's tables are parquet, csv or json"
            )
        }
    };
    let mut location = hive
        .and_then(|h| h.location.clone())
        .or_else(|| ct.location.clone());
    let mut options = HashMap::new();
    if format == "csv" {
        // Spark reads a CSV table without a header line unless told.
        options.insert("format.has_header".to_string(), "false".to_string());
    }
    for (key, value) in options_of(&ct.table_options) {
        if key.eq_ignore_ascii_case("path") {
            location = Some(value);
            continue;
        }
        let (k, v) = datafusion_option(&format, &key, value).ok_or_else(|| {
            plan_datafusion_err!(
                "CREATE TABLE `{shown}`: option `{key}` of a {format} table is not supported"
            )
        })?;
        options.insert(k, v);
    }
    if ct.temporary && (location.is_none() || ct.query.is_some()) {
        return plan_err!(
            "CREATE TEMPORARY VIEW `{shown}` USING {format}: the files are given with OPTIONS (path '...')"
        );
    }
    let managed = location.is_none();
    let location = match location {
        Some(l) => folder(&l),
        None => format!("{}/{}/", warehouse(ctx), shown),
    };
    let table_partition_cols = partition_columns(ct.partition_by.as_deref());
    if managed || ct.query.is_some() {
        // Spark refuses to create a managed table over old files, and a
        // table from a query into a folder that already holds data.
        if holds_files(ctx, &location).await? {
            return if managed {
                plan_err!(
                    "[LOCATION_ALREADY_EXISTS] Cannot name the managed table as `{shown}`, as its associated location '{location}' already exists. Please pick a different table name, or remove the existing location first."
                )
            } else {
                plan_err!(
                    "CREATE TABLE `{shown}` AS SELECT: the location '{location}' is not empty"
                )
            };
        }
    }
    let Some(query) = &ct.query else {
        let create = datafusion::sql::parser::CreateExternalTable {
            name: ct.name.clone(),
            columns: ct.columns.clone(),
            file_type: file_type.to_string(),
            locations: vec![location.clone()],
            table_partition_cols,
            order_exprs: vec![],
            if_not_exists: ct.if_not_exists,
            or_replace: ct.or_replace,
            // A session's catalog is its own: a Spark temporary view over
            // files is a table of this session (DataFusion has no
            // temporary tables).
            temporary: false,
            unbounded: false,
            options: options
                .into_iter()
                .map(|(k, v)| (k, Value::SingleQuotedString(v)))
                .collect(),
            constraints: vec![],
        };
        if managed {
            create_local_folder(&location)?;
        }
        return Ok(vec![
            state
                .statement_to_plan(Statement::CreateExternalTable(create))
                .await?,
        ]);
    };
    if !ct.columns.is_empty() {
        return plan_err!(
            "CREATE TABLE `{shown}` AS SELECT: a column list is not allowed; the query gives the columns"
        );
    }
    let copy = CopyToStatement {
        source: CopyToSource::Query(query.clone()),
        target: location.clone(),
        partitioned_by: table_partition_cols.clone(),
        stored_as: Some(file_type.to_string()),
        options: options
            .iter()
            .map(|(k, v)| (k.clone(), Value::SingleQuotedString(v.clone())))
            .collect(),
    };
    let copy = state.statement_to_plan(Statement::CopyTo(copy)).await?;
    let create = registration(
        name,
        &copy,
        location,
        file_type,
        table_partition_cols,
        options,
    )?;
    Ok(vec![copy, create])
}

/// The registration of a table whose rows `copy` writes into `location`:
/// its columns are the written query's, unqualified and nullable, with the
/// partition columns last, where the listing table puts them.
fn registration(
    name: TableReference,
    copy: &LogicalPlan,
    location: String,
    file_type: &str,
    table_partition_cols: Vec<String>,
    options: HashMap<String, String>,
) -> Result<LogicalPlan> {
    let LogicalPlan::Copy(c) = copy else {
        return plan_err!("a new table `{name}`: the write did not plan as a write");
    };
    let fields = c
        .input
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true));
    let (parts, data): (Vec<_>, Vec<_>) =
        fields.partition(|f| table_partition_cols.contains(f.name()));
    let arrow = arrow::datatypes::Schema::new(data.into_iter().chain(parts).collect::<Vec<_>>());
    let create = CreateExternalTable {
        schema: Arc::new(DFSchema::try_from(arrow)?),
        name,
        locations: vec![location],
        file_type: file_type.to_string(),
        table_partition_cols,
        if_not_exists: false,
        or_replace: false,
        temporary: false,
        definition: None,
        order_exprs: vec![],
        unbounded: false,
        options,
        constraints: Constraints::default(),
        column_defaults: HashMap::new(),
    };
    Ok(LogicalPlan::Ddl(DdlStatement::CreateExternalTable(
        Box::new(create),
    )))
}

/// How a DataFrame writer writes a new managed table's files: the format
/// (`parquet`, `csv` or `json`), DataFusion's file type for it, and the
/// write's options in DataFusion's keys (`format.has_header`, ...).
pub struct NewTableFiles {
    /// Spark's name of the format.
    pub format: String,
    /// DataFusion's file type of the format.
    pub file_type: Arc<dyn FileType>,
    /// The write's options; those under `format.` also describe the table.
    pub options: HashMap<String, String>,
    /// The partition columns (`partitionBy`).
    pub partition_by: Vec<String>,
}

/// The plans of `df.write.saveAsTable(name)` for a table that does not
/// exist: the write of `input` into a new folder under the warehouse (it
/// must not hold files, as Spark requires), then the table's registration.
pub async fn plan_new_table(
    ctx: &SessionContext,
    name: TableReference,
    input: LogicalPlan,
    files: NewTableFiles,
) -> Result<Vec<LogicalPlan>> {
    let shown = name.table().to_string();
    let location = format!("{}/{}/", warehouse(ctx), shown);
    if holds_files(ctx, &location).await? {
        return plan_err!(
            "[LOCATION_ALREADY_EXISTS] Cannot name the managed table as `{shown}`, as its associated location '{location}' already exists. Please pick a different table name, or remove the existing location first."
        );
    }
    let file_type = match files.format.as_str() {
        "parquet" => "PARQUET",
        "csv" => "CSV",
        "json" => "JSON",
        other => {
            return plan_err!(
                "saveAsTable `{shown}` in {other}: Kiln's tables are parquet, csv or json"
            )
        }
    };
    let table_options: HashMap<String, String> = files
        .options
        .iter()
        .filter(|(k, _)| k.starts_with("format."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let copy = LogicalPlanBuilder::copy_to(
        input,
        location.clone(),
        files.file_type,
        files.options,
        files.partition_by.clone(),
    )?
    .build()?;
    let create = registration(
        name,
        &copy,
        location,
        file_type,
        files.partition_by,
        table_options,
    )?;
    Ok(vec![copy, create])
}

/// Whether `stmt` is a Spark `CREATE TABLE` (or `CREATE TEMPORARY VIEW ...
/// USING`, a temporary table) that [`plan_create_table`] plans.
pub fn as_create_table(stmt: &Statement) -> Option<&CreateTable> {
    match stmt {
        Statement::Statement(s) => match s.as_ref() {
            SqlStatement::CreateTable(ct) if !ct.external => Some(ct),
            _ => None,
        },
        _ => None,
    }
}

/// The folder of the managed table `plan` drops, if it drops one: a listing
/// table whose folder is under the warehouse.
pub async fn dropped_managed_folder(ctx: &SessionContext, plan: &LogicalPlan) -> Option<String> {
    let LogicalPlan::Ddl(DdlStatement::DropTable(drop)) = plan else {
        return None;
    };
    let provider = ctx.table_provider(drop.name.clone()).await.ok()?;
    managed_folder(ctx, provider.downcast_ref::<ListingTable>()?)
}

/// The folder of `table` if it is a managed table: one folder, under the
/// warehouse (Spark's `MANAGED`; a table with a `LOCATION` is `EXTERNAL`).
pub fn managed_folder(ctx: &SessionContext, table: &ListingTable) -> Option<String> {
    let [path] = table.table_paths().as_slice() else {
        return None;
    };
    let warehouse = ListingTableUrl::parse(folder(&warehouse(ctx))).ok()?;
    let under = path.object_store() == warehouse.object_store()
        && path
            .prefix()
            .as_ref()
            .starts_with(warehouse.prefix().as_ref())
        && path.prefix() != warehouse.prefix();
    under.then(|| path.as_str().to_string())
}

/// Deletes every file under `location` (a dropped managed table's folder).
pub async fn delete_folder(ctx: &SessionContext, location: &str) -> Result<()> {
    let url = ListingTableUrl::parse(location)?;
    let store = ctx.runtime_env().object_store(url.object_store())?;
    let files: Vec<_> = store.list(Some(url.prefix())).try_collect().await?;
    for f in files {
        store.delete(&f.location).await?;
    }
    // Local folders stay behind as empty directories otherwise.
    if let Some(path) = location.strip_prefix("file://").or(Some(location)) {
        if path.starts_with('/') {
            let _ = std::fs::remove_dir_all(path);
        }
    }
    Ok(())
}

/// The session's warehouse folder (`spark.sql.warehouse.dir`).
pub fn warehouse(ctx: &SessionContext) -> String {
    ctx.state()
        .config()
        .get_extension::<Warehouse>()
        .map(|w| w.dir.clone())
        .unwrap_or_else(kiln_core::config::default_warehouse_dir)
}

/// `location` as a folder URL (a trailing `/` makes DataFusion list it).
fn folder(location: &str) -> String {
    if location.ends_with('/') {
        location.to_string()
    } else {
        format!("{location}/")
    }
}

async fn holds_files(ctx: &SessionContext, location: &str) -> Result<bool> {
    let url = ListingTableUrl::parse(location)?;
    let store = ctx.runtime_env().object_store(url.object_store())?;
    let mut list = store.list(Some(url.prefix()));
    Ok(list.try_next().await?.is_some())
}

fn create_local_folder(location: &str) -> Result<()> {
    if location.starts_with('/') {
        std::fs::create_dir_all(location)
            .map_err(|e| plan_datafusion_err!("cannot create the table folder {location}: {e}"))?;
    }
    Ok(())
}

/// A Spark data-source option as DataFusion's table option, if Kiln knows it.
fn datafusion_option(format: &str, key: &str, value: String) -> Option<(String, String)> {
    let key = key.to_ascii_lowercase();
    if key.starts_with("format.") {
        return Some((key, value));
    }
    let k = match (format, key.as_str()) {
        ("parquet" | "csv" | "json", "compression") => "format.compression",
        ("csv", "header") => "format.has_header",
        ("csv", "sep" | "delimiter") => "format.delimiter",
        ("csv", "quote") => "format.quote",
        ("csv", "escape") => "format.escape",
        ("csv", "nullvalue") => "format.null_value",
        _ => return None,
    };
    Some((k.to_string(), value))
}
