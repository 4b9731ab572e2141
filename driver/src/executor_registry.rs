//! The executor registry: which executors belong to the application, their
//! task slots, their last heartbeat, and the `DriverService` gRPC endpoint
//! through which they register and report. Calls in both directions carry
//! the application secret ([`kiln_core::security`]): the driver's service
//! refuses executors without it, and the clients it keeps for launching
//! tasks present it.
//!
//! An executor the driver gives up on (silent past the heartbeat timeout, or
//! not answering a task launch) is declared lost for good, as Spark does: it
//! may not register again under its id (its next heartbeat tells it so and
//! it exits), and the cluster manager that started it is asked to kill it
//! ([`ExecutorRegistry::take_declared_lost`]), so a hung process does not
//! linger while the application runs.

use std::collections::{HashMap, HashSet};
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
    /// Its Prometheus endpoint (empty: none).
    pub metrics_url: String,
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
    /// Task slots in use per executor, over every job running at once.
    busy: HashMap<String, u32>,
    /// Executors the driver declared lost; they may not register again.
    declared_lost: HashSet<String>,
    /// Of those, the ones the cluster manager has not yet been told to kill.
    to_kill: Vec<String>,
    version: u64,
}

/// One task slot of an executor, taken while a task's launch runs; the
/// slot is free again when the lease is dropped.
#[derive(Debug)]
pub struct SlotLease {
    registry: ExecutorRegistry,
    executor_id: String,
}

impl Drop for SlotLease {
    fn drop(&mut self) {
        let mut inner = self.registry.lock();
        if let Some(n) = inner.busy.get_mut(&self.executor_id) {
            *n = n.saturating_sub(1);
        }
        // Jobs waiting for a slot look again.
        self.registry.bump(&mut inner);
    }
}

/// When an application's jobs may start (Spark's
/// `spark.scheduler.minRegisteredResourcesRatio` and
/// `maxRegisteredResourcesWaitingTime`, and Kiln's registration timeout).
#[derive(Debug, Clone)]
pub struct StartRule {
    /// Share of the requested executors to wait for.
    pub ratio: f64,
    /// Then start with the ones that registered.
    pub max_wait: Duration,
    /// Fail when none registered by then.
    pub timeout: Duration,
}

impl StartRule {
    /// The rule of an application's settings.
    pub fn of(conf: &kiln_core::config::EngineConf) -> Self {
        StartRule {
            ratio: conf.min_registered_ratio,
            max_wait: conf.max_registered_wait,
            timeout: conf.registration_timeout,
        }
    }
}

/// Why an executor may not register.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// Its address is not a URL the driver can call.
    #[error("executor address: {0}")]
    BadAddress(String),
    /// The driver declared it lost earlier.
    #[error(
        "executor {0} was declared lost by the driver and may not register again; it should exit"
    )]
    DeclaredLost(String),
}

impl Inner {
    /// Removes `id` and remembers it as declared lost; true if it was registered.
    fn declare_lost(&mut self, id: &str) -> Option<ExecutorInfo> {
        let e = self.executors.remove(id);
        if self.declared_lost.insert(id.to_string()) {
            self.to_kill.push(id.to_string());
        }
        e
    }
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

    /// Adds (or refreshes) an executor; one declared lost is refused.
    pub fn register(&self, id: &str, address: &str, cores: u32) -> Result<(), RegisterError> {
        self.register_with_metrics(id, address, cores, "")
    }

