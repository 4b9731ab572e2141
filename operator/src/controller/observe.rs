//! Reading pods: a driver pod as the state machine sees it, an executor
//! pod's state, the engine's error in a driver's log, and the merge patch
//! that turns one status into another. Pure functions, unit-tested.

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Map, Value};

use super::state::DriverObs;
use crate::application::ExecutorState;

/// The phase of a pod (`""` when unknown).
pub fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// The pod's IP once it has one.
pub fn pod_ip(p: &Pod) -> Option<&str> {
    p.status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .filter(|ip| !ip.is_empty())
}

/// Whether the pod is being deleted.
pub fn terminating(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_some()
}

/// Whether the pod runs and is ready.
pub fn ready(p: &Pod) -> bool {
    phase(p) == "Running"
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// How the node says the first container ended: `exit code N (Reason)`.
pub fn termination(p: &Pod) -> Option<String> {
    let st = p.status.as_ref()?.container_statuses.as_ref()?.first()?;
    let t = st.state.as_ref()?.terminated.as_ref()?;
    let mut s = format!("exit code {}", t.exit_code);
    if let Some(sig) = t.signal {
        s.push_str(&format!(", signal {sig}"));
    }
    if let Some(r) = &t.reason {
        s.push_str(&format!(" ({r})"));
    }
    if let Some(m) = t.message.as_deref().filter(|m| !m.is_empty()) {
        s.push_str(&format!(": {m}"));
    }
    Some(s)
}

/// Why a pod has not started, as the scheduler and the kubelet report it:
/// `unschedulable: <message>`, or a waiting container's `<reason>:
/// <message>` (`ErrImagePull`, `ImagePullBackOff`,
/// `CreateContainerConfigError`, ...). `None` when nothing says.
pub fn waiting_reason(p: &Pod) -> Option<String> {
    let st = p.status.as_ref()?;
    let unscheduled = st
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False");
    if let Some(c) = unscheduled {
        let what = c
            .reason
            .as_deref()
            .unwrap_or("not scheduled")
            .to_lowercase();
        return Some(match c.message.as_deref().filter(|m| !m.is_empty()) {
            Some(m) => format!("{what}: {m}"),
            None => what,
        });
    }
    st.init_container_statuses
        .iter()
        .flatten()
        .chain(st.container_statuses.iter().flatten())
        .find_map(|c| {
            let w = c.state.as_ref()?.waiting.as_ref()?;
            let reason = w.reason.as_deref().filter(|r| !r.is_empty())?;
            Some(match w.message.as_deref().filter(|m| !m.is_empty()) {
                Some(m) => format!("{reason}: {m}"),
                None => reason.to_string(),
            })
        })
}

/// The driver pod as the state machine sees it.
pub fn driver_obs(p: Option<&Pod>) -> DriverObs {
    let Some(p) = p else {
        return DriverObs::Absent;
    };
    match phase(p) {
        "Succeeded" => DriverObs::Succeeded,
        "Failed" => DriverObs::Failed(format!(
            "the driver failed: {}",
            termination(p).unwrap_or_else(|| "no exit status".into())
        )),
        _ if terminating(p) => DriverObs::Terminating,
        "Running" => DriverObs::Running,
        _ => DriverObs::Pending,
    }
}

/// An executor pod's state.
pub fn executor_state(p: &Pod) -> ExecutorState {
    match phase(p) {
        "Pending" | "" => ExecutorState::Pending,
        "Running" => ExecutorState::Running,
        "Succeeded" => ExecutorState::Completed,
        "Failed" => ExecutorState::Failed,
        _ => ExecutorState::Unknown,
    }
}

/// The engine's message in a driver's log: `kiln` ends a failed run with a
/// line `error: <message>`; the last such line wins.
pub fn engine_error(log: &str) -> Option<String> {
    log.lines()
        .rev()
        .find_map(|l| l.strip_prefix("error: "))
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
}

/// The last `n` lines of `log`.
pub fn tail(log: &str, n: usize) -> Vec<String> {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

/// The JSON merge patch (RFC 7386) turning `old` into `new`: changed and
/// added fields as in `new`, removed fields as `null`. Fields equal in both
/// are left out, so fields others wrote since `old` was read survive.
pub fn merge_diff(old: &Value, new: &Value) -> Option<Value> {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut out = Map::new();
            for (k, nv) in n {
                match o.get(k) {
                    Some(ov) => {
                        if let Some(d) = merge_diff(ov, nv) {
                            out.insert(k.clone(), d);
                        }
                    }
                    None => {
                        out.insert(k.clone(), nv.clone());
                    }
                }
            }
            for k in o.keys() {
                if !n.contains_key(k) {
                    out.insert(k.clone(), Value::Null);
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        (o, n) if o == n => None,
        (_, n) => Some(n.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn driver_phases_map_to_observations() {
        assert_eq!(driver_obs(None), DriverObs::Absent);
        let p = pod(json!({"metadata": {"name": "d"}, "status": {"phase": "Pending"}}));
        assert_eq!(driver_obs(Some(&p)), DriverObs::Pending);
        let p = pod(
            json!({"metadata": {"name": "d"}, "status": {"phase": "Running", "podIP": "127.1.0.2"}}),
        );
        assert_eq!(driver_obs(Some(&p)), DriverObs::Running);
        assert_eq!(pod_ip(&p), Some("127.1.0.2"));
        let p = pod(
            json!({"metadata": {"name": "d", "deletionTimestamp": "2024-01-01T00:00:00Z"},
                           "status": {"phase": "Running"}}),
        );
        assert_eq!(driver_obs(Some(&p)), DriverObs::Terminating);
        let p = pod(
            json!({"metadata": {"name": "d"}, "status": {"phase": "Failed",
            "containerStatuses": [{"name": "spark-kubernetes-driver", "image": "i", "imageID": "", "ready": false,
              "restartCount": 0, "state": {"terminated": {"exitCode": 137, "signal": 9, "reason": "Error"}}}]}}),
        );
        assert_eq!(
            driver_obs(Some(&p)),
            DriverObs::Failed("the driver failed: exit code 137, signal 9 (Error)".into())
        );
    }

    #[test]
    fn a_pending_pod_says_why_it_waits() {
        let p = pod(
            json!({"metadata": {"name": "d"}, "status": {"phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                            "message": "0/1 nodes match the node selector"}]}}),
        );
        assert_eq!(
            waiting_reason(&p).as_deref(),
            Some("unschedulable: 0/1 nodes match the node selector")
        );
        let p = pod(
            json!({"metadata": {"name": "d"}, "status": {"phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "True"}],
            "containerStatuses": [{"name": "spark-kubernetes-driver", "image": "i", "imageID": "", "ready": false,
              "restartCount": 0, "state": {"waiting": {"reason": "ErrImagePull",
              "message": "pull access denied"}}}]}}),
        );
        assert_eq!(
            waiting_reason(&p).as_deref(),
            Some("ErrImagePull: pull access denied")
        );
        let p = pod(json!({"metadata": {"name": "d"}, "status": {"phase": "Pending"}}));
        assert_eq!(waiting_reason(&p), None);
    }

    #[test]
    fn the_engine_error_is_the_last_error_line() {
        let log = "driver listening on http://x\nstage 1: started\nerror: statement 1 of 1: Division by zero\n";
        assert_eq!(
            engine_error(log).as_deref(),
            Some("statement 1 of 1: Division by zero")
        );
        assert_eq!(engine_error("all good\n"), None);
        assert_eq!(tail("a\nb\nc\n", 2), vec!["b", "c"]);
        assert_eq!(tail("a\n", 5), vec!["a"]);
    }

    #[test]
    fn merge_diff_sets_changes_and_nulls_removals() {
        let old = json!({"a": 1, "m": {"x": "P", "y": "R"}, "keep": {"k": 1}, "gone": true});
        let new = json!({"a": 2, "m": {"x": "R"}, "keep": {"k": 1}, "added": "v"});
        assert_eq!(
            merge_diff(&old, &new),
            Some(json!({"a": 2, "m": {"x": "R", "y": null}, "gone": null, "added": "v"}))
        );
        assert_eq!(merge_diff(&old, &old), None);
    }
}
