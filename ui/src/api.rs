//! Spark's monitoring REST API (`/api/v1`), the subset Spark tooling reads
//! most: applications, jobs, stages (with `taskSummary` and `taskList`),
//! executors, SQL executions and the environment, with Spark's field names.
//! Built from an [`AppStatus`], so the live driver and `kiln history`
//! answer alike.

use serde_json::{json, Value};

use crate::graph::{plan_graph, SkewRule};
use crate::status::{quantile, AppStatus, JobState, StageState, Status, TaskCounts, TaskState};

/// A time as Spark's REST API writes it (`2026-12-07T10:00:00.000GMT`).
pub fn spark_date(ms: u64) -> String {
    let dt = chrono::DateTime::from_timestamp_millis(ms as i64).unwrap_or_default();
    dt.format("%Y-%m-%dT%H:%M:%S%.3fGMT").to_string()
}

fn opt_date(ms: Option<u64>) -> Value {
    ms.map(|m| json!(spark_date(m))).unwrap_or(Value::Null)
}

/// `/applications` entry of one application.
pub fn application(app: &AppStatus) -> Value {
    let end = app.end_time.unwrap_or(0);
    let last = app.end_time.unwrap_or(app.start_time);
    json!({
        "id": app.app_id,
        "name": app.app_name,
        "attempts": [{
            "startTime": spark_date(app.start_time),
            "endTime": if app.end_time.is_some() { spark_date(end) } else { "1969-12-31T23:59:59.999GMT".to_string() },
            "lastUpdated": spark_date(last),
            "duration": app.end_time.map(|e| e.saturating_sub(app.start_time)).unwrap_or(0),
            "sparkUser": app.user,
            "completed": app.end_time.is_some(),
            "appSparkVersion": crate::eventlog::spark_json::LOG_VERSION,
            "startTimeEpoch": app.start_time,
            "endTimeEpoch": if app.end_time.is_some() { end as i64 } else { -1 },
            "lastUpdatedEpoch": last,
        }]
    })
}

fn status_name(s: Status, stage: bool) -> &'static str {
    match (s, stage) {
        (Status::Pending, _) => "PENDING",
        (Status::Running, true) => "ACTIVE",
        (Status::Running, false) => "RUNNING",
        (Status::Succeeded, true) => "COMPLETE",
        (Status::Succeeded, false) => "SUCCEEDED",
        (Status::Failed, _) => "FAILED",
        (Status::Killed, _) => "KILLED",
        (Status::Skipped, _) => "SKIPPED",
    }
}

/// One job (Spark's `JobData`).
pub fn job(app: &AppStatus, j: &JobState) -> Value {
    let c = TaskCounts::of(app.job_tasks(j));
    let stages: Vec<&StageState> = app
        .stages
        .values()
        .filter(|s| s.job_id == j.job_id)
        .collect();
    let stage_count = |st: Status| {
        let mut ids: Vec<u32> = stages
            .iter()
            .filter(|s| s.status == st)
            .map(|s| s.info.stage_id)
            .collect();
        ids.dedup();
        ids.len()
    };
    json!({
        "jobId": j.job_id,
        "name": j.description,
        "description": j.description,
        "submissionTime": spark_date(j.submitted),
        "completionTime": opt_date(j.completed),
        "stageIds": j.stage_ids,
        "status": status_name(j.status, false),
        "numTasks": j.num_tasks,
        "numActiveTasks": c.active,
        "numCompletedTasks": c.completed,
        "numSkippedTasks": 0,
        "numFailedTasks": c.failed,
        "numKilledTasks": c.killed,
        "numCompletedIndices": c.completed_indices,
        "numActiveStages": stage_count(Status::Running),
        "numCompletedStages": stage_count(Status::Succeeded),
        "numSkippedStages": stage_count(Status::Skipped),
        "numFailedStages": stage_count(Status::Failed),
        "killedTasksSummary": {},
        "sqlExecutionId": j.execution_id,
    })
}

/// All jobs, newest first (as Spark lists them).
pub fn jobs(app: &AppStatus) -> Value {
    Value::Array(app.jobs.values().rev().map(|j| job(app, j)).collect())
}

