//! Where the server's applications come from: the one live application of
//! a driver (its store, fed by the event stream), or the event logs of a
//! folder (`kiln history`), replayed into the same store on demand and
//! replayed again when a log still being written has grown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::eventlog::reader::{list_logs, read_events, LogEntry, ReadError};
use crate::eventlog::store::{LogFolder, LogStoreError};
use crate::status::AppStatus;

/// The live application of a driver.
#[derive(Debug, Clone)]
pub struct LiveApp {
    /// Its state.
    pub status: Arc<RwLock<AppStatus>>,
    /// Changes whenever an event was applied (the store's version).
    pub updates: watch::Receiver<u64>,
    /// Where its executors' logs are (`executor-<id>.log`), when on this machine.
    pub log_dir: Option<std::path::PathBuf>,
}

impl LiveApp {
    /// A copy of the state now.
    pub fn snapshot(&self) -> AppStatus {
        self.status
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The applications of an event-log folder.
#[derive(Debug)]
pub struct HistoryApps {
    /// The folder.
    pub folder: LogFolder,
    cache: Mutex<HashMap<String, Cached>>,
    listing: Mutex<Option<(Instant, Vec<LogEntry>)>>,
}

#[derive(Debug, Clone)]
struct Cached {
    entry: LogEntry,
    at: Instant,
    status: Arc<AppStatus>,
}

/// How long a listing or a replay of a log still being written is reused.
const REFRESH: Duration = Duration::from_secs(2);

impl HistoryApps {
    /// The applications in `folder`.
    pub fn new(folder: LogFolder) -> Self {
        HistoryApps {
            folder,
            cache: Mutex::default(),
            listing: Mutex::default(),
        }
    }

    async fn entries(&self) -> Result<Vec<LogEntry>, LogStoreError> {
        if let Some((at, l)) = &*self.listing.lock().unwrap_or_else(|p| p.into_inner()) {
            if at.elapsed() < REFRESH {
                return Ok(l.clone());
            }
        }
        let l = list_logs(&self.folder).await?;
        *self.listing.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), l.clone()));
        Ok(l)
    }

    async fn load(&self, entry: &LogEntry) -> Result<Arc<AppStatus>, ReadError> {
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&entry.dir)
            .cloned();
        if let Some(c) = cached {
            let fresh = c.entry == *entry && (entry.completed || c.at.elapsed() < REFRESH);
            if fresh {
                return Ok(c.status);
            }
        }
        let events = read_events(&self.folder, entry).await?;
        let mut status = AppStatus::default();
        for e in &events {
            status.apply(e);
        }
        let status = Arc::new(status);
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(
            entry.dir.clone(),
            Cached {
                entry: entry.clone(),
                at: Instant::now(),
                status: status.clone(),
            },
        );
        Ok(status)
    }

    /// Every application whose log can be read (a log that cannot is
    /// skipped with a warning), newest first.
    pub async fn all(&self) -> Result<Vec<(LogEntry, Arc<AppStatus>)>, LogStoreError> {
        let mut out = vec![];
        for e in self.entries().await? {
            match self.load(&e).await {
                Ok(s) => out.push((e, s)),
                Err(err) => tracing::warn!("skipping event log {}: {err}", e.dir),
            }
        }
        out.sort_by_key(|(_, s)| std::cmp::Reverse(s.start_time));
        Ok(out)
    }

    /// One application by id.
    pub async fn get(
        &self,
        app_id: &str,
    ) -> Result<Option<(LogEntry, Arc<AppStatus>)>, LogStoreError> {
        Ok(self
            .all()
            .await?
            .into_iter()
            .find(|(_, s)| s.app_id == app_id))
    }
}

/// The applications a server shows.
#[derive(Debug, Clone)]
pub enum Apps {
    /// A driver's own application.
    Live(LiveApp),
    /// An event-log folder.
    History(Arc<HistoryApps>),
}
