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
//! - this file: boot sequence, the [`TestCluster`] handle and test helpers.

pub mod certs;
pub mod procs;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, ServiceAccount};
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
                let booted = boot(&opts, &mut group, &mut lease);
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

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The folder holding the cached binaries, running install.sh if any is missing.
pub fn ensure_binaries() -> Result<PathBuf> {
    let dir = match std::env::var_os("KILN_TESTBIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let home = std::env::var_os("HOME").context("HOME is not set")?;
            PathBuf::from(home)
                .join(".cache/kiln-testbin")
                .join(K8S_VERSION)
        }
    };
    let names = [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kubectl",
        "helm",
    ];
    if names.iter().all(|n| dir.join(n).is_file()) {
        return Ok(dir);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("install.sh");
    eprintln!(
        "kiln-testcluster: binaries missing in {}; running {} (slow on first run)",
        dir.display(),
        script.display()
    );
    let st = std::process::Command::new("bash")
        .arg(&script)
        .stdout(std::process::Stdio::null())
        .status()
        .with_context(|| format!("running {}", script.display()))?;
    if !st.success() {
        bail!("{} failed ({st})", script.display());
    }
    if let Some(n) = names.iter().find(|n| !dir.join(n).is_file()) {
        bail!(
            "{} did not produce {n} in {}",
            script.display(),
            dir.display()
        );
    }
    Ok(dir)
}

