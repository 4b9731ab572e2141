//! The executor registry: which executors belong to the application, their
//! task slots, their last heartbeat, and the `DriverService` gRPC endpoint
//! through which they register and report. Calls in both directions carry
//! the application secret ([`kiln_core::security`]): the driver's service
//! refuses executors without it, and the clients it keeps for launching
//! tasks present it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiln_core::security::{AuthChannel, RequireSecret, Transport};

use crate::allocation::ExecutorActivity;
use kiln_proto::driver_service_server::{DriverService, DriverServiceServer};
use kiln_proto::executor_service_client::ExecutorServiceClient;
use kiln_proto::{
    HeartbeatRequest, HeartbeatResponse, RegisterExecutorRequest, RegisterExecutorResponse,
};
use tokio::sync::watch;
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Response, Status};

/// One registered executor.
#[derive(Debug, Clone)]
pub struct ExecutorInfo {
    /// Executor id, unique in the application.
    pub id: String,
    /// Its gRPC and Flight endpoint.
    pub address: String,
    /// Task slots.
    pub cores: u32,
    /// When it last registered or sent a heartbeat.
    pub last_seen: Instant,
    /// Highest resident set size it reported.
    pub peak_rss_bytes: u64,
    /// Client for launching tasks on it (carries the application secret).
    pub client: ExecutorServiceClient<AuthChannel>,
}

/// Executors known to the driver. Cheap to clone; clones share state.
#[derive(Debug, Clone)]
pub struct ExecutorRegistry {
    inner: Arc<Mutex<Inner>>,
    activity: ExecutorActivity,
    changed: watch::Sender<u64>,
    application_id: String,
    conf: Arc<HashMap<String, String>>,
    transport: Transport,
}

#[derive(Debug, Default)]
struct Inner {
    executors: HashMap<String, ExecutorInfo>,
    /// Peak RSS of every executor ever seen, kept after it leaves.
    peak_rss: HashMap<String, u64>,
    /// Executors known dead (their process exited) whose loss the scheduler
    /// has not yet handled, with the reason.
    lost: Vec<(String, String)>,
    version: u64,
}

impl ExecutorRegistry {
    /// A registry for one application; `conf` is handed to every executor,
    /// `transport` is how the driver calls them (and how its service is served).
    pub fn new(application_id: &str, conf: HashMap<String, String>, transport: Transport) -> Self {
        let (changed, _) = watch::channel(0);
        ExecutorRegistry {
            inner: Arc::new(Mutex::new(Inner::default())),
            activity: ExecutorActivity::default(),
            changed,
            application_id: application_id.to_string(),
            conf: Arc::new(conf),
            transport,
        }
    }

    /// How the driver's channels and servers talk.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// What the executors are doing (for dynamic allocation).
    pub fn activity(&self) -> &ExecutorActivity {
        &self.activity
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps inconsistent
        // (every update is a single insert/remove), so recover the guard.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self, inner: &mut Inner) {
        inner.version += 1;
        self.changed.send_replace(inner.version);
    }

    /// Adds (or refreshes) an executor.
    pub fn register(&self, id: &str, address: &str, cores: u32) -> Result<(), String> {
        let channel = self
            .transport
            .channel(address)
            .map_err(|e| format!("executor address: {e}"))?;
        let max = self.transport.max_message_bytes;
        let client = ExecutorServiceClient::new(channel)
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
        let mut inner = self.lock();
        inner.executors.insert(
            id.to_string(),
            ExecutorInfo {
                id: id.to_string(),
                address: address.to_string(),
                cores: cores.max(1),
                last_seen: Instant::now(),
                peak_rss_bytes: 0,
                client,
            },
        );
        self.bump(&mut inner);
        Ok(())
    }

    /// Records a heartbeat; false when the executor is unknown.
    pub fn heartbeat(&self, id: &str, peak_rss: u64) -> bool {
        let mut inner = self.lock();
        let known = match inner.executors.get_mut(id) {
            Some(e) => {
                e.last_seen = Instant::now();
                e.peak_rss_bytes = e.peak_rss_bytes.max(peak_rss);
                true
            }
            None => false,
        };
        let p = inner.peak_rss.entry(id.to_string()).or_default();
        *p = (*p).max(peak_rss);
        known
    }

