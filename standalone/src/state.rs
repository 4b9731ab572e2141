//! The master's state: workers, applications and the executors allocated to
//! them, and the allocation rule (Spark standalone's): applications in
//! submission order (FIFO), each up to `spark.cores.max` cores (a fair share
//! of the alive cores when unset), executors spread over the workers. Pure
//! data, so it can be written to the recovery directory and tested alone.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::proto;

/// Spark's default executor memory, accounted when an application sets none.
pub const DEFAULT_EXECUTOR_MEMORY: u64 = 1 << 30;
/// Executor exits after which an application is failed (Spark's
/// `spark.deploy.maxExecutorRetries`).
pub const MAX_EXECUTOR_FAILURES: u32 = 10;

/// A worker's state, as Spark's master shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum WorkerState {
    /// Heartbeating.
    Alive,
    /// Recovered from the recovery directory, not heard from since.
    Unknown,
    /// Missed its heartbeats; its executors are gone.
    Dead,
}

/// One worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// Its id (chosen by the worker).
    pub id: String,
    /// The host its executors bind to.
    pub host: String,
    /// Cores it offers.
    pub cores: u32,
    /// Memory it offers, in bytes.
    pub memory_bytes: u64,
    /// Alive, unknown or dead.
    pub state: WorkerState,
    /// Last heartbeat, ms since the epoch.
    pub last_heartbeat_ms: u64,
}

/// An application's state, as Spark's master shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AppState {
    /// In the FIFO queue: no executor yet.
    Waiting,
    /// Has executors.
    Running,
    /// Its driver ended (or stopped heartbeating).
    Finished,
    /// Failed (its executors kept exiting).
    Failed,
}

/// An executor allocated on a worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecutorDesc {
    /// Id within the application.
    pub executor_id: String,
    /// The worker running it.
    pub worker_id: String,
    /// Its cores.
    pub cores: u32,
}

/// One application.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppInfo {
    /// Its id (the driver's application id).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Where executors reach the driver.
    pub driver_url: String,
    /// The driver's UI, if any.
    pub driver_web_url: String,
    /// `spark.executor.cores`.
    pub executor_cores: u32,
    /// `spark.executor.memory` (0: none set; 1 GiB accounted).
    pub executor_memory_bytes: u64,
    /// Executors asked for.
    pub executors_wanted: u32,
    /// `spark.cores.max`, if set.
    pub cores_max: Option<u32>,
    /// The application's own secret, handed to its executors.
    pub app_secret: String,
    /// Transport settings for its executors.
    pub transport_conf: Vec<String>,
    /// Waiting, running, finished or failed.
    pub state: AppState,
    /// Why it waits or failed.
    pub message: String,
    /// Submission time, ms since the epoch.
    pub submitted_ms: u64,
    /// End time, ms since the epoch (0 while active).
    pub ended_ms: u64,
    /// Last driver heartbeat, ms since the epoch.
    pub last_heartbeat_ms: u64,
    /// Executors started so far (the next gets the next number).
    pub started: u32,
    /// Its executors now.
    pub executors: Vec<ExecutorDesc>,
    /// Executors that exited, not yet told to the driver.
    pub pending_exits: Vec<(String, String)>,
    /// Executor exits so far.
    pub failures: u32,
}

impl AppInfo {
    fn active(&self) -> bool {
        matches!(self.state, AppState::Waiting | AppState::Running)
    }

    fn memory(&self) -> u64 {
        if self.executor_memory_bytes == 0 {
            DEFAULT_EXECUTOR_MEMORY
        } else {
            self.executor_memory_bytes
        }
    }

    /// Cores its executors hold now.
    pub fn cores_granted(&self) -> u32 {
        self.executors.iter().map(|e| e.cores).sum()
    }
}

/// Everything the master knows.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MasterState {
    /// Workers by id.
    pub workers: BTreeMap<String, WorkerInfo>,
    /// Applications in submission order.
    pub apps: Vec<AppInfo>,
}

/// Why an application is refused at registration.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RefuseApp {
    /// No worker could ever run one of its executors.
    #[error("{0}")]
    TooLarge(String),
    /// Its settings contradict each other.
    #[error("{0}")]
    Settings(String),
}

