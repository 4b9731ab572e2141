//! Kiln's events as Spark's event-log JSON (one `SparkListener*` object per
//! line) and back. The fields are those Spark's `JsonProtocol` and its SQL
//! listener read when the History Server replays a log ([`REQUIRED_FIELDS`]);
//! what Spark has no field for travels in fields Spark ignores (`Kiln ...`
//! keys, `kiln.*` properties) or in events of Kiln's own (`io.kiln.*`), which
//! Spark's replay skips as unknown classes.

use std::collections::BTreeMap;

use kiln_core::events::{
    Event, PlanMetric, PlanNode, StageInfo, TaskEndReason, TaskInfo, TaskMetrics,
};
use serde_json::{json, Map, Value};

/// What the Spark version field of Kiln's logs says.
pub const LOG_VERSION: &str = concat!("kiln-", env!("CARGO_PKG_VERSION"));

/// Spark's SQL listener events.
const SQL_START: &str = "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart";
const SQL_END: &str = "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionEnd";
const DRIVER_ACCUM: &str = "org.apache.spark.sql.execution.ui.SparkListenerDriverAccumUpdates";
/// Kiln's own events (Spark skips them).
const KILN_EXECUTOR_METRICS: &str = "io.kiln.ExecutorMetrics";
const KILN_DRIVER_STEP: &str = "io.kiln.DriverStepEnd";
const KILN_APP_FAILED: &str = "io.kiln.ApplicationFailed";

/// Per event, the fields Spark's replay reads without a default (a log
/// missing one of them fails to replay). Checked by the conformance test.
pub const REQUIRED_FIELDS: &[(&str, &[&str])] = &[
    ("SparkListenerLogStart", &["Spark Version"]),
    (
        "SparkListenerApplicationStart",
        &["App Name", "Timestamp", "User"],
    ),
    ("SparkListenerApplicationEnd", &["Timestamp"]),
    (
        "SparkListenerEnvironmentUpdate",
        &[
            "JVM Information",
            "Spark Properties",
            "System Properties",
            "Classpath Entries",
        ],
    ),
    (
        "SparkListenerResourceProfileAdded",
        &[
            "Resource Profile Id",
            "Executor Resource Requests",
            "Task Resource Requests",
        ],
    ),
    (
        "SparkListenerExecutorAdded",
        &["Timestamp", "Executor ID", "Executor Info"],
    ),
    (
        "SparkListenerExecutorRemoved",
        &["Timestamp", "Executor ID", "Removed Reason"],
    ),
    ("SparkListenerJobStart", &["Job ID", "Stage IDs"]),
    ("SparkListenerJobEnd", &["Job ID", "Job Result"]),
    ("SparkListenerStageSubmitted", &["Stage Info"]),
    ("SparkListenerStageCompleted", &["Stage Info"]),
    ("SparkListenerTaskStart", &["Stage ID", "Task Info"]),
    (
        "SparkListenerTaskEnd",
        &["Stage ID", "Task Type", "Task End Reason", "Task Info"],
    ),
    (
        SQL_START,
        &[
            "executionId",
            "description",
            "details",
            "physicalPlanDescription",
            "sparkPlanInfo",
            "time",
        ],
    ),
    (SQL_END, &["executionId", "time"]),
    (DRIVER_ACCUM, &["executionId", "accumUpdates"]),
];

/// Fields of nested objects Spark's replay requires.
pub const REQUIRED_NESTED: &[(&str, &[&str])] = &[
    (
        "Stage Info",
        &["Stage ID", "Stage Name", "Number of Tasks", "RDD Info"],
    ),
    (
        "Task Info",
        &[
            "Task ID",
            "Index",
            "Launch Time",
            "Executor ID",
            "Host",
            "Locality",
            "Getting Result Time",
            "Finish Time",
            "Failed",
        ],
    ),
    ("Executor Info", &["Host", "Total Cores", "Log Urls"]),
    (
        "sparkPlanInfo",
        &[
            "nodeName",
            "simpleString",
            "children",
            "metadata",
            "metrics",
        ],
    ),
];

