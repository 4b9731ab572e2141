//! `kiln run` (driver plus executors on this machine) and `kiln driver` (the
//! driver alone, waiting for executors that register from elsewhere).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kiln_core::config::EngineConf;
use kiln_core::manifest::{Application, Job, PythonScript};
use kiln_core::security::{Secret, Transport};
use kiln_driver::allocation::AllocationConf;
use kiln_driver::application::{Driver, DriverShuffle, QueryOutput};
use kiln_driver::executor_registry::{ExecutorRegistry, StartRule};
use kiln_driver::metrics::AppMetrics;
use kiln_driver::progress::Progress;
use kiln_driver::scheduler::SchedulerContext;

use crate::local::{executor_conf, parse_master, serve_driver, uuid_suffix, LocalApp, Master};
use crate::mount::mounted;
use crate::output::{write_output, Format};
use crate::CliError;

/// Arguments of `kiln run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The SparkApplication manifest (YAML), or a PySpark script (`.py`)
    /// run against a Spark Connect endpoint of its own.
    manifest: PathBuf,
    /// Arguments passed to a Python script.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    script_args: Vec<String>,
    /// The Python interpreter that runs a `.py` script (default: python3 on PATH).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Executor processes for a `.py` script (local-cluster).
    #[arg(long, default_value_t = 2)]
    executors: u32,
    /// `local-cluster` (executor processes, the default), `local[N]` (one
    /// process, N task slots) or `kiln://HOST:PORT` (a standalone master).
    #[arg(long, default_value = "local-cluster")]
    master: String,
    /// How the last query's rows are printed on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Also write the job summary as JSON to this file.
    #[arg(long)]
    summary_json: Option<PathBuf>,
    /// Override `spec.conf` entries, as KEY=VALUE (repeatable).
    #[arg(long = "conf", value_name = "KEY=VALUE")]
    conf: Vec<String>,
    /// Keep the work directory (shuffle files, executor logs) after the run.
    #[arg(long)]
    keep_work_dir: bool,
}

/// Arguments of `kiln driver`.
#[derive(Debug, clap::Args)]
pub struct DriverArgs {
    /// The SparkApplication manifest (YAML).
    manifest: PathBuf,
    /// Address the driver's gRPC service listens on.
    #[arg(long, default_value = "0.0.0.0:7078")]
    bind: SocketAddr,
    /// Application id executors must present (default: the manifest's name).
    #[arg(long)]
    application_id: Option<String>,
    /// Executors to wait for before starting (default: spec.executor.instances).
    #[arg(long)]
    min_executors: Option<u32>,
    /// How the last query's rows are printed on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// File holding the application secret executors must present (default:
    /// the KILN_AUTH_SECRET environment variable).
    #[arg(long)]
    auth_secret_file: Option<PathBuf>,
    /// SparkApplication whose status gets the job's progress (set by the operator).
    #[arg(long, env = "KILN_APPLICATION_NAME")]
    application: Option<String>,
    /// Namespace of that SparkApplication.
    #[arg(long, env = "KILN_APPLICATION_NAMESPACE")]
    namespace: Option<String>,
    /// Port of the Spark Connect endpoint of a `type: Connect` application
    /// (on the `--bind` address).
    #[arg(long, default_value_t = 15002)]
    connect_port: u16,
    /// File that gets the error of a failed run (Kubernetes' termination
    /// message).
    #[arg(long, default_value = "/dev/termination-log")]
    termination_log: PathBuf,
}

pub(crate) fn load(
    manifest: &std::path::Path,
    overrides: &[String],
) -> Result<(Application, EngineConf), CliError> {
    let mut app = Application::load(manifest)?;
    for kv in overrides {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| CliError::Input(format!("--conf `{kv}`: expected KEY=VALUE")))?;
        app.conf.insert(k.trim().to_string(), v.trim().to_string());
    }
    let conf = EngineConf::parse(&app.conf)?;
    Ok((app, conf))
}

