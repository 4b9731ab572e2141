//! An application's cluster on this machine: the driver's gRPC endpoint and
//! its executors (processes in `local-cluster` mode, one in-process executor
//! in `local[N]`), started together and stopped together. `kiln run` runs a
//! manifest on it; `kiln connect` serves Spark Connect clients on it.

use std::collections::HashMap;
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
use kiln_driver::executor_registry::{ExecutorRegistry, StartRule};
use kiln_driver::metrics::AppMetrics;
use kiln_driver::progress::Progress;
use kiln_driver::scheduler::SchedulerContext;

use crate::run::serve_driver;
use crate::ui_cmd::AppUi;
use crate::CliError;

/// Where the executors of a local application run.
pub enum Master {
    /// `spec.executor.instances` executor processes on loopback.
    LocalCluster,
    /// One executor inside this process with this many task slots.
    Local(u32),
}

/// Settings handed to executors: the app's conf plus the S3 buckets it names.
pub fn executor_conf(app: &Application) -> HashMap<String, String> {
    let mut conf: HashMap<String, String> = app.conf.clone().into_iter().collect();
    let buckets = kiln_core::objectstore::s3_buckets(&app.sql);
    if !buckets.is_empty() {
        conf.insert("kiln.s3.buckets".into(), buckets.join(","));
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
        let (driver_url, server) = serve_driver(&registry, loopback).await?;
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
                };
                let c = LocalCluster::start(launch, app.executor.instances)?;
                let max_replacements = conf
                    .max_executor_replacements
                    .unwrap_or_else(|| default_max_replacements(app.executor.instances));
                // Watched from the start: an executor that dies before it
                // registers is replaced like one that dies later.
                let supervisor = c.supervise(registry.clone(), progress.clone(), max_replacements);
                let expected = app.executor.instances as usize;
                let started = registry
                    .wait_to_start(
                        expected,
                        &StartRule::of(&conf),
                        || supervisor.none_can_start(),
                        || format!("{}; logs in {}", supervisor.exits(), work_dir.display()),
                    )
                    .await;
                match started {
                    Ok(n) if n < expected => progress.line(&format!(
                        "starting with {n} of {expected} executors; the others join when they register"
                    )),
                    Ok(_) => {}
                    Err(e) => {
                        if let Some(mut c) = supervisor.stop().await {
                            c.stop().await;
                        }
                        server.abort();
                        return Err(CliError::Failed(e));
                    }
                }
                cluster = Some(supervisor);
                DriverShuffle {
                    executor_id: "driver".into(),
                    shuffle_dir: work_dir.join("driver"),
                }
            }
            Master::Local(n) => {
                let handle = kiln_executor::start(kiln_executor::ExecutorOptions {
                    executor_id: "local".into(),
                    application_id: application_id.to_string(),
                    driver_url: driver_url.clone(),
                    bind: loopback,
                    advertise_host: "127.0.0.1".into(),
                    advertise_port: None,
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
        if let Some(h) = self.local {
            h.stop();
        }
        self.server.abort();
        self.ui.finish(error, &[]).await;
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
