//! `kiln operator`: the Kubernetes controller for SparkApplications and
//! ScheduledSparkApplications. The flags are the contract with the Helm
//! chart's Deployment (`charts/kiln/templates/deployment.yaml`).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use kiln_operator::controller::history::HistoryOptions;
use kiln_operator::controller::{self, leader::LeaseConfig, OperatorOptions};

use crate::CliError;

/// Arguments of `kiln operator`.
#[derive(Debug, clap::Args)]
pub struct OperatorArgs {
    /// Namespaces to watch, comma-separated; empty: all namespaces.
    #[arg(long, value_delimiter = ',', default_value = "")]
    namespaces: Vec<String>,
    /// Act only while holding the leader Lease (for several replicas).
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    leader_elect: bool,
    /// Name of the Lease.
    #[arg(long, default_value = "kiln-operator-leader")]
    lease_name: String,
    /// Namespace of the Lease (default: $POD_NAMESPACE, else `default`).
    #[arg(long, env = "POD_NAMESPACE")]
    lease_namespace: Option<String>,
    /// Seconds a lease lasts without renewal (a standby takes over after that).
    #[arg(long, default_value_t = 15)]
    lease_duration: u64,
    /// This replica's name in the Lease and in Events (default: $POD_NAME, else host name and pid).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Log level: error, warn, info, debug, trace (RUST_LOG overrides).
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// Image of applications without `spec.image`.
    #[arg(long, alias = "default-image", default_value = concat!("ghcr.io/kiln-dev/kiln:", env!("CARGO_PKG_VERSION")))]
    default_app_image: String,
    /// IP the metrics and health endpoints listen on (the chart passes the pod IP).
    #[arg(long, default_value = "0.0.0.0")]
    bind_address: IpAddr,
    /// Port of `/metrics` (0: any free port; see --metrics-addr).
    #[arg(long, default_value_t = 8080)]
    metrics_port: u16,
    /// Port of `/healthz` and `/readyz`.
    #[arg(long, default_value_t = 8081)]
    health_port: u16,
    /// Full address of `/metrics`, overriding --bind-address/--metrics-port.
    #[arg(long)]
    metrics_addr: Option<SocketAddr>,
    /// Full address of `/healthz` and `/readyz`, overriding --bind-address/--health-port.
    #[arg(long)]
    health_addr: Option<SocketAddr>,
    /// Executor pods replaced per run after failures, at most.
    #[arg(long, default_value_t = 5)]
    max_executor_replacements: u32,
    /// Lines of a failed driver's log kept in the application's status.
    #[arg(long, default_value_t = 20)]
    driver_log_lines: usize,
    /// Seconds a driver pod may stay unstarted (unschedulable, image not
    /// pulled) before the submission counts as failed; 0: no limit. An
    /// application's `kiln.dev/submission-timeout` annotation overrides it.
    #[arg(long, default_value_t = 300)]
    submission_timeout: u64,
    /// `spark.eventLog.dir` of applications that set neither it nor
    /// `spark.eventLog.enabled` (a path, or `s3://bucket/prefix`); their
    /// event log is turned on there.
    #[arg(long)]
    event_log_dir: Option<String>,
    /// A PersistentVolumeClaim, in each application's namespace, mounted at
    /// --event-log-dir in driver pods.
    #[arg(long)]
    event_log_claim: Option<String>,
    /// Base URL of the history server reading --event-log-dir; each run's
    /// `status.historyURL` is `<url>/history/<run id>/`.
    #[arg(long)]
    history_url: Option<String>,
    /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or the pod's service account).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
}

fn default_identity() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "kiln-operator".into());
    format!("{host}-{}", std::process::id())
}

/// `kiln operator`.
pub async fn operator(args: OperatorArgs) -> Result<(), CliError> {
    let nonempty = |s: &Option<String>| s.clone().filter(|v| !v.trim().is_empty());
    let history = HistoryOptions {
        event_log_dir: nonempty(&args.event_log_dir),
        event_log_claim: nonempty(&args.event_log_claim),
        history_url: nonempty(&args.history_url),
    };
    history
        .validate()
        .map_err(|e| CliError::Input(e.to_string()))?;
    let config = controller::config(args.kubeconfig.as_deref())
        .await
        .map_err(|e| CliError::Failed(format!("cannot connect to Kubernetes: {e}")))?;
    let identity = args.identity.clone().unwrap_or_else(default_identity);
    let lease = args.leader_elect.then(|| LeaseConfig {
        name: args.lease_name.clone(),
        namespace: args
            .lease_namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".into()),
        identity: identity.clone(),
        duration: Duration::from_secs(args.lease_duration.max(1)),
    });
    let opts = OperatorOptions {
        namespaces: args
            .namespaces
            .iter()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect(),
        default_image: args.default_app_image.clone(),
        max_executor_replacements: args.max_executor_replacements,
        driver_log_lines: args.driver_log_lines.max(1),
        submission_timeout: (args.submission_timeout > 0)
            .then(|| Duration::from_secs(args.submission_timeout)),
        metrics_addr: Some(
            args.metrics_addr
                .unwrap_or_else(|| SocketAddr::new(args.bind_address, args.metrics_port)),
        ),
        health_addr: Some(
            args.health_addr
                .unwrap_or_else(|| SocketAddr::new(args.bind_address, args.health_port)),
        ),
        lease,
        identity,
        history,
    };
    controller::run(config, opts)
        .await
        .map_err(|e| CliError::Failed(e.to_string()))
}
