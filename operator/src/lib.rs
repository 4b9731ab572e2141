//! Kiln's Kubernetes API: the `SparkApplication` and
//! `ScheduledSparkApplication` custom resources (`kiln.dev/v1alpha1`), their
//! schemas with the validation the API server enforces, and the CRD YAML
//! `kiln crdgen` writes. The controller that acts on them lives here too
//! once built.

pub mod application;
pub mod crdgen;
pub mod scheduled;
pub mod schema;

pub use application::{
    ApplicationState, ApplicationStateType, DriverInfo, DriverSpec, DynamicAllocation,
    ExecutorCounts, ExecutorSpec, ExecutorState, ImagePullPolicy, PodSettings, Progress,
    RestartPolicy, RestartPolicyType, SparkApplication, SparkApplicationSpec,
    SparkApplicationStatus,
};
pub use scheduled::{
    ConcurrencyPolicy, ScheduleState, ScheduledSparkApplication, ScheduledSparkApplicationSpec,
    ScheduledSparkApplicationStatus,
};

/// The API group of Kiln's resources.
pub const GROUP: &str = "kiln.dev";
/// The served and stored version.
pub const VERSION: &str = "v1alpha1";
