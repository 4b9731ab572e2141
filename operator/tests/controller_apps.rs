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
    let (client, op, out) = start(ns).await;
    create(&client, ns, counting_app("count", out.path())).await;

    let (app, seen) = wait_finished(&client, ns, "count", &op).await;
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
    assert_eq!(driver.pod_name.as_deref(), Some("count-driver"));
    assert_eq!(driver.web_ui_service_name.as_deref(), Some("count-ui-svc"));
    assert!(
        driver
            .address
            .as_deref()
            .is_some_and(|a| a.starts_with("https://127.")),
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
    let ev = events_with(&client, ns, "count", "SparkApplicationCompleted").await;
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
        .container_log(ns, "count-driver", "spark-kubernetes-driver")
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
    let (app, seen) = wait_finished(&client, ns, "broken", &op).await;
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
    let r = reasons(&events_with(&client, ns, "broken", "SparkApplicationFailed").await)
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
    let ev = events_with(&client, ns, "flaky", "SparkApplicationFailed").await;
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
    assert_eq!(names, vec!["flaky-driver"], "{names:?}");
}

/// The counting job, slowed down (each task waits first) so a test can
/// kill a pod while it runs; executors are declared lost after 3 s of silence.
fn slow_counting_app(
    name: &str,
    out: &std::path::Path,
    restart: serde_json::Value,
) -> serde_json::Value {
    let mut app = counting_app(name, out);
    app["spec"]["conf"] = json!({
        "kiln.test.taskDelay": "1s",
        "kiln.executor.heartbeatTimeout": "3s",
        "spark.sql.shuffle.partitions": "4",
    });
    app["spec"]["restartPolicy"] = restart;
    app
}

