//! Where applications' event logs go and where their history is served:
//! the operator's `--event-log-dir` (and the PersistentVolumeClaim
//! holding it, `--event-log-claim`) become each application's
//! `spark.eventLog.enabled` / `spark.eventLog.dir` unless it sets its own,
//! and `--history-url` (the chart's `kiln history` Deployment) gives each
//! run's `status.historyURL`. The driver archives its own and its
//! executors' logs next to the event log at the end, so the history server
//! shows them after the pods are gone.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, Volume, VolumeMount};

use super::ControllerError;

/// Spark's setting that turns the event log on.
pub const EVENT_LOG_ENABLED: &str = "spark.eventLog.enabled";
/// Spark's setting naming the event log folder (a path or `s3://`).
pub const EVENT_LOG_DIR: &str = "spark.eventLog.dir";
/// Name of the event-log volume in driver pods.
pub const EVENT_LOG_VOLUME: &str = "kiln-event-logs";

/// The event log and history server every application gets by default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryOptions {
    /// `spark.eventLog.dir` of applications that set none (`None`: the
    /// operator sets nothing).
    pub event_log_dir: Option<String>,
    /// A PersistentVolumeClaim (in each application's namespace) mounted
    /// at `event_log_dir` in driver pods.
    pub event_log_claim: Option<String>,
    /// Base URL of the history server (`http://kiln-history.kiln-system.svc:18080/history-base`).
    pub history_url: Option<String>,
}

impl HistoryOptions {
    /// Checks the combination: a claim needs a local folder to mount it
    /// at, and a local folder needs a claim.
    pub fn validate(&self) -> Result<(), ControllerError> {
        match (&self.event_log_claim, &self.event_log_dir) {
            (Some(_), None) => Err(ControllerError::Invalid(
                "--event-log-claim needs --event-log-dir (the path it is mounted at)".into(),
            )),
            (Some(_), Some(d)) if !d.starts_with('/') => Err(ControllerError::Invalid(format!(
                "--event-log-dir {d:?}: a PersistentVolumeClaim is mounted at an absolute path"
            ))),
            // A folder no volume backs would be each driver pod's own,
            // gone with the pod.
            (None, Some(d)) if !d.starts_with("s3://") => Err(ControllerError::Invalid(format!(
                "--event-log-dir {d:?}: a folder needs --event-log-claim (the volume holding it); otherwise use s3://bucket/prefix"
            ))),
            _ => Ok(()),
        }
    }

    /// The settings the operator adds to an application whose `conf` (its
    /// merged `sparkConf` and `conf`) sets neither: the event log on, in the
    /// operator's folder. An application that sets either keeps its own.
    pub fn job_conf(&self, conf: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let Some(dir) = &self.event_log_dir else {
            return BTreeMap::new();
        };
        if conf.contains_key(EVENT_LOG_ENABLED) || conf.contains_key(EVENT_LOG_DIR) {
            return BTreeMap::new();
        }
        BTreeMap::from([
            (EVENT_LOG_ENABLED.to_string(), "true".to_string()),
            (EVENT_LOG_DIR.to_string(), dir.clone()),
        ])
    }

    /// Mounts the event-log claim into a driver pod (whose job got
    /// [`HistoryOptions::job_conf`]); nothing without a claim or when the
    /// application chose its own event log.
    pub fn mount(&self, conf: &BTreeMap<String, String>, pod: &mut Pod) {
        let (Some(claim), Some(dir)) = (&self.event_log_claim, &self.event_log_dir) else {
            return;
        };
        if self.job_conf(conf).is_empty() {
            return;
        }
        let Some(spec) = pod.spec.as_mut() else {
            return;
        };
        let volume: Result<Volume, _> = serde_json::from_value(serde_json::json!({
            "name": EVENT_LOG_VOLUME,
            "persistentVolumeClaim": {"claimName": claim},
        }));
        let Ok(volume) = volume else { return };
        spec.volumes.get_or_insert_with(Vec::new).push(volume);
        for c in &mut spec.containers {
            c.volume_mounts
                .get_or_insert_with(Vec::new)
                .push(VolumeMount {
                    name: EVENT_LOG_VOLUME.into(),
                    mount_path: dir.clone(),
                    ..VolumeMount::default()
                });
        }
    }

    /// `status.historyURL` of run `app_id`: its pages in the history server,
    /// when there is one and the run's event log is the operator's.
    pub fn url(&self, conf: &BTreeMap<String, String>, app_id: &str) -> Option<String> {
        let base = self.history_url.as_deref()?.trim_end_matches('/');
        if self.job_conf(conf).is_empty() {
            return None;
        }
        Some(format!("{base}/history/{app_id}/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> HistoryOptions {
        HistoryOptions {
            event_log_dir: Some("/var/lib/kiln/events".into()),
            event_log_claim: Some("kiln-events".into()),
            history_url: Some("http://h.kiln-system.svc:18080/kiln-history/".into()),
        }
    }

    #[test]
    fn applications_without_an_event_log_get_the_operators() {
        let none = BTreeMap::new();
        let conf = opts().job_conf(&none);
        assert_eq!(conf[EVENT_LOG_ENABLED], "true");
        assert_eq!(conf[EVENT_LOG_DIR], "/var/lib/kiln/events");
        assert_eq!(
            opts().url(&none, "q-1").as_deref(),
            Some("http://h.kiln-system.svc:18080/kiln-history/history/q-1/")
        );
        let own = BTreeMap::from([(EVENT_LOG_ENABLED.to_string(), "false".to_string())]);
        assert!(opts().job_conf(&own).is_empty());
        assert_eq!(opts().url(&own, "q-1"), None);
        assert!(HistoryOptions::default().job_conf(&none).is_empty());
    }

    #[test]
    fn the_claim_is_mounted_at_the_folder() {
        let mut pod: Pod = serde_json::from_value(serde_json::json!({
            "spec": {"containers": [{"name": "c"}]}
        }))
        .unwrap();
        opts().mount(&BTreeMap::new(), &mut pod);
        let v = serde_json::to_value(&pod).unwrap();
        assert_eq!(
            v["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
            "kiln-events"
        );
        assert_eq!(
            v["spec"]["containers"][0]["volumeMounts"][0]["mountPath"],
            "/var/lib/kiln/events"
        );
        let bad = HistoryOptions {
            event_log_dir: Some("s3://b/p".into()),
            ..opts()
        };
        assert!(bad.validate().is_err());
        assert!(opts().validate().is_ok());
        let no_claim = HistoryOptions {
            event_log_claim: None,
            ..opts()
        };
        assert!(no_claim.validate().is_err());
        let s3 = HistoryOptions {
            event_log_dir: Some("s3://b/p".into()),
            event_log_claim: None,
            ..opts()
        };
        assert!(s3.validate().is_ok());
    }
}
