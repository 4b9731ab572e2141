//! Applications of every type run by the operator the Helm chart deploys
//! (`helm install` of `charts/kiln` with default values, once per test
//! binary), on the process node: a `type: Python` script that completes with
//! its output in `kiln logs`, one that fails with its traceback's last line
//! in the status, and a `type: Connect` server a PySpark client queries
//! until it is suspended. The interpreter of Python applications is the
//! pinned PySpark client's virtualenv, named by `spark.pyspark.python` (the
//! image sets `PYSPARK_PYTHON` instead).

mod common;
mod controller_support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{run, stdout, workspace};
use controller_support::{cluster, kiln, setup, state};
use k8s_openapi::api::core::v1::{Pod, Service};
use kiln_operator::SparkApplication;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};
use serde_json::{json, Value};

const RELEASE_NS: &str = "kiln-system";

/// Installs the chart once for the whole binary and waits for its operator
/// to hold the lease.
fn chart_installed() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let c = cluster();
        let mut install = c.helm();
        install
            .args(["install", "kiln"])
            .arg(workspace().join("charts/kiln"))
            .args([
                "-n",
                RELEASE_NS,
                "--create-namespace",
                "--wait",
                "--timeout",
                "120s",
            ]);
        run(install);
    });
}

/// The Python of the pinned PySpark client (installed by the project's
/// script on first use, cached outside the clone).
fn client_python() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let out = run({
            let mut c = Command::new("bash");
            c.arg(workspace().join("scripts/setup-pyspark.sh"))
                .arg("client");
            c
        });
        PathBuf::from(stdout(&out).lines().last().expect("venv path").trim()).join("bin/python")
    })
    .clone()
}

/// `kubectl apply -f` of one object.
fn apply(v: &Value) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("app.yaml");
    std::fs::write(&file, serde_yaml::to_string(v).expect("yaml")).expect("write");
    run({
        let mut k = cluster().kubectl();
        k.arg("apply").arg("-f").arg(&file);
        k
    });
}

