//! The Kiln executor.
//!
//! - [`task_runner`]: decodes a stage plan and runs one partition of it.
//! - [`failure`]: which task failures are deterministic (fail the job) and
//!   which are retried.
//! - [`shuffle_service`]: serves this executor's shuffle block files over a Flight `DoGet`.
//! - [`python_worker`]: the pool of Python worker processes running Python UDFs.
//! - this module: starting an executor (its gRPC + Flight server on one port),
//!   registering with the driver, heartbeats, and shutdown. Both services
//!   refuse calls without the application secret, and every call the
//!   executor makes carries it (`kiln_core::security`).
//!
//! Shuffle blocks live under `<work-dir>/shuffle`, operator spill files under
//! `<work-dir>/spill`.

pub mod failure;
pub mod python_worker;
pub mod shuffle_service;
pub mod task_runner;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_flight::flight_service_server::FlightServiceServer;
use futures::FutureExt;
use kiln_core::config::EngineConf;
use kiln_core::security::{AuthChannel, Transport};
use kiln_core::shuffle::FlightClients;
use kiln_core::{KilnError, Result};
use kiln_proto::driver_service_client::DriverServiceClient;
use kiln_proto::executor_service_server::{ExecutorService, ExecutorServiceServer};
use kiln_proto::{
    HeartbeatRequest, RegisterExecutorRequest, RemoveShuffleRequest, RemoveShuffleResponse,
    ShutdownRequest, ShutdownResponse, TaskDefinition, TaskResult,
};
use tokio::sync::{watch, OnceCell};
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Response, Status};
use tracing::{info, warn, Instrument};

use kiln_ui::prometheus::{ExecutorMetrics, TaskOutcome};

use crate::shuffle_service::ShuffleService;
use crate::task_runner::TaskRunner;

/// How to start an executor.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// Id unique within the application.
    pub executor_id: String,
    /// The application this executor serves; tasks of others are refused.
    pub application_id: String,
    /// URL of the driver's gRPC service.
    pub driver_url: String,
    /// Address to listen on (port 0 picks a free port).
    pub bind: SocketAddr,
    /// Host name or IP peers use to reach this executor.
    pub advertise_host: String,
    /// Port peers use, when not the bound one (a port forward or proxy).
    pub advertise_port: Option<u16>,
    /// Where to serve Prometheus metrics (`/metrics`; port 0: any free
    /// port), advertised to the driver with the advertise host; `None`: not
    /// served.
    pub metrics_bind: Option<SocketAddr>,
    /// Task slots.
    pub cores: u32,
    /// Memory pool size, if limited.
    pub memory_bytes: Option<u64>,
    /// Directory for shuffle and spill files.
    pub work_dir: PathBuf,
    /// Application secret, message size cap and TLS of every channel.
    pub transport: Transport,
}

/// A running executor.
#[derive(Debug)]
pub struct ExecutorHandle {
    /// The gRPC/Flight endpoint it advertises.
    pub address: String,
    /// Where its shuffle blocks are.
    pub shuffle_dir: PathBuf,
    shutdown: watch::Sender<bool>,
    server: tokio::task::JoinHandle<std::result::Result<(), tonic::transport::Error>>,
}

impl ExecutorHandle {
    /// Waits until the executor is told to stop (or loses its driver).
    pub async fn wait(mut self) -> Result<()> {
        let mut stop = self.shutdown.subscribe();
        tokio::select! {
            r = &mut self.server => return match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(KilnError::Executor(format!("executor server failed: {e}"))),
                Err(e) => Err(KilnError::Executor(format!("executor server task failed: {e}"))),
            },
            _ = stop.wait_for(|s| *s) => {}
        }
        // A graceful stop waits for peers to close their connections; the
        // driver may keep them open, so give in-flight replies a moment only.
        let _ = tokio::time::timeout(Duration::from_millis(200), &mut self.server).await;
        Ok(())
    }

    /// Stops the executor.
    pub fn stop(&self) {
        self.shutdown.send_replace(true);
    }
}

