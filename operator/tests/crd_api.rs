//! The CRDs against a real API server (the test control plane): they install
//! with client-side `kubectl apply`, the API server refuses malformed
//! manifests naming the field, fills in defaults, serves the status
//! subresource and printer columns, and accepts every example manifest.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;

use kiln_operator::{
    ApplicationStateType, ConcurrencyPolicy, ExecutorCounts, Progress, RestartPolicyType,
    ScheduledSparkApplication, SparkApplication,
};
use kiln_testcluster::{Options, TestCluster};
use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use kube::core::ApiResource;
use kube::Api;

use common::{run, stdout, workspace};

/// A cluster of this test binary with no CRDs preinstalled, into which the
/// committed `crds/` are installed the way a user does: client-side
/// `kubectl apply` (which stores the whole object in an annotation limited
/// to 256 KiB), then waiting for `Established`.
fn cluster() -> &'static TestCluster {
    static CLUSTER: OnceLock<TestCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let c = TestCluster::start_with(Options {
            crds_dir: Some(std::env::temp_dir().join("kiln-operator-tests-no-crds")),
            ..Options::default()
        })
        .expect("start the test cluster");
        let mut apply = c.kubectl();
        apply.arg("apply").arg("-f").arg(workspace().join("crds"));
        run(apply);
        let mut wait = c.kubectl();
        wait.args([
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/sparkapplications.kiln.dev",
            "crd/scheduledsparkapplications.kiln.dev",
        ]);
        run(wait);
        c
    })
}

async fn namespace(c: &TestCluster, client: &kube::Client, name: &str) {
    c.create_namespace(client, name).await.expect("namespace");
}

fn api_for(client: &kube::Client, ns: &str, kind: &str) -> Api<DynamicObject> {
    let ar = match kind {
        "SparkApplication" => ApiResource::erase::<SparkApplication>(&()),
        "ScheduledSparkApplication" => ApiResource::erase::<ScheduledSparkApplication>(&()),
        other => panic!("unknown kind {other}"),
    };
    Api::namespaced_with(client.clone(), ns, &ar)
}

/// Creates the object in `yaml`; returns the API server's error message if refused.
async fn create(client: &kube::Client, ns: &str, yaml: &str) -> Result<DynamicObject, String> {
    let obj: DynamicObject = serde_yaml::from_str(yaml).expect("test manifest is YAML");
    let kind = obj
        .types
        .as_ref()
        .map(|t| t.kind.clone())
        .unwrap_or_default();
    match api_for(client, ns, &kind)
        .create(&PostParams::default(), &obj)
        .await
    {
        Ok(o) => Ok(o),
        Err(kube::Error::Api(e)) => {
            assert_eq!(e.code, 422, "expected 422 Invalid, got {e:?}");
            Err(e.message)
        }
        Err(e) => panic!("unexpected error creating {yaml}: {e}"),
    }
}

fn app(name: &str, spec: &str) -> String {
    format!("apiVersion: kiln.dev/v1alpha1\nkind: SparkApplication\nmetadata:\n  name: {name}\nspec:\n{spec}")
}

fn scheduled(name: &str, spec: &str) -> String {
    format!("apiVersion: kiln.dev/v1alpha1\nkind: ScheduledSparkApplication\nmetadata:\n  name: {name}\nspec:\n{spec}")
}

#[tokio::test]
async fn crds_install_with_client_side_apply() {
    let c = cluster();
    // Client-side apply left its annotation (so the size limit was met)...
    let mut get = c.kubectl();
    get.args([
        "get",
        "crd",
        "sparkapplications.kiln.dev",
        "-o",
        "jsonpath={.metadata.annotations.kubectl\\.kubernetes\\.io/last-applied-configuration}",
    ]);
    let last_applied = stdout(&run(get));
    assert!(
        last_applied.contains("\"kind\":\"CustomResourceDefinition\""),
        "{last_applied:.200}"
    );
    // ... applying again changes nothing, and the short names resolve.
    let mut again = c.kubectl();
    again.arg("apply").arg("-f").arg(workspace().join("crds"));
    let out = stdout(&run(again));
    assert_eq!(out.matches("unchanged").count(), 2, "{out}");
    for short in ["sparkapp", "scheduledsparkapp"] {
        let mut get = c.kubectl();
        get.args(["get", short, "-A"]);
        run(get);
    }
}

