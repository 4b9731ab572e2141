//! What a driver running in a pod writes into its SparkApplication's status:
//! progress as stages done/total, and the executors it wants under dynamic
//! allocation; and the pod logs it reads to archive them at the end. It authenticates as the pod's service
//! account (`kube::Client::try_default`: `KUBECONFIG` when set, as on Kiln's
//! test node, else the in-cluster token), whose Role allows patching only
//! this application's status. Reporting is best effort: a failed write is
//! logged and the job goes on.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{LogParams, Patch, PatchParams};
use kube::{Api, Client};
use tracing::{debug, warn};

use crate::application::{Progress, SparkApplication};

/// Errors of connecting to the API server.
#[derive(Debug, thiserror::Error)]
pub enum ReporterError {
    /// No usable client configuration (no kubeconfig, not in a pod).
    #[error("cannot reach the Kubernetes API to report progress: {0}")]
    Client(#[from] kube::Error),
}

/// Writes progress into one application's status.
#[derive(Clone)]
pub struct StatusReporter {
    api: Api<SparkApplication>,
    pods: Api<Pod>,
    name: String,
}

impl StatusReporter {
    /// A reporter for application `name` in `namespace`.
    pub async fn connect(name: &str, namespace: &str) -> Result<Self, ReporterError> {
        let client = Client::try_default().await?;
        Ok(StatusReporter {
            pods: Api::namespaced(client.clone(), namespace),
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
        })
    }

    /// Writes `done`/`total` stages (a merge patch of `status.progress` only).
    pub async fn progress(&self, done: u64, total: u64) -> Result<(), kube::Error> {
        let total = total.max(done);
        let p = Progress::new(clamp(done), clamp(total));
        let patch = serde_json::json!({ "status": { "progress": p } });
        self.api
            .patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        debug!(done, total, "progress reported");
        Ok(())
    }

    /// Reports `counts()` every `every` while it changes, until the task is
    /// aborted; call [`StatusReporter::progress`] once more at the end.
    pub fn spawn_progress<F>(&self, every: Duration, counts: F) -> tokio::task::JoinHandle<()>
    where
        F: Fn() -> (u64, u64) + Send + 'static,
    {
        let me = self.clone();
        tokio::spawn(async move {
            let mut last = None;
            loop {
                let now = counts();
                if last != Some(now) {
                    match me.progress(now.0, now.1).await {
                        Ok(()) => last = Some(now),
                        Err(e) => warn!("cannot report progress: {e}"),
                    }
                }
                tokio::time::sleep(every).await;
            }
        })
    }
}

impl StatusReporter {
    /// Writes `status.requestedExecutors`: the executors the driver wants
    /// alive now (under `spec.dynamicAllocation`, the driver's allocation
    /// loop: Spark's rule, running plus waiting tasks over the task slots
    /// per executor, less the executors it released). The operator follows
    /// it up to `maxExecutors`.
    pub async fn request_executors(&self, executors: u64) -> Result<(), kube::Error> {
        let patch = serde_json::json!({ "status": { "requestedExecutors": clamp(executors) } });
        self.api
            .patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        debug!(executors, "executors requested");
        Ok(())
    }
}

impl StatusReporter {
    /// The log of `container` of pod `pod` in the application's namespace
    /// (the driver's Role may read pod logs there, nothing else of pods):
    /// what the driver archives next to its event log at the end.
    pub async fn pod_log(&self, pod: &str, container: &str) -> Result<String, kube::Error> {
        let params = LogParams {
            container: Some(container.to_string()),
            ..LogParams::default()
        };
        self.pods.logs(pod, &params).await
    }
}

fn clamp(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