/// Starts an executor: server first, then registration, then heartbeats.
pub async fn start(opts: ExecutorOptions) -> Result<ExecutorHandle> {
    let shuffle_dir = opts.work_dir.join("shuffle");
    let spill_dir = opts.work_dir.join("spill");
    std::fs::create_dir_all(&shuffle_dir)
        .map_err(|e| KilnError::io(format!("cannot create {}", shuffle_dir.display()), e))?;
    // Reported with every map output: absolute, so that readers on the
    // same host find it whatever their own working directory.
    let shuffle_dir = shuffle_dir.canonicalize().unwrap_or(shuffle_dir);
    let listener = tokio::net::TcpListener::bind(opts.bind)
        .await
        .map_err(|e| KilnError::io(format!("executor cannot listen on {}", opts.bind), e))?;
    let port = listener
        .local_addr()
        .map_err(|e| KilnError::io("executor listener has no address", e))?
        .port();
    let address = opts
        .transport
        .url(&opts.advertise_host, opts.advertise_port.unwrap_or(port));
    // Lets readers on this host (other executors, the driver) read this
    // executor's blocks from disk instead of over Flight.
    if let Err(e) =
        kiln_core::shuffle::layout::write_owner(&shuffle_dir, &opts.executor_id, &address)
    {
        warn!("cannot mark the shuffle folder {}: {e}; peers on this host fetch its blocks over Flight", shuffle_dir.display());
    }
    let max = opts.transport.max_message_bytes;
    let (shutdown, _) = watch::channel(false);
    let runner: Arc<OnceCell<TaskRunner>> = Arc::new(OnceCell::new());
    let running = Arc::new(AtomicU32::new(0));
    let metrics = Arc::new(ExecutorMetrics::new(opts.cores));
    let metrics_url = match opts.metrics_bind {
        Some(at) => serve_metrics(at, &opts.advertise_host, metrics.clone(), &shutdown).await?,
        None => String::new(),
    };
    let endpoint = ExecutorEndpoint {
        application_id: opts.application_id.clone(),
        shuffle_dir: shuffle_dir.clone(),
        runner: runner.clone(),
        shutdown: shutdown.clone(),
        running: running.clone(),
        metrics: metrics.clone(),
    };
    // Both services refuse calls without the application secret before a
    // handler runs; both cap message sizes in both directions.
    let flight = InterceptedService::new(
        FlightServiceServer::new(ShuffleService::new(shuffle_dir.clone(), metrics.clone()))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max),
        opts.transport.require(),
    );
    let grpc = InterceptedService::new(
        ExecutorServiceServer::new(endpoint)
            .max_decoding_message_size(max)
            .max_encoding_message_size(max),
        opts.transport.require(),
    );
    let mut stop = shutdown.subscribe();
    let server = tokio::spawn(
        opts.transport
            .server()?
            .add_service(grpc)
            .add_service(flight)
            .serve_with_incoming_shutdown(Transport::incoming(listener), async move {
                let _ = stop.wait_for(|s| *s).await;
            }),
    );

    let driver = opts
        .transport
        .channel(&opts.driver_url)
        .map_err(|message| KilnError::Config {
            key: "--driver".into(),
            message,
        })?;
    let mut client = DriverServiceClient::new(driver)
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    let request = RegisterExecutorRequest {
        executor_id: opts.executor_id.clone(),
        address: address.clone(),
        cores: opts.cores,
        memory_bytes: opts.memory_bytes.unwrap_or(0),
        application_id: opts.application_id.clone(),
        metrics_url,
    };
    let response = register(&mut client, &request, Duration::from_secs(30)).await?;
    let raw = response.conf.into_iter().collect();
    let conf = EngineConf::parse(&raw)?;
    let config = conf.session_config(opts.cores as usize)?;
    let runtime = kiln_core::config::runtime_env(opts.memory_bytes, Some(spill_dir))?;
    let pool = runtime.memory_pool.clone();
    let limit = opts.memory_bytes.unwrap_or(0);
    metrics.set_memory_probe(Box::new(move || (pool.reserved() as u64, limit)));
    if let Some(buckets) = raw.get(kiln_core::settings::S3_BUCKETS) {
        for b in buckets.split(',').filter(|b| !b.is_empty()) {
            kiln_core::objectstore::register_s3(&runtime, b, &raw)?;
        }
    }
    let ctx = kiln_core::config::spark_session(config, runtime);
    let heartbeat_interval = conf.heartbeat_interval;
    let heartbeat_timeout = conf.heartbeat_timeout;
    let python = python_worker::WorkerPool::new(
        python_worker::interpreter(&conf.raw),
        opts.executor_id.clone(),
        opts.cores as usize,
    );
    let fetch_timeout = conf.fetch_timeout;
    let _ = runner.set(TaskRunner {
        python: kiln_core::python::protocol::PythonWorkers(Arc::new(python)),
        executor_id: opts.executor_id.clone(),
        shuffle_dir: shuffle_dir.clone(),
        ctx,
        conf,
        clients: Arc::new(FlightClients::new(opts.transport.clone(), fetch_timeout)),
    });
    info!(executor_id = %opts.executor_id, %address, "executor registered with driver {}", opts.driver_url);
    tokio::spawn(heartbeats(
        client,
        request,
        running,
        heartbeat_interval,
        heartbeat_timeout,
        shutdown.clone(),
    ));
    Ok(ExecutorHandle {
        address,
        shuffle_dir,
        shutdown,
        server,
    })
}