/// Waits until application `ns/name` satisfies `pred`; panics with its
/// status and the chart operator's log after `timeout`.
async fn wait_for(
    client: &Client,
    ns: &str,
    name: &str,
    timeout: Duration,
    pred: impl Fn(&SparkApplication) -> bool,
) -> SparkApplication {
    let api: Api<SparkApplication> = Api::namespaced(client.clone(), ns);
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        if let Some(a) = api.get_opt(name).await.expect("get application") {
            let s = state(&a);
            if seen.last() != Some(&s) {
                seen.push(s);
            }
            if pred(&a) {
                return a;
            }
            if Instant::now() > deadline {
                panic!(
                    "{ns}/{name}: not there after {timeout:?}; states {seen:?}; status {}\noperator log:\n{}",
                    serde_json::to_string_pretty(&a.status).unwrap_or_default(),
                    operator_log(client).await
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn operator_log(client: &Client) -> String {
    let pods: Api<Pod> = Api::namespaced(client.clone(), RELEASE_NS);
    let list = pods
        .list(&ListParams::default().labels("app.kubernetes.io/component=operator"))
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    list.iter()
        .map(|p| {
            cluster()
                .container_log(RELEASE_NS, &p.name_any(), "operator")
                .unwrap_or_default()
        })
        .collect()
}

fn finished(a: &SparkApplication) -> bool {
    matches!(state(a).as_str(), "COMPLETED" | "FAILED")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_applications_complete_with_their_output_or_fail_with_the_traceback() {
    let ns = "py-apps";
    controller_support::crds_from_chart();
    let client = setup(ns).await;
    chart_installed();
    let python = client_python();

    // A script in "the image" (local://: on the process node, the host's
    // filesystem), with arguments.
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("counts.py");
    std::fs::write(
        &script,
        "import sys\n\
         from pyspark.sql import SparkSession\n\
         spark = SparkSession.builder.getOrCreate()\n\
         n = int(sys.argv[1])\n\
         rows = spark.range(n).selectExpr('id % 3 AS k').groupBy('k').count().orderBy('k').collect()\n\
         for r in rows:\n    print(f\"k={r['k']} count={r['count']}\")\n\
         print('label', sys.argv[2])\n",
    )
    .expect("write script");
    apply(&json!({
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "SparkApplication",
        "metadata": {"name": "py-counts", "namespace": ns},
        "spec": {
            "type": "Python",
            "mainApplicationFile": format!("local://{}", script.display()),
            "arguments": ["1000", "monthly"],
            "conf": {
                "spark.pyspark.python": python.display().to_string(),
                // Credentials: kept in the application's Secret only.
                "kiln.s3.accessKeyId": "AKIDKILNTEST",
                "kiln.s3.secretAccessKey": "not-a-real-key-7f3a",
            },
            "executor": {"instances": 2},
        },
    }));
    let app = wait_for(&client, ns, "py-counts", Duration::from_secs(180), finished).await;
    assert_eq!(
        state(&app),
        "COMPLETED",
        "{:#?}",
        app.status.as_ref().map(|s| &s.application_state)
    );
    let (ok, log, err) = kiln(&["logs", "py-counts", "-n", ns]);
    assert!(ok, "kiln logs failed: {err}");
    // 0..1000: 334 ids with id % 3 == 0, 333 each for 1 and 2.
    for want in [
        "k=0 count=334",
        "k=1 count=333",
        "k=2 count=333",
        "label monthly",
    ] {
        assert!(
            log.contains(want),
            "missing {want:?} in the driver log:\n{log}"
        );
    }

    // TLS by default: executors reached the driver over https with the
    // application's certificate, and the credentials are in the Secret
    // only (not in the job's ConfigMap, not in any log or pod spec).
    let address = app
        .status
        .as_ref()
        .and_then(|s| s.driver_info.as_ref())
        .and_then(|d| d.address.clone())
        .unwrap_or_default();
    assert!(address.starts_with("https://"), "{address}");
    let cm: k8s_openapi::api::core::v1::ConfigMap = Api::namespaced(client.clone(), ns)
        .get("py-counts-job")
        .await
        .expect("job ConfigMap");
    let cm_text = serde_json::to_string(&cm.data).expect("json");
    assert!(
        !cm_text.contains("not-a-real-key-7f3a") && !cm_text.contains("AKIDKILNTEST"),
        "{cm_text}"
    );
    assert!(cm_text.contains("kiln.ssl.enabled"), "{cm_text}");
    let secret: k8s_openapi::api::core::v1::Secret = Api::namespaced(client.clone(), ns)
        .get("py-counts-secret")
        .await
        .expect("application Secret");
    let data = secret.data.expect("secret data");
    assert_eq!(data["AWS_SECRET_ACCESS_KEY"].0, b"not-a-real-key-7f3a");
    assert!(
        data.contains_key("tls.crt") && data.contains_key("ca.crt") && data.contains_key("tls.key")
    );
    assert!(!log.contains("not-a-real-key-7f3a"));
    for p in Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels("kiln.dev/app=py-counts"))
        .await
        .expect("pods")
        .items
    {
        let text = serde_json::to_string(&p.spec).expect("json");
        assert!(!text.contains("not-a-real-key-7f3a"), "{text}");
        if p.labels().get("kiln.dev/role").map(String::as_str) == Some("executor") {
            assert!(text.contains("--driver=https://"), "{text}");
        }
    }

    // A failing script, submitted from this machine with `kiln submit
    // job.py` (inlined into spec.python), ends FAILED with the last line of
    // its traceback in the status.
    let bad = dir.path().join("bad-report.py");
    std::fs::write(
        &bad,
        "from pyspark.sql import SparkSession\n\
         spark = SparkSession.builder.getOrCreate()\n\
         if spark.range(5).count() == 5:\n    raise RuntimeError('monthly report: no rows for 2026-13')\n",
    )
    .expect("write script");
    let conf = format!("spark.pyspark.python={}", python.display());
    let (ok, out, err) = kiln(&[
        "submit",
        "-n",
        ns,
        "--executors",
        "1",
        "--conf",
        &conf,
        bad.to_str().expect("utf-8 path"),
    ]);
    assert!(!ok, "a failing script must fail kiln submit:\n{out}\n{err}");
    assert!(
        err.contains("RuntimeError: monthly report: no rows for 2026-13"),
        "kiln submit's error names the exception:\n{err}"
    );
    let app = wait_for(&client, ns, "bad-report", Duration::from_secs(30), finished).await;
    assert_eq!(state(&app), "FAILED");
    let message = app
        .status
        .as_ref()
        .map(|s| s.application_state.error_message.clone())
        .unwrap_or_default();
    assert!(
        message.contains("the Python script main.py failed (exit code 1): RuntimeError: monthly report: no rows for 2026-13"),
        "{message}"
    );
    assert_eq!(app.spec.type_.as_str(), "Python");
    assert!(app
        .spec
        .python
        .as_deref()
        .is_some_and(|p| p.contains("RuntimeError")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_application_serves_clients_until_it_is_suspended() {
    let ns = "connect-apps";
    controller_support::crds_from_chart();
    let client = setup(ns).await;
    chart_installed();
    let python = client_python();
    apply(&json!({
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "SparkApplication",
        "metadata": {"name": "notebook", "namespace": ns},
        "spec": {"type": "Connect", "executor": {"instances": 2}},
    }));
    let app = wait_for(&client, ns, "notebook", Duration::from_secs(120), |a| {
        state(a) == "RUNNING"
            && a.status
                .as_ref()
                .and_then(|s| s.executors.as_ref())
                .is_some_and(|e| e.ready == 2)
    })
    .await;
    let info = app
        .status
        .as_ref()
        .and_then(|s| s.driver_info.clone())
        .expect("driverInfo");
    let svc_name = info.web_ui_service_name.clone().expect("service");
    assert_eq!(
        info.connect_address.as_deref(),
        Some(format!("sc://{svc_name}.{ns}.svc:15002").as_str())
    );
    let svc: Service = Api::namespaced(client.clone(), ns)
        .get(&svc_name)
        .await
        .expect("service");
    let ports: Vec<i32> = svc
        .spec
        .and_then(|s| s.ports)
        .unwrap_or_default()
        .iter()
        .map(|p| p.port)
        .collect();
    assert!(ports.contains(&15002), "{ports:?}");
    let (ok, status, err) = kiln(&["status", "notebook", "-n", ns]);
    assert!(ok, "{err}");
    assert!(
        status.contains(&format!("Connect:    sc://{svc_name}.{ns}.svc:15002")),
        "{status}"
    );

    // The Service name resolves only inside a cluster; on the process node
    // the client talks to the driver pod's IP, the Service's endpoint.
    let pod: Pod = Api::namespaced(client.clone(), ns)
        .get(info.pod_name.as_deref().expect("driver pod"))
        .await
        .expect("driver pod");
    let ip = pod.status.and_then(|s| s.pod_ip).expect("pod IP");
    // (pyspark-client looks for a Spark installation under `python -c`: a file.)
    let dir = tempfile::tempdir().expect("tempdir");
    let client_py = dir.path().join("client.py");
    std::fs::write(
        &client_py,
        "from pyspark.sql import SparkSession\n\
         spark = SparkSession.builder.getOrCreate()\n\
         print('sum', spark.range(1, 101).selectExpr('sum(id) AS s').collect()[0]['s'])\n\
         spark.stop()\n",
    )
    .expect("write client");
    for round in 0..2 {
        let out = Command::new(&python)
            .arg(&client_py)
            .env("SPARK_REMOTE", format!("sc://{ip}:15002"))
            .output()
            .expect("run the PySpark client");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("sum 5050"),
            "client round {round}: {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Suspended: the server and its executors stop; nothing is left running.
    run({
        let mut k = cluster().kubectl();
        k.args([
            "patch",
            "sparkapp",
            "notebook",
            "-n",
            ns,
            "--type=merge",
            "-p",
            r#"{"spec":{"suspend":true}}"#,
        ]);
        k
    });
    wait_for(&client, ns, "notebook", Duration::from_secs(60), |a| {
        state(a) == "SUSPENDED"
    })
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !pods
        .list(&ListParams::default().labels("kiln.dev/app=notebook"))
        .await
        .expect("pods")
        .items
        .is_empty()
    {
        assert!(Instant::now() < deadline, "pods left after suspend");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Executor pods of application `app` in `ns`.
async fn executor_pods(client: &Client, ns: &str, app: &str) -> Vec<Pod> {
    Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(&format!("kiln.dev/app={app},kiln.dev/role=executor")))
        .await
        .expect("list executor pods")
        .items
}

fn pod_phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_allocation_adds_executors_for_wide_jobs_and_releases_idle_ones() {
    let ns = "dyn-apps";
    controller_support::crds_from_chart();
    let client = setup(ns).await;
    chart_installed();
    let python = client_python();
    // The script runs wide jobs until the test saw the executors added,
    // then stays idle until it saw them released, then runs one more job.
    // spark.sql.shuffle.partitions is not set: jobs are planned for the
    // most executors' slots.
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("waves.py");
    std::fs::write(
        &script,
        "import os, sys, time\n\
         from pyspark.sql import SparkSession\n\
         spark = SparkSession.builder.getOrCreate()\n\
         d = sys.argv[1]\n\
         while not os.path.exists(os.path.join(d, 'grown')):\n    \
             spark.range(0, 3000000).selectExpr('id % 7 AS k').groupBy('k').count().collect()\n\
         while not os.path.exists(os.path.join(d, 'shrunk')):\n    time.sleep(0.2)\n\
         rows = spark.range(0, 1000).selectExpr('id % 2 AS k').groupBy('k').count().orderBy('k').collect()\n\
         print('final', [(r['k'], r['count']) for r in rows])\n",
    )
    .expect("write script");
    apply(&json!({
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "SparkApplication",
        "metadata": {"name": "waves", "namespace": ns},
        "spec": {
            "type": "Python",
            "mainApplicationFile": format!("local://{}", script.display()),
            "arguments": [dir.path().display().to_string()],
            "conf": {
                "spark.pyspark.python": python.display().to_string(),
                "spark.dynamicAllocation.executorIdleTimeout": "2s",
            },
            "executor": {"instances": 1, "cores": 1},
            "dynamicAllocation": {"enabled": true, "initialExecutors": 1, "minExecutors": 1, "maxExecutors": 3},
        },
    }));
    let counts = |a: &SparkApplication| {
        a.status
            .as_ref()
            .and_then(|s| s.executors.as_ref())
            .map(|e| (e.ready, e.requested))
            .unwrap_or_default()
    };
    // Up: demand beyond one executor's slot made the driver ask for three.
    wait_for(&client, ns, "waves", Duration::from_secs(180), |a| {
        counts(a) == (3, 3) || finished(a)
    })
    .await;
    std::fs::write(dir.path().join("grown"), "").expect("marker");
    // Down: idle for 2 s with no shuffle output needed, two are released
    // (they exit 0) and not replaced; one (minExecutors) stays.
    let app = wait_for(&client, ns, "waves", Duration::from_secs(120), |a| {
        a.status.as_ref().and_then(|s| s.requested_executors) == Some(1) || finished(a)
    })
    .await;
    assert_eq!(state(&app), "RUNNING");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pods = executor_pods(&client, ns, "waves").await;
        let phases: Vec<&str> = pods.iter().map(pod_phase).collect();
        let released = phases.iter().filter(|p| **p == "Succeeded").count();
        let running = phases.iter().filter(|p| **p == "Running").count();
        if released == 2 && running == 1 {
            assert_eq!(
                pods.len(),
                3,
                "released executors were replaced: {phases:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "executors not released: {phases:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    std::fs::write(dir.path().join("shrunk"), "").expect("marker");
    let app = wait_for(&client, ns, "waves", Duration::from_secs(120), finished).await;
    assert_eq!(state(&app), "COMPLETED", "{:#?}", app.status);
    let (ok, log, err) = kiln(&["logs", "waves", "-n", ns]);
    assert!(ok, "{err}");
    assert!(log.contains("final [(0, 500), (1, 500)]"), "{log}");
    assert_eq!(log.matches("released: idle for 2s").count(), 2, "{log}");
    let events = controller_support::events(&client, ns, "waves").await;
    assert!(events.iter().any(|e| e.0 == "ExecutorsAdded"), "{events:?}");
    assert!(
        !events.iter().any(|e| e.0 == "ExecutorReplaced"),
        "{events:?}"
    );
}

/// The Python of the Airflow test venv (scripts/setup-airflow.sh: pinned
/// Airflow and apache-airflow-providers-cncf-kubernetes, cached).
fn airflow_python() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let out = run({
            let mut c = Command::new("bash");
            c.arg(workspace().join("scripts/setup-airflow.sh"));
            c
        });
        PathBuf::from(stdout(&out).lines().last().expect("venv path").trim()).join("bin/python")
    })
    .clone()
}

/// `operator/tests/airflow/run_task.py <args>` against the test cluster.
fn airflow_command(args: &[&str]) -> Command {
    static HOME: OnceLock<tempfile::TempDir> = OnceLock::new();
    let home = HOME.get_or_init(|| tempfile::tempdir().expect("AIRFLOW_HOME"));
    let mut c = Command::new(airflow_python());
    c.arg(workspace().join("operator/tests/airflow/run_task.py"))
        .args(args)
        .env("KUBECONFIG", cluster().kubeconfig())
        .env("AIRFLOW_HOME", home.path())
        .env("AIRFLOW__CORE__LOAD_EXAMPLES", "False");
    c
}

/// Runs a task to its end: (its output, the JSON outcome it printed last).
fn airflow(args: &[&str]) -> (String, Value) {
    let out = airflow_command(args)
        .output()
        .expect("run the Airflow task");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let outcome = String::from_utf8_lossy(&out.stdout)
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l).ok())
        .unwrap_or_else(|| panic!("no outcome from run_task.py {args:?}:\n{text}"));
    (text, outcome)
}

fn write_manifest(dir: &std::path::Path, file: &str, v: &Value) -> String {
    let path = dir.join(file);
    std::fs::write(&path, serde_yaml::to_string(v).expect("yaml")).expect("write manifest");
    path.display().to_string()
}

fn sql_app(name: &str, sql: &str) -> Value {
    json!({
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "SparkApplication",
        "metadata": {"name": name},
        "spec": {
            "sql": sql,
            "driver": {"cores": 1, "memory": "512m"},
            "executor": {"instances": 1},
        },
    })
}

const GOOD_SQL: &str = "SELECT v % 3 AS k, count(*) AS n FROM (SELECT unnest(range(1, 1001)) AS v) GROUP BY v % 3 ORDER BY k;";
const BAD_SQL: &str = "CREATE EXTERNAL TABLE missing STORED AS PARQUET LOCATION '/nonexistent-kiln-airflow/';\nSELECT count(*) FROM missing;";

async fn error_message(client: &Client, ns: &str, name: &str) -> String {
    let a = wait_for(client, ns, name, Duration::from_secs(60), finished).await;
    assert_eq!(state(&a), "FAILED");
    a.status
        .map(|s| s.application_state.error_message)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn airflow_runs_kiln_applications_with_the_kubernetes_provider() {
    let ns = "airflow-apps";
    controller_support::crds_from_chart();
    let client = setup(ns).await;
    chart_installed();
    let dir = tempfile::tempdir().expect("tempdir");

    // The example DAGs load in Airflow: the operator daily, the sensor variant.
    let examples = workspace().join("examples/airflow");
    let (text, dags) = airflow(&["dags", examples.to_str().expect("utf-8")]);
    assert_eq!(dags["ok"], true, "{text}");
    assert_eq!(dags["dags"]["kiln_monthly_revenue"]["schedule"], "@daily");
    assert_eq!(
        dags["dags"]["kiln_monthly_revenue"]["tasks"]["monthly_revenue"],
        "SparkKubernetesOperator"
    );
    assert_eq!(
        dags["dags"]["kiln_monthly_revenue_sensor"]["tasks"]["wait_for_monthly_revenue"],
        "SparkKubernetesSensor"
    );

    // SparkKubernetesOperator.execute(): a good application completes, the
    // task returns, and the driver's log is in the task's log.
    let good = write_manifest(dir.path(), "good.yaml", &sql_app("af-report", GOOD_SQL));
    let (text, outcome) = airflow(&["operator", &good, ns, "scheduled__2026-12-01", "1"]);
    assert_eq!(outcome["ok"], true, "{text}");
    let name = outcome["name"]
        .as_str()
        .expect("application name")
        .to_string();
    assert!(name.starts_with("af-report-"), "{name}");
    assert_eq!(outcome["pod"], format!("{name}-driver"));
    assert_eq!(outcome["xcom"]["pod_name"], format!("{name}-driver"));
    for row in ["k,n", "0,333", "1,334", "2,333"] {
        assert!(
            text.contains(row),
            "driver log line {row:?} not in the task log:\n{text}"
        );
    }
    let app = wait_for(&client, ns, &name, Duration::from_secs(30), finished).await;
    assert_eq!(state(&app), "COMPLETED");

    // kubectl finds Kiln's driver pods by Spark's labels and container name.
    let pods = stdout(&run({
        let mut k = cluster().kubectl();
        k.args([
            "get",
            "pods",
            "-l",
            "spark-role=driver",
            "-n",
            ns,
            "-o",
            "name",
        ]);
        k
    }));
    assert!(
        pods.lines().any(|l| l == format!("pod/{name}-driver")),
        "{pods}"
    );
    let log = stdout(&run({
        let mut k = cluster().kubectl();
        k.args([
            "logs",
            &format!("{name}-driver"),
            "-c",
            "spark-kubernetes-driver",
            "-n",
            ns,
        ]);
        k
    }));
    assert!(log.contains("0,333") && log.contains("2,333"), "{log}");

    // A failing application: execute() raises with Kiln's error message.
    let bad = write_manifest(dir.path(), "bad.yaml", &sql_app("af-broken", BAD_SQL));
    let (text, outcome) = airflow(&["operator", &bad, ns, "scheduled__2026-12-02", "1"]);
    assert_eq!(outcome["ok"], false, "{text}");
    let bad_name = outcome["name"].as_str().expect("name").to_string();
    let message = error_message(&client, ns, &bad_name).await;
    assert!(message.contains("nonexistent-kiln-airflow"), "{message}");
    let error = outcome["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("AirflowException") && error.contains(&message),
        "the task's exception does not carry Kiln's message {message:?}: {error}"
    );

    // SparkKubernetesSensor.poke(): completes on COMPLETED with the driver's
    // log attached, raises on FAILED.
    let mut sensed = sql_app("af-sensed", GOOD_SQL);
    sensed["metadata"]["namespace"] = json!(ns);
    apply(&sensed);
    let (text, outcome) = airflow(&["sensor", "af-sensed", ns]);
    assert_eq!(outcome["ok"], true, "{text}");
    assert!(text.contains("1,334"), "driver log not attached:\n{text}");
    let mut broken = sql_app("af-sensed-bad", BAD_SQL);
    broken["metadata"]["namespace"] = json!(ns);
    apply(&broken);
    let (text, outcome) = airflow(&["sensor", "af-sensed-bad", ns]);
    assert_eq!(outcome["ok"], false, "{text}");
    assert!(
        outcome["error"]
            .as_str()
            .is_some_and(|e| e.contains("Spark application failed with state: FAILED")),
        "{outcome}"
    );
    let message = error_message(&client, ns, "af-sensed-bad").await;
    assert!(
        text.contains(&message),
        "Kiln's error not in the sensor's log:\n{text}"
    );

    // Re-attach: the scheduler dies while the driver runs; the task's next
    // try finds the running driver by its labels instead of submitting again.
    let python = client_python();
    let script = dir.path().join("waits.py");
    std::fs::write(
        &script,
        "import os, sys, time\n\
         from pyspark.sql import SparkSession\n\
         spark = SparkSession.builder.getOrCreate()\n\
         while not os.path.exists(os.path.join(sys.argv[1], 'go')):\n    time.sleep(0.2)\n\
         print('rows', spark.range(0, 10).count())\n",
    )
    .expect("write script");
    let slow = write_manifest(
        dir.path(),
        "slow.yaml",
        &json!({
            "apiVersion": "kiln.dev/v1alpha1",
            "kind": "SparkApplication",
            "metadata": {"name": "af-slow"},
            "spec": {
                "type": "Python",
                "mainApplicationFile": format!("local://{}", script.display()),
                "arguments": [dir.path().display().to_string()],
                "conf": {"spark.pyspark.python": python.display().to_string()},
                "driver": {"cores": 1, "memory": "512m"},
                "executor": {"instances": 1},
            },
        }),
    );
    let first_log = std::fs::File::create(dir.path().join("first.log")).expect("log");
    let mut first = airflow_command(&["operator", &slow, ns, "manual__reattach", "1"])
        .stdout(first_log)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the first try");
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let selector =
        "spark-role=driver,dag_id=kiln_airflow_test,task_id=kiln_job,run_id=manual__reattach";
    let deadline = Instant::now() + Duration::from_secs(120);
    let driver = loop {
        let found = pods
            .list(&ListParams::default().labels(selector))
            .await
            .expect("list drivers")
            .items;
        if let Some(p) = found.into_iter().find(|p| pod_phase(p) == "Running") {
            break p;
        }
        assert!(
            Instant::now() < deadline,
            "the first try's driver never ran"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // The scheduler (and its task process) dies.
    let _ = first.kill();
    let _ = first.wait();
    let second_log = dir.path().join("second.log");
    let mut second = airflow_command(&["operator", &slow, ns, "manual__reattach", "2"])
        .stdout(std::fs::File::create(&second_log).expect("log"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the second try");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&second_log)
        .unwrap_or_default()
        .contains("Reattaching to it")
    {
        assert!(
            Instant::now() < deadline,
            "the second try did not re-attach:\n{}",
            std::fs::read_to_string(&second_log).unwrap_or_default()
        );
        if let Ok(Some(st)) = second.try_wait() {
            panic!(
                "the second try ended ({st}) without re-attaching:\n{}",
                std::fs::read_to_string(&second_log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    std::fs::write(dir.path().join("go"), "").expect("marker");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(st) = second.try_wait().expect("wait") {
            break st;
        }
        assert!(Instant::now() < deadline, "the second try did not finish");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let text = std::fs::read_to_string(&second_log).unwrap_or_default();
    assert!(status.success(), "{text}");
    assert!(
        text.contains("rows 10"),
        "the driver's log is not in the task log:\n{text}"
    );
    let outcome: Value = text
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("outcome");
    assert_eq!(outcome["pod"], driver.name_any());
    let apps: Api<SparkApplication> = Api::namespaced(client.clone(), ns);
    let slow_apps: Vec<String> = apps
        .list(&ListParams::default())
        .await
        .expect("applications")
        .items
        .into_iter()
        .map(|a| a.name_any())
        .filter(|n| n.starts_with("af-slow"))
        .collect();
    assert_eq!(
        slow_apps.len(),
        1,
        "a second application was submitted: {slow_apps:?}"
    );
    let now: Pod = pods.get(&driver.name_any()).await.expect("driver pod");
    assert_eq!(
        now.uid(),
        driver.uid(),
        "the same driver pod ran to the end"
    );
}
