//! The UI of an application run by this binary (`kiln run`, `kiln driver`,
//! `kiln connect`): its event stream, the live UI and event log fed by it,
//! from the application's start to its end; and `kiln history`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use kiln_core::events::EventBus;
use kiln_driver::executor_registry::ExecutorRegistry;
use kiln_driver::listener::Listener;
use kiln_ui::conf::UiSettings;
use kiln_ui::live::LiveUi;

use crate::CliError;

/// One application's event stream and what consumes it.
pub struct AppUi {
    /// What the schedulers post to.
    pub listener: Listener,
    live: LiveUi,
    settings: UiSettings,
    watcher: tokio::task::JoinHandle<()>,
}

impl From<kiln_ui::UiError> for CliError {
    fn from(e: kiln_ui::UiError) -> Self {
        match e {
            kiln_ui::UiError::Setting { .. } => CliError::Input(e.to_string()),
            other => CliError::Failed(other.to_string()),
        }
    }
}

impl AppUi {
    /// Starts the UI (unless `spark.ui.enabled=false`) and the event log
    /// (when `spark.eventLog.enabled`) of application `app_id`, prints the
    /// UI's URL on stderr and posts the application's start. `log_dir` holds
    /// the executors' logs; `host` is where the UI listens by default.
    pub async fn start(
        conf: &BTreeMap<String, String>,
        app_id: &str,
        app_name: &str,
        cores: u32,
        log_dir: Option<PathBuf>,
        host: &str,
        registry: &ExecutorRegistry,
    ) -> Result<AppUi, CliError> {
        let settings = UiSettings::parse(conf, host)?;
        let bus = EventBus::new();
        let live = LiveUi::start(&settings, &bus, app_id, cores, log_dir).await?;
        if let Some(url) = &live.url {
            eprintln!("UI: {url}");
        }
        let listener = Listener::new(bus);
        listener.application_start(app_id, app_name, conf);
        let watcher = listener.watch_executors(registry.clone());
        Ok(AppUi {
            listener,
            live,
            settings,
            watcher,
        })
    }

    /// The ids of every executor the application had (running or gone).
    pub fn executor_ids(&self) -> Vec<String> {
        let st = self.live.status.read().unwrap_or_else(|p| p.into_inner());
        st.executors.keys().cloned().collect()
    }

    /// The application ended (`error` when it failed): posts the ending,
    /// archives `extra_logs` and the executors' logs with the event log,
    /// keeps serving for `kiln.ui.retainAfterEnd` (a Ctrl-C or SIGTERM ends
    /// that sooner) and stops the server.
    pub async fn finish(mut self, error: Option<String>, extra_logs: &[PathBuf]) {
        self.watcher.abort();
        self.listener.application_end(error);
        if let Err(e) = self.live.finish(extra_logs).await {
            eprintln!("warning: {e}");
        }
        let retain = self.settings.retain_after_end;
        if self.live.url.is_some() && !retain.is_zero() {
            eprintln!("the UI stays up for {retain:?} (Ctrl-C ends it)");
            tokio::select! {
                _ = tokio::time::sleep(retain) => {}
                _ = shutdown_signal() => {}
            }
        }
        self.live.stop().await;
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Arguments of `kiln history`.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// The folder or `s3://bucket/prefix` of event logs (`spark.eventLog.dir`).
    log_dir: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:18080")]
    bind: SocketAddr,
    /// Path prefix of every link (`spark.ui.proxyBase`), when served behind a proxy.
    #[arg(long, default_value = "")]
    proxy_base: String,
    /// Settings for S3 (`kiln.s3.*`, `spark.hadoop.fs.s3a.*`), as KEY=VALUE (repeatable).
    #[arg(long = "conf", value_name = "KEY=VALUE")]
    conf: Vec<String>,
}

/// `kiln history`: serves the UI over a folder of event logs until Ctrl-C or SIGTERM.
pub async fn history(args: HistoryArgs) -> Result<(), CliError> {
    let mut conf = BTreeMap::new();
    for kv in &args.conf {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| CliError::Input(format!("--conf `{kv}`: expected KEY=VALUE")))?;
        conf.insert(k.trim().to_string(), v.trim().to_string());
    }
    // A local folder is a pod volume in the chart's Deployment: under
    // `$KILN_MOUNT_ROOT` on the process-based test node.
    let log_dir = if args.log_dir.starts_with('/') {
        crate::mount::mounted(std::path::Path::new(&args.log_dir))
            .display()
            .to_string()
    } else {
        args.log_dir
    };
    let opts = kiln_ui::history::HistoryOptions {
        log_dir,
        bind: args.bind,
        proxy_base: args.proxy_base,
        conf,
    };
    kiln_ui::history::serve(
        opts,
        |url| eprintln!("history UI: {url}"),
        shutdown_signal(),
    )
    .await
    .map_err(|e| match e {
        kiln_ui::UiError::EventLog(m) => CliError::Input(format!("event logs: {m}")),
        other => other.into(),
    })
}
