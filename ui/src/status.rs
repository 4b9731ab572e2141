//! The application status store: the state of one application (its jobs,
//! stages, tasks, executors, SQL executions) folded from its events. The
//! live UI feeds it from the driver's event stream, `kiln history` from an
//! event log: the pages and the REST API read only this, so both show the
//! same thing for the same events.

use std::collections::{BTreeMap, HashMap};

use kiln_core::events::{Event, PlanNode, StageInfo, TaskEndReason, TaskInfo, TaskMetrics};
use serde::Serialize;

/// One application's state.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AppStatus {
    /// Application id.
    pub app_id: String,
    /// Application name.
    pub app_name: String,
    /// User.
    pub user: String,
    /// Start (ms).
    pub start_time: u64,
    /// End (ms), once it ended.
    pub end_time: Option<u64>,
    /// Why it failed.
    pub error: Option<String>,
    /// Settings (redacted).
    pub properties: BTreeMap<String, String>,
    /// Facts about the driver process.
    pub system: BTreeMap<String, String>,
    /// Executors by id.
    pub executors: BTreeMap<String, ExecutorState>,
    /// Jobs by id.
    pub jobs: BTreeMap<u32, JobState>,
    /// Stage attempts by (stage, attempt).
    pub stages: BTreeMap<(u32, u32), StageState>,
    /// SQL executions by id.
    pub executions: BTreeMap<u64, SqlState>,
    /// Per accumulator: the value each task reported.
    pub task_values: HashMap<u64, Vec<u64>>,
    /// Per accumulator: the value the driver reported.
    pub driver_values: HashMap<u64, u64>,
    /// Shuffle bytes the driver read itself (local, remote).
    pub driver_shuffle: (u64, u64),
    /// Bumped by every event applied.
    pub version: u64,
}

/// Where a job, stage or task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Planned, not started.
    Pending,
    /// Running.
    Running,
    /// Done.
    Succeeded,
    /// Failed.
    Failed,
    /// Stopped by the driver.
    Killed,
    /// A stage of a job that ended before the stage ran (Spark's "skipped").
    Skipped,
}

/// One job.
#[derive(Debug, Clone, Serialize)]
pub struct JobState {
    /// Job id.
    pub job_id: u32,
    /// Its SQL execution.
    pub execution_id: Option<u64>,
    /// Its statement.
    pub description: String,
    /// Submitted (ms).
    pub submitted: u64,
    /// Completed (ms).
    pub completed: Option<u64>,
    /// Status.
    pub status: Status,
    /// Why it failed.
    pub error: Option<String>,
    /// Its stages.
    pub stage_ids: Vec<u32>,
    /// Tasks over all its stages (one per partition).
    pub num_tasks: u32,
}

/// One stage attempt.
#[derive(Debug, Clone, Serialize)]
pub struct StageState {
    /// The stage.
    pub info: StageInfo,
    /// Its job.
    pub job_id: u32,
    /// Status.
    pub status: Status,
    /// Submitted (ms).
    pub submitted: Option<u64>,
    /// Completed (ms).
    pub completed: Option<u64>,
    /// Why it failed.
    pub failure: Option<String>,
    /// Its task attempts by task id.
    pub tasks: BTreeMap<u64, TaskState>,
}

/// One task attempt.
#[derive(Debug, Clone, Serialize)]
pub struct TaskState {
    /// The task.
    pub info: TaskInfo,
    /// Status.
    pub status: Status,
    /// Why it failed or was killed.
    pub error: Option<String>,
    /// What it measured.
    pub metrics: TaskMetrics,
}

/// One executor.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExecutorState {
    /// Id.
    pub id: String,
    /// Host.
    pub host: String,
    /// Task slots.
    pub cores: u32,
    /// Memory limit.
    pub memory_bytes: Option<u64>,
    /// Added (ms).
    pub added: u64,
    /// Removed (ms).
    pub removed: Option<u64>,
    /// Why it left.
    pub removed_reason: Option<String>,
    /// Peak RSS.
    pub peak_rss_bytes: u64,
    /// Log links.
    pub log_urls: BTreeMap<String, String>,
    /// Its Prometheus endpoint, when it serves one.
    pub metrics_url: Option<String>,
    /// Tasks running.
    pub active_tasks: u32,
    /// Tasks that succeeded.
    pub completed_tasks: u32,
    /// Tasks that failed.
    pub failed_tasks: u32,
    /// Task time (ms).
    pub task_time_ms: u64,
    /// Shuffle bytes read (local + remote).
    pub shuffle_read_bytes: u64,
    /// Shuffle bytes written.
    pub shuffle_write_bytes: u64,
    /// Bytes spilled.
    pub spilled_bytes: u64,
}

/// One SQL execution.
#[derive(Debug, Clone, Serialize)]
pub struct SqlState {
    /// Id.
    pub execution_id: u64,
    /// Statement, short.
    pub description: String,
    /// Statement.
    pub details: String,
    /// Physical plan text.
    pub physical_plan: String,
    /// Plan tree.
    pub plan: PlanNode,
    /// Submitted (ms).
    pub submitted: u64,
    /// Completed (ms).
    pub completed: Option<u64>,
    /// Why it failed.
    pub error: Option<String>,
    /// Its jobs.
    pub job_ids: Vec<u32>,
}

