//! The controller behind `kiln operator`: it runs SparkApplications (driver
//! and executor pods, their Service, Secret, ConfigMap and RBAC, retries,
//! clean-up) and ScheduledSparkApplications (runs on a cron schedule).
//!
//! - [`run`]: serves metrics and health, takes the lease when asked, then
//!   runs one `kube::runtime::Controller` per watched namespace (or one for
//!   all) for each kind, with the pods, Services and ConfigMaps they own
//!   watched so a pod's change reconciles its application at once (Secrets
//!   are written, never read: the operator has no right to read them). The
//!   pod watch fills a store that reconciles read, next to the controller's
//!   own store of applications ([`cache`]); sharing a watch with the
//!   controller takes kube's `unstable-runtime` feature (`owns_stream`).
//! - [`reconcile`]: one application; [`executors`]: its executor pods;
//!   [`writes`]: the writes a later reconcile reads back; [`state`]: the state machine;
//!   [`resources`]: the objects; [`names`]: their names and labels;
//!   [`tls`]: the per-application certificate and credentials;
//!   [`observe`]: reading pods and logs; [`events`], [`metrics`], [`leader`];
//!   [`api_calls`]: the count of requests to the API server;
//!   [`history`]: the default event log and `status.historyURL`;
//!   [`monitoring`]: the UI port, `status.uiURL`, scrape annotations;
//!   [`scheduled`] and [`cron`]: ScheduledSparkApplications.

pub mod api_calls;
pub mod cache;
pub mod cron;
pub mod events;
pub mod executors;
pub mod history;
pub mod leader;
pub mod metrics;
pub mod monitoring;
pub mod names;
pub mod observe;
pub mod outcomes;
pub mod reconcile;
pub mod resources;
pub mod scheduled;
pub mod state;
pub mod tls;
pub mod writes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::{Api, Client, ResourceExt};
use tracing::{info, warn};

use crate::{ScheduledSparkApplication, SparkApplication};
use events::Events;
use metrics::Metrics;

/// Errors of a reconcile or of starting the operator.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// A call to the API server failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// An object could not be built from the spec.
    #[error("{0}")]
    Invalid(String),
    /// The metrics or health endpoint could not listen.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The client configuration from `kubeconfig`, else the usual places:
/// `$KUBECONFIG`, `~/.kube/config`, the pod's service account.
pub async fn config(kubeconfig: Option<&std::path::Path>) -> Result<kube::Config, ControllerError> {
    Ok(match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path).map_err(|e| {
                ControllerError::Invalid(format!("kubeconfig {}: {e}", path.display()))
            })?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .map_err(|e| {
                    ControllerError::Invalid(format!("kubeconfig {}: {e}", path.display()))
                })?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| ControllerError::Invalid(format!("no Kubernetes configuration: {e}")))?,
    })
}

/// How the operator runs.
#[derive(Debug, Clone)]
pub struct OperatorOptions {
    /// Namespaces to watch; empty: all.
    pub namespaces: Vec<String>,
    /// Image of applications without `spec.image`.
    pub default_image: String,
    /// Executor pods replaced per run after failures, at most.
    pub max_executor_replacements: u32,
    /// Lines of a failed driver's log kept in the status.
    pub driver_log_lines: usize,
    /// How long a driver pod may stay unstarted (pending, unschedulable,
    /// image missing) before its submission counts as failed; `None`: no
    /// limit. An application's `kiln.dev/submission-timeout` annotation
    /// overrides it.
    pub submission_timeout: Option<Duration>,
    /// `/metrics` address (`None`: not served).
    pub metrics_addr: Option<SocketAddr>,
    /// `/healthz` and `/readyz` address (`None`: not served; may equal the metrics one).
    pub health_addr: Option<SocketAddr>,
    /// Leader election; `None`: act at once, alone.
    pub lease: Option<leader::LeaseConfig>,
    /// This instance's name in events and the lease.
    pub identity: String,
    /// The event log applications get by default and the history server
    /// that reads it.
    pub history: history::HistoryOptions,
}

/// What every reconcile needs.
pub struct Context {
    /// API client.
    pub client: Client,
    /// The options.
    pub opts: OperatorOptions,
    /// Event publisher.
    pub events: Events,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The stores of this context's controllers (one watched namespace, or all).
    pub cache: cache::Cache,
}

