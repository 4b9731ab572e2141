//! `helm install` of `charts/kiln` with its default values into the test
//! control plane, and an application run end to end by the operator that
//! chart deploys. Nothing is set: the chart's image
//! (`ghcr.io/kiln-dev/kiln:<appVersion>`) contains `kiln`, which the process
//! node maps to the `kiln` binary cargo built, so the operator pod runs the
//! real `kiln operator` with the chart's arguments (`--bind-address=$(POD_IP)`
//! expanded by the node from the downward API), as the chart's
//! ServiceAccount, under the chart's RBAC; the driver and executor pods it
//! makes use the same image (the chart's default application image).

mod common;
mod controller_support;

use std::time::{Duration, Instant};

use common::{run, workspace};
use controller_support::{cluster, csv_rows, setup, state, until};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::events::v1::Event;
use kiln_operator::SparkApplication;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};

const RELEASE_NS: &str = "kiln-system";
const APPS_NS: &str = "chart-e2e";
const OPERATOR_SELECTOR: &str =
    "app.kubernetes.io/instance=kiln,app.kubernetes.io/component=operator";

/// The operator pod's state and log, for failure messages.
fn operator_story(pods: &[Pod]) -> String {
    let mut out = String::new();
    for p in pods {
        let name = p.name_any();
        out.push_str(&format!(
            "pod {name}: {}\n--- log ---\n{}\n",
            serde_json::to_string_pretty(&p.status).unwrap_or_default(),
            cluster()
                .container_log(RELEASE_NS, &name, "operator")
                .unwrap_or_else(|| "(no log)".into())
        ));
    }
    out
}