/// `kiln run`.
pub async fn run(args: RunArgs) -> Result<(), CliError> {
    if args.manifest.extension().is_some_and(|e| e == "py") {
        let mut conf = args.conf.clone();
        // The script's interpreter runs its Python UDFs too, unless the
        // workers' interpreter is set (spark-submit's PYSPARK_PYTHON).
        if let Some(p) = &args.python {
            let setting = format!("{}=", kiln_core::python::PYTHON_SETTING);
            if std::env::var_os("PYSPARK_PYTHON").is_none()
                && !conf.iter().any(|c| c.starts_with(&setting))
            {
                conf.push(format!("{setting}{}", p.display()));
            }
        }
        let cluster = crate::connect_cmd::ClusterArgs {
            master: args.master.clone(),
            executors: args.executors,
            executor_cores: 1,
            executor_memory: None,
            conf,
        };
        let code = crate::connect_cmd::run_python(
            &args.manifest,
            &args.script_args,
            args.python.as_deref(),
            &cluster,
        )
        .await?;
        return match code {
            0 => Ok(()),
            c => Err(CliError::Exit(c)),
        };
    }
    if !args.script_args.is_empty() {
        return Err(CliError::Input(format!(
            "unexpected arguments after the manifest: {}",
            args.script_args.join(" ")
        )));
    }
    let started = Instant::now();
    let master = parse_master(&args.master)?;
    let (mut app, conf) = load(&args.manifest, &args.conf)?;
    match &app.job {
        Job::Sql => {}
        Job::Python { script, arguments } => return run_python_manifest(&args, &app, script, arguments).await,
        Job::Connect => {
            return Err(CliError::Input(format!(
                "{}: a `type: Connect` application is a Spark Connect server: run `kiln connect` on this machine",
                args.manifest.display()
            )))
        }
    }
    if let Master::Local(n) = master {
        app.executor.instances = 1;
        app.executor.cores = n;
    }
    let application_id = format!("{}-{}", app.name, &uuid_suffix());
    let work_dir = crate::local::work_dir(&application_id)?;
    let result = run_in(
        &args,
        &app,
        conf,
        &application_id,
        &work_dir,
        &master,
        started,
    )
    .await;
    if !args.keep_work_dir {
        let _ = std::fs::remove_dir_all(&work_dir);
    } else {
        eprintln!("work directory kept: {}", work_dir.display());
    }
    result
}

/// `kiln run app.yaml` of a `type: Python` manifest: its script, with its
/// arguments, on a local cluster shaped by the manifest.
async fn run_python_manifest(
    args: &RunArgs,
    app: &Application,
    script: &PythonScript,
    arguments: &[String],
) -> Result<(), CliError> {
    let dir = std::env::temp_dir().join(format!("kiln-{}-{}-py", app.name, uuid_suffix()));
    let path = crate::python_job::materialize(script, &dir, &app.conf).await?;
    let cluster = crate::connect_cmd::ClusterArgs {
        master: args.master.clone(),
        executors: app.executor.instances,
        executor_cores: app.executor.cores,
        executor_memory: app.executor.memory_bytes.map(|b| b.to_string()),
        conf: app.conf.iter().map(|(k, v)| format!("{k}={v}")).collect(),
    };
    let code =
        crate::connect_cmd::run_python(&path, arguments, args.python.as_deref(), &cluster).await;
    let _ = std::fs::remove_dir_all(&dir);
    match code? {
        0 => Ok(()),
        c => Err(CliError::Exit(c)),
    }
}

async fn run_in(
    args: &RunArgs,
    app: &Application,
    conf: EngineConf,
    application_id: &str,
    work_dir: &std::path::Path,
    master: &Master,
    started: Instant,
) -> Result<(), CliError> {
    let progress = Arc::new(Progress::new(std::io::stderr().is_terminal()));
    let local = LocalApp::start(app, conf, application_id, work_dir, master, progress).await?;
    let outcome = match local.driver() {
        Ok(driver) => driver.run().await,
        Err(e) => Err(e),
    };
    local.progress.clear();
    let (metrics, registry) = (local.metrics.clone(), local.registry.clone());
    local
        .stop(outcome.as_ref().err().map(|e| e.to_string()))
        .await;
    let wall = started.elapsed();
    // The rows go out before the summary is written, so the driver's peak
    // memory in it covers printing them too.
    let outcome = match outcome {
        Ok(output) => print_output(output, args.format),
        Err(e) => Err(e.into()),
    };
    let summary = metrics.summary();
    eprint!("{}", summary.render(wall, &registry.peak_rss()));
    if let Some(path) = &args.summary_json {
        let mut json = summary.to_json(wall);
        json["succeeded"] = serde_json::Value::Bool(outcome.is_ok());
        json["executor_peak_rss_bytes"] =
            serde_json::json!(registry.peak_rss().into_iter().collect::<HashMap<_, _>>());
        // This process: the driver (and, in local[N], the executor too).
        json["driver_peak_rss_bytes"] = serde_json::json!(kiln_executor::peak_rss_bytes());
        std::fs::write(
            path,
            serde_json::to_string_pretty(&json).unwrap_or_default(),
        )
        .map_err(|e| CliError::Failed(format!("cannot write {}: {e}", path.display())))?;
    }
    outcome
}

