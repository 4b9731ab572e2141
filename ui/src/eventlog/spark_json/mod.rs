//! Kiln's events as Spark's event-log JSON (one `SparkListener*` object per
//! line) and back. The fields are those Spark's `JsonProtocol` and its SQL
//! listener read when the History Server replays a log ([`REQUIRED_FIELDS`]);
//! what Spark has no field for travels in fields Spark ignores (`Kiln ...`
//! keys, `kiln.*` properties) or in events of Kiln's own (`io.kiln.*`), which
//! Spark's replay skips as unknown classes.
//!
//! `write` turns events into lines, `read` lines into events; the names
//! both sides share are here.

mod read;
mod write;

pub use read::{from_spark, BadField};
pub use write::{preamble, to_spark};

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

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::events::{
        Event, PlanMetric, PlanNode, StageInfo, TaskEndReason, TaskInfo, TaskMetrics,
    };

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
