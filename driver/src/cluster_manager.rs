//! The `local-cluster` cluster manager: starts each executor as a child
//! process of `kiln run` (the same binary, `kiln executor`), watches for early
//! exits, and stops them all when the application ends, also on error.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use kiln_core::{KilnError, Result};
use tokio::process::{Child, Command};

use crate::executor_registry::ExecutorRegistry;

/// How to start one executor process.
#[derive(Debug, Clone)]
pub struct ExecutorLaunch {
    /// The `kiln` binary.
    pub program: PathBuf,
    /// Driver URL the executor registers with.
    pub driver_url: String,
    /// Application id.
    pub application_id: String,
    /// Task slots.
    pub cores: u32,
    /// Memory pool in bytes, if limited.
    pub memory_bytes: Option<u64>,
    /// Parent of the executors' work directories and logs.
    pub work_dir: PathBuf,
    /// The application secret (handed over in the environment, not on the
    /// command line where `ps` shows it) and the transport settings.
    pub transport: kiln_core::security::Transport,
}

/// Executor processes of one application.
#[derive(Debug)]
pub struct LocalCluster {
    launch: ExecutorLaunch,
    children: Vec<(String, Child)>,
}

impl LocalCluster {
    /// Starts `instances` executors.
    pub fn start(launch: ExecutorLaunch, instances: u32) -> Result<Self> {
        let mut cluster = LocalCluster {
            launch,
            children: Vec::new(),
        };
        for i in 1..=instances {
            cluster.spawn(&i.to_string())?;
        }
        Ok(cluster)
    }

    fn log_path(&self, id: &str) -> PathBuf {
        self.launch.work_dir.join(format!("executor-{id}.log"))
    }

    /// Starts one executor with the given id.
    pub fn spawn(&mut self, id: &str) -> Result<()> {
        let l = &self.launch;
        let log_path = self.log_path(id);
        let log = std::fs::File::create(&log_path).map_err(|e| {
            KilnError::io(
                format!("cannot create executor log {}", log_path.display()),
                e,
            )
        })?;
        let log2 = log
            .try_clone()
            .map_err(|e| KilnError::io("cannot open executor log", e))?;
        let mut cmd = Command::new(&l.program);
        cmd.arg("executor")
            .arg("--driver")
            .arg(&l.driver_url)
            .arg("--executor-id")
            .arg(id)
            .arg("--application-id")
            .arg(&l.application_id)
            .arg("--cores")
            .arg(l.cores.to_string())
            .arg("--work-dir")
            .arg(l.work_dir.join(format!("executor-{id}")))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .kill_on_drop(true);
        if let Some(m) = l.memory_bytes {
            cmd.arg("--memory").arg(m.to_string());
        }
        cmd.env(
            kiln_core::security::SECRET_ENV,
            l.transport.secret().expose(),
        );
        for kv in l.transport.settings() {
            cmd.arg("--conf").arg(kv);
        }
        let child = cmd.spawn().map_err(|e| {
            KilnError::Executor(format!(
                "cannot start executor {id} ({}): {e}",
                l.program.display()
            ))
        })?;
        self.children.push((id.to_string(), child));
        Ok(())
    }

    /// An executor that exited, with its status and the end of its log.
    pub fn exited(&mut self) -> Option<(String, String)> {
        for (id, child) in &mut self.children {
            if let Ok(Some(status)) = child.try_wait() {
                let tail = log_tail(&self.launch.work_dir.join(format!("executor-{id}.log")), 5);
                return Some((id.clone(), format!("{status}; last log lines:\n{tail}")));
            }
        }
        None
    }

    /// Waits until all executors registered; fails fast if one exits.
    pub async fn wait_registered(
        &mut self,
        registry: &ExecutorRegistry,
        timeout: Duration,
    ) -> Result<()> {
        let n = self.children.len();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if registry.wait_for(n, Duration::from_millis(50)).await {
                return Ok(());
            }
            if let Some((id, why)) = self.exited() {
                return Err(KilnError::Executor(format!(
                    "executor {id} exited before registering: {why}"
                )));
            }
            if tokio::time::Instant::now() > deadline {
                return Err(KilnError::Executor(format!(
                    "only {} of {n} executors registered within {timeout:?}; see logs in {}",
                    registry.executors().len(),
                    self.launch.work_dir.display()
                )));
            }
        }
    }

    /// Stops every executor: waits briefly for a clean exit, then kills.
    pub async fn stop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
        self.children.clear();
    }
}

fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