    /// Whether `id` is registered now.
    pub fn is_registered(&self, id: &str) -> bool {
        self.lock().executors.contains_key(id)
    }

    /// Removes an executor (lost or shut down).
    pub fn remove(&self, id: &str) -> Option<ExecutorInfo> {
        let mut inner = self.lock();
        let e = inner.executors.remove(id);
        if e.is_some() {
            self.bump(&mut inner);
        }
        e
    }

    /// Records that an executor is gone for good (its process exited): it is
    /// removed at once and handed to the scheduler by [`Self::take_lost`],
    /// without waiting for the heartbeat timeout.
    pub fn mark_lost(&self, id: &str, reason: &str) {
        let mut inner = self.lock();
        inner.executors.remove(id);
        inner.lost.push((id.to_string(), reason.to_string()));
        self.bump(&mut inner);
    }

    /// Executors marked lost since the last call, with the reason.
    pub fn take_lost(&self) -> Vec<(String, String)> {
        std::mem::take(&mut self.lock().lost)
    }

    /// Removes executors silent for longer than `timeout`; returns their ids.
    pub fn expire(&self, timeout: Duration) -> Vec<String> {
        let mut inner = self.lock();
        let now = Instant::now();
        let lost: Vec<String> = inner
            .executors
            .values()
            .filter(|e| now.duration_since(e.last_seen) > timeout)
            .map(|e| e.id.clone())
            .collect();
        for id in &lost {
            inner.executors.remove(id);
        }
        if !lost.is_empty() {
            self.bump(&mut inner);
        }
        lost
    }

    /// The executors now registered, sorted by id.
    pub fn executors(&self) -> Vec<ExecutorInfo> {
        let mut v: Vec<ExecutorInfo> = self.lock().executors.values().cloned().collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// Peak RSS per executor id, over the whole application.
    pub fn peak_rss(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self
            .lock()
            .peak_rss
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        v.sort();
        v
    }

    /// A receiver that changes whenever executors join or leave.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Waits until at least `n` executors are registered, or `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let mut rx = self.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.lock().executors.len() >= n {
                return true;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                _ => return self.lock().executors.len() >= n,
            }
        }
    }
}

/// The driver's gRPC service.
#[derive(Debug, Clone)]
pub struct DriverEndpoint {
    registry: ExecutorRegistry,
}

impl DriverEndpoint {
    /// Serves `registry`.
    pub fn new(registry: ExecutorRegistry) -> Self {
        DriverEndpoint { registry }
    }

    /// The service to add to the driver's server: refuses calls without the
    /// application secret and caps message sizes both ways.
    pub fn service(
        registry: ExecutorRegistry,
    ) -> InterceptedService<DriverServiceServer<DriverEndpoint>, RequireSecret> {
        let max = registry.transport.max_message_bytes;
        let require = registry.transport.require();
        InterceptedService::new(
            DriverServiceServer::new(DriverEndpoint::new(registry))
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
            require,
        )
    }
}

#[tonic::async_trait]
impl DriverService for DriverEndpoint {
    async fn register_executor(
        &self,
        request: Request<RegisterExecutorRequest>,
    ) -> Result<Response<RegisterExecutorResponse>, Status> {
        let r = request.into_inner();
        if !r.application_id.is_empty() && r.application_id != self.registry.application_id {
            return Err(Status::permission_denied(format!(
                "executor belongs to application `{}`, this driver runs `{}`",
                r.application_id, self.registry.application_id
            )));
        }
        if r.executor_id.is_empty() {
            return Err(Status::invalid_argument("executor_id is empty"));
        }
        self.registry
            .register(&r.executor_id, &r.address, r.cores)
            .map_err(Status::invalid_argument)?;
        tracing::info!(executor_id = %r.executor_id, address = %r.address, cores = r.cores, "executor registered");
        Ok(Response::new(RegisterExecutorResponse {
            application_id: self.registry.application_id.clone(),
            conf: self.registry.conf.as_ref().clone(),
        }))
    }

    async fn heartbeat(
        &self,
        request: Request<HeartbeatRequest>,
    ) -> Result<Response<HeartbeatResponse>, Status> {
        let r = request.into_inner();
        let known = self.registry.heartbeat(&r.executor_id, r.peak_rss_bytes);
        Ok(Response::new(HeartbeatResponse { known }))
    }
}