impl AppStatus {
    /// Folds one event into the state.
    pub fn apply(&mut self, event: &Event) {
        self.version += 1;
        match event {
            Event::ApplicationStart {
                app_id,
                app_name,
                time,
                user,
            } => {
                self.app_id = app_id.clone();
                self.app_name = app_name.clone();
                self.start_time = *time;
                self.user = user.clone();
            }
            Event::Environment { properties, system } => {
                self.properties = properties.clone();
                self.system = system.clone();
            }
            Event::ExecutorAdded {
                executor_id,
                host,
                cores,
                memory_bytes,
                time,
                log_urls,
                metrics_url,
            } => {
                self.executors.insert(
                    executor_id.clone(),
                    ExecutorState {
                        id: executor_id.clone(),
                        host: host.clone(),
                        cores: *cores,
                        memory_bytes: *memory_bytes,
                        added: *time,
                        log_urls: log_urls.clone(),
                        metrics_url: metrics_url.clone(),
                        ..Default::default()
                    },
                );
            }
            Event::ExecutorRemoved {
                executor_id,
                time,
                reason,
            } => {
                if let Some(e) = self.executors.get_mut(executor_id) {
                    e.removed = Some(*time);
                    e.removed_reason = Some(reason.clone());
                }
            }
            Event::ExecutorMetrics {
                executor_id,
                peak_rss_bytes,
                ..
            } => {
                if let Some(e) = self.executors.get_mut(executor_id) {
                    e.peak_rss_bytes = e.peak_rss_bytes.max(*peak_rss_bytes);
                }
            }
            Event::SqlStart {
                execution_id,
                description,
                details,
                physical_plan,
                plan,
                time,
            } => {
                self.executions.insert(
                    *execution_id,
                    SqlState {
                        execution_id: *execution_id,
                        description: description.clone(),
                        details: details.clone(),
                        physical_plan: physical_plan.clone(),
                        plan: plan.clone(),
                        submitted: *time,
                        completed: None,
                        error: None,
                        job_ids: vec![],
                    },
                );
            }
            Event::DriverAccumUpdates {
                updates,
                shuffle_local_bytes,
                shuffle_remote_bytes,
                ..
            } => {
                for (id, v) in updates {
                    *self.driver_values.entry(*id).or_default() += v;
                }
                self.driver_shuffle.0 += shuffle_local_bytes;
                self.driver_shuffle.1 += shuffle_remote_bytes;
            }
            Event::SqlEnd {
                execution_id,
                time,
                error,
            } => {
                if let Some(x) = self.executions.get_mut(execution_id) {
                    x.completed = Some(*time);
                    x.error = error.clone();
                }
            }
            Event::JobStart {
                job_id,
                execution_id,
                time,
                stages,
                description,
            } => {
                for s in stages {
                    self.stages
                        .entry((s.stage_id, s.attempt))
                        .or_insert_with(|| StageState {
                            info: s.clone(),
                            job_id: *job_id,
                            status: Status::Pending,
                            submitted: None,
                            completed: None,
                            failure: None,
                            tasks: BTreeMap::new(),
                        });
                }
                if let Some(x) = execution_id.and_then(|id| self.executions.get_mut(&id)) {
                    x.job_ids.push(*job_id);
                }
                self.jobs.insert(
                    *job_id,
                    JobState {
                        job_id: *job_id,
                        execution_id: *execution_id,
                        description: description.clone(),
                        submitted: *time,
                        completed: None,
                        status: Status::Running,
                        error: None,
                        stage_ids: stages.iter().map(|s| s.stage_id).collect(),
                        num_tasks: stages.iter().map(|s| s.num_tasks).sum(),
                    },
                );
            }
            Event::StageSubmitted {
                stage,
                job_id,
                time,
            } => {
                let s = self
                    .stages
                    .entry((stage.stage_id, stage.attempt))
                    .or_insert_with(|| StageState {
                        info: stage.clone(),
                        job_id: *job_id,
                        status: Status::Pending,
                        submitted: None,
                        completed: None,
                        failure: None,
                        tasks: BTreeMap::new(),
                    });
                s.status = Status::Running;
                s.submitted = Some(*time);
            }
            Event::TaskStart { task } => {
                if let Some(s) = self.stages.get_mut(&(task.stage_id, task.stage_attempt)) {
                    s.tasks.insert(
                        task.task_id,
                        TaskState {
                            info: task.clone(),
                            status: Status::Running,
                            error: None,
                            metrics: TaskMetrics::default(),
                        },
                    );
                }
                if let Some(e) = self.executors.get_mut(&task.executor_id) {
                    e.active_tasks += 1;
                }
            }
            Event::TaskEnd {
                task,
                reason,
                metrics,
                accumulables,
            } => self.task_end(task, reason, metrics, accumulables),
            Event::StageCompleted {
                stage,
                submission_time,
                completion_time,
                failure,
            } => {
                if let Some(s) = self.stages.get_mut(&(stage.stage_id, stage.attempt)) {
                    s.submitted = Some(*submission_time);
                    s.completed = Some(*completion_time);
                    s.failure = failure.clone();
                    s.status = if failure.is_some() {
                        Status::Failed
                    } else {
                        Status::Succeeded
                    };
                }
            }
            Event::JobEnd {
                job_id,
                time,
                error,
            } => {
                if let Some(j) = self.jobs.get_mut(job_id) {
                    j.completed = Some(*time);
                    j.error = error.clone();
                    j.status = if error.is_some() {
                        Status::Failed
                    } else {
                        Status::Succeeded
                    };
                }
                for st in self.stages.values_mut() {
                    if st.job_id == *job_id && st.status == Status::Pending {
                        st.status = Status::Skipped;
                    }
                }
            }
            Event::ApplicationEnd { time, error } => {
                self.end_time = Some(*time);
                if error.is_some() {
                    self.error = error.clone();
                }
            }
        }
    }