/// The first lines of every log: the version and the resource profile
/// Spark's executors page expects every executor to point at.
pub fn preamble(cores: u32) -> Vec<Value> {
    vec![
        json!({"Event": "SparkListenerLogStart", "Spark Version": LOG_VERSION}),
        json!({
            "Event": "SparkListenerResourceProfileAdded",
            "Resource Profile Id": 0,
            "Executor Resource Requests": {
                "cores": {"Resource Name": "cores", "Amount": cores.max(1), "Discovery Script": "", "Vendor": ""}
            },
            "Task Resource Requests": {"cpus": {"Resource Name": "cpus", "Amount": 1.0}}
        }),
    ]
}

/// `event` as the lines Spark's listeners would have logged.
pub fn to_spark(event: &Event) -> Vec<Value> {
    match event {
        Event::ApplicationStart {
            app_id,
            app_name,
            time,
            user,
        } => vec![json!({
            "Event": "SparkListenerApplicationStart",
            "App Name": app_name, "App ID": app_id, "Timestamp": time, "User": user,
        })],
        Event::Environment { properties, system } => vec![json!({
            "Event": "SparkListenerEnvironmentUpdate",
            "JVM Information": {"Java Version": "none (Kiln runs no JVM)", "Java Home": "", "Scala Version": ""},
            "Spark Properties": properties,
            "Hadoop Properties": {},
            "System Properties": system,
            "Metrics Properties": {},
            "Classpath Entries": {},
        })],
        Event::ExecutorAdded {
            executor_id,
            host,
            cores,
            memory_bytes,
            time,
            log_urls,
            metrics_url,
        } => {
            let mut attributes = Map::new();
            if let Some(m) = memory_bytes {
                attributes.insert("kiln.memoryBytes".into(), json!(m.to_string()));
            }
            if let Some(u) = metrics_url {
                attributes.insert("kiln.metricsUrl".into(), json!(u));
            }
            vec![json!({
                "Event": "SparkListenerExecutorAdded",
                "Timestamp": time, "Executor ID": executor_id,
                "Executor Info": {
                    "Host": host, "Total Cores": cores, "Log Urls": log_urls,
                    "Attributes": attributes, "Resources": {}, "Resource Profile Id": 0,
                    "Registration Time": time, "Request Time": time,
                }
            })]
        }
        Event::ExecutorRemoved {
            executor_id,
            time,
            reason,
        } => vec![json!({
            "Event": "SparkListenerExecutorRemoved",
            "Timestamp": time, "Executor ID": executor_id, "Removed Reason": reason,
        })],
        Event::ExecutorMetrics {
            executor_id,
            time,
            peak_rss_bytes,
        } => vec![json!({
            "Event": KILN_EXECUTOR_METRICS,
            "executorId": executor_id, "time": time, "peakRssBytes": peak_rss_bytes,
        })],
        Event::SqlStart {
            execution_id,
            description,
            details,
            physical_plan,
            plan,
            time,
        } => vec![json!({
            "Event": SQL_START,
            "executionId": execution_id, "rootExecutionId": execution_id,
            "description": description, "details": details,
            "physicalPlanDescription": physical_plan,
            "sparkPlanInfo": plan_to_json(plan),
            "time": time, "modifiedConfigs": {}, "jobTags": [],
        })],
        Event::DriverAccumUpdates {
            execution_id,
            updates,
            shuffle_local_bytes,
            shuffle_remote_bytes,
        } => vec![
            json!({"Event": DRIVER_ACCUM, "executionId": execution_id, "accumUpdates": updates}),
            json!({
                "Event": KILN_DRIVER_STEP, "executionId": execution_id, "accumUpdates": updates,
                "shuffleLocalBytes": shuffle_local_bytes, "shuffleRemoteBytes": shuffle_remote_bytes,
            }),
        ],
        Event::SqlEnd {
            execution_id,
            time,
            error,
        } => {
            let mut v = json!({"Event": SQL_END, "executionId": execution_id, "time": time});
            if let Some(e) = error {
                v["errorMessage"] = json!(e);
            }
            vec![v]
        }
        Event::JobStart {
            job_id,
            execution_id,
            time,
            stages,
            description,
        } => {
            let mut props = Map::new();
            if let Some(id) = execution_id {
                props.insert("spark.sql.execution.id".into(), json!(id.to_string()));
            }
            props.insert("spark.job.description".into(), json!(description));
            vec![json!({
                "Event": "SparkListenerJobStart",
                "Job ID": job_id, "Submission Time": time,
                "Stage Infos": stages.iter().map(|s| stage_to_json(s, None, None, None)).collect::<Vec<_>>(),
                "Stage IDs": stages.iter().map(|s| s.stage_id).collect::<Vec<_>>(),
                "Properties": props,
            })]
        }
        Event::StageSubmitted {
            stage,
            job_id,
            time,
        } => vec![json!({
            "Event": "SparkListenerStageSubmitted",
            "Stage Info": stage_to_json(stage, Some(*time), None, None),
            "Properties": {"kiln.job.id": job_id.to_string()},
        })],
        Event::TaskStart { task } => vec![json!({
            "Event": "SparkListenerTaskStart",
            "Stage ID": task.stage_id, "Stage Attempt ID": task.stage_attempt,
            "Task Info": task_to_json(task, &TaskEndReason::Success, &[], false),
        })],
        Event::TaskEnd {
            task,
            reason,
            metrics,
            accumulables,
        } => vec![json!({
            "Event": "SparkListenerTaskEnd",
            "Stage ID": task.stage_id, "Stage Attempt ID": task.stage_attempt,
            "Task Type": "ShuffleMapTask",
            "Task End Reason": reason_to_json(reason),
            "Task Info": task_to_json(task, reason, accumulables, true),
            "Task Executor Metrics": {"ProcessTreeJVMRSSMemory": metrics.peak_rss_bytes},
            "Task Metrics": metrics_to_json(metrics),
        })],
        Event::StageCompleted {
            stage,
            submission_time,
            completion_time,
            failure,
        } => vec![json!({
            "Event": "SparkListenerStageCompleted",
            "Stage Info": stage_to_json(stage, Some(*submission_time), Some(*completion_time), failure.as_deref()),
        })],
        Event::JobEnd {
            job_id,
            time,
            error,
        } => {
            let result = match error {
                None => json!({"Result": "JobSucceeded"}),
                Some(e) => {
                    json!({"Result": "JobFailed", "Exception": {"Message": e, "Stack Trace": []}})
                }
            };
            vec![json!({
                "Event": "SparkListenerJobEnd", "Job ID": job_id, "Completion Time": time, "Job Result": result,
            })]
        }
        Event::ApplicationEnd { time, error } => {
            let mut out = vec![];
            if let Some(e) = error {
                out.push(json!({"Event": KILN_APP_FAILED, "time": time, "error": e}));
            }
            out.push(json!({"Event": "SparkListenerApplicationEnd", "Timestamp": time}));
            out
        }
    }
}