/// One stage attempt (Spark's `StageData`); `with_tasks` adds its tasks.
pub fn stage(s: &StageState, with_tasks: bool) -> Value {
    let c = TaskCounts::of(s.tasks.values());
    let sum = |f: fn(&TaskState) -> u64| s.tasks.values().map(f).sum::<u64>();
    let first_launch = s.tasks.values().map(|t| t.info.launch_time).min();
    let mut v = json!({
        "status": status_name(s.status, true),
        "stageId": s.info.stage_id,
        "attemptId": s.info.attempt,
        "numTasks": s.info.num_tasks,
        "numActiveTasks": c.active,
        "numCompleteTasks": c.completed,
        "numFailedTasks": c.failed,
        "numKilledTasks": c.killed,
        "numCompletedIndices": c.completed_indices,
        "submissionTime": opt_date(s.submitted),
        "firstTaskLaunchedTime": opt_date(first_launch),
        "completionTime": opt_date(s.completed),
        "failureReason": s.failure,
        "executorRunTime": sum(|t| t.metrics.run_time_ms),
        "inputBytes": 0, "inputRecords": 0, "outputBytes": 0, "outputRecords": 0,
        "shuffleRemoteBytesRead": sum(|t| t.metrics.shuffle_remote_bytes),
        "shuffleLocalBytesRead": sum(|t| t.metrics.shuffle_local_bytes),
        "shuffleReadBytes": sum(|t| t.metrics.shuffle_local_bytes + t.metrics.shuffle_remote_bytes),
        "shuffleReadRecords": sum(|t| t.metrics.input_rows),
        "shuffleWriteBytes": sum(|t| t.metrics.shuffle_write_bytes),
        "shuffleWriteRecords": sum(|t| t.metrics.output_rows),
        "memoryBytesSpilled": 0,
        "diskBytesSpilled": sum(|t| t.metrics.spilled_bytes),
        "name": s.info.name,
        "details": s.info.details,
        "schedulingPool": "default",
        "rddIds": [],
        "accumulatorUpdates": [],
        "killedTasksSummary": {},
        "resourceProfileId": 0,
    });
    if with_tasks {
        v["tasks"] = s
            .tasks
            .iter()
            .map(|(id, t)| (id.to_string(), task(t)))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    v
}

/// All stage attempts, newest first.
pub fn stages(app: &AppStatus) -> Value {
    Value::Array(app.stages.values().rev().map(|s| stage(s, false)).collect())
}

/// Scheduler delay of a task: its wall time on the driver's clock minus
/// the time it ran on the executor.
pub fn scheduler_delay(t: &TaskState) -> u64 {
    t.info
        .finish_time
        .saturating_sub(t.info.launch_time)
        .saturating_sub(t.metrics.run_time_ms)
}

/// One task attempt (Spark's `TaskData`).
pub fn task(t: &TaskState) -> Value {
    let duration = (t.info.finish_time > 0).then(|| t.info.finish_time - t.info.launch_time);
    json!({
        "taskId": t.info.task_id,
        "index": t.info.index,
        "attempt": t.info.attempt,
        "partitionId": t.info.index,
        "launchTime": spark_date(t.info.launch_time),
        "duration": duration,
        "executorId": t.info.executor_id,
        "host": t.info.host,
        "status": match t.status { Status::Succeeded => "SUCCESS", Status::Running | Status::Pending => "RUNNING", Status::Failed => "FAILED", Status::Killed | Status::Skipped => "KILLED" },
        "taskLocality": "PROCESS_LOCAL",
        "speculative": false,
        "accumulatorUpdates": [],
        "errorMessage": t.error,
        "schedulerDelay": scheduler_delay(t),
        "gettingResultTime": 0,
        "taskMetrics": {
            "executorRunTime": t.metrics.run_time_ms,
            "diskBytesSpilled": t.metrics.spilled_bytes,
            "memoryBytesSpilled": 0,
            "peakExecutionMemory": 0,
            "shuffleReadMetrics": {
                "remoteBytesRead": t.metrics.shuffle_remote_bytes,
                "localBytesRead": t.metrics.shuffle_local_bytes,
                "recordsRead": t.metrics.input_rows,
            },
            "shuffleWriteMetrics": {
                "bytesWritten": t.metrics.shuffle_write_bytes,
                "recordsWritten": t.metrics.output_rows,
            },
        },
    })
}

/// Spark's default quantiles of `taskSummary`.
pub const DEFAULT_QUANTILES: [f64; 5] = [0.05, 0.25, 0.5, 0.75, 0.95];

/// `taskSummary`: quantiles over the successful tasks of a stage attempt.
pub fn task_summary(s: &StageState, quantiles: &[f64]) -> Value {
    let done: Vec<&TaskState> = s
        .tasks
        .values()
        .filter(|t| t.status == Status::Succeeded)
        .collect();
    let q = |f: &dyn Fn(&TaskState) -> u64| -> Vec<u64> {
        let mut v: Vec<u64> = done.iter().map(|t| f(t)).collect();
        v.sort_unstable();
        quantiles.iter().map(|p| quantile(&v, *p)).collect()
    };
    json!({
        "quantiles": quantiles,
        "duration": q(&|t| t.info.finish_time.saturating_sub(t.info.launch_time)),
        "executorRunTime": q(&|t| t.metrics.run_time_ms),
        "schedulerDelay": q(&|t| scheduler_delay(t)),
        "diskBytesSpilled": q(&|t| t.metrics.spilled_bytes),
        "shuffleReadMetrics": {
            "readBytes": q(&|t| t.metrics.shuffle_local_bytes + t.metrics.shuffle_remote_bytes),
            "readRecords": q(&|t| t.metrics.input_rows),
            "remoteBytesRead": q(&|t| t.metrics.shuffle_remote_bytes),
        },
        "shuffleWriteMetrics": {
            "writeBytes": q(&|t| t.metrics.shuffle_write_bytes),
            "writeRecords": q(&|t| t.metrics.output_rows),
        },
    })
}

/// `taskList`: tasks of a stage attempt, sorted (`ID`, `runtime`,
/// `-runtime`), from `offset`, at most `length`.
pub fn task_list(s: &StageState, offset: usize, length: usize, sort_by: &str) -> Value {
    let mut tasks: Vec<&TaskState> = s.tasks.values().collect();
    match sort_by {
        "runtime" | "duration" => {
            tasks.sort_by_key(|t| t.info.finish_time.saturating_sub(t.info.launch_time))
        }
        "-runtime" | "-duration" => tasks.sort_by_key(|t| {
            std::cmp::Reverse(t.info.finish_time.saturating_sub(t.info.launch_time))
        }),
        _ => tasks.sort_by_key(|t| t.info.task_id),
    }
    Value::Array(
        tasks
            .into_iter()
            .skip(offset)
            .take(length)
            .map(task)
            .collect(),
    )
}

/// Executors (`all`: also the removed ones).
pub fn executors(app: &AppStatus, all: bool) -> Value {
    Value::Array(
        app.executors
            .values()
            .filter(|e| all || e.removed.is_none())
            .map(|e| {
                json!({
                    "id": e.id,
                    "hostPort": e.host,
                    "isActive": e.removed.is_none(),
                    "rddBlocks": 0, "memoryUsed": 0, "diskUsed": 0,
                    "totalCores": e.cores,
                    "maxTasks": e.cores,
                    "activeTasks": e.active_tasks,
                    "failedTasks": e.failed_tasks,
                    "completedTasks": e.completed_tasks,
                    "totalTasks": e.active_tasks + e.failed_tasks + e.completed_tasks,
                    "totalDuration": e.task_time_ms,
                    "totalGCTime": 0, "totalInputBytes": 0,
                    "totalShuffleRead": e.shuffle_read_bytes,
                    "totalShuffleWrite": e.shuffle_write_bytes,
                    "isBlacklisted": false, "isExcluded": false,
                    "maxMemory": e.memory_bytes.unwrap_or(0),
                    "addTime": spark_date(e.added),
                    "removeTime": opt_date(e.removed),
                    "removeReason": e.removed_reason,
                    "executorLogs": e.log_urls,
                    "peakMemoryMetrics": {"ProcessTreeJVMRSSMemory": e.peak_rss_bytes},
                    "attributes": {}, "resources": {}, "resourceProfileId": 0,
                    "kilnSpilledBytes": e.spilled_bytes,
                    "kilnMetricsUrl": e.metrics_url,
                })
            })
            .collect(),
    )
}

/// One SQL execution (Spark's `ExecutionData`), with its plan's nodes and
/// their metrics when `details`.
pub fn sql(app: &AppStatus, id: u64, details: bool, rule: SkewRule) -> Option<Value> {
    let x = app.executions.get(&id)?;
    let jobs_with = |st: Status| -> Vec<u32> {
        x.job_ids
            .iter()
            .filter(|j| app.jobs.get(j).is_some_and(|j| j.status == st))
            .copied()
            .collect()
    };
    let status = match (x.completed, &x.error) {
        (None, _) => "RUNNING",
        (Some(_), None) => "COMPLETED",
        (Some(_), Some(_)) => "FAILED",
    };
    let mut v = json!({
        "id": x.execution_id,
        "status": status,
        "description": x.description,
        "planDescription": x.physical_plan,
        "submissionTime": spark_date(x.submitted),
        "duration": x.completed.unwrap_or(x.submitted).saturating_sub(x.submitted),
        "runningJobIds": jobs_with(Status::Running),
        "successJobIds": jobs_with(Status::Succeeded),
        "failedJobIds": jobs_with(Status::Failed),
        "errorMessage": x.error,
    });
    if details {
        let g = plan_graph(&x.plan, app, rule);
        v["nodes"] = g
            .nodes
            .iter()
            .map(|n| {
                json!({
                    "nodeId": n.id, "nodeName": n.name, "wholeStageCodegenId": Value::Null,
                    "metrics": n.metrics.iter().map(|m| json!({"name": m.name, "value": m.total.to_string()})).collect::<Vec<_>>(),
                })
            })
            .collect();
        v["edges"] = g
            .edges
            .iter()
            .map(|e| json!({"fromId": e.from, "toId": e.to}))
            .collect();
    }
    Some(v)
}

/// All SQL executions, oldest first (as Spark lists them).
pub fn sqls(app: &AppStatus, details: bool, rule: SkewRule) -> Value {
    Value::Array(
        app.executions
            .keys()
            .filter_map(|id| sql(app, *id, details, rule))
            .collect(),
    )
}

/// The environment page's data.
pub fn environment(app: &AppStatus) -> Value {
    let pairs = |m: &std::collections::BTreeMap<String, String>| -> Vec<[String; 2]> {
        m.iter().map(|(k, v)| [k.clone(), v.clone()]).collect()
    };
    json!({
        "runtime": {"javaVersion": "", "javaHome": "", "scalaVersion": ""},
        "sparkProperties": pairs(&app.properties),
        "hadoopProperties": [],
        "systemProperties": pairs(&app.system),
        "metricsProperties": [],
        "classpathEntries": [],
        "resourceProfiles": [],
    })
}
