//! `kiln worker`: registers with the master, beats every second, and runs
//! the executors the master assigns it as `kiln executor` processes (the
//! same [`LocalCluster`] that `local-cluster` mode uses, one per
//! application), reports their exits, kills the ones no longer assigned,
//! removes an application's work directory when its last executor is gone,
//! and registers again when the master forgot it (a restart). While the
//! master is unreachable the executors keep running.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use kiln_core::security::{Secret, Transport};
use kiln_driver::cluster_manager::{ExecutorLaunch, LocalCluster};
use tracing::{info, warn};

use crate::auth::{master_client, MasterClient};
use crate::proto::*;
use crate::{MasterUrl, Result, StandaloneError};

/// How often a worker beats.
pub const HEARTBEAT_PERIOD: Duration = Duration::from_secs(1);

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// The master.
    pub master: MasterUrl,
    /// The IP executors bind and advertise.
    pub host: String,
    /// Cores offered.
    pub cores: u32,
    /// Memory offered, in bytes.
    pub memory_bytes: u64,
    /// Parent of the executors' work directories.
    pub work_dir: PathBuf,
    /// The cluster secret, if the cluster has one.
    pub secret: Option<Secret>,
    /// The `kiln` binary executors run.
    pub program: PathBuf,
}

/// The total memory of this machine less 1 GiB for the system (Spark's
/// default for a worker), or 1 GiB if unknown.
pub fn default_memory() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(2 << 30);
    total.saturating_sub(1 << 30).max(1 << 30)
}

struct Worker {
    opts: WorkerOptions,
    id: String,
    client: MasterClient,
    url: String,
    /// Executor processes by application.
    apps: HashMap<String, LocalCluster>,
    /// Executors that ran here and ended: never started again.
    ended: HashSet<(String, String)>,
    /// Exits the master has not yet been told.
    exits: Vec<ExecutorExit>,
}

impl Worker {
    fn running(&self) -> Vec<ExecutorRef> {
        self.apps
            .iter()
            .flat_map(|(app, c)| {
                c.pids().into_iter().map(move |(id, _)| ExecutorRef {
                    application_id: app.clone(),
                    executor_id: id,
                })
            })
            .collect()
    }

    fn reap(&mut self) {
        for (app, cluster) in &mut self.apps {
            for (id, why) in cluster.reap() {
                warn!(application_id = %app, executor_id = %id, "executor exited: {why}");
                self.ended.insert((app.clone(), id.clone()));
                self.exits.push(ExecutorExit {
                    application_id: app.clone(),
                    executor_id: id,
                    reason: why,
                });
            }
        }
    }

    async fn register(&mut self) -> Result<()> {
        let req = RegisterWorkerRequest {
            worker_id: self.id.clone(),
            host: self.opts.host.clone(),
            cores: self.opts.cores,
            memory_bytes: self.opts.memory_bytes,
            executors: self.running(),
        };
        self.client
            .register_worker(req)
            .await
            .map_err(|s| StandaloneError::from_status(&self.url, s))?;
        info!(worker_id = %self.id, "registered with the master");
        eprintln!("worker {} registered with {}", self.id, self.opts.master);
        Ok(())
    }

    /// One beat; true when the master asks to register again.
    async fn beat(&mut self) -> Result<bool> {
        let exits = self.exits.clone();
        let req = WorkerHeartbeatRequest {
            worker_id: self.id.clone(),
            running: self.running(),
            exits,
        };
        let sent = req.exits.len();
        let resp = self
            .client
            .worker_heartbeat(req)
            .await
            .map_err(|s| StandaloneError::from_status(&self.url, s))?
            .into_inner();
        self.exits.drain(..sent);
        if resp.reregister {
            return Ok(true);
        }
        self.reconcile(resp.executors);
        Ok(false)
    }

