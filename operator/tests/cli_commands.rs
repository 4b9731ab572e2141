//! `kiln submit/status/logs/delete/list` against the real API server of the
//! test control plane, with the CRDs installed and no operator running: the
//! test plays the operator by patching the status subresource (what the
//! CLI renders) and by creating pods with the operator's labels (what
//! `kiln logs` reads). The `kiln` binary is the one `cargo build
//! --workspace` put next to this test (`KILN_BIN` overrides).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kiln_operator::{ApplicationStateType, SparkApplication};
use kiln_testcluster::{phase, wait_pod, TestCluster};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;

/// Longest a `kiln` process may run before the test gives up on it (a
/// guard against hanging, not a timing assertion).
const HANG_GUARD: Duration = Duration::from_secs(120);

fn cluster() -> &'static TestCluster {
    kiln_testcluster::shared()
}

/// The `kiln` binary of this build.
fn kiln_bin() -> PathBuf {
    if let Ok(p) = std::env::var("KILN_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable");
    let mut dir = exe.parent().expect("deps dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join("kiln");
    assert!(
        bin.exists(),
        "{} not found: build with `cargo build --workspace --all-targets`",
        bin.display()
    );
    bin
}

/// `kiln ARGS --kubeconfig <the test cluster's>`, with no ambient kubeconfig.
fn kiln(args: &[&str]) -> Command {
    let mut cmd = Command::new(kiln_bin());
    cmd.args(args)
        .arg("--kubeconfig")
        .arg(cluster().kubeconfig())
        .env_remove("KUBECONFIG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    cmd
}

fn output(mut cmd: Command) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kiln");
    wait_output(child)
}

/// Waits for `child`, killing it (and failing) if it hangs.
fn wait_output(mut child: Child) -> Output {
    let deadline = Instant::now() + HANG_GUARD;
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "kiln still running after {HANG_GUARD:?}:\n{}\n{}",
                text(&out.stdout),
                text(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `kiln ARGS`, asserting exit code `code`; returns (stdout, stderr).
fn expect_exit(args: &[&str], code: i32) -> (String, String) {
    let out = output(kiln(args));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(code),
        "kiln {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    (stdout, stderr)
}

/// A scratch folder for manifests.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-cli-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn write(dir: &Path, file: &str, body: &str) -> String {
    let p = dir.join(file);
    std::fs::write(&p, body).expect("write");
    p.display().to_string()
}

fn minimal(name: &str) -> String {
    format!(
        "apiVersion: kiln.dev/v1alpha1\nkind: SparkApplication\nmetadata:\n  name: {name}\nspec:\n  sql: SELECT 1\n  executor:\n    instances: 2\n"
    )
}

async fn setup(ns: &str) -> kube::Client {
    let c = cluster();
    let client = c.client().await.expect("client");
    c.create_namespace(&client, ns).await.expect("namespace");
    client
}

async fn patch_status(client: &kube::Client, ns: &str, name: &str, status: serde_json::Value) {
    let api: Api<SparkApplication> = Api::namespaced(client.clone(), ns);
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await
    .expect("patch status");
}

async fn wait_for_app(client: &kube::Client, ns: &str, name: &str) -> SparkApplication {
    let api: Api<SparkApplication> = Api::namespaced(client.clone(), ns);
    let deadline = Instant::now() + HANG_GUARD;
    loop {
        if let Some(a) = api.get_opt(name).await.expect("get") {
            return a;
        }
        assert!(Instant::now() < deadline, "{ns}/{name} never appeared");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn submit_detach_creates_the_application_with_the_local_sql_inlined() {
    let ns = "t-cli-submit";
    let client = setup(ns).await;
    let dir = scratch("submit");
    let sql = "SELECT l_returnflag, count(*) AS n\nFROM lineitem\nGROUP BY l_returnflag;\n";
    write(&dir, "report.sql", sql);
    let manifest = write(
        &dir,
        "report.yaml",
        "apiVersion: kiln.dev/v1alpha1\nkind: SparkApplication\nmetadata:\n  name: report\nspec:\n  mainApplicationFile: report.sql\n  conf:\n    spark.sql.shuffle.partitions: \"4\"\n  executor:\n    instances: 3\n    memory: 512m\n",
    );
    let (stdout, stderr) = expect_exit(&["submit", &manifest, "-n", ns, "--detach"], 0);
    assert!(
        stdout.contains("sparkapplication \"report\" created in namespace \"t-cli-submit\""),
        "{stdout}"
    );
    assert!(stderr.contains("inlined into spec.sql"), "{stderr}");

    let api: Api<SparkApplication> = Api::namespaced(client.clone(), ns);
    let app = api.get("report").await.expect("created");
    assert_eq!(app.spec.sql.as_deref(), Some(sql));
    assert_eq!(app.spec.main_application_file, None);
    assert_eq!(app.spec.executor.instances, 3);
    assert_eq!(app.spec.executor.pod.memory, "512m");
    assert_eq!(app.spec.conf["spark.sql.shuffle.partitions"], "4");
    // Schema defaults were filled in by the API server; no operator ran.
    assert_eq!(app.spec.driver.pod.cores, 1);
    assert!(app.status.is_none());
    let managers: Vec<String> = app
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(managers.iter().any(|m| m == "kiln-cli"), "{managers:?}");

    // Again, unchanged: nothing new.
    let (stdout, _) = expect_exit(&["submit", &manifest, "-n", ns, "--detach"], 0);
    assert!(stdout.contains("\"report\" unchanged"), "{stdout}");

    // A kubeflow manifest: apiVersion rewritten, kubeflow-only fields dropped.
    let kubeflow = write(
        &dir,
        "pi.yaml",
        "apiVersion: sparkoperator.k8s.io/v1beta2\nkind: SparkApplication\nmetadata:\n  name: from-kubeflow\nspec:\n  type: Scala\n  mode: cluster\n  sparkVersion: 3.5.0\n  sql: SELECT 2\n  sparkConf:\n    spark.sql.shuffle.partitions: \"2\"\n  driver:\n    cores: 1\n    coreLimit: 1200m\n    memory: 512m\n  executor:\n    instances: 1\n",
    );
    let (_, stderr) = expect_exit(&["submit", &kubeflow, "-n", ns, "--detach"], 0);
    assert!(
        stderr.contains("rewritten to kiln.dev/v1alpha1"),
        "{stderr}"
    );
    assert!(
        stderr.contains("spec.type, spec.mode, spec.sparkVersion, spec.driver.coreLimit"),
        "{stderr}"
    );
    let app = api.get("from-kubeflow").await.expect("created");
    assert_eq!(app.spec.sql.as_deref(), Some("SELECT 2"));
    assert_eq!(app.spec.spark_conf["spark.sql.shuffle.partitions"], "2");

    // The API server's refusal comes back naming the field (exit 2: bad input).
    let bad = write(
        &dir,
        "bad.yaml",
        "apiVersion: kiln.dev/v1alpha1\nkind: SparkApplication\nmetadata:\n  name: bad\nspec:\n  sql: SELECT 1\n  executor:\n    instances: -1\n",
    );
    let (_, stderr) = expect_exit(&["submit", &bad, "-n", ns, "--detach"], 2);
    assert!(stderr.contains("spec.executor.instances"), "{stderr}");
    // Unknown fields are refused too, as kubectl does.
    let typo = write(
        &dir,
        "typo.yaml",
        "apiVersion: kiln.dev/v1alpha1\nkind: SparkApplication\nmetadata:\n  name: typo\nspec:\n  sql: SELECT 1\n  executer:\n    instances: 1\n",
    );
    let (_, stderr) = expect_exit(&["submit", &typo, "-n", ns, "--detach"], 2);
    assert!(stderr.contains("executer"), "{stderr}");
    assert!(api.get_opt("typo").await.expect("get").is_none());

    // A namespace in the manifest that the flag contradicts.
    let elsewhere = write(
        &dir,
        "elsewhere.yaml",
        "apiVersion: kiln.dev/v1alpha1\nkind: SparkApplication\nmetadata:\n  name: q\n  namespace: other\nspec:\n  sql: SELECT 1\n",
    );
    let (_, stderr) = expect_exit(&["submit", &elsewhere, "-n", ns, "--detach"], 2);
    assert!(stderr.contains("--namespace"), "{stderr}");
}

#[tokio::test]
async fn status_and_list_show_what_the_operator_wrote() {
    let ns = "t-cli-status";
    let client = setup(ns).await;
    let dir = scratch("status");
    let manifest = write(&dir, "q7.yaml", &minimal("q7"));
    expect_exit(&["submit", &manifest, "-n", ns, "--detach"], 0);

    // Before any status: NEW, and says the operator has not seen it.
    let (stdout, _) = expect_exit(&["status", "q7", "-n", ns], 0);
    assert!(stdout.contains("State:      NEW"), "{stdout}");
    assert!(stdout.contains("not picked the application up"), "{stdout}");

    patch_status(
        &client,
        ns,
        "q7",
        json!({
            "applicationState": {"state": "RUNNING"},
            "executionAttempts": 2,
            "submissionAttempts": 1,
            "lastSubmissionAttemptTime": "2025-03-01T10:00:00Z",
            "sparkApplicationId": "q7-2",
            "driverInfo": {"podName": "q7-2-driver", "address": "http://127.9.0.4:7078",
                           "webUIServiceName": "q7-ui-svc", "webUIPort": 4040},
            "executors": {"ready": 1, "requested": 2, "summary": "1/2"},
            "executorState": {"q7-2-exec-1": "RUNNING", "q7-2-exec-2": "PENDING"},
            "progress": {"stagesDone": 3, "stagesTotal": 8, "summary": "3/8"},
        }),
    )
    .await;
    let (stdout, _) = expect_exit(&["status", "q7", "-n", ns], 0);
    for want in [
        "Name:       q7",
        "Namespace:  t-cli-status",
        "State:      RUNNING",
        "2 execution(s), 1 submission(s)",
        "Submitted:  2025-03-01T10:00:00Z",
        "Run id:     q7-2",
        "pod q7-2-driver, address http://127.9.0.4:7078, UI q7-ui-svc:4040",
        "Executors:  1 ready of 2 requested",
        "Progress:   3/8 stages",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in\n{stdout}");
    }
    let exec_line = stdout
        .lines()
        .find(|l| l.contains("q7-2-exec-2"))
        .unwrap_or_default();
    assert!(exec_line.ends_with("PENDING"), "{stdout}");

    let (stdout, _) = expect_exit(&["status", "q7", "-n", ns, "-o", "json"], 0);
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(v["status"]["applicationState"]["state"], "RUNNING");
    assert_eq!(v["status"]["progress"]["stagesTotal"], 8);
    assert_eq!(v["spec"]["sql"], "SELECT 1");
    assert!(v["metadata"].get("managedFields").is_none());
    let (stdout, _) = expect_exit(&["status", "q7", "-n", ns, "-o", "yaml"], 0);
    let v: serde_json::Value = serde_yaml::from_str(&stdout).expect("yaml");
    assert_eq!(v["status"]["executors"]["requested"], 2);

    // A second application, finished with an error.
    let manifest = write(&dir, "q8.yaml", &minimal("q8"));
    expect_exit(&["submit", &manifest, "-n", ns, "--detach"], 0);
    patch_status(
        &client,
        ns,
        "q8",
        json!({
            "applicationState": {"state": "FAILED", "errorMessage": "table nation not found"},
            "executionAttempts": 3,
            "terminationTime": "2025-03-01T10:05:00Z",
        }),
    )
    .await;
    let (stdout, _) = expect_exit(&["status", "q8", "-n", ns], 0);
    assert!(stdout.contains("State:      FAILED"), "{stdout}");
    assert!(
        stdout.contains("Error:      table nation not found"),
        "{stdout}"
    );

    let (stdout, _) = expect_exit(&["list", "-n", ns], 0);
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        ["NAME", "STATE", "EXECUTORS", "PROGRESS", "ATTEMPTS", "AGE"],
        "{stdout}"
    );
    assert_eq!(rows.len(), 3, "{stdout}");
    assert_eq!(
        rows[1][..5],
        ["q7", "RUNNING", "1/2", "3/8", "2"],
        "{stdout}"
    );
    assert_eq!(rows[2][..5], ["q8", "FAILED", "-", "-", "3"], "{stdout}");

    let (stdout, _) = expect_exit(&["list", "-A"], 0);
    let row = stdout
        .lines()
        .find(|l| l.contains(" q7 "))
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>();
    assert_eq!(row[..3], ["t-cli-status", "q7", "RUNNING"], "{stdout}");
    assert!(stdout.starts_with("NAMESPACE"), "{stdout}");

    // An empty namespace lists nothing, successfully.
    setup("t-cli-empty").await;
    let (stdout, stderr) = expect_exit(&["list", "-n", "t-cli-empty"], 0);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("No SparkApplications found"), "{stderr}");
}

/// Starts `kiln submit` (following) of a minimal application `name` and
/// returns once the application exists.
async fn submit_following(client: &kube::Client, dir: &Path, ns: &str, name: &str) -> Child {
    let manifest = write(dir, &format!("{name}.yaml"), &minimal(name));
    let child = kiln(&["submit", &manifest, "-n", ns])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_for_app(client, ns, name).await;
    child
}

/// Patches the status of a followed application to a final `status`;
/// returns the `kiln submit` exit code and its stderr.
async fn end_with(
    client: &kube::Client,
    child: Child,
    ns: &str,
    name: &str,
    status: serde_json::Value,
) -> (Option<i32>, String) {
    patch_status(client, ns, name, status).await;
    let out = wait_output(child);
    (out.status.code(), text(&out.stderr))
}

#[tokio::test]
async fn submit_follows_until_completed_exit_0_or_failed_exit_1() {
    let ns = "t-cli-follow";
    let client = setup(ns).await;
    let dir = scratch("follow");

    // COMPLETED: exit 0, the states seen on the way are printed.
    let child = submit_following(&client, &dir, ns, "ok").await;
    patch_status(
        &client,
        ns,
        "ok",
        json!({"applicationState": {"state": "RUNNING"},
               "executors": {"ready": 2, "requested": 2, "summary": "2/2"},
               "progress": {"stagesDone": 1, "stagesTotal": 3, "summary": "1/3"}}),
    )
    .await;
    patch_status(
        &client,
        ns,
        "ok",
        json!({"applicationState": {"state": "COMPLETED"},
               "progress": {"stagesDone": 3, "stagesTotal": 3, "summary": "3/3"}}),
    )
    .await;
    let out = wait_output(child);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("\"ok\" created"), "{stdout}");
    assert!(
        stdout.contains("sparkapplication \"ok\" COMPLETED"),
        "{stdout}"
    );
    // Every line of progress is about this application and its last one
    // shows the finished stages.
    let progress: Vec<&str> = stdout.lines().filter(|l| l.starts_with("ok: ")).collect();
    assert!(!progress.is_empty(), "{stdout}");
    assert!(
        progress
            .last()
            .is_some_and(|l| l.contains("COMPLETED") && l.contains("stages 3/3")),
        "{stdout}"
    );

    // FAILED: exit 1 with the status' error message.
    let child = submit_following(&client, &dir, ns, "bad").await;
    let (code, stderr) = end_with(
        &client,
        child,
        ns,
        "bad",
        json!({"applicationState": {"state": "FAILED",
               "errorMessage": "Error during planning: table 'ordrs' not found"}}),
    )
    .await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "error: sparkapplication \"bad\" FAILED: Error during planning: table 'ordrs' not found"
        ),
        "{stderr}"
    );

    // SUBMISSION_FAILED with no retries (restartPolicy Never): exit 1.
    let child = submit_following(&client, &dir, ns, "nopods").await;
    let (code, stderr) = end_with(
        &client,
        child,
        ns,
        "nopods",
        json!({"applicationState": {"state": "SUBMISSION_FAILED",
               "errorMessage": "pods \"nopods-1-driver\" is forbidden: exceeded quota"},
               "submissionAttempts": 1}),
    )
    .await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("SUBMISSION_FAILED: pods"), "{stderr}");

    // Deleted while followed: exit 1, saying so.
    let child = submit_following(&client, &dir, ns, "gone").await;
    let api: Api<SparkApplication> = Api::namespaced(client.clone(), ns);
    api.delete("gone", &DeleteParams::default())
        .await
        .expect("delete");
    let out = wait_output(child);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("was deleted before it finished"),
        "{stderr}"
    );
}

