//! A one-node scheduler: binds pending pods that name no node, use the default
//! scheduler, match the node's labels and fit its remaining CPU and memory.
//! Pods that do not fit stay Pending (with a PodScheduled=False condition) and
//! are retried on the next pass.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Binding, Pod};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;
use tracing::{debug, info, warn};

use crate::config::NodeConfig;

/// Parses a CPU quantity into millicores.
pub fn cpu_millis(q: &str) -> i64 {
    if let Some(m) = q.strip_suffix('m') {
        m.parse().unwrap_or(0)
    } else {
        q.parse::<f64>().map(|c| (c * 1000.0) as i64).unwrap_or(0)
    }
}

/// Parses a memory quantity into bytes.
pub fn mem_bytes(q: &str) -> i64 {
    const UNITS: [(&str, f64); 12] = [
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    for (suffix, mult) in UNITS {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<f64>().map(|v| (v * mult) as i64).unwrap_or(0);
        }
    }
    q.parse::<f64>().map(|v| v as i64).unwrap_or(0)
}

/// (millicores, bytes) a pod requests: the sum over its containers, or the
/// largest init container if that is bigger (as kube-scheduler computes it).
pub fn pod_requests(pod: &Pod) -> (i64, i64) {
    let Some(spec) = &pod.spec else { return (0, 0) };
    let req = |c: &k8s_openapi::api::core::v1::Container| {
        let r = c.resources.as_ref();
        let get = |k: &str| {
            r.and_then(|r| r.requests.as_ref().and_then(|m| m.get(k)))
                .or_else(|| r.and_then(|r| r.limits.as_ref().and_then(|m| m.get(k))))
                .map(|q| q.0.clone())
        };
        (
            get("cpu").map(|q| cpu_millis(&q)).unwrap_or(0),
            get("memory").map(|q| mem_bytes(&q)).unwrap_or(0),
        )
    };
    let (mut cpu, mut mem) = (0, 0);
    for c in &spec.containers {
        let (a, b) = req(c);
        cpu += a;
        mem += b;
    }
    for c in spec.init_containers.iter().flatten() {
        let (a, b) = req(c);
        cpu = cpu.max(a);
        mem = mem.max(b);
    }
    (cpu, mem)
}

fn is_terminal(p: &Pod) -> bool {
    matches!(
        p.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded") | Some("Failed")
    )
}

pub async fn run(client: kube::Client, cfg: Arc<NodeConfig>) {
    let pods: Api<Pod> = Api::all(client);
    let cap_cpu = cpu_millis(&cfg.cpu);
    let cap_mem = mem_bytes(&cfg.memory);
    let node_labels: std::collections::BTreeMap<String, String> = [
        ("kubernetes.io/hostname", cfg.name.as_str()),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", std::env::consts::ARCH),
        ("kiln.dev/testnode", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    loop {
        if let Err(e) = pass(&pods, &cfg, cap_cpu, cap_mem, &node_labels).await {
            warn!("scheduling pass failed: {e}");
        }
        // Why polling: a 300 ms list is cheap at test scale and cannot miss
        // events the way a broken watch can.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn pass(
    pods: &Api<Pod>,
    cfg: &NodeConfig,
    cap_cpu: i64,
    cap_mem: i64,
    node_labels: &std::collections::BTreeMap<String, String>,
) -> anyhow::Result<()> {
    let pending = pods
        .list(&ListParams::default().fields("spec.nodeName="))
        .await?;
    if pending.items.is_empty() {
        return Ok(());
    }
    let bound = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={}", cfg.name)))
        .await?;
    let (mut used_cpu, mut used_mem) = (0, 0);
    for p in bound.items.iter().filter(|p| !is_terminal(p)) {
        let (c, m) = pod_requests(p);
        used_cpu += c;
        used_mem += m;
    }
    for pod in pending.items {
        let Some(spec) = &pod.spec else { continue };
        if pod.metadata.deletion_timestamp.is_some() || is_terminal(&pod) {
            continue;
        }
        let sched = spec
            .scheduler_name
            .as_deref()
            .unwrap_or("default-scheduler");
        if sched != "default-scheduler" {
            continue;
        }
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let selector_ok = spec
            .node_selector
            .iter()
            .flatten()
            .all(|(k, v)| node_labels.get(k) == Some(v));
        let (c, m) = pod_requests(&pod);
        let fits = used_cpu + c <= cap_cpu && used_mem + m <= cap_mem;
        if !selector_ok || !fits {
            let msg = if !selector_ok {
                "0/1 nodes are available: node(s) didn't match Pod's node affinity/selector"
            } else {
                "0/1 nodes are available: Insufficient cpu or memory"
            };
            debug!(%ns, %name, msg, "pod does not fit");
            let already = pod
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c.type_ == "PodScheduled" && c.message.as_deref() == Some(msg))
                });
            if already {
                continue;
            }
            let api: Api<Pod> = Api::namespaced(pods.clone().into_client(), &ns);
            let patch = json!({"status": {"conditions": [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": msg
            }]}});
            let _ = api
                .patch_status(&name, &PatchParams::default(), &Patch::Strategic(patch))
                .await;
            continue;
        }
        let binding: Binding = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "namespace": ns, "uid": pod.metadata.uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": cfg.name},
        }))?;
        let api: Api<Pod> = Api::namespaced(pods.clone().into_client(), &ns);
        match api
            .create_subresource::<_, serde_json::Value>(
                "binding",
                &name,
                &PostParams::default(),
                &binding,
            )
            .await
        {
            Ok(_) => {
                info!(%ns, %name, node = %cfg.name, "bound pod");
                used_cpu += c;
                used_mem += m;
            }
            Err(e) => warn!(%ns, %name, "binding failed: {e}"),
        }
    }
    Ok(())
}
