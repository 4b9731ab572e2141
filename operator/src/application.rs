//! The `SparkApplication` custom resource (`kiln.dev/v1alpha1`): one batch
//! job, its driver and executor pod settings, its retry policy, and the status
//! the operator and the driver write.
//!
//! Field names follow kubeflow's `sparkoperator.k8s.io/v1beta2` where the
//! meaning is the same. Everything the API server can check is in the schema
//! (types, enums, minimums, patterns, CEL rules across fields, defaults), so a
//! bad manifest is refused at `kubectl apply` time; there is no webhook.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, EnvFromSource, EnvVar, SecurityContext, Toleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::schema::{
    memory_rule, preserved_object, preserved_object_list, MAX_CORES, MAX_EXECUTORS, MAX_MEMORY_GIB,
    MEMORY_PATTERN,
};

/// What to run and how: the job's SQL, the image, driver and executor pods,
/// retries, clean-up and scaling.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "kiln.dev",
    version = "v1alpha1",
    kind = "SparkApplication",
    plural = "sparkapplications",
    shortname = "sparkapp",
    category = "kiln",
    namespaced,
    doc = "A Kiln batch job: SQL run by a driver pod and executor pods.",
    status = "SparkApplicationStatus",
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".status.applicationState.state"}"#,
    printcolumn = r#"{"name":"Executors","type":"string","description":"ready/requested executors","jsonPath":".status.executors.summary"}"#,
    printcolumn = r#"{"name":"Progress","type":"string","description":"stages done/total","jsonPath":".status.progress.summary"}"#,
    printcolumn = r#"{"name":"Attempts","type":"integer","jsonPath":".status.executionAttempts"}"#,
    printcolumn = r#"{"name":"Start","type":"date","jsonPath":".status.lastSubmissionAttemptTime"}"#,
    printcolumn = r#"{"name":"Finish","type":"date","jsonPath":".status.terminationTime"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "(has(self.type) && self.type != 'SQL') || has(self.sql) != has(self.mainApplicationFile)",
        "message": "set exactly one of sql and mainApplicationFile",
        "fieldPath": ".sql",
        "reason": "FieldValueInvalid",
    },
    {
        "rule": "!has(self.type) || self.type != 'Python' || (!has(self.sql) && has(self.python) != has(self.mainApplicationFile))",
        "message": "a Python application needs exactly one of mainApplicationFile and python, and no sql",
        "fieldPath": ".mainApplicationFile",
        "reason": "FieldValueInvalid",
    },
    {
        "rule": "!has(self.type) || self.type != 'Connect' || (!has(self.sql) && !has(self.python) && !has(self.mainApplicationFile))",
        "message": "a Connect application takes no sql, python or mainApplicationFile",
        "fieldPath": ".type",
        "reason": "FieldValueInvalid",
    },
    {
        "rule": "!has(self.python) || (has(self.type) && self.type == 'Python')",
        "message": "python needs type Python",
        "fieldPath": ".python",
        "reason": "FieldValueInvalid",
    },
]))]
pub struct SparkApplicationSpec {
    /// What the driver runs: `SQL` statements (default), a `Python` (PySpark)
    /// script against the driver's own Spark Connect endpoint, or a
    /// long-running Spark `Connect` server.
    #[serde(rename = "type", default)]
    pub type_: ApplicationType,
    /// Image of the driver and executor pods; default: the image the operator runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Pull policy of that image (Kubernetes' default when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<ImagePullPolicy>,
    /// Names of Secrets in the namespace used to pull the image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<String>,
    /// The job's SQL inline. Exactly one of `sql` and `mainApplicationFile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub sql: Option<String>,
    /// A Python application's script inline (what `kiln submit` sends for a
    /// local `.py` file). Exactly one of `python` and `mainApplicationFile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub python: Option<String>,
    /// The job's file: a `.sql` file, or the `.py` script of a Python
    /// application (`local://` path in the image, or `s3://`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub main_application_file: Option<String>,
    /// Arguments of a Python application's script (`sys.argv[1:]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<String>,
    /// Engine settings, e.g. `spark.sql.shuffle.partitions: "8"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub conf: BTreeMap<String, String>,
    /// Kubeflow's name for engine settings, read too; `conf` wins on a clash.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub spark_conf: BTreeMap<String, String>,
    /// The driver pod.
    #[serde(default)]
    pub driver: DriverSpec,
    /// The executor pods.
    #[serde(default)]
    pub executor: ExecutorSpec,
    /// Volumes of the driver and executor pods (Kubernetes `Volume` objects,
    /// checked by the API server when the pods are created).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "preserved_object_list")]
    pub volumes: Vec<Volume>,
    /// What happens when the application fails.
    #[serde(default)]
    pub restart_policy: RestartPolicy,
    /// Delete the application this many seconds after it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub time_to_live_seconds: Option<i64>,
    /// Stop the application (its pods are deleted) until set back to false.
    #[serde(default)]
    pub suspend: bool,
    /// Executors scaled between bounds on the driver's requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_allocation: Option<DynamicAllocation>,
    /// Prometheus scraping of the driver and executor pods (kubeflow's
    /// `spec.monitoring`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<Monitoring>,
}