async fn register(
    client: &mut DriverServiceClient<AuthChannel>,
    request: &RegisterExecutorRequest,
    timeout: Duration,
) -> Result<kiln_proto::RegisterExecutorResponse> {
    let start = Instant::now();
    loop {
        match client.register_executor(request.clone()).await {
            Ok(r) => return Ok(r.into_inner()),
            Err(s)
                if s.code() == tonic::Code::PermissionDenied
                    || s.code() == tonic::Code::InvalidArgument
                    || s.code() == tonic::Code::FailedPrecondition
                    || s.code() == tonic::Code::Unauthenticated =>
            {
                return Err(KilnError::Executor(format!(
                    "driver refused registration: {}",
                    s.message()
                )))
            }
            Err(s) if start.elapsed() > timeout => {
                return Err(KilnError::Executor(format!(
                    "cannot register with driver within {timeout:?}: {}",
                    s.message()
                )))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn heartbeats(
    mut client: DriverServiceClient<AuthChannel>,
    request: RegisterExecutorRequest,
    running: Arc<AtomicU32>,
    interval: Duration,
    timeout: Duration,
    shutdown: watch::Sender<bool>,
) {
    let mut last_ok = Instant::now();
    loop {
        tokio::time::sleep(interval).await;
        let hb = HeartbeatRequest {
            executor_id: request.executor_id.clone(),
            running_tasks: running.load(Ordering::Relaxed),
            peak_rss_bytes: peak_rss_bytes(),
        };
        // A driver that accepts the connection but never answers (stopped,
        // partitioned) must not hold the heartbeat forever: the call gets
        // what is left of the timeout, at least one interval.
        let deadline = timeout.saturating_sub(last_ok.elapsed()).max(interval);
        let reply = match tokio::time::timeout(deadline, client.heartbeat(hb)).await {
            Ok(reply) => reply,
            Err(_) => Err(tonic::Status::deadline_exceeded(format!(
                "no heartbeat reply within {deadline:?}"
            ))),
        };
        match reply {
            Ok(r) => {
                last_ok = Instant::now();
                if !r.into_inner().known {
                    // The driver does not know us (a restarted driver, or a
                    // registration that raced): join again. One it declared
                    // lost is refused and exits.
                    let again = tokio::time::timeout(
                        interval.max(Duration::from_secs(1)),
                        client.register_executor(request.clone()),
                    )
                    .await;
                    if let Ok(Err(s)) = again {
                        if s.code() == tonic::Code::FailedPrecondition {
                            warn!("{}; executor exits", s.message());
                            shutdown.send_replace(true);
                            return;
                        }
                    }
                }
            }
            Err(s) => {
                if last_ok.elapsed() > timeout {
                    warn!(
                        "driver unreachable for {:?} ({}); executor exits",
                        timeout,
                        s.message()
                    );
                    shutdown.send_replace(true);
                    return;
                }
            }
        }
    }
}

/// Serves the executor's Prometheus metrics at `at` until it stops;
/// returns their URL as peers reach it.
async fn serve_metrics(
    at: SocketAddr,
    advertise_host: &str,
    metrics: Arc<ExecutorMetrics>,
    shutdown: &watch::Sender<bool>,
) -> Result<String> {
    let listener = tokio::net::TcpListener::bind(at)
        .await
        .map_err(|e| KilnError::io(format!("executor metrics cannot listen on {at}"), e))?;
    let port = listener
        .local_addr()
        .map_err(|e| KilnError::io("executor metrics listener has no address", e))?
        .port();
    let mut stop = shutdown.subscribe();
    tokio::spawn(async move {
        let served =
            kiln_ui::prometheus::serve_executor(listener, metrics, peak_rss_bytes, async move {
                let _ = stop.wait_for(|s| *s).await;
            });
        if let Err(e) = served.await {
            warn!("executor metrics server failed: {e}");
        }
    });
    let host = if advertise_host.contains(':') {
        format!("[{advertise_host}]")
    } else {
        advertise_host.to_string()
    };
    Ok(format!("http://{host}:{port}/metrics"))
}

/// Peak resident set size of this process (Linux `VmHWM`), 0 elsewhere.
pub fn peak_rss_bytes() -> u64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// A task in this executor's running count. The driver cancels a task by
/// dropping its launch call (the job was interrupted, or its attempt is no
/// longer wanted); the task's work stops with it.
struct RunningTask {
    running: Arc<AtomicU32>,
    metrics: Arc<ExecutorMetrics>,
    what: String,
    done: bool,
}

impl Drop for RunningTask {
    fn drop(&mut self) {
        self.running.fetch_sub(1, Ordering::Relaxed);
        if !self.done {
            info!("{} cancelled by the driver", self.what);
            // Its slot is free again; Prometheus counts it as failed.
            self.metrics.task_ended(&TaskOutcome::default());
        }
    }
}

struct ExecutorEndpoint {
    application_id: String,
    shuffle_dir: PathBuf,
    runner: Arc<OnceCell<TaskRunner>>,
    shutdown: watch::Sender<bool>,
    running: Arc<AtomicU32>,
    metrics: Arc<ExecutorMetrics>,
}

#[tonic::async_trait]
impl ExecutorService for ExecutorEndpoint {
    async fn launch_task(
        &self,
        request: Request<TaskDefinition>,
    ) -> std::result::Result<Response<TaskResult>, Status> {
        let def = request.into_inner();
        if def.application_id != self.application_id {
            return Err(Status::permission_denied(format!(
                "this executor serves application `{}`, not `{}`",
                self.application_id, def.application_id
            )));
        }
        // The driver may launch a task before the registration reply reached
        // us; the runner exists as soon as that reply is processed.
        let deadline = Instant::now() + Duration::from_secs(30);
        let runner = loop {
            if let Some(r) = self.runner.get() {
                break r;
            }
            if Instant::now() > deadline {
                return Err(Status::unavailable("executor did not finish registering"));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        let mut guard = RunningTask {
            running: self.running.clone(),
            metrics: self.metrics.clone(),
            what: format!(
                "job {} stage {} task {} (attempt {})",
                def.job_id,
                def.stage_id,
                def.partition,
                def.attempt + 1
            ),
            done: false,
        };
        self.running.fetch_add(1, Ordering::Relaxed);
        info!("{} started", guard.what);
        self.metrics.task_started();
        let span = tracing::info_span!("task", app = %def.application_id, stage = def.stage_id, partition = def.partition, attempt = def.attempt);
        // A task that panics (a bug, or input no decoder anticipated) gets a
        // failure reply; the executor and its other tasks keep running.
        let result = std::panic::AssertUnwindSafe(runner.run(def))
            .catch_unwind()
            .instrument(span)
            .await
            .unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("unknown panic");
                warn!("task panicked: {what}");
                TaskResult {
                    status: kiln_proto::TaskStatus::Failed as i32,
                    error: format!("task panicked: {what}"),
                    ..Default::default()
                }
            });
        guard.done = true;
        let m = result.metrics.unwrap_or_default();
        info!(
            "{} finished ({:?}): {} rows out, shuffle read {} bytes local + {} bytes remote",
            guard.what,
            kiln_proto::TaskStatus::try_from(result.status).unwrap_or_default(),
            m.output_rows,
            m.shuffle_local_bytes,
            m.shuffle_remote_bytes
        );
        self.metrics.task_ended(&TaskOutcome {
            succeeded: result.status == kiln_proto::TaskStatus::Succeeded as i32,
            run_time_ms: m.elapsed_ms,
            shuffle_write_bytes: result.block_bytes.iter().sum(),
            spill_count: m.spill_count,
            spilled_bytes: m.spilled_bytes,
        });
        Ok(Response::new(result))
    }

    async fn shutdown(
        &self,
        _request: Request<ShutdownRequest>,
    ) -> std::result::Result<Response<ShutdownResponse>, Status> {
        self.shutdown.send_replace(true);
        Ok(Response::new(ShutdownResponse {}))
    }

    async fn remove_shuffle(
        &self,
        request: Request<RemoveShuffleRequest>,
    ) -> std::result::Result<Response<RemoveShuffleResponse>, Status> {
        for stage in request.into_inner().stage_ids {
            let dir = kiln_core::shuffle::layout::stage_dir(&self.shuffle_dir, stage);
            if let Err(e) = tokio::fs::remove_dir_all(&dir).await {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(stage, "cannot remove {}: {e}", dir.display());
                }
            }
        }
        Ok(Response::new(RemoveShuffleResponse {}))
    }
}
