//! The user-facing commands for applications on Kubernetes: `kiln submit`,
//! `kiln status`, `kiln logs`, `kiln delete` and `kiln list`.
//!
//! Like kubectl, they only talk to the API server: the operator runs the
//! application; these commands create SparkApplications and read what the
//! operator and the driver write into their status (and the pods' logs).
//! This module owns the connection (kubeconfig, namespace), the errors and
//! their exit codes; the submodules own one concern each:
//!
//! - [`manifest`]: a manifest file turned into the object to apply
//!   (`apiVersion` rewriting, kubeflow-only fields, inlining a local SQL file);
//! - [`submit`]: server-side apply, then following the status with a bar;
//! - [`show`]: `status` and `list`, rendered from the object;
//! - [`logs`]: finding the driver or executor pod and streaming its log;
//! - [`archive`]: a finished run's archived logs, from the history server;
//! - `delete` is small enough to live here.

mod archive;
mod logs;
mod manifest;
mod show;
mod submit;

use std::path::PathBuf;

use kiln_operator::SparkApplication;
use kube::api::DeleteParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

use crate::CliError;

pub use logs::{logs, LogsArgs};
pub use show::{list, status, ListArgs, StatusArgs};
pub use submit::{submit, SubmitArgs};

/// Default log filter of these commands: the kube client's own error logs
/// are silenced because every failure is reported once, as the command's
/// error (`-v` shows them).
pub const LOG_FILTER: &str = "warn,kube_client=off,kube_runtime=off";

/// Field manager of `kiln submit`'s server-side apply.
pub const FIELD_MANAGER: &str = "kiln-cli";

/// Where the cluster is: flags shared by every command.
#[derive(Debug, Clone, clap::Args)]
pub struct KubeArgs {
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then the
    /// in-cluster service account).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Namespace (default: the manifest's for `submit`, then the kubeconfig
    /// context's).
    #[arg(long, short = 'n', value_name = "NS")]
    pub namespace: Option<String>,
}

/// Why a Kubernetes command failed.
#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    /// The manifest cannot be read or is not a SparkApplication (exit 2).
    #[error("{path}: {message}")]
    Manifest {
        /// The manifest file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Bad command-line input (exit 2).
    #[error("{0}")]
    Usage(String),
    /// No kubeconfig or in-cluster configuration.
    #[error("no Kubernetes configuration: {0} (set KUBECONFIG or pass --kubeconfig)")]
    NoConfig(String),
    /// The API server did not answer.
    #[error("cannot reach the Kubernetes API server at {server}: {message}")]
    Unreachable {
        /// Its URL.
        server: String,
        /// The innermost cause (e.g. connection refused).
        message: String,
    },
    /// No application of that name.
    #[error("SparkApplication \"{name}\" not found in namespace \"{namespace}\"")]
    NotFound {
        /// The name asked for.
        name: String,
        /// Where it was looked for.
        namespace: String,
    },
    /// The cluster does not serve `kiln.dev/v1alpha1` SparkApplications.
    #[error(
        "the cluster at {server} has no SparkApplication resource (kiln.dev/v1alpha1): install the chart (helm install kiln charts/kiln) or the CRDs (kubectl apply -f crds/)"
    )]
    NoCrd {
        /// The API server's URL.
        server: String,
    },
    /// The API server refused the request.
    #[error("{0}")]
    Api(String),
    /// The application ended unsuccessfully, or something else went wrong.
    #[error("{0}")]
    Failed(String),
}

impl From<K8sError> for CliError {
    fn from(e: K8sError) -> Self {
        match e {
            K8sError::Manifest { .. } | K8sError::Usage(_) => CliError::Input(e.to_string()),
            other => CliError::Failed(other.to_string()),
        }
    }
}

/// A connection to the cluster and the namespace commands act in.
pub struct Ctx {
    /// The client.
    pub client: Client,
    /// The namespace.
    pub namespace: String,
    /// The API server's URL, for messages.
    pub server: String,
}

impl Ctx {
    /// Loads the configuration (`--kubeconfig`, else the usual inference)
    /// and picks the namespace: `--namespace`, else `fallback_ns` (the
    /// manifest's), else the context's.
    pub async fn connect(args: &KubeArgs, fallback_ns: Option<&str>) -> Result<Self, K8sError> {
        let config = match &args.kubeconfig {
            Some(path) => {
                let kc = Kubeconfig::read_from(path).map_err(|e| {
                    K8sError::NoConfig(format!("cannot read {}: {e}", path.display()))
                })?;
                Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                    .await
                    .map_err(|e| K8sError::NoConfig(format!("{}: {e}", path.display())))?
            }
            None => Config::infer()
                .await
                .map_err(|e| K8sError::NoConfig(innermost(&e)))?,
        };
        let server = config.cluster_url.to_string();
        let server = server.trim_end_matches('/').to_string();
        let namespace = args
            .namespace
            .clone()
            .or_else(|| fallback_ns.map(str::to_string))
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = Client::try_from(config).map_err(|e| K8sError::Unreachable {
            server: server.clone(),
            message: innermost(&e),
        })?;
        Ok(Self {
            client,
            namespace,
            server,
        })
    }

    /// SparkApplications in the namespace.
    pub fn apps(&self) -> Api<SparkApplication> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Turns a failed call about application `name` (if any) into an error a
    /// user can act on.
    pub fn error(&self, e: kube::Error, name: Option<&str>) -> K8sError {
        match e {
            kube::Error::Api(s) => {
                // 404 for an unknown resource type, not an unknown object.
                let no_type =
                    s.code == 404 && s.message.contains("could not find the requested resource");
                if no_type {
                    K8sError::NoCrd {
                        server: self.server.clone(),
                    }
                } else if s.is_not_found() {
                    match name {
                        Some(n) => K8sError::NotFound {
                            name: n.to_string(),
                            namespace: self.namespace.clone(),
                        },
                        None => K8sError::Api(s.message),
                    }
                } else if s.message.is_empty() {
                    K8sError::Api(format!("the API server refused: {} {}", s.code, s.reason))
                } else {
                    K8sError::Api(s.message)
                }
            }
            kube::Error::SerdeError(e) => {
                K8sError::Failed(format!("unexpected answer from the API server: {e}"))
            }
            other => K8sError::Unreachable {
                server: self.server.clone(),
                message: innermost(&other),
            },
        }
    }

    /// The application `name`, or [`K8sError::NotFound`].
    pub async fn get_app(&self, name: &str) -> Result<SparkApplication, K8sError> {
        self.apps()
            .get(name)
            .await
            .map_err(|e| self.error(e, Some(name)))
    }
}

/// The deepest cause of an error: "Connection refused (os error 111)"
/// rather than a chain of wrappers.
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Arguments of `kiln delete`.
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// The application.
    pub name: String,
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// `kiln delete NAME`: deletes the application; Kubernetes' garbage
/// collector then removes every pod, Service, ConfigMap, Secret and RBAC
/// object it owns.
pub async fn delete(args: DeleteArgs) -> Result<(), CliError> {
    let ctx = Ctx::connect(&args.kube, None).await?;
    ctx.apps()
        .delete(&args.name, &DeleteParams::background())
        .await
        .map_err(|e| ctx.error(e, Some(&args.name)))?;
    println!(
        "sparkapplication \"{}\" deleted from namespace \"{}\"",
        args.name, ctx.namespace
    );
    Ok(())
}
