//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kiln_testcluster::TestCluster;
use kube::api::PostParams;
use kube::Api;

pub const T: Duration = Duration::from_secs(60);

/// The shared cluster of this test binary, with the node built by cargo.
pub fn cluster() -> &'static TestCluster {
    init_tracing();
    if std::env::var_os("KILN_TESTNODE_BIN").is_none() {
        // SAFETY: set once before any cluster (and thread reading it) starts;
        // every test sets the same value.
        unsafe {
            std::env::set_var(
                "KILN_TESTNODE_BIN",
                env!("CARGO_BIN_EXE_kiln-testcluster-node"),
            );
            // An image -> binary mapping the tests can check.
            std::env::set_var("KILN_TESTNODE_IMAGES", "example.com/kiln-echo=/bin/echo");
        }
    }
    kiln_testcluster::shared()
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("warn")
        .try_init();
}

/// A namespace per test, so tests sharing the cluster do not collide.
pub async fn namespace(c: &TestCluster, client: &kube::Client, name: &str) {
    c.create_namespace(client, name).await.expect("namespace");
}

pub fn pod(value: serde_json::Value) -> Pod {
    serde_json::from_value(value).expect("pod json")
}

pub async fn create_pod(client: &kube::Client, ns: &str, p: serde_json::Value) -> Pod {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    api.create(&PostParams::default(), &pod(p))
        .await
        .expect("create pod")
}

/// A pod running `sh -c script`.
pub fn shell_pod(name: &str, script: &str, restart: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"test": name}},
        "spec": {
            "restartPolicy": restart,
            "terminationGracePeriodSeconds": 5,
            "containers": [{
                "name": "main",
                "image": "busybox:test",
                "command": ["sh", "-c", script],
            }]
        }
    })
}

pub fn container_state(p: &Pod) -> serde_json::Value {
    let cs = p
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c.first())
        .cloned();
    serde_json::to_value(cs).unwrap_or_default()
}

pub fn pid_alive(pid: i32) -> bool {
    // A zombie still has a /proc entry; treat it as gone.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

pub async fn wait_log(
    c: &TestCluster,
    ns: &str,
    name: &str,
    want: &str,
    timeout: Duration,
) -> String {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let log = c.container_log(ns, name, "main").unwrap_or_default();
        if log.contains(want) {
            return log;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "log of {ns}/{name} never contained {want:?}; log so far:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
