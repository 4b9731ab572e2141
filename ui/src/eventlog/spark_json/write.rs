//! Kiln's events as the lines of Spark's event log.

use kiln_core::events::{Event, PlanNode, StageInfo, TaskEndReason, TaskInfo, TaskMetrics};
use serde_json::{json, Map, Value};

use super::{
    DRIVER_ACCUM, KILN_APP_FAILED, KILN_DRIVER_STEP, KILN_EXECUTOR_METRICS, LOG_VERSION, SQL_END,
    SQL_START,
};

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
