//! The `local-cluster` cluster manager: starts each executor as a child
//! process of `kiln run` (the same binary, `kiln executor`), watches for
//! exits, replaces executors that die while the application runs (as the
//! operator replaces dead pods), and stops them all when the application
//! ends, also on error.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use kiln_core::{KilnError, Result};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::executor_registry::ExecutorRegistry;
use crate::progress::Progress;

/// How often the supervisor looks for exited executor processes.
const SUPERVISE_PERIOD: Duration = Duration::from_millis(100);

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
    /// Executors started so far; new ones get the next number as id.
    started: u32,
}

impl LocalCluster {
    /// Starts `instances` executors.
    pub fn start(launch: ExecutorLaunch, instances: u32) -> Result<Self> {
        let mut cluster = LocalCluster {
            launch,
            children: Vec::new(),
            started: 0,
        };
        for _ in 0..instances {
            cluster.spawn_next()?;
        }
        Ok(cluster)
    }

    fn log_path(&self, id: &str) -> PathBuf {
        self.launch.work_dir.join(format!("executor-{id}.log"))
    }

    /// Starts one more executor, numbered after all earlier ones; returns its id.
    pub fn spawn_next(&mut self) -> Result<String> {
        self.started += 1;
        let id = self.started.to_string();
        self.spawn(&id)?;
        Ok(id)
    }

    /// Starts one executor with the given id.
    fn spawn(&mut self, id: &str) -> Result<()> {
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

    /// Removes the executors whose process exited; returns each id with its
    /// exit status and the end of its log.
    pub fn reap(&mut self) -> Vec<(String, String)> {
        let mut gone = Vec::new();
        let work_dir = self.launch.work_dir.clone();
        self.children
            .retain_mut(|(id, child)| match child.try_wait() {
                Ok(Some(status)) => {
                    let tail = log_tail(&work_dir.join(format!("executor-{id}.log")), 5);
                    gone.push((id.clone(), format!("{status}; last log lines:\n{tail}")));
                    false
                }
                _ => true,
            });
        gone
    }

    /// Process ids of the running executors, by executor id (for tests and
    /// fault injection).
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.children
            .iter()
            .filter_map(|(id, c)| c.id().map(|p| (id.clone(), p)))
            .collect()
    }

    /// Hands the cluster to a supervisor task that, while the application
    /// runs, reports dead executors to the registry at once (no heartbeat
    /// wait) and starts replacements, at most `max_replacements` in all.
    pub fn supervise(
        self,
        registry: ExecutorRegistry,
        progress: Arc<Progress>,
        max_replacements: u32,
    ) -> Supervisor {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut cluster = self;
            let mut replaced = 0u32;
            loop {
                tokio::select! {
                    _ = stopped.changed() => return cluster,
                    _ = tokio::time::sleep(SUPERVISE_PERIOD) => {}
                }
                for (id, why) in cluster.reap() {
                    warn!(executor_id = %id, "executor process exited: {why}");
                    let first_line = why.lines().next().unwrap_or_default().to_string();
                    registry.mark_lost(&id, &format!("process exited: {first_line}"));
                    if replaced >= max_replacements {
                        progress.line(&format!(
                            "executor {id} exited ({first_line}); not replaced: {replaced} replacements made, the limit (kiln.executor.maxReplacements)"
                        ));
                        continue;
                    }
                    match cluster.spawn_next() {
                        Ok(new_id) => {
                            replaced += 1;
                            info!(executor_id = %new_id, replaces = %id, "replacement executor started");
                            progress.line(&format!(
                                "executor {id} exited ({first_line}); started executor {new_id} in its place ({replaced} of at most {max_replacements} replacements)"
                            ));
                        }
                        Err(e) => progress.line(&format!(
                            "executor {id} exited ({first_line}); could not start a replacement: {e}"
                        )),
                    }
                }
            }
        });
        Supervisor { stop, task }
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

/// The task watching a [`LocalCluster`] while the application runs.
#[derive(Debug)]
pub struct Supervisor {
    stop: watch::Sender<bool>,
    task: JoinHandle<LocalCluster>,
}

impl Supervisor {
    /// Stops watching and gives the cluster back (to be stopped), or `None`
    /// if the supervisor task died, in which case its children were killed
    /// on drop.
    pub async fn stop(self) -> Option<LocalCluster> {
        let _ = self.stop.send(true);
        self.task.await.ok()
    }
}

/// Spark's default limit on executor failures: twice the executor count,
/// at least 3.
pub fn default_max_replacements(instances: u32) -> u32 {
    instances.saturating_mul(2).max(3)
}

fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
