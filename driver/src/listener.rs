//! The driver's side of the event stream ([`kiln_core::events`]): the
//! schedulers call one method here per state change (a task launched or
//! ended, a stage complete, a job planned or ended) and this module turns
//! them into Spark-shaped events on the [`EventBus`]. It owns the ids
//! listeners see: task ids unique over the application, stage attempt
//! numbers as Spark counts them (a stage that runs again after it completed
//! or after a fetch failure is a new attempt), accumulator ids of the
//! per-operator metrics, SQL execution ids.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion::physical_plan::{displayable, ExecutionPlan};
use kiln_core::events::{
    now_ms, Event, EventBus, PlanMetric, PlanNode, StageInfo, TaskEndReason, TaskInfo, TaskMetrics,
};
use kiln_core::plan_metrics::{operator_metrics, OPERATOR_METRICS};
use kiln_core::shuffle::ShuffleReaderExec;
use kiln_proto::{TaskResult, TaskStatus};

use crate::executor_registry::{ExecutorInfo, ExecutorRegistry};
use crate::planner::{JobPlan, JobResult};
use crate::task_attempt::TaskKey;

/// Posts the application's events. Cheap to clone; clones share state.
#[derive(Debug, Clone, Default)]
pub struct Listener {
    bus: EventBus,
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    next_task_id: u64,
    next_accumulator: u64,
    /// Per stage: its info, its job, the attempt listeners see, whether that
    /// attempt is open (submitted, not completed), when it was submitted,
    /// and the scheduler's own attempt number it was opened under.
    stages: HashMap<u32, StageState>,
    /// Running task attempts: (stage, partition, attempt) -> task.
    tasks: HashMap<(u32, usize, u32), TaskInfo>,
    /// (stage or job's driver step, operator number, DataFusion metric) ->
    /// accumulator; a job's entries go when it ends.
    accumulators: HashMap<(Scope, u32, &'static str), u64>,
    /// Executors the events have announced, with their host.
    executors: BTreeMap<String, String>,
    /// Peak RSS last reported per executor.
    peak_rss: HashMap<String, u64>,
}

/// Where an operator runs: in the tasks of a stage, or in a job's final
/// step on the driver (jobs of Spark Connect sessions run at once, so each
/// job's driver step has its own operators).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Scope {
    Stage(u32),
    Driver(u32),
}

impl Scope {
    fn stage(self) -> Option<u32> {
        match self {
            Scope::Stage(s) => Some(s),
            Scope::Driver(_) => None,
        }
    }
}

#[derive(Debug)]
struct StageState {
    info: StageInfo,
    job_id: u32,
    open: bool,
    submitted: u64,
    scheduler_attempt: u32,
    started_once: bool,
}

/// Spark's default `spark.redaction.regex`: settings whose key matches are
/// shown as `*********(redacted)`.
const REDACTED_KEYS: &[&str] = &[
    "secret",
    "password",
    "token",
    "accesskey",
    "access.key",
    "credential",
];

/// Spark's placeholder for a redacted value.
pub const REDACTED: &str = "*********(redacted)";

/// `value`, or the redaction placeholder when `key` names a secret.
pub fn redact(key: &str, value: &str) -> String {
    let k = key.to_ascii_lowercase().replace(['_', '-'], "");
    if REDACTED_KEYS
        .iter()
        .any(|s| k.contains(&s.replace(['_', '-'], "")))
    {
        REDACTED.to_string()
    } else {
        value.to_string()
    }
}

impl Listener {
    /// A listener posting to `bus`.
    pub fn new(bus: EventBus) -> Self {
        Listener {
            bus,
            state: Arc::default(),
        }
    }

