//! The lines of Spark's event log back as Kiln's events.

use std::collections::BTreeMap;

use kiln_core::events::{
    Event, PlanMetric, PlanNode, StageInfo, TaskEndReason, TaskInfo, TaskMetrics,
};
use serde_json::Value;

use super::{KILN_APP_FAILED, KILN_DRIVER_STEP, KILN_EXECUTOR_METRICS, SQL_END, SQL_START};

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
