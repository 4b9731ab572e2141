//! Running one application: each statement of the job in order. DDL (tables,
//! views, settings) runs in the driver's catalog; queries and writes are cut
//! into stages, scheduled on executors, and finished on the driver.

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, RecordBatch, UInt64Array};
use arrow::datatypes::SchemaRef;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{LogicalPlan, WriteOp};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement;
use futures::StreamExt;
use kiln_core::config::{EngineConf, WriteMode};
use kiln_core::manifest::Application;
use kiln_core::sql::{parse_job, prepare, NameCatalog};
use kiln_core::{KilnError, Result};
use tracing::Instrument;

use crate::cache_table;
use crate::commit;
use crate::file_table;
use crate::job::{count_batch, JobRunner, QueryStream};
use crate::managed_table;
use crate::metrics::{AppMetrics, StatementTime};
use crate::scheduler::SchedulerContext;

pub use crate::job::DriverShuffle;
pub use crate::result::QueryOutput;

/// Runs the statements of one application. Its methods take `&self`:
/// several jobs may run at once (Spark Connect sessions share a driver).
pub struct Driver {
    app: Application,
    conf: Arc<EngineConf>,
    ctx: SessionContext,
    sched: SchedulerContext,
    jobs: JobRunner,
}

impl Driver {
    /// A driver for `app` scheduling on the executors of `sched`.
    pub fn new(app: Application, sched: SchedulerContext, shuffle: DriverShuffle) -> Result<Self> {
        let conf = sched.conf.clone();
        let config = conf.session_config(app.total_cores())?;
        let runtime = kiln_core::config::runtime_env(app.driver.memory_bytes, None)?;
        kiln_core::objectstore::register_for_sql(&runtime, &app.sql, &conf.raw)?;
        let ctx = kiln_core::config::spark_session(config, runtime);
        let jobs = JobRunner::new(sched.clone(), shuffle);
        Ok(Driver {
            app,
            conf,
            ctx,
            sched,
            jobs,
        })
    }

    /// The metrics of this application.
    pub fn metrics(&self) -> Arc<AppMetrics> {
        self.sched.metrics.clone()
    }

    /// Runs every statement; returns the rows of the last query, if any.
    pub async fn run(&self) -> Result<Option<QueryOutput>> {
        let statements = parse_job(&self.app.sql, &sql_dialect(&self.ctx), &self.app.sql_origin)?;
        let last_query = statements.iter().rposition(|s| is_query(&s.statement));
        let mut output = None;
        let total = statements.len();
        for (i, js) in statements.into_iter().enumerate() {
            let start = Instant::now();
            let label = label_of(&js.statement);
            let at = if js.line > 0 {
                format!("statement {} of {total} (line {})", i + 1, js.line)
            } else {
                format!("statement {} of {total}", i + 1)
            };
            let span =
                tracing::info_span!("statement", app = %self.sched.application_id, index = i + 1);
            // Only the last query's rows are printed: an earlier SELECT is
            // planned (its mistakes are reported) but not run.
            let run = Some(i) == last_query || !is_select(&js.statement);
            let (rows, result) = self
                .run_statement(js.statement, &at, &label, run)
                .instrument(span)
                .await?;
            if Some(i) == last_query {
                output = result;
            }
            self.sched.metrics.add_statement(StatementTime {
                index: i + 1,
                label,
                elapsed: start.elapsed(),
                rows,
            });
        }
        Ok(output)
    }