#[tokio::test]
async fn delete_removes_the_application_and_unknown_names_are_one_line_errors() {
    let ns = "t-cli-delete";
    let client = setup(ns).await;
    let dir = scratch("delete");
    let manifest = write(&dir, "d1.yaml", &minimal("d1"));
    expect_exit(&["submit", &manifest, "-n", ns, "--detach"], 0);
    let (stdout, _) = expect_exit(&["delete", "d1", "-n", ns], 0);
    assert!(stdout.contains("\"d1\" deleted"), "{stdout}");
    let api: Api<SparkApplication> = Api::namespaced(client.clone(), ns);
    assert!(api.get_opt("d1").await.expect("get").is_none());

    for args in [
        vec!["delete", "d1", "-n", ns],
        vec!["status", "d1", "-n", ns],
        vec!["logs", "d1", "-n", ns],
        vec!["logs", "d1", "-n", ns, "--executor", "1"],
    ] {
        let (stdout, stderr) = expect_exit(&args, 1);
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        assert_eq!(
            stderr, "error: SparkApplication \"d1\" not found in namespace \"t-cli-delete\"\n",
            "{args:?}"
        );
    }
}

#[tokio::test]
async fn no_reachable_cluster_is_a_clear_error() {
    let dir = scratch("unreachable");
    // Port 1 on loopback: nothing listens, the connection is refused.
    let kubeconfig = write(
        &dir,
        "kubeconfig",
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: x\n  context: {cluster: c, user: u, namespace: default}\ncurrent-context: x\n",
    );
    for args in [
        vec!["list"],
        vec!["status", "q1"],
        vec!["delete", "q1"],
        vec!["logs", "q1"],
    ] {
        let out = output({
            let mut c = Command::new(kiln_bin());
            c.args(&args)
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                .env_remove("KUBECONFIG");
            c
        });
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with(
                "error: cannot reach the Kubernetes API server at https://127.0.0.1:1"
            ),
            "{args:?}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    // A kubeconfig that does not exist.
    let out = output({
        let mut c = Command::new(kiln_bin());
        c.args(["list", "--kubeconfig"]).arg(dir.join("missing"));
        c
    });
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no Kubernetes configuration: cannot read"),
        "{stderr}"
    );
}

