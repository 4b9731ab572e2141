//! The DAG and task schedulers of one job.
//!
//! The DAG side decides which stages may run (every parent's map outputs are
//! present) and which map tasks are missing; the task side places those tasks
//! on executors with free slots, retries failed ones (up to
//! `kiln.task.maxFailures` attempts), fails the job at once on a user error,
//! and on a fetch failure forgets the lost map output so the parent stage
//! recomputes just that task. Which attempt of a task is live is kept in
//! [`crate::task_attempt`], how often a stage started over in
//! [`crate::stage_attempt`]: a lost executor's attempts fail at once, and a
//! reply from an attempt that is no longer live is ignored.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kiln_core::codec::encode_plan;
use kiln_core::config::EngineConf;
use kiln_core::shuffle::MapOutput;
use kiln_core::write::WriteFilesExec;
use kiln_core::{KilnError, Result};
use kiln_proto::{MapOutputLocation, ShuffleInput, TaskDefinition, TaskResult, TaskStatus};
use tokio::sync::mpsc;
use tracing::{info, warn, Instrument};

use crate::executor_registry::{ExecutorInfo, ExecutorRegistry};
use crate::listener::Listener;
use crate::map_output::MapOutputTracker;
use crate::metrics::AppMetrics;
use crate::planner::{JobPlan, Stage};
use crate::progress::Progress;
use crate::stage_attempt::{FetchFailureVerdict, StageAttempts};
use crate::task_attempt::{RunningTasks, TaskAttempt, TaskKey};

/// The driver's own final step of a job (reading the last stage's output),
/// counted like a stage: every fetch failure there is one failed attempt.
const RESULT_STEP: u32 = u32::MAX;

/// What the scheduler needs from the application.
#[derive(Debug, Clone)]
pub struct SchedulerContext {
    /// Application id, sent with every task.
    pub application_id: String,
    /// Executors.
    pub registry: ExecutorRegistry,
    /// Engine settings.
    pub conf: Arc<EngineConf>,
    /// Progress display.
    pub progress: Arc<Progress>,
    /// Counters for the summary.
    pub metrics: Arc<AppMetrics>,
    /// The application's event stream (UI, event log, Prometheus).
    pub listener: Listener,
}

struct Finished {
    key: TaskKey,
    attempt: u32,
    executor: ExecutorInfo,
    outcome: std::result::Result<TaskResult, tonic::Status>,
}

/// Runs the stages of one job until the outputs its root reads exist.
pub struct JobScheduler<'a> {
    ctx: &'a SchedulerContext,
    job_id: u32,
    stages: HashMap<u32, &'a Stage>,
    order: Vec<u32>,
    plans: HashMap<u32, bytes::Bytes>,
    tracker: MapOutputTracker,
    failures: HashMap<TaskKey, u32>,
    launches: HashMap<TaskKey, u32>,
    last_executor: HashMap<TaskKey, String>,
    stage_attempts: StageAttempts,
    running: RunningTasks,
    /// Settings of the session the job was planned in, sent with each task.
    session_conf: HashMap<String, String>,
    started: HashMap<u32, Instant>,
    /// Map tasks that succeeded at least once.
    succeeded: HashSet<TaskKey>,
    /// No launches before this instant (`kiln.test.stageDelay`).
    hold_until: Option<Instant>,
}

impl<'a> JobScheduler<'a> {
    /// Prepares the stages of `job`.
    pub fn new(
        ctx: &'a SchedulerContext,
        job_id: u32,
        job: &'a JobPlan,
        session_conf: HashMap<String, String>,
    ) -> Result<Self> {
        let mut plans = HashMap::new();
        let mut tracker = MapOutputTracker::default();
        for s in &job.stages {
            plans.insert(s.id, encode_plan(s.plan.clone())?);
            tracker.add_stage(s.id, s.partitions);
            if s.plan.is::<WriteFilesExec>() {
                // Written files stay valid when their writer's executor goes.
                tracker.mark_durable(s.id);
            }
        }
        Ok(JobScheduler {
            ctx,
            job_id,
            stages: job.stages.iter().map(|s| (s.id, s)).collect(),
            order: job.stages.iter().map(|s| s.id).collect(),
            plans,
            tracker,
            failures: HashMap::new(),
            launches: HashMap::new(),
            last_executor: HashMap::new(),
            stage_attempts: StageAttempts::new(ctx.conf.stage_max_consecutive_attempts),
            running: RunningTasks::default(),
            session_conf,
            started: HashMap::new(),
            succeeded: HashSet::new(),
            hold_until: None,
        })
    }

