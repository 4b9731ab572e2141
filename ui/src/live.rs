//! A driver's UI while its application runs: the three consumers of its
//! event stream (the status store behind the pages and `/api/v1`, the event
//! log writer, the Prometheus counters), each on its own queue of the bus,
//! and the HTTP server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use kiln_core::events::{EventBus, DEFAULT_QUEUE_CAPACITY};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::apps::{Apps, LiveApp};
use crate::conf::UiSettings;
use crate::eventlog::writer::EventLogWriter;
use crate::pages::Pages;
use crate::prometheus::DriverMetrics;
use crate::server::{router, UiState};
use crate::status::AppStatus;
use crate::UiError;

/// The running UI of one application.
#[derive(Debug)]
pub struct LiveUi {
    /// The UI's address, when it serves one (`http://host:port/base/`).
    pub url: Option<String>,
    /// The application's state.
    pub status: Arc<RwLock<AppStatus>>,
    /// The driver's metrics.
    pub metrics: Arc<DriverMetrics>,
    store: JoinHandle<()>,
    counters: JoinHandle<()>,
    log: Option<JoinHandle<Option<EventLogWriter>>>,
    server: Option<(JoinHandle<()>, tokio::sync::oneshot::Sender<()>)>,
    log_dir: Option<PathBuf>,
}

/// Binds the first free port from `port` on (`port` 0: any free port).
async fn bind(host: &str, port: u16, retries: u16) -> Result<tokio::net::TcpListener, UiError> {
    let mut last = None;
    for i in 0..=retries {
        let p = if port == 0 { 0 } else { port.saturating_add(i) };
        match tokio::net::TcpListener::bind((host, p)).await {
            Ok(l) => return Ok(l),
            Err(e) => {
                last = Some(e);
                if port == 0 {
                    break;
                }
            }
        }
    }
    Err(UiError::Bind {
        address: format!("{host}:{port}"),
        message: last.map(|e| e.to_string()).unwrap_or_default(),
    })
}

impl LiveUi {
    /// Subscribes the consumers to `bus` and starts the server (unless
    /// `spark.ui.enabled=false`) and the event log (when enabled). `log_dir`
    /// holds the executors' logs (`executor-<id>.log`), shown by the UI and
    /// archived with the event log at the end. Call before the first event.
    pub async fn start(
        settings: &UiSettings,
        bus: &EventBus,
        app_id: &str,
        cores: u32,
        log_dir: Option<PathBuf>,
    ) -> Result<LiveUi, UiError> {
        let status = Arc::new(RwLock::new(AppStatus::default()));
        let metrics = Arc::new(DriverMetrics::new());
        let (tx, rx) = watch::channel(0u64);
        // The event log first: a folder that cannot be written stops the
        // application before it runs, as in Spark.
        let log = match &settings.event_log {
            Some(s) => {
                let writer = EventLogWriter::start(s.clone(), app_id, cores)
                    .await
                    .map_err(|e| UiError::EventLog(e.to_string()))?;
                let sub = bus.subscribe(DEFAULT_QUEUE_CAPACITY);
                Some(tokio::spawn(async move {
                    let mut writer = writer;
                    let mut failed = false;
                    loop {
                        let next = tokio::select! {
                            e = sub.next() => e,
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                                if let Err(e) = writer.flush().await {
                                    if !failed { tracing::warn!("event log: {e}"); failed = true; }
                                }
                                continue;
                            }
                        };
                        let Some(e) = next else { break };
                        if let Err(e) = writer.write(&e).await {
                            if !failed {
                                tracing::warn!("event log: {e}");
                                failed = true;
                            }
                        }
                    }
                    Some(writer)
                }))
            }
            None => None,
        };
        let store = {
            let sub = bus.subscribe(DEFAULT_QUEUE_CAPACITY);
            let status = status.clone();
            tokio::spawn(async move {
                while let Some(e) = sub.next().await {
                    let v = {
                        let mut s = status.write().unwrap_or_else(|p| p.into_inner());
                        s.apply(&e);
                        s.version
                    };
                    tx.send_replace(v);
                }
            })
        };
        let counters = {
            let sub = bus.subscribe(DEFAULT_QUEUE_CAPACITY);
            let m = metrics.clone();
            tokio::spawn(async move {
                while let Some(e) = sub.next().await {
                    m.apply(&e);
                    m.set_dropped(sub.dropped());
                }
            })
        };
        let mut url = None;
        let mut server = None;
        if settings.enabled {
            let listener = bind(&settings.host, settings.port, settings.port_retries).await?;
            let addr: SocketAddr = listener.local_addr().map_err(|e| UiError::Bind {
                address: settings.host.clone(),
                message: e.to_string(),
            })?;
            let state = UiState {
                apps: Apps::Live(LiveApp {
                    status: status.clone(),
                    updates: rx,
                    log_dir: log_dir.clone(),
                }),
                root: settings.proxy_base.clone(),
                rule: settings.rule,
                metrics: Some(metrics.clone()),
                pages: Arc::new(Pages::new().map_err(|e| UiError::Template(e.to_string()))?),
            };
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let app = router(state);
            let handle = tokio::spawn(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stop_rx.await;
                    })
                    .await;
            });
            let host = if addr.ip().is_unspecified() {
                "localhost".to_string()
            } else {
                addr.ip().to_string()
            };
            url = Some(format!(
                "http://{host}:{}{}/",
                addr.port(),
                settings.proxy_base
            ));
            server = Some((handle, stop_tx));
        }
        Ok(LiveUi {
            url,
            status,
            metrics,
            store,
            counters,
            log,
            server,
            log_dir,
        })
    }

    /// After the application ended (the bus is closed): waits until every
    /// consumer took its events, archives the logs next to the event log
    /// (`extra_logs`: more files, such as the driver's own) and marks the log
    /// complete. The server keeps serving until [`LiveUi::stop`].
    pub async fn finish(&mut self, extra_logs: &[PathBuf]) -> Result<(), UiError> {
        let _ = (&mut self.store).await;
        let _ = (&mut self.counters).await;
        let Some(log) = self.log.take() else {
            return Ok(());
        };
        let Ok(Some(writer)) = log.await else {
            return Ok(());
        };
        let mut files: Vec<PathBuf> = extra_logs.to_vec();
        if let Some(dir) = &self.log_dir {
            if let Ok(rd) = std::fs::read_dir(dir) {
                for e in rd.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if name.starts_with("executor-") && name.ends_with(".log") {
                        files.push(e.path());
                    }
                }
            }
        }
        for f in files {
            let Some(name) = f.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                continue;
            };
            match tokio::fs::read(&f).await {
                Ok(bytes) => {
                    if let Err(e) = writer.archive(&name, bytes).await {
                        tracing::warn!("cannot archive {}: {e}", f.display());
                    }
                }
                Err(e) => tracing::warn!("cannot read {} to archive it: {e}", f.display()),
            }
        }
        writer
            .finish()
            .await
            .map_err(|e| UiError::EventLog(e.to_string()))
    }

    /// Stops the server.
    pub async fn stop(mut self) {
        if let Some((handle, stop)) = self.server.take() {
            let _ = stop.send(());
            let _ = tokio::time::timeout(Duration::from_secs(2), handle).await;
        }
    }
}
