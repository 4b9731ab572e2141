//! The submission timeout on the test control plane: a driver pod that never
//! starts (an image the process node cannot run, a node selector no node
//! matches) fails its submission after the operator's `--submission-timeout`
//! or the application's `kiln.dev/submission-timeout` annotation, and then
//! `restartPolicy` decides: a re-submission, then FAILED with the reason in
//! `errorMessage`. Never stuck in SUBMITTED.

mod controller_support;

use std::time::Duration;

use controller_support::*;
use serde_json::json;

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
        json!({
            "apiVersion": "kiln.dev/v1alpha1",
            "kind": "SparkApplication",
            "metadata": {"name": "unpullable"},
            "spec": {
                "sql": "SELECT 1",
                "image": "registry.invalid/nothing:1",
                "restartPolicy": {"type": "OnFailure", "onSubmissionFailureRetries": 1,
                                  "onSubmissionFailureRetryInterval": 1},
            }
        }),
    )
    .await;
    // Unschedulable, with its own (shorter) timeout, no retry.
    create(
        &client,
        ns,
        json!({
            "apiVersion": "kiln.dev/v1alpha1",
            "kind": "SparkApplication",
            "metadata": {"name": "nowhere",
                         "annotations": {"kiln.dev/submission-timeout": "1s"}},
            "spec": {
                "sql": "SELECT 1",
                "driver": {"nodeSelector": {"kiln.dev/no-such-node": "true"}},
            }
        }),
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
    let ev = events(&client, ns, "unpullable").await;
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