/// Which pods Prometheus scrapes, in kubeflow's shape. Kiln serves its
/// metrics itself (no JMX exporter): the driver on its UI port's
/// `/metrics`, executors on `prometheus.port`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Monitoring {
    /// Annotate the driver pod for scraping (`prometheus.io/scrape`, `port`,
    /// `path`).
    #[serde(default)]
    pub expose_driver_metrics: bool,
    /// Annotate the executor pods for scraping.
    #[serde(default)]
    pub expose_executor_metrics: bool,
    /// Kubeflow's Spark metrics properties: accepted and not used (Kiln's
    /// metrics need no `metrics.properties`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_properties: Option<String>,
    /// Kubeflow's path of a metrics properties file: accepted and not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_properties_file: Option<String>,
    /// Where Prometheus scrapes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusSpec>,
}

/// Kubeflow's `monitoring.prometheus`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusSpec {
    /// Port of the executors' `/metrics` (default 8090, kubeflow's); the
    /// driver's metrics are on its UI port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
    /// Name of that container port (default `metrics`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 15))]
    pub port_name: Option<String>,
    /// Kubeflow's JMX exporter jar: accepted and not used (Kiln is not a JVM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jmx_exporter_jar: Option<String>,
    /// Kubeflow's JMX exporter configuration file: accepted and not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_file: Option<String>,
    /// Kubeflow's JMX exporter configuration: accepted and not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<String>,
}

/// What an application's driver runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ApplicationType {
    /// The SQL statements of `sql` or `mainApplicationFile`.
    #[default]
    #[serde(rename = "SQL")]
    Sql,
    /// A PySpark script, run in the driver pod against the driver's own
    /// Spark Connect endpoint (kubeflow's `type: Python`).
    Python,
    /// A Spark Connect server (port 15002 on the driver's Service) that runs
    /// until the application is deleted or suspended.
    Connect,
}

impl ApplicationType {
    /// The value as written in the manifest (`"Python"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ApplicationType::Sql => "SQL",
            ApplicationType::Python => "Python",
            ApplicationType::Connect => "Connect",
        }
    }
}

/// When the kubelet pulls the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ImagePullPolicy {
    /// Pull on every pod start.
    Always,
    /// Pull only when the node does not have the image.
    IfNotPresent,
    /// Never pull.
    Never,
}

impl ImagePullPolicy {
    /// The value Kubernetes expects in a container's `imagePullPolicy`.
    pub fn as_str(self) -> &'static str {
        match self {
            ImagePullPolicy::Always => "Always",
            ImagePullPolicy::IfNotPresent => "IfNotPresent",
            ImagePullPolicy::Never => "Never",
        }
    }
}

/// Settings both kinds of pod share.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodSettings {
    /// CPU cores (the driver's scheduler threads, an executor's task slots),
    /// at most 64 unless the chart raises `crds.limits.cores`.
    #[serde(default = "default_cores")]
    #[schemars(range(min = 1, max = MAX_CORES))]
    pub cores: i32,
    /// Memory, e.g. `1g`, `512m`, `2Gi`; at most 1024 GiB unless the chart
    /// raises `crds.limits.memoryGiB`.
    #[serde(default = "default_memory")]
    #[schemars(
        regex(pattern = MEMORY_PATTERN),
        length(max = 32),
        extend("x-kubernetes-validations" = [{
            "rule": memory_rule(),
            "message": format!("must be at most {MAX_MEMORY_GIB} GiB"),
            "reason": "FieldValueInvalid",
        }])
    )]
    pub memory: String,
    /// Labels added to the pod.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations added to the pod.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Environment variables of the container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// ConfigMaps and Secrets whose keys become environment variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromSource>,
    /// Service account of the pod (the driver's default: one the operator
    /// makes per application with only the rights the driver needs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// Node labels the pod must match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations of the pod.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Affinity of the pod (a Kubernetes `Affinity`, checked when the pod is created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserved_object")]
    pub affinity: Option<Affinity>,
    /// Mounts of `spec.volumes` into the container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeMount>,
    /// Security context of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContext>,
}

