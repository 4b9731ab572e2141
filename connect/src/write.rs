//! WriteOperation: `df.write` into a folder (`save(path)`, `.parquet(...)`,
//! `.csv(...)`, `.json(...)`) or into a table of the session's catalog
//! (`saveAsTable`, `insertInto`), each with Spark's save modes. Every write
//! runs as the driver's write stage under its commit protocol, so a failed
//! write leaves nothing behind; a new table is registered only after its
//! files are committed.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::common::tree_node::TreeNode;
use datafusion::common::{DFSchema, TableReference};
use datafusion::datasource::file_format::csv::CsvFormatFactory;
use datafusion::datasource::file_format::format_as_file_type;
use datafusion::datasource::file_format::json::JsonFormatFactory;
use datafusion::datasource::file_format::parquet::ParquetFormatFactory;
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{
    cast, DdlStatement, DropTable, Expr, LogicalPlan, LogicalPlanBuilder,
};
use kiln_core::config::WriteMode;
use kiln_driver::application::Driver;
use kiln_driver::managed_table::{plan_new_table, NewTableFiles};

use crate::error::{ConnectError, Result};
use crate::proto;
use crate::proto::write_operation::save_table::TableSaveMethod;
use crate::proto::write_operation::{SaveMode, SaveType};
use crate::relation::Planner;
use crate::session::Session;

/// What the UI and error messages call a DataFrame writer's job.
const AT: &str = "DataFrameWriter";

/// Runs `df.write...` `w` in `session`.
pub async fn write(driver: &Driver, session: &Session, w: proto::WriteOperation) -> Result<()> {
    let input = w
        .input
        .as_ref()
        .ok_or_else(|| ConnectError::IllegalArgument("a write of nothing".into()))?;
    if !w
        .bucket_by
        .as_ref()
        .is_none_or(|b| b.bucket_column_names.is_empty())
    {
        return Err(ConnectError::Unsupported("bucketBy".into()));
    }
    let mode = SaveMode::try_from(w.mode).unwrap_or(SaveMode::Unspecified);
    let plan = Planner::new(&session.ctx).plan(input).await?;
    match &w.save_type {
        Some(SaveType::Path(path)) => to_path(driver, session, &w, plan, path, mode).await,
        Some(SaveType::Table(t)) => {
            let name = TableReference::from(t.table_name.as_str());
            match TableSaveMethod::try_from(t.save_method) {
                Ok(TableSaveMethod::InsertInto) => {
                    insert_into(driver, session, name, plan, mode).await
                }
                _ => save_as_table(driver, session, &w, name, plan, mode).await,
            }
        }
        None => Err(ConnectError::IllegalArgument(
            "a write needs a path (df.write.save(path))".into(),
        )),
    }
}

/// Runs `df.writeTo(name)...` `w`: `create()` (with `using` and
/// `partitionedBy` columns) is `saveAsTable` of a new table. The other
/// modes replace or add to a table in place, which Spark's own session
/// catalog refuses for its file tables too.
pub async fn write_v2(
    driver: &Driver,
    session: &Session,
    w: proto::WriteOperationV2,
) -> Result<()> {
    use proto::expression::ExprType;
    use proto::write_operation_v2::Mode;
    let mode = Mode::try_from(w.mode).unwrap_or(Mode::Unspecified);
    if mode != Mode::Create {
        return Err(ConnectError::Unsupported(format!(
            "df.writeTo(\"{}\") in mode {mode:?} (only create(); use df.write.saveAsTable or insertInto)",
            w.table_name
        )));
    }
    let partitioning_columns = w
        .partitioning_columns
        .iter()
        .map(|e| match &e.expr_type {
            Some(ExprType::UnresolvedAttribute(a)) => Ok(a.unparsed_identifier.clone()),
            _ => Err(ConnectError::Unsupported(
                "partitionedBy with a transform (Kiln partitions by columns)".into(),
            )),
        })
        .collect::<Result<Vec<_>>>()?;
    let v1 = proto::WriteOperation {
        input: w.input,
        source: w.provider,
        mode: SaveMode::ErrorIfExists as i32,
        partitioning_columns,
        options: w.options,
        save_type: Some(SaveType::Table(proto::write_operation::SaveTable {
            table_name: w.table_name,
            save_method: TableSaveMethod::SaveAsTable as i32,
        })),
        ..Default::default()
    };
    write(driver, session, v1).await
}

