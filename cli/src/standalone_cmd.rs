//! `kiln master` and `kiln worker`: the processes of a standalone cluster
//! (see `kiln_standalone`). Settings come as Spark's (`--conf KEY=VALUE`).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use kiln_standalone::{auth, master, worker, MasterUrl, StandaloneError};

use crate::CliError;

/// Spark's settings of master recovery.
const RECOVERY_MODE: &str = "spark.deploy.recoveryMode";
const RECOVERY_DIR: &str = "spark.deploy.recoveryDirectory";
/// Seconds of silence after which a worker is dead (and a driver gone).
const WORKER_TIMEOUT: &str = "spark.worker.timeout";

/// Arguments of `kiln master`.
#[derive(Debug, clap::Args)]
pub struct MasterArgs {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    host: IpAddr,
    /// Port workers and drivers call (kiln://HOST:PORT).
    #[arg(long, default_value_t = kiln_standalone::DEFAULT_MASTER_PORT)]
    port: u16,
    /// Port of the web UI (a page and /json).
    #[arg(long, default_value_t = 8080)]
    webui_port: u16,
    /// File holding the cluster secret (else spark.authenticate.secret, else KILN_CLUSTER_SECRET).
    #[arg(long)]
    secret_file: Option<PathBuf>,
    /// Settings: spark.deploy.recoveryMode (NONE or FILESYSTEM),
    /// spark.deploy.recoveryDirectory, spark.worker.timeout (seconds),
    /// spark.authenticate.secret (repeatable KEY=VALUE).
    #[arg(long = "conf", value_name = "KEY=VALUE")]
    conf: Vec<String>,
}

/// Arguments of `kiln worker`.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// The master, kiln://HOST:PORT.
    master: String,
    /// Cores offered (default: this machine's).
    #[arg(long)]
    cores: Option<u32>,
    /// Memory offered, e.g. 4g (default: this machine's less 1 GiB).
    #[arg(long)]
    memory: Option<String>,
    /// Directory of the executors' work directories.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// IP executors listen on and give drivers and each other (default: the
    /// address of this machine that routes to the master).
    #[arg(long)]
    host: Option<IpAddr>,
    /// File holding the cluster secret (else spark.authenticate.secret, else KILN_CLUSTER_SECRET).
    #[arg(long)]
    secret_file: Option<PathBuf>,
    /// Settings (spark.authenticate.secret), as KEY=VALUE (repeatable).
    #[arg(long = "conf", value_name = "KEY=VALUE")]
    conf: Vec<String>,
}

fn settings(conf: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    conf.iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| CliError::Input(format!("--conf `{kv}`: expected KEY=VALUE")))
        })
        .collect()
}

/// A standalone error as the CLI's: bad settings are input errors.
pub(crate) fn cli_error(e: StandaloneError) -> CliError {
    match e {
        StandaloneError::Config(_) | StandaloneError::MasterUrl { .. } => {
            CliError::Input(e.to_string())
        }
        other => CliError::Failed(other.to_string()),
    }
}

/// `kiln master`.
pub async fn master(args: MasterArgs) -> Result<(), CliError> {
    let conf = settings(&args.conf)?;
    let secret = auth::cluster_secret(
        args.secret_file.as_deref(),
        conf.get(auth::SECRET_SETTING).map(String::as_str),
    )
    .map_err(cli_error)?;
    let recovery_dir = match conf.get(RECOVERY_MODE).map(|m| m.to_ascii_uppercase()) {
        None => None,
        Some(m) if m == "NONE" => None,
        Some(m) if m == "FILESYSTEM" => {
            Some(PathBuf::from(conf.get(RECOVERY_DIR).ok_or_else(|| {
                CliError::Input(format!("{RECOVERY_MODE}=FILESYSTEM needs {RECOVERY_DIR}"))
            })?))
        }
        Some(m) => {
            return Err(CliError::Input(format!(
                "{RECOVERY_MODE}={m}: Kiln's master recovers from NONE or FILESYSTEM"
            )))
        }
    };
    let timeout = match conf.get(WORKER_TIMEOUT) {
        Some(t) => t
            .trim()
            .trim_end_matches('s')
            .parse::<f64>()
            .ok()
            .filter(|s| *s > 0.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| {
                CliError::Input(format!("{WORKER_TIMEOUT}=`{t}`: expected seconds, e.g. 60"))
            })?,
        None => Duration::from_secs(60),
    };
    master::run(master::MasterOptions {
        bind: SocketAddr::new(args.host, args.port),
        webui_bind: SocketAddr::new(args.host, args.webui_port),
        secret,
        recovery_dir,
        timeout,
    })
    .await
    .map_err(cli_error)
}

/// `kiln worker`.
pub async fn worker(args: WorkerArgs) -> Result<(), CliError> {
    let conf = settings(&args.conf)?;
    let master = MasterUrl::parse(&args.master).map_err(cli_error)?;
    let secret = auth::cluster_secret(
        args.secret_file.as_deref(),
        conf.get(auth::SECRET_SETTING).map(String::as_str),
    )
    .map_err(cli_error)?;
    let host = match args.host {
        Some(h) => h.to_string(),
        None => {
            let (_, host) = kiln_standalone::application::driver_address(&BTreeMap::new(), &master)
                .map_err(cli_error)?;
            host
        }
    };
    let memory_bytes = match &args.memory {
        Some(m) => kiln_core::manifest::parse_memory(m)
            .map_err(|e| CliError::Input(format!("--memory: {e}")))?,
        None => worker::default_memory(),
    };
    let cores = args.cores.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1)
    });
    if cores == 0 {
        return Err(CliError::Input("--cores: must be at least 1".into()));
    }
    let work_dir = args
        .work_dir
        .unwrap_or_else(|| std::env::temp_dir().join(format!("kiln-worker-{host}")));
    let program = std::env::current_exe()
        .map_err(|e| CliError::Failed(format!("cannot find the kiln binary: {e}")))?;
    worker::run(worker::WorkerOptions {
        master,
        host,
        cores,
        memory_bytes,
        work_dir,
        secret,
        program,
    })
    .await
    .map_err(cli_error)
}
