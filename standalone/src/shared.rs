//! The master's state as its gRPC service, its expiry loop and its web page
//! share it: one lock, and the recovery file written after every change.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::warn;

use crate::recovery::Recovery;
use crate::state::MasterState;

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The master's state, shared by the service, the expiry loop and the UI.
#[derive(Debug, Clone)]
pub struct Shared {
    state: Arc<Mutex<MasterState>>,
    recovery: Option<Recovery>,
    /// The master's URL, shown on its page.
    pub url: String,
}

impl Shared {
    /// `state`, kept in `recovery` when given, of the master at `url`.
    pub fn new(state: MasterState, recovery: Option<Recovery>, url: String) -> Self {
        Shared {
            state: Arc::new(Mutex::new(state)),
            recovery,
            url,
        }
    }

    /// Runs `f` on the state and, with recovery, writes the state after.
    pub fn update<T>(&self, f: impl FnOnce(&mut MasterState) -> T) -> T {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let out = f(&mut s);
        self.save(&s);
        out
    }

    /// Expires workers and drivers silent for more than `timeout_ms` at
    /// `now`; writes the state only when that changed it.
    pub fn expire(&self, now: u64, timeout_ms: u64) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.expire(now, timeout_ms) {
            self.save(&s);
        }
    }

    /// A copy of the state.
    pub fn snapshot(&self) -> MasterState {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn save(&self, s: &MasterState) {
        if let Some(r) = &self.recovery {
            if let Err(e) = r.save(s) {
                warn!("{e}");
            }
        }
    }
}