/// The format, DataFusion file type, write options and partition columns
/// `w` asks for.
fn files_of(w: &proto::WriteOperation) -> Result<NewTableFiles> {
    let format = w
        .source
        .as_deref()
        .unwrap_or("parquet")
        .to_ascii_lowercase();
    let opt = |k: &str| {
        w.options
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    let mut options = HashMap::new();
    // Spark writes a folder of part files whatever the path looks like.
    options.insert("single_file_output".to_string(), "false".to_string());
    let file_type = match format.as_str() {
        "parquet" => {
            if let Some(c) = opt("compression") {
                options.insert("format.compression".into(), c);
            }
            format_as_file_type(Arc::new(ParquetFormatFactory::new()))
        }
        "csv" => {
            options.insert(
                "format.has_header".into(),
                opt("header").unwrap_or_else(|| "false".into()),
            );
            if let Some(sep) = opt("sep").or_else(|| opt("delimiter")) {
                options.insert("format.delimiter".into(), sep);
            }
            format_as_file_type(Arc::new(CsvFormatFactory::new()))
        }
        "json" => format_as_file_type(Arc::new(JsonFormatFactory::new())),
        other => {
            return Err(ConnectError::Unsupported(format!(
                "writing the format `{other}` (Kiln writes parquet, csv and json)"
            )))
        }
    };
    Ok(NewTableFiles {
        format,
        file_type,
        options,
        partition_by: w.partitioning_columns.clone(),
    })
}

/// `df.write.mode(m).format(f).save(path)`.
async fn to_path(
    driver: &Driver,
    session: &Session,
    w: &proto::WriteOperation,
    plan: LogicalPlan,
    path: &str,
    mode: SaveMode,
) -> Result<()> {
    let files = files_of(w)?;
    let exists =
        !path.contains("://") && std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_some());
    let mode = match mode {
        SaveMode::Append => WriteMode::Append,
        SaveMode::Overwrite => WriteMode::Overwrite,
        SaveMode::Ignore if exists => return Ok(()),
        SaveMode::Ignore => WriteMode::ErrorIfExists,
        SaveMode::ErrorIfExists | SaveMode::Unspecified => {
            if exists {
                return Err(ConnectError::Analysis {
                    class: "PATH_ALREADY_EXISTS",
                    message: format!(
                        "Path file:{path} already exists. Set mode as \"overwrite\" to \
                         overwrite the existing path."
                    ),
                });
            }
            WriteMode::ErrorIfExists
        }
    };
    let plan = LogicalPlanBuilder::copy_to(
        plan,
        path.to_string(),
        files.file_type,
        files.options,
        files.partition_by,
    )?
    .build()?;
    run(driver, session, plan, mode).await
}

/// `df.write.mode(m).saveAsTable(name)`: a table that exists is an error
/// (the default), left alone (`ignore`), added to by column name
/// (`append`) or replaced (`overwrite`: dropped, then written anew); a
/// new table is a managed table under the warehouse.
async fn save_as_table(
    driver: &Driver,
    session: &Session,
    w: &proto::WriteOperation,
    name: TableReference,
    plan: LogicalPlan,
    mode: SaveMode,
) -> Result<()> {
    let ctx = &session.ctx;
    if ctx.table_exist(name.clone())? {
        match mode {
            SaveMode::Ignore => return Ok(()),
            SaveMode::Append => {
                let insert =
                    insert_plan(session, &name, plan, Columns::ByName, InsertOp::Append).await?;
                return run(driver, session, insert, WriteMode::Append).await;
            }
            SaveMode::Overwrite => {
                if reads_table(&plan, &name) {
                    return Err(ConnectError::Analysis {
                        class: "UNSUPPORTED_OVERWRITE.TABLE",
                        message: format!(
                            "Can't overwrite the target that is also being read from. The target table is {}.",
                            quoted(&name)
                        ),
                    });
                }
                let drop = LogicalPlan::Ddl(DdlStatement::DropTable(DropTable {
                    name: name.clone(),
                    if_exists: true,
                    schema: Arc::new(DFSchema::empty()),
                }));
                run(driver, session, drop, WriteMode::ErrorIfExists).await?;
            }
            SaveMode::ErrorIfExists | SaveMode::Unspecified => {
                return Err(ConnectError::Analysis {
                    class: "TABLE_OR_VIEW_ALREADY_EXISTS",
                    message: format!(
                        "Cannot create table or view {} because it already exists.",
                        quoted(&name)
                    ),
                })
            }
        }
    }
    let plans = plan_new_table(ctx, name, plan, files_of(w)?).await?;
    for p in plans {
        run(driver, session, p, WriteMode::ErrorIfExists).await?;
    }
    Ok(())
}