    /// Map outputs of `stage` (complete after [`JobScheduler::run_until`]).
    pub fn outputs(&self, stage: u32) -> Vec<MapOutput> {
        self.tracker.outputs(stage)
    }

    /// Forgets a map output the driver could not fetch; an error once the
    /// stage's output was lost too often.
    pub fn fetch_failed(&mut self, stage: u32, map: u32, executor_id: &str) -> Result<()> {
        self.lose_output(stage, map, executor_id);
        let attempt = self.stage_attempts.current(RESULT_STEP);
        self.count_fetch_failure(RESULT_STEP, attempt, stage)
    }

    /// A task of `stage` (launched under `stage_attempt`) could not read the
    /// output of `parent`; an error once `stage` failed too many attempts.
    fn count_fetch_failure(&mut self, stage: u32, stage_attempt: u32, parent: u32) -> Result<()> {
        match self.stage_attempts.fetch_failed(stage, stage_attempt) {
            FetchFailureVerdict::AttemptFailed { .. } | FetchFailureVerdict::Stale => Ok(()),
            FetchFailureVerdict::TooManyAttempts(n) => {
                let which = if stage == RESULT_STEP {
                    "the driver's final step".to_string()
                } else {
                    format!("stage {stage}")
                };
                Err(KilnError::JobFailed(format!(
                    "job {}: {which} failed {n} consecutive attempts, each losing the output of \
                     stage {parent} it reads (spark.stage.maxConsecutiveAttempts = {}); giving up",
                    self.job_id,
                    self.stage_attempts.max_consecutive()
                )))
            }
        }
    }

    fn lose_output(&mut self, stage: u32, map: u32, executor_id: &str) {
        self.tracker.remove(stage, map);
        // An executor that cannot serve one block likely lost them all.
        if !self
            .ctx
            .registry
            .executors()
            .iter()
            .any(|e| e.id == executor_id)
        {
            self.tracker.remove_executor(executor_id);
        }
    }

    /// Forgets every map output held by a lost executor, so the stages that
    /// still need them recompute just those map tasks, and fails its running
    /// attempts at once so they run again elsewhere.
    fn executor_lost(&mut self, id: &str, why: &str) {
        warn!(executor_id = %id, "executor lost: {why}");
        let n = self.tracker.remove_executor(id);
        let failed = self.running.fail_executor(id);
        for a in &failed {
            // Not counted as a task failure (the executor is at fault), but
            // the relaunch avoids it should it come back.
            self.last_executor.insert(a.key, id.to_string());
            self.ctx.listener.task_lost(a.key, a.attempt, why);
        }
        self.ctx.listener.executor_removed(id, why);
        self.ctx.progress.line(&format!(
            "executor {id} lost ({why}); {n} map output(s) gone, those still needed are recomputed; {} running task(s) relaunched",
            failed.len()
        ));
    }

