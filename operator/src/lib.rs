//! Kiln's Kubernetes API: the `SparkApplication` and
//! `ScheduledSparkApplication` custom resources (`kiln.dev/v1alpha1`), their
//! schemas with the validation the API server enforces, and the CRD YAML
//! `kiln crdgen` writes; the controller behind `kiln operator`
//! ([`controller`]) and what a driver in a pod reports ([`driver_status`]).

pub mod application;
pub mod controller;
pub mod crdgen;
pub mod driver_status;
pub mod scheduled;
pub mod schema;

pub use application::{
    ApplicationState, ApplicationStateType, ApplicationType, DriverInfo, DriverSpec,
    DynamicAllocation, ExecutorCounts, ExecutorSpec, ExecutorState, ImagePullPolicy, PodSettings,
    Progress, RestartPolicy, RestartPolicyType, SparkApplication, SparkApplicationSpec,
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
