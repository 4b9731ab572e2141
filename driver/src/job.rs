//! Running one job: its stages scheduled on the executors, then the
//! driver's final step, whose rows reach the caller as they are produced
//! ([`QueryStream`]) instead of being gathered on the driver first.
//!
//! Several jobs may run at once (Spark Connect sessions share one driver):
//! stage and job ids come from shared counters, and the executors' task
//! slots are shared through the registry's slot table.

use std::collections::HashMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use arrow::array::{RecordBatch, UInt64Array};
use arrow::datatypes::SchemaRef;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::{displayable, execute_stream, ExecutionPlan};
use datafusion::prelude::SessionContext;
use futures::{Stream, StreamExt};
use kiln_core::config::EngineConf;
use kiln_core::error::strip_df_prefix;
use kiln_core::shuffle::{find_fetch_failure, FlightClients, ShuffleMetrics, ShuffleTaskEnv};
use kiln_core::write::attempt_dir;
use kiln_core::{KilnError, Result};
use tokio::sync::mpsc;
use tracing::{debug, info, Instrument};

use crate::commit;
use crate::planner::{plan_job, JobPlan, JobResult};
use crate::result::{batch_bytes, spool_final_step, too_large, QueryOutput, SpoolError};
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

/// What a job yielded once it finished.
#[derive(Debug)]
pub struct JobOutput {
    /// The rows of a query, or one `count` row for a write.
    pub rows: QueryOutput,
    /// For a write: the folders (below the staging folder) of the task
    /// attempts whose files make up the output.
    pub attempts: Vec<commit::WriteAttempt>,
}

/// The rows of a query, batch by batch as the driver's final step produces
/// them. Dropping it cancels the job (its running tasks are cancelled on
/// the executors) and removes its shuffle blocks.
pub struct QueryStream {
    schema: SchemaRef,
    rows: Pin<Box<dyn Stream<Item = Result<RecordBatch>> + Send>>,
}

impl QueryStream {
    /// A stream of rows already at hand.
    pub fn from_batches(schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        QueryStream {
            schema,
            rows: Box::pin(futures::stream::iter(batches.into_iter().map(Ok))),
        }
    }

    /// A stream of `schema` over `rows`.
    pub fn new(
        schema: SchemaRef,
        rows: impl Stream<Item = Result<RecordBatch>> + Send + 'static,
    ) -> Self {
        QueryStream {
            schema,
            rows: Box::pin(rows),
        }
    }

    /// The schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Every remaining batch.
    pub async fn collect(mut self) -> Result<Vec<RecordBatch>> {
        let mut out = vec![];
        while let Some(b) = self.rows.next().await {
            out.push(b?);
        }
        Ok(out)
    }
}

impl Stream for QueryStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rows.as_mut().poll_next(cx)
    }
}

impl std::fmt::Debug for QueryStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryStream")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// Where a job's rows go.
enum Sink {
    /// Spooled on the driver and handed out once the job succeeded
    /// ([`crate::result`]).
    Spool(Option<QueryOutput>),
    /// Sent on as produced.
    Send(mpsc::Sender<Result<RecordBatch>>),
}

/// Runs jobs on the application's executors. Cheap to clone; clones share
/// the id counters.
#[derive(Clone)]
pub struct JobRunner {
    sched: SchedulerContext,
    conf: Arc<EngineConf>,
    shuffle: DriverShuffle,
    clients: Arc<FlightClients>,
    next_stage: Arc<Mutex<u32>>,
    next_job: Arc<AtomicU32>,
    next_write: Arc<AtomicU32>,
}

impl JobRunner {
    /// A runner scheduling on the executors of `sched`; the driver reads
    /// shuffle blocks as `shuffle` says.
    pub fn new(sched: SchedulerContext, shuffle: DriverShuffle) -> Self {
        let clients = Arc::new(FlightClients::new(
            sched.registry.transport().clone(),
            sched.conf.fetch_timeout,
        ));
        JobRunner {
            conf: sched.conf.clone(),
            sched,
            shuffle,
            clients,
            next_stage: Arc::new(Mutex::new(1)),
            next_job: Arc::new(AtomicU32::new(1)),
            next_write: Arc::new(AtomicU32::new(1)),
        }
    }