    fn task_end(
        &mut self,
        task: &TaskInfo,
        reason: &TaskEndReason,
        metrics: &TaskMetrics,
        accumulables: &[(u64, u64)],
    ) {
        let (status, error) = match reason {
            TaskEndReason::Success => (Status::Succeeded, None),
            TaskEndReason::Killed(m) => (Status::Killed, Some(m.clone())),
            TaskEndReason::Failed(m) | TaskEndReason::ExecutorLost(m) => {
                (Status::Failed, Some(m.clone()))
            }
            TaskEndReason::FetchFailed { message, .. } => (Status::Failed, Some(message.clone())),
        };
        if let Some(s) = self.stages.get_mut(&(task.stage_id, task.stage_attempt)) {
            s.tasks.insert(
                task.task_id,
                TaskState {
                    info: task.clone(),
                    status,
                    error,
                    metrics: metrics.clone(),
                },
            );
        }
        if status == Status::Succeeded {
            for (id, v) in accumulables {
                self.task_values.entry(*id).or_default().push(*v);
            }
        }
        if let Some(e) = self.executors.get_mut(&task.executor_id) {
            e.active_tasks = e.active_tasks.saturating_sub(1);
            match status {
                Status::Succeeded => e.completed_tasks += 1,
                Status::Failed => e.failed_tasks += 1,
                _ => {}
            }
            e.task_time_ms += task.finish_time.saturating_sub(task.launch_time);
            e.shuffle_read_bytes += metrics.shuffle_local_bytes + metrics.shuffle_remote_bytes;
            e.shuffle_write_bytes += metrics.shuffle_write_bytes;
            e.spilled_bytes += metrics.spilled_bytes;
            e.peak_rss_bytes = e.peak_rss_bytes.max(metrics.peak_rss_bytes);
        }
    }

    /// The attempts of a stage, newest last.
    pub fn stage_attempts(&self, stage: u32) -> Vec<&StageState> {
        self.stages
            .range((stage, 0)..=(stage, u32::MAX))
            .map(|(_, s)| s)
            .collect()
    }

    /// Task attempts of a job's stages (all attempts).
    pub fn job_tasks<'a>(&'a self, job: &'a JobState) -> impl Iterator<Item = &'a TaskState> + 'a {
        self.stages
            .values()
            .filter(move |s| s.job_id == job.job_id)
            .flat_map(|s| s.tasks.values())
    }

    /// The values of accumulator `id`: one per successful task, or the
    /// driver's one.
    pub fn metric_values(&self, id: u64) -> Vec<u64> {
        match self.driver_values.get(&id) {
            Some(v) => vec![*v],
            None => self.task_values.get(&id).cloned().unwrap_or_default(),
        }
    }
}

/// Counts of a group of task attempts, as Spark's REST API reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TaskCounts {
    /// Running.
    pub active: u32,
    /// Succeeded.
    pub completed: u32,
    /// Failed.
    pub failed: u32,
    /// Killed.
    pub killed: u32,
    /// Partitions with a successful attempt.
    pub completed_indices: u32,
}

impl TaskCounts {
    /// Counts `tasks`.
    pub fn of<'a>(tasks: impl Iterator<Item = &'a TaskState>) -> Self {
        let mut c = TaskCounts::default();
        let mut done = std::collections::HashSet::new();
        for t in tasks {
            match t.status {
                Status::Running | Status::Pending => c.active += 1,
                Status::Succeeded => {
                    c.completed += 1;
                    done.insert((t.info.stage_id, t.info.index));
                }
                Status::Failed => c.failed += 1,
                Status::Killed | Status::Skipped => c.killed += 1,
            }
        }
        c.completed_indices = done.len() as u32;
        c
    }
}

/// The value at quantile `q` (0..=1) of sorted `v` (Spark's nearest rank).
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let v = [1, 2, 3, 4, 100];
        assert_eq!(quantile(&v, 0.0), 1);
        assert_eq!(quantile(&v, 0.5), 3);
        assert_eq!(quantile(&v, 1.0), 100);
        assert_eq!(quantile(&[], 0.5), 0);
    }
}