impl Default for PodSettings {
    fn default() -> Self {
        Self {
            cores: default_cores(),
            memory: default_memory(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            env: Vec::new(),
            env_from: Vec::new(),
            service_account: None,
            node_selector: BTreeMap::new(),
            tolerations: Vec::new(),
            affinity: None,
            volume_mounts: Vec::new(),
            security_context: None,
        }
    }
}

/// The driver pod.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriverSpec {
    /// Resources and pod settings.
    #[serde(flatten)]
    pub pod: PodSettings,
}

/// The executor pods.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutorSpec {
    /// Number of executors (the initial number with dynamic allocation), at
    /// most 1000 unless the chart raises `crds.limits.executors`.
    #[serde(default = "default_instances")]
    #[schemars(range(min = 1, max = MAX_EXECUTORS))]
    pub instances: i32,
    /// Resources and pod settings.
    #[serde(flatten)]
    pub pod: PodSettings,
}

impl Default for ExecutorSpec {
    fn default() -> Self {
        Self {
            instances: default_instances(),
            pod: PodSettings::default(),
        }
    }
}

/// Retries of a failed application, as in kubeflow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "self.type != 'Never' || (!has(self.onFailureRetries) && !has(self.onSubmissionFailureRetries))",
    "message": "retries need type OnFailure or Always",
    "fieldPath": ".type",
    "reason": "FieldValueInvalid",
}]))]
pub struct RestartPolicy {
    /// `Never`, `OnFailure` or `Always`.
    #[serde(rename = "type", default)]
    pub type_: RestartPolicyType,
    /// Retries after the job failed (OnFailure/Always).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub on_failure_retries: Option<i32>,
    /// Seconds between a failure and the next attempt (doubling per attempt).
    #[serde(default = "default_retry_interval")]
    #[schemars(range(min = 1))]
    pub on_failure_retry_interval: i64,
    /// Retries after the pods could not be created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub on_submission_failure_retries: Option<i32>,
    /// Seconds between a submission failure and the next attempt.
    #[serde(default = "default_retry_interval")]
    #[schemars(range(min = 1))]
    pub on_submission_failure_retry_interval: i64,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            type_: RestartPolicyType::Never,
            on_failure_retries: None,
            on_failure_retry_interval: default_retry_interval(),
            on_submission_failure_retries: None,
            on_submission_failure_retry_interval: default_retry_interval(),
        }
    }
}

/// When a finished application runs again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RestartPolicyType {
    /// A failure is final.
    #[default]
    Never,
    /// Retry failures, up to the retry counts.
    OnFailure,
    /// Run again after failures and after success.
    Always,
}

/// Executors between bounds, on the driver's requests.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!self.enabled || has(self.maxExecutors)",
        "message": "maxExecutors is required when dynamic allocation is enabled",
        "fieldPath": ".maxExecutors",
        "reason": "FieldValueRequired",
    },
    {
        "rule": "!has(self.maxExecutors) || self.minExecutors <= self.maxExecutors",
        "message": "minExecutors must not exceed maxExecutors",
        "fieldPath": ".minExecutors",
        "reason": "FieldValueInvalid",
    },
    {
        "rule": "!has(self.initialExecutors) || (self.initialExecutors >= self.minExecutors && (!has(self.maxExecutors) || self.initialExecutors <= self.maxExecutors))",
        "message": "initialExecutors must be between minExecutors and maxExecutors",
        "fieldPath": ".initialExecutors",
        "reason": "FieldValueInvalid",
    },
]))]
pub struct DynamicAllocation {
    /// Scale executors on the driver's requests.
    #[serde(default)]
    pub enabled: bool,
    /// Executors at start (default: `minExecutors`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = MAX_EXECUTORS))]
    pub initial_executors: Option<i32>,
    /// Fewest executors.
    #[serde(default)]
    #[schemars(range(min = 0, max = MAX_EXECUTORS))]
    pub min_executors: i32,
    /// Most executors (at most 1000 unless the chart raises
    /// `crds.limits.executors`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = MAX_EXECUTORS))]
    pub max_executors: Option<i32>,
}

