//! The controller end to end on the test control plane: `kiln operator` runs
//! as a process, the process node runs the driver and executor pods as real
//! `kiln driver` / `kiln executor` processes. Each test has its own
//! namespace and its own operator.

mod controller_support;

use std::time::Duration;

use controller_support::*;
use kube::ResourceExt;
use serde_json::json;

/// A grouped count over 1..=1000 written as CSV into `out`: two executors,
/// so the job has a shuffle (several stages).
fn counting_app(name: &str, out: &std::path::Path) -> serde_json::Value {
    let sql = format!(
        "COPY (SELECT v % 3 AS k, count(*) AS n, sum(v) AS s \
         FROM (SELECT unnest(range(1, 1001)) AS v) GROUP BY v % 3) \
         TO '{}/' STORED AS CSV;",
        out.display()
    );
    json!({
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "SparkApplication",
        "metadata": {"name": name},
        "spec": {
            "sql": sql,
            "executor": {"instances": 2},
        }
    })
}

const COUNTING_ROWS: [&str; 3] = ["0,333,166833", "1,334,167167", "2,333,166500"];

fn reasons(events: &[(String, String, i64)]) -> Vec<&str> {
    events.iter().map(|e| e.0.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_runs_to_completion_with_progress_and_events() {
    let ns = "ctl-complete";
    let client = setup(ns).await;
    let op = Operator::start(ns, &[]);
    let out = tempfile::tempdir().expect("tempdir");
    create(&client, ns, counting_app("count", out.path())).await;

    let (app, seen) = wait_app(
        &client,
        ns,
        "count",
        T,
        |a| state(a) == "COMPLETED" || state(a) == "FAILED",
        &op,
    )
    .await;
    let st = app.status.clone().expect("status");
    assert_eq!(
        state(&app),
        "COMPLETED",
        "states seen {seen:?}; status {st:#?}\n{}",
        op.log()
    );
    assert_eq!(csv_rows(out.path()), COUNTING_ROWS);
    assert_eq!(st.execution_attempts, 1);
    assert!(st.application_state.error_message.is_empty());
    assert!(st.termination_time.is_some() && st.last_submission_attempt_time.is_some());

    // Progress written by the driver through its own service account.
    let progress = st.progress.clone().expect("progress in the status");
    assert!(progress.stages_total >= 2, "{progress:?}");
    assert_eq!(progress.stages_done, progress.stages_total, "{progress:?}");
    let driver = st.driver_info.clone().expect("driverInfo");
    assert_eq!(driver.pod_name.as_deref(), Some("count-1-driver"));
    assert_eq!(driver.web_ui_service_name.as_deref(), Some("count-ui-svc"));
    assert!(
        driver
            .address
            .as_deref()
            .is_some_and(|a| a.starts_with("http://127.")),
        "{driver:?}"
    );
    assert_eq!(st.executor_state.len(), 2, "{:?}", st.executor_state);

    // kubectl shows state and progress.
    let out_get = cluster()
        .kubectl()
        .args(["get", "sparkapp", "count", "-n", ns])
        .output()
        .expect("kubectl");
    let table = String::from_utf8_lossy(&out_get.stdout);
    assert!(table.contains("COMPLETED"), "{table}");
    assert!(table.contains(&progress.summary), "{table}");
    assert!(table.contains("PROGRESS"), "{table}");

    // The transitions, as Events, in order.
    let ev = events(&client, ns, "count").await;
    let r = reasons(&ev);
    let order = [
        "SparkApplicationSubmitted",
        "SparkDriverRunning",
        "SparkDriverCompleted",
        "SparkApplicationCompleted",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|want| {
            r.iter()
                .position(|x| x == want)
                .unwrap_or_else(|| panic!("no {want} event in {r:?}"))
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{r:?}");
    assert!(
        ev.iter()
            .any(|e| e.1 == "NEW -> SUBMITTED" || e.1.starts_with("NEW -> SUBMITTED:")),
        "{ev:?}"
    );

    // The driver pod stays for its log; executors are gone or finished.
    let drivers = role_pods(&client, ns, "count", "driver").await;
    assert_eq!(drivers.len(), 1);
    assert_eq!(phase(&drivers[0]), "Succeeded");
    let log = cluster()
        .container_log(ns, "count-1-driver", "driver")
        .unwrap_or_default();
    assert!(log.contains("driver listening on"), "{log}");
}

fn failing_app(name: &str, restart: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "SparkApplication",
        "metadata": {"name": name},
        "spec": {
            "sql": "SELECT count(*) FROM no_such_table",
            "executor": {"instances": 1},
            "restartPolicy": restart,
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_ends_failed_with_the_engines_message() {
    let ns = "ctl-fail";
    let client = setup(ns).await;
    let op = Operator::start(ns, &[]);
    create(&client, ns, failing_app("broken", json!({"type": "Never"}))).await;
    let (app, seen) = wait_app(
        &client,
        ns,
        "broken",
        T,
        |a| state(a) == "FAILED" || state(a) == "COMPLETED",
        &op,
    )
    .await;
    let st = app.status.clone().expect("status");
    assert_eq!(state(&app), "FAILED", "{seen:?} {st:#?}");
    let msg = &st.application_state.error_message;
    assert!(
        msg.contains("no_such_table") && msg.contains("not found"),
        "errorMessage is not the engine's: {msg:?}"
    );
    assert_eq!(st.execution_attempts, 1);
    assert!(
        st.driver_log_tail
            .iter()
            .any(|l| l.contains("no_such_table")),
        "{:?}",
        st.driver_log_tail
    );
    let r = reasons(&events(&client, ns, "broken").await)
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>();
    assert!(r.contains(&"SparkDriverFailed".to_string()), "{r:?}");
    assert!(r.contains(&"SparkApplicationFailed".to_string()), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_failure_retries_twice_with_backoff_then_fails() {
    let ns = "ctl-retry";
    let client = setup(ns).await;
    let op = Operator::start(ns, &[]);
    create(
        &client,
        ns,
        failing_app(
            "flaky",
            json!({"type": "OnFailure", "onFailureRetries": 2, "onFailureRetryInterval": 1}),
        ),
    )
    .await;
    let (app, seen) = wait_app(
        &client,
        ns,
        "flaky",
        Duration::from_secs(180),
        |a| state(a) == "FAILED",
        &op,
    )
    .await;
    let st = app.status.clone().expect("status");
    assert_eq!(st.execution_attempts, 3, "{seen:?} {st:#?}");
    assert!(st.application_state.error_message.contains("no_such_table"));
    let ev = events(&client, ns, "flaky").await;
    let failed_at: Vec<i64> = ev
        .iter()
        .filter(|e| e.0 == "SparkDriverFailed")
        .map(|e| e.2)
        .collect();
    let rerun_at: Vec<i64> = ev
        .iter()
        .filter(|e| e.0 == "SparkApplicationPendingRerun")
        .map(|e| e.2)
        .collect();
    assert_eq!(failed_at.len(), 3, "{ev:?}");
    assert_eq!(rerun_at.len(), 2, "{ev:?}");
    // Backoff: 1 s after the first failure, 2 s after the second.
    for (i, want_us) in [(0usize, 1_000_000i64), (1, 2_000_000)] {
        let gap = rerun_at[i] - failed_at[i];
        assert!(gap >= want_us, "retry {i} came {gap} us after the failure");
    }
    assert_eq!(
        ev.iter()
            .filter(|e| e.0 == "SparkApplicationFailed")
            .count(),
        1,
        "{ev:?}"
    );
    // Each run had its own driver pod; the old ones were cleaned up before a rerun.
    let drivers = role_pods(&client, ns, "flaky", "driver").await;
    let names: Vec<String> = drivers.iter().map(|p| p.name_any()).collect();
    assert_eq!(names, vec!["flaky-3-driver"], "{names:?}");
}