    /// [`ExecutorRegistry::register`] of an executor that serves Prometheus
    /// metrics at `metrics_url` (empty: none).
    pub fn register_with_metrics(
        &self,
        id: &str,
        address: &str,
        cores: u32,
        metrics_url: &str,
    ) -> Result<(), RegisterError> {
        if self.lock().declared_lost.contains(id) {
            return Err(RegisterError::DeclaredLost(id.to_string()));
        }
        let channel = self
            .transport
            .channel(address)
            .map_err(RegisterError::BadAddress)?;
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
                metrics_url: metrics_url.to_string(),
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

    /// Whether `id` registered at some point (it may be gone now).
    pub fn has_registered(&self, id: &str) -> bool {
        let inner = self.lock();
        inner.executors.contains_key(id) || inner.declared_lost.contains(id)
    }

    /// Whether `id` is registered now.
    pub fn is_registered(&self, id: &str) -> bool {
        self.lock().executors.contains_key(id)
    }

    /// Declares an executor lost (it did not answer): removed, refused if it
    /// registers again, and handed to the cluster manager to be killed.
    /// Returns it if it was registered.
    pub fn remove(&self, id: &str) -> Option<ExecutorInfo> {
        let mut inner = self.lock();
        let e = inner.declare_lost(id);
        self.bump(&mut inner);
        e
    }

    /// Records that an executor is gone for good (its process exited): it is
    /// removed at once and handed to the scheduler by [`Self::take_lost`],
    /// without waiting for the heartbeat timeout, unless the driver had
    /// declared it lost already (the scheduler handled that then).
    pub fn mark_lost(&self, id: &str, reason: &str) {
        let mut inner = self.lock();
        inner.executors.remove(id);
        if inner.declared_lost.insert(id.to_string()) {
            inner.lost.push((id.to_string(), reason.to_string()));
        }
        self.bump(&mut inner);
    }

    /// Executors declared lost since the last call: their processes should
    /// be killed (they may be hung rather than dead).
    pub fn take_declared_lost(&self) -> Vec<String> {
        std::mem::take(&mut self.lock().to_kill)
    }

    /// Executors marked lost since the last call, with the reason.
    pub fn take_lost(&self) -> Vec<(String, String)> {
        std::mem::take(&mut self.lock().lost)
    }

    /// Declares executors silent for longer than `timeout` lost; returns
    /// their ids.
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
            inner.declare_lost(id);
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

    /// Takes one task slot of executor `id` until the lease is dropped.
    pub fn take_slot(&self, id: &str) -> SlotLease {
        *self.lock().busy.entry(id.to_string()).or_default() += 1;
        SlotLease {
            registry: self.clone(),
            executor_id: id.to_string(),
        }
    }

    /// Free task slots of each registered executor: its cores less the
    /// slots the tasks of every running job hold.
    pub fn free_slots(&self) -> HashMap<String, i64> {
        let inner = self.lock();
        inner
            .executors
            .values()
            .map(|e| {
                let busy = inner.busy.get(&e.id).copied().unwrap_or(0);
                (e.id.clone(), i64::from(e.cores) - i64::from(busy))
            })
            .collect()
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

    /// Waits until jobs may start, by Spark's rule: `rule.ratio` of the
    /// `expected` executors registered, or `rule.max_wait` passed with at
    /// least one (the others join when they register). Fails when no
    /// executor can start any more (`none_can_start` says why), or none
    /// registered within `rule.timeout` (`why_none` explains). Returns how
    /// many registered.
    pub async fn wait_to_start(
        &self,
        expected: usize,
        rule: &StartRule,
        none_can_start: impl Fn() -> Option<String>,
        why_none: impl Fn() -> String,
    ) -> Result<usize, String> {
        let needed = ((expected as f64) * rule.ratio).ceil().max(1.0) as usize;
        let mut rx = self.subscribe();
        let start = tokio::time::Instant::now();
        loop {
            let n = self.lock().executors.len();
            if n >= needed.min(expected.max(1)) {
                return Ok(n);
            }
            if n > 0 && start.elapsed() >= rule.max_wait {
                return Ok(n);
            }
            if n == 0 {
                if let Some(why) = none_can_start() {
                    return Err(format!("no executor could start: {why}"));
                }
                if start.elapsed() >= rule.timeout {
                    return Err(format!(
                        "no executor registered within {:?} (kiln.executor.registrationTimeout): {}",
                        rule.timeout,
                        why_none()
                    ));
                }
            }
            // Re-check on every registration, and now and then for exits.
            let _ = tokio::time::timeout(Duration::from_millis(100), rx.changed()).await;
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
            .register_with_metrics(&r.executor_id, &r.address, r.cores, &r.metrics_url)
            .map_err(|e| match e {
                RegisterError::BadAddress(_) => Status::invalid_argument(e.to_string()),
                RegisterError::DeclaredLost(_) => Status::failed_precondition(e.to_string()),
            })?;
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use kiln_core::security::Secret;

    use super::*;

    fn registry() -> ExecutorRegistry {
        let secret = Secret::generate().expect("secret");
        let transport = Transport::new(secret, &BTreeMap::new()).expect("transport");
        ExecutorRegistry::new("app", HashMap::new(), transport)
    }

    #[tokio::test]
    async fn an_executor_declared_lost_may_not_come_back_and_is_killed_once() {
        let r = registry();
        r.register("1", "http://127.0.0.1:1", 1).expect("register");
        assert!(r.remove("1").is_some(), "it was registered");
        assert!(matches!(
            r.register("1", "http://127.0.0.1:1", 1),
            Err(RegisterError::DeclaredLost(_))
        ));
        assert!(r.has_registered("1"));
        assert_eq!(r.take_declared_lost(), vec!["1".to_string()]);
        assert!(r.take_declared_lost().is_empty(), "handed over once");
        // Its process exits after the kill: the scheduler already knows.
        r.mark_lost("1", "process exited: signal 9");
        assert!(r.take_lost().is_empty());
        // An executor that just exits is reported once.
        r.register("2", "http://127.0.0.1:2", 1).expect("register");
        r.mark_lost("2", "process exited: exit status 1");
        assert_eq!(r.take_lost().len(), 1);
        assert!(r.take_declared_lost().is_empty(), "nothing to kill");
    }

    #[tokio::test]
    async fn jobs_start_with_the_share_of_executors_or_after_the_wait() {
        let r = registry();
        let rule = |ratio, wait_ms| StartRule {
            ratio,
            max_wait: Duration::from_millis(wait_ms),
            timeout: Duration::from_millis(300),
        };
        let none = || None;
        let why = || "nothing started".to_string();
        // Nobody can start: fails at once, naming why.
        let e = r
            .wait_to_start(
                3,
                &rule(0.8, 50),
                || Some("image kiln:x not found".into()),
                why,
            )
            .await
            .unwrap_err();
        assert!(e.contains("image kiln:x not found"), "{e}");
        // Nobody registers: fails at the registration timeout.
        let e = r
            .wait_to_start(3, &rule(0.8, 50), none, why)
            .await
            .unwrap_err();
        assert!(
            e.contains("no executor registered") && e.contains("nothing started"),
            "{e}"
        );
        r.register("1", "http://127.0.0.1:1", 1).expect("register");
        // One of two is the share asked for: start.
        assert_eq!(
            r.wait_to_start(2, &rule(0.5, 10_000), none, why).await,
            Ok(1)
        );
        // One of three is not, but the wait is over: start with it.
        assert_eq!(r.wait_to_start(3, &rule(0.8, 50), none, why).await, Ok(1));
    }
}