/// What the operator and the driver report about an application.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SparkApplicationStatus {
    /// State and, when it failed, why.
    #[serde(default)]
    pub application_state: ApplicationState,
    /// Executor pod name -> its state.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub executor_state: BTreeMap<String, ExecutorState>,
    /// Attempts at running the job (1 for the first run).
    #[serde(default)]
    pub execution_attempts: i32,
    /// Attempts at creating the pods of the current run.
    #[serde(default)]
    pub submission_attempts: i32,
    /// When the current attempt was submitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_submission_attempt_time: Option<Time>,
    /// When the application finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_time: Option<Time>,
    /// Id of the current run (names its pods).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spark_application_id: Option<String>,
    /// The driver pod and how to reach it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_info: Option<DriverInfo>,
    /// Stages of the job done and in total, written by the driver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
    /// Executors ready and requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executors: Option<ExecutorCounts>,
    /// Executors the driver asks for under dynamic allocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub requested_executors: Option<i32>,
    /// Last lines of the driver's log, kept when it fails so the reason
    /// outlives the pod.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub driver_log_tail: Vec<String>,
    /// The `metadata.generation` the current run was started from (a newer
    /// one means the spec changed: the run is invalidated and restarted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The live UI of the current run through the driver's Service
    /// (`http://<service>.<namespace>.svc:4040/`), while the driver runs.
    #[serde(rename = "uiURL", default, skip_serializing_if = "Option::is_none")]
    pub ui_url: Option<String>,
    /// The current run in the history server the operator was told about
    /// (`--history-url`), which outlives the pods.
    #[serde(
        rename = "historyURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub history_url: Option<String>,
}

/// The state of an application and its error.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationState {
    /// Where the application is in its life.
    #[serde(default)]
    pub state: ApplicationStateType,
    /// Why it failed (the engine's message), empty otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error_message: String,
}

/// The states of an application: kubeflow spark-operator's machine.
///
/// NEW -> SUBMITTED -> RUNNING -> SUCCEEDING -> COMPLETED, or
/// RUNNING -> FAILING -> FAILED; SUBMISSION_FAILED when the pods could not be
/// made; PENDING_RERUN before a retry; INVALIDATING when the spec changed
/// while running; SUSPENDING/SUSPENDED/RESUMING for `spec.suspend`; UNKNOWN
/// when the driver pod cannot be found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApplicationStateType {
    /// Accepted, nothing created yet.
    #[default]
    New,
    /// Driver pod created.
    Submitted,
    /// Driver running.
    Running,
    /// Driver exited 0; clean-up in progress.
    Succeeding,
    /// Done, successfully.
    Completed,
    /// Driver failed; deciding whether to retry.
    Failing,
    /// Done, unsuccessfully.
    Failed,
    /// The pods could not be created.
    SubmissionFailed,
    /// Waiting for the next attempt.
    PendingRerun,
    /// The spec changed; the current run is being stopped.
    Invalidating,
    /// `suspend` was set; pods are being deleted.
    Suspending,
    /// Stopped by `suspend`.
    Suspended,
    /// `suspend` was cleared; starting again.
    Resuming,
    /// The driver's state cannot be read.
    Unknown,
}

impl ApplicationStateType {
    /// The state as written in the status (`"RUNNING"`).
    pub fn as_str(self) -> &'static str {
        use ApplicationStateType as S;
        match self {
            S::New => "NEW",
            S::Submitted => "SUBMITTED",
            S::Running => "RUNNING",
            S::Succeeding => "SUCCEEDING",
            S::Completed => "COMPLETED",
            S::Failing => "FAILING",
            S::Failed => "FAILED",
            S::SubmissionFailed => "SUBMISSION_FAILED",
            S::PendingRerun => "PENDING_RERUN",
            S::Invalidating => "INVALIDATING",
            S::Suspending => "SUSPENDING",
            S::Suspended => "SUSPENDED",
            S::Resuming => "RESUMING",
            S::Unknown => "UNKNOWN",
        }
    }

    /// True for COMPLETED and FAILED: nothing runs and nothing will unless
    /// the spec changes (or `restartPolicy: Always`).
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }
}

impl std::fmt::Display for ApplicationStateType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of one executor pod.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutorState {
    /// Created, not running yet.
    #[default]
    Pending,
    /// Running.
    Running,
    /// Exited 0.
    Completed,
    /// Exited non-zero or was lost.
    Failed,
    /// Its pod cannot be read.
    Unknown,
}