fn stage_to_json(
    s: &StageInfo,
    submitted: Option<u64>,
    completed: Option<u64>,
    failure: Option<&str>,
) -> Value {
    let mut v = json!({
        "Stage ID": s.stage_id, "Stage Attempt ID": s.attempt, "Stage Name": s.name,
        "Number of Tasks": s.num_tasks, "RDD Info": [], "Parent IDs": s.parent_ids,
        "Details": s.details, "Accumulables": [], "Resource Profile Id": 0,
    });
    if let Some(t) = submitted {
        v["Submission Time"] = json!(t);
    }
    if let Some(t) = completed {
        v["Completion Time"] = json!(t);
    }
    if let Some(f) = failure {
        v["Failure Reason"] = json!(f);
    }
    v
}

fn task_to_json(t: &TaskInfo, reason: &TaskEndReason, acc: &[(u64, u64)], ended: bool) -> Value {
    let failed = ended && !matches!(reason, TaskEndReason::Success | TaskEndReason::Killed(_));
    let killed = ended && matches!(reason, TaskEndReason::Killed(_));
    let accumulables: Vec<Value> = acc
        .iter()
        .map(|(id, v)| {
            json!({"ID": id, "Update": v.to_string(), "Value": v.to_string(), "Internal": false,
                   "Count Failed Values": true, "Metadata": "sql"})
        })
        .collect();
    json!({
        "Task ID": t.task_id, "Index": t.index, "Attempt": t.attempt, "Partition ID": t.index,
        "Launch Time": t.launch_time, "Executor ID": t.executor_id, "Host": t.host,
        "Locality": "PROCESS_LOCAL", "Speculative": false, "Getting Result Time": 0,
        "Finish Time": t.finish_time, "Failed": failed, "Killed": killed,
        "Accumulables": accumulables,
    })
}