    /// The bus events go to.
    pub fn bus(&self) -> &EventBus {
        &self.bus
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Each update is a handful of map inserts; nothing is left half done.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn post(&self, e: Event) {
        self.bus.post(e);
    }

    /// The application started; `settings` are shown with secrets redacted.
    pub fn application_start(
        &self,
        app_id: &str,
        app_name: &str,
        settings: &BTreeMap<String, String>,
    ) {
        let user = std::env::var("USER").unwrap_or_else(|_| "kiln".into());
        self.post(Event::ApplicationStart {
            app_id: app_id.to_string(),
            app_name: app_name.to_string(),
            time: now_ms(),
            user,
        });
        let properties = settings
            .iter()
            .map(|(k, v)| (k.clone(), redact(k, v)))
            .chain([
                ("spark.app.id".to_string(), app_id.to_string()),
                ("spark.app.name".to_string(), app_name.to_string()),
            ])
            .collect();
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let system = [
            ("kiln.version", env!("CARGO_PKG_VERSION").to_string()),
            ("os.name", std::env::consts::OS.to_string()),
            ("os.arch", std::env::consts::ARCH.to_string()),
            ("driver.cores", cores.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        self.post(Event::Environment { properties, system });
    }

    /// The application ended: executors still known are stopped, then the
    /// ending is posted and the bus closed.
    pub fn application_end(&self, error: Option<String>) {
        let left: Vec<String> = self.lock().executors.keys().cloned().collect();
        for id in left {
            self.executor_removed(&id, "stopped at the end of the application");
        }
        self.post(Event::ApplicationEnd {
            time: now_ms(),
            error,
        });
        self.bus.close();
    }

    fn executor_added(&self, e: &ExecutorInfo) {
        let host = host_of(&e.address);
        self.lock().executors.insert(e.id.clone(), host.clone());
        self.post(Event::ExecutorAdded {
            executor_id: e.id.clone(),
            host,
            cores: e.cores,
            memory_bytes: None,
            time: now_ms(),
            log_urls: BTreeMap::new(),
            metrics_url: (!e.metrics_url.is_empty()).then(|| e.metrics_url.clone()),
        });
    }

    /// An executor left, for `reason`; posted once per executor.
    pub fn executor_removed(&self, id: &str, reason: &str) {
        if self.lock().executors.remove(id).is_none() {
            return;
        }
        self.post(Event::ExecutorRemoved {
            executor_id: id.to_string(),
            time: now_ms(),
            reason: reason.to_string(),
        });
    }

    /// Follows `registry`: executors joining and leaving, and their peak RSS
    /// (every second), until the bus closes.
    pub fn watch_executors(&self, registry: ExecutorRegistry) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut changes = registry.subscribe();
            loop {
                let now = registry.executors();
                let known: Vec<String> = me.lock().executors.keys().cloned().collect();
                for e in &now {
                    if !known.contains(&e.id) {
                        me.executor_added(e);
                    }
                }
                for id in known {
                    if !now.iter().any(|e| e.id == id) {
                        me.executor_removed(&id, "lost");
                    }
                }
                for e in &now {
                    let changed = {
                        let mut st = me.lock();
                        let last = st.peak_rss.entry(e.id.clone()).or_default();
                        let changed = *last != e.peak_rss_bytes;
                        *last = e.peak_rss_bytes;
                        changed
                    };
                    if changed {
                        me.post(Event::ExecutorMetrics {
                            executor_id: e.id.clone(),
                            time: now_ms(),
                            peak_rss_bytes: e.peak_rss_bytes,
                        });
                    }
                }
                tokio::select! {
                    r = changes.changed() => if r.is_err() { return },
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        })
    }

    /// A job was planned: posts its SQL execution (with the plan tree and
    /// the accumulator ids of its operators' metrics) and its start.
    pub fn job_start(&self, job_id: u32, job: &JobPlan, description: &str) {
        let stages: HashMap<u32, &crate::planner::Stage> =
            job.stages.iter().map(|s| (s.id, s)).collect();
        let (root, root_stage) = match &job.result {
            JobResult::Rows { plan, .. } => (plan.clone(), None),
            JobResult::Files { stage } => match stages.get(stage) {
                Some(s) => (s.plan.clone(), Some(*stage)),
                None => return,
            },
        };
        let infos: Vec<StageInfo> = job.stages.iter().map(stage_info).collect();
        let plan = {
            let mut st = self.lock();
            let mut counters = HashMap::new();
            let scope = root_stage.map_or(Scope::Driver(job_id), Scope::Stage);
            let plan = st.plan_node(&root, scope, &stages, &mut counters);
            for info in &infos {
                st.stages.insert(
                    info.stage_id,
                    StageState {
                        info: info.clone(),
                        job_id,
                        open: false,
                        submitted: 0,
                        scheduler_attempt: 0,
                        started_once: false,
                    },
                );
            }
            plan
        };
        let physical_plan = job
            .stages
            .iter()
            .map(|s| {
                format!(
                    "stage {}:\n{}",
                    s.id,
                    displayable(s.plan.as_ref()).indent(false)
                )
            })
            .chain(match &job.result {
                JobResult::Rows { plan, .. } => Some(format!(
                    "driver:\n{}",
                    displayable(plan.as_ref()).indent(false)
                )),
                JobResult::Files { .. } => None,
            })
            .collect::<Vec<_>>()
            .join("\n");
        let time = now_ms();
        self.post(Event::SqlStart {
            execution_id: job_id as u64,
            description: description.to_string(),
            details: description.to_string(),
            physical_plan,
            plan,
            time,
        });
        self.post(Event::JobStart {
            job_id,
            execution_id: Some(job_id as u64),
            time,
            stages: infos,
            description: description.to_string(),
        });
    }

    /// The job's driver-side step ran `plan` (its final step): posts what
    /// its operators measured and the shuffle bytes the driver read.
    pub fn driver_step_done(
        &self,
        job_id: u32,
        plan: &Arc<dyn ExecutionPlan>,
        shuffle_local_bytes: u64,
        shuffle_remote_bytes: u64,
    ) {
        let updates = {
            let st = self.lock();
            operator_metrics(plan)
                .into_iter()
                .filter_map(|m| {
                    st.accumulator(Scope::Driver(job_id), m.node, &m.name)
                        .map(|id| (id, m.value))
                })
                .collect()
        };
        self.post(Event::DriverAccumUpdates {
            execution_id: job_id as u64,
            updates,
            shuffle_local_bytes,
            shuffle_remote_bytes,
        });
    }

    /// The job ended: stage attempts still open fail, their running tasks
    /// are killed, then the job and its SQL execution end.
    pub fn job_end(&self, job_id: u32, error: Option<String>) {
        let time = now_ms();
        let (killed, failed_stages) = {
            let mut st = self.lock();
            let stage_ids: Vec<u32> = st
                .stages
                .iter()
                .filter(|(_, s)| s.job_id == job_id)
                .map(|(id, _)| *id)
                .collect();
            let killed: Vec<TaskInfo> = st
                .tasks
                .iter()
                .filter(|(k, _)| stage_ids.contains(&k.0))
                .map(|(_, t)| t.clone())
                .collect();
            st.tasks.retain(|k, _| !stage_ids.contains(&k.0));
            let mut failed = vec![];
            for id in &stage_ids {
                if let Some(s) = st.stages.get_mut(id) {
                    if s.open {
                        s.open = false;
                        failed.push((s.info.clone(), s.submitted));
                    }
                }
            }
            st.stages.retain(|_, s| s.job_id != job_id);
            st.accumulators.retain(|(scope, _, _), _| match scope {
                Scope::Stage(s) => !stage_ids.contains(s),
                Scope::Driver(j) => *j != job_id,
            });
            (killed, failed)
        };
        let why = error.clone().unwrap_or_else(|| "job ended".to_string());
        for mut task in killed {
            task.finish_time = time;
            self.post(Event::TaskEnd {
                task,
                reason: TaskEndReason::Killed(format!("stage cancelled: {why}")),
                metrics: TaskMetrics::default(),
                accumulables: vec![],
            });
        }
        for (stage, submitted) in failed_stages {
            self.post(Event::StageCompleted {
                stage,
                submission_time: submitted,
                completion_time: time,
                failure: Some(format!("job {job_id} ended: {why}")),
            });
        }
        self.post(Event::JobEnd {
            job_id,
            time,
            error: error.clone(),
        });
        self.post(Event::SqlEnd {
            execution_id: job_id as u64,
            time,
            error,
        });
    }

    /// A task attempt was launched under the scheduler's `stage_attempt` of
    /// its stage. The first launch of a stage attempt submits it.
    pub fn task_launched(
        &self,
        key: TaskKey,
        attempt: u32,
        stage_attempt: u32,
        executor: &ExecutorInfo,
    ) {
        let time = now_ms();
        let mut events = vec![];
        {
            let mut st = self.lock();
            let task_id = st.next_task_id;
            st.next_task_id += 1;
            let Some(s) = st.stages.get_mut(&key.stage) else {
                return;
            };
            if s.open && stage_attempt > s.scheduler_attempt {
                // A fetch failure failed the attempt that was open.
                s.open = false;
                events.push(Event::StageCompleted {
                    stage: s.info.clone(),
                    submission_time: s.submitted,
                    completion_time: time,
                    failure: Some("a task could not fetch the output of a parent stage".into()),
                });
            }
            if !s.open {
                if s.started_once {
                    s.info.attempt += 1;
                }
                s.started_once = true;
                s.open = true;
                s.submitted = time;
                s.scheduler_attempt = stage_attempt;
                events.push(Event::StageSubmitted {
                    stage: s.info.clone(),
                    job_id: s.job_id,
                    time,
                });
            }
            let task = TaskInfo {
                task_id,
                stage_id: key.stage,
                stage_attempt: s.info.attempt,
                index: key.partition as u32,
                attempt,
                executor_id: executor.id.clone(),
                host: host_of(&executor.address),
                launch_time: time,
                finish_time: 0,
            };
            st.tasks
                .insert((key.stage, key.partition, attempt), task.clone());
            events.push(Event::TaskStart { task });
        }
        for e in events {
            self.post(e);
        }
    }

    /// A task attempt ended with `outcome`. `executor_known`: whether its
    /// executor is still registered (a success from a lost one does not count).
    pub fn task_ended(
        &self,
        key: TaskKey,
        attempt: u32,
        outcome: &Result<TaskResult, tonic::Status>,
        executor_known: bool,
    ) {
        let Some(task) = self.finished_task(key, attempt) else {
            return;
        };
        let (reason, metrics, accumulables) = match outcome {
            Err(status) => (
                TaskEndReason::ExecutorLost(format!("executor unreachable: {}", status.message())),
                TaskMetrics::default(),
                vec![],
            ),
            Ok(r) => {
                let reason = match TaskStatus::try_from(r.status).unwrap_or(TaskStatus::Failed) {
                    TaskStatus::Succeeded if executor_known => TaskEndReason::Success,
                    TaskStatus::Succeeded => TaskEndReason::ExecutorLost(
                        "succeeded on an executor already declared lost".into(),
                    ),
                    TaskStatus::FetchFailed => TaskEndReason::FetchFailed {
                        stage_id: r.failed_stage_id,
                        map: r.failed_map_partition,
                        executor_id: r.failed_executor_id.clone(),
                        message: r.error.clone(),
                    },
                    _ => TaskEndReason::Failed(r.error.clone()),
                };
                let st = self.lock();
                let acc = r
                    .operator_metrics
                    .iter()
                    .filter_map(|m| {
                        st.accumulator(Scope::Stage(key.stage), m.node, &m.name)
                            .map(|id| (id, m.value))
                    })
                    .collect();
                (reason, task_metrics(r), acc)
            }
        };
        self.post(Event::TaskEnd {
            task,
            reason,
            metrics,
            accumulables,
        });
    }

    /// The attempt `attempt` of task `key`, no longer running, with its
    /// finish time; `None` when it was not running.
    fn finished_task(&self, key: TaskKey, attempt: u32) -> Option<TaskInfo> {
        let mut task = self
            .lock()
            .tasks
            .remove(&(key.stage, key.partition, attempt))?;
        task.finish_time = now_ms();
        Some(task)
    }

    /// The running attempts of a lost executor failed with it.
    pub fn task_lost(&self, key: TaskKey, attempt: u32, why: &str) {
        let Some(task) = self.finished_task(key, attempt) else {
            return;
        };
        self.post(Event::TaskEnd {
            task,
            reason: TaskEndReason::ExecutorLost(why.to_string()),
            metrics: TaskMetrics::default(),
            accumulables: vec![],
        });
    }

    /// Every task of the stage's open attempt succeeded.
    pub fn stage_completed(&self, stage: u32) {
        let done = {
            let mut st = self.lock();
            match st.stages.get_mut(&stage) {
                Some(s) if s.open => {
                    s.open = false;
                    Some((s.info.clone(), s.submitted))
                }
                _ => None,
            }
        };
        if let Some((info, submitted)) = done {
            self.post(Event::StageCompleted {
                stage: info,
                submission_time: submitted,
                completion_time: now_ms(),
                failure: None,
            });
        }
    }
}

impl State {
    fn accumulator(&self, scope: Scope, node: u32, metric: &str) -> Option<u64> {
        let name = OPERATOR_METRICS.iter().find(|m| m.0 == metric)?.0;
        self.accumulators.get(&(scope, node, name)).copied()
    }

    /// The plan tree below `plan` (run in `scope`): a shuffle reader's
    /// input is the plan of the stage it reads. Operators are numbered per
    /// stage in the order tasks report them.
    fn plan_node(
        &mut self,
        plan: &Arc<dyn ExecutionPlan>,
        scope: Scope,
        stages: &HashMap<u32, &crate::planner::Stage>,
        counters: &mut HashMap<Scope, u32>,
    ) -> PlanNode {
        // Yield points are not operators (tasks do not number them).
        if let Some(child) = plan
            .children()
            .first()
            .filter(|_| kiln_core::plan_metrics::is_yield_point(plan))
        {
            return self.plan_node(child, scope, stages, counters);
        }
        let number = {
            let c = counters.entry(scope).or_default();
            *c += 1;
            *c - 1
        };
        let metrics = OPERATOR_METRICS
            .iter()
            .map(|(df, spark, kind)| {
                let id = self.next_accumulator;
                self.next_accumulator += 1;
                self.accumulators.insert((scope, number, *df), id);
                PlanMetric {
                    name: spark.to_string(),
                    accumulator_id: id,
                    metric_type: kind.to_string(),
                }
            })
            .collect();
        let mut children: Vec<PlanNode> = plan
            .children()
            .into_iter()
            .map(|c| self.plan_node(c, scope, stages, counters))
            .collect();
        if let Some(reader) = plan.downcast_ref::<ShuffleReaderExec>() {
            if let Some(s) = stages.get(&reader.stage_id()) {
                children.push(self.plan_node(&s.plan, Scope::Stage(s.id), stages, counters));
            }
        }
        PlanNode {
            name: plan.name().to_string(),
            description: displayable(plan.as_ref()).one_line().to_string(),
            stage_id: scope.stage(),
            metrics,
            children,
        }
    }
}

fn stage_info(s: &crate::planner::Stage) -> StageInfo {
    StageInfo {
        stage_id: s.id,
        attempt: 0,
        name: format!("stage {} ({})", s.id, s.plan.name()),
        num_tasks: s.partitions as u32,
        parent_ids: s.parents.clone(),
        details: displayable(s.plan.as_ref()).indent(false).to_string(),
    }
}

fn task_metrics(r: &TaskResult) -> TaskMetrics {
    let m = r.metrics.unwrap_or_default();
    TaskMetrics {
        run_time_ms: m.elapsed_ms,
        input_rows: m.input_rows,
        output_rows: m.output_rows,
        shuffle_write_bytes: m.output_bytes,
        shuffle_local_bytes: m.shuffle_local_bytes,
        shuffle_remote_bytes: m.shuffle_remote_bytes,
        spill_count: m.spill_count,
        spilled_bytes: m.spilled_bytes,
        peak_rss_bytes: m.peak_rss_bytes,
    }
}

/// The host of an executor address (`http://127.0.0.1:4321` -> `127.0.0.1`).
fn host_of(address: &str) -> String {
    let rest = address.split("://").nth(1).unwrap_or(address);
    let host_port = rest.split('/').next().unwrap_or(rest);
    match host_port.rsplit_once(':') {
        Some((h, _)) => h.trim_matches(['[', ']']).to_string(),
        None => host_port.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(redact("spark.hadoop.fs.s3a.secret.key", "x"), REDACTED);
        assert_eq!(redact("kiln.s3.accessKeyId", "x"), REDACTED);
        assert_eq!(redact("spark.ui.port", "4040"), "4040");
    }

    #[test]
    fn hosts_of_addresses() {
        assert_eq!(host_of("http://127.0.0.1:4321"), "127.0.0.1");
        assert_eq!(host_of("https://[::1]:80"), "::1");
    }
}
