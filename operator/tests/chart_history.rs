//! Issue 13 on Kubernetes, end to end on the test control plane: `helm
//! install` of `charts/kiln` with `history.enabled` (event logs on a
//! PersistentVolumeClaim, served below the non-root base path an Ingress
//! routes) runs the operator and `kiln history` as pods of the process
//! node. An application with `spec.monitoring` completes; its status
//! carries `uiURL` and `historyURL`, its driver pod the scrape annotations,
//! the operator's `/metrics` its outcome under kubeflow's names. Then its
//! pods are deleted, and the history server still shows its stages and its
//! driver's and executors' logs (archived by the driver next to its event
//! log), and `kiln logs` prints the archived driver log.

mod common;
mod controller_support;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{run, workspace};
use controller_support::{cluster, kiln, setup, state, until};
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod, Secret, Service};
use kiln_operator::SparkApplication;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{json, Value};

const NS: &str = "kiln-hist";
const BASE: &str = "/kiln-history";
const APP: &str = "hist-count";
/// The driver's `spark.ui.port`.
const UI_PORT: u16 = 24040;

/// `GET url` with curl: (HTTP status, body).
fn http_get(url: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-w", "\n%{http_code}", url])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn get_json(url: &str) -> Value {
    let (code, body) = http_get(url);
    assert_eq!(code, 200, "GET {url}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: {e}: {body}"))
}

/// The one running pod selected by `labels`, and its IP.
async fn running_pod(client: &Client, labels: &str) -> (Pod, String) {
    let api: Api<Pod> = Api::namespaced(client.clone(), NS);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let pods = api
            .list(&ListParams::default().labels(labels))
            .await
            .expect("list pods")
            .items;
        if let [p] = pods.as_slice() {
            let st = p.status.clone().unwrap_or_default();
            if st.phase.as_deref() == Some("Running") {
                if let Some(ip) = st.pod_ip {
                    return (p.clone(), ip);
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "no running pod {labels} after 90 s: {:?}",
            pods.iter()
                .map(|p| (&p.metadata.name, &p.status))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A hostPath PersistentVolume on the node's disk and its claim, bound
/// statically (as an administrator binds pre-made volumes).
async fn event_log_claim(client: &Client, dir: &std::path::Path) {
    let pv: PersistentVolume = serde_json::from_value(json!({
        "metadata": {"name": "kiln-hist-events"},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteMany"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "hostPath": {"path": dir.display().to_string()},
            "claimRef": {"namespace": NS, "name": "kiln-events"},
        }
    }))
    .expect("pv");
    let pvc: PersistentVolumeClaim = serde_json::from_value(json!({
        "metadata": {"name": "kiln-events", "namespace": NS},
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "storageClassName": "",
            "volumeName": "kiln-hist-events",
            "resources": {"requests": {"storage": "1Gi"}},
        }
    }))
    .expect("pvc");
    Api::<PersistentVolume>::all(client.clone())
        .create(&PostParams::default(), &pv)
        .await
        .expect("create pv");
    Api::<PersistentVolumeClaim>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &pvc)
        .await
        .expect("create pvc");
}

/// Every path under `dir`, for failure messages.
fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        out.push(e.path().display().to_string());
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        }
    }
    out
}