fn find_next_to_exe(names: &[&str]) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let d = exe.parent()?;
    for dir in [Some(d), d.parent()].into_iter().flatten() {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Runs the boot sequence on the owner thread; started processes are added to
/// `group` so the caller stops them whatever happens.
fn boot(
    opts: &Options,
    group: &mut procs::Group,
    lease: &mut Option<procs::IpLease>,
) -> Result<Info> {
    let t0 = Instant::now();
    let bin_dir = ensure_binaries()?;
    if procs::which("openssl").is_none() {
        bail!("openssl is required to generate the test cluster's certificates (apt-get install openssl)");
    }
    let node_bin = match opts
        .node_bin
        .clone()
        .or_else(|| std::env::var_os("KILN_TESTNODE_BIN").map(PathBuf::from))
        .or_else(|| find_next_to_exe(&["kiln-testcluster-node", "kiln-testnode"]))
    {
        Some(b) => b,
        None => bail!(
            "kiln-testnode binary not found: build it (`cargo build -p kiln-testnode`) or set KILN_TESTNODE_BIN"
        ),
    };
    let parent = opts.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&parent)?;
    let dir = tempfile::Builder::new()
        .prefix("kiln-testcluster-")
        .tempdir_in(&parent)?
        .keep();
    let id = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    group.id = id.clone();
    procs::register_cluster(&id, &dir);
    let log_dir = dir.join("logs");
    std::fs::create_dir_all(&log_dir)?;
    group.log_dir = log_dir.clone();
    eprintln!("kiln-testcluster: starting in {}", dir.display());

    let pki = certs::generate(&dir.join("pki"))?;
    let etcd_port = free_port()?;
    let etcd_peer = free_port()?;
    let api_port = free_port()?;
    let kcm_port = free_port()?;
    let kubelet_port = free_port()?;
    let api_url = format!("https://127.0.0.1:{api_port}");

    // etcd
    let etcd_url = format!("http://127.0.0.1:{etcd_port}");
    let peer_url = format!("http://127.0.0.1:{etcd_peer}");
    group.spawn(
        "etcd",
        &bin_dir.join("etcd"),
        &[
            "--name=kiln",
            &format!("--data-dir={}", dir.join("etcd").display()),
            &format!("--listen-client-urls={etcd_url}"),
            &format!("--advertise-client-urls={etcd_url}"),
            &format!("--listen-peer-urls={peer_url}"),
            &format!("--initial-advertise-peer-urls={peer_url}"),
            &format!("--initial-cluster=kiln={peer_url}"),
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ],
        &log_dir,
    )?;
    procs::wait_http_ok(
        ("127.0.0.1", etcd_port),
        "/health",
        "\"health\":\"true\"",
        Duration::from_secs(30),
        group,
    )
    .context("etcd did not become healthy")?;

    // kube-apiserver
    let p = |f: &Path| f.display().to_string();
    group.spawn(
        "kube-apiserver",
        &bin_dir.join("kube-apiserver"),
        &[
            &format!("--etcd-servers={etcd_url}"),
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            &format!("--secure-port={api_port}"),
            &format!("--cert-dir={}", dir.join("apiserver-certs").display()),
            &format!("--tls-cert-file={}", p(&pki.apiserver_cert)),
            &format!("--tls-private-key-file={}", p(&pki.apiserver_key)),
            &format!("--client-ca-file={}", p(&pki.ca_cert)),
            &format!("--token-auth-file={}", p(&pki.token_file)),
            &format!("--service-account-key-file={}", p(&pki.sa_pub)),
            &format!("--service-account-signing-key-file={}", p(&pki.sa_key)),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--api-audiences=https://kubernetes.default.svc.cluster.local",
            // Only stored as Service data; nothing routes to this range.
            "--service-cluster-ip-range=10.96.0.0/16",
            "--authorization-mode=RBAC",
            "--allow-privileged=true",
            // The default reconciler refuses a loopback advertise address.
            "--endpoint-reconciler-type=none",
            &format!("--kubelet-certificate-authority={}", p(&pki.ca_cert)),
            "--kubelet-preferred-address-types=InternalIP",
            "--enable-priority-and-fairness=false",
            "--profiling=false",
            "--v=1",
        ],
        &log_dir,
    )?;
    let admin = dir.join("admin.kubeconfig");
    certs::write_kubeconfig(&admin, &api_url, &pki.ca_cert, &pki.admin_token, "admin")?;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let client = client_from(&admin).await?;
        wait_ready(&client, group, Duration::from_secs(90))
            .await
            .context("kube-apiserver did not become ready")?;
        anyhow::Ok(())
    })?;

    // kube-controller-manager
    group.spawn(
        "kube-controller-manager",
        &bin_dir.join("kube-controller-manager"),
        &[
            &format!("--kubeconfig={}", p(&admin)),
            &format!("--authentication-kubeconfig={}", p(&admin)),
            &format!("--authorization-kubeconfig={}", p(&admin)),
            "--bind-address=127.0.0.1",
            &format!("--secure-port={kcm_port}"),
            &format!("--cert-dir={}", dir.join("kcm-certs").display()),
            "--leader-elect=false",
            "--controllers=garbagecollector,serviceaccount-token,serviceaccount,namespace,root-ca-cert-publisher,replicaset,deployment,job,statefulset,ttl-after-finished,endpointslice",
            &format!("--service-account-private-key-file={}", p(&pki.sa_key)),
            &format!("--root-ca-file={}", p(&pki.ca_cert)),
            "--use-service-account-credentials=false",
            "--concurrent-gc-syncs=5",
            "--v=1",
        ],
        &log_dir,
    )?;
    rt.block_on(async {
        let client = client_from(&admin).await?;
        let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            group.check_alive()?;
            if matches!(sas.get_opt("default").await, Ok(Some(_))) {
                break;
            }
            if Instant::now() > deadline {
                bail!("kube-controller-manager did not create the default service account");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        anyhow::Ok(())
    })?;

    // CRDs
    let crds = opts
        .crds_dir
        .clone()
        .unwrap_or_else(|| workspace_root().join("crds"));
    install_crds(&bin_dir, &admin, &crds)?;

    // The process node.
    let l = procs::IpLease::acquire()?;
    let prefix = format!("127.{}", l.octet);
    *lease = Some(l);
    let mut images: Vec<String> = opts
        .images
        .iter()
        .map(|(k, v)| format!("{k}={}", v.display()))
        .collect();
    if let Ok(extra) = std::env::var("KILN_TESTNODE_IMAGES") {
        images.extend(
            extra
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        );
    }
    if !images.iter().any(|m| m.starts_with("kiln=")) {
        if let Some(k) = find_next_to_exe(&["kiln"]) {
            images.push(format!("kiln={}", k.display()));
        }
    }
    let node_root = dir.join("node");
    let node_name = "kiln-testnode".to_string();
    group.spawn(
        "node",
        &node_bin,
        &[
            &format!("--kubeconfig={}", p(&admin)),
            &format!("--name={node_name}"),
            &format!("--root={}", p(&node_root)),
            &format!("--pod-ip-prefix={prefix}"),
            &format!("--cpu={}", opts.node_cpu.as_deref().unwrap_or("8")),
            &format!("--memory={}", opts.node_memory.as_deref().unwrap_or("16Gi")),
            &format!("--kubelet-port={kubelet_port}"),
            &format!("--tls-cert={}", p(&pki.kubelet_cert)),
            &format!("--tls-key={}", p(&pki.kubelet_key)),
            &format!("--images={}", images.join(",")),
            &format!("--extra-path={}", p(&bin_dir)),
        ],
        &log_dir,
    )?;
    rt.block_on(async {
        let client = client_from(&admin).await?;
        let nodes: Api<Node> = Api::all(client);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            group.check_alive()?;
            let ready = nodes
                .get_opt(&node_name)
                .await
                .ok()
                .flatten()
                .is_some_and(|n| {
                    n.status
                        .and_then(|s| s.conditions)
                        .unwrap_or_default()
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
                });
            if ready {
                break;
            }
            if Instant::now() > deadline {
                bail!("the process node did not register");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        anyhow::Ok(())
    })?;
    eprintln!(
        "kiln-testcluster: ready in {:.1}s; KUBECONFIG={}",
        t0.elapsed().as_secs_f64(),
        admin.display()
    );
    Ok(Info {
        id,
        kubeconfig: admin,
        api_url,
        bin_dir,
        log_dir,
        node_root,
        node_name,
        pod_ip_prefix: prefix,
        dir,
    })
}

async fn wait_ready(
    client: &kube::Client,
    group: &mut procs::Group,
    timeout: Duration,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        group.check_alive()?;
        let req = http::Request::get("/readyz").body(Vec::new())?;
        if let Ok(body) = client.request_text(req).await {
            if body.trim() == "ok" {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `kubectl apply` every YAML file under `dir` and waits for the CRDs to be
/// established. No folder, or no YAML in it, is not an error.
pub fn install_crds(bin_dir: &Path, kubeconfig: &Path, dir: &Path) -> Result<()> {
    let has_yaml = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()).any(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.ends_with(".yaml") || n.ends_with(".yml")
            })
        })
        .unwrap_or(false);
    if !has_yaml {
        return Ok(());
    }
    let kubectl = bin_dir.join("kubectl");
    let out = std::process::Command::new(&kubectl)
        .env("KUBECONFIG", kubeconfig)
        .args(["apply", "--server-side", "-f"])
        .arg(dir)
        .output()?;
    if !out.status.success() {
        bail!(
            "installing CRDs from {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = std::process::Command::new(&kubectl)
        .env("KUBECONFIG", kubeconfig)
        .args([
            "wait",
            "--for=condition=Established",
            "crd",
            "--all",
            "--timeout=60s",
        ])
        .output()?;
    if !out.status.success() {
        bail!(
            "CRDs not established: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