/// An application state's name, as `/json` and the protocol spell it.
fn state_name(state: AppState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

impl MasterState {
    /// A worker joins or re-joins; its state becomes alive.
    pub fn register_worker(&mut self, req: &proto::RegisterWorkerRequest, now_ms: u64) {
        self.workers.insert(
            req.worker_id.clone(),
            WorkerInfo {
                id: req.worker_id.clone(),
                host: req.host.clone(),
                cores: req.cores.max(1),
                memory_bytes: req.memory_bytes,
                state: WorkerState::Alive,
                last_heartbeat_ms: now_ms,
            },
        );
        self.schedule();
    }

    /// A worker's beat; `None` when it must register (again).
    pub fn worker_heartbeat(
        &mut self,
        req: &proto::WorkerHeartbeatRequest,
        now_ms: u64,
    ) -> Option<Vec<proto::ExecutorAssignment>> {
        let w = self.workers.get_mut(&req.worker_id)?;
        if w.state == WorkerState::Dead {
            return None;
        }
        w.state = WorkerState::Alive;
        w.last_heartbeat_ms = now_ms;
        let host = w.host.clone();
        for exit in &req.exits {
            if let Some(app) = self.apps.iter_mut().find(|a| a.id == exit.application_id) {
                let before = app.executors.len();
                app.executors.retain(|e| {
                    !(e.executor_id == exit.executor_id && e.worker_id == req.worker_id)
                });
                if app.executors.len() < before {
                    app.failures += 1;
                    app.pending_exits.push((
                        exit.executor_id.clone(),
                        format!("on worker {} ({host}): {}", req.worker_id, exit.reason),
                    ));
                    if app.failures >= MAX_EXECUTOR_FAILURES && app.active() {
                        app.state = AppState::Failed;
                        app.ended_ms = now_ms;
                        app.message = format!(
                            "{} executor exits (spark.deploy.maxExecutorRetries); the last: executor {} {}",
                            app.failures,
                            exit.executor_id,
                            exit.reason.lines().next().unwrap_or_default()
                        );
                        app.executors.clear();
                    }
                }
            }
        }
        self.schedule();
        Some(self.assignments(&req.worker_id))
    }

    /// The executors worker `worker_id` should run.
    pub fn assignments(&self, worker_id: &str) -> Vec<proto::ExecutorAssignment> {
        self.apps
            .iter()
            .filter(|a| a.active())
            .flat_map(|a| {
                a.executors
                    .iter()
                    .filter(move |e| e.worker_id == worker_id)
                    .map(move |e| proto::ExecutorAssignment {
                        application_id: a.id.clone(),
                        executor_id: e.executor_id.clone(),
                        cores: e.cores,
                        memory_bytes: a.executor_memory_bytes,
                        driver_url: a.driver_url.clone(),
                        app_secret: a.app_secret.clone(),
                        transport_conf: a.transport_conf.clone(),
                    })
            })
            .collect()
    }

    /// An application asks for executors; returns how many it gets when
    /// the cluster has room, or why it never can.
    pub fn register_app(
        &mut self,
        req: &proto::RegisterApplicationRequest,
        now_ms: u64,
    ) -> Result<u32, RefuseApp> {
        self.register_app_state(req, now_ms)
            .map(|r| r.executors_target)
    }

    /// [`Self::register_app`], with the application's state after the
    /// allocation.
    pub fn register_app_state(
        &mut self,
        req: &proto::RegisterApplicationRequest,
        now_ms: u64,
    ) -> Result<proto::RegisterApplicationResponse, RefuseApp> {
        let cores = req.executor_cores.max(1);
        let cores_max = (req.cores_max > 0).then_some(req.cores_max);
        if let Some(max) = cores_max {
            if max < cores {
                return Err(RefuseApp::Settings(format!(
                    "spark.cores.max={max} is less than spark.executor.cores={cores}: no executor fits"
                )));
            }
        }
        let memory = if req.executor_memory_bytes == 0 {
            DEFAULT_EXECUTOR_MEMORY
        } else {
            req.executor_memory_bytes
        };
        let live = || {
            self.workers
                .values()
                .filter(|w| w.state != WorkerState::Dead)
        };
        if let Some(w) = live().max_by_key(|w| (w.cores, w.memory_bytes)) {
            if w.cores < cores {
                return Err(RefuseApp::TooLarge(format!(
                    "executors of {cores} cores (spark.executor.cores) fit on no worker: the largest, {} on {}, has {} cores",
                    w.id, w.host, w.cores
                )));
            }
        }
        if let Some(w) = live().max_by_key(|w| w.memory_bytes) {
            if w.memory_bytes < memory {
                return Err(RefuseApp::TooLarge(format!(
                    "executors of {} (spark.executor.memory) fit on no worker: the largest, {} on {}, has {}",
                    gib(memory),
                    w.id,
                    w.host,
                    gib(w.memory_bytes)
                )));
            }
        }
        let mut target = req.executors.max(1);
        if let Some(max) = cores_max {
            target = target.min(max / cores);
        }
        self.apps.retain(|a| a.id != req.application_id);
        self.apps.push(AppInfo {
            id: req.application_id.clone(),
            name: req.name.clone(),
            driver_url: req.driver_url.clone(),
            driver_web_url: req.driver_web_url.clone(),
            executor_cores: cores,
            executor_memory_bytes: req.executor_memory_bytes,
            executors_wanted: target,
            cores_max,
            app_secret: req.app_secret.clone(),
            transport_conf: req.transport_conf.clone(),
            state: AppState::Waiting,
            message: String::new(),
            submitted_ms: now_ms,
            ended_ms: 0,
            last_heartbeat_ms: now_ms,
            started: req.executors_started,
            executors: vec![],
            pending_exits: vec![],
            failures: 0,
        });
        self.schedule();
        let app = self.apps.last();
        Ok(proto::RegisterApplicationResponse {
            executors_target: target,
            state: app.map(|a| state_name(a.state)).unwrap_or_default(),
            message: app.map(|a| a.message.clone()).unwrap_or_default(),
        })
    }

    /// A driver's beat: the executors it declared lost are released (their
    /// workers kill them) and replaced. `None` for an unknown application.
    pub fn app_heartbeat(
        &mut self,
        req: &proto::ApplicationHeartbeatRequest,
        now_ms: u64,
    ) -> Option<proto::ApplicationHeartbeatResponse> {
        let app = self.apps.iter_mut().find(|a| a.id == req.application_id)?;
        app.last_heartbeat_ms = now_ms;
        app.executors
            .retain(|e| !req.lost_executor_ids.contains(&e.executor_id));
        self.schedule();
        let app = self.apps.iter_mut().find(|a| a.id == req.application_id)?;
        Some(proto::ApplicationHeartbeatResponse {
            unknown: false,
            state: state_name(app.state),
            executors_granted: app.executors.len() as u32,
            exited: app
                .pending_exits
                .drain(..)
                .map(|(id, reason)| proto::ExecutorExit {
                    application_id: app.id.clone(),
                    executor_id: id,
                    reason,
                })
                .collect(),
            message: app.message.clone(),
        })
    }

    /// An application ended: its executors are released.
    pub fn finish_app(&mut self, id: &str, message: &str, now_ms: u64) -> bool {
        let Some(app) = self.apps.iter_mut().find(|a| a.id == id && a.active()) else {
            return false;
        };
        app.state = AppState::Finished;
        app.message = message.to_string();
        app.ended_ms = now_ms;
        app.executors.clear();
        self.schedule();
        true
    }

    /// Declares workers silent for `timeout_ms` dead (their executors are
    /// gone; applications get replacements) and applications whose driver
    /// is silent that long finished. True when something changed.
    pub fn expire(&mut self, now_ms: u64, timeout_ms: u64) -> bool {
        let mut changed = false;
        let dead: Vec<String> = self
            .workers
            .values()
            .filter(|w| w.state != WorkerState::Dead)
            .filter(|w| now_ms.saturating_sub(w.last_heartbeat_ms) > timeout_ms)
            .map(|w| w.id.clone())
            .collect();
        for id in &dead {
            tracing::warn!(worker_id = %id, "worker missed its heartbeats: declared dead");
            if let Some(w) = self.workers.get_mut(id) {
                w.state = WorkerState::Dead;
            }
            for app in self.apps.iter_mut().filter(|a| a.active()) {
                let (gone, kept): (Vec<_>, Vec<_>) =
                    app.executors.drain(..).partition(|e| &e.worker_id == id);
                app.executors = kept;
                for e in gone {
                    app.pending_exits.push((
                        e.executor_id,
                        format!(
                            "worker {id} died (no heartbeat for {} s)",
                            timeout_ms / 1000
                        ),
                    ));
                }
            }
            changed = true;
        }
        let silent: Vec<String> = self
            .apps
            .iter()
            .filter(|a| a.active() && now_ms.saturating_sub(a.last_heartbeat_ms) > timeout_ms)
            .map(|a| a.id.clone())
            .collect();
        for id in silent {
            tracing::warn!(application_id = %id, "driver missed its heartbeats: application finished");
            changed |= self.finish_app(&id, "its driver stopped heartbeating", now_ms);
        }
        if changed {
            self.schedule();
        }
        changed
    }

    /// Allocates executors: applications in submission order, each up to
    /// its cores limit, on the alive workers with room, spread out (the
    /// worker with the fewest of the application's executors first). An
    /// application with no executor blocks the ones after it that have
    /// none either (the FIFO queue).
    pub fn schedule(&mut self) {
        let alive: Vec<&WorkerInfo> = self
            .workers
            .values()
            .filter(|w| w.state == WorkerState::Alive)
            .collect();
        let total_cores: u32 = alive.iter().map(|w| w.cores).sum();
        let mut free: BTreeMap<String, (u32, u64)> = alive
            .iter()
            .map(|w| (w.id.clone(), (w.cores, w.memory_bytes)))
            .collect();
        for app in self.apps.iter().filter(|a| a.active()) {
            for e in &app.executors {
                if let Some(f) = free.get_mut(&e.worker_id) {
                    f.0 = f.0.saturating_sub(e.cores);
                    f.1 = f.1.saturating_sub(app.memory());
                }
            }
        }
        let active = self.apps.iter().filter(|a| a.active()).count().max(1) as u32;
        let mut blocked = false;
        for app in self.apps.iter_mut().filter(|a| a.active()) {
            let fair = (total_cores / active).max(app.executor_cores);
            let limit = app.cores_max.unwrap_or(fair);
            let target = app.executors_wanted.min(limit / app.executor_cores) as usize;
            while app.executors.len() < target && !(blocked && app.executors.is_empty()) {
                let count = |w: &str| app.executors.iter().filter(|e| e.worker_id == w).count();
                let pick = free
                    .iter()
                    .filter(|(_, (c, m))| *c >= app.executor_cores && *m >= app.memory())
                    .min_by_key(|(id, (c, _))| (count(id), std::cmp::Reverse(*c)))
                    .map(|(id, _)| id.clone());
                let Some(worker_id) = pick else { break };
                if let Some(f) = free.get_mut(&worker_id) {
                    f.0 -= app.executor_cores;
                    f.1 -= app.memory();
                }
                app.started += 1;
                app.executors.push(ExecutorDesc {
                    executor_id: app.started.to_string(),
                    worker_id,
                    cores: app.executor_cores,
                });
            }
            if app.executors.is_empty() {
                app.state = AppState::Waiting;
                app.message = format!(
                    "waiting for a worker with {} free cores and {} free memory",
                    app.executor_cores,
                    gib(app.memory())
                );
                blocked = true;
            } else {
                app.state = AppState::Running;
                app.message.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(s: &mut MasterState, id: &str, cores: u32) {
        s.register_worker(
            &proto::RegisterWorkerRequest {
                worker_id: id.into(),
                host: format!("{id}-host"),
                cores,
                memory_bytes: 8 << 30,
                executors: vec![],
            },
            0,
        );
    }

    fn app(
        id: &str,
        executors: u32,
        cores: u32,
        cores_max: u32,
    ) -> proto::RegisterApplicationRequest {
        proto::RegisterApplicationRequest {
            application_id: id.into(),
            name: id.into(),
            executors,
            executor_cores: cores,
            cores_max,
            ..Default::default()
        }
    }

    #[test]
    fn spreads_executors_and_honours_cores_max() {
        let mut s = MasterState::default();
        worker(&mut s, "w1", 2);
        worker(&mut s, "w2", 2);
        assert_eq!(s.register_app(&app("a", 4, 1, 2), 0), Ok(2));
        let a = &s.apps[0];
        assert_eq!(a.cores_granted(), 2);
        let mut hosts: Vec<&str> = a.executors.iter().map(|e| e.worker_id.as_str()).collect();
        hosts.sort();
        assert_eq!(hosts, ["w1", "w2"]);
        s.register_app(&app("b", 4, 1, 0), 0).unwrap();
        assert_eq!(
            s.apps[1].cores_granted(),
            2,
            "the fair share is what is left"
        );
        // A third waits in the queue until one ends.
        s.register_app(&app("c", 1, 1, 0), 0).unwrap();
        assert_eq!(s.apps[2].state, AppState::Waiting);
        s.finish_app("a", "done", 1);
        assert_eq!(s.apps[2].state, AppState::Running);
    }

    #[test]
    fn refuses_executors_larger_than_any_worker() {
        let mut s = MasterState::default();
        worker(&mut s, "w1", 2);
        let e = s
            .register_app(&app("a", 1, 16, 0), 0)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("16 cores") && e.contains("w1") && e.contains("has 2 cores"),
            "{e}"
        );
    }

    #[test]
    fn dead_worker_executors_are_replaced_elsewhere() {
        let mut s = MasterState::default();
        worker(&mut s, "w1", 2);
        worker(&mut s, "w2", 2);
        s.register_app(&app("a", 2, 1, 2), 0).unwrap();
        s.workers.get_mut("w2").unwrap().last_heartbeat_ms = 0;
        s.workers.get_mut("w1").unwrap().last_heartbeat_ms = 10_000;
        s.apps[0].last_heartbeat_ms = 10_000;
        assert!(s.expire(10_000, 5_000));
        assert_eq!(s.workers["w2"].state, WorkerState::Dead);
        let a = &s.apps[0];
        assert_eq!(a.executors.len(), 2);
        assert!(a.executors.iter().all(|e| e.worker_id == "w1"));
        assert_eq!(a.pending_exits.len(), 1);
    }
}