fn reason_to_json(r: &TaskEndReason) -> Value {
    match r {
        TaskEndReason::Success => json!({"Reason": "Success"}),
        TaskEndReason::Failed(m) => json!({
            "Reason": "ExceptionFailure", "Class Name": "io.kiln.TaskFailed", "Description": m,
            "Stack Trace": [], "Full Stack Trace": m, "Accumulator Updates": [],
        }),
        TaskEndReason::FetchFailed {
            stage_id,
            map,
            executor_id,
            message,
        } => json!({
            "Reason": "FetchFailed",
            "Block Manager Address": {"Executor ID": executor_id, "Host": "", "Port": 0},
            "Shuffle ID": stage_id, "Map ID": map, "Map Index": map, "Reduce ID": 0, "Message": message,
        }),
        TaskEndReason::ExecutorLost(m) => json!({
            "Reason": "ExecutorLostFailure", "Exit Caused By App": false, "Loss Reason": m,
        }),
        TaskEndReason::Killed(m) => json!({
            "Reason": "TaskKilled", "Kill Reason": m, "Accumulator Updates": [],
        }),
    }
}

fn metrics_to_json(m: &TaskMetrics) -> Value {
    json!({
        "Executor Deserialize Time": 0, "Executor Deserialize CPU Time": 0,
        "Executor Run Time": m.run_time_ms, "Executor CPU Time": 0, "Peak Execution Memory": 0,
        "Result Size": 0, "JVM GC Time": 0, "Result Serialization Time": 0,
        "Memory Bytes Spilled": 0, "Disk Bytes Spilled": m.spilled_bytes,
        "Shuffle Read Metrics": {
            "Remote Blocks Fetched": 0, "Local Blocks Fetched": 0, "Fetch Wait Time": 0,
            "Remote Bytes Read": m.shuffle_remote_bytes, "Remote Bytes Read To Disk": 0,
            "Local Bytes Read": m.shuffle_local_bytes, "Total Records Read": m.input_rows,
            "Remote Requests Duration": 0,
            "Push Based Shuffle": {
                "Corrupt Merged Block Chunks": 0, "Merged Fetch Fallback Count": 0,
                "Merged Remote Blocks Fetched": 0, "Merged Local Blocks Fetched": 0,
                "Merged Remote Chunks Fetched": 0, "Merged Local Chunks Fetched": 0,
                "Merged Remote Bytes Read": 0, "Merged Local Bytes Read": 0,
                "Merged Remote Requests Duration": 0
            }
        },
        "Shuffle Write Metrics": {
            "Shuffle Bytes Written": m.shuffle_write_bytes, "Shuffle Write Time": 0,
            "Shuffle Records Written": m.output_rows,
        },
        "Input Metrics": {"Bytes Read": 0, "Records Read": 0},
        "Output Metrics": {"Bytes Written": 0, "Records Written": 0},
        "Updated Blocks": [],
        "Kiln Spill Count": m.spill_count,
    })
}

fn plan_to_json(p: &PlanNode) -> Value {
    let mut metadata = Map::new();
    if let Some(s) = p.stage_id {
        metadata.insert("kiln.stage".into(), json!(s.to_string()));
    }
    json!({
        "nodeName": p.name, "simpleString": p.description,
        "children": p.children.iter().map(plan_to_json).collect::<Vec<_>>(),
        "metadata": metadata,
        "metrics": p.metrics.iter().map(|m| json!({
            "name": m.name, "accumulatorId": m.accumulator_id, "metricType": m.metric_type,
        })).collect::<Vec<_>>(),
    })
}

