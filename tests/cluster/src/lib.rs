//! `kiln-testcluster`: a real Kubernetes control plane for tests, without Docker.
//!
//! [`TestCluster::start`] runs etcd, kube-apiserver and kube-controller-manager
//! (built by `tests/cluster/install.sh` from the Go module proxy, cached under
//! `~/.cache/kiln-testbin/<version>/`) on loopback with free ports and a private
//! temp folder, installs the project's CRDs from `crds/`, and starts the process
//! node (`kiln-testnode`) that runs pods as local processes. Dropping the
//! cluster (also while a test panics) stops everything; an `atexit` hook and
//! `PR_SET_PDEATHSIG` cover clusters that are never dropped (see [`shared`]).
//!
//! Modules:
//! - [`certs`]: CA, serving certs, service-account key and admin token (openssl CLI).
//! - [`procs`]: spawning tagged process groups, killing them, finding strays.
//! - `boot`: the cached binaries, the boot sequence and the CRDs.
//! - this file: the [`TestCluster`] handle and test helpers.

mod boot;
pub mod certs;
pub mod procs;

pub use boot::{ensure_binaries, install_crds};

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use kube::api::PostParams;
use kube::Api;

/// The Kubernetes release the binaries are built at (matches k8s-openapi's `v1_37`).
pub const K8S_VERSION: &str = "v1.37.2";

/// Options for [`TestCluster::start_with`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The process node binary; default: `KILN_TESTNODE_BIN`, then a
    /// `kiln-testcluster-node` or `kiln-testnode` next to the running executable
    /// (or its parent folder, for test binaries under `target/*/deps`).
    pub node_bin: Option<PathBuf>,
    /// Image substring -> local binary; `KILN_TESTNODE_IMAGES` entries and a
    /// `kiln` binary found next to the executable are added automatically.
    pub images: Vec<(String, PathBuf)>,
    /// Folder of CRD YAML; default: `<workspace>/crds` (skipped if absent).
    pub crds_dir: Option<PathBuf>,
    /// Node capacity; defaults 8 cores / 16Gi.
    pub node_cpu: Option<String>,
    pub node_memory: Option<String>,
    /// Parent of the cluster's temp folder (default: the system temp dir).
    pub work_dir: Option<PathBuf>,
}

/// Paths and addresses of a running cluster.
#[derive(Debug, Clone)]
pub struct Info {
    /// Unique id; every process of this cluster has `KILN_TESTCLUSTER_ID=<id>`.
    pub id: String,
    /// The cluster's private folder (certs, etcd data, logs, node root).
    pub dir: PathBuf,
    /// Admin kubeconfig (user `admin` in `system:masters`).
    pub kubeconfig: PathBuf,
    pub api_url: String,
    pub bin_dir: PathBuf,
    /// `<dir>/logs`: etcd.log, kube-apiserver.log, kube-controller-manager.log, node.log.
    pub log_dir: PathBuf,
    /// The node's folder; pods live in `<node_root>/pods/<ns>_<name>_<uid>/`.
    pub node_root: PathBuf,
    pub node_name: String,
    /// Pods get IPs `<pod_ip_prefix>.X.Y`.
    pub pod_ip_prefix: String,
}

/// A running control plane plus process node. Stops everything on drop.
pub struct TestCluster {
    info: Info,
    shutdown: Option<mpsc::Sender<()>>,
    owner: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for TestCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.info.fmt(f)
    }
}

/// One cluster per process, started on first use and stopped at process exit
/// (by the `atexit` hook). Tests that share it should each use their own
/// namespace. Panics if the cluster cannot start.
pub fn shared() -> &'static TestCluster {
    static SHARED: OnceLock<TestCluster> = OnceLock::new();
    SHARED.get_or_init(|| match TestCluster::start() {
        Ok(c) => c,
        Err(e) => panic!("kiln-testcluster: cannot start the shared cluster: {e:#}"),
    })
}

impl TestCluster {
    /// Starts a cluster with default options. Blocking; safe to call from
    /// inside a tokio runtime (the work happens on a dedicated thread).
    pub fn start() -> Result<Self> {
        Self::start_with(Options::default())
    }

    /// Starts a cluster; one retry covers a free port taken by another
    /// process between picking and binding it.
    pub fn start_with(opts: Options) -> Result<Self> {
        match Self::start_once(opts.clone()) {
            Ok(c) => Ok(c),
            Err(e) => {
                eprintln!("kiln-testcluster: start failed ({e:#}); retrying once");
                Self::start_once(opts)
            }
        }
    }

    fn start_once(opts: Options) -> Result<Self> {
        procs::install_exit_hook();
        let (info_tx, info_rx) = mpsc::channel::<Result<Info>>();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        // Why a dedicated thread that lives as long as the cluster: children
        // get PR_SET_PDEATHSIG, which fires when the *thread* that spawned
        // them exits, so it must not be a short-lived test or tokio thread.
        let owner = std::thread::Builder::new()
            .name("kiln-testcluster".into())
            .spawn(move || {
                let mut group = procs::Group::default();
                let mut lease = None;
                let booted = boot::boot(&opts, &mut group, &mut lease);
                let ok = booted.is_ok();
                let dir = booted.as_ref().ok().map(|i| i.dir.clone());
                let _ = info_tx.send(booted);
                if ok {
                    // Runs until the handle is dropped (or forever for the
                    // shared cluster, which the exit hook cleans up).
                    let _ = stop_rx.recv();
                }
                group.stop_all();
                drop(lease);
                if let Some(d) = dir {
                    if std::env::var_os("KILN_KEEP_TESTCLUSTER").is_none() {
                        let _ = std::fs::remove_dir_all(d);
                    }
                }
            })?;
        match info_rx.recv() {
            Ok(Ok(info)) => Ok(Self {
                info,
                shutdown: Some(stop_tx),
                owner: Some(owner),
            }),
            Ok(Err(e)) => {
                let _ = owner.join();
                Err(e)
            }
            Err(_) => {
                let _ = owner.join();
                bail!("kiln-testcluster owner thread died during start")
            }
        }
    }

