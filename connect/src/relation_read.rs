//! The leaf relations: Read (data sources and named tables), SQL queries,
//! LocalRelation (`createDataFrame`) and Range.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder, Partitioning};
use datafusion::prelude::{CsvReadOptions, JsonReadOptions, ParquetReadOptions, SessionContext};

use crate::error::{ConnectError, Result};
use crate::expression::parse_identifier;
use crate::proto;
use crate::relation::Planner;
use crate::types;

impl Planner<'_> {
    pub(crate) async fn read(&mut self, r: &proto::Read) -> Result<LogicalPlan> {
        use proto::read::ReadType;
        if r.is_streaming {
            return Err(ConnectError::Unsupported(
                "streaming reads (spark.readStream): Kiln runs batch jobs".into(),
            ));
        }
        match &r.read_type {
            Some(ReadType::NamedTable(t)) => {
                let parts = parse_identifier(&t.unparsed_identifier)?;
                let name = parts.join(".");
                let df = self
                    .ctx
                    .table(name.as_str())
                    .await
                    .map_err(|_| ConnectError::table_not_found(&parts))?;
                Ok(df.into_unoptimized_plan())
            }
            Some(ReadType::DataSource(ds)) => {
                let plan = read_source(self.ctx, ds).await?;
                self.leaf(plan)
            }
            None => Err(ConnectError::IllegalArgument("a read of nothing".into())),
        }
    }

    /// A SQL query as a relation (`spark.sql` of a query).
    pub(crate) async fn sql(&self, query: &str) -> Result<LogicalPlan> {
        sql_query_plan(self.ctx, query).await
    }

    /// A LocalRelation (`createDataFrame`).
    pub(crate) fn local_relation(&mut self, l: &proto::LocalRelation) -> Result<LogicalPlan> {
        let plan = local_relation(self.ctx, l)?;
        self.leaf(plan)
    }

    /// A Range (`spark.range`).
    pub(crate) fn range(&mut self, r: &proto::Range) -> Result<LogicalPlan> {
        let plan = range(self.ctx, r)?;
        self.leaf(plan)
    }
}

/// The logical plan of one SQL query text in `ctx` (identifiers resolved
/// case-insensitively, as in manifests).
pub async fn sql_query_plan(ctx: &SessionContext, sql: &str) -> Result<LogicalPlan> {
    let mut plans = kiln_driver::application::sql_plans(ctx, sql, "spark.sql")
        .await
        .map_err(|e| ConnectError::from_sql(e, sql))?;
    match plans.len() {
        1 => {
            let mut plans = plans.remove(0);
            match plans.len() {
                1 => {
                    let plan = plans.remove(0);
                    match partitioning_hint(sql) {
                        Some(n) => Ok(LogicalPlanBuilder::from(plan)
                            .repartition(Partitioning::RoundRobinBatch(n))?
                            .build()?),
                        None => Ok(plan),
                    }
                }
                _ => Err(ConnectError::Unsupported(
                    "this statement as a DataFrame (run it with spark.sql first)".into(),
                )),
            }
        }
        0 => Err(ConnectError::Parse(
            "[PARSE_EMPTY_STATEMENT] Syntax error, unexpected empty statement.".into(),
        )),
        n => Err(ConnectError::Parse(format!(
            "spark.sql takes one statement, got {n}"
        ))),
    }
}

/// The partitions a query's outermost SELECT asks for with a partitioning
/// hint (`SELECT /*+ COALESCE(2) */ ...`, `/*+ REPARTITION(4) */`), which
/// Spark applies to that SELECT's result. Hints inside the query, several
/// hints in one comment and `REPARTITION` by columns are not read (Kiln
/// plans the query as if they were not there).
fn partitioning_hint(sql: &str) -> Option<usize> {
    let rest = sql.trim_start();
    let (head, rest) = rest.split_at_checked(6)?;
    if !head.eq_ignore_ascii_case("select") {
        return None;
    }
    let rest = rest.trim_start().strip_prefix("/*+")?;
    let body = rest[..rest.find("*/")?].trim();
    let open = body.find('(')?;
    let name = body[..open].trim();
    let n = body[open + 1..]
        .strip_suffix(')')?
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| *n > 0)?;
    (name.eq_ignore_ascii_case("coalesce") || name.eq_ignore_ascii_case("repartition")).then_some(n)
}