fn print_output(output: Option<QueryOutput>, format: Format) -> Result<(), CliError> {
    if let Some(out) = output {
        write_output(out, format)
            .map_err(|e| CliError::Failed(format!("cannot write results: {e}")))?;
    }
    Ok(())
}

/// The settings the operator keeps in the application's Secret (credentials),
/// from `KILN_SECRET_CONF` (a JSON object), if set.
fn secret_conf() -> Result<std::collections::BTreeMap<String, String>, CliError> {
    use kiln_operator::controller::tls::SECRET_CONF_ENV;
    match std::env::var(SECRET_CONF_ENV) {
        Ok(text) if !text.trim().is_empty() => serde_json::from_str(&text).map_err(|e| {
            CliError::Input(format!(
                "{SECRET_CONF_ENV}: not a JSON object of settings: {e}"
            ))
        }),
        _ => Ok(Default::default()),
    }
}

/// The TLS files of `kiln.ssl.*` are in a pod volume: read them under
/// `$KILN_MOUNT_ROOT` on the process-based test node.
pub(crate) fn mount_tls_files(conf: &mut std::collections::BTreeMap<String, String>) {
    use kiln_core::security::{SSL_CA_FILE, SSL_CERT_FILE, SSL_KEY_FILE};
    for key in [SSL_CERT_FILE, SSL_KEY_FILE, SSL_CA_FILE] {
        if let Some(v) = conf.get_mut(key) {
            *v = mounted(std::path::Path::new(v.as_str()))
                .display()
                .to_string();
        }
    }
}

/// A local `spark.eventLog.dir` is a pod volume (the operator mounts the
/// history server's claim there): under `$KILN_MOUNT_ROOT` on the
/// process-based test node.
fn mount_event_log_dir(conf: &mut std::collections::BTreeMap<String, String>) {
    if let Some(v) = conf.get_mut("spark.eventLog.dir") {
        if v.starts_with('/') {
            *v = mounted(std::path::Path::new(v.as_str()))
                .display()
                .to_string();
        }
    }
}

/// Reports progress into the application's status while the job runs and,
/// under dynamic allocation, runs the allocation loop, when the driver
/// knows its application (in a pod started by the operator).
async fn report_progress(
    args: &DriverArgs,
    progress: &Arc<Progress>,
    registry: &ExecutorRegistry,
    allocation: Option<AllocationConf>,
    executor_cores: u32,
) -> Option<(
    kiln_operator::driver_status::StatusReporter,
    Vec<tokio::task::JoinHandle<()>>,
)> {
    let (name, ns) = (args.application.as_deref()?, args.namespace.as_deref()?);
    match kiln_operator::driver_status::StatusReporter::connect(name, ns).await {
        Ok(r) => {
            let p = progress.clone();
            let mut tasks =
                vec![r.spawn_progress(Duration::from_secs(1), move || p.stage_counts())];
            if let Some(conf) = allocation {
                tasks.push(crate::pod_allocation::spawn(
                    r.clone(),
                    registry.clone(),
                    progress.clone(),
                    conf,
                    executor_cores,
                ));
            }
            Some((r, tasks))
        }
        Err(e) => {
            tracing::warn!("{e}; progress will not be reported");
            None
        }
    }
}

/// `kiln driver`: the driver of an application whose executors run elsewhere.
/// A failure's message is also the container's termination message.
pub async fn driver(args: DriverArgs) -> Result<(), CliError> {
    let log = args.termination_log.clone();
    let result = driver_in(args).await;
    if let Err(e) = &result {
        write_termination_message(&log, &format!("error: {e}"));
    }
    result
}

/// Writes `message` where Kubernetes reads a container's termination
/// message (under `$KILN_MOUNT_ROOT` on the test node); best effort: a
/// driver outside a pod has no such file.
fn write_termination_message(path: &std::path::Path, message: &str) {
    let path = mounted(path);
    if std::env::var_os("KILN_MOUNT_ROOT").is_some() {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
    }
    if let Err(e) = std::fs::write(&path, message) {
        tracing::debug!("termination message not written to {}: {e}", path.display());
    }
}

