//! Kubernetes Events about applications: one for every state transition and
//! for the operator's notable actions (executor replaced, application
//! deleted after its TTL), so `kubectl describe sparkapp` tells the story.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource};
use tracing::warn;

use crate::application::ApplicationStateType;

/// Name the operator reports events under.
pub const CONTROLLER_NAME: &str = "kiln-operator";

/// Publishes events for the operator.
#[derive(Clone)]
pub struct Events {
    recorder: Recorder,
}

impl Events {
    /// Events reported by this operator instance (`instance`: its pod name).
    pub fn new(client: Client, instance: Option<String>) -> Self {
        let reporter = Reporter {
            controller: CONTROLLER_NAME.into(),
            instance,
        };
        Events {
            recorder: Recorder::new(client, reporter),
        }
    }

    /// Publishes an event about `obj`; failures are logged, never fatal (an
    /// event is worth less than the reconcile that produced it).
    pub async fn publish<K>(&self, obj: &K, warning: bool, reason: &str, note: String)
    where
        K: Resource<DynamicType = ()>,
    {
        self.publish_related(obj, None, warning, reason, note).await
    }

    /// Publishes an event about `obj` that concerns `related` too. The
    /// recorder folds repeats of an event (same object, reason and related
    /// object) into one series; naming the run's driver pod and run keeps
    /// the transitions of different runs apart.
    pub async fn publish_related<K>(
        &self,
        obj: &K,
        related: Option<ObjectReference>,
        warning: bool,
        reason: &str,
        note: String,
    ) where
        K: Resource<DynamicType = ()>,
    {
        let ev = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.to_string(),
            // The events API refuses notes over 1 kB.
            note: Some(truncate(&note, 1000)),
            action: "Reconcile".into(),
            secondary: related,
        };
        if let Err(e) = self.recorder.publish(&ev, &obj.object_ref(&())).await {
            warn!(reason, "cannot publish event: {e}");
        }
    }

    /// The event of a transition into `to`, during run `run` whose driver
    /// pod is `driver_pod` (if any).
    pub async fn transition<K>(
        &self,
        obj: &K,
        driver_pod: Option<&str>,
        run: i32,
        from: ApplicationStateType,
        to: ApplicationStateType,
        detail: &str,
    ) where
        K: Resource<DynamicType = ()>,
    {
        let warning = matches!(
            to,
            ApplicationStateType::Failing
                | ApplicationStateType::Failed
                | ApplicationStateType::SubmissionFailed
        );
        let mut note = format!("{from} -> {to}");
        if !detail.is_empty() {
            note.push_str(": ");
            note.push_str(detail);
        }
        // Every run's driver pod has the same name (`<app>-driver`): the
        // run label tells the runs' pods, and so their event series, apart.
        let related = driver_pod.map(|name| ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: Some(name.to_string()),
            namespace: obj.meta().namespace.clone(),
            field_path: Some(format!("metadata.labels['kiln.dev/run']={run}")),
            ..ObjectReference::default()
        });
        self.publish_related(obj, related, warning, reason_for(to), note)
            .await;
    }
}

/// The event reason of entering a state (kubeflow's names where they exist).
pub fn reason_for(state: ApplicationStateType) -> &'static str {
    use ApplicationStateType as S;
    match state {
        S::New => "SparkApplicationAdded",
        S::Submitted => "SparkApplicationSubmitted",
        S::Running => "SparkDriverRunning",
        S::Succeeding => "SparkDriverCompleted",
        S::Completed => "SparkApplicationCompleted",
        S::Failing => "SparkDriverFailed",
        S::Failed => "SparkApplicationFailed",
        S::SubmissionFailed => "SparkApplicationSubmissionFailed",
        S::PendingRerun => "SparkApplicationPendingRerun",
        S::Invalidating => "SparkApplicationSpecUpdated",
        S::Suspending => "SparkApplicationSuspending",
        S::Suspended => "SparkApplicationSuspended",
        S::Resuming => "SparkApplicationResuming",
        S::Unknown => "SparkDriverUnknown",
    }
}

/// At most `max` bytes of `s`, cut at a character boundary.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}