fn bool_option(ds: &proto::read::DataSource, key: &str, default: bool) -> Result<bool> {
    match option(ds, key) {
        None => Ok(default),
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(ConnectError::IllegalArgument(format!(
                "option `{key}`: `{v}` is not true or false"
            ))),
        },
    }
}

fn option<'d>(ds: &'d proto::read::DataSource, key: &str) -> Option<&'d str> {
    ds.options
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

/// Files of a read: a folder takes the format's files, a file or glob as given.
fn extension_for(paths: &[String], default: &str) -> String {
    if paths.iter().all(|p| std::path::Path::new(p).is_dir()) {
        default.to_string()
    } else {
        String::new()
    }
}

async fn read_source(ctx: &SessionContext, ds: &proto::read::DataSource) -> Result<LogicalPlan> {
    let format = ds
        .format
        .as_deref()
        .unwrap_or("parquet")
        .to_ascii_lowercase();
    if ds.paths.is_empty() {
        return Err(ConnectError::IllegalArgument(format!(
            "a {format} read needs a path"
        )));
    }
    for p in &ds.paths {
        if !p.contains("://") && !p.contains('*') && !std::path::Path::new(p).exists() {
            return Err(ConnectError::path_not_found(p));
        }
    }
    let schema: Option<SchemaRef> = ds
        .schema
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(types::parse_schema)
        .transpose()?;
    let paths: Vec<&str> = ds.paths.iter().map(String::as_str).collect();
    // Hive partition folders of a single folder read (Spark's discovery).
    let partitions = match ds.paths.as_slice() {
        [one] => crate::partitions::partition_columns(one),
        _ => vec![],
    };
    let df = match format.as_str() {
        "parquet" => {
            let ext = extension_for(&ds.paths, ".parquet");
            let mut opts = ParquetReadOptions::default()
                .file_extension(&ext)
                .table_partition_cols(partitions.clone());
            if let Some(s) = &schema {
                opts = opts.schema(s);
            }
            ctx.read_parquet(paths, opts).await?
        }
        "csv" => {
            let header = bool_option(ds, "header", false)?;
            let infer = bool_option(ds, "inferSchema", false)?;
            let sep = option(ds, "sep").or(option(ds, "delimiter")).unwrap_or(",");
            let [sep] = sep.as_bytes() else {
                return Err(ConnectError::IllegalArgument(format!(
                    "option `sep`: `{sep}` must be one character"
                )));
            };
            let ext = extension_for(&ds.paths, ".csv");
            let base = || {
                CsvReadOptions::new()
                    .has_header(header)
                    .delimiter(*sep)
                    .file_extension(&ext)
                    .table_partition_cols(partitions.clone())
            };
            let schema = match schema {
                Some(s) => s,
                None => {
                    // Spark: columns `_c0, _c1, ...` without a header, and
                    // every column a string unless inferSchema.
                    let probe = ctx.read_csv(paths.clone(), base()).await?;
                    let fields: Vec<Field> = probe
                        .schema()
                        .fields()
                        .iter()
                        .filter(|f| !partitions.iter().any(|(p, _)| p == f.name()))
                        .enumerate()
                        .map(|(i, f)| {
                            let name = if header {
                                f.name().clone()
                            } else {
                                format!("_c{i}")
                            };
                            let t = if infer {
                                f.data_type().clone()
                            } else {
                                DataType::Utf8
                            };
                            Field::new(name, t, true)
                        })
                        .collect();
                    Arc::new(Schema::new(fields))
                }
            };
            ctx.read_csv(paths, base().schema(&schema)).await?
        }
        "json" => {
            let ext = extension_for(&ds.paths, ".json");
            let mut opts = JsonReadOptions::default()
                .file_extension(&ext)
                .table_partition_cols(partitions.clone());
            if let Some(s) = &schema {
                opts = opts.schema(s);
            }
            ctx.read_json(paths, opts).await?
        }
        other => {
            return Err(ConnectError::Unsupported(format!(
                "the data source `{other}` (Kiln reads parquet, csv and json)"
            )))
        }
    };
    Ok(crate::partitions::nullable(ctx, df, &partitions)?.into_unoptimized_plan())
}

