//! `kiln submit/status/logs/list/delete` end to end with the real operator:
//! a `kiln operator` process watching the test's namespace runs the
//! application as driver and executor processes on the process node, and
//! the CLI follows it, reads its status and its driver's log.

#[path = "controller_support/mod.rs"]
mod controller_support;

use std::process::{Command, Output, Stdio};
use std::time::Instant;

use controller_support::{app_pods, cluster, kiln_bin, setup, until, Operator, T};

/// Runs `kiln ARGS` against the test cluster; kills it (failing the test)
/// if it runs longer than `T` (a guard against hanging, not a timing check).
fn kiln(args: &[&str]) -> Output {
    let mut child = Command::new(kiln_bin())
        .args(args)
        .arg("--kubeconfig")
        .arg(cluster().kubeconfig())
        .env_remove("KUBECONFIG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kiln");
    let deadline = Instant::now() + T;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "kiln {args:?} still running after {T:?}:\n{}\n{}",
                text(&out.stdout),
                text(&out.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test]
async fn submit_follows_a_real_run_then_status_logs_list_and_delete() {
    let ns = "cli-e2e";
    let client = setup(ns).await;
    let op = Operator::start(ns, &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("answer.sql"),
        "SELECT 6 * 7 AS answer_column;\n",
    )
    .expect("sql");
    let manifest = dir.path().join("answer.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: kiln.dev/v1alpha1\nkind: SparkApplication\nmetadata:\n  name: answer\nspec:\n  mainApplicationFile: answer.sql\n  executor:\n    instances: 1\n",
    )
    .expect("manifest");
    let manifest = manifest.display().to_string();

    // Following: exits 0 at COMPLETED.
    let out = kiln(&["submit", &manifest, "-n", ns]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{stderr}\noperator log:\n{}",
        op.log()
    );
    assert!(
        stdout.contains("sparkapplication \"answer\" COMPLETED"),
        "{stdout}"
    );
    assert!(
        stdout.contains("inlined") || stderr.contains("inlined"),
        "{stderr}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("answer: ")),
        "no progress line: {stdout}"
    );

    let out = kiln(&["status", "answer", "-n", ns]);
    let status = text(&out.stdout);
    assert!(status.contains("State:      COMPLETED"), "{status}");
    assert!(status.contains("pod answer-driver"), "{status}");
    let progress = status
        .lines()
        .find(|l| l.starts_with("Progress:"))
        .unwrap_or_default()
        .to_string();
    let stages: Vec<&str> = progress
        .trim_start_matches("Progress:")
        .trim()
        .trim_end_matches(" stages")
        .split('/')
        .collect();
    assert!(
        stages.len() == 2 && stages[0] == stages[1] && stages[0] != "0",
        "{status}"
    );

    // The driver's log: its query result (CSV) is in it.
    let out = kiln(&["logs", "answer", "-n", ns]);
    let log = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(log.contains("answer_column"), "{log}");
    assert!(log.contains("42"), "{log}");

    let out = kiln(&["list", "-n", ns]);
    let list = text(&out.stdout);
    let row: Vec<&str> = list
        .lines()
        .find(|l| l.starts_with("answer "))
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(row.get(1), Some(&"COMPLETED"), "{list}");
    assert_eq!(row.get(4), Some(&"1"), "{list}");

    // A failing job: exit 1 with the engine's message.
    let failing = dir.path().join("failing.yaml");
    std::fs::write(
        &failing,
        "apiVersion: kiln.dev/v1alpha1\nkind: SparkApplication\nmetadata:\n  name: failing\nspec:\n  sql: SELECT count(*) FROM no_such_table\n",
    )
    .expect("manifest");
    let out = kiln(&["submit", &failing.display().to_string(), "-n", ns]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}\n{}", op.log());
    assert!(
        stderr.contains("sparkapplication \"failing\" FAILED: ")
            && stderr.contains("no_such_table"),
        "{stderr}"
    );

    // Delete: the application goes, and the garbage collector takes its pods.
    let out = kiln(&["delete", "answer", "-n", ns]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    until("answer's pods deleted", T, || {
        let client = client.clone();
        async move { app_pods(&client, ns, "answer").await.is_empty() }
    })
    .await;
    let out = kiln(&["status", "answer", "-n", ns]);
    assert_eq!(out.status.code(), Some(1));
}
