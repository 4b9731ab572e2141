//! Helpers of the controller's integration tests: one test control plane per
//! test binary (with a node big enough for several applications at once),
//! the operator as a real `kiln operator` process watching a test's
//! namespace, and waiting on applications, pods and events.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::events::v1::Event;
use kiln_operator::SparkApplication;
use kiln_testcluster::{Options, TestCluster};
use kube::api::{ListParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::Value;

/// Longest wait for an application to finish.
pub const T: Duration = Duration::from_secs(120);

/// Set by test binaries that install the Helm chart: their cluster starts
/// without the repository's CRDs, which the chart then installs.
static CRDS_FROM_CHART: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes this binary's cluster start without CRDs (call before [`cluster`]).
pub fn crds_from_chart() {
    CRDS_FROM_CHART.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// The cluster of this test binary: 64 CPUs and 256 GiB on the node, so
/// the applications of tests running at once all fit.
pub fn cluster() -> &'static TestCluster {
    static C: OnceLock<TestCluster> = OnceLock::new();
    static NO_CRDS: OnceLock<tempfile::TempDir> = OnceLock::new();
    C.get_or_init(|| {
        let crds_dir = CRDS_FROM_CHART
            .load(std::sync::atomic::Ordering::SeqCst)
            .then(|| {
                NO_CRDS
                    .get_or_init(|| tempfile::tempdir().expect("tempdir"))
                    .path()
                    .to_path_buf()
            });
        let opts = Options {
            node_cpu: Some("64".into()),
            node_memory: Some("256Gi".into()),
            crds_dir,
            ..Options::default()
        };
        TestCluster::start_with(opts).unwrap_or_else(|e| panic!("test cluster: {e:#}"))
    })
}

/// The `kiln` binary cargo built next to the test binaries.
pub fn kiln_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    for _ in 0..2 {
        let p = dir.join("kiln");
        if p.is_file() {
            return p;
        }
        dir = dir.parent().expect("parent").to_path_buf();
    }
    panic!("target/<profile>/kiln not found: build the workspace first");
}