/// Why a line of a log could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{event}: field `{field}` is missing or has the wrong type")]
pub struct BadField {
    /// The event's class name.
    pub event: String,
    /// The field.
    pub field: String,
}

struct Obj<'a> {
    v: &'a Value,
    event: &'a str,
}

impl<'a> Obj<'a> {
    fn err(&self, field: &str) -> BadField {
        BadField {
            event: self.event.to_string(),
            field: field.to_string(),
        }
    }
    fn get(&self, field: &str) -> Result<&'a Value, BadField> {
        self.v.get(field).ok_or_else(|| self.err(field))
    }
    fn obj(&self, field: &str) -> Result<Obj<'a>, BadField> {
        Ok(Obj {
            v: self.get(field)?,
            event: self.event,
        })
    }
    fn u64(&self, field: &str) -> Result<u64, BadField> {
        let v = self.get(field)?;
        v.as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| self.err(field))
    }
    fn u32(&self, field: &str) -> Result<u32, BadField> {
        self.u64(field)
            .and_then(|v| u32::try_from(v).map_err(|_| self.err(field)))
    }
    fn str(&self, field: &str) -> Result<String, BadField> {
        self.get(field)?
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| self.err(field))
    }
    fn opt_str(&self, field: &str) -> Option<String> {
        self.v
            .get(field)
            .and_then(Value::as_str)
            .map(str::to_string)
    }
    fn map(&self, field: &str) -> Result<BTreeMap<String, String>, BadField> {
        let m = self
            .get(field)?
            .as_object()
            .ok_or_else(|| self.err(field))?;
        Ok(m.iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
            .collect())
    }
    fn list(&self, field: &str) -> Result<&'a Vec<Value>, BadField> {
        self.get(field)?.as_array().ok_or_else(|| self.err(field))
    }
}

