//! `kiln connect` (a long-running Spark Connect server on a local cluster)
//! and `kiln run job.py` (the `spark-submit job.py` of Kiln: the script runs
//! against a Connect endpoint of its own on a free loopback port).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kiln_connect::ConnectService;
use kiln_core::config::EngineConf;
use kiln_core::manifest::{Application, DriverSpec, ExecutorSpec, Job};
use kiln_driver::progress::Progress;

use crate::local::{parse_master, uuid_suffix, LocalApp, Master};
use crate::CliError;

/// Arguments of `kiln connect`.
#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    /// Port the Spark Connect endpoint listens on.
    #[arg(long, default_value_t = 15002)]
    pub port: u16,
    /// Address to listen on (loopback by default; 0.0.0.0 for every interface).
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Where a Connect server's jobs run.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// `local-cluster` (executor processes, the default), `local[N]` (one
    /// process, N task slots) or `kiln://HOST:PORT` (a standalone master).
    #[arg(long, default_value = "local-cluster")]
    pub master: String,
    /// Executor processes (local-cluster).
    #[arg(long, default_value_t = 2)]
    pub executors: u32,
    /// Task slots per executor.
    #[arg(long, default_value_t = 1)]
    pub executor_cores: u32,
    /// Memory pool per executor (e.g. 1g, 512Mi).
    #[arg(long)]
    pub executor_memory: Option<String>,
    /// Engine settings, as KEY=VALUE (repeatable).
    #[arg(long = "conf", value_name = "KEY=VALUE")]
    pub conf: Vec<String>,
}

fn application(
    cluster: &ClusterArgs,
    name: &str,
) -> Result<(Application, EngineConf, Master), CliError> {
    let master = parse_master(&cluster.master)?;
    let memory_bytes = match &cluster.executor_memory {
        Some(m) => Some(
            kiln_core::manifest::parse_memory(m)
                .map_err(|e| CliError::Input(format!("--executor-memory: {e}")))?,
        ),
        None => None,
    };
    let mut conf = BTreeMap::new();
    for kv in &cluster.conf {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| CliError::Input(format!("--conf `{kv}`: expected KEY=VALUE")))?;
        conf.insert(k.trim().to_string(), v.trim().to_string());
    }
    let (instances, cores) = match master {
        Master::Local(n) => (1, n),
        Master::LocalCluster | Master::Standalone(_) => {
            (cluster.executors.max(1), cluster.executor_cores.max(1))
        }
    };
    let app = Application {
        name: name.to_string(),
        job: Job::Connect,
        sql: String::new(),
        sql_origin: name.to_string(),
        driver: DriverSpec {
            cores: 1,
            memory_bytes: None,
        },
        executor: ExecutorSpec {
            instances,
            cores,
            memory_bytes,
        },
        conf,
    };
    let engine = EngineConf::parse(&app.conf)?;
    Ok((app, engine, master))
}

/// A Connect server on a local cluster, serving until `shutdown` resolves.
async fn serve(
    cluster: &ClusterArgs,
    name: &str,
    addr: SocketAddr,
    on_listening: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), CliError> {
    let (app, conf, master) = application(cluster, name)?;
    let application_id = format!("{name}-{}", uuid_suffix());
    let work_dir = crate::local::work_dir(&application_id)?;
    let result = serve_in(
        &app,
        conf,
        &master,
        &application_id,
        &work_dir,
        addr,
        on_listening,
        shutdown,
    )
    .await;
    let _ = std::fs::remove_dir_all(&work_dir);
    result
}

#[allow(clippy::too_many_arguments)]
async fn serve_in(
    app: &Application,
    conf: EngineConf,
    master: &Master,
    application_id: &str,
    work_dir: &Path,
    addr: SocketAddr,
    on_listening: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), CliError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::Failed(format!("cannot listen on {addr}: {e}")))?;
    let local_addr = listener
        .local_addr()
        .map_err(|e| CliError::Failed(format!("listener: {e}")))?;
    let progress = Arc::new(Progress::new(std::io::stderr().is_terminal()));
    let local = LocalApp::start(app, conf, application_id, work_dir, master, progress).await?;
    let driver = match local.driver() {
        Ok(d) => d,
        Err(e) => {
            local.stop(Some(e.to_string())).await;
            return Err(e.into());
        }
    };
    let server_conf = match server_conf(&app.conf) {
        Ok(c) => c,
        Err(e) => {
            local.stop(Some(e.to_string())).await;
            return Err(e);
        }
    };
    on_listening(local_addr);
    let served = serve_connect(driver, server_conf, listener, shutdown).await;
    local.progress.clear();
    local
        .stop(served.as_ref().err().map(|e| e.to_string()))
        .await;
    served
}

