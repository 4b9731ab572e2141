//! helm and kubectl, as users run them, against the test control plane.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use kiln_testcluster::{phase, run, stdout, wait_pod};

#[tokio::test]
async fn helm_version_lint_and_install_a_chart() {
    let c = cluster();
    let client = c.client().await.unwrap();
    namespace(c, &client, "t-helm").await;
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/kiln-test-chart");

    let mut v = c.helm();
    v.arg("version");
    assert!(stdout(&run(v)).contains("v3.22.0"));

    let mut lint = c.helm();
    lint.arg("lint").arg(&chart);
    assert!(stdout(&run(lint)).contains("1 chart(s) linted, 0 chart(s) failed"));

    let mut install = c.helm();
    install.args(["install", "demo"]).arg(&chart).args([
        "-n",
        "t-helm",
        "--wait",
        "--timeout",
        "90s",
        "--set",
        "message=installed-by-helm",
    ]);
    run(install);

    let mut ls = c.helm();
    ls.args(["list", "-n", "t-helm", "-o", "json"]);
    let list = stdout(&run(ls));
    assert!(
        list.contains("\"name\":\"demo\"") && list.contains("\"status\":\"deployed\""),
        "{list}"
    );

    // The Deployment's pod runs on the node (kube-controller-manager made the
    // ReplicaSet and the pod) and logged the chart's value.
    let mut logs = c.kubectl();
    logs.args(["logs", "-n", "t-helm", "deployment/demo-echo"]);
    assert_eq!(stdout(&run(logs)), "installed-by-helm\n");

    let mut un = c.helm();
    un.args([
        "uninstall",
        "demo",
        "-n",
        "t-helm",
        "--wait",
        "--timeout",
        "60s",
    ]);
    run(un);
}

#[tokio::test]
async fn kubectl_apply_get_and_logs() {
    let c = cluster();
    let client = c.client().await.unwrap();
    namespace(c, &client, "t-kubectl").await;
    let manifest = r#"
apiVersion: v1
kind: Pod
metadata:
  name: hello
  namespace: t-kubectl
spec:
  restartPolicy: Never
  containers:
    - name: main
      image: busybox:test
      command: ["sh", "-c", "echo line-1; echo line-2; echo line-3"]
"#;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pod.yaml");
    std::fs::write(&file, manifest).unwrap();
    let mut apply = c.kubectl();
    apply.arg("apply").arg("-f").arg(&file);
    assert!(stdout(&run(apply)).contains("pod/hello created"));

    wait_pod(&client, "t-kubectl", "hello", T, |p| {
        phase(p) == "Succeeded"
    })
    .await
    .unwrap();

    let mut get = c.kubectl();
    get.args([
        "get",
        "pod",
        "hello",
        "-n",
        "t-kubectl",
        "-o",
        "jsonpath={.status.phase} {.status.containerStatuses[0].state.terminated.exitCode}",
    ]);
    assert_eq!(stdout(&run(get)), "Succeeded 0");

    let mut nodes = c.kubectl();
    nodes.args(["get", "nodes", "-o", "name"]);
    assert_eq!(stdout(&run(nodes)).trim(), "node/kiln-testnode");

    let mut logs = c.kubectl();
    logs.args(["logs", "hello", "-n", "t-kubectl"]);
    assert_eq!(stdout(&run(logs)), "line-1\nline-2\nline-3\n");

    let mut tail = c.kubectl();
    tail.args(["logs", "hello", "-n", "t-kubectl", "--tail=1"]);
    assert_eq!(stdout(&run(tail)), "line-3\n");

    let mut del = c.kubectl();
    del.args(["delete", "-f"])
        .arg(&file)
        .args(["--wait", "--timeout=30s"]);
    run(del);
    tokio::time::sleep(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn kubectl_logs_follow_streams_until_the_container_ends() {
    let c = cluster();
    let client = c.client().await.unwrap();
    namespace(c, &client, "t-follow").await;
    create_pod(
        &client,
        "t-follow",
        shell_pod(
            "ticker",
            "for i in 1 2 3 4 5; do echo tick-$i; sleep 0.3; done",
            "Never",
        ),
    )
    .await;
    wait_pod(&client, "t-follow", "ticker", T, |p| phase(p) != "Pending")
        .await
        .unwrap();
    let mut f = c.kubectl();
    f.args(["logs", "-f", "ticker", "-n", "t-follow"]);
    let out = tokio::task::spawn_blocking(move || run(f)).await.unwrap();
    assert_eq!(stdout(&out), "tick-1\ntick-2\ntick-3\ntick-4\ntick-5\n");
}

#[tokio::test]
async fn crds_from_a_folder_are_installed_and_usable() {
    let c = cluster();
    let client = c.client().await.unwrap();
    namespace(c, &client, "t-crd").await;
    let crds = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/crds");
    kiln_testcluster::install_crds(&c.info().bin_dir, c.kubeconfig(), &crds).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.yaml");
    std::fs::write(
        &file,
        "apiVersion: test.kiln.dev/v1\nkind: Widget\nmetadata:\n  name: w1\n  namespace: t-crd\nspec:\n  size: 3\n",
    )
    .unwrap();
    let mut apply = c.kubectl();
    apply.arg("apply").arg("-f").arg(&file);
    run(apply);
    let mut get = c.kubectl();
    get.args([
        "get",
        "widgets",
        "w1",
        "-n",
        "t-crd",
        "-o",
        "jsonpath={.spec.size}",
    ]);
    assert_eq!(stdout(&run(get)), "3");
}