    pub fn info(&self) -> &Info {
        &self.info
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.info.kubeconfig
    }

    /// A new client for the admin user. Create one per tokio runtime (a
    /// client is tied to the runtime it was made in).
    pub async fn client(&self) -> Result<kube::Client> {
        client_from(&self.info.kubeconfig).await
    }

    /// `kubectl` from the cached binaries, pointed at this cluster.
    pub fn kubectl(&self) -> std::process::Command {
        let mut c = std::process::Command::new(self.info.bin_dir.join("kubectl"));
        c.env("KUBECONFIG", &self.info.kubeconfig);
        c
    }

    /// `helm` from the cached binaries, pointed at this cluster, with its
    /// cache/config/data folders inside the cluster folder.
    pub fn helm(&self) -> std::process::Command {
        let mut c = std::process::Command::new(self.info.bin_dir.join("helm"));
        let h = self.info.dir.join("helm");
        c.env("KUBECONFIG", &self.info.kubeconfig)
            .env("HELM_CACHE_HOME", h.join("cache"))
            .env("HELM_CONFIG_HOME", h.join("config"))
            .env("HELM_DATA_HOME", h.join("data"));
        c
    }

    /// Creates a namespace and waits until kube-controller-manager gave it its
    /// `default` service account (pods are rejected before that).
    pub async fn create_namespace(&self, client: &kube::Client, name: &str) -> Result<()> {
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}
        }))?;
        match Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
        let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), name);
        poll(Duration::from_secs(30), || async {
            Ok(sas.get_opt("default").await?.is_some())
        })
        .await
        .with_context(|| format!("namespace {name} never got its default service account"))
    }

    /// The folder of the newest pod `ns/name` on the node.
    pub fn pod_dir(&self, ns: &str, name: &str) -> Option<PathBuf> {
        let prefix = format!("{ns}_{name}_");
        std::fs::read_dir(self.info.node_root.join("pods"))
            .ok()?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
            .map(|e| e.path())
    }

    /// Log file of the current run of `container` in pod `ns/name`.
    pub fn container_log(&self, ns: &str, name: &str, container: &str) -> Option<String> {
        let dir = self.pod_dir(ns, name)?.join("logs").join(container);
        let newest = kiln_testnode::logs::newest_run(&dir)?;
        std::fs::read_to_string(dir.join(format!("{newest}.log"))).ok()
    }

    /// Test helper: SIGKILLs every process of pod `ns/name` at once, as if its
    /// machine died. The node then reports the exit (137) and applies the
    /// pod's restartPolicy. Returns how many container process groups were hit.
    pub fn kill_pod_processes(&self, ns: &str, name: &str) -> Result<usize> {
        let dir = self
            .pod_dir(ns, name)
            .with_context(|| format!("pod {ns}/{name} has no folder on the node"))?;
        kiln_testnode::pod::kill_pod_dir(&dir)
    }

    /// Processes still alive that belong to this cluster.
    pub fn processes(&self) -> Vec<i32> {
        procs::tagged(&self.info.id)
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        drop(self.shutdown.take());
        if let Some(t) = self.owner.take() {
            let _ = t.join();
        }
    }
}

/// Builds a client from a kubeconfig file.
pub async fn client_from(kubeconfig: &Path) -> Result<kube::Client> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    Ok(kube::Client::try_from(cfg)?)
}

/// Polls `f` every 200 ms until it returns `Ok(true)` or `timeout` passes;
/// errors count as "not yet".
pub async fn poll<F, Fut>(timeout: Duration, mut f: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let deadline = Instant::now() + timeout;
    let mut last_err = None;
    loop {
        match f().await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last_err = Some(e),
        }
        if Instant::now() > deadline {
            return match last_err {
                Some(e) => Err(e.context(format!("timed out after {timeout:?}"))),
                None => bail!("timed out after {timeout:?}"),
            };
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until pod `ns/name` satisfies `pred` and returns it.
pub async fn wait_pod(
    client: &kube::Client,
    ns: &str,
    name: &str,
    timeout: Duration,
    pred: impl Fn(&Pod) -> bool,
) -> Result<Pod> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let deadline = Instant::now() + timeout;
    loop {
        let p = api.get_opt(name).await?;
        if let Some(p) = &p {
            if pred(p) {
                return Ok(p.clone());
            }
        }
        if Instant::now() > deadline {
            bail!(
                "pod {ns}/{name} did not reach the expected state in {timeout:?}; last: {}",
                p.map(|p| serde_json::to_string(&p.status).unwrap_or_default())
                    .unwrap_or_else(|| "absent".into())
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs `cmd` (kubectl, helm, ...), failing the test with its output unless
/// it succeeds.
pub fn run(mut cmd: std::process::Command) -> std::process::Output {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A command's standard output as text.
pub fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The phase of a pod ("" if unknown).
pub fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}
