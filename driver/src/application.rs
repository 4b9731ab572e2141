//! Running one application: each statement of the job in order. DDL (tables,
//! views, settings) runs in the driver's catalog; queries and writes are cut
//! into stages, scheduled on executors, and finished on the driver.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, RecordBatch, UInt64Array};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{LogicalPlan, WriteOp};
use datafusion::physical_plan::{displayable, ExecutionPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement;
use kiln_core::config::{EngineConf, WriteMode};
use kiln_core::manifest::Application;
use kiln_core::shuffle::{find_fetch_failure, FlightClients, ShuffleMetrics, ShuffleTaskEnv};
use kiln_core::sql::{parse_job, prepare, NameCatalog};
use kiln_core::write::attempt_dir;
use kiln_core::{KilnError, Result};
use tracing::{debug, info, Instrument};

use crate::commit;
use crate::file_table;
use crate::managed_table;
use crate::metrics::{AppMetrics, StatementTime};
use crate::planner::{plan_job, JobPlan, JobResult};
use crate::result::SpoolError;
use crate::scheduler::{JobScheduler, SchedulerContext};

/// Where the driver itself reads shuffle blocks from.
#[derive(Debug, Clone)]
pub struct DriverShuffle {
    /// Executor id the driver reads as: blocks with this owner are read from
    /// `shuffle_dir` directly (local mode), all others over Flight.
    pub executor_id: String,
    /// Shuffle directory of that executor.
    pub shuffle_dir: PathBuf,
}

pub use crate::result::QueryOutput;

/// Runs the statements of one application.
pub struct Driver {
    app: Application,
    conf: Arc<EngineConf>,
    ctx: SessionContext,
    sched: SchedulerContext,
    shuffle: DriverShuffle,
    clients: Arc<FlightClients>,
    next_stage: u32,
    next_job: u32,
    /// What the job being run is for (its statement), for the UI.
    description: String,
}

impl Driver {
    /// A driver for `app` scheduling on the executors of `sched`.
    pub fn new(app: Application, sched: SchedulerContext, shuffle: DriverShuffle) -> Result<Self> {
        let conf = sched.conf.clone();
        let config = conf.session_config(app.total_cores())?;
        let runtime = kiln_core::config::runtime_env(app.driver.memory_bytes, None)?;
        kiln_core::objectstore::register_for_sql(&runtime, &app.sql, &conf.raw)?;
        let ctx = kiln_core::config::spark_session(config, runtime);
        let clients = Arc::new(FlightClients::new(
            sched.registry.transport().clone(),
            conf.fetch_timeout,
        ));
        Ok(Driver {
            app,
            conf,
            ctx,
            sched,
            shuffle,
            clients,
            next_stage: 1,
            next_job: 1,
            description: String::new(),
        })
    }

    /// The metrics of this application.
    pub fn metrics(&self) -> Arc<AppMetrics> {
        self.sched.metrics.clone()
    }

    /// Runs every statement; returns the rows of the last query, if any.
    pub async fn run(&mut self) -> Result<Option<QueryOutput>> {
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
            self.description = label.clone();
            // Only the last query's rows are printed: an earlier SELECT is
            // planned (its mistakes are reported) but not run.
            let run = Some(i) == last_query || !is_select(&js.statement);
            let (rows, result) = self
                .run_statement(js.statement, &at, run)
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

    async fn run_statement(
        &mut self,
        mut stmt: Statement,
        at: &str,
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
                ctx.state()
                    .create_physical_plan(plan)
                    .await
                    .map_err(|e| sql_error(at, &e))?;
            }
            self.sched.progress.line(&format!(
                "{at}: a SELECT before the last query is not run (only the last query's rows are printed)"
            ));
            return Ok((0, None));
        }
        let mut last = (0, None);
        for plan in plans {
            last = self.execute_plan(&ctx, plan, at).await?;
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
        &mut self,
        ctx: &SessionContext,
        plan: LogicalPlan,
        at: &str,
    ) -> Result<(u64, Option<QueryOutput>)> {
        let mode = self.conf.write_mode;
        self.execute(ctx, plan, at, mode).await
    }

    /// [`Driver::execute_plan`] for a write (`COPY` plan) in `mode`, as a
    /// DataFrame writer's save mode asks.
    pub async fn execute_write(
        &mut self,
        ctx: &SessionContext,
        plan: LogicalPlan,
        at: &str,
        mode: WriteMode,
    ) -> Result<u64> {
        Ok(self.execute(ctx, plan, at, mode).await?.0)
    }

    async fn execute(
        &mut self,
        ctx: &SessionContext,
        plan: LogicalPlan,
        at: &str,
        write_mode: WriteMode,
    ) -> Result<(u64, Option<QueryOutput>)> {
        let state = ctx.state();
        if matches!(
            plan,
            LogicalPlan::Ddl(_)
                | LogicalPlan::Statement(_)
                | LogicalPlan::DescribeTable(_)
                | LogicalPlan::Explain(_)
        ) {
            let is_explain = matches!(
                plan,
                LogicalPlan::Explain(_) | LogicalPlan::DescribeTable(_)
            );
            let dropped = managed_table::dropped_managed_folder(ctx, &plan).await;
            let df = ctx
                .execute_logical_plan(plan)
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
            return Ok((
                rows,
                is_explain.then(|| QueryOutput::from_batches(schema, batches)),
            ));
        }
        let is_write = matches!(plan, LogicalPlan::Dml(_) | LogicalPlan::Copy(_));
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
        let physical = state
            .create_physical_plan(&plan)
            .await
            .map_err(|e| sql_error(at, &e))?;
        let schema = physical.schema();
        // Writes go to a staging folder first and are committed on success.
        let tag = format!("{}-{}", self.sched.application_id, self.next_job);
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
        let result = self.run_job_in(ctx, physical).await;
        let result = match (result, staged) {
            (Ok(out), Some(staged)) => staged.commit(&out.attempts).await.map(|()| out.rows),
            (Err(e), Some(staged)) => {
                staged.abort().await;
                Err(e)
            }
            (result, None) => result.map(|out| out.rows),
        };
        let in_statement = |e| match e {
            KilnError::JobFailed(m) => KilnError::JobFailed(format!("{at}: {m}")),
            KilnError::DataFusion(e) => {
                KilnError::JobFailed(format!("{at}: {}", strip_df_prefix(&e.to_string())))
            }
            other => other,
        };
        let output = result.map_err(in_statement)?;
        if is_write {
            let rows = output
                .collect()
                .map_err(in_statement)?
                .first()
                .and_then(|b| {
                    b.column(0).as_any().downcast_ref::<UInt64Array>().map(|a| {
                        if a.is_empty() {
                            0
                        } else {
                            a.value(0)
                        }
                    })
                })
                .unwrap_or(0);
            Ok((rows, None))
        } else {
            let rows = output.num_rows();
            let shown = kiln_core::spark_names::display_schema(&schema);
            Ok((rows, Some(output.with_schema(shown))))
        }
    }

    /// Runs one physical plan as a job of stages and returns its rows.
    pub async fn run_job(&mut self, plan: Arc<dyn ExecutionPlan>) -> Result<JobOutput> {
        let ctx = self.ctx.clone();
        self.run_job_in(&ctx, plan).await
    }

    /// Runs one physical plan as a job of stages; the driver's part of the
    /// job (the final step) runs with the settings of `ctx`.
    pub async fn run_job_in(
        &mut self,
        ctx: &SessionContext,
        plan: Arc<dyn ExecutionPlan>,
    ) -> Result<JobOutput> {
        let job_id = self.next_job;
        self.next_job += 1;
        let job = plan_job(plan, &mut self.next_stage, self.conf.broadcast_threshold)?;
        info!(job_id, stages = job.stages.len(), "job planned");
        for stage in &job.stages {
            debug!(
                job_id,
                stage = stage.id,
                tasks = stage.partitions,
                "stage plan:\n{}",
                displayable(stage.plan.as_ref()).indent(false)
            );
        }
        if let JobResult::Rows { plan, .. } = &job.result {
            debug!(
                job_id,
                "driver plan:\n{}",
                displayable(plan.as_ref()).indent(false)
            );
        }
        self.sched.progress.stages_planned(job.stages.len());
        let description = match std::mem::take(&mut self.description) {
            d if d.is_empty() => format!("job {job_id}"),
            d => d,
        };
        self.sched.listener.job_start(job_id, &job, &description);
        let result = self.run_stages(ctx, job_id, &job).await;
        self.sched
            .listener
            .job_end(job_id, result.as_ref().err().map(|e| e.to_string()));
        self.remove_shuffle(&job).await;
        result
    }

    /// Deletes the job's shuffle blocks on every executor: no later job
    /// reads them (each statement is planned afresh), and an application of
    /// many statements would otherwise fill the executors' disks.
    async fn remove_shuffle(&self, job: &JobPlan) {
        let stage_ids: Vec<u32> = job.stages.iter().map(|s| s.id).collect();
        let calls = self.sched.registry.executors().into_iter().map(|e| {
            let req = kiln_proto::RemoveShuffleRequest {
                stage_ids: stage_ids.clone(),
            };
            async move {
                let mut client = e.client.clone();
                let answer =
                    tokio::time::timeout(std::time::Duration::from_secs(5), client.remove_shuffle(req))
                        .await;
                if !matches!(answer, Ok(Ok(_))) {
                    tracing::warn!(executor_id = %e.id, "could not remove shuffle blocks of finished stages");
                }
            }
        });
        futures::future::join_all(calls).await;
    }

    async fn run_stages(
        &mut self,
        ctx: &SessionContext,
        job_id: u32,
        job: &JobPlan,
    ) -> Result<JobOutput> {
        let session_conf = kiln_core::config::execution_settings(ctx.state().config())
            .into_iter()
            .collect();
        let mut sched = JobScheduler::new(&self.sched, job_id, job, session_conf)?;
        let (root, parents) = match &job.result {
            JobResult::Files { stage } => {
                sched.run_until(&[*stage]).await?;
                let outputs = sched.outputs(*stage);
                let attempts = outputs
                    .iter()
                    .map(|m| commit::WriteAttempt {
                        dir: attempt_dir(*stage, m.map_partition, m.attempt),
                        rows: m.rows,
                    })
                    .collect();
                let rows = outputs.iter().map(|m| m.rows).sum();
                let count = count_batch(rows)?;
                return Ok(JobOutput {
                    rows: QueryOutput::from_batches(count.schema(), vec![count]),
                    attempts,
                });
            }
            JobResult::Rows { plan, parents } => (plan, parents),
        };
        loop {
            sched.run_until(parents).await?;
            let inputs: HashMap<u32, _> = parents.iter().map(|s| (*s, sched.outputs(*s))).collect();
            crate::result::check_blocks(inputs.values().flatten(), self.conf.max_result_bytes)?;
            let env = Arc::new(ShuffleTaskEnv {
                executor_id: self.shuffle.executor_id.clone(),
                shuffle_dir: self.shuffle.shuffle_dir.clone(),
                attempt: 0,
                compression: self.conf.shuffle_compression,
                inputs,
                clients: self.clients.clone(),
                metrics: ShuffleMetrics::default(),
            });
            let state = ctx.state();
            let config = state.config().clone().with_extension(env.clone());
            let task_ctx = Arc::new(TaskContext::from(&state).with_session_config(config));
            let result = crate::result::spool_final_step(
                root.clone(),
                task_ctx,
                self.ctx.runtime_env(),
                self.conf.max_result_bytes,
            )
            .await;
            let (local, remote) = (
                env.metrics
                    .local_bytes
                    .load(std::sync::atomic::Ordering::Relaxed),
                env.metrics
                    .remote_bytes
                    .load(std::sync::atomic::Ordering::Relaxed),
            );
            self.sched.metrics.add_driver_reads(local, remote);
            self.sched
                .listener
                .driver_step_done(job_id, root, local, remote);
            match result {
                Ok(rows) => {
                    return Ok(JobOutput {
                        rows,
                        attempts: vec![],
                    })
                }
                Err(SpoolError::Limit(e)) => return Err(e),
                Err(SpoolError::Run(e)) => match find_fetch_failure(&e) {
                    Some(ff) => {
                        self.sched
                            .progress
                            .line(&format!("driver: {ff}; recomputing the lost output"));
                        sched.fetch_failed(ff.stage_id, ff.map_partition, &ff.executor_id)?;
                    }
                    // Deterministic: the driver's part of the job does not retry.
                    None => {
                        return Err(KilnError::JobFailed(format!(
                            "job {job_id}, final step on the driver (reading the output of stage {}) failed: {}",
                            parents
                                .iter()
                                .map(u32::to_string)
                                .collect::<Vec<_>>()
                                .join(", "),
                            strip_df_prefix(&e.to_string())
                        )))
                    }
                },
            }
        }
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
    Ok(vec![ctx.state().statement_to_plan(stmt).await?])
}

/// What a job produced.
#[derive(Debug)]
pub struct JobOutput {
    /// The rows of a query, or one `count` row for a write.
    pub rows: QueryOutput,
    /// For a write: the folders (below the staging folder) of the task
    /// attempts whose files make up the output.
    pub attempts: Vec<commit::WriteAttempt>,
}

/// The one-row `count` result of a write, as DataFusion's sinks report it.
fn count_batch(rows: u64) -> Result<RecordBatch> {
    let count: arrow::array::ArrayRef = Arc::new(UInt64Array::from(vec![rows]));
    Ok(RecordBatch::try_from_iter(vec![("count", count)])
        .map_err(datafusion::error::DataFusionError::from)?)
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