/// The driver pod and its addresses.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriverInfo {
    /// Name of the driver pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_name: Option<String>,
    /// Name of the driver's Service (UI and gRPC ports).
    #[serde(
        rename = "webUIServiceName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub web_ui_service_name: Option<String>,
    /// Port of the UI on that Service.
    #[serde(rename = "webUIPort", default, skip_serializing_if = "Option::is_none")]
    pub web_ui_port: Option<i32>,
    /// `host:port` of the UI through the Service.
    #[serde(
        rename = "webUIAddress",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub web_ui_address: Option<String>,
    /// The driver's gRPC URL executors connect to (the pod IP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// A Connect application's Spark Connect URL through the Service
    /// (`sc://<service>.<namespace>.svc:15002`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_address: Option<String>,
}

/// Stages done out of the job's total.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Stages finished.
    pub stages_done: i32,
    /// Stages in the job.
    pub stages_total: i32,
    /// `done/total`, for `kubectl get`.
    pub summary: String,
}

impl Progress {
    /// Progress with its `summary` filled in.
    pub fn new(stages_done: i32, stages_total: i32) -> Self {
        Self {
            stages_done,
            stages_total,
            summary: format!("{stages_done}/{stages_total}"),
        }
    }
}

/// Executors ready out of those requested.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutorCounts {
    /// Executor pods running and ready.
    pub ready: i32,
    /// Executor pods the operator wants.
    pub requested: i32,
    /// `ready/requested`, for `kubectl get`.
    pub summary: String,
}

impl ExecutorCounts {
    /// Counts with their `summary` filled in.
    pub fn new(ready: i32, requested: i32) -> Self {
        Self {
            ready,
            requested,
            summary: format!("{ready}/{requested}"),
        }
    }
}

fn default_cores() -> i32 {
    1
}

fn default_memory() -> String {
    "1g".to_string()
}

fn default_instances() -> i32 {
    1
}

fn default_retry_interval() -> i64 {
    5
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_match_their_serialized_form() {
        use ApplicationStateType as S;
        let all = [
            S::New,
            S::Submitted,
            S::Running,
            S::Succeeding,
            S::Completed,
            S::Failing,
            S::Failed,
            S::SubmissionFailed,
            S::PendingRerun,
            S::Invalidating,
            S::Suspending,
            S::Suspended,
            S::Resuming,
            S::Unknown,
        ];
        for s in all {
            assert_eq!(serde_json::to_value(s).ok(), Some(s.as_str().into()));
            let back: S = serde_json::from_value(s.as_str().into()).expect("parse");
            assert_eq!(back, s);
        }
        assert_eq!(S::SubmissionFailed.to_string(), "SUBMISSION_FAILED");
    }

    #[test]
    fn status_reads_kubeflow_spelling() {
        let status: SparkApplicationStatus = serde_json::from_value(serde_json::json!({
            "applicationState": {"state": "FAILED", "errorMessage": "table not found"},
            "driverInfo": {"podName": "a-driver", "webUIServiceName": "a-ui", "webUIPort": 4040},
            "executorState": {"a-exec-1": "RUNNING"},
            "executionAttempts": 3,
        }))
        .expect("status");
        assert_eq!(status.application_state.state, ApplicationStateType::Failed);
        assert_eq!(status.application_state.error_message, "table not found");
        let d = status.driver_info.expect("driverInfo");
        assert_eq!(d.web_ui_service_name.as_deref(), Some("a-ui"));
        assert_eq!(d.web_ui_port, Some(4040));
        assert_eq!(
            status.executor_state.get("a-exec-1"),
            Some(&ExecutorState::Running)
        );
        assert_eq!(status.execution_attempts, 3);
    }

    #[test]
    fn an_empty_spec_deserializes_to_the_schema_defaults() {
        let spec: SparkApplicationSpec =
            serde_json::from_value(serde_json::json!({"sql": "SELECT 1"})).expect("spec");
        assert_eq!(spec.executor.instances, 1);
        assert_eq!(spec.driver.pod.memory, "1g");
        assert_eq!(spec.restart_policy, RestartPolicy::default());
        assert_eq!(spec.restart_policy.type_, RestartPolicyType::Never);
        assert!(!spec.suspend);
        assert_eq!(Progress::new(2, 5).summary, "2/5");
        assert_eq!(ExecutorCounts::new(1, 3).summary, "1/3");
    }
}
