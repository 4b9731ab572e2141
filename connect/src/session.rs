//! Client sessions: each Spark Connect session id gets its own DataFusion
//! session (temp views, settings) on the shared cluster, and the operations
//! it runs (for reattach, release and `interrupt`). Sessions idle longer
//! than Spark's session timeout, and operations abandoned by their client,
//! are dropped by [`Sessions::sweep`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use datafusion::catalog::MemorySchemaProvider;
use datafusion::prelude::SessionContext;
use prost::Message;
use tracing::info;

use crate::conf::SparkConf;
use crate::error::{ConnectError, Result};
use crate::operation::Operation;
use crate::proto::config_request::operation::OpType as ConfigOp;
use crate::proto::{KeyValue, Relation, StorageLevel};
use crate::relation_catalog::GLOBAL_TEMP;

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
    operations: Mutex<HashMap<String, Arc<Operation>>>,
    last_used: Mutex<Instant>,
    /// Storage levels of persisted DataFrames, by their encoded relation.
    persisted: Mutex<HashMap<Vec<u8>, StorageLevel>>,
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

    /// Records that the DataFrame of `rel` is persisted at `level` (Kiln
    /// recomputes it anyway; the level reads back as set).
    pub fn persist(&self, rel: &Relation, level: StorageLevel) {
        lock(&self.persisted).insert(rel.encode_to_vec(), level);
    }

    /// Forgets the persisted level of `rel`'s DataFrame.
    pub fn unpersist(&self, rel: &Relation) {
        lock(&self.persisted).remove(&rel.encode_to_vec());
    }

    /// The level `rel`'s DataFrame was persisted at, if it was.
    pub fn storage_level(&self, rel: &Relation) -> Option<StorageLevel> {
        lock(&self.persisted).get(&rel.encode_to_vec()).copied()
    }

    /// Records a new operation; an error if its id is taken.
    pub fn start_operation(&self, op: Arc<Operation>) -> Result<()> {
        let mut ops = lock(&self.operations);
        if ops.contains_key(&op.id) {
            return Err(ConnectError::handle(
                "INVALID_HANDLE.OPERATION_ALREADY_EXISTS",
                format!("The operation {} already exists.", op.id),
            ));
        }
        ops.insert(op.id.clone(), op);
        Ok(())
    }

    /// The operation `id`, or Spark's operation-not-found error.
    pub fn operation(&self, id: &str) -> Result<Arc<Operation>> {
        lock(&self.operations).get(id).cloned().ok_or_else(|| {
            ConnectError::handle(
                "INVALID_HANDLE.OPERATION_NOT_FOUND",
                format!("The operation {id} was not found (it finished and was released, or never started)."),
            )
        })
    }

    /// Forgets operation `id` (stopping it if it still runs).
    pub fn release_operation(&self, id: &str) {
        if let Some(op) = lock(&self.operations).remove(id) {
            op.cancel();
        }
    }

    /// Stops the operations `pick` selects; returns their ids.
    pub fn interrupt(&self, pick: impl Fn(&Operation) -> bool) -> Vec<String> {
        let ops = lock(&self.operations);
        let mut ids = vec![];
        for op in ops.values() {
            if pick(op) && !op.is_finished() {
                op.cancel();
                ids.push(op.id.clone());
            }
        }
        ids
    }

    /// Operations now known (running, or finished and not yet released).
    pub fn operation_count(&self) -> usize {
        lock(&self.operations).len()
    }

    /// Drops operations their client abandoned (stopping those still
    /// running); returns how many.
    fn sweep(&self, detached_timeout: Duration) -> usize {
        let mut ops = lock(&self.operations);
        let gone: Vec<String> = ops
            .values()
            .filter(|op| op.is_abandoned(detached_timeout))
            .map(|op| op.id.clone())
            .collect();
        for id in &gone {
            if let Some(op) = ops.remove(id) {
                if !op.is_finished() {
                    info!(session = %self.id, operation = %id, "no client attached for {detached_timeout:?}; operation cancelled");
                }
                op.cancel();
            }
        }
        gone.len()
    }
}

/// Every session of the server.
#[derive(Default, Clone)]
pub struct Sessions {
    map: Arc<Mutex<HashMap<String, Arc<Session>>>>,
    /// Global temp views: one schema every session's catalog holds.
    global_temp: Arc<MemorySchemaProvider>,
}

/// A reference to [`Sessions`] that does not keep them alive.
pub struct WeakSessions(
    std::sync::Weak<Mutex<HashMap<String, Arc<Session>>>>,
    Arc<MemorySchemaProvider>,
);

impl Sessions {
    /// A reference that does not keep the sessions alive.
    pub fn downgrade(&self) -> WeakSessions {
        WeakSessions(Arc::downgrade(&self.map), self.global_temp.clone())
    }

    /// The sessions, if the server still has them.
    pub fn upgrade(weak: &WeakSessions) -> Option<Sessions> {
        weak.0.upgrade().map(|map| Sessions {
            map,
            global_temp: weak.1.clone(),
        })
    }