    /// Runs one statement of the manifest; `label` names its jobs in the UI.
    async fn run_statement(
        &self,
        mut stmt: Statement,
        at: &str,
        label: &str,
        run: bool,
    ) -> Result<(u64, Option<QueryOutput>)> {
        if let Some((key, value)) = spark_set(&stmt) {
            let state = self.ctx.state_ref();
            let mut state = state.write();
            kiln_core::config::apply_spark_setting(&key, &value, state.config_mut())
                .map_err(|e| KilnError::Sql(format!("{at}: {e}")))?;
            return Ok((0, None));
        }
        file_table::register_file_tables(&self.ctx, &stmt)
            .await
            .map_err(|e| sql_error(at, &e))?;
        let names = name_catalog(&self.ctx).await?;
        prepare(&mut stmt, &names);
        // Errors while creating a table (a missing or unreadable file) name its location.
        let at = match &stmt {
            Statement::CreateExternalTable(c) => format!(
                "{at} (table `{}` at '{}')",
                c.name,
                c.locations.join("', '")
            ),
            _ => at.to_string(),
        };
        let at = at.as_str();
        let ctx = self.ctx.clone();
        let plans = plan_statement(&ctx, stmt)
            .await
            .map_err(|e| sql_error(at, &e))?;
        if !run {
            for plan in &plans {
                physical_plan(&ctx, plan, at).await?;
            }
            self.sched.progress.line(&format!(
                "{at}: a SELECT before the last query is not run (only the last query's rows are printed)"
            ));
            return Ok((0, None));
        }
        let mut last = (0, None);
        for plan in plans {
            last = self.execute_plan_as(&ctx, plan, at, label).await?;
        }
        Ok(last)
    }

    /// A new session on this driver's cluster (a Spark Connect client's):
    /// the driver's settings and object stores, its own catalog.
    pub fn new_session(&self) -> SessionContext {
        let state = self.ctx.state();
        kiln_core::config::spark_session(state.config().clone(), state.runtime_env().clone())
    }

    /// The session every statement of the manifest runs in.
    pub fn session(&self) -> &SessionContext {
        &self.ctx
    }

    /// Runs one logical plan in `ctx` (the manifest's session, or a Spark
    /// Connect client's): DDL and settings in the catalog of `ctx`, queries
    /// and writes as a distributed job. Returns the rows written or read and,
    /// for a query or EXPLAIN, its rows. `at` says where the plan came from
    /// in error messages.
    pub async fn execute_plan(
        &self,
        ctx: &SessionContext,
        plan: LogicalPlan,
        at: &str,
    ) -> Result<(u64, Option<QueryOutput>)> {
        self.execute_plan_as(ctx, plan, at, at).await
    }

    /// [`Driver::execute_plan`] whose jobs the UI shows as `description`.
    async fn execute_plan_as(
        &self,
        ctx: &SessionContext,
        plan: LogicalPlan,
        at: &str,
        description: &str,
    ) -> Result<(u64, Option<QueryOutput>)> {
        if let Some(done) = self.run_in_catalog(ctx, &plan, at).await? {
            return Ok(done);
        }
        if is_write(&plan) {
            let rows = self
                .write(ctx, plan, at, description, self.conf.write_mode)
                .await?;
            return Ok((rows, None));
        }
        // Gathered in the driver's result spool (bounded by
        // spark.driver.maxResultSize, spilled when large) and handed out
        // once the job succeeded.
        let physical = physical_plan(ctx, &plan, at).await?;
        let schema = physical.schema();
        let output = self
            .jobs
            .run(ctx, physical, description)
            .await
            .map_err(|e| job_error(at, e))?
            .rows;
        let shown = kiln_core::spark_names::display_schema(&schema);
        Ok((output.num_rows(), Some(output.with_schema(shown))))
    }

    /// [`Driver::execute_plan`] whose rows stream back as the job produces
    /// them (at most a few batches ahead of the reader; dropping the stream
    /// cancels the job). DDL, settings and writes run to completion first
    /// and stream what they answer (a write: its one `count` row).
    pub async fn execute_stream(
        &self,
        ctx: &SessionContext,
        plan: LogicalPlan,
        at: &str,
    ) -> Result<QueryStream> {
        let schema: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
        if let Some((_, out)) = self.run_in_catalog(ctx, &plan, at).await? {
            return Ok(match out {
                Some(o) => {
                    let schema = o.schema.clone();
                    QueryStream::from_batches(schema, o.collect()?)
                }
                None => QueryStream::from_batches(schema, vec![]),
            });
        }
        if is_write(&plan) {
            let rows = self.write(ctx, plan, at, at, self.conf.write_mode).await?;
            let batch = count_batch(rows)?;
            return Ok(QueryStream::from_batches(batch.schema(), vec![batch]));
        }
        self.query_stream(ctx, plan, at).await
    }