fn is_ready(p: &Pod) -> bool {
    let st = p.status.as_ref();
    st.and_then(|s| s.phase.as_deref()) == Some("Running")
        && st
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Waits for the one operator pod of the release to run and be ready.
async fn ready_operator_pod(client: &Client) -> Pod {
    let api: Api<Pod> = Api::namespaced(client.clone(), RELEASE_NS);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let pods = api
            .list(&ListParams::default().labels(OPERATOR_SELECTOR))
            .await
            .expect("list operator pods")
            .items;
        if let [p] = pods.as_slice() {
            if is_ready(p) {
                return p.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "the chart's operator pod is not ready after 90 s:\n{}",
            operator_story(&pods)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// `GET url` with curl: the body, or `None` unless the status is 2xx.
fn http_get(url: &str) -> Option<String> {
    let out = std::process::Command::new("curl")
        .args(["-sSf", "--max-time", "10", url])
        .output()
        .expect("curl");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_install_with_default_values_runs_an_application_end_to_end() {
    // The chart installs the CRDs.
    controller_support::crds_from_chart();
    let c = cluster();
    let client = setup(RELEASE_NS).await;
    c.create_namespace(&client, APPS_NS)
        .await
        .expect("namespace");

    let mut install = c.helm();
    install
        .args(["install", "kiln"])
        .arg(workspace().join("charts/kiln"))
        .args(["-n", RELEASE_NS]);
    run(install);

    // The operator runs as a pod on the process node and is ready (its
    // /readyz answered the node's probe on the pod IP).
    let op = ready_operator_pod(&client).await;
    let op_name = op.name_any();
    let spec = op.spec.clone().expect("pod spec");
    assert_eq!(spec.node_name.as_deref(), Some("kiln-testnode"));
    assert_eq!(spec.service_account_name.as_deref(), Some("kiln"));
    let image = spec.containers[0].image.clone().unwrap_or_default();
    assert!(image.starts_with("ghcr.io/kiln-dev/kiln:"), "{image}");
    let pod_ip = op
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .expect("pod IP");
    // --bind-address=$(POD_IP): metrics on the pod's own address; it holds the lease.
    let metrics_url = format!("http://{pod_ip}:8080/metrics");
    until(
        "the operator to take the lease",
        Duration::from_secs(30),
        || async { http_get(&metrics_url).is_some_and(|m| m.contains("kiln_operator_leader 1\n")) },
    )
    .await;

    // An application as a user applies it, in another namespace (the
    // default values watch them all).
    let out = tempfile::tempdir().expect("tempdir");
    let sql = format!(
        "COPY (SELECT v % 3 AS k, count(*) AS n, sum(v) AS s \
         FROM (SELECT unnest(range(1, 1001)) AS v) GROUP BY v % 3) \
         TO '{}/' STORED AS CSV;",
        out.path().display()
    );
    let manifest = serde_json::json!({
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "SparkApplication",
        "metadata": {"name": "chart-count", "namespace": APPS_NS},
        "spec": {"sql": sql, "executor": {"instances": 2}},
    });
    let manifests = tempfile::tempdir().expect("tempdir");
    let file = manifests.path().join("app.yaml");
    std::fs::write(&file, serde_yaml::to_string(&manifest).expect("yaml")).expect("write");
    run({
        let mut k = c.kubectl();
        k.arg("apply").arg("-f").arg(&file);
        k
    });

    let apps: Api<SparkApplication> = Api::namespaced(client.clone(), APPS_NS);
    let pods: Api<Pod> = Api::namespaced(client.clone(), RELEASE_NS);
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut seen: Vec<String> = Vec::new();
    let app = loop {
        let a = apps.get("chart-count").await.expect("get application");
        let s = state(&a);
        if seen.last() != Some(&s) {
            seen.push(s.clone());
        }
        if s == "COMPLETED" || s == "FAILED" {
            break a;
        }
        if Instant::now() > deadline {
            let ops = pods
                .list(&ListParams::default().labels(OPERATOR_SELECTOR))
                .await
                .map(|l| l.items)
                .unwrap_or_default();
            panic!(
                "not finished after 180 s; states {seen:?}; status {}\n{}",
                serde_json::to_string_pretty(&a.status).unwrap_or_default(),
                operator_story(&ops)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let st = app.status.clone().expect("status");
    assert_eq!(state(&app), "COMPLETED", "states {seen:?}; {st:#?}");
    assert_eq!(
        csv_rows(out.path()),
        ["0,333,166833", "1,334,167167", "2,333,166500"]
    );
    assert_eq!(st.execution_attempts, 1);
    let progress = st.progress.expect("progress written by the driver");
    assert_eq!(progress.stages_done, progress.stages_total);

    // The driver ran the chart's default application image.
    let driver: Pod = Api::namespaced(client.clone(), APPS_NS)
        .get("chart-count-driver")
        .await
        .expect("driver pod");
    let driver_image = driver.spec.expect("spec").containers[0]
        .image
        .clone()
        .unwrap_or_default();
    assert_eq!(driver_image, image);

    // The transitions were reported by the chart's operator pod.
    let events: Api<Event> = Api::namespaced(client.clone(), APPS_NS);
    let reporters: Vec<String> = events
        .list(&ListParams::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("chart-count"))
        .filter(|e| e.reason.as_deref() == Some("SparkApplicationCompleted"))
        .filter_map(|e| e.reporting_instance)
        .collect();
    assert_eq!(reporters, [op_name]);

    // Clean up: the application and its pods, then the release.
    run({
        let mut k = c.kubectl();
        k.args(["delete", "sparkapp", "chart-count", "-n", APPS_NS, "--wait"]);
        k
    });
    run({
        let mut h = c.helm();
        h.args([
            "uninstall",
            "kiln",
            "-n",
            RELEASE_NS,
            "--wait",
            "--timeout",
            "60s",
        ]);
        h
    });
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), RELEASE_NS);
    assert!(deployments
        .list(&ListParams::default())
        .await
        .expect("deployments")
        .items
        .is_empty());
    until(
        "the operator pod to go",
        Duration::from_secs(60),
        || async {
            pods.list(&ListParams::default().labels(OPERATOR_SELECTOR))
                .await
                .is_ok_and(|l| l.items.is_empty())
        },
    )
    .await;
}