    /// The scheduler's view of the application.
    pub fn sched(&self) -> &SchedulerContext {
        &self.sched
    }

    /// A tag no other write of the application has (its staging folder).
    pub fn write_tag(&self) -> String {
        let n = self.next_write.fetch_add(1, Ordering::Relaxed);
        format!("{}-w{n}", self.sched.application_id)
    }

    /// Plans a job and announces it to the listener under `description`
    /// (what it is for: a statement, a DataFrame action).
    fn plan(&self, plan: Arc<dyn ExecutionPlan>, description: &str) -> Result<(u32, JobPlan)> {
        let job_id = self.next_job.fetch_add(1, Ordering::Relaxed);
        // Stage ids name shuffle folders on the executors: unique across
        // jobs planned at the same time.
        let job = {
            let mut next = self.next_stage.lock().unwrap_or_else(|p| p.into_inner());
            let mut job = plan_job(plan, &mut next, self.conf.broadcast_threshold)?;
            if self.conf.runtime_filters {
                crate::runtime_filter::add_runtime_filters(&mut job.stages)?;
            }
            job
        };
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
        let description = match description {
            "" => format!("job {job_id}"),
            d => d.to_string(),
        };
        self.sched.listener.job_start(job_id, &job, &description);
        Ok((job_id, job))
    }

    /// The job ended (`error` says why it failed): tells the listener and
    /// deletes its shuffle blocks.
    async fn finish(&self, job_id: u32, job: &JobPlan, error: Option<String>) {
        self.sched.listener.job_end(job_id, error);
        self.remove_shuffle(job).await;
    }

    /// Runs one physical plan as a job of stages and returns all its rows;
    /// the driver's part (the final step) runs with the settings of `ctx`.
    /// `description` names the job in the UI and event log.
    pub async fn run(
        &self,
        ctx: &SessionContext,
        plan: Arc<dyn ExecutionPlan>,
        description: &str,
    ) -> Result<JobOutput> {
        let (job_id, job) = self.plan(plan, description)?;
        let mut sink = Sink::Spool(None);
        let result = self.drive(ctx, job_id, &job, &mut sink).await;
        let error = result.as_ref().err().map(ToString::to_string);
        self.finish(job_id, &job, error).await;
        let attempts = result?;
        let Sink::Spool(Some(rows)) = sink else {
            return Err(KilnError::Internal("a finished job left no rows".into()));
        };
        Ok(JobOutput { rows, attempts })
    }

