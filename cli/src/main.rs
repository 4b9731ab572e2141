//! `kiln`: the one Kiln binary. The role is the subcommand: `run` a job on
//! this machine, be a `driver` or an `executor` (pod entrypoints), or `gen`
//! sample data.

mod connect_cmd;
mod crdgen;
mod gen;
mod k8s_cli;
mod local;
mod mount;
mod operator_cmd;
mod output;
mod pod_allocation;
mod python_job;
mod run;
mod standalone_cmd;
mod ui_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

// DataFusion allocates and frees many short-lived buffers; mimalloc keeps that
// off the system allocator's locks and page faults (datafusion-cli does the same).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns transparent huge pages off for this process and every process it
/// starts (Linux keeps the setting across fork and exec: local executors,
/// Python workers). mimalloc asks for huge pages on its segments; a task's
/// buffers are freed and their memory returned within milliseconds, so on a
/// host whose memory is mostly page cache every new 2 MiB page was a direct
/// compaction and a 2 MiB clear. Measured on TPC-H SF1 (bench/RESULTS.md):
/// kernel time 4.3 s -> 2.7 s, application time down. `KILN_THP=on` keeps
/// the host's setting (for comparisons).
fn transparent_huge_pages_off() {
    if std::env::var("KILN_THP").is_ok_and(|v| v == "on") {
        return;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(2) with PR_SET_THP_DISABLE only sets a flag of this
    // process's memory map; it takes no pointers. A kernel without it
    // returns an error, which changes nothing and is ignored.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Kiln: a Kubernetes-native, Spark-style batch engine.
#[derive(Debug, Parser)]
#[command(name = "kiln", version, about)]
struct Cli {
    /// Log more (repeat for more detail); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a SparkApplication manifest on this machine.
    Run(run::RunArgs),
    /// Serve Spark Connect (PySpark clients: `sc://localhost:15002`) on a local cluster.
    Connect(connect_cmd::ConnectArgs),
    /// Run the driver of an application (pod entrypoint): waits for executors to register.
    Driver(run::DriverArgs),
    /// Run an executor that registers with a driver (pod entrypoint).
    Executor(ExecutorArgs),
    /// Run the master of a standalone cluster (workers and drivers call it at kiln://HOST:7077).
    Master(standalone_cmd::MasterArgs),
    /// Run a worker of a standalone cluster: runs the executors its master assigns.
    Worker(standalone_cmd::WorkerArgs),
    /// Generate sample data.
    #[command(subcommand)]
    Gen(GenCommand),
    /// Write the CustomResourceDefinitions (SparkApplication, ScheduledSparkApplication) as YAML.
    Crdgen(crdgen::CrdgenArgs),
    /// Run the Kubernetes operator (controller of SparkApplications).
    Operator(operator_cmd::OperatorArgs),
    /// Submit a SparkApplication to Kubernetes and follow it until it ends.
    Submit(k8s_cli::SubmitArgs),
    /// Show a SparkApplication's state, attempts, driver, executors, progress and error.
    Status(k8s_cli::StatusArgs),
    /// Print the log of an application's driver pod (or of one executor).
    Logs(k8s_cli::LogsArgs),
    /// Delete a SparkApplication and everything the operator made for it.
    Delete(k8s_cli::DeleteArgs),
    /// List SparkApplications.
    List(k8s_cli::ListArgs),
    /// Serve the UI and `/api/v1` over a folder or `s3://` prefix of event logs.
    History(ui_cmd::HistoryArgs),
}

#[derive(Debug, Subcommand)]
enum GenCommand {
    /// TPC-H tables as Parquet, one folder per table.
    Tpch(gen::TpchArgs),
}

#[derive(Debug, clap::Args)]
struct ExecutorArgs {
    /// Driver URL, e.g. http://10.0.0.5:7078.
    #[arg(long)]
    driver: String,
    /// Executor id, unique within the application.
    #[arg(long, default_value = "1")]
    executor_id: String,
    /// Application id this executor serves.
    #[arg(long, default_value = "")]
    application_id: String,
    /// Task slots.
    #[arg(long, default_value_t = 1)]
    cores: u32,
    /// Memory pool (e.g. 1g, 512Mi, or bytes).
    #[arg(long)]
    memory: Option<String>,
    /// Directory for shuffle and spill files.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: std::net::SocketAddr,
    /// Host peers use to reach this executor (default: the bind IP; env POD_IP in a pod).
    #[arg(long, env = "POD_IP")]
    advertise_host: Option<String>,
    /// Port peers use to reach this executor, when it is not the bound one
    /// (a port forward or proxy in front of it).
    #[arg(long)]
    advertise_port: Option<u16>,
    /// Serve Prometheus metrics (`/metrics`) on this port of the bind
    /// address (0: any free port); the executor tells the driver where. The
    /// operator sets KILN_EXECUTOR_METRICS_PORT for `spec.monitoring`.
    #[arg(long, env = "KILN_EXECUTOR_METRICS_PORT")]
    metrics_port: Option<u16>,
    /// File holding the application secret (default: the KILN_AUTH_SECRET environment variable).
    #[arg(long)]
    auth_secret_file: Option<PathBuf>,
    /// Transport settings (kiln.rpc.*, kiln.ssl.*) as KEY=VALUE (repeatable);
    /// everything else comes from the driver.
    #[arg(long = "conf", value_name = "KEY=VALUE")]
    conf: Vec<String>,
}

fn init_tracing(verbose: u8, level: Option<&str>) {
    let default = match (verbose, level) {
        (0, Some(l)) => l,
        (0, None) => "warn",
        (1, _) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

fn main() -> ExitCode {
    transparent_huge_pages_off();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let level = match &cli.command {
        Command::Operator(a) => Some(a.log_level.clone()),
        Command::Submit(_)
        | Command::Status(_)
        | Command::Logs(_)
        | Command::Delete(_)
        | Command::List(_) => Some(k8s_cli::LOG_FILTER.to_string()),
        _ => None,
    };
    init_tracing(cli.verbose, level.as_deref());
    let threads = match &cli.command {
        // One thread per task slot, plus one so that serving shuffle blocks
        // and RPCs never waits for a running task to yield: a peer blocked
        // on a fetch would otherwise idle its own slot (-10% wall time on
        // TPC-H SF1 with 2 x 1-core executors).
        Command::Executor(a) => a.cores.max(1) as usize + 1,
        _ => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Run(args) => run::run(args).await,
            Command::Connect(args) => connect_cmd::connect(args).await,
            Command::Driver(args) => run::driver(args).await,
            Command::Executor(args) => executor(args).await,
            Command::Master(args) => standalone_cmd::master(args).await,
            Command::Worker(args) => standalone_cmd::worker(args).await,
            Command::Gen(GenCommand::Tpch(args)) => gen::tpch(args).await,
            Command::Crdgen(args) => crdgen::crdgen(args).await,
            Command::Submit(args) => k8s_cli::submit(args).await,
            Command::Status(args) => k8s_cli::status(args).await,
            Command::Logs(args) => k8s_cli::logs(args).await,
            Command::Delete(args) => k8s_cli::delete(args).await,
            Command::List(args) => k8s_cli::list(args).await,
            Command::Operator(args) => operator_cmd::operator(args).await,
            Command::History(args) => ui_cmd::history(args).await,
        }
    });
    // Executors may still hold connections; do not wait for them.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Exit(code)) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// An error that ends the `kiln` process, with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad input: manifest, SQL, settings, paths (exit 2).
    #[error("{0}")]
    Input(String),
    /// The job failed or an executor could not run (exit 1).
    #[error("{0}")]
    Failed(String),
    /// A script `kiln run` ran ended with this exit code (nothing to print).
    #[error("exit code {0}")]
    Exit(u8),
}

impl CliError {
    fn exit_code(&self) -> u8 {
        match self {
            CliError::Input(_) => 2,
            CliError::Failed(_) => 1,
            CliError::Exit(c) => *c,
        }
    }
}

impl From<kiln_core::KilnError> for CliError {
    fn from(e: kiln_core::KilnError) -> Self {
        use kiln_core::KilnError as K;
        match e {
            K::Manifest { .. } | K::Config { .. } | K::Sql(_) => CliError::Input(e.to_string()),
            other => CliError::Failed(other.to_string()),
        }
    }
}

async fn executor(args: ExecutorArgs) -> Result<(), CliError> {
    let memory_bytes = match &args.memory {
        Some(m) => Some(
            kiln_core::manifest::parse_memory(m)
                .map_err(|e| CliError::Input(format!("--memory: {e}")))?,
        ),
        None => None,
    };
    let work_dir = args.work_dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("kiln-executor-{}", args.executor_id))
    });
    let advertise_host = args
        .advertise_host
        .unwrap_or_else(|| args.bind.ip().to_string());
    let secret = kiln_core::security::Secret::load(args.auth_secret_file.as_deref())?;
    let mut conf = std::collections::BTreeMap::new();
    for kv in &args.conf {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| CliError::Input(format!("--conf `{kv}`: expected KEY=VALUE")))?;
        conf.insert(k.trim().to_string(), v.trim().to_string());
    }
    run::mount_tls_files(&mut conf);
    let transport = kiln_core::security::Transport::new(secret, &conf)?;
    let opts = kiln_executor::ExecutorOptions {
        executor_id: args.executor_id,
        application_id: args.application_id,
        driver_url: args.driver,
        bind: args.bind,
        advertise_host,
        advertise_port: args.advertise_port,
        metrics_bind: args
            .metrics_port
            .map(|p| std::net::SocketAddr::new(args.bind.ip(), p)),
        cores: args.cores.max(1),
        memory_bytes,
        work_dir,
        transport,
    };
    let (id, driver) = (opts.executor_id.clone(), opts.driver_url.clone());
    let handle = kiln_executor::start(opts).await?;
    // One line on stderr (the pod's log) even at the default level.
    eprintln!(
        "executor {id} serving on {} for driver {driver}",
        handle.address
    );
    handle.wait().await?;
    Ok(())
}