#[tokio::test]
async fn malformed_manifests_are_rejected_naming_the_field() {
    let c = cluster();
    let client = c.client().await.expect("client");
    namespace(c, &client, "t-malformed").await;
    let template = "  template:\n    sql: SELECT 1\n";
    // (manifest, the field path the message must name, another word it must contain)
    let cases: Vec<(String, &str, &str)> = vec![
        (
            app("no-job", "  executor:\n    instances: 2\n"),
            "spec.sql",
            "exactly one of sql and mainApplicationFile",
        ),
        (
            app(
                "two-jobs",
                "  sql: SELECT 1\n  mainApplicationFile: local:///q.sql\n",
            ),
            "spec.sql",
            "exactly one of sql and mainApplicationFile",
        ),
        (app("empty-sql", "  sql: ''\n"), "spec.sql", "at least 1"),
        (
            app("neg-instances", "  sql: SELECT 1\n  executor:\n    instances: -1\n"),
            "spec.executor.instances",
            "greater than or equal to 1",
        ),
        (
            app(
                "text-instances",
                "  sql: SELECT 1\n  executor:\n    instances: two\n",
            ),
            "spec.executor.instances",
            "integer",
        ),
        (
            app("bad-memory", "  sql: SELECT 1\n  executor:\n    memory: lots\n"),
            "spec.executor.memory",
            "should match",
        ),
        (
            app("bad-unit", "  sql: SELECT 1\n  driver:\n    memory: 2Gb\n"),
            "spec.driver.memory",
            "should match",
        ),
        (
            app("driver-cores-0", "  sql: SELECT 1\n  driver:\n    cores: 0\n"),
            "spec.driver.cores",
            "greater than or equal to 1",
        ),
        (
            app("exec-cores-0", "  sql: SELECT 1\n  executor:\n    cores: 0\n"),
            "spec.executor.cores",
            "greater than or equal to 1",
        ),
        (
            app(
                "bad-restart",
                "  sql: SELECT 1\n  restartPolicy:\n    type: Sometimes\n",
            ),
            "spec.restartPolicy.type",
            "supported values",
        ),
        (
            app(
                "neg-retries",
                "  sql: SELECT 1\n  restartPolicy:\n    type: OnFailure\n    onFailureRetries: -1\n",
            ),
            "spec.restartPolicy.onFailureRetries",
            "greater than or equal to 0",
        ),
        (
            app(
                "zero-interval",
                "  sql: SELECT 1\n  restartPolicy:\n    type: OnFailure\n    onFailureRetryInterval: 0\n",
            ),
            "spec.restartPolicy.onFailureRetryInterval",
            "greater than or equal to 1",
        ),
        (
            app(
                "retries-never",
                "  sql: SELECT 1\n  restartPolicy:\n    type: Never\n    onFailureRetries: 2\n",
            ),
            "spec.restartPolicy.type",
            "retries need type OnFailure or Always",
        ),
        (
            app("neg-ttl", "  sql: SELECT 1\n  timeToLiveSeconds: -5\n"),
            "spec.timeToLiveSeconds",
            "greater than or equal to 0",
        ),
        (
            app("bad-pull", "  sql: SELECT 1\n  imagePullPolicy: Sometimes\n"),
            "spec.imagePullPolicy",
            "supported values",
        ),
        (
            app(
                "min-over-max",
                "  sql: SELECT 1\n  dynamicAllocation:\n    enabled: true\n    minExecutors: 5\n    maxExecutors: 2\n",
            ),
            "spec.dynamicAllocation.minExecutors",
            "must not exceed maxExecutors",
        ),
        (
            app(
                "initial-outside",
                "  sql: SELECT 1\n  dynamicAllocation:\n    enabled: true\n    minExecutors: 1\n    initialExecutors: 9\n    maxExecutors: 4\n",
            ),
            "spec.dynamicAllocation.initialExecutors",
            "between minExecutors and maxExecutors",
        ),
        (
            app(
                "initial-below",
                "  sql: SELECT 1\n  dynamicAllocation:\n    enabled: true\n    minExecutors: 3\n    initialExecutors: 1\n    maxExecutors: 4\n",
            ),
            "spec.dynamicAllocation.initialExecutors",
            "between minExecutors and maxExecutors",
        ),
        (
            app(
                "no-max",
                "  sql: SELECT 1\n  dynamicAllocation:\n    enabled: true\n",
            ),
            "spec.dynamicAllocation.maxExecutors",
            "required when dynamic allocation is enabled",
        ),
        (
            scheduled("bad-cron", &format!("  schedule: every day at 3\n{template}")),
            "spec.schedule",
            "should match",
        ),
        (
            scheduled("six-fields", &format!("  schedule: 0 0 3 * * *\n{template}")),
            "spec.schedule",
            "should match",
        ),
        (
            scheduled(
                "bad-every",
                &format!("  schedule: '@every ten seconds'\n{template}"),
            ),
            "spec.schedule",
            "should match",
        ),
        (
            scheduled("every-no-unit", &format!("  schedule: '@every 10'\n{template}")),
            "spec.schedule",
            "should match",
        ),
        (
            scheduled("no-schedule", template),
            "spec.schedule",
            "Required value",
        ),
        (
            scheduled("no-template", "  schedule: '@every 10s'\n"),
            "spec.template",
            "Required value",
        ),
        (
            scheduled(
                "bad-policy",
                &format!("  schedule: '@hourly'\n  concurrencyPolicy: Sometimes\n{template}"),
            ),
            "spec.concurrencyPolicy",
            "supported values",
        ),
        (
            scheduled(
                "neg-history",
                &format!("  schedule: '@hourly'\n  successfulRunHistoryLimit: -1\n{template}"),
            ),
            "spec.successfulRunHistoryLimit",
            "greater than or equal to 0",
        ),
        (
            scheduled(
                "template-no-job",
                "  schedule: '@daily'\n  template:\n    executor:\n      instances: 2\n",
            ),
            "spec.template.sql",
            "exactly one of sql and mainApplicationFile",
        ),
        (
            scheduled(
                "template-bad-memory",
                "  schedule: '@daily'\n  template:\n    sql: SELECT 1\n    driver:\n      memory: 1 GB\n",
            ),
            "spec.template.driver.memory",
            "should match",
        ),
        // Upper bounds: one typo must not ask for a hundred million pods.
        (
            app("huge-instances", "  sql: SELECT 1\n  executor:\n    instances: 100000000\n"),
            "spec.executor.instances",
            "less than or equal to 1000",
        ),
        (
            app(
                "huge-max",
                "  sql: SELECT 1\n  dynamicAllocation:\n    enabled: true\n    maxExecutors: 5000\n",
            ),
            "spec.dynamicAllocation.maxExecutors",
            "less than or equal to 1000",
        ),
        (
            app("huge-cores", "  sql: SELECT 1\n  executor:\n    cores: 65\n"),
            "spec.executor.cores",
            "less than or equal to 64",
        ),
        (
            app("huge-memory", "  sql: SELECT 1\n  driver:\n    memory: 2t\n"),
            "spec.driver.memory",
            "must be at most 1024 GiB",
        ),
        (
            app("huge-memory-mi", "  sql: SELECT 1\n  executor:\n    memory: 1048577Mi\n"),
            "spec.executor.memory",
            "must be at most 1024 GiB",
        ),
        (
            scheduled(
                "template-huge",
                "  schedule: '@daily'\n  template:\n    sql: SELECT 1\n    executor:\n      instances: 1001\n",
            ),
            "spec.template.executor.instances",
            "less than or equal to 1000",
        ),
        // Application types.
        (
            app("py-no-script", "  type: Python\n"),
            "spec.mainApplicationFile",
            "a Python application needs exactly one of mainApplicationFile and python",
        ),
        (
            app("py-sql", "  type: Python\n  sql: SELECT 1\n  python: print(1)\n"),
            "spec.mainApplicationFile",
            "and no sql",
        ),
        (
            app("connect-sql", "  type: Connect\n  sql: SELECT 1\n"),
            "spec.type",
            "a Connect application takes no sql",
        ),
        (
            app("python-no-type", "  sql: SELECT 1\n  python: print(1)\n"),
            "spec.python",
            "python needs type Python",
        ),
        (
            app("scala", "  type: Scala\n  mainApplicationFile: local:///x.jar\n"),
            "spec.type",
            "supported values",
        ),
    ];
    assert!(cases.len() >= 15);
    let mut failures = Vec::new();
    for (yaml, field, words) in &cases {
        match create(&client, "t-malformed", yaml).await {
            Ok(o) => failures.push(format!(
                "accepted {:?}: {yaml}",
                o.metadata.name.unwrap_or_default()
            )),
            Err(msg) => {
                let names_field = msg.contains(&format!("{field}:"));
                if !names_field || !msg.contains(words) {
                    failures.push(format!(
                        "message does not name `{field}` with {words:?}: {msg}"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn bounds_and_types_accept_what_they_should() {
    let c = cluster();
    let client = c.client().await.expect("client");
    namespace(c, &client, "t-bounds").await;
    for (name, spec) in [
        ("at-limits", "  sql: SELECT 1\n  executor:\n    instances: 1000\n    cores: 64\n    memory: 1024g\n  driver:\n    memory: 1Ti\n"),
        ("da-at-limit", "  sql: SELECT 1\n  dynamicAllocation:\n    enabled: true\n    maxExecutors: 1000\n"),
        ("py-file", "  type: Python\n  mainApplicationFile: local:///opt/jobs/etl.py\n  arguments: [a, b]\n"),
        ("py-inline", "  type: Python\n  python: print(1)\n"),
        ("notebook", "  type: Connect\n"),
    ] {
        let o = create(&client, "t-bounds", &app(name, spec))
            .await
            .unwrap_or_else(|m| panic!("{name} refused: {m}"));
        let spec = &o.data["spec"];
        if name == "at-limits" {
            assert_eq!(spec["type"], "SQL", "the default type");
        }
    }
}

#[tokio::test]
async fn minimal_manifests_get_defaults_status_and_columns() {
    let c = cluster();
    let client = c.client().await.expect("client");
    namespace(c, &client, "t-minimal").await;

    // Just the SQL and the executor count.
    create(
        &client,
        "t-minimal",
        &app(
            "minimal",
            "  sql: SELECT 1\n  executor:\n    instances: 3\n",
        ),
    )
    .await
    .expect("minimal app accepted");
    let apps: Api<SparkApplication> = Api::namespaced(client.clone(), "t-minimal");
    let a = apps.get("minimal").await.expect("typed read");
    let s = &a.spec;
    assert_eq!(s.sql.as_deref(), Some("SELECT 1"));
    assert_eq!(s.executor.instances, 3);
    assert_eq!(
        (s.executor.pod.cores, s.executor.pod.memory.as_str()),
        (1, "1g")
    );
    assert_eq!(
        (s.driver.pod.cores, s.driver.pod.memory.as_str()),
        (1, "1g")
    );
    assert_eq!(s.restart_policy.type_, RestartPolicyType::Never);
    assert_eq!(s.restart_policy.on_failure_retry_interval, 5);
    assert_eq!(s.restart_policy.on_submission_failure_retry_interval, 5);
    assert!(!s.suspend);
    assert_eq!(s.image, None);
    assert_eq!(s.dynamic_allocation, None);
    // The defaults are stored, not only filled in by our deserializer.
    let raw = api_for(&client, "t-minimal", "SparkApplication")
        .get("minimal")
        .await
        .expect("raw read");
    let spec = &raw.data["spec"];
    assert_eq!(spec["driver"]["memory"], "1g");
    assert_eq!(spec["executor"]["cores"], 1);
    assert_eq!(spec["restartPolicy"]["type"], "Never");
    assert_eq!(spec["suspend"], false);

    // The status is a subresource: a status patch shows in the printer columns.
    let status = serde_json::json!({"status": {
        "applicationState": {"state": ApplicationStateType::Running},
        "executionAttempts": 1,
        "executors": ExecutorCounts::new(2, 3),
        "progress": Progress::new(1, 4),
    }});
    apps.patch_status("minimal", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("status patch");
    let mut get = c.kubectl();
    get.args(["get", "sparkapp", "minimal", "-n", "t-minimal"]);
    let table = stdout(&run(get));
    let mut lines = table.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "STATE",
            "EXECUTORS",
            "PROGRESS",
            "ATTEMPTS",
            "START",
            "FINISH",
            "AGE"
        ],
        "{table}"
    );
    let row: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        &row[..5],
        ["minimal", "RUNNING", "2/3", "1/4", "1"],
        "{table}"
    );
    // A spec update through the main resource cannot touch the status.
    let spec_patch =
        serde_json::json!({"spec": {"suspend": true}, "status": {"executionAttempts": 9}});
    let a = apps
        .patch(
            "minimal",
            &PatchParams::default(),
            &Patch::Merge(&spec_patch),
        )
        .await
        .expect("spec patch");
    assert!(a.spec.suspend);
    assert_eq!(a.status.map(|s| s.execution_attempts), Some(1));

    // A minimal schedule gets its defaults, the template's included.
    create(
        &client,
        "t-minimal",
        &scheduled(
            "nightly",
            "  schedule: '30 2 * * 1-5'\n  template:\n    sql: SELECT 1\n",
        ),
    )
    .await
    .expect("minimal schedule accepted");
    let scheds: Api<ScheduledSparkApplication> = Api::namespaced(client.clone(), "t-minimal");
    let s = scheds.get("nightly").await.expect("typed read").spec;
    assert_eq!(s.concurrency_policy, ConcurrencyPolicy::Allow);
    assert_eq!(s.time_zone, "UTC");
    assert_eq!(
        (s.successful_run_history_limit, s.failed_run_history_limit),
        (1, 1)
    );
    assert!(!s.suspend);
    assert_eq!(s.template.executor.instances, 1);
    assert_eq!(s.template.driver.pod.memory, "1g");
    for every in ["@every 10s", "@every 1h30m", "@every 1.5m", "@weekly"] {
        let name = format!("ok-{}", every.len());
        create(
            &client,
            "t-minimal",
            &scheduled(
                &name,
                &format!("  schedule: '{every}'\n  template:\n    sql: SELECT 1\n"),
            ),
        )
        .await
        .unwrap_or_else(|e| panic!("schedule {every:?} refused: {e}"));
        scheds
            .delete(&name, &Default::default())
            .await
            .expect("delete");
    }
}

#[tokio::test]
async fn every_example_manifest_is_accepted() {
    let c = cluster();
    let client = c.client().await.expect("client");
    namespace(c, &client, "t-examples").await;
    let dir = workspace().join("examples/k8s");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/k8s")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    for f in &files {
        let mut apply = c.kubectl();
        apply
            .args(["apply", "--dry-run=server", "-n", "t-examples", "-f"])
            .arg(f)
            .stdin(Stdio::null());
        let out = stdout(&run(apply));
        assert!(out.contains("(server dry run)"), "{}: {out}", f.display());
    }
}