    /// Runs one physical plan as a job whose rows stream back as the
    /// driver's final step produces them (at most `buffer` batches ahead of
    /// the reader). `wrap` turns a job error into the caller's;
    /// `description` names the job in the UI and event log.
    pub fn stream(
        &self,
        ctx: &SessionContext,
        plan: Arc<dyn ExecutionPlan>,
        description: &str,
        buffer: usize,
        wrap: impl Fn(KilnError) -> KilnError + Send + 'static,
    ) -> Result<QueryStream> {
        let schema = plan.schema();
        let (job_id, job) = self.plan(plan, description)?;
        let (tx, rx) = mpsc::channel(buffer.max(1));
        let runner = self.clone();
        let ctx = ctx.clone();
        let span = tracing::info_span!("job", job_id);
        tokio::spawn(
            async move {
                let watch = tx.clone();
                let mut sink = Sink::Send(tx);
                let outcome = tokio::select! {
                    r = runner.drive(&ctx, job_id, &job, &mut sink) => Some(r),
                    // The reader went away: dropping the job cancels its tasks.
                    _ = watch.closed() => None,
                };
                let error = match outcome {
                    Some(Err(e)) => {
                        let error = e.to_string();
                        let _ = watch.send(Err(wrap(e))).await;
                        Some(error)
                    }
                    Some(Ok(_)) => None,
                    None => {
                        info!(job_id, "job cancelled: nobody reads its rows");
                        Some("cancelled: the client stopped reading its rows".to_string())
                    }
                };
                drop(sink);
                drop(watch);
                runner.finish(job_id, &job, error).await;
            }
            .instrument(span),
        );
        let rows = tokio_stream::wrappers::ReceiverStream::new(rx);
        Ok(QueryStream::new(schema, rows))
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

    /// Runs the stages of `job` and its final step into `sink`; returns the
    /// write attempts of a write job.
    async fn drive(
        &self,
        ctx: &SessionContext,
        job_id: u32,
        job: &JobPlan,
        sink: &mut Sink,
    ) -> Result<Vec<commit::WriteAttempt>> {
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
                match &mut *sink {
                    Sink::Spool(out) => {
                        *out = Some(QueryOutput::from_batches(count.schema(), vec![count]))
                    }
                    Sink::Send(tx) => {
                        let _ = tx.send(Ok(count)).await;
                    }
                }
                return Ok(attempts);
            }
            JobResult::Rows { plan, parents } => (plan, parents),
        };
        loop {
            sched.run_until(parents).await?;
            let inputs: HashMap<u32, _> = parents.iter().map(|s| (*s, sched.outputs(*s))).collect();
            let limit = self.conf.max_result_bytes;
            crate::result::check_blocks(inputs.values().flatten(), limit)?;
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
            let mut emitted = false;
            let result = match &mut *sink {
                Sink::Spool(out) => {
                    spool_final_step(root.clone(), task_ctx, ctx.runtime_env(), limit)
                        .await
                        .map(|rows| *out = Some(rows))
                }
                Sink::Send(tx) => {
                    send_final_step(root.clone(), task_ctx, limit, tx, &mut emitted).await
                }
            };
            let (local, remote) = (
                env.metrics.local_bytes.load(Ordering::Relaxed),
                env.metrics.remote_bytes.load(Ordering::Relaxed),
            );
            self.sched.metrics.add_driver_reads(local, remote);
            self.sched
                .listener
                .driver_step_done(job_id, root, local, remote);
            let e = match result {
                Ok(()) => return Ok(vec![]),
                Err(SpoolError::Limit(e)) => return Err(e),
                Err(SpoolError::Run(e)) => e,
            };
            match find_fetch_failure(&e) {
                // Rows already sent cannot be taken back: running the step
                // again would hand them on twice.
                Some(ff) if !emitted => {
                    self.sched
                        .progress
                        .line(&format!("driver: {ff}; recomputing the lost output"));
                    sched.fetch_failed(ff.stage_id, ff.map_partition, &ff.executor_id)?;
                }
                _ => {
                    // Deterministic: the driver's part of the job does not retry.
                    return Err(KilnError::JobFailed(format!(
                        "job {job_id}, final step on the driver (reading the output of stage {}) failed: {}",
                        parents
                            .iter()
                            .map(u32::to_string)
                            .collect::<Vec<_>>()
                            .join(", "),
                        strip_df_prefix(&e.to_string())
                    )));
                }
            }
        }
    }
}

/// Runs a job's final step, sending its rows on as they come (`emitted`
/// says whether any went out); stops early when nobody reads any more.
async fn send_final_step(
    root: Arc<dyn ExecutionPlan>,
    task_ctx: Arc<TaskContext>,
    limit: Option<u64>,
    tx: &mpsc::Sender<Result<RecordBatch>>,
    emitted: &mut bool,
) -> std::result::Result<(), SpoolError> {
    let mut rows = execute_stream(root, task_ctx).map_err(SpoolError::Run)?;
    let mut bytes = 0u64;
    while let Some(batch) = rows.next().await {
        let batch = batch.map_err(SpoolError::Run)?;
        bytes += batch_bytes(&batch) as u64;
        if let Some(limit) = limit.filter(|l| bytes > *l) {
            return Err(SpoolError::Limit(too_large(
                "the result rows",
                bytes,
                limit,
            )));
        }
        *emitted = true;
        if tx.send(Ok(batch)).await.is_err() {
            break;
        }
    }
    Ok(())
}

/// The one-row `count` result of a write, as DataFusion's sinks report it.
pub(crate) fn count_batch(rows: u64) -> Result<RecordBatch> {
    let count: arrow::array::ArrayRef = Arc::new(UInt64Array::from(vec![rows]));
    Ok(RecordBatch::try_from_iter(vec![("count", count)])
        .map_err(datafusion::error::DataFusionError::from)?)
}