    /// [`Driver::execute_plan`] for a write (`COPY` plan) in `mode`, as a
    /// DataFrame writer's save mode asks.
    pub async fn execute_write(
        &self,
        ctx: &SessionContext,
        plan: LogicalPlan,
        at: &str,
        mode: WriteMode,
    ) -> Result<u64> {
        if let Some((rows, _)) = self.run_in_catalog(ctx, &plan, at).await? {
            return Ok(rows);
        }
        if is_write(&plan) {
            return self.write(ctx, plan, at, at, mode).await;
        }
        Ok(self.execute_plan(ctx, plan, at).await?.0)
    }

    /// Runs DDL, settings, EXPLAIN and DESCRIBE in the catalog of `ctx`
    /// (`None` for any other plan): their rows and, for EXPLAIN/DESCRIBE,
    /// the rows to show.
    async fn run_in_catalog(
        &self,
        ctx: &SessionContext,
        plan: &LogicalPlan,
        at: &str,
    ) -> Result<Option<(u64, Option<QueryOutput>)>> {
        if !matches!(
            plan,
            LogicalPlan::Ddl(_)
                | LogicalPlan::Statement(_)
                | LogicalPlan::DescribeTable(_)
                | LogicalPlan::Explain(_)
        ) {
            return Ok(None);
        }
        let is_explain = matches!(
            plan,
            LogicalPlan::Explain(_) | LogicalPlan::DescribeTable(_)
        );
        let dropped = managed_table::dropped_managed_folder(ctx, plan).await;
        let df = ctx
            .execute_logical_plan(plan.clone())
            .await
            .map_err(|e| sql_error(at, &e))?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await.map_err(|e| sql_error(at, &e))?;
        if let Some(folder) = dropped {
            managed_table::delete_folder(ctx, &folder)
                .await
                .map_err(|e| sql_error(at, &e))?;
        }
        let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
        Ok(Some((
            rows,
            is_explain.then(|| QueryOutput::from_batches(schema, batches)),
        )))
    }

    /// A query's rows as its job produces them, named as Spark shows them.
    async fn query_stream(
        &self,
        ctx: &SessionContext,
        plan: LogicalPlan,
        at: &str,
    ) -> Result<QueryStream> {
        let physical = physical_plan(ctx, &plan, at).await?;
        let schema = physical.schema();
        let shown = kiln_core::spark_names::display_schema(&schema);
        let origin = at.to_string();
        let rows = self
            .jobs
            .stream(ctx, physical, at, RESULT_BUFFER_BATCHES, move |e| {
                job_error(&origin, e)
            })?;
        let renamed = shown.clone();
        let rows = rows.map(move |b| {
            b.map(|b| {
                kiln_core::spark_names::display_batches(&schema, vec![b])
                    .pop()
                    .unwrap_or_else(|| RecordBatch::new_empty(renamed.clone()))
            })
        });
        Ok(QueryStream::new(shown, rows))
    }