/// Waits until the driver of `pod` logged that a stage started.
async fn wait_stage_started(ns: &str, pod: &str) {
    until(&format!("{pod} to start a stage"), T, || async {
        cluster()
            .container_log(ns, pod, "spark-kubernetes-driver")
            .is_some_and(|l| l.contains("stage 1: started"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_executor_is_replaced_and_the_application_completes() {
    let ns = "ctl-exec-loss";
    let (client, op, out) = start(ns).await;
    create(
        &client,
        ns,
        slow_counting_app("survivor", out.path(), json!({"type": "Never"})),
    )
    .await;
    wait_stage_started(ns, "survivor-driver").await;
    let hit = cluster()
        .kill_pod_processes(ns, "survivor-1-exec-1")
        .expect("kill the executor");
    assert!(hit > 0);
    let (app, seen) = wait_finished(&client, ns, "survivor", &op).await;
    let st = app.status.clone().expect("status");
    assert_eq!(state(&app), "COMPLETED", "{seen:?} {st:#?}");
    assert_eq!(csv_rows(out.path()), COUNTING_ROWS);
    assert_eq!(st.execution_attempts, 1, "the run itself was not restarted");
    assert_eq!(
        st.executor_state.get("survivor-1-exec-1"),
        Some(&kiln_operator::ExecutorState::Failed),
        "{:?}",
        st.executor_state
    );
    assert!(
        st.executor_state.contains_key("survivor-1-exec-3"),
        "no replacement executor: {:?}",
        st.executor_state
    );
    let ev = events_with(&client, ns, "survivor", "ExecutorReplaced").await;
    assert!(ev.iter().any(|e| e.0 == "ExecutorReplaced"), "{ev:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_driver_means_a_new_attempt_or_failed_never_stuck() {
    let ns = "ctl-driver-loss";
    let client = setup(ns).await;
    let op = Operator::start(ns, &[]);
    let out_again = tempfile::tempdir().expect("tempdir");
    let out_once = tempfile::tempdir().expect("tempdir");
    let out_gone = tempfile::tempdir().expect("tempdir");
    create(
        &client,
        ns,
        slow_counting_app(
            "again",
            out_again.path(),
            json!({"type": "OnFailure", "onFailureRetries": 1, "onFailureRetryInterval": 1}),
        ),
    )
    .await;
    create(
        &client,
        ns,
        slow_counting_app("once", out_once.path(), json!({"type": "Never"})),
    )
    .await;
    create(
        &client,
        ns,
        slow_counting_app("gone", out_gone.path(), json!({"type": "Never"})),
    )
    .await;
    wait_stage_started(ns, "again-driver").await;
    wait_stage_started(ns, "once-driver").await;
    wait_stage_started(ns, "gone-driver").await;
    cluster()
        .kill_pod_processes(ns, "again-driver")
        .expect("kill driver");
    cluster()
        .kill_pod_processes(ns, "once-driver")
        .expect("kill driver");
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(client.clone(), ns);
    pods.delete(
        "gone-driver",
        &kube::api::DeleteParams::default().grace_period(0),
    )
    .await
    .expect("delete the driver pod");

    let (again, seen) = wait_finished(&client, ns, "again", &op).await;
    let st = again.status.clone().expect("status");
    assert_eq!(state(&again), "COMPLETED", "{seen:?} {st:#?}");
    assert_eq!(st.execution_attempts, 2);
    assert_eq!(csv_rows(out_again.path()), COUNTING_ROWS);

    let (once, _) = wait_finished(&client, ns, "once", &op).await;
    let st = once.status.clone().expect("status");
    assert_eq!(state(&once), "FAILED");
    assert_eq!(st.execution_attempts, 1);
    let msg = &st.application_state.error_message;
    assert!(msg.contains("signal 9") || msg.contains("137"), "{msg}");

    let (gone, _) = wait_finished(&client, ns, "gone", &op).await;
    let st = gone.status.clone().expect("status");
    assert_eq!(state(&gone), "FAILED");
    let msg = &st.application_state.error_message;
    assert!(msg.contains("driver"), "{msg}");
}

/// Every object carrying the application's label, by kind.
async fn owned_objects(client: &kube::Client, ns: &str, app: &str) -> Vec<String> {
    use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service, ServiceAccount};
    use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
    let lp = kube::api::ListParams::default().labels(&format!("kiln.dev/app={app}"));
    let mut out = Vec::new();
    macro_rules! collect {
        ($t:ty, $kind:expr) => {
            for o in kube::Api::<$t>::namespaced(client.clone(), ns)
                .list(&lp)
                .await
                .expect("list")
                .items
            {
                out.push(format!("{}/{}", $kind, o.name_any()));
            }
        };
    }
    collect!(Pod, "pod");
    collect!(Service, "service");
    collect!(ConfigMap, "configmap");
    collect!(Secret, "secret");
    collect!(ServiceAccount, "serviceaccount");
    collect!(Role, "role");
    collect!(RoleBinding, "rolebinding");
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_application_removes_all_it_created_and_ttl_deletes_finished_ones() {
    let ns = "ctl-delete";
    let (client, op, out) = start(ns).await;
    create(
        &client,
        ns,
        slow_counting_app("doomed", out.path(), json!({"type": "Never"})),
    )
    .await;
    let mut ttl = counting_app("brief", &out.path().join("brief"));
    ttl["spec"]["timeToLiveSeconds"] = json!(5);
    create(&client, ns, ttl).await;
    // The TTL one completes first (and is deleted 5 s later, checked below).
    let (brief, _) = wait_state(&client, ns, "brief", "COMPLETED", &op).await;
    assert_eq!(brief.spec.time_to_live_seconds, Some(5));

    wait_stage_started(ns, "doomed-driver").await;
    let objects = owned_objects(&client, ns, "doomed").await;
    for want in [
        "pod/doomed-driver",
        "pod/doomed-1-exec-1",
        "pod/doomed-1-exec-2",
        "service/doomed-ui-svc",
        "configmap/doomed-job",
        "secret/doomed-secret",
        "serviceaccount/doomed-driver",
        "role/doomed-driver",
        "rolebinding/doomed-driver",
    ] {
        assert!(
            objects.contains(&want.to_string()),
            "{want} missing: {objects:?}"
        );
    }
    let apps: kube::Api<kiln_operator::SparkApplication> =
        kube::Api::namespaced(client.clone(), ns);
    apps.delete("doomed", &kube::api::DeleteParams::default())
        .await
        .expect("delete");
    until(
        "every object of the deleted application to go",
        T,
        || async { owned_objects(&client, ns, "doomed").await.is_empty() },
    )
    .await;

    until("the finished application to expire", T, || async {
        apps.get_opt("brief").await.expect("get").is_none()
    })
    .await;
    until("the expired application's objects to go", T, || async {
        owned_objects(&client, ns, "brief").await.is_empty()
    })
    .await;
}

/// A client acting as `user` (impersonated by the admin).
async fn client_as(user: &str, groups: &[&str]) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(cluster().kubeconfig()).expect("kubeconfig");
    let mut cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("config");
    cfg.auth_info.impersonate = Some(user.to_string());
    cfg.auth_info.impersonate_groups = Some(groups.iter().map(|g| g.to_string()).collect());
    kube::Client::try_from(cfg).expect("client")
}

fn code<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> u16 {
    match r {
        Ok(_) => 200,
        Err(kube::Error::Api(e)) => e.code,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_driver_account_may_patch_its_status_and_nothing_else() {
    let ns = "ctl-rbac";
    let (client, op, out) = start(ns).await;
    create(&client, ns, counting_app("mine", out.path())).await;
    let mut other = counting_app("other", &out.path().join("other"));
    other["spec"]["suspend"] = json!(true);
    create(&client, ns, other).await;
    // Progress in the status was written by the driver as this account.
    let (mine, _) = wait_state(&client, ns, "mine", "COMPLETED", &op).await;
    assert!(mine
        .status
        .as_ref()
        .and_then(|s| s.progress.as_ref())
        .is_some());
    wait_state(&client, ns, "other", "SUSPENDED", &op).await;

    let driver = client_as(
        &format!("system:serviceaccount:{ns}:mine-driver"),
        &[
            "system:serviceaccounts",
            &format!("system:serviceaccounts:{ns}"),
            "system:authenticated",
        ],
    )
    .await;
    let apps: kube::Api<kiln_operator::SparkApplication> =
        kube::Api::namespaced(driver.clone(), ns);
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(driver.clone(), ns);
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(driver.clone(), ns);
    let mp = kube::api::PatchParams::default();
    let progress =
        json!({"status": {"progress": {"stagesDone": 1, "stagesTotal": 1, "summary": "1/1"}}});
    // Allowed: read its own application, patch its status.
    assert_eq!(code(apps.get("mine").await), 200);
    assert_eq!(
        code(
            apps.patch_status("mine", &mp, &kube::api::Patch::Merge(&progress))
                .await
        ),
        200
    );
    // Refused: everything else.
    assert_eq!(
        code(apps.get("other").await),
        403,
        "read another application"
    );
    assert_eq!(
        code(
            apps.patch_status("other", &mp, &kube::api::Patch::Merge(&progress))
                .await
        ),
        403,
        "patch another application's status"
    );
    assert_eq!(
        code(apps.list(&Default::default()).await),
        403,
        "list applications"
    );
    assert_eq!(
        code(
            apps.patch(
                "mine",
                &mp,
                &kube::api::Patch::Merge(&json!({"spec": {"suspend": true}}))
            )
            .await
        ),
        403,
        "change its own spec"
    );
    let pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sneaky"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}
    }))
    .expect("pod");
    assert_eq!(
        code(pods.create(&Default::default(), &pod).await),
        403,
        "create a pod"
    );
    assert_eq!(code(pods.list(&Default::default()).await), 403, "list pods");
    assert_eq!(
        code(secrets.get("mine-secret").await),
        403,
        "read the secret"
    );
}

fn scheduled(
    name: &str,
    schedule: &str,
    policy: &str,
    template: serde_json::Value,
) -> serde_json::Value {
    json!({
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "ScheduledSparkApplication",
        "metadata": {"name": name},
        "spec": {
            "schedule": schedule,
            "concurrencyPolicy": policy,
            "successfulRunHistoryLimit": 1,
            "failedRunHistoryLimit": 1,
            "template": template,
        }
    })
}

/// Runs of scheduled application `name`: (run name, state).
async fn runs_of(client: &kube::Client, ns: &str, name: &str) -> Vec<(String, String)> {
    let apps: kube::Api<kiln_operator::SparkApplication> =
        kube::Api::namespaced(client.clone(), ns);
    let mut out: Vec<(String, String)> = apps
        .list(&kube::api::ListParams::default().labels(&format!("kiln.dev/scheduled-app={name}")))
        .await
        .expect("list runs")
        .items
        .iter()
        .map(|a| (a.name_any(), state(a)))
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_applications_run_every_10s_honour_forbid_and_history_limits() {
    let ns = "ctl-cron";
    let client = setup(ns).await;
    let _op = Operator::start(ns, &[]);
    let out = tempfile::tempdir().expect("tempdir");
    let api: kube::Api<kiln_operator::ScheduledSparkApplication> =
        kube::Api::namespaced(client.clone(), ns);
    let quick = counting_app("unused", out.path())["spec"].clone();
    // A run that never ends: its executors cannot be scheduled, and the
    // driver waits for them far longer than the test.
    let mut stuck = quick.clone();
    stuck["executor"]["nodeSelector"] = json!({"kiln.dev/no-such-node": "true"});
    stuck["conf"] = json!({"kiln.executor.registrationTimeout": "600s"});
    for (name, policy, template) in [("every", "Allow", quick), ("forbid", "Forbid", stuck)] {
        let s: kiln_operator::ScheduledSparkApplication =
            serde_json::from_value(scheduled(name, "@every 10s", policy, template)).expect("json");
        api.create(&Default::default(), &s).await.expect("create");
    }
    let bad: kiln_operator::ScheduledSparkApplication = serde_json::from_value(scheduled(
        "bad",
        "61 * * * *",
        "Allow",
        counting_app("unused", out.path())["spec"].clone(),
    ))
    .expect("json");
    api.create(&Default::default(), &bad).await.expect("create");

    // Allow + history limit 1: several runs made, one completed kept.
    let mut created = std::collections::BTreeSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let runs = runs_of(&client, ns, "every").await;
        created.extend(runs.iter().map(|r| r.0.clone()));
        let completed = runs.iter().filter(|r| r.1 == "COMPLETED").count();
        // A run completes a moment before the next reconcile trims the history.
        assert!(completed <= 2, "history limit not applied: {runs:?}");
        if created.len() >= 3 && completed == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "runs of `every`: {runs:?}; created so far {created:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let every = api.get("every").await.expect("get");
    let st = every.status.clone().expect("status");
    assert_eq!(
        st.schedule_state,
        Some(kiln_operator::ScheduleState::Scheduled)
    );
    assert!(st.last_run.is_some() && st.next_run.is_some(), "{st:?}");
    assert!(
        st.last_run_name
            .as_ref()
            .is_some_and(|n| created.contains(n)),
        "{st:?}"
    );
    assert_eq!(st.past_successful_run_names.len(), 1, "{st:?}");

    // Forbid: the first run still runs, so every later slot was skipped.
    let forbid_events = events_with(&client, ns, "forbid", "RunSkipped").await;
    assert!(
        forbid_events.iter().any(|e| e.0 == "RunSkipped"),
        "{forbid_events:?}"
    );
    let runs = runs_of(&client, ns, "forbid").await;
    assert_eq!(runs.len(), 1, "Forbid let a second run start: {runs:?}");

    // An out-of-range field is reported, not run.
    let bad = api.get("bad").await.expect("get");
    let st = bad.status.clone().expect("status");
    assert_eq!(
        st.schedule_state,
        Some(kiln_operator::ScheduleState::FailedValidation)
    );
    assert!(st.reason.contains("minute"), "{}", st.reason);
    assert!(runs_of(&client, ns, "bad").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_restarted_mid_job_makes_no_duplicates_and_the_job_completes() {
    let ns = "ctl-restart";
    let client = setup(ns).await;
    let mut first = Operator::start(ns, &[]);
    let out = tempfile::tempdir().expect("tempdir");
    create(
        &client,
        ns,
        slow_counting_app("steady", out.path(), json!({"type": "Never"})),
    )
    .await;
    wait_stage_started(ns, "steady-driver").await;
    first.kill();
    let second = Operator::start(ns, &[]);
    let (app, seen) = wait_finished(&client, ns, "steady", &second).await;
    assert_eq!(state(&app), "COMPLETED", "{seen:?}");
    assert_eq!(csv_rows(out.path()), COUNTING_ROWS);
    let st = app.status.expect("status");
    assert_eq!(st.execution_attempts, 1);
    let mut execs: Vec<&String> = st.executor_state.keys().collect();
    execs.sort();
    assert_eq!(
        execs,
        ["steady-1-exec-1", "steady-1-exec-2"],
        "duplicate executors"
    );
    let drivers = role_pods(&client, ns, "steady", "driver").await;
    assert_eq!(drivers.len(), 1);
}

/// Who reported the events about `name`.
async fn reporters(client: &kube::Client, ns: &str, name: &str) -> Vec<String> {
    let api: kube::Api<k8s_openapi::api::events::v1::Event> =
        kube::Api::namespaced(client.clone(), ns);
    let mut out: Vec<String> = api
        .list(&Default::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .filter_map(|e| e.reporting_instance)
        .collect();
    out.sort();
    out.dedup();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_replicas_only_the_leader_acts_and_a_standby_takes_over() {
    let ns = "ctl-leader";
    let client = setup(ns).await;
    let lease_args = |id: &str| {
        vec![
            "--leader-elect".to_string(),
            "--lease-name=ctl-leader".to_string(),
            format!("--lease-namespace={ns}"),
            "--lease-duration=4".to_string(),
            format!("--identity={id}"),
        ]
    };
    let a_args = lease_args("replica-a");
    let mut a = Operator::start(ns, &a_args.iter().map(String::as_str).collect::<Vec<_>>());
    let leases: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
        kube::Api::namespaced(client.clone(), ns);
    let holder = || async {
        leases
            .get_opt("ctl-leader")
            .await
            .ok()
            .flatten()
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
    };
    until("replica-a to lead", T, || async {
        holder().await.as_deref() == Some("replica-a")
    })
    .await;
    let b_args = lease_args("replica-b");
    let b = Operator::start(ns, &b_args.iter().map(String::as_str).collect::<Vec<_>>());

    let out = tempfile::tempdir().expect("tempdir");
    create(&client, ns, counting_app("first", &out.path().join("1"))).await;
    wait_state(&client, ns, "first", "COMPLETED", &a).await;
    assert_eq!(reporters(&client, ns, "first").await, ["replica-a"]);
    assert_eq!(holder().await.as_deref(), Some("replica-a"));

    // The leader dies without releasing the lease: b takes over after it expires.
    a.kill();
    until("replica-b to lead", T, || async {
        holder().await.as_deref() == Some("replica-b")
    })
    .await;
    create(&client, ns, counting_app("second", &out.path().join("2"))).await;
    wait_state(&client, ns, "second", "COMPLETED", &b).await;
    assert_eq!(reporters(&client, ns, "second").await, ["replica-b"]);
    assert!(b.log().contains("acquired the lease"), "{}", b.log());
}

/// The counting job, running until its spec changes: its executors cannot
/// be scheduled, and the driver waits for them.
fn endless_app(name: &str, out: &std::path::Path) -> serde_json::Value {
    let mut app = counting_app(name, out);
    app["spec"]["executor"]["nodeSelector"] = json!({"kiln.dev/no-such-node": "true"});
    app["spec"]["conf"] = json!({"kiln.executor.registrationTimeout": "600s"});
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_resume_and_spec_changes_restart_the_run_and_metrics_show_it() {
    let ns = "ctl-suspend";
    let client = setup(ns).await;
    let (op, addr) = Operator::start_with_metrics(ns);
    let out = tempfile::tempdir().expect("tempdir");
    create(&client, ns, endless_app("pausable", out.path())).await;
    wait_state(&client, ns, "pausable", "RUNNING", &op).await;

    let apps: kube::Api<kiln_operator::SparkApplication> =
        kube::Api::namespaced(client.clone(), ns);
    let pp = kube::api::PatchParams::default();
    let set = |v: serde_json::Value| kube::api::Patch::Merge(v);
    apps.patch("pausable", &pp, &set(json!({"spec": {"suspend": true}})))
        .await
        .expect("suspend");
    wait_state(&client, ns, "pausable", "SUSPENDED", &op).await;
    assert!(app_pods(&client, ns, "pausable").await.is_empty());

    apps.patch("pausable", &pp, &set(json!({"spec": {"suspend": false}})))
        .await
        .expect("resume");
    let (resumed, seen) = wait_state(&client, ns, "pausable", "RUNNING", &op).await;
    assert!(
        seen.contains(&"RESUMING".to_string()) || seen.contains(&"SUBMITTED".to_string()),
        "{seen:?}"
    );
    assert_eq!(resumed.status.expect("status").execution_attempts, 2);

    // A spec change while running: the run is stopped and started over.
    apps.patch(
        "pausable",
        &pp,
        &set(json!({"spec": {"executor": {"nodeSelector": null}, "conf": null}})),
    )
    .await
    .expect("change the spec");
    let (done, seen) = wait_finished(&client, ns, "pausable", &op).await;
    assert_eq!(state(&done), "COMPLETED", "{seen:?}");
    assert_eq!(
        done.status.expect("status").execution_attempts,
        1,
        "a new spec starts over"
    );
    assert_eq!(csv_rows(out.path()), COUNTING_ROWS);
    let r: Vec<String> = events_with(&client, ns, "pausable", "SparkApplicationSpecUpdated")
        .await
        .into_iter()
        .map(|e| e.0)
        .collect();
    for want in [
        "SparkApplicationSuspending",
        "SparkApplicationSuspended",
        "SparkApplicationResuming",
        "SparkApplicationSpecUpdated",
    ] {
        assert!(r.iter().any(|x| x == want), "no {want} in {r:?}");
    }

    // Metrics and health of the operator that did all this.
    let (status, body) = http_get(&addr, "/metrics");
    assert!(status.contains("200"), "{status}");
    assert!(
        body.contains("kiln_operator_applications{state=\"COMPLETED\"} 1"),
        "{body}"
    );
    assert!(
        body.contains("kiln_operator_submission_latency_seconds_count 1"),
        "{body}"
    );
    assert!(
        body.contains("kiln_operator_transitions_total{state=\"SUSPENDED\"} 1"),
        "{body}"
    );
    assert!(
        !body.contains("kiln_operator_reconciles_total 0\n"),
        "{body}"
    );
    assert!(http_get(&addr, "/healthz").0.contains("200"));
    assert!(http_get(&addr, "/readyz").0.contains("200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_allocation_adds_executors_the_driver_asks_for() {
    let ns = "ctl-dynalloc";
    let (client, op, out) = start(ns).await;
    // Four tasks per stage, each held 1 s, on executors of one slot: the
    // driver asks for four executors; max caps it at three.
    let mut v = slow_counting_app("elastic", out.path(), json!({"type": "Never"}));
    v["spec"]["executor"] = json!({"instances": 1, "cores": 1});
    v["spec"]["dynamicAllocation"] =
        json!({"enabled": true, "minExecutors": 1, "initialExecutors": 1, "maxExecutors": 3});
    create(&client, ns, v).await;
    let (app, seen) = wait_finished(&client, ns, "elastic", &op).await;
    let st = app.status.clone().expect("status");
    assert_eq!(state(&app), "COMPLETED", "{seen:?} {st:#?}");
    assert_eq!(csv_rows(out.path()), COUNTING_ROWS);
    // Once its job is over the driver asks for none.
    assert_eq!(st.requested_executors, Some(0));
    let execs: Vec<_> = st.executor_state.keys().cloned().collect();
    assert_eq!(execs.len(), 3, "expected max (3) executors, saw {execs:?}");
    let ev = events_with(&client, ns, "elastic", "ExecutorsAdded").await;
    assert!(
        ev.iter()
            .any(|e| e.0 == "ExecutorsAdded" && e.1.contains("the driver asked for 3")),
        "{ev:?}"
    );
}

/// The operator's requests to the API server per reconcile of a running
/// application (issue 16; the numbers are in bench/RESULTS.md): twenty
/// annotation changes each make a reconcile of an application whose driver
/// runs and whose executors wait; `kiln_operator_api_requests_total` before
/// and after says what those reconciles asked the API server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_requests_per_reconcile_of_a_running_application() {
    let ns = "ctl-api-calls";
    let client = setup(ns).await;
    let (op, addr) = Operator::start_with_metrics(ns);
    let out = tempfile::tempdir().expect("tempdir");
    create(&client, ns, endless_app("steady", out.path())).await;
    // Running, with its two executor pods made and counted.
    wait_app(
        &client,
        ns,
        "steady",
        T,
        |a| {
            state(a) == "RUNNING"
                && a.status
                    .as_ref()
                    .is_some_and(|s| s.executor_state.len() == 2)
        },
        &op,
    )
    .await;
    let apps: kube::Api<kiln_operator::SparkApplication> =
        kube::Api::namespaced(client.clone(), ns);
    // The operator's watch delivers its own last status write.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = operator_metrics(&addr);
    for i in 0..20 {
        let poke = json!({"metadata": {"annotations": {"test.kiln.dev/poke": i.to_string()}}});
        apps.patch(
            "steady",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(poke),
        )
        .await
        .expect("annotate");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The last change's reconcile.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = operator_metrics(&addr);
    let app = apps.get("steady").await.expect("get");
    assert_eq!(state(&app), "RUNNING", "{}", op.log());

    let delta =
        |k: &str| after.get(k).copied().unwrap_or(0.0) - before.get(k).copied().unwrap_or(0.0);
    let reconciles = delta("kiln_operator_reconciles_total");
    assert!(
        reconciles >= 10.0,
        "only {reconciles} reconciles for 20 changes"
    );
    let mut calls: Vec<(String, f64)> = after
        .keys()
        .filter(|k| k.starts_with("kiln_operator_api_requests_total{"))
        .map(|k| (k.clone(), delta(k)))
        .filter(|(_, n)| *n > 0.0)
        .collect();
    calls.sort_by(|a, b| a.0.cmp(&b.0));
    println!("{reconciles} reconciles of a running application; API requests in that time:");
    for (k, n) in &calls {
        let labels = k.trim_start_matches("kiln_operator_api_requests_total");
        println!("  {labels:60} {n:4}  {:.2} per reconcile", n / reconciles);
    }
    let reads: f64 = calls
        .iter()
        .filter(|(k, _)| k.contains("verb=\"get\"") || k.contains("verb=\"list\""))
        .map(|(_, n)| n)
        .sum::<f64>()
        // An empty sum is -0.0; print it as 0.
        + 0.0;
    println!(
        "reads (get + list) per reconcile: {:.2}",
        reads / reconciles
    );
    // The application and its pods come from the controller's stores: no
    // read of the API server at all while nothing the operator wrote is
    // pending (it wrote nothing in this window).
    assert_eq!(reads, 0.0, "reads from the API server: {calls:?}");
    assert!(
        after.contains_key("kiln_operator_api_requests_total{verb=\"watch\",resource=\"pods\"}"),
        "the pod watch is counted: {after:?}"
    );
    apps.delete("steady", &Default::default())
        .await
        .expect("delete");
}