    /// The session `id`, made with `new_ctx` on first use. A client that
    /// observed a different server-side id gets Spark's session-gone error.
    pub fn get_or_create(
        &self,
        id: &str,
        observed_server_id: Option<&str>,
        new_ctx: impl FnOnce() -> (SessionContext, usize),
    ) -> Result<Arc<Session>> {
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(ConnectError::handle(
                "INVALID_HANDLE.FORMAT",
                format!(
                    "The handle {id} is invalid. Handle must be an UUID string of the format \
                     '00112233-4455-6677-8899-aabbccddeeff'"
                ),
            ));
        }
        let mut map = lock(&self.map);
        if let Some(s) = map.get(id) {
            if let Some(seen) = observed_server_id {
                if seen != s.server_side_id {
                    return Err(ConnectError::handle(
                        "INVALID_HANDLE.SESSION_CHANGED",
                        format!(
                            "The existing Spark server driver instance has restarted. Please \
                             reconnect. (session {id})"
                        ),
                    ));
                }
            }
            *lock(&s.last_used) = Instant::now();
            return Ok(s.clone());
        }
        if observed_server_id.is_some() {
            return Err(ConnectError::handle(
                "INVALID_HANDLE.SESSION_CLOSED",
                format!("Session {id} was closed or the server restarted."),
            ));
        }
        let (ctx, partitions) = new_ctx();
        let catalog = kiln_core::config::default_catalog(&ctx);
        if let Some(c) = ctx.catalog(&catalog) {
            c.register_schema(GLOBAL_TEMP, self.global_temp.clone())?;
        }
        let s = Arc::new(Session {
            id: id.to_string(),
            server_side_id: uuid::Uuid::new_v4().to_string(),
            ctx,
            conf: Mutex::new(SparkConf::new(partitions)),
            operations: Mutex::new(HashMap::new()),
            last_used: Mutex::new(Instant::now()),
            persisted: Mutex::new(HashMap::new()),
        });
        map.insert(id.to_string(), s.clone());
        Ok(s)
    }

    /// The session `id` if it is open.
    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        lock(&self.map).get(id).cloned()
    }

    /// Ends session `id`: its operations stop, its views are gone.
    pub fn release(&self, id: &str) -> Option<Arc<Session>> {
        let s = lock(&self.map).remove(id)?;
        s.interrupt(|_| true);
        Some(s)
    }

    /// Ends every session (the server stops).
    pub fn release_all(&self) {
        let all: Vec<Arc<Session>> = lock(&self.map).drain().map(|(_, s)| s).collect();
        for s in all {
            for op in lock(&s.operations).values() {
                op.cancel_for_shutdown();
            }
        }
    }

    /// Drops abandoned operations, and sessions idle (no operation, no
    /// request) longer than `session_timeout`.
    pub fn sweep(&self, detached_timeout: Duration, session_timeout: Duration) {
        let all: Vec<Arc<Session>> = lock(&self.map).values().cloned().collect();
        for s in all {
            s.sweep(detached_timeout);
            let idle = lock(&s.last_used).elapsed();
            if s.operation_count() == 0 && idle > session_timeout {
                info!(session = %s.id, "session idle for {idle:?}; released");
                lock(&self.map).remove(&s.id);
            }
        }
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

/// Answers one Config request of `session`: the key/value pairs to send
/// back, and warnings.
pub fn config_rpc(session: &Session, op: ConfigOp) -> Result<(Vec<KeyValue>, Vec<String>)> {
    let kv = |key: String, value: Option<String>| KeyValue { key, value };
    let mut warnings = vec![];
    let pairs = match op {
        ConfigOp::Set(s) => {
            let mut state = session.ctx.state_ref().read().clone();
            for p in &s.pairs {
                let value = p.value.clone().unwrap_or_default();
                match session.conf().set(&p.key, &value, state.config_mut()) {
                    Ok(()) => {}
                    // `silent`: what the client's builder sends for its own
                    // options; a key the session cannot take is a warning.
                    Err(e) if s.silent == Some(true) => warnings.push(e.to_string()),
                    Err(e) => return Err(e),
                }
            }
            *session.ctx.state_ref().write() = state;
            vec![]
        }
        ConfigOp::Get(g) => {
            let conf = session.conf();
            g.keys
                .into_iter()
                .map(|k| {
                    let v = conf.get_required(&k)?;
                    Ok(kv(k, Some(v)))
                })
                .collect::<Result<Vec<_>>>()?
        }
        // The client's default wins over Spark's for a key not set, as in Spark.
        ConfigOp::GetWithDefault(g) => {
            let conf = session.conf();
            g.pairs
                .into_iter()
                .map(|p| {
                    let v = conf.get_set(&p.key).or(p.value);
                    kv(p.key, v)
                })
                .collect()
        }
        ConfigOp::GetOption(g) => {
            let conf = session.conf();
            g.keys
                .into_iter()
                .map(|k| {
                    let v = conf.get(&k);
                    kv(k, v)
                })
                .collect()
        }
        ConfigOp::GetAll(g) => {
            let prefix = g.prefix.unwrap_or_default();
            session
                .conf()
                .all()
                .into_iter()
                .filter(|(k, _)| k.starts_with(&prefix))
                .map(|(k, v)| kv(k, Some(v)))
                .collect()
        }
        ConfigOp::Unset(u) => {
            let mut state = session.ctx.state_ref().read().clone();
            for k in &u.keys {
                session.conf().unset(k, state.config_mut())?;
            }
            *session.ctx.state_ref().write() = state;
            vec![]
        }
        ConfigOp::IsModifiable(m) => m
            .keys
            .into_iter()
            .map(|k| {
                let modifiable = SparkConf::is_modifiable(&k);
                kv(k, Some(modifiable.to_string()))
            })
            .collect(),
    };
    Ok((pairs, warnings))
}
