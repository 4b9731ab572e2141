//! The `ScheduledSparkApplication` custom resource (`kiln.dev/v1alpha1`): a
//! `SparkApplication` template run on a cron schedule, with a concurrency
//! policy and history limits, as in kubeflow's spark-operator.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::application::SparkApplicationSpec;
use crate::schema::SCHEDULE_PATTERN;

/// A schedule and the application it runs.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "kiln.dev",
    version = "v1alpha1",
    kind = "ScheduledSparkApplication",
    plural = "scheduledsparkapplications",
    shortname = "scheduledsparkapp",
    category = "kiln",
    namespaced,
    doc = "A SparkApplication created on a cron schedule.",
    status = "ScheduledSparkApplicationStatus",
    printcolumn = r#"{"name":"Schedule","type":"string","jsonPath":".spec.schedule"}"#,
    printcolumn = r#"{"name":"Suspend","type":"boolean","jsonPath":".spec.suspend"}"#,
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".status.scheduleState"}"#,
    printcolumn = r#"{"name":"Last Run","type":"date","jsonPath":".status.lastRun"}"#,
    printcolumn = r#"{"name":"Last Run Name","type":"string","jsonPath":".status.lastRunName"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledSparkApplicationSpec {
    /// Five cron fields (`0 3 * * *`), `@hourly`-style descriptors, or
    /// `@every <duration>` (`@every 10m`).
    #[schemars(regex(pattern = SCHEDULE_PATTERN))]
    pub schedule: String,
    /// IANA time zone the cron fields are read in (`Europe/Paris`).
    #[serde(default = "default_time_zone")]
    #[schemars(length(min = 1))]
    pub time_zone: String,
    /// The application each run creates.
    pub template: SparkApplicationSpec,
    /// Create no new runs while true.
    #[serde(default)]
    pub suspend: bool,
    /// What to do when a run is due while the previous one still runs.
    #[serde(default)]
    pub concurrency_policy: ConcurrencyPolicy,
    /// Finished successful runs to keep.
    #[serde(default = "default_history_limit")]
    #[schemars(range(min = 0))]
    pub successful_run_history_limit: i32,
    /// Finished failed runs to keep.
    #[serde(default = "default_history_limit")]
    #[schemars(range(min = 0))]
    pub failed_run_history_limit: i32,
}

/// Overlapping runs, as in a CronJob.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ConcurrencyPolicy {
    /// Start the new run beside the running one.
    #[default]
    Allow,
    /// Skip the new run.
    Forbid,
    /// Stop the running one and start the new one.
    Replace,
}

/// Runs made so far and the next one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledSparkApplicationStatus {
    /// Whether the schedule is valid and running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_state: Option<ScheduleState>,
    /// Why the schedule is not valid.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// When the last run was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<Time>,
    /// When the next run is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run: Option<Time>,
    /// Name of the last `SparkApplication` created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_name: Option<String>,
    /// Successful runs kept, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub past_successful_run_names: Vec<String>,
    /// Failed runs kept, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub past_failed_run_names: Vec<String>,
}

/// Whether a schedule is in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ScheduleState {
    /// Runs are created on schedule.
    Scheduled,
    /// The schedule or time zone cannot be read; see `reason`.
    FailedValidation,
}

fn default_time_zone() -> String {
    "UTC".to_string()
}

fn default_history_limit() -> i32 {
    1
}
