//! A test playing the driver: a `DriverService` on real gRPC (checking the
//! application secret as Kiln's own does) that a real `kiln executor`
//! process registers with, so a test can call that executor directly with
//! tasks of its choosing.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kiln_core::security::{RequireSecret, Secret};
use kiln_proto::driver_service_server::{DriverService, DriverServiceServer};
use kiln_proto::{
    HeartbeatRequest, HeartbeatResponse, RegisterExecutorRequest, RegisterExecutorResponse,
};
use tokio::sync::mpsc;
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Response, Status};

use crate::kiln_bin;

/// A child process killed when the test ends, passed or not.
#[derive(Debug)]
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The driver's side of registration and heartbeats, played by the test.
#[derive(Clone)]
struct StubDriver {
    application_id: String,
    conf: HashMap<String, String>,
    registered: mpsc::UnboundedSender<RegisterExecutorRequest>,
}

#[tonic::async_trait]
impl DriverService for StubDriver {
    async fn register_executor(
        &self,
        request: Request<RegisterExecutorRequest>,
    ) -> Result<Response<RegisterExecutorResponse>, Status> {
        let _ = self.registered.send(request.into_inner());
        Ok(Response::new(RegisterExecutorResponse {
            application_id: self.application_id.clone(),
            conf: self.conf.clone(),
        }))
    }

    async fn heartbeat(
        &self,
        _request: Request<HeartbeatRequest>,
    ) -> Result<Response<HeartbeatResponse>, Status> {
        Ok(Response::new(HeartbeatResponse { known: true }))
    }
}

/// An encoded stage plan for a task: `sql` (single partition) ending in a
/// shuffle writer of stage `stage`.
pub async fn writer_plan(sql: &str, stage: u32) -> Vec<u8> {
    let ctx = datafusion::prelude::SessionContext::new();
    let scan = ctx
        .sql(sql)
        .await
        .expect("sql")
        .create_physical_plan()
        .await
        .expect("physical plan");
    let writer: std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan> =
        std::sync::Arc::new(kiln_core::shuffle::ShuffleWriterExec::new(
            scan,
            stage,
            kiln_core::shuffle::OutputPartitioning::Single,
        ));
    kiln_core::codec::encode_plan(writer)
        .expect("encode")
        .to_vec()
}

/// Starts a stub driver for application `app` that hands `conf` to its
/// executors, and a `kiln executor` (work directory under `work`, secret
/// `secret`) registered with it; returns the executor process and its
/// address.
pub async fn start_executor(
    work: &Path,
    secret: &str,
    app: &str,
    conf: HashMap<String, String>,
) -> (Proc, String) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let service = InterceptedService::new(
        DriverServiceServer::new(StubDriver {
            application_id: app.to_string(),
            conf,
            registered: tx,
        }),
        RequireSecret::new(Secret::new(secret).expect("secret")),
    );
    let incoming = futures::stream::unfold(listener, |l| async move {
        let r = l.accept().await.map(|(s, _)| s);
        Some((r, l))
    });
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming),
    );
    let child = Command::new(kiln_bin())
        .arg("executor")
        .args(["--driver", &format!("http://{addr}")])
        .args(["--executor-id", "1", "--application-id", app])
        .arg("--work-dir")
        .arg(work.join("executor"))
        .env("KILN_AUTH_SECRET", secret)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start kiln executor");
    let proc = Proc(child);
    let registered = tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await
        .expect("executor registers within a minute")
        .expect("registration");
    (proc, registered.address)
}
