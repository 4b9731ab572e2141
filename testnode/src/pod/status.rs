//! The pod's status as the API server sees it: phase, conditions and
//! container statuses, written only when they change.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::Api;
use serde_json::{json, Value};
use tracing::warn;

use super::{CState, Ctr, PodWorker, Term};
use crate::node::NODE_IP;

impl PodWorker {
    pub(super) fn phase(&self) -> &'static str {
        if self.init_failed {
            return "Failed";
        }
        let apps: Vec<&Ctr> = self.ctrs.iter().filter(|c| !c.init).collect();
        if self.ctrs.iter().any(|c| c.init && !c.done) {
            return "Pending";
        }
        if !apps.is_empty() && apps.iter().all(|c| c.done) {
            let ok = apps
                .iter()
                .all(|c| matches!(&c.state, CState::Terminated(t) if t.exit_code == 0));
            return if ok { "Succeeded" } else { "Failed" };
        }
        if apps.iter().any(|c| c.generation > 0) {
            "Running"
        } else {
            "Pending"
        }
    }

    pub(super) fn condition(&mut self, kind: &str, ok: bool) -> Value {
        let now = Timestamp::now();
        let entry = self.cond_times.entry(kind.to_string()).or_insert((ok, now));
        if entry.0 != ok {
            *entry = (ok, now);
        }
        json!({
            "type": kind,
            "status": if ok { "True" } else { "False" },
            "lastTransitionTime": entry.1.to_string(),
        })
    }

    pub(super) fn container_status(&self, c: &Ctr) -> Value {
        let term = |t: &Term| {
            json!({"terminated": {
                "exitCode": t.exit_code,
                "signal": t.signal,
                "reason": t.reason,
                "message": t.message,
                "startedAt": t.started.to_string(),
                "finishedAt": t.finished.to_string(),
            }})
        };
        let state = match &c.state {
            CState::Waiting { reason, message } => {
                json!({"waiting": {"reason": reason, "message": message}})
            }
            CState::Running { started } => json!({"running": {"startedAt": started.to_string()}}),
            CState::Terminated(t) => term(t),
        };
        json!({
            "name": c.spec.name,
            "image": c.spec.image.clone().unwrap_or_default(),
            "imageID": "",
            "containerID": c.pgid.map(|p| format!("kiln-testnode://{p}")),
            "ready": c.ready,
            "started": matches!(c.state, CState::Running { .. }),
            "restartCount": c.restart_count,
            "state": state,
            "lastState": c.last.as_ref().map(term).unwrap_or_else(|| json!({})),
        })
    }

    pub(super) async fn push_status(&mut self) {
        let phase = self.phase();
        let init_done = !self.ctrs.iter().any(|c| c.init && !c.done) && !self.init_failed;
        let apps_ready = self.ctrs.iter().filter(|c| !c.init).all(|c| c.ready);
        let conditions = vec![
            self.condition("PodReadyToStartContainers", self.prepared),
            self.condition("Initialized", init_done),
            self.condition("ContainersReady", apps_ready),
            self.condition("Ready", apps_ready),
            self.condition("PodScheduled", true),
        ];
        let init: Vec<Value> = self
            .ctrs
            .iter()
            .filter(|c| c.init)
            .map(|c| self.container_status(c))
            .collect();
        let apps: Vec<Value> = self
            .ctrs
            .iter()
            .filter(|c| !c.init)
            .map(|c| self.container_status(c))
            .collect();
        let status = json!({"status": {
            "phase": phase,
            "podIP": self.ip,
            "podIPs": [{"ip": self.ip}],
            "hostIP": NODE_IP,
            "hostIPs": [{"ip": NODE_IP}],
            "startTime": self.started_at.to_string(),
            "conditions": conditions,
            "initContainerStatuses": init,
            "containerStatuses": apps,
        }});
        if self.last_status.as_ref() == Some(&status) {
            return;
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &self.ns());
        match api
            .patch_status(
                &self.name(),
                &PatchParams::default(),
                &Patch::Merge(&status),
            )
            .await
        {
            Ok(_) => self.last_status = Some(status),
            Err(kube::Error::Api(e)) if e.code == 404 => self.last_status = Some(status),
            Err(e) => warn!(ns = %self.ns(), pod = %self.name(), "status update failed: {e}"),
        }
    }
}