/// Runs the operator until a shutdown signal (SIGTERM/ctrl-c) or, with
/// leader election, until the lease is lost (the caller should exit then:
/// a restarted process comes back as a standby).
pub async fn run(config: kube::Config, opts: OperatorOptions) -> Result<(), ControllerError> {
    let metrics = Arc::new(Metrics::default());
    // Every request is counted (`kiln_operator_api_requests_total`).
    let client = kube::client::ClientBuilder::try_from(config)?
        .with_layer(&metrics.api_calls.layer())
        .build();
    let mut servers = Vec::new();
    let mut bound = Vec::new();
    for addr in [opts.metrics_addr, opts.health_addr].into_iter().flatten() {
        if bound.contains(&addr) {
            continue;
        }
        let (a, task) = metrics::serve(addr, metrics.clone())
            .await
            .map_err(|source| ControllerError::Listen { addr, source })?;
        info!("serving metrics and health on http://{a}");
        bound.push(addr);
        servers.push(task);
    }
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    if let Some(lease) = &opts.lease {
        // A standby is alive and ready: it is waiting, as it should.
        metrics.set_ready(true);
        tokio::select! {
            _ = leader::acquire(&client, lease) => {}
            _ = &mut shutdown => {
                info!("shutting down before acquiring the lease");
                return Ok(());
            }
        }
        metrics.set_leader(true);
    }
    let events = Events::new(client.clone(), Some(opts.identity.clone()));
    let controllers = controllers(&client, &opts, &events, &metrics);
    metrics.set_ready(true);
    info!(namespaces = ?opts.namespaces, "operator running");
    let lost = async {
        match &opts.lease {
            Some(l) => leader::keep(client.clone(), l.clone()).await,
            None => std::future::pending::<()>().await,
        }
    };
    let outcome = tokio::select! {
        _ = controllers => Ok(()),
        _ = lost => Err(ControllerError::Invalid("lost the leader lease; exiting so a standby takes over".into())),
        _ = &mut shutdown => {
            info!("shutting down");
            Ok(())
        }
    };
    if let Some(l) = &opts.lease {
        if outcome.is_ok() {
            leader::release(&client, l).await;
        }
    }
    for s in servers {
        s.abort();
    }
    outcome
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Only the operator's own objects are watched (not every pod of the cluster).
fn owned_config() -> watcher::Config {
    watcher::Config::default().labels(&format!("{}={}", names::LABEL_MANAGED_BY, names::MANAGER))
}

fn api_in<K>(client: &Client, ns: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Every controller of the operator, as one future that ends when they all do.
async fn controllers(
    client: &Client,
    opts: &OperatorOptions,
    events: &Events,
    metrics: &Arc<Metrics>,
) {
    let mut all = Vec::new();
    let scopes: Vec<Option<String>> = if opts.namespaces.is_empty() {
        vec![None]
    } else {
        opts.namespaces.iter().cloned().map(Some).collect()
    };
    for ns in scopes {
        let ns = ns.as_deref();
        let apps = api_in::<SparkApplication>(client, ns);
        let controller = Controller::new(apps, watcher::Config::default());
        // The pod watch triggers reconciles and keeps the store they read
        // (managed fields dropped: nothing reads them).
        let (pods, writer) = reflector::store::<Pod>();
        let pod_events = watcher(api_in::<Pod>(client, ns), owned_config())
            .default_backoff()
            .modify(|p| p.managed_fields_mut().clear())
            .reflect(writer)
            .touched_objects();
        let ctx = Arc::new(Context {
            client: client.clone(),
            opts: opts.clone(),
            events: events.clone(),
            metrics: metrics.clone(),
            cache: cache::Cache::new(controller.store(), pods),
        });
        let c = controller
            .owns_stream(pod_events)
            .owns(api_in::<Service>(client, ns), owned_config())
            .owns(api_in::<ConfigMap>(client, ns), owned_config())
            .run(reconcile::reconcile, reconcile::error_policy, ctx.clone())
            .for_each(|r| async move {
                if let Err(e) = r {
                    // Object-not-found after a deletion and the like; the
                    // reconcile errors themselves are logged by error_policy.
                    tracing::debug!("application controller: {e}");
                }
            });
        all.push(futures::FutureExt::boxed(c));
        let scheduled = api_in::<ScheduledSparkApplication>(client, ns);
        let runs = api_in::<SparkApplication>(client, ns);
        let s = Controller::new(scheduled, watcher::Config::default())
            .owns(
                runs,
                watcher::Config::default().labels(names::LABEL_SCHEDULED),
            )
            .run(scheduled::reconcile, scheduled::error_policy, ctx.clone())
            .for_each(|r| async move {
                if let Err(e) = r {
                    tracing::debug!("scheduled controller: {e}");
                }
            });
        all.push(futures::FutureExt::boxed(s));
    }
    futures::future::join_all(all).await;
    warn!("controllers stopped");
}

/// Patches the status of `name` from `old` to `new` with a merge patch of
/// the differences (nothing when equal), so fields others wrote since `old`
/// was read (the driver's progress) are left alone. Returns the object the
/// API server wrote, if it wrote.
pub(crate) async fn write_status<K, S>(
    api: &Api<K>,
    name: &str,
    old: &S,
    new: &S,
) -> Result<Option<K>, ControllerError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: serde::Serialize,
{
    let to_json =
        |s: &S| serde_json::to_value(s).map_err(|e| ControllerError::Invalid(e.to_string()));
    let Some(diff) = observe::merge_diff(&to_json(old)?, &to_json(new)?) else {
        return Ok(None);
    };
    let patch = serde_json::json!({ "status": diff });
    let written = api
        .patch_status(
            name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await?;
    Ok(Some(written))
}

/// Requeue soon after an error; the error is logged.
pub(crate) fn requeue_after_error(what: &str, e: &ControllerError) -> Action {
    warn!("{what}: {e}");
    Action::requeue(Duration::from_secs(2))
}