/// The Kiln event a line of a Spark event log stands for; `None` for lines
/// Kiln's store does not need (Spark's own bookkeeping, events of other
/// tools).
pub fn from_spark(v: &Value) -> Result<Option<Event>, BadField> {
    let name = v.get("Event").and_then(Value::as_str).unwrap_or("");
    let o = Obj { v, event: name };
    let e = match name {
        "SparkListenerApplicationStart" => Event::ApplicationStart {
            app_id: o.opt_str("App ID").unwrap_or_default(),
            app_name: o.str("App Name")?,
            time: o.u64("Timestamp")?,
            user: o.str("User")?,
        },
        "SparkListenerEnvironmentUpdate" => Event::Environment {
            properties: o.map("Spark Properties")?,
            system: o.map("System Properties")?,
        },
        "SparkListenerExecutorAdded" => {
            let info = o.obj("Executor Info")?;
            let attribute = |k: &str| {
                info.v
                    .get("Attributes")
                    .and_then(|a| a.get(k))
                    .and_then(Value::as_str)
            };
            let memory_bytes = attribute("kiln.memoryBytes").and_then(|s| s.parse().ok());
            let metrics_url = attribute("kiln.metricsUrl").map(str::to_string);
            Event::ExecutorAdded {
                executor_id: o.str("Executor ID")?,
                host: info.str("Host")?,
                cores: info.u32("Total Cores")?,
                memory_bytes,
                time: o.u64("Timestamp")?,
                log_urls: info.map("Log Urls")?,
                metrics_url,
            }
        }
        "SparkListenerExecutorRemoved" => Event::ExecutorRemoved {
            executor_id: o.str("Executor ID")?,
            time: o.u64("Timestamp")?,
            reason: o.str("Removed Reason")?,
        },
        KILN_EXECUTOR_METRICS => Event::ExecutorMetrics {
            executor_id: o.str("executorId")?,
            time: o.u64("time")?,
            peak_rss_bytes: o.u64("peakRssBytes")?,
        },
        SQL_START => Event::SqlStart {
            execution_id: o.u64("executionId")?,
            description: o.str("description")?,
            details: o.str("details")?,
            physical_plan: o.str("physicalPlanDescription")?,
            plan: plan_from_json(&o.obj("sparkPlanInfo")?)?,
            time: o.u64("time")?,
        },
        KILN_DRIVER_STEP => Event::DriverAccumUpdates {
            execution_id: o.u64("executionId")?,
            updates: o
                .list("accumUpdates")?
                .iter()
                .filter_map(|p| Some((p.get(0)?.as_u64()?, p.get(1)?.as_u64()?)))
                .collect(),
            shuffle_local_bytes: o.u64("shuffleLocalBytes")?,
            shuffle_remote_bytes: o.u64("shuffleRemoteBytes")?,
        },
        SQL_END => Event::SqlEnd {
            execution_id: o.u64("executionId")?,
            time: o.u64("time")?,
            error: o.opt_str("errorMessage").filter(|e| !e.is_empty()),
        },
        "SparkListenerJobStart" => {
            let props = o.obj("Properties")?;
            Event::JobStart {
                job_id: o.u32("Job ID")?,
                execution_id: props.u64("spark.sql.execution.id").ok(),
                time: o.u64("Submission Time")?,
                stages: o
                    .list("Stage Infos")?
                    .iter()
                    .map(|s| stage_from_json(&Obj { v: s, event: name }))
                    .collect::<Result<_, _>>()?,
                description: props.opt_str("spark.job.description").unwrap_or_default(),
            }
        }
        "SparkListenerStageSubmitted" => {
            let info = o.obj("Stage Info")?;
            Event::StageSubmitted {
                stage: stage_from_json(&info)?,
                job_id: o.obj("Properties")?.u32("kiln.job.id")?,
                time: info.u64("Submission Time")?,
            }
        }
        "SparkListenerTaskStart" => Event::TaskStart {
            task: task_from_json(&o)?,
        },
        "SparkListenerTaskEnd" => {
            let info = o.obj("Task Info")?;
            let accumulables = info
                .list("Accumulables")?
                .iter()
                .filter_map(|a| {
                    let id = a.get("ID")?.as_u64()?;
                    let v = a.get("Update")?;
                    let v = v.as_u64().or_else(|| v.as_str()?.parse().ok())?;
                    Some((id, v))
                })
                .collect();
            Event::TaskEnd {
                task: task_from_json(&o)?,
                reason: reason_from_json(&o.obj("Task End Reason")?)?,
                metrics: metrics_from_json(&o)?,
                accumulables,
            }
        }
        "SparkListenerStageCompleted" => {
            let info = o.obj("Stage Info")?;
            Event::StageCompleted {
                stage: stage_from_json(&info)?,
                submission_time: info.u64("Submission Time")?,
                completion_time: info.u64("Completion Time")?,
                failure: info.opt_str("Failure Reason"),
            }
        }
        "SparkListenerJobEnd" => {
            let result = o.obj("Job Result")?;
            let error = match result.str("Result")?.as_str() {
                "JobSucceeded" => None,
                _ => Some(
                    result
                        .obj("Exception")
                        .and_then(|e| e.str("Message"))
                        .unwrap_or_else(|_| "job failed".into()),
                ),
            };
            Event::JobEnd {
                job_id: o.u32("Job ID")?,
                time: o.u64("Completion Time")?,
                error,
            }
        }
        KILN_APP_FAILED => Event::ApplicationEnd {
            time: o.u64("time")?,
            error: Some(o.str("error")?),
        },
        "SparkListenerApplicationEnd" => Event::ApplicationEnd {
            time: o.u64("Timestamp")?,
            error: None,
        },
        _ => return Ok(None),
    };
    Ok(Some(e))
}

