//! `kiln master`: the gRPC service workers and drivers call, the loop that
//! declares silent workers dead and silent drivers finished, and the web
//! UI. The state lives in [`crate::state`]; with FILESYSTEM recovery it is
//! written after every change ([`crate::recovery`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use kiln_core::security::Secret;
use tonic::{Request, Response, Status};
use tracing::{info, warn};

use crate::auth::RequireClusterSecret;
use crate::proto::master_server::{Master as MasterService, MasterServer};
use crate::proto::*;
use crate::recovery::Recovery;
use crate::shared::{now_ms, Shared};
use crate::state::MasterState;
use crate::{Result, StandaloneError};

/// How a master runs.
#[derive(Debug, Clone)]
pub struct MasterOptions {
    /// Address of the gRPC service.
    pub bind: SocketAddr,
    /// Address of the web UI.
    pub webui_bind: SocketAddr,
    /// The cluster secret, if the cluster has one.
    pub secret: Option<Secret>,
    /// FILESYSTEM recovery into this directory.
    pub recovery_dir: Option<PathBuf>,
    /// Silence after which a worker is dead, or a driver gone
    /// (Spark's `spark.worker.timeout`).
    pub timeout: Duration,
}

struct Service {
    shared: Shared,
}

#[tonic::async_trait]
impl MasterService for Service {
    async fn register_worker(
        &self,
        request: Request<RegisterWorkerRequest>,
    ) -> std::result::Result<Response<RegisterWorkerResponse>, Status> {
        let req = request.into_inner();
        info!(worker_id = %req.worker_id, host = %req.host, cores = req.cores, "worker registered");
        self.shared.update(|s| s.register_worker(&req, now_ms()));
        Ok(Response::new(RegisterWorkerResponse {}))
    }

    async fn worker_heartbeat(
        &self,
        request: Request<WorkerHeartbeatRequest>,
    ) -> std::result::Result<Response<WorkerHeartbeatResponse>, Status> {
        let req = request.into_inner();
        let assigned = self.shared.update(|s| s.worker_heartbeat(&req, now_ms()));
        Ok(Response::new(match assigned {
            Some(executors) => WorkerHeartbeatResponse {
                reregister: false,
                executors,
            },
            None => WorkerHeartbeatResponse {
                reregister: true,
                executors: vec![],
            },
        }))
    }

    async fn register_application(
        &self,
        request: Request<RegisterApplicationRequest>,
    ) -> std::result::Result<Response<RegisterApplicationResponse>, Status> {
        let req = request.into_inner();
        match self.shared.update(|s| s.register_app_state(&req, now_ms())) {
            Ok(resp) => {
                info!(application_id = %req.application_id, driver = %req.driver_url, "application registered");
                Ok(Response::new(resp))
            }
            Err(e) => {
                warn!(application_id = %req.application_id, "application refused: {e}");
                Err(Status::failed_precondition(e.to_string()))
            }
        }
    }

    async fn application_heartbeat(
        &self,
        request: Request<ApplicationHeartbeatRequest>,
    ) -> std::result::Result<Response<ApplicationHeartbeatResponse>, Status> {
        let req = request.into_inner();
        let beat = self.shared.update(|s| s.app_heartbeat(&req, now_ms()));
        Ok(Response::new(beat.unwrap_or(
            ApplicationHeartbeatResponse {
                unknown: true,
                ..Default::default()
            },
        )))
    }

    async fn unregister_application(
        &self,
        request: Request<UnregisterApplicationRequest>,
    ) -> std::result::Result<Response<UnregisterApplicationResponse>, Status> {
        let id = request.into_inner().application_id;
        info!(application_id = %id, "application finished");
        self.shared
            .update(|s| s.finish_app(&id, "its driver ended", now_ms()));
        Ok(Response::new(UnregisterApplicationResponse {}))
    }
}

/// Runs a master until the process is stopped.
pub async fn run(opts: MasterOptions) -> Result<()> {
    let recovery = opts
        .recovery_dir
        .as_deref()
        .map(Recovery::new)
        .transpose()?;
    let state = match &recovery {
        Some(r) => match r.load(now_ms())? {
            Some(s) => {
                info!(
                    workers = s.workers.len(),
                    applications = s.apps.len(),
                    "recovered the master's state"
                );
                eprintln!(
                    "recovered {} worker(s) and {} application(s) from {}",
                    s.workers.len(),
                    s.apps.len(),
                    opts.recovery_dir
                        .as_deref()
                        .unwrap_or_else(|| "".as_ref())
                        .display()
                );
                s
            }
            None => MasterState::default(),
        },
        None => MasterState::default(),
    };
    let listener = tokio::net::TcpListener::bind(opts.bind)
        .await
        .map_err(|e| StandaloneError::io(format!("master cannot listen on {}", opts.bind), e))?;
    let web = tokio::net::TcpListener::bind(opts.webui_bind)
        .await
        .map_err(|e| {
            StandaloneError::io(
                format!("master web UI cannot listen on {}", opts.webui_bind),
                e,
            )
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| StandaloneError::io("master listener", e))?;
    let web_addr = web
        .local_addr()
        .map_err(|e| StandaloneError::io("web UI listener", e))?;
    let shared = Shared::new(state, recovery, format!("kiln://{addr}"));
    eprintln!("master listening on kiln://{addr}; web UI on http://{web_addr}");
    let timeout = opts.timeout;
    let expiry = shared.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = now_ms();
            let ms = timeout.as_millis() as u64;
            expiry.expire(now, ms);
        }
    });
    tokio::spawn(crate::webui::serve(web, shared.clone()));
    let service = MasterServer::with_interceptor(
        Service { shared },
        RequireClusterSecret(opts.secret.clone()),
    );
    tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(kiln_core::security::Transport::incoming(listener), async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| StandaloneError::Config(format!("master server: {e}")))
}