    /// Runs stages until every stage in `needed` is complete.
    pub async fn run_until(&mut self, needed: &[u32]) -> Result<()> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Finished>();
        // Attempts of an earlier call would reply into a closed channel.
        self.running.abort_all();
        let mut exec_changes = self.ctx.registry.subscribe();
        let mut no_executor_since: Option<Instant> = None;
        loop {
            let silent = self
                .ctx
                .registry
                .expire(self.ctx.conf.heartbeat_timeout)
                .into_iter()
                .map(|id| {
                    let why = format!("no heartbeat within {:?}", self.ctx.conf.heartbeat_timeout);
                    (id, why)
                });
            let lost: Vec<_> = silent.chain(self.ctx.registry.take_lost()).collect();
            for (id, why) in lost {
                self.executor_lost(&id, &why);
            }
            if needed.iter().all(|s| self.tracker.is_complete(*s)) && self.running.is_empty() {
                return Ok(());
            }
            let executors = self.ctx.registry.executors();
            if executors.is_empty() && self.running.is_empty() {
                let since = *no_executor_since.get_or_insert_with(Instant::now);
                if since.elapsed() > self.ctx.conf.registration_timeout {
                    return Err(KilnError::Executor(format!(
                        "no executor available for {:?}; job {} cannot run",
                        self.ctx.conf.registration_timeout, self.job_id
                    )));
                }
            } else {
                no_executor_since = None;
            }
            if self.hold_until.is_some_and(|t| Instant::now() >= t) {
                self.hold_until = None;
            }
            // While held (testing hook), no new launches.
            let waiting = if self.hold_until.is_none() {
                self.launch_ready(needed, &executors, &tx)?
            } else {
                self.ready_tasks(needed).len()
            };
            // What dynamic allocation sizes the executor count for, and
            // which executors it must keep.
            self.ctx
                .progress
                .set_task_demand((self.running.len() + waiting) as u64);
            self.ctx.registry.activity().publish(
                self.job_id,
                self.running.busy_executors().map(str::to_string).collect(),
                self.output_holders(needed),
            );
            let nap = match self.hold_until {
                Some(t) => t
                    .saturating_duration_since(Instant::now())
                    .min(self.ctx.conf.heartbeat_interval),
                None => self.ctx.conf.heartbeat_interval,
            };
            tokio::select! {
                Some(done) = rx.recv() => {
                    let live = self.running.finish(done.key, done.attempt);
                    self.handle(done, live)?;
                }
                _ = exec_changes.changed() => {}
                _ = tokio::time::sleep(nap) => {}
            }
        }
    }

    /// Executors holding map output still to be read: of a target stage
    /// (the driver reads it), or of a parent of a stage not yet complete.
    fn output_holders(&self, targets: &[u32]) -> HashSet<String> {
        let mut holders = HashSet::new();
        for &id in &self.order {
            let read_later = targets.contains(&id)
                || self
                    .stages
                    .values()
                    .any(|s| s.parents.contains(&id) && !self.tracker.is_complete(s.id));
            if read_later {
                holders.extend(self.tracker.outputs(id).into_iter().map(|o| o.executor_id));
            }
        }
        holders
    }

    /// Incomplete stages the targets still depend on. A complete stage cuts
    /// the walk: its parents' outputs are not read again, so a lost output
    /// there is not recomputed (Spark's rule).
    fn wanted_stages(&self, targets: &[u32]) -> HashSet<u32> {
        let mut wanted = HashSet::new();
        let mut todo: Vec<u32> = targets.to_vec();
        while let Some(id) = todo.pop() {
            if self.tracker.is_complete(id) || !wanted.insert(id) {
                continue;
            }
            if let Some(stage) = self.stages.get(&id) {
                todo.extend(stage.parents.iter().copied());
            }
        }
        wanted
    }

    fn ready_tasks(&self, targets: &[u32]) -> Vec<TaskKey> {
        let wanted = self.wanted_stages(targets);
        let mut out = Vec::new();
        for id in self.order.iter().filter(|id| wanted.contains(id)) {
            let Some(stage) = self.stages.get(id) else {
                continue;
            };
            if !stage.parents.iter().all(|p| self.tracker.is_complete(*p)) {
                continue;
            }
            for p in self.tracker.missing(*id) {
                let key = TaskKey {
                    stage: *id,
                    partition: p,
                };
                if !self.running.contains(&key) {
                    out.push(key);
                }
            }
        }
        out
    }

    /// Launches ready tasks on free slots; returns how many are left waiting.
    fn launch_ready(
        &mut self,
        targets: &[u32],
        executors: &[ExecutorInfo],
        tx: &mpsc::UnboundedSender<Finished>,
    ) -> Result<usize> {
        // Slots are shared by every job running at once (Spark Connect
        // sessions): the registry counts the ones in use.
        let mut free = self.ctx.registry.free_slots();
        let ready = self.ready_tasks(targets);
        let mut waiting = ready.len();
        for key in ready {
            // Most free slots first; avoid the executor the task last failed on.
            let avoid = self.last_executor.get(&key);
            let choice = executors
                .iter()
                .filter(|e| free.get(&e.id).copied().unwrap_or(0) > 0)
                .filter(|e| !self.ctx.registry.activity().is_draining(&e.id))
                .max_by_key(|e| {
                    (
                        Some(&e.id) != avoid,
                        free.get(&e.id).copied().unwrap_or(0),
                        std::cmp::Reverse(e.id.clone()),
                    )
                });
            let Some(exec) = choice else { break };
            if !self.ctx.registry.activity().claim(&exec.id) {
                // Released since the list was taken: not a slot any more.
                free.insert(exec.id.clone(), 0);
                continue;
            }
            if let Some(f) = free.get_mut(&exec.id) {
                *f -= 1;
            }
            self.launch(key, exec.clone(), tx)?;
            waiting -= 1;
        }
        Ok(waiting)
    }

    fn launch(
        &mut self,
        key: TaskKey,
        exec: ExecutorInfo,
        tx: &mpsc::UnboundedSender<Finished>,
    ) -> Result<()> {
        let stage = self
            .stages
            .get(&key.stage)
            .ok_or_else(|| KilnError::Internal(format!("unknown stage {}", key.stage)))?;
        if let Entry::Vacant(first) = self.started.entry(key.stage) {
            first.insert(Instant::now());
            self.ctx.progress.stage_started(key.stage, stage.partitions);
            self.ctx.metrics.add_stage();
        }
        let attempt = {
            let n = self.launches.entry(key).or_default();
            *n += 1;
            *n - 1
        };
        if self.succeeded.contains(&key) {
            // Its output existed once and was lost: a recomputation.
            self.ctx.metrics.add_recomputed(1);
        }
        let inputs = stage
            .parents
            .iter()
            .map(|p| ShuffleInput {
                stage_id: *p,
                map_outputs: self.tracker.outputs(*p).iter().map(to_location).collect(),
            })
            .collect();
        let stage_attempt = self.stage_attempts.current(key.stage);
        let def = TaskDefinition {
            application_id: self.ctx.application_id.clone(),
            job_id: self.job_id,
            stage_id: key.stage,
            stage_attempt,
            partition: key.partition as u32,
            attempt,
            plan: self
                .plans
                .get(&key.stage)
                .cloned()
                .unwrap_or_default()
                .to_vec(),
            inputs,
            session_conf: self.session_conf.clone(),
        };
        self.ctx
            .listener
            .task_launched(key, attempt, stage_attempt, &exec);
        let tx = tx.clone();
        let span = tracing::info_span!("task", app = %self.ctx.application_id, job = self.job_id, stage = key.stage, partition = key.partition, attempt, stage_attempt);
        let executor_id = exec.id.clone();
        let slot = self.ctx.registry.take_slot(&exec.id);
        let rpc = tokio::spawn(
            async move {
                // Held until the launch ends or is cancelled.
                let _slot = slot;
                let mut client = exec.client.clone();
                let outcome = client.launch_task(def).await.map(|r| r.into_inner());
                let _ = tx.send(Finished {
                    key,
                    attempt,
                    executor: exec,
                    outcome,
                });
            }
            .instrument(span),
        );
        self.running.insert(TaskAttempt::new(
            key,
            attempt,
            stage_attempt,
            executor_id,
            rpc.abort_handle(),
        ));
        Ok(())
    }

    /// Handles a task's reply; `live` is the attempt it came from when that
    /// is still the task's live attempt.
    fn handle(&mut self, done: Finished, live: Option<TaskAttempt>) -> Result<()> {
        let Finished {
            key,
            attempt,
            executor,
            outcome,
        } = done;
        let stage = self
            .stages
            .get(&key.stage)
            .ok_or_else(|| KilnError::Internal(format!("unknown stage {}", key.stage)))?;
        let where_ = format!(
            "stage {} task {} (attempt {}) on executor {}",
            key.stage,
            key.partition,
            attempt + 1,
            executor.id
        );
        let Some(live) = live else {
            // Its executor was declared lost (the task runs again elsewhere):
            // a success would point at outputs nobody serves, a failure is
            // not this task's. A lost map output it reports is still lost.
            if let Ok(r) = &outcome {
                if TaskStatus::try_from(r.status) == Ok(TaskStatus::FetchFailed) {
                    self.lose_output(
                        r.failed_stage_id,
                        r.failed_map_partition,
                        &r.failed_executor_id,
                    );
                }
            }
            info!(stage = key.stage, partition = key.partition, attempt, executor_id = %executor.id, "late reply of an attempt that is no longer live ignored");
            return Ok(());
        };
        let known = self.ctx.registry.is_registered(&executor.id);
        self.ctx.listener.task_ended(key, attempt, &outcome, known);
        let result = match outcome {
            Ok(r) => r,
            Err(status) if unreachable(&status) => {
                // The executor did not answer: it is lost, and the task runs
                // again elsewhere without counting as a failure of its own
                // (Spark's rule for an executor lost for reasons outside
                // the application).
                warn!(executor_id = %executor.id, "task rpc failed: {status}");
                let why = format!("unreachable: {}", status.message());
                if self.ctx.registry.remove(&executor.id).is_some() {
                    self.executor_lost(&executor.id, &why);
                }
                self.last_executor.insert(key, executor.id.clone());
                self.ctx.metrics.add_retry();
                self.ctx
                    .progress
                    .line(&format!("{where_}: executor {why}; running it again"));
                return Ok(());
            }
            Err(status) => {
                // The executor answered but refused the task (too large,
                // malformed): the task's own fault.
                return self.retry(
                    key,
                    &where_,
                    &format!("the executor refused the task: {}", status.message()),
                    &executor.id,
                );
            }
        };
        if let Some(m) = &result.metrics {
            self.ctx.metrics.add_task(m);
            self.ctx.registry.heartbeat(&executor.id, m.peak_rss_bytes);
        }
        match TaskStatus::try_from(result.status).unwrap_or(TaskStatus::Failed) {
            TaskStatus::Succeeded if !self.ctx.registry.is_registered(&executor.id) => {
                // Declared lost just before its reply came: its output is
                // not served; the task runs again.
                self.ctx.progress.line(&format!(
                    "{where_}: succeeded on an executor already declared lost; running it again"
                ));
                Ok(())
            }
            TaskStatus::Succeeded => {
                let mut block_bytes = vec![0u64; stage.reduce_partitions];
                for (i, b) in result.block_bytes.iter().enumerate() {
                    if let Some(slot) = block_bytes.get_mut(i) {
                        *slot = *b;
                    }
                }
                let rows: u64 = result.block_rows.iter().sum();
                let bytes: u64 = block_bytes.iter().sum();
                self.succeeded.insert(key);
                self.tracker.register(
                    key.stage,
                    MapOutput {
                        map_partition: key.partition as u32,
                        attempt,
                        executor_id: executor.id.clone(),
                        address: executor.address.clone(),
                        block_bytes,
                        rows,
                        // Where readers on the same host read the blocks
                        // (spark.shuffle.readHostLocalDisk).
                        shuffle_dir: if self.ctx.conf.read_host_local_disk {
                            result.shuffle_dir.clone()
                        } else {
                            String::new()
                        },
                    },
                );
                self.ctx.progress.task_finished(key.stage, rows, bytes);
                if self.tracker.is_complete(key.stage) {
                    let elapsed = self
                        .started
                        .get(&key.stage)
                        .map(|t| t.elapsed())
                        .unwrap_or(Duration::ZERO);
                    self.ctx
                        .progress
                        .stage_finished(key.stage, stage.partitions, elapsed);
                    info!(stage = key.stage, "stage complete in {:?}", elapsed);
                    self.ctx.listener.stage_completed(key.stage);
                    self.stage_attempts.completed(key.stage);
                    self.hold_until = self.ctx.conf.hooks.stage_delay.map(|d| Instant::now() + d);
                }
                Ok(())
            }
            TaskStatus::UserError => Err(KilnError::JobFailed(format!(
                "{where_} failed: {}",
                result.error
            ))),
            TaskStatus::FetchFailed => {
                self.ctx.progress.line(&format!(
                    "{where_}: could not fetch output of stage {} map {} from executor {} ({}); recomputing it",
                    result.failed_stage_id,
                    result.failed_map_partition,
                    result.failed_executor_id,
                    result.error
                ));
                self.ctx.metrics.add_retry();
                self.lose_output(
                    result.failed_stage_id,
                    result.failed_map_partition,
                    &result.failed_executor_id,
                );
                self.count_fetch_failure(key.stage, live.stage_attempt, result.failed_stage_id)
            }
            TaskStatus::Failed | TaskStatus::Unspecified => {
                self.retry(key, &where_, &result.error, &executor.id)
            }
        }
    }

    fn retry(&mut self, key: TaskKey, where_: &str, error: &str, executor_id: &str) -> Result<()> {
        let n = self.failures.entry(key).or_default();
        *n += 1;
        self.last_executor.insert(key, executor_id.to_string());
        if *n >= self.ctx.conf.task_max_failures {
            return Err(KilnError::JobFailed(format!(
                "{where_} failed {n} times (kiln.task.maxFailures = {}); last error: {error}",
                self.ctx.conf.task_max_failures
            )));
        }
        self.ctx.metrics.add_retry();
        self.ctx
            .progress
            .line(&format!("{where_} failed, retrying: {error}"));
        Ok(())
    }
}

/// Whether a failed task launch means the executor could not be reached (no
/// reply, a broken connection) rather than that it refused the task.
fn unreachable(status: &tonic::Status) -> bool {
    use tonic::Code;
    matches!(
        status.code(),
        Code::Unavailable
            | Code::Cancelled
            | Code::DeadlineExceeded
            | Code::Unknown
            | Code::Aborted
    )
}

impl Drop for JobScheduler<'_> {
    fn drop(&mut self) {
        // The job is over: its executors are free, and it waits for nothing.
        self.ctx.registry.activity().job_done(self.job_id);
        self.ctx.progress.set_task_demand(0);
    }
}

/// Converts a tracked map output into its wire form.
pub fn to_location(m: &MapOutput) -> MapOutputLocation {
    MapOutputLocation {
        map_partition: m.map_partition,
        executor_id: m.executor_id.clone(),
        address: m.address.clone(),
        block_bytes: m.block_bytes.clone(),
        block_rows: vec![],
        attempt: m.attempt,
        shuffle_dir: m.shuffle_dir.clone(),
    }
}