fn stage_from_json(o: &Obj) -> Result<StageInfo, BadField> {
    Ok(StageInfo {
        stage_id: o.u32("Stage ID")?,
        attempt: o.u32("Stage Attempt ID")?,
        name: o.str("Stage Name")?,
        num_tasks: o.u32("Number of Tasks")?,
        parent_ids: o
            .list("Parent IDs")?
            .iter()
            .filter_map(|v| v.as_u64().map(|v| v as u32))
            .collect(),
        details: o.str("Details")?,
    })
}

fn task_from_json(o: &Obj) -> Result<TaskInfo, BadField> {
    let t = o.obj("Task Info")?;
    Ok(TaskInfo {
        task_id: t.u64("Task ID")?,
        stage_id: o.u32("Stage ID")?,
        stage_attempt: o.u32("Stage Attempt ID")?,
        index: t.u32("Index")?,
        attempt: t.u32("Attempt")?,
        executor_id: t.str("Executor ID")?,
        host: t.str("Host")?,
        launch_time: t.u64("Launch Time")?,
        finish_time: t.u64("Finish Time")?,
    })
}

fn reason_from_json(o: &Obj) -> Result<TaskEndReason, BadField> {
    Ok(match o.str("Reason")?.as_str() {
        "Success" => TaskEndReason::Success,
        "FetchFailed" => TaskEndReason::FetchFailed {
            stage_id: o.u32("Shuffle ID")?,
            map: o.u32("Map ID")?,
            executor_id: o.obj("Block Manager Address")?.str("Executor ID")?,
            message: o.str("Message")?,
        },
        "ExecutorLostFailure" => {
            TaskEndReason::ExecutorLost(o.opt_str("Loss Reason").unwrap_or_default())
        }
        "TaskKilled" => TaskEndReason::Killed(o.opt_str("Kill Reason").unwrap_or_default()),
        _ => TaskEndReason::Failed(o.opt_str("Description").unwrap_or_default()),
    })
}