/// `df.write.insertInto(name, overwrite)`: the DataFrame's columns by
/// position into the table's (cast to its types); `overwrite` mode replaces
/// the table's rows.
async fn insert_into(
    driver: &Driver,
    session: &Session,
    name: TableReference,
    plan: LogicalPlan,
    mode: SaveMode,
) -> Result<()> {
    if !session.ctx.table_exist(name.clone())? {
        let parts: Vec<String> = name.to_vec();
        return Err(ConnectError::table_not_found(&parts));
    }
    let (op, write_mode) = match mode {
        SaveMode::Overwrite => (InsertOp::Overwrite, WriteMode::Overwrite),
        _ => (InsertOp::Append, WriteMode::Append),
    };
    let insert = insert_plan(session, &name, plan, Columns::ByPosition, op).await?;
    run(driver, session, insert, write_mode).await
}

/// How a DataFrame's columns meet a table's.
#[derive(Clone, Copy)]
enum Columns {
    /// `insertInto`: the n-th column into the n-th.
    ByPosition,
    /// `saveAsTable` in append mode: each by its name, case-insensitively.
    ByName,
}

/// An INSERT of `plan`'s rows into the table `name`, its columns cast to
/// the table's types and named as the table names them.
async fn insert_plan(
    session: &Session,
    name: &TableReference,
    plan: LogicalPlan,
    columns: Columns,
    op: InsertOp,
) -> Result<LogicalPlan> {
    let provider = session.ctx.table_provider(name.clone()).await?;
    let target = provider.schema();
    let input = plan.schema().clone();
    if input.fields().len() != target.fields().len() {
        let (class, reason) = if input.fields().len() < target.fields().len() {
            (
                "INSERT_COLUMN_ARITY_MISMATCH.NOT_ENOUGH_DATA_COLUMNS",
                "not enough data columns",
            )
        } else {
            (
                "INSERT_COLUMN_ARITY_MISMATCH.TOO_MANY_DATA_COLUMNS",
                "too many data columns",
            )
        };
        return Err(ConnectError::Analysis {
            class,
            message: format!(
                "Cannot write to {}, the reason is {reason}:\nTable columns: {}.\nData columns: {}.",
                quoted(name),
                quoted_names(&target),
                quoted_names(input.as_arrow())
            ),
        });
    }
    let mut exprs: Vec<Expr> = vec![];
    for (i, field) in target.fields().iter().enumerate() {
        let source = match columns {
            Columns::ByPosition => Some(i),
            Columns::ByName => input
                .fields()
                .iter()
                .position(|f| f.name().eq_ignore_ascii_case(field.name())),
        };
        let Some(j) = source else {
            return Err(ConnectError::Analysis {
                class: "INCOMPATIBLE_DATA_FOR_TABLE.CANNOT_FIND_DATA",
                message: format!(
                    "Cannot write incompatible data for the table {}: Cannot find data for the output column `{}`.",
                    quoted(name),
                    field.name()
                ),
            });
        };
        let (qualifier, f) = input.qualified_field(j);
        let source = Expr::Column(datafusion::common::Column::new(
            qualifier.cloned(),
            f.name(),
        ));
        let value = if f.data_type() == field.data_type() {
            source
        } else {
            cast(source, field.data_type().clone())
        };
        exprs.push(value.alias(field.name()));
    }
    let projected = LogicalPlanBuilder::from(plan).project(exprs)?.build()?;
    Ok(
        LogicalPlanBuilder::insert_into(projected, name.clone(), provider_as_source(provider), op)?
            .build()?,
    )
}

/// Whether `plan` scans the table `name`.
fn reads_table(plan: &LogicalPlan, name: &TableReference) -> bool {
    plan.exists(|p| {
        Ok(matches!(p, LogicalPlan::TableScan(s) if s.table_name.table().eq_ignore_ascii_case(name.table())))
    })
    .unwrap_or(false)
}

/// A schema's column names, each in backquotes, comma-separated.
fn quoted_names(schema: &arrow::datatypes::Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| format!("`{}`", f.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `name` as Spark quotes a table of its session catalog.
fn quoted(name: &TableReference) -> String {
    format!("`spark_catalog`.`default`.`{}`", name.table())
}

async fn run(driver: &Driver, session: &Session, plan: LogicalPlan, mode: WriteMode) -> Result<()> {
    driver
        .execute_write(&session.ctx, plan, AT, mode)
        .await
        .map_err(ConnectError::from_kiln)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spark_quotes_a_session_table_with_its_catalog_and_database() {
        assert_eq!(
            quoted(&TableReference::from("Sales")),
            "`spark_catalog`.`default`.`sales`"
        );
    }
}