/// The Spark Connect server's settings among an application's.
pub fn server_conf(
    settings: &std::collections::BTreeMap<String, String>,
) -> Result<kiln_connect::conf::ServerConf, CliError> {
    kiln_connect::conf::ServerConf::from_settings(settings)
        .map_err(|e| CliError::Input(e.to_string()))
}

/// Serves Spark Connect on `listener` with `driver`'s cluster until
/// `shutdown` resolves (a local cluster's, or a driver pod's).
pub async fn serve_connect(
    driver: kiln_driver::application::Driver,
    conf: kiln_connect::conf::ServerConf,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), CliError> {
    let service = ConnectService::new(driver, conf);
    let stopping = service.clone();
    // With TCP_NODELAY, as every other Kiln server: a server fed its own
    // listener does not apply the builder's setting, and without it each
    // response stream's small trailing messages (a command's result,
    // `ResultComplete`, the stream's end) wait out Nagle's algorithm against
    // the client's delayed ACK, about 40 ms per call on Linux.
    let incoming = kiln_core::security::Transport::incoming(listener);
    tonic::transport::Server::builder()
        .add_service(service.server())
        .serve_with_incoming_shutdown(incoming, async move {
            shutdown.await;
            // Open response streams would hold the server: their
            // operations stop and the streams end with an error.
            stopping.shutdown();
        })
        .await
        .map_err(|e| CliError::Failed(format!("Spark Connect server: {e}")))
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// `kiln connect`.
pub async fn connect(args: ConnectArgs) -> Result<(), CliError> {
    let addr = SocketAddr::new(args.bind, args.port);
    serve(
        &args.cluster,
        "kiln-connect",
        addr,
        |a| {
            let host = if a.ip().is_unspecified() {
                "localhost".to_string()
            } else {
                a.ip().to_string()
            };
            eprintln!("Spark Connect server listening on sc://{host}:{}", a.port());
        },
        async {
            stop_signal().await;
            eprintln!("stopping the Spark Connect server");
        },
    )
    .await
}

/// `kiln run job.py [args...]`: runs the script against a Connect endpoint
/// of its own; returns the script's exit code.
pub async fn run_python(
    script: &Path,
    script_args: &[String],
    python: Option<&Path>,
    cluster: &ClusterArgs,
) -> Result<u8, CliError> {
    if !script.is_file() {
        return Err(CliError::Input(format!(
            "{}: no such Python script",
            script.display()
        )));
    }
    let python: PathBuf = match python {
        Some(p) => p.to_path_buf(),
        None => crate::python_job::interpreter(&application(cluster, "job")?.0.conf),
    };
    let name = script
        .file_stem()
        .map(|s| {
            s.to_string_lossy()
                .to_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "-")
        })
        .unwrap_or_else(|| "job".into());
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let cluster = cluster.clone();
    let server = tokio::spawn(async move {
        serve(
            &cluster,
            &name,
            SocketAddr::from(([127, 0, 0, 1], 0)),
            |a| {
                let _ = addr_tx.send(a);
            },
            async {
                let _ = stop_rx.await;
            },
        )
        .await
    });
    let addr = match addr_rx.await {
        Ok(a) => a,
        Err(_) => {
            return match server.await {
                Ok(Err(e)) => Err(e),
                _ => Err(CliError::Failed(
                    "the Spark Connect server did not start".into(),
                )),
            }
        }
    };
    let exit = crate::python_job::run(&python, script, script_args, addr.port()).await;
    let _ = stop_tx.send(());
    let served = server.await;
    let exit = exit?;
    if let Ok(Err(e)) = served {
        tracing::warn!("Spark Connect server: {e}");
    }
    Ok(exit.code)
}