pub(crate) fn local_relation(
    ctx: &SessionContext,
    l: &proto::LocalRelation,
) -> Result<LogicalPlan> {
    let mut batches = vec![];
    let mut schema: Option<SchemaRef> = None;
    if let Some(data) = &l.data {
        let reader =
            arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(data.as_ref()), None)
                .map_err(|e| ConnectError::IllegalArgument(format!("local relation data: {e}")))?;
        schema = Some(reader.schema());
        for b in reader {
            batches.push(
                b.map_err(|e| ConnectError::IllegalArgument(format!("local relation data: {e}")))?,
            );
        }
    }
    if let Some(s) = l.schema.as_deref().filter(|s| !s.is_empty()) {
        let declared = types::parse_schema(s)?;
        match &schema {
            // The data's own (Arrow) schema wins; the declared names apply.
            Some(data_schema) if data_schema.fields().len() == declared.fields().len() => {
                let fields: Vec<Field> = data_schema
                    .fields()
                    .iter()
                    .zip(declared.fields())
                    .map(|(d, n)| Field::new(n.name(), d.data_type().clone(), n.is_nullable()))
                    .collect();
                let renamed = Arc::new(Schema::new(fields));
                batches = batches
                    .into_iter()
                    .map(|b| RecordBatch::try_new(renamed.clone(), b.columns().to_vec()))
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|e| ConnectError::IllegalArgument(e.to_string()))?;
                schema = Some(renamed);
            }
            Some(_) => {}
            None => schema = Some(declared),
        }
    }
    let schema = schema.ok_or_else(|| {
        ConnectError::IllegalArgument("a local relation without data or schema".into())
    })?;
    let table = MemTable::try_new(schema, vec![batches])?;
    Ok(ctx.read_table(Arc::new(table))?.into_unoptimized_plan())
}

pub(crate) fn range(ctx: &SessionContext, r: &proto::Range) -> Result<LogicalPlan> {
    let start = r.start.unwrap_or(0);
    let (end, step) = (r.end, r.step);
    if step == 0 {
        return Err(ConnectError::IllegalArgument(
            "range: step must not be 0".into(),
        ));
    }
    let count = if (step > 0 && end > start) || (step < 0 && end < start) {
        ((end as i128 - start as i128 + step as i128 - step.signum() as i128) / step as i128) as u64
    } else {
        0
    };
    if count > 100_000_000 {
        return Err(ConnectError::Unsupported(format!(
            "range of {count} rows (Kiln builds ranges in memory, up to 100000000 rows)"
        )));
    }
    let parts = r
        .num_partitions
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n > 0)
        .unwrap_or(ctx.state().config().target_partitions())
        .max(1);
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
    // Spark's split: partition i holds rows [i * n / parts, (i + 1) * n / parts).
    let bound = |p: u64| (u128::from(p) * u128::from(count) / parts as u128) as u64;
    let mut partitions = vec![];
    for p in 0..parts as u64 {
        let (lo, hi) = (bound(p), bound(p + 1));
        let ids: Int64Array = (lo..hi).map(|i| start + (i as i64) * step).collect();
        let col: ArrayRef = Arc::new(ids);
        partitions.push(vec![RecordBatch::try_new(schema.clone(), vec![col])
            .map_err(|e| ConnectError::Execution(e.to_string()))?]);
    }
    let table = MemTable::try_new(schema, partitions)?;
    Ok(ctx.read_table(Arc::new(table))?.into_unoptimized_plan())
}

#[cfg(test)]
mod tests {
    use super::partitioning_hint;

    #[test]
    fn reads_the_outermost_partitioning_hint() {
        assert_eq!(
            partitioning_hint("SELECT /*+ COALESCE(2) */ * FROM t"),
            Some(2)
        );
        assert_eq!(
            partitioning_hint("  select /*+repartition( 4 )*/ a FROM t"),
            Some(4)
        );
        assert_eq!(
            partitioning_hint("SELECT /*+ BROADCAST(t) */ * FROM t"),
            None
        );
        assert_eq!(
            partitioning_hint("SELECT /*+ REPARTITION(a) */ * FROM t"),
            None
        );
        assert_eq!(
            partitioning_hint("SELECT /*+ COALESCE(0) */ * FROM t"),
            None
        );
        assert_eq!(
            partitioning_hint("SELECT * FROM (SELECT /*+ COALESCE(2) */ * FROM t)"),
            None
        );
        assert_eq!(partitioning_hint("SELEC"), None);
    }
}