/// A pod shaped like the operator's (labels, container name, owner), running
/// `script` on the process node.
fn labelled_pod(
    app: &SparkApplication,
    pod: &str,
    role: &str,
    run: u32,
    executor: Option<u32>,
    script: &str,
) -> Pod {
    let mut labels = json!({
        "kiln.dev/app": app.metadata.name,
        "kiln.dev/role": role,
        "kiln.dev/run": run.to_string(),
    });
    if let Some(id) = executor {
        labels["kiln.dev/executor-id"] = id.to_string().into();
    }
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": pod, "labels": labels,
            "ownerReferences": [{
                "apiVersion": "kiln.dev/v1alpha1", "kind": "SparkApplication",
                "name": app.metadata.name, "uid": app.metadata.uid,
                "controller": true,
            }],
        },
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 2,
            "containers": [{"name": role, "image": "busybox:test", "command": ["sh", "-c", script]}],
        }
    }))
    .expect("pod")
}

#[tokio::test]
async fn logs_reads_driver_and_executor_pods_by_label_and_falls_back_to_the_kept_tail() {
    let ns = "t-cli-logs";
    let client = setup(ns).await;
    let dir = scratch("logs");
    let manifest = write(&dir, "lg.yaml", &minimal("lg"));
    expect_exit(&["submit", &manifest, "-n", ns, "--detach"], 0);
    let app = wait_for_app(&client, ns, "lg").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    // Before any pod: a clear error, naming the state.
    let (_, stderr) = expect_exit(&["logs", "lg", "-n", ns], 1);
    assert!(
        stderr.contains("has no driver pod and no saved driver log; state NEW"),
        "{stderr}"
    );

    let specs = [
        labelled_pod(
            &app,
            "lg-1-driver",
            "driver",
            1,
            None,
            "echo run one driver",
        ),
        labelled_pod(
            &app,
            "lg-2-driver",
            "driver",
            2,
            None,
            "echo run two driver; echo planning done",
        ),
        labelled_pod(
            &app,
            "lg-2-exec-1",
            "executor",
            2,
            Some(1),
            "echo executor one",
        ),
        // Same labels, another application's: never picked.
        {
            let mut p = labelled_pod(&app, "other-2-exec-2", "executor", 2, Some(2), "echo other");
            p.metadata.owner_references = None;
            p.metadata
                .labels
                .get_or_insert_default()
                .insert("kiln.dev/app".into(), "other".into());
            p
        },
    ];
    for p in &specs {
        pods.create(&PostParams::default(), p).await.expect("pod");
    }
    for p in [
        "lg-1-driver",
        "lg-2-driver",
        "lg-2-exec-1",
        "other-2-exec-2",
    ] {
        wait_pod(&client, ns, p, HANG_GUARD, |p| phase(p) == "Succeeded")
            .await
            .expect("pod done");
    }

    // The newest run's driver.
    let (stdout, _) = expect_exit(&["logs", "lg", "-n", ns], 0);
    assert_eq!(stdout, "run two driver\nplanning done\n");
    let (stdout, _) = expect_exit(&["logs", "lg", "-n", ns, "--tail", "1"], 0);
    assert_eq!(stdout, "planning done\n");
    // The pod the status names wins.
    patch_status(
        &client,
        ns,
        "lg",
        json!({"applicationState": {"state": "RUNNING"}, "driverInfo": {"podName": "lg-1-driver"}}),
    )
    .await;
    let (stdout, _) = expect_exit(&["logs", "lg", "-n", ns], 0);
    assert_eq!(stdout, "run one driver\n");
    // An executor by id; an id with no pod of this application is an error.
    let (stdout, _) = expect_exit(&["logs", "lg", "-n", ns, "--executor", "1"], 0);
    assert_eq!(stdout, "executor one\n");
    let (_, stderr) = expect_exit(&["logs", "lg", "-n", ns, "--executor", "2"], 1);
    assert!(stderr.contains("has no pod for executor 2"), "{stderr}");

    // -f streams a running container until it ends.
    let follow = labelled_pod(
        &app,
        "lg-3-driver",
        "driver",
        3,
        None,
        "echo first; sleep 1; echo second; sleep 1; echo third",
    );
    pods.create(&PostParams::default(), &follow)
        .await
        .expect("pod");
    patch_status(
        &client,
        ns,
        "lg",
        json!({"driverInfo": {"podName": "lg-3-driver"}}),
    )
    .await;
    wait_pod(&client, ns, "lg-3-driver", HANG_GUARD, |p| {
        phase(p) == "Running" || phase(p) == "Succeeded"
    })
    .await
    .expect("running");
    let (stdout, _) = expect_exit(&["logs", "lg", "-n", ns, "-f"], 0);
    assert_eq!(stdout, "first\nsecond\nthird\n");

    // Driver pods gone: the tail kept in the status is printed instead.
    for p in ["lg-1-driver", "lg-2-driver", "lg-3-driver"] {
        pods.delete(p, &DeleteParams::default())
            .await
            .expect("delete");
    }
    let deadline = Instant::now() + HANG_GUARD;
    for p in ["lg-1-driver", "lg-2-driver", "lg-3-driver"] {
        while pods.get_opt(p).await.expect("get").is_some() {
            assert!(Instant::now() < deadline, "{p} not deleted");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    patch_status(
        &client,
        ns,
        "lg",
        json!({"applicationState": {"state": "FAILED", "errorMessage": "boom"},
               "driverLogTail": ["starting job", "error: boom"]}),
    )
    .await;
    let (stdout, stderr) = expect_exit(&["logs", "lg", "-n", ns], 0);
    assert_eq!(stdout, "starting job\nerror: boom\n");
    assert!(stderr.contains("driver pod of \"lg\" is gone"), "{stderr}");
    let api: Api<SparkApplication> = Api::namespaced(client.clone(), ns);
    let state = api
        .get("lg")
        .await
        .expect("get")
        .status
        .map(|s| s.application_state.state);
    assert_eq!(state, Some(ApplicationStateType::Failed));
}
