//! Spark's `spark.deploy.recoveryMode=FILESYSTEM`: the master writes its
//! state to `spark.deploy.recoveryDirectory` after every change and reads
//! it back when it starts, so a restarted master knows the running
//! applications and their executors; workers it recovered are `UNKNOWN`
//! until they beat again. The file holds the applications' secrets, so it
//! is readable by its owner only.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::state::{MasterState, WorkerState};
use crate::{Result, StandaloneError};

/// Name of the state file in the recovery directory.
const STATE_FILE: &str = "master-state.json";

/// Where the master keeps its state.
#[derive(Debug, Clone)]
pub struct Recovery {
    dir: PathBuf,
}

impl Recovery {
    /// Recovery into `dir` (created if missing).
    pub fn new(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StandaloneError::io(
                format!("spark.deploy.recoveryDirectory {}", dir.display()),
                e,
            )
        })?;
        Ok(Recovery {
            dir: dir.to_path_buf(),
        })
    }

    /// The state a previous master left, if any; its workers become
    /// `UNKNOWN` and everything's clock restarts at `now_ms`, so nothing
    /// expires before it had the time to beat.
    pub fn load(&self, now_ms: u64) -> Result<Option<MasterState>> {
        let path = self.dir.join(STATE_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(StandaloneError::io(
                    format!("cannot read {}", path.display()),
                    e,
                ))
            }
        };
        let mut state: MasterState = serde_json::from_str(&text).map_err(|e| {
            StandaloneError::Config(format!(
                "{}: not a master state written by Kiln ({e}); move it away to start afresh",
                path.display()
            ))
        })?;
        for w in state.workers.values_mut() {
            if w.state != WorkerState::Dead {
                w.state = WorkerState::Unknown;
            }
            w.last_heartbeat_ms = now_ms;
        }
        for a in &mut state.apps {
            a.last_heartbeat_ms = now_ms;
        }
        Ok(Some(state))
    }

    /// Writes `state` (to a temporary file, then renamed: a master killed
    /// mid-write leaves the previous state).
    pub fn save(&self, state: &MasterState) -> Result<()> {
        let path = self.dir.join(STATE_FILE);
        let tmp = self.dir.join(format!("{STATE_FILE}.tmp"));
        let text = serde_json::to_vec(state)
            .map_err(|e| StandaloneError::Config(format!("cannot encode the master state: {e}")))?;
        let write = || -> std::io::Result<()> {
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| StandaloneError::io(format!("cannot write {}", path.display()), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto;

    #[test]
    fn state_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let r = Recovery::new(dir.path()).unwrap();
        assert!(r.load(0).unwrap().is_none());
        let mut s = MasterState::default();
        s.register_worker(
            &proto::RegisterWorkerRequest {
                worker_id: "w1".into(),
                cores: 2,
                memory_bytes: 4 << 30,
                ..Default::default()
            },
            5,
        );
        r.save(&s).unwrap();
        let back = r.load(99).unwrap().unwrap();
        assert_eq!(back.workers["w1"].state, WorkerState::Unknown);
        assert_eq!(back.workers["w1"].last_heartbeat_ms, 99);
    }
}
