//! `kiln history`: the UI and `/api/v1` over a folder (or `s3://` prefix)
//! of event logs, with the same pages as a live driver: each application's
//! log is replayed into the status store when it is asked for.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::apps::{Apps, HistoryApps};
use crate::eventlog::store::LogFolder;
use crate::graph::SkewRule;
use crate::pages::Pages;
use crate::server::{normalize_base, router, UiState};
use crate::UiError;

/// What `kiln history` serves.
#[derive(Debug, Clone)]
pub struct HistoryOptions {
    /// The folder or `s3://bucket/prefix` of event logs.
    pub log_dir: String,
    /// Host and port to listen on.
    pub bind: std::net::SocketAddr,
    /// `spark.ui.proxyBase`-style link prefix.
    pub proxy_base: String,
    /// Settings for S3 (`kiln.s3.*`, `spark.hadoop.fs.s3a.*`).
    pub conf: BTreeMap<String, String>,
}

/// Serves the history UI until `shutdown` resolves; `on_ready` gets the URL.
pub async fn serve(
    opts: HistoryOptions,
    on_ready: impl FnOnce(String),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), UiError> {
    let folder =
        LogFolder::open(&opts.log_dir, &opts.conf).map_err(|e| UiError::EventLog(e.to_string()))?;
    folder
        .check()
        .await
        .map_err(|e| UiError::EventLog(e.to_string()))?;
    let root = normalize_base(&opts.proxy_base);
    let state = UiState {
        apps: Apps::History(Arc::new(HistoryApps::new(folder))),
        root: root.clone(),
        rule: SkewRule::default(),
        metrics: None,
        pages: Arc::new(Pages::new().map_err(|e| UiError::Template(e.to_string()))?),
    };
    let listener = tokio::net::TcpListener::bind(opts.bind)
        .await
        .map_err(|e| UiError::Bind {
            address: opts.bind.to_string(),
            message: e.to_string(),
        })?;
    let addr = listener.local_addr().map_err(|e| UiError::Bind {
        address: opts.bind.to_string(),
        message: e.to_string(),
    })?;
    on_ready(format!("http://{addr}{root}/"));
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| UiError::Bind {
            address: addr.to_string(),
            message: e.to_string(),
        })
}