async fn driver_in(args: DriverArgs) -> Result<(), CliError> {
    let started = Instant::now();
    // Credentials come from the application's Secret, not the manifest.
    let secret_conf = secret_conf()?;
    let overrides: Vec<String> = secret_conf
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let (mut app, conf) = load(&mounted(&args.manifest), &overrides)?;
    mount_tls_files(&mut app.conf);
    mount_event_log_dir(&mut app.conf);
    // Under dynamic allocation jobs are planned for the most executors.
    let allocation = AllocationConf::from_conf(&app.conf)?;
    if let Some(a) = &allocation {
        app.executor.instances = a.max_executors.max(1);
    }
    let application_id = args
        .application_id
        .clone()
        .unwrap_or_else(|| app.name.clone());
    let secret = Secret::load(args.auth_secret_file.as_deref())?;
    let transport = Transport::new(secret, &app.conf)?;
    // Executors get S3 credentials from the Secret themselves; nothing
    // sensitive travels to them.
    let mut to_executors = executor_conf(&app);
    to_executors.retain(|k, _| !secret_conf.contains_key(k));
    let registry = ExecutorRegistry::new(&application_id, to_executors, transport);
    let (url, server) = serve_driver(&registry, args.bind).await?;
    eprintln!("driver listening on {url}");
    let ui = crate::ui_cmd::AppUi::start(
        &app.conf,
        &application_id,
        &app.name,
        app.executor.instances * app.executor.cores,
        None,
        &args.bind.ip().to_string(),
        &registry,
    )
    .await?;
    let want = args.min_executors.unwrap_or(app.executor.instances) as usize;
    // The operator runs the executor pods; why one does not come up (an
    // image that cannot be pulled, no node that fits) is on the pod.
    let registered = registry
        .wait_to_start(
            want,
            &StartRule::of(&conf),
            || None,
            || "see the executor pods' events (kubectl describe pod) and `kiln status`".to_string(),
        )
        .await;
    match registered {
        Ok(n) if n < want => {
            eprintln!("starting with {n} of {want} executors; the others join when they register")
        }
        Ok(_) => {}
        Err(e) => {
            server.abort();
            ui.finish(Some(e.clone()), &[]).await;
            return Err(CliError::Failed(e));
        }
    }
    let progress = Arc::new(Progress::new(false));
    let reporter = report_progress(
        &args,
        &progress,
        &registry,
        allocation.clone(),
        app.executor.cores,
    )
    .await;
    let metrics = Arc::new(AppMetrics::default());
    let work_dir = std::env::temp_dir().join(format!("kiln-driver-{application_id}"));
    let sched = SchedulerContext {
        application_id: application_id.clone(),
        registry: registry.clone(),
        conf: Arc::new(conf),
        progress: progress.clone(),
        metrics: metrics.clone(),
        listener: ui.listener.clone(),
    };
    let shuffle = DriverShuffle {
        executor_id: "driver".into(),
        shuffle_dir: work_dir,
    };
    let job = app.job.clone();
    let conf_raw = app.conf.clone();
    let driver = Driver::new(app, sched, shuffle);
    let outcome = match (driver, job) {
        (Err(e), _) => Err(e.into()),
        (Ok(d), Job::Sql) => d.run().await.map_err(CliError::from),
        (Ok(d), Job::Python { script, arguments }) => {
            let dir = std::env::temp_dir().join(format!("kiln-driver-{application_id}-py"));
            python_in_pod(d, &script, &arguments, &dir, &conf_raw)
                .await
                .map(|()| None)
        }
        (Ok(d), Job::Connect) => connect_in_pod(d, &conf_raw, args.bind, args.connect_port)
            .await
            .map(|()| None),
    };
    if let Some((r, tasks)) = &reporter {
        tasks.iter().for_each(|t| t.abort());
        if allocation.is_some() {
            // Executors are about to stop: none should be started for them.
            if let Err(e) = r.request_executors(0).await {
                tracing::warn!("cannot withdraw the executor request: {e}");
            }
        }
        let (done, total) = progress.stage_counts();
        if let Err(e) = r.progress(done, total).await {
            tracing::warn!("cannot report the final progress: {e}");
        }
    }
    for e in registry.executors() {
        let mut c = e.client.clone();
        let _ = tokio::time::timeout(
            Duration::from_millis(500),
            c.shutdown(kiln_proto::ShutdownRequest {}),
        )
        .await;
    }
    server.abort();
    let logs = match &reporter {
        Some((r, _)) => pod_logs(r, &args, &application_id, &ui.executor_ids()).await,
        None => Vec::new(),
    };
    ui.finish(outcome.as_ref().err().map(|e| e.to_string()), &logs)
        .await;
    if let Some(dir) = logs.first().and_then(|f| f.parent()) {
        let _ = std::fs::remove_dir_all(dir);
    }
    eprint!(
        "{}",
        metrics
            .summary()
            .render(started.elapsed(), &registry.peak_rss())
    );
    print_output(outcome?, args.format)
}

