//! An application's cluster on this machine: the driver's gRPC endpoint and
//! its executors (processes in `local-cluster` mode, one in-process executor
//! in `local[N]`), started together and stopped together. `kiln run` runs a
//! manifest on it; `kiln connect` serves Spark Connect clients on it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kiln_core::config::EngineConf;
use kiln_core::manifest::Application;
use kiln_core::security::{Secret, Transport};
use kiln_driver::application::{Driver, DriverShuffle};
use kiln_driver::cluster_manager::{
    default_max_replacements, ExecutorLaunch, LocalCluster, Supervisor,
};
use kiln_driver::executor_registry::{DriverEndpoint, ExecutorRegistry, StartRule};
use kiln_driver::metrics::AppMetrics;
use kiln_driver::progress::Progress;
use kiln_driver::scheduler::SchedulerContext;

use kiln_standalone::application::{AppRequest, StandaloneCluster, CORES_MAX};

use crate::standalone_cmd::cli_error;
use crate::ui_cmd::AppUi;
use crate::CliError;

/// Where the executors of a local application run.
pub enum Master {
    /// `spec.executor.instances` executor processes on loopback.
    LocalCluster,
    /// One executor inside this process with this many task slots.
    Local(u32),
    /// Executors on the workers of a standalone master.
    Standalone(kiln_standalone::MasterUrl),
}

/// Settings handed to executors: the app's conf plus the S3 buckets it names.
pub fn executor_conf(app: &Application) -> HashMap<String, String> {
    let mut conf: HashMap<String, String> = app.conf.clone().into_iter().collect();
    // The cluster's secret is for the master, not for executors.
    conf.remove(kiln_standalone::auth::SECRET_SETTING);
    let buckets = kiln_core::objectstore::s3_buckets(&app.sql);
    if !buckets.is_empty() {
        conf.insert(kiln_core::settings::S3_BUCKETS.into(), buckets.join(","));
    }
    conf
}

/// A running local application: driver endpoint plus registered executors.
pub struct LocalApp {
    /// The executors that registered.
    pub registry: ExecutorRegistry,
    /// Stage progress shown on stderr.
    pub progress: Arc<Progress>,
    /// The application's metrics.
    pub metrics: Arc<AppMetrics>,
    app: Application,
    sched: SchedulerContext,
    shuffle: DriverShuffle,
    server: tokio::task::JoinHandle<()>,
    cluster: Option<Supervisor>,
    standalone: Option<StandaloneCluster>,
    local: Option<kiln_executor::ExecutorHandle>,
    ui: AppUi,
}

