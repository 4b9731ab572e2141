//! `kiln-testnode`: a test-only, process-based Kubernetes node.
//!
//! It plays scheduler and kubelet for one `Node`: it registers the node, binds
//! pending pods that fit, runs each container's command as a local process on
//! the pod's own loopback IP, and reports pod status back to the API server.
//! It exists so the project's tests can run real pods without Docker; it is
//! never shipped in the product image.
//!
//! Modules:
//! - [`config`]: command-line flags and the image -> local binary mapping.
//! - [`node`]: registers the `Node` object and keeps its status fresh.
//! - [`scheduler`]: binds pending, unassigned pods that fit this node.
//! - [`kubelet`]: watches pods bound to this node and owns one worker per pod.
//! - [`pod`]: a pod worker: volumes, env, processes, restarts, status, deletion.
//! - [`volumes`]: materialises volumes and mount paths into the pod folder.
//! - [`env`]: builds container environments (env, envFrom, downward API).
//! - [`logs`]: the kubelet `/containerLogs` endpoint so `kubectl logs` works.
//! - [`termination`]: containers' termination messages (file or log tail).

pub mod config;
pub mod env;
pub mod kubelet;
pub mod logs;
pub mod node;
pub mod pod;
pub mod scheduler;
pub mod termination;
pub mod volumes;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use tracing::{error, info};

/// Entry point shared by the `kiln-testnode` binary and the copy built inside
/// `kiln-testcluster`.
pub fn main() -> ExitCode {
    let args = config::Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("cannot start tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("testnode failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the node until SIGTERM/SIGINT, then stops every pod process.
pub async fn run(args: config::Args) -> anyhow::Result<()> {
    let cfg = Arc::new(config::NodeConfig::from_args(args)?);
    let client = cfg.client().await?;
    info!(node = %cfg.name, images = ?cfg.images, "registering node");
    node::register(&client, &cfg).await?;

    let kubelet = kubelet::Kubelet::new(client.clone(), cfg.clone());
    let log_server = logs::serve(cfg.clone(), kubelet.registry()).await?;
    let heartbeat = tokio::spawn(node::heartbeat(client.clone(), cfg.clone()));
    let sched = tokio::spawn(scheduler::run(client.clone(), cfg.clone()));
    let kl = kubelet.clone();
    let kubelet_task = tokio::spawn(async move { kl.run().await });

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => info!("SIGTERM: stopping all pods"),
        _ = tokio::signal::ctrl_c() => info!("SIGINT: stopping all pods"),
        r = kubelet_task => error!("kubelet loop ended: {r:?}"),
    }
    sched.abort();
    heartbeat.abort();
    log_server.abort();
    // Why: the node's pods are local processes; leaving them would leak them
    // past the control plane's lifetime.
    kubelet.kill_all().await;
    Ok(())
}
