//! Registers the `Node` object (capacity, address, kubelet endpoint) and keeps
//! its Ready condition's heartbeat fresh.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;
use tracing::warn;

use crate::config::NodeConfig;

pub const NODE_IP: &str = "127.0.0.1";

pub async fn register(client: &kube::Client, cfg: &NodeConfig) -> anyhow::Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": cfg.name,
            "labels": {
                "kubernetes.io/hostname": cfg.name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": std::env::consts::ARCH,
                "kiln.dev/testnode": "true",
            }
        },
    }))?;
    match nodes.create(&PostParams::default(), &node).await {
        Ok(_) => {}
        // A node of the same name from an earlier run: take it over.
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(e.into()),
    }
    patch_status(&nodes, cfg).await
}

fn status(cfg: &NodeConfig) -> serde_json::Value {
    let mut cap = BTreeMap::new();
    cap.insert("cpu", Quantity(cfg.cpu.clone()));
    cap.insert("memory", Quantity(cfg.memory.clone()));
    cap.insert("pods", Quantity("250".into()));
    cap.insert("ephemeral-storage", Quantity("100Gi".into()));
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    json!({
        "status": {
            "capacity": cap,
            "allocatable": cap,
            "addresses": [
                {"type": "InternalIP", "address": NODE_IP},
                {"type": "Hostname", "address": cfg.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": cfg.kubelet_port}},
            "conditions": [{
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "message": "kiln-testnode is running pods as local processes",
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }],
            "nodeInfo": {
                "architecture": std::env::consts::ARCH,
                "bootID": "",
                "containerRuntimeVersion": "kiln-testnode://process",
                "kernelVersion": "",
                "kubeProxyVersion": "",
                "kubeletVersion": "v1.37.2",
                "machineID": "",
                "operatingSystem": "linux",
                "osImage": "kiln-testnode",
                "systemUUID": "",
            }
        }
    })
}

async fn patch_status(nodes: &Api<Node>, cfg: &NodeConfig) -> anyhow::Result<()> {
    nodes
        .patch_status(
            &cfg.name,
            &PatchParams::default(),
            &Patch::Merge(status(cfg)),
        )
        .await?;
    Ok(())
}

/// Refreshes the Ready heartbeat every 20 s (no node-lifecycle controller runs
/// in tests, but humans using `kubectl get nodes` see a live node).
pub async fn heartbeat(client: kube::Client, cfg: std::sync::Arc<NodeConfig>) {
    let nodes: Api<Node> = Api::all(client);
    loop {
        tokio::time::sleep(Duration::from_secs(20)).await;
        if let Err(e) = patch_status(&nodes, &cfg).await {
            warn!("node heartbeat failed: {e}");
        }
    }
}
