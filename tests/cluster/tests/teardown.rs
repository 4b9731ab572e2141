//! Nothing is left running after a test, also after a failing one.
//!
//! The parent test re-runs this binary with an ignored child test that starts
//! a cluster, runs a pod with a background grandchild process, prints the
//! cluster id and then panics. The parent then checks that no process tagged
//! with that id survives, once for an owned cluster (cleaned up by Drop while
//! unwinding) and once for the shared cluster (cleaned up at process exit).

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use kiln_testcluster::{phase, procs, wait_pod, TestCluster};

async fn start_pod_and_fail(c: &TestCluster) -> ! {
    let client = c.client().await.unwrap();
    c.create_namespace(&client, "t-stray").await.unwrap();
    // The shell forks a grandchild that is not the container's main process.
    create_pod(
        &client,
        "t-stray",
        shell_pod("sleeper", "sleep 600 & echo up; wait", "Always"),
    )
    .await;
    wait_pod(&client, "t-stray", "sleeper", T, |p| phase(p) == "Running")
        .await
        .unwrap();
    wait_log(c, "t-stray", "sleeper", "up", T).await;
    let n = c.processes().len();
    // etcd, apiserver, kcm, node, sh, sleep
    assert!(
        n >= 6,
        "expected the cluster's processes to be tagged, found {n}"
    );
    println!("CHILD_CLUSTER_ID={}", c.info().id);
    panic!("deliberate failure with the cluster running");
}

#[tokio::test]
#[ignore = "run by no_stray_processes_after_failing_tests"]
async fn child_owned_cluster_panics() {
    init_tracing();
    let c = TestCluster::start_with(kiln_testcluster::Options {
        node_bin: Some(env!("CARGO_BIN_EXE_kiln-testcluster-node").into()),
        ..Default::default()
    })
    .unwrap();
    start_pod_and_fail(&c).await;
}

#[tokio::test]
#[ignore = "run by no_stray_processes_after_failing_tests"]
async fn child_shared_cluster_panics() {
    start_pod_and_fail(cluster()).await;
}

fn run_child(test: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "--nocapture", test])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "child test {test} was meant to fail");
    assert!(
        stderr.contains("deliberate failure"),
        "child test {test} failed for another reason:\n{stdout}\n{stderr}"
    );
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("CHILD_CLUSTER_ID="))
        .unwrap_or_else(|| panic!("no cluster id in child output:\n{stdout}\n{stderr}"))
        .to_string()
}

#[test]
fn no_stray_processes_after_failing_tests() {
    for test in ["child_owned_cluster_panics", "child_shared_cluster_panics"] {
        let id = run_child(test);
        // Exit has already happened; give the kernel a moment to reap.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let left = procs::tagged(&id);
            if left.is_empty() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{test}: processes of cluster {id} still running: {left:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let dir = std::env::temp_dir().join(&id);
        assert!(
            !dir.exists(),
            "{test}: cluster folder {} left behind",
            dir.display()
        );
    }
}
