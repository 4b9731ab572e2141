//! The `local-cluster` cluster manager: starts each executor as a child
//! process of `kiln run` (the same binary, `kiln executor`), watches for
//! exits, kills executors the driver declared lost (a stopped or hung
//! process would otherwise linger), replaces executors that die while the
//! application runs (as the operator replaces dead pods), and stops them all
//! when the application ends, also on error.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
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
    /// The address executors bind and advertise (a standalone worker's
    /// host); loopback when `None`.
    pub host: Option<String>,
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

    /// Starts one executor with the given id (a standalone worker starts
    /// the ids its master assigns).
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
            // Prometheus metrics on any free port; the executor tells the
            // driver where.
            .arg("--metrics-port")
            .arg("0")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .kill_on_drop(true);
        if let Some(m) = l.memory_bytes {
            cmd.arg("--memory").arg(m.to_string());
        }
        if let Some(host) = &l.host {
            cmd.arg("--bind")
                .arg(format!("{host}:0"))
                .arg("--advertise-host")
                .arg(host);
        }
        cmd.env(
            kiln_core::security::SECRET_ENV,
            l.transport.secret().expose(),
        );
        for kv in l.transport.settings() {
            cmd.arg("--conf").arg(kv);
        }
        die_with_parent(&mut cmd);
        let child = cmd.spawn().map_err(|e| {
            KilnError::Executor(format!(
                "cannot start executor {id} ({}): {e}",
                l.program.display()
            ))
        })?;
        self.children.push((id.to_string(), child));
        Ok(())
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

    /// Kills the process of executor `id` (SIGKILL: it may be stopped or
    /// hung); the next [`LocalCluster::reap`] sees it exit. False when no
    /// such process runs.
    pub fn kill(&mut self, id: &str) -> bool {
        self.children
            .iter_mut()
            .find(|(i, _)| i == id)
            .is_some_and(|(_, child)| child.start_kill().is_ok())
    }

    /// Process ids of the running executors, by executor id (for tests and
    /// fault injection).
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.children
            .iter()
            .filter_map(|(id, c)| c.id().map(|p| (id.clone(), p)))
            .collect()
    }

    /// Hands the cluster to a supervisor task that, from now until the
    /// application ends, reports dead executors to the registry at once (no
    /// heartbeat wait), kills the ones the driver declared lost, and starts
    /// replacements, at most `max_replacements` in all.
    pub fn supervise(
        self,
        registry: ExecutorRegistry,
        progress: Arc<Progress>,
        max_replacements: u32,
    ) -> Supervisor {
        let (stop, mut stopped) = watch::channel(false);
        let state = Arc::new(Mutex::new(SupervisorState {
            running: self.children.len(),
            exits: vec![],
        }));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            let mut cluster = self;
            let mut replaced = 0u32;
            loop {
                let record = |cluster: &LocalCluster, exit: Option<String>| {
                    let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
                    s.running = cluster.children.len();
                    s.exits.extend(exit);
                };
                tokio::select! {
                    _ = stopped.changed() => return cluster,
                    _ = tokio::time::sleep(SUPERVISE_PERIOD) => {}
                }
                for id in registry.take_declared_lost() {
                    if cluster.kill(&id) {
                        warn!(executor_id = %id, "killing the process of an executor declared lost");
                        progress.line(&format!(
                            "executor {id} was declared lost; its process was killed"
                        ));
                    }
                }
                for (id, why) in cluster.reap() {
                    warn!(executor_id = %id, "executor process exited: {why}");
                    let status = why
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .trim_end_matches("; last log lines:")
                        .to_string();
                    let registered = registry.has_registered(&id);
                    registry.mark_lost(&id, &format!("process exited: {status}"));
                    // One that never registered says why in its log.
                    let (exited, first_line) = if registered {
                        ("exited", status)
                    } else {
                        let log: Vec<&str> = why
                            .lines()
                            .skip(1)
                            .filter(|l| !l.trim().is_empty())
                            .collect();
                        (
                            "exited before registering",
                            format!("{status}; its log: {}", log.join(" / ")),
                        )
                    };
                    record(
                        &cluster,
                        Some(format!("executor {id} {exited} ({first_line})")),
                    );
                    if replaced >= max_replacements {
                        progress.line(&format!(
                            "executor {id} {exited} ({first_line}); not replaced: {replaced} replacements made, the limit (kiln.executor.maxReplacements)"
                        ));
                        continue;
                    }
                    let spawned = cluster.spawn_next();
                    record(&cluster, None);
                    match spawned {
                        Ok(new_id) => {
                            replaced += 1;
                            info!(executor_id = %new_id, replaces = %id, "replacement executor started");
                            progress.line(&format!(
                                "executor {id} {exited} ({first_line}); started executor {new_id} in its place ({replaced} of at most {max_replacements} replacements)"
                            ));
                        }
                        Err(e) => progress.line(&format!(
                            "executor {id} {exited} ({first_line}); could not start a replacement: {e}"
                        )),
                    }
                }
            }
        });
        Supervisor { stop, task, state }
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

/// What a [`Supervisor`] saw: executor processes running, and the exits
/// so far (with status and the end of the log).
#[derive(Debug, Default)]
struct SupervisorState {
    running: usize,
    exits: Vec<String>,
}

/// The task watching a [`LocalCluster`] while the application runs.
#[derive(Debug)]
pub struct Supervisor {
    stop: watch::Sender<bool>,
    task: JoinHandle<LocalCluster>,
    state: Arc<Mutex<SupervisorState>>,
}

impl Supervisor {
    /// Why no executor can start any more (every process exited and none
    /// may be replaced), or `None` while one runs.
    pub fn none_can_start(&self) -> Option<String> {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        (s.running == 0).then(|| self.exits_text(&s))
    }

    /// The executor exits seen so far, for an error message.
    pub fn exits(&self) -> String {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.exits_text(&s)
    }

    fn exits_text(&self, s: &SupervisorState) -> String {
        if s.exits.is_empty() {
            return "no executor process exited".into();
        }
        // The first and the last few: the same failure repeats.
        let shown: Vec<&String> = if s.exits.len() > 3 {
            s.exits
                .iter()
                .take(1)
                .chain(s.exits.iter().rev().take(2).rev())
                .collect()
        } else {
            s.exits.iter().collect()
        };
        let text: Vec<&str> = shown.iter().map(|e| e.as_str()).collect();
        format!("{} executor exit(s); {}", s.exits.len(), text.join("; "))
    }

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

/// An executor dies with the process that started it, even one killed with
/// SIGKILL (no chance to stop its children): a dead standalone worker or
/// `kiln run` leaves no orphan executor behind. (Linux: the parent-death
/// signal fires when the starting thread exits; these are runtime worker
/// threads, which live as long as the process.)
fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(2) in the forked child before exec only sets a process
    // attribute; it allocates nothing and touches no shared memory.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
