//! Application lifecycle rules on the test control plane, each with a real
//! `kiln operator` process:
//!
//! - the submission timeout: a driver pod that never starts (an image the
//!   process node cannot run, a node selector no node matches) fails its
//!   submission after the operator's `--submission-timeout` or the
//!   application's `kiln.dev/submission-timeout` annotation, and then
//!   `restartPolicy` decides: a re-submission, then FAILED with the reason in
//!   `errorMessage`. Never stuck in SUBMITTED.
//! - `suspend` on a finished application does nothing: set and cleared, the
//!   application stays COMPLETED and is not run again.

mod controller_support;

use std::time::Duration;

use controller_support::*;
use kiln_operator::SparkApplication;
use kube::api::{Patch, PatchParams};
use kube::Api;
use serde_json::json;

/// A SparkApplication with `metadata` and `spec`.
fn manifest(metadata: serde_json::Value, spec: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "kiln.dev/v1alpha1",
        "kind": "SparkApplication",
        "metadata": metadata,
        "spec": spec,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_pod_that_never_starts_fails_its_submission_after_the_timeout() {
    let ns = "ctl-submit-timeout";
    let client = setup(ns).await;
    let op = Operator::start(ns, &["--submission-timeout=2"]);
    // No `kiln` in the image name: the node has no binary for it, so the
    // container waits (ImageNotMapped) like an image that cannot be pulled.
    create(
        &client,
        ns,
        manifest(
            json!({"name": "unpullable"}),
            json!({
                "sql": "SELECT 1",
                "image": "registry.invalid/nothing:1",
                "restartPolicy": {"type": "OnFailure", "onSubmissionFailureRetries": 1,
                                  "onSubmissionFailureRetryInterval": 1},
            }),
        ),
    )
    .await;
    // Unschedulable, with its own (shorter) timeout, no retry.
    create(
        &client,
        ns,
        manifest(
            json!({"name": "nowhere", "annotations": {"kiln.dev/submission-timeout": "1s"}}),
            json!({
                "sql": "SELECT 1",
                "driver": {"nodeSelector": {"kiln.dev/no-such-node": "true"}},
            }),
        ),
    )
    .await;

    let limit = Duration::from_secs(60);
    let (a, seen) = wait_app(
        &client,
        ns,
        "unpullable",
        limit,
        |a| state(a) == "FAILED",
        &op,
    )
    .await;
    let st = a.status.expect("status");
    assert_eq!(st.submission_attempts, 2, "one retry: {seen:?} {st:#?}");
    assert_eq!(st.execution_attempts, 1, "the same run re-submitted");
    let msg = &st.application_state.error_message;
    assert!(
        msg.contains("did not start within 2s") && msg.contains("ImageNotMapped"),
        "{msg:?}"
    );
    let ev = events_with(
        &client,
        ns,
        "unpullable",
        "SparkApplicationSubmissionFailed",
    )
    .await;
    assert!(
        ev.iter().any(|e| e.0 == "SparkApplicationSubmissionFailed"
            && e.1.starts_with("SUBMITTED -> SUBMISSION_FAILED")),
        "{ev:?}"
    );
    until("the pending driver pod to go", T, || async {
        app_pods(&client, ns, "unpullable").await.is_empty()
    })
    .await;

    let (a, seen) = wait_app(&client, ns, "nowhere", limit, |a| state(a) == "FAILED", &op).await;
    let st = a.status.expect("status");
    assert_eq!(st.submission_attempts, 1, "Never: no retry; {seen:?}");
    let msg = &st.application_state.error_message;
    assert!(
        msg.contains("did not start within 1s") && msg.contains("unschedulable"),
        "{msg:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspending_a_finished_application_does_not_run_it_again() {
    let ns = "ctl-suspend-done";
    let (client, op, out) = start(ns).await;
    let sql = format!(
        "COPY (SELECT 42 AS answer) TO '{}/' STORED AS CSV;",
        out.path().display()
    );
    create(
        &client,
        ns,
        manifest(json!({"name": "done"}), json!({"sql": sql})),
    )
    .await;
    let (a, seen) = wait_finished(&client, ns, "done", &op).await;
    assert_eq!(state(&a), "COMPLETED", "{seen:?}");
    assert_eq!(csv_rows(out.path()), ["42"]);

    let apps: Api<SparkApplication> = Api::namespaced(client.clone(), ns);
    let pp = PatchParams::default();
    for suspend in [true, false] {
        let patched = apps
            .patch(
                "done",
                &pp,
                &Patch::Merge(json!({"spec": {"suspend": suspend}})),
            )
            .await
            .expect("patch suspend");
        let generation = patched.metadata.generation;
        // The operator takes the new generation as observed (nothing of the
        // job changed) instead of starting a new run.
        let (a, seen) = wait_app(
            &client,
            ns,
            "done",
            T,
            |a| a.status.as_ref().and_then(|s| s.observed_generation) == generation,
            &op,
        )
        .await;
        let st = a.status.clone().expect("status");
        assert_eq!(state(&a), "COMPLETED", "suspend={suspend}: {seen:?}");
        assert_eq!(st.execution_attempts, 1);
    }
    let drivers = role_pods(&client, ns, "done", "driver").await;
    assert_eq!(drivers.len(), 1, "no second run");
    let r: Vec<String> = events(&client, ns, "done")
        .await
        .into_iter()
        .map(|e| e.0)
        .collect();
    for never in [
        "SparkApplicationSpecUpdated",
        "SparkApplicationSuspending",
        "SparkApplicationSuspended",
    ] {
        assert!(!r.iter().any(|x| x == never), "{never} in {r:?}");
    }
}
