//! Kiln's UI: the consumers of the driver's event stream
//! ([`kiln_core::events`]).
//!
//! - [`status`]: the application status store, folded from events.
//! - [`api`]: Spark's monitoring REST API (`/api/v1`) over that store.
//! - [`graph`]: a SQL execution's plan graph with per-operator metrics and skew.
//! - [`pages`]: the HTML pages (templates in `templates/`, assets in `assets/`).
//! - [`server`]: the HTTP server (pages, REST, SSE, `/metrics`), under `spark.ui.proxyBase`.
//! - [`apps`]: where the server's applications come from (live, or replayed logs).
//! - [`eventlog`]: Spark's event log format, its writer (rolling v2 layout) and reader.
//! - [`prometheus`]: the driver's and the executors' Prometheus metrics.
//! - [`live`]: a driver's UI while its application runs.
//! - [`history`]: `kiln history`, the same UI over a folder of event logs.
//! - [`conf`]: the settings of all of the above.

pub mod api;
pub mod apps;
pub mod conf;
pub mod eventlog;
pub mod graph;
pub mod history;
pub mod live;
pub mod pages;
pub mod prometheus;
pub mod server;
pub mod status;

/// An error of the UI, its event log or its server.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// A setting has a value Kiln cannot use.
    #[error("setting {key}: {message}")]
    Setting {
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The server could not listen.
    #[error("the UI cannot listen on {address}: {message}")]
    Bind {
        /// Host and port.
        address: String,
        /// Why.
        message: String,
    },
    /// The event log could not be written or read.
    #[error("event log: {0}")]
    EventLog(String),
    /// A page template is broken (a bug).
    #[error("UI templates: {0}")]
    Template(String),
}