impl LocalApp {
    /// Starts the driver endpoint and the executors of `app`, and waits
    /// until they registered.
    pub async fn start(
        app: &Application,
        conf: EngineConf,
        application_id: &str,
        work_dir: &Path,
        master: &Master,
        progress: Arc<Progress>,
    ) -> Result<LocalApp, CliError> {
        // A fresh secret per application: only the executors started here get it.
        let transport = Transport::new(Secret::generate()?, &app.conf)?;
        let registry = ExecutorRegistry::new(application_id, executor_conf(app), transport.clone());
        let loopback = "127.0.0.1:0"
            .parse()
            .map_err(|_| CliError::Failed("bad address".into()))?;
        let (bind, advertise) = match master {
            Master::Standalone(url) => {
                let (bind, host) = kiln_standalone::application::driver_address(&app.conf, url)
                    .map_err(cli_error)?;
                (bind, Some(host))
            }
            _ => (loopback, None),
        };
        let (driver_url, server) = serve_driver_at(&registry, bind, advertise.as_deref()).await?;
        let ui = AppUi::start(
            &app.conf,
            application_id,
            &app.name,
            app.executor.instances * app.executor.cores,
            Some(work_dir.to_path_buf()),
            "0.0.0.0",
            &registry,
        )
        .await?;
        let mut cluster = None;
        let mut standalone = None;
        let mut local = None;
        let shuffle = match master {
            Master::LocalCluster => {
                // KILN_EXECUTOR_PROGRAM starts executors from another binary (a
                // wrapper, a profiler); by default they are this `kiln`.
                let program = match std::env::var_os("KILN_EXECUTOR_PROGRAM") {
                    Some(p) => PathBuf::from(p),
                    None => std::env::current_exe().map_err(|e| {
                        CliError::Failed(format!("cannot find the kiln binary: {e}"))
                    })?,
                };
                let launch = ExecutorLaunch {
                    program,
                    driver_url: driver_url.clone(),
                    application_id: application_id.to_string(),
                    cores: app.executor.cores,
                    memory_bytes: app.executor.memory_bytes,
                    work_dir: work_dir.to_path_buf(),
                    transport: transport.clone(),
                    host: None,
                };
                let c = LocalCluster::start(launch, app.executor.instances)?;
                let max_replacements = conf
                    .max_executor_replacements
                    .unwrap_or_else(|| default_max_replacements(app.executor.instances));
                // Watched from the start: an executor that dies before it
                // registers is replaced like one that dies later.
                let supervisor = c.supervise(registry.clone(), progress.clone(), max_replacements);
                let expected = app.executor.instances as usize;
                let rule = StartRule::of(&conf);
                let started = registry.wait_to_start(
                    expected,
                    &rule,
                    || supervisor.none_can_start(),
                    || format!("{}; logs in {}", supervisor.exits(), work_dir.display()),
                );
                if let Err(e) = say_started(&progress, started.await, expected, &server) {
                    if let Some(mut c) = supervisor.stop().await {
                        c.stop().await;
                    }
                    return Err(e);
                }
                cluster = Some(supervisor);
                driver_shuffle(work_dir)
            }
            Master::Standalone(url) => {
                let c = match start_standalone(
                    app,
                    url,
                    application_id,
                    &driver_url,
                    &registry,
                    &transport,
                    &progress,
                )
                .await
                {
                    Ok(c) => c,
                    Err(e) => {
                        server.abort();
                        return Err(e);
                    }
                };
                // A full cluster queues the application: no time limit
                // then, as in Spark; the registration timeout starts with
                // the allocation.
                c.wait_in_queue(&progress).await;
                let expected = c.target() as usize;
                let rule = StartRule::of(&conf);
                let started = registry
                    .wait_to_start(expected, &rule, || c.none_can_start(), || c.exits())
                    .await;
                if let Err(e) = say_started(&progress, started, expected, &server) {
                    c.stop().await;
                    return Err(e);
                }
                standalone = Some(c);
                driver_shuffle(work_dir)
            }
            Master::Local(n) => {
                let handle = kiln_executor::start(kiln_executor::ExecutorOptions {
                    executor_id: "local".into(),
                    application_id: application_id.to_string(),
                    driver_url: driver_url.clone(),
                    bind: loopback,
                    advertise_host: "127.0.0.1".into(),
                    advertise_port: None,
                    metrics_bind: None,
                    cores: *n,
                    memory_bytes: app.executor.memory_bytes,
                    work_dir: work_dir.join("executor-local"),
                    transport: transport.clone(),
                })
                .await;
                let handle = match handle {
                    Ok(h) => h,
                    Err(e) => {
                        server.abort();
                        return Err(e.into());
                    }
                };
                let s = DriverShuffle {
                    executor_id: "local".into(),
                    shuffle_dir: handle.shuffle_dir.clone(),
                };
                local = Some(handle);
                s
            }
        };
        let metrics = Arc::new(AppMetrics::default());
        let sched = SchedulerContext {
            application_id: application_id.to_string(),
            registry: registry.clone(),
            conf: Arc::new(conf),
            progress: progress.clone(),
            metrics: metrics.clone(),
            listener: ui.listener.clone(),
        };
        Ok(LocalApp {
            registry,
            progress,
            metrics,
            app: app.clone(),
            sched,
            shuffle,
            server,
            cluster,
            standalone,
            local,
            ui,
        })
    }

    /// The driver of this application.
    pub fn driver(&self) -> kiln_core::Result<Driver> {
        Driver::new(self.app.clone(), self.sched.clone(), self.shuffle.clone())
    }

    /// Stops replacing executors, then stops them all and the endpoint;
    /// the application ended with `error` when it failed (for its UI and
    /// event log, which get the executors' logs).
    pub async fn stop(self, error: Option<String>) {
        let cluster = match self.cluster {
            Some(supervisor) => supervisor.stop().await,
            None => None,
        };
        for e in self.registry.executors() {
            let mut c = e.client.clone();
            let _ = tokio::time::timeout(
                Duration::from_millis(500),
                c.shutdown(kiln_proto::ShutdownRequest {}),
            )
            .await;
        }
        if let Some(mut c) = cluster {
            c.stop().await;
        }
        if let Some(c) = self.standalone {
            c.stop().await;
        }
        if let Some(h) = self.local {
            h.stop();
        }
        self.server.abort();
        self.ui.finish(error, &[]).await;
    }
}