fn metrics_from_json(o: &Obj) -> Result<TaskMetrics, BadField> {
    let m = o.obj("Task Metrics")?;
    let read = m.obj("Shuffle Read Metrics")?;
    let write = m.obj("Shuffle Write Metrics")?;
    let rss =
        o.v.get("Task Executor Metrics")
            .and_then(|e| e.get("ProcessTreeJVMRSSMemory"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
    Ok(TaskMetrics {
        run_time_ms: m.u64("Executor Run Time")?,
        input_rows: read.u64("Total Records Read")?,
        output_rows: write.u64("Shuffle Records Written")?,
        shuffle_write_bytes: write.u64("Shuffle Bytes Written")?,
        shuffle_local_bytes: read.u64("Local Bytes Read")?,
        shuffle_remote_bytes: read.u64("Remote Bytes Read")?,
        spill_count: m.u64("Kiln Spill Count").unwrap_or(0),
        spilled_bytes: m.u64("Disk Bytes Spilled")?,
        peak_rss_bytes: rss,
    })
}

fn plan_from_json(o: &Obj) -> Result<PlanNode, BadField> {
    let stage_id =
        o.v.get("metadata")
            .and_then(|m| m.get("kiln.stage"))
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok());
    let metrics = o
        .list("metrics")?
        .iter()
        .map(|m| {
            let m = Obj {
                v: m,
                event: o.event,
            };
            Ok(PlanMetric {
                name: m.str("name")?,
                accumulator_id: m.u64("accumulatorId")?,
                metric_type: m.str("metricType")?,
            })
        })
        .collect::<Result<_, BadField>>()?;
    let children = o
        .list("children")?
        .iter()
        .map(|c| {
            plan_from_json(&Obj {
                v: c,
                event: o.event,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(PlanNode {
        name: o.str("nodeName")?,
        description: o.str("simpleString")?,
        stage_id,
        metrics,
        children,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> TaskInfo {
        TaskInfo {
            task_id: 7,
            stage_id: 2,
            stage_attempt: 1,
            index: 3,
            attempt: 1,
            executor_id: "1".into(),
            host: "127.0.0.1".into(),
            launch_time: 10,
            finish_time: 20,
        }
    }

    fn stage() -> StageInfo {
        StageInfo {
            stage_id: 2,
            attempt: 1,
            name: "stage 2".into(),
            num_tasks: 4,
            parent_ids: vec![1],
            details: "plan".into(),
        }
    }

    /// Every event survives Spark's JSON unchanged: the history server's
    /// answers depend on it.
    #[test]
    fn every_event_round_trips() {
        let plan = PlanNode {
            name: "ShuffleWriterExec".into(),
            description: "ShuffleWriterExec: hash".into(),
            stage_id: Some(2),
            metrics: vec![PlanMetric {
                name: "time".into(),
                accumulator_id: 5,
                metric_type: "nsTiming".into(),
            }],
            children: vec![PlanNode {
                name: "ScanExec".into(),
                ..Default::default()
            }],
        };
        let events = vec![
            Event::ApplicationStart {
                app_id: "a".into(),
                app_name: "n".into(),
                time: 1,
                user: "u".into(),
            },
            Event::Environment {
                properties: [("spark.x".to_string(), "1".to_string())].into(),
                system: [("os.name".to_string(), "linux".to_string())].into(),
            },
            Event::ExecutorAdded {
                executor_id: "1".into(),
                host: "h".into(),
                cores: 2,
                memory_bytes: Some(1 << 30),
                time: 3,
                log_urls: [("stderr".to_string(), "/logs/1".to_string())].into(),
                metrics_url: Some("http://h:4041/metrics".into()),
            },
            Event::ExecutorMetrics {
                executor_id: "1".into(),
                time: 4,
                peak_rss_bytes: 99,
            },
            Event::SqlStart {
                execution_id: 1,
                description: "select".into(),
                details: "select 1".into(),
                physical_plan: "text".into(),
                plan,
                time: 5,
            },
            Event::JobStart {
                job_id: 1,
                execution_id: Some(1),
                time: 5,
                stages: vec![stage()],
                description: "select".into(),
            },
            Event::StageSubmitted {
                stage: stage(),
                job_id: 1,
                time: 6,
            },
            Event::TaskStart { task: task() },
            Event::TaskEnd {
                task: task(),
                reason: TaskEndReason::FetchFailed {
                    stage_id: 1,
                    map: 0,
                    executor_id: "2".into(),
                    message: "gone".into(),
                },
                metrics: TaskMetrics {
                    run_time_ms: 1,
                    input_rows: 2,
                    output_rows: 3,
                    shuffle_write_bytes: 4,
                    shuffle_local_bytes: 5,
                    shuffle_remote_bytes: 6,
                    spill_count: 7,
                    spilled_bytes: 8,
                    peak_rss_bytes: 9,
                },
                accumulables: vec![(5, 100)],
            },
            Event::TaskEnd {
                task: task(),
                reason: TaskEndReason::Killed("stop".into()),
                metrics: TaskMetrics::default(),
                accumulables: vec![],
            },
            Event::StageCompleted {
                stage: stage(),
                submission_time: 6,
                completion_time: 9,
                failure: Some("lost".into()),
            },
            Event::DriverAccumUpdates {
                execution_id: 1,
                updates: vec![(5, 3)],
                shuffle_local_bytes: 1,
                shuffle_remote_bytes: 2,
            },
            Event::JobEnd {
                job_id: 1,
                time: 10,
                error: Some("boom".into()),
            },
            Event::SqlEnd {
                execution_id: 1,
                time: 10,
                error: None,
            },
            Event::ExecutorRemoved {
                executor_id: "1".into(),
                time: 11,
                reason: "stopped".into(),
            },
            Event::ApplicationEnd {
                time: 12,
                error: Some("failed".into()),
            },
        ];
        for e in events {
            let back: Vec<Event> = to_spark(&e)
                .iter()
                .filter_map(|v| from_spark(v).unwrap())
                .collect();
            let want = match &e {
                // A failed application is two lines; the second one ends it.
                Event::ApplicationEnd { time, .. } => vec![
                    e.clone(),
                    Event::ApplicationEnd {
                        time: *time,
                        error: None,
                    },
                ],
                _ => vec![e.clone()],
            };
            assert_eq!(back, want);
        }
    }
}