    /// Starts the assigned executors not running, kills the running ones
    /// not assigned, and cleans up after applications with none left.
    fn reconcile(&mut self, assigned: Vec<ExecutorAssignment>) {
        let wanted: HashSet<(String, String)> = assigned
            .iter()
            .map(|a| (a.application_id.clone(), a.executor_id.clone()))
            .collect();
        for (app, cluster) in &mut self.apps {
            for (id, _) in cluster.pids() {
                if !wanted.contains(&(app.clone(), id.clone())) && cluster.kill(&id) {
                    eprintln!("stopped executor {id} of {app}: no longer assigned");
                }
            }
        }
        let running: HashSet<(String, String)> = self
            .running()
            .into_iter()
            .map(|r| (r.application_id, r.executor_id))
            .collect();
        for a in assigned {
            let key = (a.application_id.clone(), a.executor_id.clone());
            if running.contains(&key) || self.ended.contains(&key) {
                continue;
            }
            if let Err(e) = self.launch(&a) {
                warn!(application_id = %a.application_id, executor_id = %a.executor_id, "{e}");
                self.ended.insert(key);
                self.exits.push(ExecutorExit {
                    application_id: a.application_id,
                    executor_id: a.executor_id,
                    reason: format!("could not start: {e}"),
                });
            }
        }
        let apps_wanted: HashSet<&String> = wanted.iter().map(|(a, _)| a).collect();
        let done: Vec<String> = self
            .apps
            .iter()
            .filter(|(app, c)| !apps_wanted.contains(app) && c.pids().is_empty())
            .map(|(app, _)| app.clone())
            .collect();
        for app in done {
            self.apps.remove(&app);
            let dir = self.opts.work_dir.join(&app);
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => info!(application_id = %app, "removed work directory {}", dir.display()),
                Err(e) => warn!("cannot remove {}: {e}", dir.display()),
            }
        }
    }

    fn launch(&mut self, a: &ExecutorAssignment) -> Result<()> {
        if !self.apps.contains_key(&a.application_id) {
            let secret = Secret::new(&a.app_secret)?;
            let conf = a
                .transport_conf
                .iter()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let work_dir = self.opts.work_dir.join(&a.application_id);
            std::fs::create_dir_all(&work_dir).map_err(|e| {
                StandaloneError::io(format!("cannot create {}", work_dir.display()), e)
            })?;
            let launch = ExecutorLaunch {
                program: self.opts.program.clone(),
                driver_url: a.driver_url.clone(),
                application_id: a.application_id.clone(),
                cores: a.cores,
                memory_bytes: (a.memory_bytes > 0).then_some(a.memory_bytes),
                work_dir,
                transport: Transport::new(secret, &conf)?,
                host: Some(self.opts.host.clone()),
            };
            self.apps
                .insert(a.application_id.clone(), LocalCluster::start(launch, 0)?);
        }
        if let Some(c) = self.apps.get_mut(&a.application_id) {
            c.spawn(&a.executor_id)?;
            eprintln!(
                "started executor {} of {} ({} cores)",
                a.executor_id, a.application_id, a.cores
            );
        }
        Ok(())
    }
}

/// Runs a worker until the process is stopped (its executors stop with it)
/// or the master refuses it (a wrong cluster secret).
pub async fn run(opts: WorkerOptions) -> Result<()> {
    let url = opts.master.grpc();
    let client = master_client(&url, opts.secret.as_ref())?;
    std::fs::create_dir_all(&opts.work_dir).map_err(|e| {
        StandaloneError::io(
            format!("worker work directory {}", opts.work_dir.display()),
            e,
        )
    })?;
    let id = format!(
        "worker-{}-{}-{}",
        crate::shared::now_ms() / 1000,
        opts.host,
        std::process::id()
    );
    let mut worker = Worker {
        opts,
        id,
        client,
        url,
        apps: HashMap::new(),
        ended: HashSet::new(),
        exits: vec![],
    };
    let result = tokio::select! {
        r = serve(&mut worker) => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
    };
    for c in worker.apps.values_mut() {
        c.stop().await;
    }
    result
}

async fn serve(worker: &mut Worker) -> Result<()> {
    let mut registered = false;
    let mut warned = false;
    loop {
        worker.reap();
        let step = if registered {
            worker.beat().await.map(|again| registered = !again)
        } else {
            worker.register().await.map(|()| registered = true)
        };
        match step {
            Ok(()) => warned = false,
            Err(e @ StandaloneError::Refused { .. }) => return Err(e),
            Err(e) => {
                // The master is down or restarting: keep the executors,
                // retry, say so once.
                if !warned {
                    eprintln!("{e}; retrying every {HEARTBEAT_PERIOD:?}");
                    warned = true;
                }
            }
        }
        tokio::time::sleep(HEARTBEAT_PERIOD).await;
    }
}
