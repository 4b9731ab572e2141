//! Starting a cluster: the cached Kubernetes binaries (built by
//! `install.sh` when missing), the boot sequence of etcd, kube-apiserver,
//! kube-controller-manager and the process node, and the CRDs.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use k8s_openapi::api::core::v1::{Node, ServiceAccount};
use kube::Api;

use crate::{certs, client_from, procs, Info, Options, K8S_VERSION};

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
pub(crate) fn boot(
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