    /// Runs a write (`INSERT` or `COPY`) as a job whose tasks write into a
    /// staging folder, committed on success in `write_mode`; returns the
    /// rows written. `description` names its job in the UI.
    async fn write(
        &self,
        ctx: &SessionContext,
        plan: LogicalPlan,
        at: &str,
        description: &str,
        write_mode: WriteMode,
    ) -> Result<u64> {
        let is_copy = matches!(plan, LogicalPlan::Copy(_));
        // DataFusion's file sinks only append; an overwrite is planned as an
        // append into staging and becomes an overwrite at commit.
        let (plan, insert_overwrite) = match plan {
            LogicalPlan::Dml(mut dml) if dml.op == WriteOp::Insert(InsertOp::Overwrite) => {
                dml.op = WriteOp::Insert(InsertOp::Append);
                (LogicalPlan::Dml(dml), true)
            }
            // Written columns show their names without a duplicate's suffix.
            LogicalPlan::Copy(mut copy) => {
                copy.input = Arc::new(
                    kiln_core::spark_names::display_names_for_write(Arc::unwrap_or_clone(
                        copy.input,
                    ))
                    .map_err(|e| sql_error(at, &e))?,
                );
                (LogicalPlan::Copy(copy), false)
            }
            other => (other, false),
        };
        let physical = physical_plan(ctx, &plan, at).await?;
        // Writes go to a staging folder first and are committed on success.
        let tag = self.jobs.write_tag();
        let (physical, staged) = commit::stage(
            physical,
            ctx,
            &tag,
            commit::CommitSettings {
                copy_mode: write_mode,
                partition_mode: self.conf.partition_overwrite_mode,
                fail_after_files: self.conf.hooks.fail_commit_after_files,
            },
            is_copy,
            insert_overwrite,
        )
        .await
        .map_err(|e| match e {
            KilnError::JobFailed(m) => KilnError::JobFailed(format!("{at}: {m}")),
            other => other,
        })?;
        let result = self.jobs.run(ctx, physical, description).await;
        let result = match (result, staged) {
            (Ok(out), Some(staged)) => staged.commit(&out.attempts).await.map(|()| out.rows),
            (Err(e), Some(staged)) => {
                staged.abort().await;
                Err(e)
            }
            (result, None) => result.map(|out| out.rows),
        };
        let batches = result
            .and_then(QueryOutput::collect)
            .map_err(|e| job_error(at, e))?;
        Ok(batches
            .first()
            .and_then(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<UInt64Array>()
                    .filter(|a| !a.is_empty())
                    .map(|a| a.value(0))
            })
            .unwrap_or(0))
    }
}

/// How many result batches a query's job produces ahead of its reader.
const RESULT_BUFFER_BATCHES: usize = 4;

/// Whether `plan` writes rows (`INSERT`, `COPY`).
fn is_write(plan: &LogicalPlan) -> bool {
    matches!(plan, LogicalPlan::Dml(_) | LogicalPlan::Copy(_))
}

/// A job's error, saying which statement it came from.
fn job_error(at: &str, e: KilnError) -> KilnError {
    match e {
        KilnError::JobFailed(m) => KilnError::JobFailed(format!("{at}: {m}")),
        KilnError::DataFusion(e) => {
            KilnError::JobFailed(format!("{at}: {}", strip_df_prefix(&e.to_string())))
        }
        other => other,
    }
}

/// `SET spark.key = value` in a job: Spark's settings, which DataFusion's
/// `SET` does not know. The value may be quoted or bare
/// (`SET spark.sql.session.timeZone = America/New_York`).
fn spark_set(stmt: &Statement) -> Option<(String, String)> {
    use datafusion::sql::sqlparser::ast::{Expr, Set, Statement as S, Value};
    let Statement::Statement(st) = stmt else {
        return None;
    };
    let S::Set(Set::SingleAssignment {
        variable, values, ..
    }) = st.as_ref()
    else {
        return None;
    };
    let key = variable.to_string().replace('`', "");
    if !key.starts_with("spark.") {
        return None;
    }
    let value = match values.as_slice() {
        [Expr::Value(v)] => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
            other => other.to_string(),
        },
        [other] => other.to_string().replace(' ', ""),
        _ => return None,
    };
    Some((key, value))
}

/// The SQL dialect `ctx` parses with (`datafusion.sql_parser.dialect`).
fn sql_dialect(ctx: &SessionContext) -> String {
    ctx.state()
        .config()
        .options()
        .sql_parser
        .dialect
        .to_string()
}

/// The physical plan of `plan`, the statement at `at`.
async fn physical_plan(
    ctx: &SessionContext,
    plan: &LogicalPlan,
    at: &str,
) -> Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
    ctx.state()
        .create_physical_plan(plan)
        .await
        .map_err(|e| sql_error(at, &e))
}