/// Waits (up to 180 s) for application `name` to finish.
async fn finished(apps: &Api<SparkApplication>, name: &str) -> SparkApplication {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let a = apps.get(name).await.expect("get application");
        let s = state(&a);
        if s == "COMPLETED" || s == "FAILED" {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "{name} not finished after 180 s: {:#?}",
            a.status
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Deletes application `app`'s driver pod (the one a finished run keeps)
/// and waits until none of its pods is left.
async fn delete_pods(pods: &Api<Pod>, app: &str) {
    pods.delete(&format!("{app}-driver"), &DeleteParams::default())
        .await
        .expect("delete driver pod");
    until(
        "the application's pods to go",
        Duration::from_secs(60),
        || async {
            pods.list(&ListParams::default().labels(&format!("kiln.dev/app={app}")))
                .await
                .is_ok_and(|l| l.items.is_empty())
        },
    )
    .await;
}

/// A moto S3 server, killed when dropped.
struct Moto(std::process::Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the pinned moto server (scripts/setup-python.sh) on a free
/// loopback port with bucket `kiln-events`; its port.
fn moto_with_bucket() -> (Moto, u16) {
    let server = std::env::var("KILN_MOTO_SERVER")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            std::path::PathBuf::from(std::env::var("HOME").expect("HOME"))
                .join(".cache/kiln-venv/test-moto-5.2.5/bin/moto_server")
        });
    assert!(
        server.exists(),
        "{} missing: run scripts/setup-python.sh",
        server.display()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let moto = Moto(
        Command::new(server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start moto_server"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT"])
            .arg(format!("http://127.0.0.1:{port}/kiln-events"))
            .output()
            .expect("curl");
        if String::from_utf8_lossy(&out.stdout) == "200" {
            return (moto, port);
        }
        assert!(Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `history.eventLog.dir` on S3: `helm upgrade` points the history server
/// (credentials from a Secret) and the operator at `s3://kiln-events/logs`;
/// an application with its own S3 settings completes, its pods go, and the
/// history server (reading S3) still has its stages and archived logs.
async fn s3_history(client: &Client, apps: &Api<SparkApplication>) {
    let c = cluster();
    let (_moto, port) = moto_with_bucket();
    let endpoint = format!("http://127.0.0.1:{port}");
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "history-s3", "namespace": NS},
        "stringData": {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
    }))
    .expect("secret");
    Api::<Secret>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &secret)
        .await
        .expect("create secret");
    let mut upgrade = c.helm();
    upgrade
        .args(["upgrade", "kiln"])
        .arg(workspace().join("charts/kiln"))
        .args(["-n", NS])
        .args(["--set", "history.enabled=true"])
        .args(["--set", "history.eventLog.dir=s3://kiln-events/logs"])
        .args(["--set", &format!("history.basePath={BASE}")])
        .args([
            "--set",
            &format!("history.s3Conf.kiln\\.s3\\.endpoint={endpoint}"),
        ])
        .args(["--set", "history.s3Conf.kiln\\.s3\\.region=us-east-1"])
        .args(["--set", "history.s3CredentialsSecret=history-s3"])
        .args(["--wait", "--timeout", "120s"]);
    run(upgrade);
    // The new history pod (the old one is gone after --wait).
    let (_, hist_ip) = running_pod(client, "app.kubernetes.io/component=history").await;
    let hist = format!("http://{hist_ip}:18080{BASE}");
    let name = "hist-s3";
    let manifest = json!({
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "SparkApplication",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "sql": "SELECT v % 3 AS k, count(*) AS n FROM (SELECT unnest(range(1, 1001)) AS v) GROUP BY v % 3",
            "executor": {"instances": 1},
            "conf": {
                "spark.ui.port": (UI_PORT + 1).to_string(),
                "kiln.s3.endpoint": endpoint,
                "kiln.s3.region": "us-east-1",
                "kiln.s3.accessKeyId": "testing",
                "kiln.s3.secretAccessKey": "testing",
            },
        },
    });
    apps.create(
        &PostParams::default(),
        &serde_json::from_value(manifest).expect("app"),
    )
    .await
    .expect("create application");
    let app = finished(apps, name).await;
    let st = app.status.clone().expect("status");
    assert_eq!(state(&app), "COMPLETED", "{st:#?}");
    let app_id = st.spark_application_id.clone().expect("run id");
    assert_eq!(
        st.history_url.as_deref(),
        Some(format!("http://kiln-history.{NS}.svc:18080{BASE}/history/{app_id}/").as_str())
    );
    delete_pods(&Api::namespaced(client.clone(), NS), name).await;
    let (_, objects) = http_get(&format!("{endpoint}/kiln-events?list-type=2&prefix=logs/"));
    assert!(
        objects.contains(&format!("logs/eventlog_v2_{app_id}/")),
        "{objects}"
    );
    assert!(objects.contains("/logs/driver.log"), "{objects}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let stages = loop {
        let (code, body) = http_get(&format!("{hist}/api/v1/applications/{app_id}/stages"));
        if code == 200 {
            break serde_json::from_str::<Value>(&body).expect("stages");
        }
        assert!(Instant::now() < deadline, "history over S3: {code} {body}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let stages = stages.as_array().expect("stages");
    assert!(!stages.is_empty(), "{stages:?}");
    assert!(
        stages.iter().all(|s| s["status"] == "COMPLETE"),
        "{stages:?}"
    );
    let (code, log) = http_get(&format!("{hist}/history/{app_id}/logs/driver.log/raw"));
    assert_eq!(code, 200, "{log}");
    assert!(log.contains("driver listening on"), "{log}");
    apps.delete(name, &DeleteParams::default())
        .await
        .expect("delete app");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_installed_by_the_chart_outlives_the_pods() {
    controller_support::crds_from_chart();
    let c = cluster();
    let client = setup(NS).await;
    let events = tempfile::tempdir().expect("tempdir");
    event_log_claim(&client, events.path()).await;

    let mut install = c.helm();
    install
        .args(["install", "kiln"])
        .arg(workspace().join("charts/kiln"))
        .args(["-n", NS])
        .args(["--set", "history.enabled=true"])
        .args([
            "--set",
            "history.eventLog.persistentVolumeClaim=kiln-events",
        ])
        .args(["--set", &format!("history.basePath={BASE}")])
        .args(["--set", "history.ingress.enabled=true"])
        .args(["--wait", "--timeout", "120s"]);
    run(install);
    let (_, op_ip) = running_pod(&client, "app.kubernetes.io/component=operator").await;
    let (hist_pod, hist_ip) = running_pod(&client, "app.kubernetes.io/component=history").await;
    let hist = format!("http://{hist_ip}:18080{BASE}");

    // An application of two stages on two executors, its driver scraped.
    let out = tempfile::tempdir().expect("tempdir");
    let sql = format!(
        "COPY (SELECT v % 3 AS k, count(*) AS n FROM (SELECT unnest(range(1, 1001)) AS v) \
         GROUP BY v % 3) TO '{}/' STORED AS CSV;",
        out.path().display()
    );
    let manifest = json!({
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "SparkApplication",
        "metadata": {"name": APP, "namespace": NS},
        "spec": {
            "sql": sql,
            "executor": {"instances": 2},
            // The driver keeps its UI up a while after the job, so the
            // test reads it live.
            // (On its own port: pods of the process node share the host's
            // network, where another UI may hold 4040.)
            "conf": {"kiln.ui.retainAfterEnd": "10s", "spark.ui.port": UI_PORT.to_string()},
            "monitoring": {"exposeDriverMetrics": true, "prometheus": {"port": 8090}},
        },
    });
    let apps: Api<SparkApplication> = Api::namespaced(client.clone(), NS);
    apps.create(
        &PostParams::default(),
        &serde_json::from_value(manifest).expect("app"),
    )
    .await
    .expect("create application");

    // The live UI on the driver pod's IP and UI port (what the Service's
    // `ui` port and the scrape annotation point at), while the driver runs.
    let driver_pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = String::new();
    let (live_jobs, driver_metrics) = loop {
        let ip = driver_pods
            .get_opt(&format!("{APP}-driver"))
            .await
            .expect("get driver pod")
            .and_then(|p| p.status)
            .and_then(|s| s.pod_ip);
        if let Some(ip) = ip {
            let (code, jobs) = http_get(&format!(
                "http://{ip}:{UI_PORT}/api/v1/applications/{APP}-1/jobs"
            ));
            let done = code == 200
                && serde_json::from_str::<Value>(&jobs).is_ok_and(|v| {
                    v.as_array().is_some_and(|a| {
                        !a.is_empty() && a.iter().all(|j| j["status"] == "SUCCEEDED")
                    })
                });
            if done {
                break (jobs, http_get(&format!("http://{ip}:{UI_PORT}/metrics")));
            }
            last = format!(
                "{ip}: {code} {jobs}; applications: {:?}",
                http_get(&format!("http://{ip}:{UI_PORT}/api/v1/applications"))
            );
        }
        assert!(
            Instant::now() < deadline,
            "the driver's live UI did not show its finished jobs within 120 s: {last}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(driver_metrics.0, 200, "{}", driver_metrics.1);
    assert!(
        driver_metrics.1.contains("kiln_jobs_total{") && driver_metrics.1.ends_with("# EOF\n"),
        "{}",
        driver_metrics.1
    );
    let app = finished(&apps, APP).await;
    let st = app.status.clone().expect("status");
    assert_eq!(state(&app), "COMPLETED", "{st:#?}");
    let app_id = st.spark_application_id.clone().expect("run id");
    assert_eq!(
        st.ui_url.as_deref(),
        Some(format!("http://{APP}-ui-svc.{NS}.svc:4040/").as_str())
    );
    assert_eq!(
        st.history_url.as_deref(),
        Some(format!("http://kiln-history.{NS}.svc:18080{BASE}/history/{app_id}/").as_str())
    );
    let (ok, text, err) = kiln(&["status", APP, "-n", NS]);
    assert!(ok, "{err}");
    assert!(
        text.contains(&format!("UI:         http://{APP}-ui-svc.{NS}.svc:4040/")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "History:    http://kiln-history.{NS}.svc:18080{BASE}/history/{app_id}/"
        )),
        "{text}"
    );

    // The driver was annotated for scraping on its UI port, which the
    // Service's ui port targets.
    let driver = driver_pods
        .get(&format!("{APP}-driver"))
        .await
        .expect("driver pod");
    let ann = driver.annotations();
    assert_eq!(
        ann.get("prometheus.io/scrape").map(String::as_str),
        Some("true")
    );
    assert_eq!(
        ann.get("prometheus.io/port").map(String::as_str),
        Some(UI_PORT.to_string().as_str())
    );
    assert_eq!(
        ann.get("prometheus.io/path").map(String::as_str),
        Some("/metrics")
    );
    let svc: Service = Api::namespaced(client.clone(), NS)
        .get(&format!("{APP}-ui-svc"))
        .await
        .expect("service");
    let ports = serde_json::to_value(svc.spec.expect("spec").ports).expect("ports");
    assert!(
        ports
            .as_array()
            .expect("ports")
            .iter()
            .any(|p| p["name"] == "ui" && p["port"] == 4040 && p["targetPort"] == UI_PORT),
        "{ports}"
    );

    // The operator's outcome metrics, under kubeflow's names.
    let (code, metrics) = http_get(&format!("http://{op_ip}:8080/metrics"));
    assert_eq!(code, 200);
    for want in [
        format!("spark_application_count{{namespace=\"{NS}\"}} 1\n"),
        format!("spark_application_submit_count{{namespace=\"{NS}\"}} 1\n"),
        format!("spark_application_success_count{{namespace=\"{NS}\"}} 1\n"),
        format!("spark_application_success_execution_time_seconds_count{{namespace=\"{NS}\"}} 1\n"),
    ] {
        assert!(metrics.contains(&want), "missing {want:?} in\n{metrics}");
    }
    assert!(
        !metrics.contains("spark_application_failure_count{"),
        "{metrics}"
    );

    let driver_story = c
        .container_log(NS, &format!("{APP}-driver"), "spark-kubernetes-driver")
        .unwrap_or_default();
    // The pods go (the driver pod stays after a run; delete it too).
    delete_pods(&driver_pods, APP).await;

    // The history server lists the run and serves its stages.
    // (It lists the folder again at most every 2 s.)
    let listed_now = || {
        let listed = get_json(&format!("{hist}/api/v1/applications"));
        let found = listed
            .as_array()
            .expect("applications")
            .iter()
            .any(|a| a["id"] == app_id.as_str());
        (found, listed)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut found, mut listed) = listed_now();
    while !found && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        (found, listed) = listed_now();
    }
    assert!(
        found,
        "{listed}; event log folder: {:?}; driver log:\n{driver_story}\nhistory log:\n{}",
        walk(events.path()),
        c.container_log(NS, &hist_pod.name_any(), "history")
            .unwrap_or_default()
    );
    let api = format!("{hist}/api/v1/applications/{app_id}");
    // The history server answers the jobs as the live driver did.
    let history_jobs = get_json(&format!("{api}/jobs"));
    let live_jobs: Value = serde_json::from_str(&live_jobs).expect("live jobs");
    let key = |v: &Value| -> Vec<(Value, Value, Value)> {
        v.as_array()
            .expect("jobs")
            .iter()
            .map(|j| {
                (
                    j["jobId"].clone(),
                    j["status"].clone(),
                    j["numTasks"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(key(&history_jobs), key(&live_jobs));
    let stages = get_json(&format!("{api}/stages"));
    let stages = stages.as_array().expect("stages");
    assert!(stages.len() >= 2, "a shuffle makes two stages: {stages:?}");
    for s in stages {
        assert_eq!(s["status"], "COMPLETE", "{s}");
        assert!(s["numCompleteTasks"].as_u64().unwrap_or(0) > 0, "{s}");
    }
    let executors = get_json(&format!("{api}/allexecutors"));
    let exec_ids: Vec<String> = executors
        .as_array()
        .expect("executors")
        .iter()
        .filter_map(|e| e["id"].as_str().map(str::to_string))
        .filter(|id| id != "driver")
        .collect();
    assert_eq!(exec_ids.len(), 2, "{executors}");

    // Its pages keep the base path in every link.
    let (code, page) = http_get(&format!("{hist}/history/{app_id}/"));
    assert_eq!(code, 200, "{page}");
    let page = page.replace("&#x2f;", "/").replace("&amp;", "&");
    let hrefs: Vec<&str> = page
        .split("href=\"")
        .skip(1)
        .filter_map(|h| h.split('"').next())
        .filter(|h| !h.starts_with('#'))
        .collect();
    assert!(hrefs.len() > 3, "{page}");
    for href in hrefs {
        assert!(href.starts_with(BASE), "a link leaves {BASE}: {href}");
        let (code, body) = http_get(&format!("http://{hist_ip}:18080{href}"));
        assert_eq!(code, 200, "{href}: {body}");
    }

    // The driver's and the executors' logs, archived next to the event log.
    let (code, driver_log) = http_get(&format!("{hist}/history/{app_id}/logs/driver.log/raw"));
    assert_eq!(code, 200, "{driver_log}");
    assert!(driver_log.contains("driver listening on"), "{driver_log}");
    for id in &exec_ids {
        let (code, log) = http_get(&format!(
            "{hist}/history/{app_id}/logs/executor-{id}.log/raw"
        ));
        assert_eq!(code, 200, "executor {id}: {log}");
        assert!(
            log.contains(&format!("executor {id} serving on")),
            "executor {id}: {log}"
        );
        let (code, page) = http_get(&format!("{hist}/history/{app_id}/logs/executor-{id}.log"));
        assert_eq!(code, 200, "{page}");
    }
    let on_disk = std::fs::read_dir(events.path())
        .expect("event log folder")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect::<Vec<_>>();
    assert!(
        on_disk.contains(&format!("eventlog_v2_{app_id}")),
        "{on_disk:?}"
    );

    // `kiln logs` prints the archived driver log once the pods are gone
    // (through a port-forward-style URL: the Service name does not resolve
    // outside the cluster).
    let (ok, text, err) = kiln(&["logs", APP, "-n", NS, "--history-url", &hist]);
    assert!(ok, "{err}");
    assert!(text.contains("driver listening on"), "{text}");
    assert!(err.contains("archived"), "{err}");
    let (ok, text, err) = kiln(&[
        "logs",
        APP,
        "-n",
        NS,
        "--executor",
        &exec_ids[0],
        "--history-url",
        &hist,
        "--tail",
        "1",
    ]);
    assert!(ok, "{err}");
    assert_eq!(text.lines().count(), 1, "{text}");
    // Without a reachable history server it says where it looked.
    let (ok, _, err) = kiln(&["logs", APP, "-n", NS]);
    assert!(!ok);
    assert!(err.contains(&format!("kiln-history.{NS}.svc")), "{err}");

    // The same with the event logs on S3 (a moto server on loopback).
    s3_history(&client, &apps).await;

    // Clean up: the application, the release, the volume.
    apps.delete(APP, &DeleteParams::default())
        .await
        .expect("delete app");
    let mut h = c.helm();
    h.args(["uninstall", "kiln", "-n", NS, "--wait", "--timeout", "60s"]);
    run(h);
    let _ = Api::<PersistentVolumeClaim>::namespaced(client.clone(), NS)
        .delete("kiln-events", &DeleteParams::default())
        .await;
    let _ = Api::<PersistentVolume>::all(client.clone())
        .delete("kiln-hist-events", &DeleteParams::default())
        .await;
}