/// Registers the application with a standalone master (its cluster
/// secret from `spark.authenticate.secret`, `spark.authenticate.secret.file`
/// or `KILN_CLUSTER_SECRET`).
async fn start_standalone(
    app: &Application,
    url: &kiln_standalone::MasterUrl,
    application_id: &str,
    driver_url: &str,
    registry: &ExecutorRegistry,
    transport: &Transport,
    progress: &Arc<Progress>,
) -> Result<StandaloneCluster, CliError> {
    use kiln_standalone::auth;
    let file = app
        .conf
        .get("spark.authenticate.secret.file")
        .map(std::path::PathBuf::from);
    let secret = auth::cluster_secret(
        file.as_deref(),
        app.conf.get(auth::SECRET_SETTING).map(String::as_str),
    )
    .map_err(cli_error)?;
    let cores_max = match app.conf.get(CORES_MAX) {
        Some(v) => Some(
            v.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    CliError::Input(format!("{CORES_MAX}=`{v}`: expected a number of cores"))
                })?,
        ),
        None => None,
    };
    let request = AppRequest {
        application_id: application_id.to_string(),
        name: app.name.clone(),
        driver_url: driver_url.to_string(),
        executors: app.executor.instances,
        executor_cores: app.executor.cores,
        executor_memory_bytes: app.executor.memory_bytes,
        cores_max,
        transport: transport.clone(),
    };
    StandaloneCluster::register(
        url,
        secret.as_ref(),
        request,
        registry.clone(),
        progress.clone(),
    )
    .await
    .map_err(cli_error)
}

/// Says when a job starts with fewer executors than it asked for (the
/// others join as they register); a failed start stops the driver's
/// `server` and is the CLI's error.
fn say_started(
    progress: &Progress,
    started: Result<usize, String>,
    expected: usize,
    server: &tokio::task::JoinHandle<()>,
) -> Result<(), CliError> {
    let n = started.map_err(|e| {
        server.abort();
        CliError::Failed(e)
    })?;
    if n < expected {
        progress.line(&format!(
            "starting with {n} of {expected} executors; the others join when they register"
        ));
    }
    Ok(())
}

/// The driver's own shuffle folder, for the blocks it writes itself.
fn driver_shuffle(work_dir: &Path) -> DriverShuffle {
    DriverShuffle {
        executor_id: "driver".into(),
        shuffle_dir: work_dir.join("driver"),
    }
}

/// Creates the temporary work directory of application `application_id`
/// (executors' shuffle files and spill live under it).
pub fn work_dir(application_id: &str) -> Result<std::path::PathBuf, CliError> {
    let dir = std::env::temp_dir().join(format!("kiln-{application_id}"));
    std::fs::create_dir_all(&dir).map_err(|e| {
        CliError::Failed(format!(
            "cannot create work directory {}: {e}",
            dir.display()
        ))
    })?;
    Ok(dir)
}

/// The deploy mode `--master` names: `local-cluster`, `local`, `local[N]`,
/// `local[*]` or a standalone master's `kiln://HOST:PORT`.
pub(crate) fn parse_master(m: &str) -> Result<Master, CliError> {
    if m == "local-cluster" {
        return Ok(Master::LocalCluster);
    }
    if m == "local" {
        return Ok(Master::Local(1));
    }
    if m.contains("://") {
        return kiln_standalone::MasterUrl::parse(m)
            .map(Master::Standalone)
            .map_err(|e| CliError::Input(format!("--master: {e}")));
    }
    if let Some(n) = m.strip_prefix("local[").and_then(|r| r.strip_suffix(']')) {
        if n == "*" {
            let cores = std::thread::available_parallelism()
                .map(|n| n.get() as u32)
                .unwrap_or(1);
            return Ok(Master::Local(cores));
        }
        if let Ok(n) = n.parse::<u32>() {
            if n > 0 {
                return Ok(Master::Local(n));
            }
        }
    }
    Err(CliError::Input(format!(
        "--master: `{m}` is not a deploy mode (use local-cluster, local, local[N], local[*] or kiln://HOST:PORT)"
    )))
}

/// Serves the driver's endpoint for executors on `bind`; its URL and task.
pub(crate) async fn serve_driver(
    registry: &ExecutorRegistry,
    bind: SocketAddr,
) -> Result<(String, tokio::task::JoinHandle<()>), CliError> {
    serve_driver_at(registry, bind, None).await
}

/// [`serve_driver`], with the URL naming `advertise` instead of the bound
/// IP (`spark.driver.host` when the driver binds elsewhere).
pub(crate) async fn serve_driver_at(
    registry: &ExecutorRegistry,
    bind: SocketAddr,
    advertise: Option<&str>,
) -> Result<(String, tokio::task::JoinHandle<()>), CliError> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| CliError::Failed(format!("driver cannot listen on {bind}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::Failed(format!("driver listener: {e}")))?;
    let service = DriverEndpoint::service(registry.clone());
    let mut server = registry.transport().server()?;
    let handle = tokio::spawn(async move {
        let _ = server
            .add_service(service)
            .serve_with_incoming(kiln_core::security::Transport::incoming(listener))
            .await;
    });
    let host = advertise.map_or_else(|| addr.ip().to_string(), str::to_string);
    let url = registry.transport().url(&host, addr.port());
    Ok((url, handle))
}

/// A short id suffix, unique enough between the applications of one machine.
pub(crate) fn uuid_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}", (nanos as u64) ^ ((std::process::id() as u64) << 32))
        .chars()
        .rev()
        .take(8)
        .collect()
}