/// A planning or execution error of the statement at `at`, without
/// DataFusion's kind prefixes.
fn sql_error(at: &str, e: &datafusion::error::DataFusionError) -> KilnError {
    KilnError::Sql(format!("{at}: {}", strip_df_prefix(&e.to_string())))
}

/// Every column name of the tables and views of `ctx`: what unquoted
/// identifiers resolve against, case-insensitively.
async fn name_catalog(ctx: &SessionContext) -> Result<NameCatalog> {
    let mut names = NameCatalog::default();
    for cat in ctx.catalog_names() {
        let Some(catalog) = ctx.catalog(&cat) else {
            continue;
        };
        for schema_name in catalog.schema_names() {
            if schema_name == "information_schema" {
                continue;
            }
            let Some(schema) = catalog.schema(&schema_name) else {
                continue;
            };
            for t in schema.table_names() {
                if let Ok(Some(table)) = schema.table(&t).await {
                    for f in table.schema().fields() {
                        names.add(f.name());
                    }
                }
            }
        }
    }
    Ok(names)
}

/// The logical plans of each statement of `sql` in `ctx`, identifiers
/// resolved as in a manifest, in the order they run (a statement may take
/// none or several, see `plan_statement`). Nothing runs: DDL is planned,
/// not executed. `origin` names the text in errors.
pub async fn sql_plans(
    ctx: &SessionContext,
    sql: &str,
    origin: &str,
) -> Result<Vec<Vec<LogicalPlan>>> {
    let statements = parse_job(sql, &sql_dialect(ctx), origin)?;
    for js in &statements {
        file_table::register_file_tables(ctx, &js.statement)
            .await
            .map_err(|e| KilnError::Sql(strip_df_prefix(&e.to_string())))?;
    }
    let names = name_catalog(ctx).await?;
    let mut plans = vec![];
    for mut js in statements {
        prepare(&mut js.statement, &names);
        let planned = plan_statement(ctx, js.statement)
            .await
            .map_err(|e| KilnError::Sql(strip_df_prefix(&e.to_string())))?;
        plans.push(planned);
    }
    Ok(plans)
}

/// The plans of one prepared statement, in the order they run: one for
/// most statements; Spark's `CREATE TABLE` may take none or two
/// ([`managed_table::plan_create_table`]).
async fn plan_statement(
    ctx: &SessionContext,
    stmt: Statement,
) -> datafusion::error::Result<Vec<LogicalPlan>> {
    if let Some(ct) = managed_table::as_create_table(&stmt) {
        return managed_table::plan_create_table(ctx, ct).await;
    }
    if cache_table::is_cache_statement(&stmt) {
        return cache_table::plan_cache_statement(ctx, &stmt).await;
    }
    Ok(vec![ctx.state().statement_to_plan(stmt).await?])
}

/// A plain query (not an EXPLAIN): one whose rows only matter if printed.
fn is_select(s: &Statement) -> bool {
    use datafusion::sql::sqlparser::ast::Statement as S;
    matches!(s, Statement::Statement(st) if matches!(st.as_ref(), S::Query(_)))
}

/// A statement whose rows are printed: a query, or an EXPLAIN / DESCRIBE.
fn is_query(s: &Statement) -> bool {
    use datafusion::sql::sqlparser::ast::Statement as S;
    match s {
        Statement::Statement(st) => matches!(
            st.as_ref(),
            S::Query(_) | S::Explain { .. } | S::ExplainTable { .. }
        ),
        Statement::Explain(_) => true,
        _ => false,
    }
}

fn label_of(s: &Statement) -> String {
    let text = s.to_string();
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 60 {
        format!("{}...", one_line.chars().take(57).collect::<String>())
    } else {
        one_line
    }
}

/// Drops DataFusion's error-kind prefixes that say nothing to a SQL user.
pub use kiln_core::error::strip_df_prefix;
