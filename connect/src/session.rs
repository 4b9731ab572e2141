//! Client sessions: each Spark Connect session id gets its own DataFusion
//! session (temp views, settings) on the shared cluster, and the operations
//! it is running (for `interrupt`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use datafusion::prelude::SessionContext;
use tokio::sync::watch;

use crate::conf::SparkConf;
use crate::error::{ConnectError, Result};

/// A running operation of a session.
#[derive(Debug, Clone)]
pub struct Operation {
    /// Tags the client gave it (`spark.addTag`).
    pub tags: Vec<String>,
    /// Set to true to cancel the operation.
    pub cancel: watch::Sender<bool>,
}

/// One client session.
pub struct Session {
    /// The client's session id.
    pub id: String,
    /// This server's id for the session: a client that saw another one
    /// (the server restarted) is told its session is gone.
    pub server_side_id: String,
    /// The session's catalog and settings.
    pub ctx: SessionContext,
    conf: Mutex<SparkConf>,
    operations: Mutex<HashMap<String, Operation>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking holder cannot leave these maps half-updated in a way that
    // matters more than refusing every later request would.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Session {
    /// The session's Spark settings.
    pub fn conf(&self) -> MutexGuard<'_, SparkConf> {
        lock(&self.conf)
    }

    /// Records a running operation.
    pub fn start_operation(&self, id: &str, op: Operation) {
        lock(&self.operations).insert(id.to_string(), op);
    }

    /// Forgets a finished operation.
    pub fn end_operation(&self, id: &str) {
        lock(&self.operations).remove(id);
    }

    /// Stops the operations `pick` selects; returns their ids.
    pub fn interrupt(&self, pick: impl Fn(&str, &Operation) -> bool) -> Vec<String> {
        let ops = lock(&self.operations);
        let mut ids = vec![];
        for (id, op) in ops.iter() {
            if pick(id, op) {
                let _ = op.cancel.send(true);
                ids.push(id.clone());
            }
        }
        ids
    }
}

/// Every session of the server.
#[derive(Default, Clone)]
pub struct Sessions {
    map: Arc<Mutex<HashMap<String, Arc<Session>>>>,
}

impl Sessions {
    /// The session `id`, made with `new_ctx` on first use. A client that
    /// observed a different server-side id gets Spark's session-gone error.
    pub fn get_or_create(
        &self,
        id: &str,
        observed_server_id: Option<&str>,
        new_ctx: impl FnOnce() -> (SessionContext, usize),
    ) -> Result<Arc<Session>> {
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(ConnectError::Session(format!(
                "[INVALID_HANDLE.FORMAT] The handle {id} is invalid. Handle must be an UUID string \
                 of the format '00112233-4455-6677-8899-aabbccddeeff'"
            )));
        }
        let mut map = lock(&self.map);
        if let Some(s) = map.get(id) {
            if let Some(seen) = observed_server_id {
                if seen != s.server_side_id {
                    return Err(ConnectError::Session(format!(
                        "[INVALID_HANDLE.SESSION_CHANGED] The existing Spark server driver instance \
                         has restarted. Please reconnect. (session {id})"
                    )));
                }
            }
            return Ok(s.clone());
        }
        if observed_server_id.is_some() {
            return Err(ConnectError::Session(format!(
                "[INVALID_HANDLE.SESSION_CLOSED] Session was closed or the server restarted. \
                 (session {id})"
            )));
        }
        let (ctx, partitions) = new_ctx();
        let s = Arc::new(Session {
            id: id.to_string(),
            server_side_id: uuid::Uuid::new_v4().to_string(),
            ctx,
            conf: Mutex::new(SparkConf::new(partitions)),
            operations: Mutex::new(HashMap::new()),
        });
        map.insert(id.to_string(), s.clone());
        Ok(s)
    }

    /// Ends session `id`: its operations stop, its views are gone.
    pub fn release(&self, id: &str) -> Option<Arc<Session>> {
        let s = lock(&self.map).remove(id)?;
        s.interrupt(|_, _| true);
        Some(s)
    }

    /// How many sessions are open.
    pub fn len(&self) -> usize {
        lock(&self.map).len()
    }

    /// Whether no session is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