/// `kiln <args>` against the test cluster; (exit success, stdout, stderr).
pub fn kiln(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(kiln_bin())
        .args(args)
        .env("KUBECONFIG", cluster().kubeconfig())
        .output()
        .expect("run kiln");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A namespace for one test, and an admin client.
pub async fn setup(ns: &str) -> Client {
    let c = cluster();
    let client = c.client().await.expect("client");
    c.create_namespace(&client, ns).await.expect("namespace");
    client
}

/// A namespace, an admin client, an operator watching the namespace, and a
/// folder for the job's output.
pub async fn start(ns: &str) -> (Client, Operator, tempfile::TempDir) {
    let client = setup(ns).await;
    let op = Operator::start(ns, &[]);
    (client, op, tempfile::tempdir().expect("tempdir"))
}

/// A running `kiln operator` process; killed on drop.
pub struct Operator {
    child: Child,
    /// Its stderr (the log).
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Operator {
    /// Starts `kiln operator --namespaces=<ns> <extra...>` against the test cluster.
    pub fn start(ns: &str, extra: &[&str]) -> Operator {
        let c = cluster();
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("operator.log");
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(kiln_bin())
            .arg("operator")
            .arg(format!("--namespaces={ns}"))
            .args([
                "--bind-address=127.0.0.1",
                "--metrics-port=0",
                "--health-port=0",
                "--log-level=info,kube=warn",
            ])
            .args(extra)
            .env("KUBECONFIG", c.kubeconfig())
            // The harness's exit sweep kills whatever carries the cluster id.
            .env("KILN_TESTCLUSTER_ID", &c.info().id)
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start kiln operator");
        Operator {
            child,
            log,
            _dir: dir,
        }
    }

    /// Starts the operator serving `/metrics`, `/healthz` and `/readyz` on
    /// one free local port; returns it with that address.
    pub fn start_with_metrics(ns: &str) -> (Operator, String) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let op = Operator::start(
            ns,
            &[
                &format!("--metrics-addr={addr}"),
                &format!("--health-addr={addr}"),
            ],
        );
        (op, addr)
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILLs the process (a crash, no clean-up).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERMs the process and waits for it (a clean shutdown).
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A SparkApplication from JSON.
pub fn app(v: Value) -> SparkApplication {
    serde_json::from_value(v).expect("application json")
}

/// Creates an application.
pub async fn create(client: &Client, ns: &str, v: Value) -> SparkApplication {
    Api::<SparkApplication>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &app(v))
        .await
        .expect("create application")
}

/// The state of an application (`""` when it has no status yet).
pub fn state(a: &SparkApplication) -> String {
    a.status
        .as_ref()
        .map(|s| s.application_state.state.to_string())
        .unwrap_or_default()
}

/// Polls application `ns/name` until `pred` holds; returns it and every
/// state seen on the way, in order.
pub async fn wait_app(
    client: &Client,
    ns: &str,
    name: &str,
    timeout: Duration,
    pred: impl Fn(&SparkApplication) -> bool,
    op: &Operator,
) -> (SparkApplication, Vec<String>) {
    let api: Api<SparkApplication> = Api::namespaced(client.clone(), ns);
    let deadline = Instant::now() + timeout;
    let mut seen: Vec<String> = Vec::new();
    loop {
        let a = api.get_opt(name).await.expect("get application");
        if let Some(a) = &a {
            let s = state(a);
            if seen.last() != Some(&s) {
                seen.push(s);
            }
            if pred(a) {
                return (a.clone(), seen);
            }
        }
        if Instant::now() > deadline {
            panic!(
                "{ns}/{name} did not get there in {timeout:?}; states seen {seen:?}; last: {}\noperator log:\n{}",
                a.map(|a| serde_json::to_string_pretty(&a.status).unwrap_or_default())
                    .unwrap_or_else(|| "absent".into()),
                op.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the application is in `want`.
pub async fn wait_state(
    client: &Client,
    ns: &str,
    name: &str,
    want: &str,
    op: &Operator,
) -> (SparkApplication, Vec<String>) {
    wait_app(client, ns, name, T, |a| state(a) == want, op).await
}

/// Waits until the application is COMPLETED or FAILED.
pub async fn wait_finished(
    client: &Client,
    ns: &str,
    name: &str,
    op: &Operator,
) -> (SparkApplication, Vec<String>) {
    wait_app(
        client,
        ns,
        name,
        T,
        |a| matches!(state(a).as_str(), "COMPLETED" | "FAILED"),
        op,
    )
    .await
}

/// Events about object `name` in `ns`, oldest first: (reason, note).
pub async fn events(client: &Client, ns: &str, name: &str) -> Vec<(String, String, i64)> {
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    let mut out: Vec<(String, String, i64)> = api
        .list(&ListParams::default())
        .await
        .expect("list events")
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .map(|e| {
            let t = e
                .event_time
                .as_ref()
                .map(|t| t.0.as_microsecond())
                .unwrap_or(0);
            (e.reason.unwrap_or_default(), e.note.unwrap_or_default(), t)
        })
        .collect();
    out.sort_by_key(|e| e.2);
    out
}

/// Events about `name` once one with reason `reason` is among them. The
/// operator publishes a transition's Event after it writes the status, so a
/// test that saw the new state may list events a moment too early.
pub async fn events_with(
    client: &Client,
    ns: &str,
    name: &str,
    reason: &str,
) -> Vec<(String, String, i64)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ev = events(client, ns, name).await;
        if ev.iter().any(|e| e.0 == reason) || Instant::now() > deadline {
            return ev;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Pods of application `app` in `ns`.
pub async fn app_pods(client: &Client, ns: &str, app: &str) -> Vec<Pod> {
    Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(&format!("kiln.dev/app={app}")))
        .await
        .expect("list pods")
        .items
}

/// Pods of `app` with role `role` (`driver`/`executor`).
pub async fn role_pods(client: &Client, ns: &str, app: &str, role: &str) -> Vec<Pod> {
    app_pods(client, ns, app)
        .await
        .into_iter()
        .filter(|p| p.labels().get("kiln.dev/role").map(String::as_str) == Some(role))
        .collect()
}

/// The phase of a pod.
pub fn phase(p: &Pod) -> String {
    p.status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default()
}

/// Polls `f` every 200 ms until it returns true; panics with `what` after `timeout`.
pub async fn until<F, Fut>(what: &str, timeout: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Rows of every CSV file under `dir` (header lines dropped), sorted.
pub fn csv_rows(dir: &std::path::Path) -> Vec<String> {
    let mut rows = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "csv") {
                let text = std::fs::read_to_string(&p).expect("read csv");
                rows.extend(text.lines().skip(1).map(str::to_string));
            }
        }
    }
    rows.sort();
    rows
}

/// `GET path` on `addr`: (status line, body).
pub fn http_get(addr: &str, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

/// The operator's metrics at `addr`: each sample (`name{labels}`) and its value.
pub fn operator_metrics(addr: &str) -> std::collections::BTreeMap<String, f64> {
    let (status, body) = http_get(addr, "/metrics");
    assert!(status.contains("200"), "{status}");
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}