/// The logs of this driver's pod and of its executors' pods (run
/// `application_id` of the application the driver reports to), read
/// through the API into a temporary folder as `driver.log` and
/// `executor-<id>.log`, to be archived next to the event log. Best effort:
/// a log that cannot be read is skipped with a warning.
async fn pod_logs(
    reporter: &kiln_operator::driver_status::StatusReporter,
    args: &DriverArgs,
    application_id: &str,
    executor_ids: &[String],
) -> Vec<PathBuf> {
    use kiln_operator::controller::names;
    let Some(app) = args.application.as_deref() else {
        return Vec::new();
    };
    let run = application_id
        .strip_prefix(&format!("{app}-"))
        .and_then(|r| r.parse::<i32>().ok());
    let mut wanted = vec![(
        "driver.log".to_string(),
        names::driver_pod(app),
        names::DRIVER_CONTAINER,
    )];
    if let Some(run) = run {
        for id in executor_ids.iter().filter_map(|id| id.parse::<u32>().ok()) {
            wanted.push((
                format!("executor-{id}.log"),
                names::executor_pod(app, run, id),
                names::EXECUTOR_CONTAINER,
            ));
        }
    }
    let dir = std::env::temp_dir().join(format!("kiln-driver-{application_id}-logs"));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        tracing::warn!("cannot archive the pods' logs: {}: {e}", dir.display());
        return Vec::new();
    }
    let mut files = Vec::new();
    for (file, pod, container) in wanted {
        match reporter.pod_log(&pod, container).await {
            Ok(text) => {
                let path = dir.join(&file);
                match std::fs::write(&path, text) {
                    Ok(()) => files.push(path),
                    Err(e) => tracing::warn!("cannot write {}: {e}", path.display()),
                }
            }
            Err(e) => tracing::warn!("cannot read the log of pod {pod} to archive it: {e}"),
        }
    }
    files
}

/// A Python application in its driver pod: the script runs against a Spark
/// Connect endpoint on loopback served by this driver and its executors.
async fn python_in_pod(
    driver: Driver,
    script: &PythonScript,
    arguments: &[String],
    dir: &std::path::Path,
    conf: &std::collections::BTreeMap<String, String>,
) -> Result<(), CliError> {
    let path = crate::python_job::materialize(script, dir, conf).await?;
    let python = crate::python_job::interpreter(conf);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| CliError::Failed(format!("cannot listen for Spark Connect: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| CliError::Failed(format!("Spark Connect listener: {e}")))?
        .port();
    let server_conf = crate::connect_cmd::server_conf(conf)?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::connect_cmd::serve_connect(
        driver,
        server_conf,
        listener,
        async {
            let _ = stop_rx.await;
        },
    ));
    eprintln!(
        "running {} {} against sc://127.0.0.1:{port}",
        python.display(),
        path.display()
    );
    let exit = crate::python_job::run(&python, &path, arguments, port).await;
    let _ = stop_tx.send(());
    let _ = server.await;
    let _ = std::fs::remove_dir_all(dir);
    let exit = exit?;
    if exit.code == 0 {
        Ok(())
    } else {
        Err(CliError::Failed(crate::python_job::failure(&path, &exit)))
    }
}

/// A Connect application in its driver pod: Spark Connect on the pod's
/// address until the pod is stopped (SIGTERM: deleted or suspended).
async fn connect_in_pod(
    driver: Driver,
    settings: &std::collections::BTreeMap<String, String>,
    bind: SocketAddr,
    port: u16,
) -> Result<(), CliError> {
    let server_conf = crate::connect_cmd::server_conf(settings)?;
    let addr = SocketAddr::new(bind.ip(), port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::Failed(format!("cannot listen for Spark Connect on {addr}: {e}")))?;
    eprintln!("Spark Connect server listening on sc://{addr}");
    crate::connect_cmd::serve_connect(driver, server_conf, listener, async {
        crate::connect_cmd::stop_signal().await;
        eprintln!("stopping the Spark Connect server");
    })
    .await
}
